"""Classification, regression and the models with their own learning rule (families A and B).

Element structures (batched):
    classification:  (image_or_features float32 [N, ...], label int32 [N])
    regression:      (features float32 [N, ...], target float32 [N, T])
    unsupervised:    (x float32 [N, ...], x): Hopfield, SOM, Oja, cellular NN ignore the target
                     or use it as the reconstruction.
"""

import numpy as np

from tasks.base import CheckOutcome, Task, length  # noqa: F401


def _output_width(model):
    return int(model.outputs[0].shape[-1])


def predicted_classes(y_pred):
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 1 or y_pred.shape[-1] == 1:
        return (y_pred.reshape(-1) >= 0.5).astype(np.int64)
    return np.argmax(y_pred, axis=-1)


def _single_output(outputs):
    if isinstance(outputs, dict):
        return next(iter(outputs.values()))
    return np.asarray(outputs)


class Classification(Task):
    name = "classification"
    element = "(x float32 [N, ...] raw features or pixels, y int32 [N] class ids)"
    default_dataset = "digits"
    monitor = ("val_loss", "min")  # smoother than accuracy on small validation sets
    objective = ("accuracy", "max")
    export_outputs = "class probabilities [N, K] (softmax) or [N, 1] (sigmoid, binary)"
    stratify = True
    augmentation = "image_label"  # pipelines.augment.build_augmentation: labels pass through
    objectives = (("accuracy", "max"), ("macro_f1", "max"))

    def stratify_labels(self, y):
        y = np.asarray(y)
        return y if y.ndim == 1 else None

    @staticmethod
    def _categorical(model, label_smoothing=0.0, soft_labels=False, **_):
        return _output_width(model) > 1 and bool(soft_labels or label_smoothing)

    def loss(self, model, label_smoothing=0.0, soft_labels=False, **_):
        import keras

        if self._categorical(model, label_smoothing, soft_labels):
            return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        if _output_width(model) == 1:
            return keras.losses.BinaryCrossentropy()
        return keras.losses.SparseCategoricalCrossentropy()

    def metrics(self, model, label_smoothing=0.0, soft_labels=False, **_):
        import keras

        if self._categorical(model, label_smoothing, soft_labels):
            return [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if _output_width(model) == 1:
            return [keras.metrics.BinaryAccuracy(name="accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, loss=self.loss(model, **options), metrics=self.metrics(model, **options), jit_compile=jit_compile)

    def fit_targets(self, model, y, label_smoothing=0.0, soft_labels=False, **_):
        if self._categorical(model, label_smoothing, soft_labels):
            import keras

            return keras.utils.to_categorical(y, _output_width(model)).astype("float32")
        return y

    def score(self, y_true, outputs, class_names=None):
        from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

        y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
        predicted = predicted_classes(_single_output(outputs))
        num_classes = len(class_names) if class_names else int(max(y_true.max(initial=0), predicted.max(initial=0)) + 1)
        labels = list(range(num_classes))
        return {
            "accuracy": float(accuracy_score(y_true, predicted)),
            "macro_f1": float(f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)),
            "confusion_matrix": confusion_matrix(y_true, predicted, labels=labels).tolist(),
            "num_examples": int(len(y_true)),
        }

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from tasks import plots

        if "confusion_matrix" in report:
            plots.confusion_matrix(report["confusion_matrix"], class_names, run_dir / "confusion_matrix.png")

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 1.0, size=(n, *model.inputs[0].shape[1:])).astype("float32")
        y = (np.arange(n) % max(2, _output_width(model))).astype("int32")
        return x, y

    def quantized_reference(self, reference_outputs):
        """Targets for a quantised export's metric when no ground truth is given: Keras' classes."""
        return predicted_classes(_single_output(reference_outputs))


def _one_unit_for_binary(dataset, accepted):
    # A regressor or own-rule model on binary data predicts one value, not two class scores.
    return {"num_classes": 1} if dataset.num_classes == 2 and "num_classes" in accepted else {}


class Regression(Task):
    name = "regression"
    element = "(x float32 [N, ...], y float32 [N, T])"
    default_dataset = "diabetes"
    monitor = ("val_loss", "min")
    objective = ("mae", "min")
    objectives = (("mae", "min"), ("rmse", "min"), ("r2", "max"))
    export_outputs = "predicted targets [N, T]"

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        return _one_unit_for_binary(dataset, accepted)

    def metrics(self, model, **_):
        import keras

        return [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.RootMeanSquaredError(name="rmse")]

    def score(self, y_true, outputs, class_names=None):
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        y_pred = _single_output(outputs)
        y_true = np.asarray(y_true).reshape(len(y_true), -1)
        y_pred = np.asarray(y_pred).reshape(len(y_pred), -1)
        return {
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
            "num_examples": int(len(y_true)),
        }

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, *model.inputs[0].shape[1:])).astype("float32")
        y = rng.normal(size=(n, *model.outputs[0].shape[1:])).astype("float32")
        return x, y

    def quantized_reference(self, reference_outputs):
        return _single_output(reference_outputs)


class Unsupervised(Task):
    name = "unsupervised"
    element = "(x float32 [N, ...], x): the target is the input itself or ignored"
    default_dataset = "blobs"
    monitor = ("loss", "min")
    objective = ("objective", "min")
    export_outputs = "the model's own output (recalled pattern, map coordinates, components)"
    accepts_any_data = True  # own learning rule: any dataset's x will do

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        return _one_unit_for_binary(dataset, accepted)

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        # Outputs differ per model (recalled patterns, map coordinates, components), so the report
        # is the model's own objective (quantisation error, unstable bits, reconstruction error).
        report = {"num_examples": int(length(x))}
        report["objective"] = float(model.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)["loss"])
        return report

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, *model.inputs[0].shape[1:])).astype("float32")
        return x, x

    def score(self, y_true, outputs, class_names=None):
        # For a quantised export: relative error of the outputs against Keras' (the targets here).
        y_pred = _single_output(outputs).astype(np.float64)
        y_true = np.asarray(y_true, np.float64).reshape(y_pred.shape)
        return {"mse": float(np.mean(np.square(y_pred - y_true))), "num_examples": int(len(y_pred))}

    def quantized_reference(self, reference_outputs):
        return _single_output(reference_outputs)
