"""Classifier heads and the backbone conventions every classification CNN follows.

Every backbone constructor accepts `include_top` (bool), `pooling` (None, "avg", "max") and
`num_classes`, and records its feature pyramid: after building, it sets
`self.pyramid_layers = {stride: layer_name}` for the strides 4, 8, 16, 32 it has (the last layer
producing that stride). `feature_pyramid(model)` turns that into a multi-output feature extractor
for the detection and segmentation heads.
"""

import keras


def classifier_head(
    x,
    num_classes,
    include_top=True,
    pooling="avg",
    dropout=0.0,
    classifier_activation="softmax",
    name="predictions",
):
    """Global pooling → optional dropout → Dense(num_classes), or just pooling if not include_top."""
    if include_top:
        if len(x.shape) == 4:  # Keras 3 symbolic shapes are tuples
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="top_dropout")(x)
        return keras.layers.Dense(num_classes, activation=classifier_activation, name=name)(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    if pooling is None:
        return x
    raise ValueError(f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling!r}")


def record_pyramid(model, input_size):
    """Sets `model.pyramid_layers` from the model's 4-D layers: the last layer at each stride.

    Called at the end of a backbone's `__init__` (after `super().__init__`). `input_size` is the
    input height; strides are computed from each layer's output height.
    """
    pyramid = {}
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) != 4 or shape[1] is None or not input_size:
            continue
        stride = round(input_size / shape[1])
        if stride in (4, 8, 16, 32):
            pyramid[stride] = layer.name
    model.pyramid_layers = dict(sorted(pyramid.items()))
    return model.pyramid_layers


def feature_pyramid(model, strides=(4, 8, 16, 32)):
    """A `keras.Model` from the backbone's input to its feature maps at `strides` (those it has)."""
    layers = getattr(model, "pyramid_layers", None)
    if not layers:
        raise ValueError(f"Model '{model.name}' records no feature pyramid (pyramid_layers).")
    chosen = [s for s in strides if s in layers]
    outputs = {f"stride_{s}": model.get_layer(layers[s]).output for s in chosen}
    return keras.Model(model.inputs, outputs, name=f"{model.name}_pyramid")
