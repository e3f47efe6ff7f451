"""The task contract: what a dataset of each task yields, how it is trained and scored, and what its
exported model returns. Architectures name their task (a key of `TASKS`); training, tuning, the
conformance sweep and export dispatch on it. Later families add their tasks here.

Element structure (what a `tf.data.Dataset` of the task yields, batched):
    classification:  (image_or_features float32 [N, ...], label int32 [N])
    regression:      (features float32 [N, ...], target float32 [N, T])
    unsupervised:    (x float32 [N, ...], x) — models with their own learning rule (Hopfield,
                     SOM, Oja, cellular NN) ignore the target or use it as the reconstruction.
"""

import dataclasses
from typing import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Task:
    """One task kind.

    Attributes:
        name: task id.
        element: human-readable element structure.
        default_dataset: embedded dataset used when none is named.
        loss: `fn(output_shape) -> keras loss` for the model's output shape.
        metrics: `fn(output_shape) -> list of keras metrics` tracked during training.
        monitor: metric that early stopping and checkpoints watch, and its mode.
        evaluate: `fn(y_true, y_pred, class_names) -> dict` the full hold-out report.
        synthetic_batch: `fn(input_shape, output_shape, n, seed) -> (x, y)` for the sweep.
        export_outputs: what an exported model returns, for the metadata file.
        stratify: whether splits should stratify on the target.
    """

    name: str
    element: str
    default_dataset: str
    loss: Callable
    metrics: Callable
    monitor: tuple
    evaluate: Callable
    synthetic_batch: Callable
    export_outputs: str
    stratify: bool = False


# --- classification --------------------------------------------------------------------------


def _is_binary(output_shape):
    return output_shape[-1] == 1


def _classification_loss(output_shape):
    import keras

    if _is_binary(output_shape):
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()


def _classification_metrics(output_shape):
    import keras

    if _is_binary(output_shape):
        return [keras.metrics.BinaryAccuracy(name="accuracy")]
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def predicted_classes(y_pred):
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        return (y_pred.reshape(-1) >= 0.5).astype(np.int64)
    return np.argmax(y_pred, axis=-1)


def _classification_evaluate(y_true, y_pred, class_names=None):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    predicted = predicted_classes(y_pred)
    num_classes = len(class_names) if class_names else int(max(y_true.max(), predicted.max()) + 1)
    labels = list(range(num_classes))
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=labels).tolist(),
        "num_examples": int(len(y_true)),
    }


def _classification_batch(input_shape, output_shape, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, *input_shape)).astype("float32")
    classes = max(2, output_shape[-1])
    y = (np.arange(n) % classes).astype("int32")
    return x, y


# --- regression ------------------------------------------------------------------------------


def _regression_loss(output_shape):
    import keras

    return keras.losses.MeanSquaredError()


def _regression_metrics(output_shape):
    import keras

    return [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.RootMeanSquaredError(name="rmse")]


def _regression_evaluate(y_true, y_pred, class_names=None):
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true = np.asarray(y_true).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred).reshape(len(y_pred), -1)
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": float(r2_score(y_true, y_pred)),
        "num_examples": int(len(y_true)),
    }


def _regression_batch(input_shape, output_shape, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *input_shape)).astype("float32")
    y = rng.normal(size=(n, *output_shape)).astype("float32")
    return x, y


# --- unsupervised / own learning rule ----------------------------------------------------------


def _unsupervised_loss(output_shape):
    import keras

    return keras.losses.MeanSquaredError()


def _unsupervised_evaluate(y_true, y_pred, class_names=None):
    # Outputs differ per model (recalled patterns, map coordinates, components), so no generic
    # comparison with the input is meaningful; training adds the model's own objective.
    return {"num_examples": int(len(y_true))}


def _unsupervised_batch(input_shape, output_shape, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *input_shape)).astype("float32")
    return x, x


TASKS = {
    "classification": Task(
        name="classification",
        element="(x float32 [N, ...] raw features or pixels, y int32 [N] class ids)",
        default_dataset="digits",
        loss=_classification_loss,
        metrics=_classification_metrics,
        monitor=("val_loss", "min"),  # smoother than accuracy on small validation sets
        evaluate=_classification_evaluate,
        synthetic_batch=_classification_batch,
        export_outputs="class probabilities [N, K] (softmax) or [N, 1] (sigmoid, binary)",
        stratify=True,
    ),
    "regression": Task(
        name="regression",
        element="(x float32 [N, ...], y float32 [N, T])",
        default_dataset="diabetes",
        loss=_regression_loss,
        metrics=_regression_metrics,
        monitor=("val_loss", "min"),
        evaluate=_regression_evaluate,
        synthetic_batch=_regression_batch,
        export_outputs="predicted targets [N, T]",
    ),
    "unsupervised": Task(
        name="unsupervised",
        element="(x float32 [N, ...], x) — the target is the input itself or ignored",
        default_dataset="blobs",
        loss=_unsupervised_loss,
        metrics=lambda output_shape: [],
        monitor=("loss", "min"),
        evaluate=_unsupervised_evaluate,
        synthetic_batch=_unsupervised_batch,
        export_outputs="the model's own output (recalled pattern, map coordinates, components)",
    ),
}


def get_task(name):
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task '{name}'. Expected one of {sorted(TASKS)}.") from None
