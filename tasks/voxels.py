"""Voxel reconstruction (family K: 3D-R2N2): one or more views → a D³ occupancy grid.

Element: x float32 [N, T, H, W, C] views (pixels 0..255), y uint8 [N, D, D, D] occupancy (0/1).
The model outputs per-voxel probabilities of (empty, occupied) [N, D, D, D, 2] (3D-R2N2's softmax);
the loss is the voxel-wise cross-entropy (Choy et al. 2016, eq. 10). The export endpoint returns
{"occupancy_probability" [N, D, D, D] float32, "occupancy" [N, D, D, D] int32 (probability > 0.4,
the paper's threshold)}. Hold-out score: voxel IoU (mean over shapes of |pred ∩ true| / |pred ∪ true|).
"""

import functools

import numpy as np

from tasks.base import CheckOutcome, Task, model_input_specs

OCCUPANCY_THRESHOLD = 0.4  # 3D-R2N2 §5.1
OCCUPANCY_AGREEMENT = 0.999


def voxel_iou(y_true, occupancy):
    """Mean per-shape IoU of boolean grids [N, D, D, D] (a shape with empty union counts 1)."""
    y_true, occupancy = np.asarray(y_true).astype(bool), np.asarray(occupancy).astype(bool)
    axes = tuple(range(1, y_true.ndim))
    intersection = np.sum(y_true & occupancy, axis=axes)
    union = np.sum(y_true | occupancy, axis=axes)
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


class VoxelReconstruction(Task):
    name = "voxel_reconstruction"
    element = "(x float32 [N, T, H, W, C] views, y uint8 [N, D, D, D] occupancy)"
    default_dataset = "rendered_voxels"
    monitor = ("val_loss", "min")
    objective = ("voxel_iou", "max")
    export_outputs = "occupancy_probability float32 [N, D, D, D] and occupancy int32 [N, D, D, D] (> 0.4)"
    quantized_tolerance = 0.05

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if "voxel_size" in accepted and y_train is not None:
            return {"voxel_size": int(np.asarray(y_train).shape[1])}
        return {}

    def fit_targets(self, model, y, **_):
        y = np.asarray(y)
        size = int(model.outputs[0].shape[1])
        if y.ndim != 4 or y.shape[1:] != (size, size, size):
            raise ValueError(f"Occupancy targets must be [N, {size}, {size}, {size}]. Received: shape {y.shape}")
        return y.astype("int32")

    def loss(self, model, **_):
        import keras

        return keras.losses.SparseCategoricalCrossentropy()

    def metrics(self, model, **_):
        import keras

        return [keras.metrics.SparseCategoricalAccuracy(name="voxel_accuracy")]

    def score(self, y_true, outputs, class_names=None):
        occupancy = np.asarray(outputs["occupancy"]) if isinstance(outputs, dict) else np.asarray(outputs)[..., 1] > OCCUPANCY_THRESHOLD
        ious = voxel_iou(y_true, occupancy)
        return {"voxel_iou": float(np.mean(ious)), "voxel_accuracy": float(np.mean(np.asarray(y_true).astype(bool) == occupancy.astype(bool))), "num_examples": int(len(ious))}

    def quantized_reference(self, reference_outputs):
        return np.asarray(reference_outputs["occupancy"])

    def plots(self, run_dir, model, x, y, report, class_names=None, count=4):
        from pathlib import Path

        count = min(count, len(x))
        if count == 0:
            return None
        outputs = self.predict(model, np.asarray(x[:count]))
        path = Path(run_dir) / "voxels.png"
        draw_voxels(path, np.asarray(x[:count]), np.asarray(y[:count]), outputs["occupancy"], report.get("voxel_iou"))
        return path

    def example_batch(self, model, n, seed):
        """Boxes of random size in the grid; every view is bright in proportion to the box's size."""
        rng = np.random.default_rng(seed)
        views = tuple(int(d) for d in model.inputs[0].shape[1:])
        size = int(model.outputs[0].shape[1])
        y = np.zeros((n, size, size, size), np.uint8)
        x = np.zeros((n, *views), np.float32)
        for i in range(n):
            half = int(rng.integers(1, size // 2 + 1))
            low, high = size // 2 - half, size // 2 + half
            y[i, low:high, low:high, low:high] = 1
            x[i] = 255.0 * half / (size // 2) + rng.normal(0.0, 5.0, views)
        return np.clip(x, 0.0, 255.0), y

    def export_endpoint(self, model, format=None):
        import keras

        cached = getattr(model, "_voxel_endpoint", None)
        if cached is not None:
            return cached
        (spec,) = model_input_specs(model)[:1]
        views = keras.Input(shape=spec.shape, name=spec.name, dtype=spec.dtype)
        occupied_channel, threshold = _layers()
        probabilities = model(views, training=False)
        probability = occupied_channel(name="occupancy_probability")(probabilities)
        occupancy = threshold(OCCUPANCY_THRESHOLD, name="occupancy")(probability)
        endpoint = keras.Model(views, {"occupancy_probability": probability, "occupancy": occupancy}, name=f"{model.name}_endpoint")
        object.__setattr__(model, "_voxel_endpoint", endpoint)
        return endpoint

    def compare_outputs(self, name, reference, actual, atol, rtol):
        reference, actual = np.asarray(reference), np.asarray(actual)
        if name != "occupancy":
            return super().compare_outputs(name, reference, actual, atol, rtol)
        if reference.shape != actual.shape:
            return CheckOutcome(False, f"{name}: shape {actual.shape} differs from Keras {reference.shape}")
        agree = float(np.mean(reference == actual)) if reference.size else 1.0
        return CheckOutcome(agree >= OCCUPANCY_AGREEMENT, f"{name}: {agree:.4%} of voxels equal (need {OCCUPANCY_AGREEMENT:.1%})")


@functools.cache
def _layers():
    """(OccupiedChannel, Threshold): Keras layers, created on first use so that importing tasks/
    stays free of TensorFlow."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="deepzoo")
    class OccupiedChannel(keras.layers.Layer):
        """The 'occupied' probability [..., 1] of a 2-class voxel softmax."""

        def call(self, probabilities):
            return probabilities[..., 1]

        def compute_output_shape(self, input_shape):
            return input_shape[:-1]

    @keras.saving.register_keras_serializable(package="deepzoo")
    class Threshold(keras.layers.Layer):
        """int32 (x > threshold)."""

        def __init__(self, threshold=0.5, **kwargs):
            super().__init__(**kwargs)
            self.threshold = float(threshold)

        def call(self, x):
            return ops.cast(ops.greater(x, self.threshold), "int32")

        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, dtype="int32")

        def get_config(self):
            return {**super().get_config(), "threshold": self.threshold}

    return OccupiedChannel, Threshold


def draw_voxels(path, views, y_true, occupancy, voxel_iou_value=None):
    """One row per shape: its first view, the true voxels and the reconstructed voxels."""
    from tasks import plots as plot_lib

    plt = plot_lib._pyplot()
    count = len(views)
    figure = plt.figure(figsize=(9, 3 * count))
    for i in range(count):
        axis = figure.add_subplot(count, 3, 3 * i + 1)
        view = views[i, 0]
        axis.imshow(np.clip(view, 0, 255).astype("uint8").squeeze(), cmap="gray" if view.shape[-1] == 1 else None)
        axis.set_title("view 1", fontsize=8)
        axis.axis("off")
        for column, (grid, title, colour) in enumerate(((y_true[i], "true", "tab:green"), (occupancy[i], "reconstructed", "tab:red"))):
            axis = figure.add_subplot(count, 3, 3 * i + 2 + column, projection="3d")
            axis.voxels(np.asarray(grid).astype(bool), facecolors=colour, edgecolor="k", linewidth=0.1)
            axis.set_title(title, fontsize=8)
            axis.set_axis_off()
    title = "3D-R2N2 reconstructions"
    if voxel_iou_value is not None:
        title += f" (hold-out voxel IoU {voxel_iou_value:.3f})"
    figure.suptitle(title, fontsize=9)
    plot_lib._save(figure, path)
