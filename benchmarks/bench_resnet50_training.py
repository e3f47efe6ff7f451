"""Training throughput: our resnet50 vs keras.applications.ResNet50, same input, batch and machine,
side by side in one run, with XLA on and off for both.

    python benchmarks/bench_resnet50_training.py [--batch 16] [--size 224] [--steps 5]

Both models are built with random weights at the same input size and 1000 classes, compiled with the
same optimiser and loss, warmed up, then timed in interleaved rounds (`train_on_batch`). Prints
images/s for each and the ratio ours / keras.applications (goal ≥ 1.0).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import keras
    import numpy as np

    import architectures

    shape = (args.size, args.size, 3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(args.batch, *shape)).astype("float32")
    y = rng.integers(0, 1000, size=(args.batch,)).astype("int32")
    builders = {
        "deepzoo resnet50": lambda: architectures.create_model("resnet50", input_shape=shape),
        "keras.applications ResNet50": lambda: keras.applications.ResNet50(weights=None, input_shape=shape),
    }
    print(f"batch {args.batch}, input {shape}, {args.steps} steps × {args.rounds} rounds, device CPU ({os.cpu_count()} cores)")
    for jit in (False, True):
        models = {}
        for label, build in builders.items():
            model = build()
            model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy", jit_compile=jit)
            model.train_on_batch(x, y)  # trace / compile outside the timing
            models[label] = model
        timings = {label: [] for label in models}
        for _ in range(args.rounds):
            for label, model in models.items():
                started = time.perf_counter()
                for _ in range(args.steps):
                    model.train_on_batch(x, y)
                timings[label].append((time.perf_counter() - started) / args.steps)
        rates = {label: args.batch / statistics.median(t) for label, t in timings.items()}
        ours, theirs = rates["deepzoo resnet50"], rates["keras.applications ResNet50"]
        print(f"XLA {'on ' if jit else 'off'}: deepzoo {ours:6.1f} img/s   keras.applications {theirs:6.1f} img/s   ratio {ours / theirs:.2f}x")
        del models
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
