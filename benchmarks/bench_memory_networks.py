"""Memory networks (family H): trains each tiny config briefly on its algorithmic task and prints
the hold-out numbers of the issue, with a PNG of the NTM's read/write weightings over time.

    ntm              copy, trained on lengths 1..20, tested on 20 and on 40 (length generalisation)
    neural_gpu       binary addition, trained on 20 bits, tested on 20 and 200 bits
    stack_queue_rnn  stack on reversal, queue on copy (lengths 1..10, tested on 10 and 20)
    rl_ntm           reversal (lengths 1..10)
    neural_ram       memory access (M = 8)

Usage: python benchmarks/bench_memory_networks.py [--seconds 30] [--out runs/bench_memory_networks]
Each model trains for at most --seconds of wall time (a short run: the papers train for hours);
the script prints one JSON line per model and writes runs/.../results.json.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class TimeBudget:
    def __init__(self, seconds):
        import keras

        budget = self

        class Stop(keras.callbacks.Callback):
            # The clock starts after the first step, so graph tracing is not counted.
            def on_train_begin(self, logs=None):
                budget.start, budget.steps = None, 0

            def on_train_batch_end(self, batch, logs=None):
                budget.steps += 1
                budget.start = budget.start or time.time()
                if time.time() - budget.start > seconds:
                    self.model.stop_training = True

        self.callback = Stop()


def train(name, data, seconds, batch_size=32, learning_rate=3e-3, **overrides):
    import keras

    import architectures
    from tasks import get_task

    spec = architectures.get_spec(name)
    task = get_task(spec.task)
    keras.utils.set_random_seed(0)
    model = architectures.create_model(name, config="tiny", **overrides)
    task.compile(model, keras.optimizers.Adam(learning_rate, clipnorm=10.0))
    budget = TimeBudget(seconds)
    model.fit(data.x, task.fit_targets(model, data.y), batch_size=batch_size, epochs=1000, verbose=0, callbacks=[budget.callback])
    return model, task, {"train_seconds_after_first_step": round(time.time() - budget.start, 1), "steps": budget.steps}


def score(model, task, data):
    report = task.score(data.y, task.predict(model, data.x))
    return {k: round(v, 4) for k, v in report.items() if k in ("bit_accuracy", "sequence_accuracy", "token_accuracy")}


def weightings_png(model, x, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from architectures.sequence.memory import ntm_weightings

    reads, writes = ntm_weightings(model, x[:1])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, weights, title in ((axes[0], writes[0], "write weighting"), (axes[1], reads[0, :, 0], "read weighting")):
        axis.imshow(weights.T, aspect="auto", cmap="gray_r", interpolation="nearest")
        axis.set_xlabel("time step")
        axis.set_ylabel("memory row")
        axis.set_title(title)
    figure.suptitle("NTM read and write weightings over time on one copy sequence (length 20)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training wall time per model")
    parser.add_argument("--out", default="runs/bench_memory_networks")
    parser.add_argument("--only", nargs="*", help="model rows to run (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from pipelines.sources_algorithmic import load_binary_addition, load_copy, load_memory_access, load_reverse

    results = {}

    def run(key, fn):
        if args.only and key.split(":")[0] not in args.only:
            return
        results[key] = fn()
        print(json.dumps({key: results[key]}), flush=True)

    def ntm():
        model, task, report = train("ntm", load_copy(n=2000, max_length=20), args.seconds, memory_size=64, controller_units=64)
        report["copy_len20"] = score(model, task, load_copy(seed=7, n=100, min_length=20, max_length=20))
        report["copy_len40"] = score(model, task, load_copy(seed=8, n=100, min_length=40, max_length=40))
        weightings_png(model, load_copy(seed=9, n=1, min_length=20, max_length=20).x, out / "ntm_copy_weightings.png")
        return report

    def neural_gpu():
        model, task, report = train("neural_gpu", load_binary_addition(n=2000, bits=20), args.seconds, channels=16, height=2)
        report["addition_20bit"] = score(model, task, load_binary_addition(seed=7, n=200, bits=20))
        report["addition_200bit"] = score(model, task, load_binary_addition(seed=8, n=100, bits=200))
        return report

    def stack_queue(kind, loader):
        def run_kind():
            model, task, report = train("stack_queue_rnn", loader(n=2000, max_length=10), args.seconds, kind=kind,
                                        controller_units=32, value_size=16, capacity=48)
            report[f"{loader.__name__[5:]}_len10"] = score(model, task, loader(seed=7, n=200, min_length=10, max_length=10))
            report[f"{loader.__name__[5:]}_len20"] = score(model, task, loader(seed=8, n=200, min_length=20, max_length=20))
            return report

        return run_kind

    def rl_ntm():
        model, task, report = train("rl_ntm", load_reverse(n=2000, max_length=10), args.seconds, controller_units=32)
        report["reverse_len10"] = score(model, task, load_reverse(seed=7, n=200, min_length=10, max_length=10))
        return report

    def neural_ram():
        data = load_memory_access(n=2000, memory_size=8)
        model, task, report = train("neural_ram", data, args.seconds, batch_size=64, learning_rate=1e-2)
        report["access"] = score(model, task, load_memory_access(seed=7, n=500, memory_size=8))
        return report

    run("ntm", ntm)
    run("neural_gpu", neural_gpu)
    run("stack_queue_rnn:stack_reverse", stack_queue("stack", load_reverse))
    run("stack_queue_rnn:queue_copy", stack_queue("queue", load_copy))
    run("rl_ntm", rl_ntm)
    run("neural_ram", neural_ram)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
