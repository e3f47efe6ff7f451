"""Classifier heads and the backbone conventions every classification CNN follows.

Every backbone constructor accepts `include_top` (bool), `pooling` (None, "avg", "max") and
`num_classes`, and records its feature pyramid: after building, it sets
`self.pyramid_layers = {stride: layer_name}` for the strides 4, 8, 16, 32 it has (the last layer
producing that stride). `feature_pyramid(model)` turns that into a multi-output feature extractor
for the detection and segmentation heads.
"""

import math

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
    """Sets `model.pyramid_layers` = {stride: layer name} for strides 4, 8, 16, 32: the last layer
    of the main output's *trunk* at each stride. Called at the end of a backbone's `__init__`.

    Two rules make it right for multi-branch networks:
    - strides are rounded to a power of two in log space: valid-padded grids do not divide the
      input evenly (Inception 299 → 147 → 71 → 35 → 17 → 8, AlexNet 227 → 55 → 27 → 13 → 6), where
      linear rounding gives 9, 18 and 37;
    - only trunk layers count, those every path from the input to the main output goes through
      (module outputs, not a branch conv of the next grid reduction that has not strided yet, and
      not the auxiliary heads).
    """
    main = model.outputs[0]
    ancestors, stack = set(), [main._keras_history.operation]
    while stack:
        operation = stack.pop()
        if operation.name in ancestors:
            continue
        ancestors.add(operation.name)
        for node in operation._inbound_nodes:
            stack.extend(parent.operation for parent in node.parent_nodes)
    trunk = [layer for layer in model.layers if layer.name in ancestors]
    position = {layer.name: index for index, layer in enumerate(trunk)}
    earliest_parent = [
        min(
            (
                position[p.operation.name]
                for node in layer._inbound_nodes
                for p in node.parent_nodes
                if p.operation.name in position
            ),
            default=index,
        )
        for index, layer in enumerate(trunk)
    ]
    pyramid, later_min = {}, len(trunk)
    for index in range(len(trunk) - 1, -1, -1):
        layer = trunk[index]
        shape = getattr(layer.output, "shape", None)  # None for multi-output layers (channel split)
        is_cut = later_min >= index  # no later layer reads from before this one
        later_min = min(later_min, earliest_parent[index])
        if shape is None or not is_cut or len(shape) != 4 or not shape[1] or not input_size:
            continue
        stride = 2 ** round(math.log2(input_size / shape[1]))
        if stride in (4, 8, 16, 32) and stride not in pyramid:
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
