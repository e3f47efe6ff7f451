"""Deterministic input preprocessing that lives inside the model, so exported artifacts take raw
inputs (e.g. uint8-range pixels) and every runtime applies the same transform."""

import keras

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
        # Constant statistics: Normalization given mean/variance holds no weights.
        x = keras.layers.Normalization(
            mean=list(preprocessing["mean"]), variance=[s * s for s in std], name="normalize"
        )(x)
    return inputs, x
