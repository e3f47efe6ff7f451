"""Random augmentation for tf.data pipelines (spec §5.3). Never inside a model.

`build_augmentation(config, value_range, seed)` returns `fn(x, y) -> (x, y)` that runs on a batch
inside `Dataset.map`; labels pass through unchanged except for mixup and cutmix, which return
soft labels (see `augmentation_produces_soft_labels`). `build_paired_augmentation(config, ...)`
returns `fn(images, targets) -> (images, targets)` that moves masks, boxes and keypoints with the
image. `config` is a preset name (see `PRESETS`) or a dict of augmentation name -> setting;
augmentations run in the order of `AUGMENTATIONS` whatever the dict's order, and the result is
clipped to `value_range`.

| name         | setting                                | what it does                                                   |
|--------------|----------------------------------------|----------------------------------------------------------------|
| flip         | "horizontal" (or True), "vertical",     | keras RandomFlip; vertical only where it keeps the label        |
|              | "horizontal_and_vertical"               |                                                                 |
| crop         | size or (height, width)                | keras RandomCrop to that size (AlexNet: 224 from 256); smaller  |
| pad_crop     | pixels p, or {"padding", "fill_mode"}  | pad by p and crop back at a random offset (CIFAR)                |
| scale_jitter | {"range": (256, 512), "size": 224}     | VGG scale jitter: shorter side to S ~ U(range), random crop     |
| translate    | fraction f                              | keras RandomTranslation, up to ±f of the height and width       |
| rotate       | fraction f                              | keras RandomRotation, up to ±f of a full turn                   |
| zoom         | fraction f                              | keras RandomZoom, scaling by 1/(1 ± f)                          |
| shear        | f                                       | keras RandomShear, x and y shear up to ±f                       |
| perspective  | f                                       | keras RandomPerspective, corners moved by up to f               |
| elastic      | σ pixels, or {"sigma", "grid"}          | U-Net: N(0, σ) displacements on a grid×grid (3×3) lattice,      |
|              |                                         | bicubic up-sampled; one field for the image and its mask        |
| brightness   | f                                       | keras RandomBrightness, ±f of the value range                   |
| contrast     | f                                       | keras RandomContrast                                            |
| color_jitter | f, or RandomColorJitter's arguments     | keras RandomColorJitter (brightness, contrast, saturation, hue) |
| hue          | f                                       | keras RandomHue, hue turned by up to ±f/2                       |
| saturation   | m, or Keras's own (low, high) factor    | keras RandomSaturation, saturation × [1/(1+m), 1+m]             |
| exposure     | m                                       | HSV value × [1/(1+m), 1+m] log-uniform (YOLO: m = 0.5)          |
| pca_color    | `pca_color_statistics(train_images)`    | AlexNet: + Σ α_i λ_i p_i, α_i ~ N(0, 0.1), training-set PCA     |
| noise        | f                                       | keras GaussianNoise, σ = f × (high − low)                       |
| erase        | probability p, or RandomErasing's args  | keras RandomErasing (cutout / random erasing)                   |
| mixup        | α, or {"alpha", "num_classes"}          | keras MixUp, λ ~ Beta(α, α), α = 0.2: soft labels               |
| cutmix       | f, or {"factor", "num_classes"}         | keras CutMix: soft labels                                       |

Mixup and cutmix make soft labels: integer class ids are turned into one-hot rows first (pass
`num_classes`), so the model must be trained with a categorical (not sparse) loss; training asks
`augmentation_produces_soft_labels(config)`.
"""

import math

import keras
import numpy as np
import tensorflow as tf

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
    # CIFAR ResNet: pad 4 and crop back, horizontal flip.
    "cifar": {"flip": "horizontal", "pad_crop": 4},
    # YOLO: scale and translation up to ±20 %, HSV exposure and saturation up to ×1.5.
    "yolo": {"translate": 0.2, "zoom": 0.2, "exposure": 0.5, "saturation": 0.5},
    # U-Net: elastic deformation on a coarse 3×3 grid, σ = 10 px (for its 572-pixel tiles), flips.
    "unet": {"flip": "horizontal_and_vertical", "elastic": {"sigma": 10.0, "grid": 3}},
}


# --- small helpers -----------------------------------------------------------------------------


def _uniform(generator, batch, low, high):
    return keras.random.uniform((batch,), minval=low, maxval=high, seed=generator)


def _multiplier_to_saturation_factor(m):
    """Keras RandomSaturation multiplies by u / (1 − u); this is the u range for × [1/(1+m), 1+m]."""
    low, high = 1.0 / (1.0 + m), 1.0 + m
    return (low / (1.0 + low), high / (1.0 + high))


def _as_dict(setting, key):
    return dict(setting) if isinstance(setting, dict) else {key: setting}


def _check_value_range(value_range):
    if value_range is None or len(value_range) != 2 or not value_range[0] < value_range[1]:
        raise ValueError(f"Image augmentation needs the images' value_range (low, high). Received: value_range={value_range!r}")
    return (float(value_range[0]), float(value_range[1]))


def _require_rgb(name, images):
    if images.shape[-1] != 3:
        raise ValueError(f"Augmentation '{name}' needs RGB images. Received: images with {images.shape[-1]} channel(s).")


# --- image sampling shared by the elastic and paired transforms --------------------------------


def _gather_points(images, y, x, fill_value):
    """images [B, H, W, C] at integer pixel (y, x) [B, P]; outside -> fill (or the nearest edge)."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    flat = tf.reshape(images, [shape[0], height * width, shape[3]])
    index = tf.clip_by_value(y, 0, height - 1) * width + tf.clip_by_value(x, 0, width - 1)
    values = tf.gather(flat, index, batch_dims=1)
    if fill_value is None:
        return values
    inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
    return tf.where(inside[..., None], values, tf.cast(fill_value, images.dtype))


def _sample_points(images, y, x, order=1, fill_value=0.0):
    """images [B, H, W, C] sampled at real pixel coordinates (y, x) [B, P] -> [B, P, C]."""
    if order == 0:
        return _gather_points(images, tf.cast(tf.round(y), "int32"), tf.cast(tf.round(x), "int32"), fill_value)
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = tf.cast(y0, "int32"), tf.cast(x0, "int32")
    corner = lambda dy, dx: _gather_points(images, y0 + dy, x0 + dx, fill_value)  # noqa: E731
    return (1 - wy) * ((1 - wx) * corner(0, 0) + wx * corner(0, 1)) + wy * ((1 - wx) * corner(1, 0) + wx * corner(1, 1))


def _elastic_field(generator, batch, height, width, sigma, grid):
    """Displacements (dy, dx) [B, H, W, 2]: N(0, σ) on a coarse grid, bicubic up-sampled."""
    coarse = keras.random.normal((batch, grid, grid, 2), stddev=sigma, seed=generator)
    return keras.ops.image.resize(coarse, (height, width), interpolation="bicubic")


def _warp(images, field, order, fill_value):
    """Output pixel p takes the input at p + field(p)."""
    shape = tf.shape(images)
    ys, xs = tf.meshgrid(tf.range(shape[1], dtype="float32"), tf.range(shape[2], dtype="float32"), indexing="ij")
    y = tf.reshape(ys[None] + field[..., 0], [shape[0], -1])
    x = tf.reshape(xs[None] + field[..., 1], [shape[0], -1])
    dtype = images.dtype
    warped = _sample_points(tf.cast(images, "float32"), y, x, order, fill_value)
    return tf.cast(tf.reshape(warped, shape), dtype)


def _elastic_points(field, points_yx, steps=6):
    """Where input points [B, P, 2] (y, x) land under `_warp`: solves p + field(p) = q by Newton's
    method (plain fixed-point iteration diverges where the field's slope exceeds 1)."""
    dy_dy, dy_dx = tf.image.image_gradients(field[..., :1])
    dx_dy, dx_dx = tf.image.image_gradients(field[..., 1:])
    field_and_slopes = tf.concat([field, dy_dy, dy_dx, dx_dy, dx_dx], axis=-1)
    position = points_yx
    for _ in range(steps):
        sampled = _sample_points(field_and_slopes, position[..., 0], position[..., 1], order=1, fill_value=None)
        residual = position + sampled[..., :2] - points_yx
        # Jacobian of p + field(p): [[1 + ∂dy/∂y, ∂dy/∂x], [∂dx/∂y, 1 + ∂dx/∂x]].
        a, b, c, d = 1.0 + sampled[..., 2], sampled[..., 3], sampled[..., 4], 1.0 + sampled[..., 5]
        determinant = a * d - b * c
        determinant = tf.where(tf.abs(determinant) < 0.1, tf.where(determinant < 0, -0.1, 0.1), determinant)
        step_y = (d * residual[..., 0] - b * residual[..., 1]) / determinant
        step_x = (a * residual[..., 1] - c * residual[..., 0]) / determinant
        position = position - tf.stack([step_y, step_x], axis=-1)
    return position


def _parse_elastic(setting):
    options = {"sigma": 10.0, "grid": 3, **_as_dict(setting, "sigma")}
    return float(options["sigma"]), int(options["grid"])


# --- AlexNet PCA colour augmentation ----------------------------------------------------------------


def pca_color_statistics(images, value_range=(0.0, 255.0), max_pixels=1_000_000, seed=0):
    """AlexNet PCA colour statistics of TRAINING images [N, H, W, 3]: eigenvalues [3], eigenvectors [3, 3].

    Computed on pixels rescaled to 0..1 (up to `max_pixels` sampled ones); pass the result as
    `{"pca_color": stats}`. Eigenvectors are the columns, largest eigenvalue first.
    """
    pixels = np.asarray(images, dtype="float64").reshape(-1, np.shape(images)[-1])
    if pixels.shape[1] != 3:
        raise ValueError(f"PCA colour statistics need RGB images. Received: images with shape {np.shape(images)}")
    if len(pixels) > max_pixels:
        pixels = pixels[np.random.default_rng(seed).choice(len(pixels), max_pixels, replace=False)]
    low, high = value_range
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov((pixels - low) / (high - low), rowvar=False))
    order = np.argsort(eigenvalues)[::-1]
    return {"eigenvalues": eigenvalues[order].astype("float32"), "eigenvectors": eigenvectors[:, order].astype("float32")}


@keras.saving.register_keras_serializable(package="deepzoo")
class PCAColorAugmentation(keras.layers.Layer):
    """AlexNet colour augmentation: adds Σ_i α_i λ_i p_i to every pixel, α_i ~ N(0, std) per image.

    λ, p: eigenvalues and eigenvectors of the training set's RGB covariance in 0..1 units
    (`pca_color_statistics`); the offset is scaled back to `value_range`.
    """

    def __init__(self, eigenvalues, eigenvectors, std=0.1, value_range=(0.0, 255.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.eigenvalues = np.asarray(eigenvalues, dtype="float32").tolist()
        self.eigenvectors = np.asarray(eigenvectors, dtype="float32").tolist()
        self.std = std
        self.value_range = tuple(value_range)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        alpha = keras.random.normal((keras.ops.shape(images)[0], 3), stddev=self.std, seed=self.generator)
        offset = keras.ops.matmul(alpha * keras.ops.convert_to_tensor(self.eigenvalues), keras.ops.transpose(self.eigenvectors))
        scale = self.value_range[1] - self.value_range[0]
        return images + keras.ops.cast(offset * scale, images.dtype)[:, None, None, :]

    def get_config(self):
        return {
            **super().get_config(),
            "eigenvalues": self.eigenvalues,
            "eigenvectors": self.eigenvectors,
            "std": self.std,
            "value_range": self.value_range,
            "seed": self.seed,
        }


# Every augmentation has a builder `build(setting, value_range, seed, num_classes)` that returns
# `step(images, labels) -> (images, labels)`.


def _keras_layer(make, rgb=False):
    """Builder for an augmentation that is one Keras layer, `make(setting, value_range, seed)`."""

    def build(setting, value_range, seed, num_classes):
        layer = make(setting, value_range, seed)
        name = type(layer).__name__

        def step(images, labels):
            if rgb:
                _require_rgb(name, images)
            return layer(images, training=True), labels

        return step

    return build


def _size_pair(size):
    return (size, size) if np.isscalar(size) else tuple(size)


def _color_jitter_layer(setting, value_range, seed):
    if not isinstance(setting, dict):
        setting = {
            "brightness_factor": setting,
            "contrast_factor": setting,
            "saturation_factor": _multiplier_to_saturation_factor(setting),
            "hue_factor": setting / 2,
        }
    return keras.layers.RandomColorJitter(value_range=value_range, seed=seed, **setting)


def _saturation_layer(setting, value_range, seed):
    factor = tuple(setting) if isinstance(setting, (tuple, list)) else _multiplier_to_saturation_factor(setting)
    return keras.layers.RandomSaturation(factor, value_range=value_range, seed=seed)


def _erase_layer(setting, value_range, seed):
    options = setting if isinstance(setting, dict) else {"factor": (setting, setting)}  # exactly probability p
    return keras.layers.RandomErasing(**{"value_range": value_range, **options}, seed=seed)


def _pad_crop(setting, value_range, seed, num_classes):
    options = {"padding": 4, "fill_mode": "constant", **_as_dict(setting, "padding")}
    padding = int(options["padding"])
    generator = keras.random.SeedGenerator(seed)

    def step(images, labels):
        batch = keras.ops.shape(images)[0]
        shift = keras.ops.cast(keras.random.randint((batch, 2), -padding, padding + 1, seed=generator), "float32")
        ones, zeros = keras.ops.ones((batch,)), keras.ops.zeros((batch,))
        # Output (x, y) takes input (x − dx, y − dy): an integer shift, the same as pad-then-crop.
        transform = keras.ops.stack([ones, zeros, -shift[:, 0], zeros, ones, -shift[:, 1], zeros, zeros], axis=1)
        shifted = keras.ops.image.affine_transform(
            images, transform, interpolation="nearest", fill_mode=options["fill_mode"], fill_value=value_range[0]
        )
        return shifted, labels

    return step


def _scale_jitter(setting, value_range, seed, num_classes):
    options = {"range": (256, 512), "size": 224, **(setting if isinstance(setting, dict) else {})}
    low, high = options["range"]
    size = int(options["size"])
    generator = keras.random.SeedGenerator(seed)

    def step(images, labels):
        shape = tf.shape(images)
        batch = shape[0]
        shorter = tf.cast(tf.minimum(shape[1], shape[2]), "float32")
        # The image rescaled so its shorter side is S, then a size×size crop: a window of
        # size / S of the shorter side, at a random place, resized to size×size.
        scale = _uniform(generator, batch, float(low), float(high)) / shorter
        window_h = tf.minimum(size / scale / tf.cast(shape[1], "float32"), 1.0)
        window_w = tf.minimum(size / scale / tf.cast(shape[2], "float32"), 1.0)
        top = _uniform(generator, batch, 0.0, 1.0) * (1.0 - window_h)
        left = _uniform(generator, batch, 0.0, 1.0) * (1.0 - window_w)
        boxes = tf.stack([top, left, top + window_h, left + window_w], axis=1)
        return tf.image.crop_and_resize(images, boxes, tf.range(batch), (size, size)), labels

    return step


def _elastic(setting, value_range, seed, num_classes):
    sigma, grid = _parse_elastic(setting)
    generator = keras.random.SeedGenerator(seed)

    def step(images, labels):
        field = _elastic_field(generator, tf.shape(images)[0], images.shape[1], images.shape[2], sigma, grid)
        return _warp(images, field, order=1, fill_value=None), labels

    return step


def _exposure(setting, value_range, seed, num_classes):
    log_max = math.log1p(float(setting))
    generator = keras.random.SeedGenerator(seed)

    def step(images, labels):
        factor = keras.ops.exp(_uniform(generator, keras.ops.shape(images)[0], -log_max, log_max))
        # Scaling R, G and B together scales HSV value and keeps hue and saturation.
        return images * keras.ops.cast(factor, images.dtype)[:, None, None, None], labels

    return step


def _noise(setting, value_range, seed, num_classes):
    # Keras GaussianNoise takes σ in [0, 1]: add it in 0..1 units so that the strength is relative
    # to the value range and presets work for 0..1 and 0..255 data alike.
    layer = keras.layers.GaussianNoise(setting, seed=seed)
    low, high = value_range

    def step(images, labels):
        return layer((images - low) / (high - low), training=True) * (high - low) + low, labels

    return step


def _mixing(layer_class, key):
    """Builder for MixUp / CutMix: integer labels become one-hot rows, then are mixed with the images."""

    def build(setting, value_range, seed, num_classes):
        options = _as_dict(setting, key)
        num_classes = options.pop("num_classes", num_classes)
        layer = layer_class(**options, seed=seed)

        def step(images, labels):
            if labels.dtype.is_integer:
                if num_classes is None:
                    raise ValueError(
                        f"{layer_class.__name__} needs num_classes to turn integer labels into one-hot rows. "
                        "Received: num_classes=None"
                    )
                labels = keras.ops.one_hot(keras.ops.reshape(labels, (-1,)), num_classes)
            mixed = layer({"images": images, "labels": keras.ops.cast(labels, "float32")}, training=True)
            return mixed["images"], mixed["labels"]

        return step

    return build


# name -> (kind, builder). Kinds: "geometric" (moves pixels), "photometric" (changes values),
# "mixing" (changes labels). The order of this table is the order of application.
AUGMENTATIONS = {
    "flip": ("geometric", _keras_layer(lambda s, vr, seed: keras.layers.RandomFlip("horizontal" if s is True else s, seed=seed))),
    "crop": ("geometric", _keras_layer(lambda s, vr, seed: keras.layers.RandomCrop(*_size_pair(s), seed=seed))),
    "pad_crop": ("geometric", _pad_crop),
    "scale_jitter": ("geometric", _scale_jitter),
    "translate": (
        "geometric",
        _keras_layer(lambda s, vr, seed: keras.layers.RandomTranslation(s, s, fill_mode="constant", fill_value=vr[0], seed=seed)),
    ),
    "rotate": (
        "geometric",
        _keras_layer(lambda s, vr, seed: keras.layers.RandomRotation(s, fill_mode="constant", fill_value=vr[0], seed=seed)),
    ),
    "zoom": (
        "geometric",
        _keras_layer(lambda s, vr, seed: keras.layers.RandomZoom(s, s, fill_mode="constant", fill_value=vr[0], seed=seed)),
    ),
    "shear": (
        "geometric",
        _keras_layer(lambda s, vr, seed: keras.layers.RandomShear(s, s, fill_mode="constant", fill_value=vr[0], seed=seed)),
    ),
    "perspective": (
        "geometric",
        _keras_layer(lambda s, vr, seed: keras.layers.RandomPerspective(factor=1.0, scale=s, fill_value=vr[0], seed=seed)),
    ),
    "elastic": ("geometric", _elastic),
    "brightness": ("photometric", _keras_layer(lambda s, vr, seed: keras.layers.RandomBrightness(s, value_range=vr, seed=seed))),
    "contrast": ("photometric", _keras_layer(lambda s, vr, seed: keras.layers.RandomContrast(s, value_range=vr, seed=seed))),
    "color_jitter": ("photometric", _keras_layer(_color_jitter_layer, rgb=True)),
    "hue": ("photometric", _keras_layer(lambda s, vr, seed: keras.layers.RandomHue(s, value_range=vr, seed=seed), rgb=True)),
    "saturation": ("photometric", _keras_layer(_saturation_layer, rgb=True)),
    "exposure": ("photometric", _exposure),
    "pca_color": (
        "photometric",
        _keras_layer(lambda s, vr, seed: PCAColorAugmentation(**s, value_range=vr, seed=seed), rgb=True),
    ),
    "noise": ("photometric", _noise),
    "erase": ("photometric", _keras_layer(_erase_layer)),
    "mixup": ("mixing", _mixing(keras.layers.MixUp, "alpha")),
    "cutmix": ("mixing", _mixing(keras.layers.CutMix, "factor")),
}


def _resolve(config):
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"Unknown augmentation preset '{config}'. Expected one of {sorted(PRESETS)} or a dict.")
        config = PRESETS[config]
    config = dict(config or {})
    unknown = sorted(set(config) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"Unknown augmentation(s) {unknown}. Expected some of {list(AUGMENTATIONS)}.")
    return {name: config[name] for name in AUGMENTATIONS if name in config and config[name] is not None}


def _steps(config, value_range, seed, num_classes, kinds=("geometric", "photometric", "mixing")):
    steps = []
    for index, (name, setting) in enumerate(config.items()):
        kind, builder = AUGMENTATIONS[name]
        if kind in kinds:
            # One seed per augmentation: layers sharing a seed would draw the same numbers.
            step_seed = None if seed is None else seed + 1009 * (index + 1)
            try:
                steps.append(builder(setting, value_range, step_seed, num_classes))
            except (TypeError, ValueError) as error:
                raise ValueError(f"Invalid setting for augmentation '{name}': {error}. Received: {name}={setting!r}") from None
    return steps


def augmentation_produces_soft_labels(config):
    """Whether `config` mixes labels (mixup, cutmix): train with a categorical loss on soft labels."""
    return any(AUGMENTATIONS[name][0] == "mixing" for name in _resolve(config))


def build_augmentation(config, value_range=(0.0, 255.0), seed=None, num_classes=None):
    """Returns `fn(x, y) -> (x, y)` applying `config` to an image batch, or None for no augmentation.

    `num_classes` is needed by mixup and cutmix when labels are integer class ids.
    """
    config = _resolve(config)
    if not config:
        return None
    value_range = _check_value_range(value_range)
    steps = _steps(config, value_range, seed, num_classes)
    low, high = value_range

    def augment(x, y):
        x = keras.ops.cast(x, "float32")
        for step in steps:
            x, y = step(x, y)
        return keras.ops.clip(x, low, high), y

    return augment


# --- paired (label-consistent) geometric augmentation ---------------------------------------

# Geometric settings the paired transform understands; each draws per-example parameters of one
# affine map so that image, mask, boxes and keypoints move together with a single resampling.
PAIRED_GEOMETRIC = ("flip", "crop", "pad_crop", "translate", "rotate", "zoom", "shear", "elastic")


def _random_affine(config, generator, batch, height, width):
    """Per-example forward maps in pixel-centre coordinates: p_out = L (p_in − c) + c + t.

    Returns the linear parts L [B, 2, 2] acting on (x, y), the translations t [B, 2] and whether
    each example was flipped left-right [B]. Distributions follow the Keras layers of the same name.
    """
    ones, zeros = tf.ones((batch,)), tf.zeros((batch,))
    flip_x = flip_y = ones
    mode = config.get("flip")
    mode = "horizontal" if mode is True else mode
    if mode in ("horizontal", "horizontal_and_vertical"):
        flip_x = tf.where(_uniform(generator, batch, 0.0, 1.0) < 0.5, -ones, ones)
    if mode in ("vertical", "horizontal_and_vertical"):
        flip_y = tf.where(_uniform(generator, batch, 0.0, 1.0) < 0.5, -ones, ones)
    if mode not in (None, "horizontal", "vertical", "horizontal_and_vertical"):
        raise ValueError(f"flip must be 'horizontal', 'vertical' or 'horizontal_and_vertical'. Received: flip={mode!r}")
    angle = _uniform(generator, batch, -1.0, 1.0) * (2 * math.pi * config.get("rotate", 0.0))
    zoom = 1.0 / (1.0 + _uniform(generator, batch, -1.0, 1.0) * config.get("zoom", 0.0))
    shear_x = _uniform(generator, batch, -1.0, 1.0) * config.get("shear", 0.0)
    shear_y = _uniform(generator, batch, -1.0, 1.0) * config.get("shear", 0.0)
    translate = config.get("translate", 0.0)
    shift_x = _uniform(generator, batch, -1.0, 1.0) * translate * width
    shift_y = _uniform(generator, batch, -1.0, 1.0) * translate * height
    if "pad_crop" in config:
        padding = int(_as_dict(config["pad_crop"], "padding").get("padding", 4))
        pad_shift = tf.cast(keras.random.randint((batch, 2), -padding, padding + 1, seed=generator), "float32")
        shift_x, shift_y = shift_x + pad_shift[:, 0], shift_y + pad_shift[:, 1]

    def matrix(a, b, c, d):
        return tf.reshape(tf.stack([a, b, c, d], axis=1), (-1, 2, 2))

    cos, sin = tf.cos(angle), tf.sin(angle)
    rotation, shear = matrix(cos, -sin, sin, cos), matrix(ones, shear_x, shear_y, ones)
    linear = rotation @ shear @ matrix(zoom * flip_x, zeros, zeros, zoom * flip_y)
    return linear, tf.stack([shift_x, shift_y], axis=1), flip_x < 0


def _crop_offsets(config, generator, batch, height, width):
    """Top-left corners [B, 2] (x, y) of a fixed-size crop, and the crop size (h, w)."""
    if "crop" not in config:
        return tf.zeros((batch, 2)), (height, width)
    size = config["crop"]
    crop_h, crop_w = (size, size) if np.isscalar(size) else size
    if crop_h > height or crop_w > width:
        raise ValueError(f"crop size must fit inside the image. Received: crop={size} for images {height}×{width}")
    offset_x = tf.floor(_uniform(generator, batch, 0.0, 1.0) * (width - crop_w + 1))
    offset_y = tf.floor(_uniform(generator, batch, 0.0, 1.0) * (height - crop_h + 1))
    return tf.stack([offset_x, offset_y], axis=1), (int(crop_h), int(crop_w))


def _forward_points(points_xy, linear, translation, centre, offset):
    """Continuous (x, y) [B, P, 2] through p_out = L (p − c) + c + t − offset (pixel centres at +0.5)."""
    index = points_xy - 0.5 - centre
    moved = tf.einsum("bij,bpj->bpi", linear, index) + centre + translation[:, None, :] - offset[:, None, :]
    return moved + 0.5


def _inverse_transform(linear, translation, centre, offset):
    """Keras `affine_transform` rows [B, 8]: output pixel (x, y) -> input pixel, p_in = L⁻¹(p_out + o − c − t) + c."""
    inverse = tf.linalg.inv(linear)
    shift = centre[None, :] + translation - offset
    bias = centre[None, :] - tf.einsum("bij,bj->bi", inverse, shift)
    zeros = tf.zeros_like(bias[:, 0])
    return tf.stack(
        [inverse[:, 0, 0], inverse[:, 0, 1], bias[:, 0], inverse[:, 1, 0], inverse[:, 1, 1], bias[:, 1], zeros, zeros], axis=1
    )


def _box_outline(boxes, per_side=8):
    """Points along each box's edges [B, M * 4 * per_side, 2] (x, y), to carry boxes through warps."""
    t = tf.linspace(0.0, 1.0, per_side)
    x_min, y_min, x_max, y_max = [boxes[..., i : i + 1] for i in range(4)]
    along_x = x_min + (x_max - x_min) * t
    along_y = y_min + (y_max - y_min) * t
    xs = tf.concat([along_x, along_x, tf.broadcast_to(x_min, tf.shape(along_y)), tf.broadcast_to(x_max, tf.shape(along_y))], -1)
    ys = tf.concat([tf.broadcast_to(y_min, tf.shape(along_x)), tf.broadcast_to(y_max, tf.shape(along_x)), along_y, along_y], -1)
    return tf.stack([xs, ys], axis=-1)  # [B, M, 4 * per_side, 2]


def _enclose(outline, valid, height, width):
    """Boxes around outline points, clipped to the image; empty or padding boxes become -1 rows."""
    x_min = tf.clip_by_value(tf.reduce_min(outline[..., 0], -1), 0.0, float(width))
    x_max = tf.clip_by_value(tf.reduce_max(outline[..., 0], -1), 0.0, float(width))
    y_min = tf.clip_by_value(tf.reduce_min(outline[..., 1], -1), 0.0, float(height))
    y_max = tf.clip_by_value(tf.reduce_max(outline[..., 1], -1), 0.0, float(height))
    boxes = tf.stack([x_min, y_min, x_max, y_max], axis=-1)
    keep = valid & (x_max > x_min) & (y_max > y_min)
    return tf.where(keep[..., None], boxes, -tf.ones_like(boxes))


def build_paired_augmentation(config, value_range=(0.0, 255.0), seed=None, keypoint_flip_pairs=None):
    """Returns `fn(images, targets) -> (images, targets)` that moves dense and point targets with the image.

    images: float [B, H, W, C]. targets: a dict with any of
        "mask":      [B, H, W] or [B, H, W, K] per-pixel labels, resampled with nearest neighbour;
        "boxes":     [B, M, 4] (x_min, y_min, x_max, y_max) pixels; -1 rows are padding and stay so,
                     boxes are the enclosing box of the moved box, clipped, -1 once they leave the image;
        "keypoints": [B, K, 2] (x, y) pixels, or [B, K, 3] with a visibility that drops to 0 outside.
    Other keys pass through. Geometric settings (PAIRED_GEOMETRIC, same meaning as in
    `build_augmentation`; "crop" makes the output that size) become one affine map per example,
    then one shared elastic field; photometric settings change the image only. `keypoint_flip_pairs`
    lists (left, right) keypoint indices to swap when an example is flipped left-right.
    """
    config = _resolve(config)
    unsupported = [name for name in config if AUGMENTATIONS[name][0] == "geometric" and name not in PAIRED_GEOMETRIC]
    unsupported += [name for name in config if AUGMENTATIONS[name][0] == "mixing"]
    if unsupported:
        raise ValueError(
            f"Augmentation(s) {unsupported} cannot move masks, boxes and keypoints. "
            f"Paired geometric augmentations: {list(PAIRED_GEOMETRIC)}; photometric ones are allowed."
        )
    value_range = _check_value_range(value_range)
    low, high = value_range
    photometric = _steps(config, value_range, None if seed is None else seed + 1, None, kinds=("photometric",))
    generator = keras.random.SeedGenerator(seed)
    elastic = _parse_elastic(config["elastic"]) if "elastic" in config else None
    swap = None
    if keypoint_flip_pairs:
        swap = list(range(max(max(pair) for pair in keypoint_flip_pairs) + 1))
        for left, right in keypoint_flip_pairs:
            swap[left], swap[right] = right, left

    def augment(images, targets):
        images = tf.cast(images, "float32")
        targets = dict(targets)
        height, width = images.shape[1], images.shape[2]
        batch = tf.shape(images)[0]
        centre = tf.constant([(width - 1) / 2.0, (height - 1) / 2.0])
        linear, translation, flipped = _random_affine(config, generator, batch, height, width)
        offset, (out_h, out_w) = _crop_offsets(config, generator, batch, height, width)
        transform = _inverse_transform(linear, translation, centre, offset)
        field = _elastic_field(generator, batch, out_h, out_w, *elastic) if elastic else None

        def warp_dense(values, interpolation, fill_value):
            values = keras.ops.image.affine_transform(values, transform, interpolation=interpolation, fill_value=fill_value)
            values = values[:, :out_h, :out_w, :]
            if field is not None:
                values = _warp(values, field, order=0 if interpolation == "nearest" else 1, fill_value=fill_value)
            return values

        def move_points(points_xy):
            """[B, P, 2] continuous (x, y) through the affine map, then the elastic field."""
            moved = _forward_points(points_xy, linear, translation, centre, offset)
            if field is not None:
                yx = _elastic_points(field, tf.reverse(moved - 0.5, axis=[-1]))
                moved = tf.reverse(yx, axis=[-1]) + 0.5
            return moved

        images = warp_dense(images, "bilinear", low)
        if "mask" in targets:
            mask = targets["mask"]
            dtype, rank = mask.dtype, mask.shape.rank
            mask = tf.cast(mask[..., None] if rank == 3 else mask, "float32")
            mask = tf.round(warp_dense(mask, "nearest", 0.0))
            targets["mask"] = tf.cast(mask[..., 0] if rank == 3 else mask, dtype)
        if "boxes" in targets:
            boxes = tf.cast(targets["boxes"], "float32")
            valid = (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
            outline = _box_outline(boxes)
            moved = tf.reshape(move_points(tf.reshape(outline, (batch, -1, 2))), tf.shape(outline))
            targets["boxes"] = tf.cast(_enclose(moved, valid, out_h, out_w), targets["boxes"].dtype)
        if "keypoints" in targets:
            keypoints = tf.cast(targets["keypoints"], "float32")
            if swap is not None:
                order = swap + list(range(len(swap), keypoints.shape[1]))
                keypoints = tf.where(flipped[:, None, None], tf.gather(keypoints, order, axis=1), keypoints)
            moved = move_points(keypoints[..., :2])
            if keypoints.shape[-1] > 2:
                inside = (moved[..., 0] >= 0) & (moved[..., 0] <= out_w) & (moved[..., 1] >= 0) & (moved[..., 1] <= out_h)
                visibility = tf.where(inside, keypoints[..., 2], tf.zeros_like(keypoints[..., 2]))
                moved = tf.concat([moved, visibility[..., None], keypoints[..., 3:]], axis=-1)
            targets["keypoints"] = tf.cast(moved, targets["keypoints"].dtype)
        for step in photometric:
            images, _ = step(images, None)
        return tf.clip_by_value(images, low, high), targets

    return augment


# --- point clouds ------------------------------------------------------------------------------


def pointnet_augmentation(seed=None, jitter=0.01, clip=0.05):
    """PointNet: random rotation about the up (y) axis and N(0, jitter) jitter clipped at ±clip.

    Returns `fn(points [B, N, 3+], y) -> (points, y)`; extra point features are left unchanged.
    """
    generator = keras.random.SeedGenerator(seed)

    def augment(points, y):
        points = tf.cast(points, "float32")
        batch = tf.shape(points)[0]
        angle = _uniform(generator, batch, 0.0, 2 * math.pi)
        cos, sin, zeros, ones = tf.cos(angle), tf.sin(angle), tf.zeros((batch,)), tf.ones((batch,))
        rotation = tf.reshape(tf.stack([cos, zeros, sin, zeros, ones, zeros, -sin, zeros, cos], axis=1), (-1, 3, 3))
        xyz = tf.einsum("bij,bnj->bni", rotation, points[..., :3])
        noise = keras.random.normal(tf.shape(xyz), stddev=jitter, seed=generator)
        xyz = xyz + tf.clip_by_value(noise, -clip, clip)
        return tf.concat([xyz, points[..., 3:]], axis=-1), y

    return augment
