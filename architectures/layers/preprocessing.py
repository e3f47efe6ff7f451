"""Deterministic input preprocessing that lives inside the model, so exported artifacts take raw
inputs (e.g. uint8-range pixels) and every runtime applies the same transform."""

import keras
from keras import ops

PREPROCESSING_KEYS = ("resize", "scale", "offset", "mean", "std")


def model_input(input_shape, preprocessing=None, name="input"):
    """Returns `(inputs, x)`: the `keras.Input` and the tensor after deterministic preprocessing.

    Args:
        input_shape: shape without the batch dimension.
        preprocessing: None, or a dict with any of
            `resize` [height, width] (bilinear), `scale` and `offset` (x * scale + offset),
            `mean` and `std` (per-channel lists, applied after scale/offset).
            Training fills `mean`/`std` from the training split only.
    """
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    x = inputs
    if not preprocessing:
        return inputs, x
    unknown = set(preprocessing) - set(PREPROCESSING_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown preprocessing keys {sorted(unknown)}. Expected a subset of {PREPROCESSING_KEYS}. "
            f"Received: preprocessing={preprocessing}"
        )
    if preprocessing.get("resize"):
        height, width = preprocessing["resize"]
        x = keras.layers.Resizing(height, width, name="resize")(x)
    if "scale" in preprocessing or "offset" in preprocessing:
        x = keras.layers.Rescaling(
            preprocessing.get("scale", 1.0), preprocessing.get("offset", 0.0), name="rescale"
        )(x)
    if preprocessing.get("mean") is not None:
        std = preprocessing.get("std") or [1.0] * len(preprocessing["mean"])
        x = Standardize(list(preprocessing["mean"]), list(std), name="normalize")(x)
    return inputs, x


@keras.saving.register_keras_serializable(package="deepzoo")
class Standardize(keras.layers.Layer):
    """(x − mean) / std with constant per-channel statistics and no weights.

    `keras.layers.Normalization(mean=..., variance=...)` would do the same, but it turns its
    statistics into tensors outside the traced call, which tf2onnx then exports as extra graph
    inputs. Creating the constants inside `call` embeds them in every exported graph.
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    def call(self, inputs):
        mean = ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        std = ops.convert_to_tensor(self.std, dtype=inputs.dtype)
        return (inputs - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}
