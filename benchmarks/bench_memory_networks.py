"""Memory networks (family H): trains each tiny config briefly on its algorithmic task and prints
the hold-out numbers of the issue, with a PNG of the NTM's read/write weightings over time.

    ntm              copy, trained on lengths 1..20, tested on 20 and on 40 (length generalisation)
    neural_gpu       binary addition, trained on 1..20 bits (curriculum), tested on 20, 50 and 200 bits
    stack_queue_rnn  stack on reversal, queue on copy (lengths 1..10, tested on 10 and 20)
    rl_ntm           reversal, trained on lengths 1..10 (curriculum), tested on 10
    neural_ram       memory access (M = 8)

Usage: python benchmarks/bench_memory_networks.py [--seconds 30] [--gpu-steps 6000] [--rl-steps N]
       [--only ROW ...] [--out runs/bench_memory_networks]
ntm, stack_queue_rnn and neural_ram train for at most --seconds of wall time after their first
step; neural_gpu and rl_ntm train on step budgets (--gpu-steps, --rl-steps) with their papers'
curricula, so their numbers do not depend on the machine's load. The script prints one JSON line
per model and writes runs/.../results.json.
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


def curriculum_limit(step, steps, start, end):
    """The longest length of a curriculum at `step`: from `start` up to `end` over the first half."""
    return min(end, start + (end - start) * step // max(1, steps // 2))


def train_neural_gpu(steps, batch_size=32, learning_rate=3e-3, max_bits=20, gradient_noise=1e-3, seed=0, **overrides):
    """The Neural GPU's recipe after Kaiser & Sutskever 2016: a curriculum over lengths (every batch
    draws its operand length from 1..L, L rising from 3 to `max_bits` over the first half of the
    steps, so the model runs as many CGRU steps as each batch is long), clipped gradients with
    annealed Gaussian noise (σ² = η / (1 + t)^0.55, Neelakantan et al. 2015) and Adam.
    Fresh examples every step (training seeds ≥ 1000; the hold-out sets use seeds 7..9)."""
    import keras
    import numpy as np
    import tensorflow as tf

    import architectures
    from pipelines.sources_algorithmic import load_binary_addition
    from tasks import algorithmic, get_task

    keras.utils.set_random_seed(seed)
    model = architectures.create_model("neural_gpu", config="tiny", **overrides)
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)
    step_counter = tf.Variable(0.0)

    # One trace for every length: the CGRU loop runs as a while loop over the batch's length.
    @tf.function(input_signature=[tf.TensorSpec([None, None, 2]), tf.TensorSpec([None, None, 1])])
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(algorithmic.masked_bit_crossentropy(y, model(x, training=True)))
        gradients, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), 1.0)
        noise_std = tf.sqrt(gradient_noise / (1.0 + step_counter) ** 0.55)
        gradients = [g + tf.random.normal(tf.shape(g), stddev=noise_std) for g in gradients]
        optimizer.apply_gradients(zip(gradients, variables))
        step_counter.assign_add(1.0)
        return loss

    rng = np.random.default_rng(seed)
    started, losses = time.time(), []
    for step in range(int(steps)):
        longest = curriculum_limit(step, steps, 3, max_bits)
        batch = load_binary_addition(seed=1000 + step, n=batch_size, bits=int(rng.integers(1, longest + 1)))
        losses.append(float(train_step(batch.x, batch.y)))
        if (step + 1) % 250 == 0:
            print(json.dumps({"neural_gpu_step": step + 1, "loss": round(float(np.mean(losses[-250:])), 4),
                              "seconds": round(time.time() - started, 1)}), flush=True)
    report = {"steps": int(steps), "batch_size": batch_size, "train_seconds": round(time.time() - started, 1)}
    return model, get_task("bit_sequence"), report


def train_rl_ntm(steps, batch_size=32, learning_rate=3e-3, max_length=10, seed=0, **overrides):
    """The RL-NTM on reversal with a curriculum over lengths (1..L, L rising from 2 to `max_length`
    over the first half of the steps; every batch padded to 2·max_length + 1 steps, one trace).
    Fresh examples every step (training seeds ≥ 1000; the hold-out sets use seeds 7 and 9)."""
    import keras
    import numpy as np

    import architectures
    from pipelines.sources_algorithmic import load_reverse
    from tasks import algorithmic, get_task

    keras.utils.set_random_seed(seed)
    model = architectures.create_model("rl_ntm", config="tiny", **overrides)
    task = get_task("bit_sequence")
    task.compile(model, keras.optimizers.Adam(learning_rate, clipnorm=10.0))
    padded_steps = 2 * max_length + 1
    started, accuracies = time.time(), []
    for step in range(int(steps)):
        batch = load_reverse(seed=1000 + step, n=batch_size, max_length=curriculum_limit(step, steps, 2, max_length))
        pad = ((0, 0), (0, padded_steps - batch.x.shape[1]), (0, 0))
        x, y = np.pad(batch.x, pad), np.pad(batch.y, pad, constant_values=algorithmic.NO_TARGET)
        logs = model.train_on_batch(x, y, return_dict=True)
        accuracies.append(float(logs["masked_bit_accuracy"]))
        if (step + 1) % 250 == 0:
            print(json.dumps({"rl_ntm_step": step + 1, "train_bit_accuracy": round(float(np.mean(accuracies[-250:])), 4),
                              "seconds": round(time.time() - started, 1)}), flush=True)
    return model, task, {"steps": int(steps), "batch_size": batch_size, "train_seconds": round(time.time() - started, 1)}


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
    parser.add_argument("--gpu-steps", type=int, default=6000, help="neural_gpu: training steps (a step budget)")
    parser.add_argument("--rl-steps", type=int, default=6000, help="rl_ntm: training steps (a step budget)")
    parser.add_argument("--gpu-channels", type=int, default=16, help="neural_gpu: the state's channels m")
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
        model, task, report = train_neural_gpu(args.gpu_steps, channels=args.gpu_channels, height=2)
        report["addition_20bit"] = score(model, task, load_binary_addition(seed=7, n=200, bits=20))
        report["addition_50bit"] = score(model, task, load_binary_addition(seed=9, n=200, bits=50))
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
        model, task, report = train_rl_ntm(args.rl_steps, controller_units=32)
        report["reverse_len10"] = score(model, task, load_reverse(seed=7, n=200, min_length=10, max_length=10))
        report["reverse_len5"] = score(model, task, load_reverse(seed=7, n=200, min_length=5, max_length=5))
        # Where the greedy head is after each step (reversal wants +1 per input, −1 from the delimiter on).
        from architectures.sequence.memory import rl_ntm_head_positions

        report["head_positions_len5"] = rl_ntm_head_positions(model, load_reverse(seed=9, n=4, min_length=5, max_length=5).x).tolist()
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
