"""Per-step binary outputs of the algorithmic tasks (family H memory networks: ntm, rl_ntm,
neural_gpu, stack_queue_rnn).

Element structure:
    bit_sequence
        dataset:  (x float32 [N, T, F] input bits and delimiter channels,
                   y float32 [N, T, B] target bits in {0, 1}; −1 where a step has no target
                   (the input phase of a copy, padding after a shorter sequence))
        fit:      the same
        endpoint: {"sequence": float32 [N, T, F]} -> {"probabilities": float32 [N, T, B]}

The loss is the binary cross-entropy of the sigmoid outputs over the target bits only (Graves et
al. 2014 train the NTM on it); the report is the bit accuracy (outputs thresholded at 0.5 against
the target bits) and the sequence accuracy (every target bit of a sequence right). Models of this
task take any number of steps (T = None), so training on short sequences and testing on long ones
(length generalisation) is the same model.
"""

import functools

import numpy as np

from tasks.base import Task

NO_TARGET = -1.0  # a step (or bit) without target: no loss, no metric


def masked_bit_crossentropy(y_true, y_pred):
    """Binary cross-entropy per example, averaged over the target bits (y ≥ 0) only."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    valid = ops.cast(y_true >= 0, y_pred.dtype)
    p = ops.clip(y_pred, 1e-6, 1 - 1e-6)
    target = ops.maximum(y_true, 0.0)
    loss = -(target * ops.log(p) + (1 - target) * ops.log(1 - p)) * valid
    axes = tuple(range(1, len(y_pred.shape)))
    return ops.sum(loss, axis=axes) / ops.maximum(ops.sum(valid, axis=axes), 1.0)


def masked_bit_accuracy(y_true, y_pred):
    """Fraction of target bits (y ≥ 0) whose thresholded output is right, per example."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    valid = ops.cast(y_true >= 0, y_pred.dtype)
    hits = ops.cast(ops.cast(y_pred > 0.5, y_pred.dtype) == y_true, y_pred.dtype) * valid
    axes = tuple(range(1, len(y_pred.shape)))
    return ops.sum(hits, axis=axes) / ops.maximum(ops.sum(valid, axis=axes), 1.0)


@functools.cache
def register_keras_objects():
    """Registers the loss and metric once, so that a saved model's compile config deserialises."""
    import keras

    register = keras.saving.register_keras_serializable(package="deepzoo")
    return register(masked_bit_crossentropy), register(masked_bit_accuracy)


def bit_scores(y_true, probabilities):
    """{"bit_accuracy", "sequence_accuracy", "num_examples", "num_bits"} of `probabilities`
    [N, T, B] against targets [N, T', B] (−1 = no target; the shorter time axis is used)."""
    probabilities = np.asarray(probabilities)
    y_true = np.asarray(y_true, np.float32)
    steps = min(y_true.shape[1], probabilities.shape[1])
    y_true, predicted = y_true[:, :steps], (probabilities[:, :steps] > 0.5).astype(np.float32)
    if y_true.shape != predicted.shape:
        raise ValueError(f"Targets and outputs must have the same bits per step. Received: y {y_true.shape}, outputs {probabilities.shape}")
    valid = y_true >= 0
    hits = (predicted == y_true) & valid
    per_example = [bool(np.all(h[v])) for h, v in zip(hits, valid)]
    return {
        "bit_accuracy": float(hits.sum() / max(valid.sum(), 1)),
        "sequence_accuracy": float(np.mean(per_example)) if per_example else 0.0,
        "num_examples": len(y_true),
        "num_bits": int(valid.sum()),
    }


class BitSequence(Task):
    """Sequences in, per-step bits out: copy, repeat copy, recall, sort, reverse, binary addition."""

    name = "bit_sequence"
    element = (
        "(x float32 [N, T, F] input bits and markers, y float32 [N, T, B] target bits, −1 = no target); "
        "fit: the same"
    )
    default_dataset = "copy"
    monitor = ("val_loss", "min")
    objective = ("bit_accuracy", "max")
    objectives = (("bit_accuracy", "max"), ("sequence_accuracy", "max"))
    export_outputs = "per-step bit probabilities [N, T, B] (sigmoid)"

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """The model's input channels and output bits from the data (any number of steps)."""
        overrides = {}
        if "input_shape" in accepted:
            overrides["input_shape"] = (None, int(np.asarray(x_train).shape[-1]))
        if "output_bits" in accepted and y_train is not None:
            overrides["output_bits"] = int(np.asarray(y_train).shape[-1])
        return overrides

    def fit_targets(self, model, y, **_):
        return np.asarray(y, np.float32)

    def loss(self, model, **_):
        return register_keras_objects()[0]

    def metrics(self, model, **_):
        return [register_keras_objects()[1]]

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, loss=self.loss(model), metrics=self.metrics(model), jit_compile=jit_compile)

    def score(self, y_true, outputs, class_names=None):
        probabilities = outputs["probabilities"] if isinstance(outputs, dict) else outputs
        return bit_scores(y_true, probabilities)

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """bit_sequence.png: one held-out sequence's targets and output probabilities, step by step."""
        from pathlib import Path

        from tasks.plots import _pyplot, _save

        if x is None or len(x) == 0:
            return
        probabilities = np.asarray(self.predict(model, np.asarray(x)[:1])["probabilities"])[0]
        target = np.asarray(y, np.float32)[0]
        plt = _pyplot()
        figure, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
        axes[0].imshow(np.where(target < 0, np.nan, target).T, aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[0].set_title("targets (blank: no target)")
        axes[1].imshow(probabilities.T, aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[1].set_title("output probabilities")
        axes[1].set_xlabel("time step")
        for axis in axes:
            axis.set_ylabel("bit")
        _save(figure, Path(run_dir) / "bit_sequence.png")

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        steps, features = model.inputs[0].shape[1], model.inputs[0].shape[2]
        steps = int(steps) if steps is not None else 8
        bits = int(model.outputs[0].shape[-1])
        x = rng.integers(0, 2, size=(n, steps, int(features))).astype(np.float32)
        y = rng.integers(0, 2, size=(n, steps, bits)).astype(np.float32)
        y[:, : steps // 2] = NO_TARGET  # the input phase has no target, as in the datasets
        return x, y

    def export_endpoint(self, model, format=None):
        import keras

        return keras.Model(model.inputs, {"probabilities": model.outputs[0]}, name=f"{model.name}_endpoint")

    def quantized_reference(self, reference_outputs):
        probabilities = reference_outputs["probabilities"] if isinstance(reference_outputs, dict) else reference_outputs
        return (np.asarray(probabilities) > 0.5).astype(np.float32)


__all__ = ["NO_TARGET", "BitSequence", "bit_scores", "masked_bit_accuracy", "masked_bit_crossentropy"]
