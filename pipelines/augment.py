"""Random augmentation for tf.data pipelines (spec §5.3). Never inside a model.

`build_augmentation(config)` returns `fn(x, y) -> (x, y)` that runs on a batch inside
`Dataset.map`. `config` is a preset name (see `PRESETS`) or a dict of augmentation name -> strength.
Geometric augmentations that would need to move labels (boxes, masks, keypoints) do so in the
task-aware transforms; for classification the label is unchanged.
"""

import keras

PRESETS = {
    "none": {},
    # Digits and other glyphs: no flips (a flipped 2 is not a 2), small geometric jitter.
    "digits": {"translate": 0.08, "rotate": 0.04, "zoom": 0.08},
    "light": {"flip": "horizontal", "translate": 0.1, "rotate": 0.05, "zoom": 0.1},
    "standard": {
        "flip": "horizontal",
        "translate": 0.1,
        "rotate": 0.08,
        "zoom": 0.15,
        "brightness": 0.2,
        "contrast": 0.2,
        "noise": 0.02,
    },
}


def _layers_for(config, value_range, seed):
    layers = []
    for name, strength in config.items():
        if name == "flip":
            layers.append(keras.layers.RandomFlip(strength, seed=seed))
        elif name == "translate":
            layers.append(keras.layers.RandomTranslation(strength, strength, fill_mode="constant", seed=seed))
        elif name == "rotate":
            layers.append(keras.layers.RandomRotation(strength, fill_mode="constant", seed=seed))
        elif name == "zoom":
            layers.append(keras.layers.RandomZoom(strength, strength, fill_mode="constant", seed=seed))
        elif name == "brightness":
            layers.append(keras.layers.RandomBrightness(strength, value_range=value_range, seed=seed))
        elif name == "contrast":
            layers.append(keras.layers.RandomContrast(strength, value_range=value_range, seed=seed))
        elif name == "noise":
            # Strength is relative to the value range so presets work for 0..1 and 0..255 data.
            layers.append(keras.layers.GaussianNoise(strength * (value_range[1] - value_range[0]), seed=seed))
        else:
            raise ValueError(f"Unknown augmentation '{name}'. Expected one of flip, translate, rotate, zoom, brightness, contrast, noise.")
    return layers


def build_augmentation(config, value_range=(0.0, 255.0), seed=None):
    """Returns `fn(x, y) -> (x, y)` applying `config` to an image batch, or None for no augmentation."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"Unknown augmentation preset '{config}'. Expected one of {sorted(PRESETS)} or a dict.")
        config = PRESETS[config]
    if not config:
        return None
    layers = _layers_for(config, tuple(value_range), seed)
    low, high = value_range

    def augment(x, y):
        for layer in layers:
            x = layer(x, training=True)
        return keras.ops.clip(x, low, high), y

    return augment
