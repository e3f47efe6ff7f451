"""XLA on vs off for training and inference, measured side by side in one run.

    python benchmarks/bench_jit.py [--models lenet5,resnet18] [--batch 64] [--steps 30]

For each model: train-step throughput (keras `train_on_batch` under `compile(jit_compile=...)`)
and `predict` latency at batch 1, with XLA on and off, interleaved in rounds so that machine noise
hits both alike. Prints the ratio XLA/graph (below 1.0 means XLA is faster). This is the
measurement behind `--jit auto` (XLA on with a GPU, off on CPU).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_model(name, batch, steps, rounds=3, config="tiny", overrides=None):
    import keras

    import architectures
    from tasks import get_task

    spec = architectures.get_spec(name)
    results = {}
    models = {}
    task = get_task(spec.task)
    for jit in (False, True):
        model = architectures.create_model(name, config=config, **(overrides or {}))
        task.compile(model, keras.optimizers.Adam(), jit_compile=jit)
        models[jit] = model
    x, y = task.example_batch(models[False], batch, seed=0)
    one = x[:1]
    for jit, model in models.items():  # warm-up: tracing and XLA compilation are not timed
        model.train_on_batch(x, y)
        model.predict_on_batch(one)
    train, infer = {False: [], True: []}, {False: [], True: []}
    for _ in range(rounds):
        for jit, model in models.items():
            train[jit].append(_median_seconds(lambda: model.train_on_batch(x, y), steps))
            infer[jit].append(_median_seconds(lambda: model.predict_on_batch(one), steps))
    for jit in (False, True):
        results[jit] = (statistics.median(train[jit]), statistics.median(infer[jit]))
    keras.backend.clear_session()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet5,resnet18,mobilenet_v2")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--config", default="tiny", help="tiny or canonical")
    args = parser.parse_args()
    import tensorflow as tf

    import architectures

    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; batch {args.batch} for training, 1 for inference; {args.config} configs")
    print(f"{'model':<16} {'train step graph':>17} {'train step XLA':>15} {'XLA/graph':>10}   {'predict b=1 graph':>18} {'XLA':>9} {'XLA/graph':>10}")
    for name in args.models.split(","):
        if name not in architectures.list_models():
            print(f"{name:<16} not registered; skipped")
            continue
        r = bench_model(name, args.batch, args.steps, config=args.config)
        (tg, ig), (tx, ix) = r[False], r[True]
        print(f"{name:<16} {tg * 1e3:>14.1f} ms {tx * 1e3:>12.1f} ms {tx / tg:>10.2f}   {ig * 1e3:>15.2f} ms {ix * 1e3:>6.2f} ms {ix / ig:>10.2f}")


if __name__ == "__main__":
    main()
