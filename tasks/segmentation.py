"""Semantic segmentation (family E): a class per pixel.

Element structure (batched):
    (x float32 [N, H, W, C] raw pixels (0..255 for the embedded scenes),
     y uint8/int32 [N, H, W] class ids, 0 = background, K = len(class_names) classes)

A model maps [N, H, W, C] to per-pixel probabilities [N, H', W', K] (softmax; a model whose output
layer is not a softmax is taken to emit logits). Most models keep H' = H; a valid-convolution model
without tile padding (U-Net as in the paper) returns a smaller map centred on the image, and the
task then centre-crops the targets to it (`fit_targets`, `score`). Random geometric augmentation
needs full-size targets, so use such a model with `tile_padding="reflect"` (its output covers the
image) when augmenting.

Loss: sparse categorical cross-entropy per pixel, weighted per class by 1/√frequency (U-Net's
class-balancing w_c; `Segmentation.class_balance`): `make_dataset` yields (images, ids, weights).
Metrics (unweighted): pixel accuracy and `keras.metrics.MeanIoU`
(argmax of the probabilities). The hold-out report (`score`) has "miou" (the tuning objective),
"per_class_iou", "pixel_accuracy" and the confusion matrix, all from `keras.metrics.MeanIoU`'s
confusion matrix. The export endpoint returns {"probabilities" [N, H', W', K] float32,
"class_map" [N, H', W'] int32}; exported class maps must agree with Keras' on ≥ 99.9 % of pixels
(a near-tie between two classes may flip under another runtime's arithmetic).

Augmentation (`build_augmentation`) runs Keras 3 preprocessing layers on the dict
`{"images", "segmentation_masks"}`, so every geometric transform moves the mask with the image
(nearest-neighbour for masks); colour transforms touch the image only.

Point clouds (per-point part labels, PointNet's segmentation) use the same kind with one spatial
axis: x float32 [N, P, 3] or {"points": [N, P, 3], "category": [N, C] one-hot}, y int32 [N, P],
probabilities [N, P, K], class_map [N, P]. When every class name is "category/part" (part labels
disjoint between categories, as ShapeNet-Part's), `score` adds the paper's part-averaged IoU
(`part_averaged_iou`); `plots` draws the clouds coloured by predicted and true part.
"""

import numpy as np

from tasks.base import CheckOutcome, NumberSetting, Task, length, model_input_specs

# Geometric and colour augmentations, applied in this order whatever the config's order.
AUGMENTATION_KEYS = ("flip", "translate", "rotate", "zoom", "elastic", "brightness", "contrast")
AUGMENTATION_PRESETS = {
    "none": {},
    "light": {"flip": "horizontal", "translate": 0.1},
    # Mirror images of a shape keep its class and need no fill: the family benchmark's default.
    "flips": {"flip": "horizontal_and_vertical"},
    "standard": {"flip": "horizontal_and_vertical", "translate": 0.1, "rotate": 0.05, "zoom": 0.1, "brightness": 0.1, "contrast": 0.1},
    # U-Net §3.1: elastic deformation (and shifts/rotations) is the key augmentation with few images.
    "unet": {"flip": "horizontal_and_vertical", "translate": 0.05, "elastic": 1.0},
}
# Pixel agreement an exported class map must reach against Keras'.
CLASS_MAP_AGREEMENT = 0.999


def _output_tensor(model):
    return model.outputs[0]


def num_classes_of(model):
    return int(_output_tensor(model).shape[-1])


def outputs_probabilities(model):
    """Whether the model's output is a softmax (else it is taken to be logits)."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def centre_crop(masks, size):
    """The centre `size` = (h, w) of [N, H, W, ...] arrays (a valid-convolution output's region);
    arrays whose leading spatial axes already have `size` (per-point [N, P] with size (P,)) pass."""
    if tuple(int(d) for d in masks.shape[1 : 1 + len(size)]) == tuple(int(d) for d in size):
        return masks
    if len(size) != 2:
        raise ValueError(f"Cannot crop targets of shape {masks.shape[1:]} to an output of size {tuple(size)}.")
    height, width = masks.shape[1:3]
    out_h, out_w = int(size[0]), int(size[1])
    if (height, width) == (out_h, out_w):
        return masks
    if out_h > height or out_w > width:
        raise ValueError(f"Cannot crop targets of size {(height, width)} to a larger output {(out_h, out_w)}.")
    top, left = (height - out_h) // 2, (width - out_w) // 2
    return masks[:, top : top + out_h, left : left + out_w]


def class_map_of(outputs):
    """Predicted class ids [N, H, W] from an endpoint's outputs (or bare probabilities)."""
    if isinstance(outputs, dict):
        if "class_map" in outputs:
            return np.asarray(outputs["class_map"])
        outputs = outputs.get("probabilities", next(iter(outputs.values())))
    return np.argmax(np.asarray(outputs), axis=-1)


def median_frequency_weights(masks, num_classes=None):
    """SegNet's median-frequency class balancing (Eigen & Fergus 2015; Badrinarayanan et al. 2017
    §4): freq(c) = pixels of class c / pixels of the images in which c appears, and
    w_c = median over classes of freq / freq(c). float32 [K]; a class that never appears gets 0."""
    masks = np.asarray(masks).astype(np.int64)
    k = int(num_classes or masks.max(initial=0) + 1)
    per_image = masks.reshape(len(masks), -1)
    counts = np.stack([np.bincount(row, minlength=k)[:k] for row in per_image])  # [N, K]
    present = counts > 0
    image_pixels = per_image.shape[1]
    appears = present.sum(axis=0)
    frequency = np.where(appears > 0, counts.sum(axis=0) / np.maximum(appears * image_pixels, 1), 0.0)
    weights = np.zeros(k)
    seen = frequency > 0
    weights[seen] = np.median(frequency[seen]) / frequency[seen]
    return weights.astype("float32")


def unet_weight_map(masks, class_weights=None, w0=10.0, sigma=5.0):
    """U-Net's loss weight map (Ronneberger et al. 2015, eq. 2), float32 [N, H, W]:
    w(x) = w_c(x) + w0·exp(−(d1(x) + d2(x))² / (2σ²)) on background pixels, where d1 and d2 are
    the distances to the nearest and the second nearest object (connected foreground components,
    so touching cells must be separated by a background line, as in the paper's data), and w_c the
    class-balancing weight of the pixel's class (`class_weights` [K], default 1)."""
    from scipy import ndimage

    masks = np.asarray(masks)
    weights = np.ones(masks.shape, dtype="float32") if class_weights is None else np.asarray(class_weights, "float32")[masks.astype(np.int64)]
    for index, mask in enumerate(masks):
        instances, count = ndimage.label(mask > 0)
        if count < 2:
            continue
        distances = np.sort(np.stack([ndimage.distance_transform_edt(instances != i) for i in range(1, count + 1)]), axis=0)
        border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2.0 * sigma**2))
        weights[index] += np.where(mask == 0, border, 0.0).astype("float32")
    return weights


def iou_report(confusion, class_names=None):
    """mIoU (as keras.metrics.MeanIoU computes it), per-class IoU and pixel accuracy from a
    confusion matrix (rows true, columns predicted). A class absent from both the targets and
    the predictions has no IoU (None) and does not count towards the mean."""
    import keras

    confusion = np.asarray(confusion, dtype=np.float64)
    k = len(confusion)
    metric = keras.metrics.MeanIoU(num_classes=k)
    metric.total_cm.assign(confusion.astype("float32"))
    true_pixels, predicted_pixels, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    union = true_pixels + predicted_pixels - hits
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    return {
        "miou": float(metric.result()),
        "per_class_iou": {name: (float(hits[i] / union[i]) if union[i] > 0 else None) for i, name in enumerate(names)},
        "pixel_accuracy": float(hits.sum() / max(confusion.sum(), 1.0)),
    }


# --- augmentation ------------------------------------------------------------------------------


def _augmentation_settings(config):
    if config in (None, False, "none", {}):
        return {}
    if config is True:
        config = "standard"
    if isinstance(config, str):
        if config not in AUGMENTATION_PRESETS:
            raise ValueError(f"Unknown segmentation augmentation preset {config!r}. Expected one of {sorted(AUGMENTATION_PRESETS)} or a dict.")
        return dict(AUGMENTATION_PRESETS[config])
    if not isinstance(config, dict):
        raise ValueError(f"Augmentation must be a preset name or a dict. Received: {config!r}")
    unknown = sorted(set(config) - set(AUGMENTATION_KEYS))
    if unknown:
        raise ValueError(f"Unknown segmentation augmentation(s) {unknown}. Expected some of {list(AUGMENTATION_KEYS)}.")
    return {key: value for key, value in config.items() if value not in (None, False, 0)}


def augmentation_layers(config, value_range=(0.0, 255.0), seed=0):
    """Keras preprocessing layers, in `AUGMENTATION_KEYS` order, that accept the dict
    {"images", "segmentation_masks"}. Settings: flip = True | "horizontal" | "vertical" |
    "horizontal_and_vertical"; translate, rotate (fraction of a turn), zoom, brightness, contrast =
    factor; elastic = RandomElasticTransform's `factor` (its strength, 0..1)."""
    import keras

    settings = _augmentation_settings(config)
    layers = []
    for index, key in enumerate(k for k in AUGMENTATION_KEYS if k in settings):
        value, layer_seed = settings[key], seed + 101 * (index + 1)
        if key == "flip":
            layers.append(keras.layers.RandomFlip("horizontal" if value is True else value, seed=layer_seed))
        elif key == "translate":
            layers.append(keras.layers.RandomTranslation(value, value, fill_mode="reflect", seed=layer_seed))
        elif key == "rotate":
            layers.append(keras.layers.RandomRotation(value, fill_mode="reflect", seed=layer_seed))
        elif key == "zoom":
            layers.append(keras.layers.RandomZoom(value, value, fill_mode="reflect", seed=layer_seed))
        elif key == "elastic":
            layers.append(keras.layers.RandomElasticTransform(factor=float(value), value_range=value_range, seed=layer_seed))
        elif key == "brightness":
            layers.append(keras.layers.RandomBrightness(value, value_range=value_range, seed=layer_seed))
        elif key == "contrast":
            layers.append(keras.layers.RandomContrast(value, value_range=value_range, seed=layer_seed))
    return layers


def make_augment_fn(layers, value_range=(0.0, 255.0)):
    """`fn(images [B, H, W, C], masks [B, H, W]) -> (images, masks)` on batches (tf.data map)."""
    import tensorflow as tf

    low, high = value_range

    def augment(images, masks):
        if images.shape[1:3] != masks.shape[1:3]:
            raise ValueError(
                f"Segmentation augmentation needs targets the size of the images. Received: images {images.shape}, "
                f"masks {masks.shape} (a valid-output model crops its targets: use tile_padding='reflect')."
            )
        # Keras resamples masks with nearest-neighbour interpolation; float keeps every layer happy.
        data = {"images": tf.cast(images, "float32"), "segmentation_masks": tf.cast(masks, "float32")[..., None]}
        for layer in layers:
            data = layer(data)
        augmented = tf.clip_by_value(data["images"], low, high)
        return tf.cast(augmented, images.dtype), tf.cast(tf.round(data["segmentation_masks"][..., 0]), masks.dtype)

    return augment


def exportable_argmax(scores, axis=-1):
    """int32 argmax over `axis` that converts to ONNX and TFLite builtins.

    `keras.ops.argmax` on floats guards against flushed negative zeros with `signbit`, which the
    TensorFlow backend writes as a Bitcast that neither tf2onnx nor LiteRT supports. The argmax of
    the integer mask "equals the maximum" is the same index (the first maximal one, like numpy's)
    and takes the integer path: ReduceMax, GreaterEqual, Cast, ArgMax.
    """
    from keras import ops

    is_max = ops.cast(ops.greater_equal(scores, ops.max(scores, axis=axis, keepdims=True)), "int32")
    return ops.cast(ops.argmax(is_max, axis=axis), "int32")


def windowed_crf_mean_field(
    probabilities,
    images,
    iterations=5,
    window=11,
    appearance_weight=4.0,
    appearance_xy=20.0,
    appearance_rgb=30.0,
    smoothness_weight=3.0,
    smoothness_xy=3.0,
    chunk=16,
):
    """DeepLab-v1's fully connected CRF post-processing, approximated in a window (ConvCRF,
    Teichmann & Cipolla 2018): the pairwise kernels of Krähenbühl & Koltun 2011 with Potts
    compatibility, k(i, j) = w1·exp(−|p_i − p_j|²/2θα² − |I_i − I_j|²/2θβ²) + w2·exp(−|p_i − p_j|²/2θγ²),
    summed over the `window` × `window` neighbours of each pixel only (the paper's CRF sums over
    every pixel pair with a permutohedral lattice). Mean-field: Q ← softmax(log P + Σ_j k(i, j) Q_j),
    the Potts energy Σ_j k(i, j)·[l ≠ l_j] up to a per-pixel constant.

    probabilities float [N, H, W, K] (the network's softmax), images float [N, H, W, C] (raw
    pixels; θβ in their units). Returns the refined probabilities [N, H, W, K] (numpy)."""
    from keras import ops

    probabilities = np.asarray(probabilities, dtype="float32")
    images = np.asarray(images, dtype="float32")
    if probabilities.shape[:3] != images.shape[:3]:
        raise ValueError(f"The CRF needs probabilities and images of one size. Received: {probabilities.shape}, {images.shape}")
    radius = window // 2
    height, width = probabilities.shape[1:3]
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if (dy, dx) != (0, 0)]

    def shifted(padded, dy, dx):  # the neighbour at (y + dy, x + dx) of every pixel
        return padded[:, radius + dy : radius + dy + height, radius + dx : radius + dx + width]

    refined = []
    for start in range(0, len(probabilities), chunk):
        unary = ops.log(ops.clip(ops.convert_to_tensor(probabilities[start : start + chunk]), 1e-6, 1.0))
        image = ops.convert_to_tensor(images[start : start + chunk])
        padding = ((0, 0), (radius, radius), (radius, radius), (0, 0))
        padded_image = ops.pad(image, padding)
        # Neighbours outside the image get a zero kernel (the padding is not a pixel).
        padded_inside = ops.pad(ops.ones_like(image[..., :1]), padding)
        kernels = []
        for dy, dx in offsets:
            distance = float(dy * dy + dx * dx)
            colour = ops.sum(ops.square(shifted(padded_image, dy, dx) - image), axis=-1, keepdims=True)
            appearance = appearance_weight * ops.exp(-distance / (2 * appearance_xy**2) - colour / (2 * appearance_rgb**2))
            smoothness = smoothness_weight * float(np.exp(-distance / (2 * smoothness_xy**2)))
            kernels.append((appearance + smoothness) * shifted(padded_inside, dy, dx))
        estimate = ops.softmax(unary, axis=-1)
        for _ in range(iterations):
            padded_estimate = ops.pad(estimate, padding)
            message = sum(kernel * shifted(padded_estimate, dy, dx) for kernel, (dy, dx) in zip(kernels, offsets))
            estimate = ops.softmax(unary + message, axis=-1)
        refined.append(np.asarray(ops.convert_to_numpy(estimate)))
    return np.concatenate(refined) if refined else probabilities


def _dice_cross_entropy_class():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="deepzoo")
    class DiceCrossEntropy(keras.losses.Loss):
        """Per-pixel cross-entropy + `dice_weight` × soft Dice loss (Milletari et al. 2016), the
        Dice term 1 − mean over the K classes of (2·Σ p·t + s) / (Σ p + Σ t + s) per image (s = 1:
        a class absent from both the image and the prediction scores 1). Returns [N, H, W]: the image's Dice term is added to each
        of its pixels, so pixel weights (mean 1) scale the cross-entropy and leave the Dice term's
        size about unchanged."""

        def __init__(self, num_classes, from_logits=False, dice_weight=1.0, smooth=1.0, name="dice_cross_entropy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.num_classes, self.from_logits = int(num_classes), bool(from_logits)
            self.dice_weight, self.smooth = float(dice_weight), float(smooth)

        def call(self, y_true, y_pred):
            labels = ops.cast(y_true, "int32")
            cross_entropy = keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=self.from_logits)
            probabilities = ops.softmax(y_pred, axis=-1) if self.from_logits else y_pred
            truth = ops.one_hot(labels, self.num_classes, dtype=probabilities.dtype)
            overlap = ops.sum(probabilities * truth, axis=(1, 2))  # [N, K]
            total = ops.sum(probabilities, axis=(1, 2)) + ops.sum(truth, axis=(1, 2))
            dice = (2.0 * overlap + self.smooth) / (total + self.smooth)
            dice_loss = 1.0 - ops.mean(dice, axis=-1)
            return cross_entropy + self.dice_weight * dice_loss[:, None, None]

        def get_config(self):
            return {
                **super().get_config(), "num_classes": self.num_classes, "from_logits": self.from_logits,
                "dice_weight": self.dice_weight, "smooth": self.smooth,
            }

    return DiceCrossEntropy


_DICE_CROSS_ENTROPY = []  # the loss class, made on first use (this module imports keras lazily)


def dice_cross_entropy(num_classes, from_logits=False, dice_weight=1.0, smooth=1.0):
    """A `DiceCrossEntropy` loss (see `_dice_cross_entropy_class`)."""
    if not _DICE_CROSS_ENTROPY:
        _DICE_CROSS_ENTROPY.append(_dice_cross_entropy_class())
    return _DICE_CROSS_ENTROPY[0](num_classes, from_logits=from_logits, dice_weight=dice_weight, smooth=smooth)


class Segmentation(Task):
    name = "segmentation"
    element = "(x float32 [N, H, W, C] raw pixels, y uint8/int32 [N, H, W] class ids, 0 = background)"
    default_dataset = "shapes_masks"
    monitor = ("val_miou", "max")
    objective = ("miou", "max")
    export_outputs = "probabilities [N, H, W, K] float32 and class_map [N, H, W] int32 (argmax)"
    stratify = False

    # Per-pixel loss weights that balance class frequencies (the w_c of U-Net's weight map, §3):
    # w_c ∝ 1/√(frequency of c in the targets given to `make_dataset`), scaled to a mean pixel
    # weight of 1. Without it the background (≈ 90 % of the shapes scenes' pixels) drowns the
    # gradient that tells the shapes apart. "median_frequency" = SegNet's median-frequency balancing
    # (`median_frequency_weights`). None = unweighted cross-entropy.
    # "unet_border" adds U-Net's border term to the 1/√frequency weights (`unet_weight_map`, with
    # `border_weight`), for touching objects such as the `cells` data.
    class_balance = "inverse_sqrt_frequency"
    border_weight = {"w0": 10.0, "sigma": 5.0}
    # "cross_entropy" (per-pixel, weighted as above) or "dice_cross_entropy": the same plus
    # `dice_weight` × the soft multi-class Dice loss of each image (`DiceCrossEntropy`), which
    # scores every class's overlap as a whole, like the mIoU it is judged by.
    loss_kind = "cross_entropy"
    dice_weight = 1.0
    # "windowed": `evaluate` also refines the probabilities with DeepLab-v1's CRF, approximated in
    # a window (`windowed_crf_mean_field`), and reports both; post-processing, not exported.
    crf = None
    settings = {
        "class_balance": ("inverse_sqrt_frequency", "median_frequency", "unet_border", None),
        "loss_kind": ("cross_entropy", "dice_cross_entropy"),
        "dice_weight": NumberSetting(float, minimum=0.0),
        "crf": (None, "windowed"),
    }

    # --- data ---------------------------------------------------------------------------------

    def class_weights(self, y):
        """float32 [K] loss weight per class id for targets `y` (see `class_balance`)."""
        if self.class_balance == "median_frequency":
            return median_frequency_weights(y)
        counts = np.bincount(np.asarray(y).reshape(-1).astype(np.int64), minlength=1).astype(np.float64)
        frequency = counts / max(counts.sum(), 1.0)
        weights = np.zeros_like(frequency)
        present = frequency > 0
        weights[present] = frequency[present] ** -0.5
        weights /= max(float(np.sum(frequency * weights)), 1e-12)
        return weights.astype("float32")

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        """Batches of `(images, class ids)`, or `(images, class ids, pixel weights)` with
        `class_balance`; weights are looked up after augmentation, so they follow the moved masks."""
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle:
            dataset = dataset.shuffle(min(length(x), 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augment is not None:
            dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        if self.class_balance == "unet_border":
            # U-Net's weight map needs distances to the two nearest objects: computed with scipy
            # on each (augmented) batch, so the weights follow the deformed masks.
            class_weights = self.class_weights(y)

            def border_weights(images, masks):
                weights = tf.numpy_function(lambda m: unet_weight_map(m, class_weights, **self.border_weight), [masks], tf.float32)
                weights.set_shape(masks.shape)
                return images, masks, weights

            dataset = dataset.map(border_weights)
        elif self.class_balance:
            weights = tf.constant(self.class_weights(y))
            dataset = dataset.map(lambda images, masks: (images, masks, tf.gather(weights, tf.cast(masks, "int32"))))
        return dataset.prefetch(tf.data.AUTOTUNE)

    def build_augmentation(self, config, dataset, seed):
        if is_point_cloud(dataset.x):
            return None if _augmentation_settings_points(config) is None else point_cloud_augmentation(seed=seed, **_augmentation_settings_points(config))
        value_range = tuple(dataset.value_range) if getattr(dataset, "value_range", None) else (0.0, 255.0)
        layers = augmentation_layers(config, value_range, seed)
        return make_augment_fn(layers, value_range) if layers else None

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """Constructor arguments the data implies: a model that can mirror-pad its input to a
        valid-convolution tile (U-Net's overlap-tile) does so, so that its output covers the image,
        its targets need no cropping and geometric augmentation can move them."""
        overrides = {"tile_padding": "reflect"} if "tile_padding" in accepted else {}
        if isinstance(x_train, dict) and "points" in x_train:  # a point cloud with its object category
            if "num_points" in accepted:
                overrides["num_points"] = int(np.shape(x_train["points"])[1])
            if "num_categories" in accepted and "category" in x_train:
                overrides["num_categories"] = int(np.shape(x_train["category"])[-1])
        return overrides

    def fit_targets(self, model, y, **_):
        """int32 class ids, centre-cropped to the model's output where it is smaller (valid U-Net)."""
        y = np.asarray(y).astype("int32")
        return centre_crop(y, _output_tensor(model).shape[1:-1])

    # --- training -----------------------------------------------------------------------------

    def loss(self, model, **_):
        import keras

        from_logits = not outputs_probabilities(model)
        if self.loss_kind == "dice_cross_entropy":
            return dice_cross_entropy(num_classes_of(model), from_logits=from_logits, dice_weight=self.dice_weight)
        if self.loss_kind != "cross_entropy":
            raise ValueError(f"Unknown segmentation loss_kind {self.loss_kind!r}. Expected 'cross_entropy' or 'dice_cross_entropy'.")
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)

    def metrics(self, model, **_):
        import keras

        return [
            keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
            keras.metrics.MeanIoU(num_classes=num_classes_of(model), sparse_y_pred=False, name="miou"),
        ]

    # --- evaluation ---------------------------------------------------------------------------

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """The hold-out report; with `crf="windowed"` its mIoU, per-class IoU and pixel accuracy are
        those after the CRF, and the network's own are kept as `*_without_crf`."""
        outputs = self.predict(model, x)
        report = self.score(y, outputs, class_names)
        if self.crf != "windowed":
            return report
        probabilities = outputs.get("probabilities")
        if probabilities is None or np.ndim(x) != 4 or np.shape(x)[1:3] != probabilities.shape[1:3]:
            raise ValueError(f"The CRF refines a full-size score map of image inputs. Received: inputs {np.shape(x)}, scores {None if probabilities is None else probabilities.shape}")
        refined = self.score(y, {"probabilities": windowed_crf_mean_field(probabilities, x)}, class_names)
        without = {f"{key}_without_crf": report[key] for key in ("miou", "per_class_iou", "pixel_accuracy")}
        return {**report, **refined, **without, "crf": "windowed"}

    def score(self, y_true, outputs, class_names=None, chunk=64):
        """mIoU, per-class IoU, pixel accuracy and the confusion matrix (keras.metrics.MeanIoU)."""
        import keras

        predicted = class_map_of(outputs).astype("int32")
        y_true = centre_crop(np.asarray(y_true).astype("int32"), predicted.shape[1:3])
        if y_true.shape != predicted.shape:
            raise ValueError(f"Targets {y_true.shape} and predictions {predicted.shape} differ in shape.")
        k = len(class_names) if class_names else int(max(y_true.max(initial=0), predicted.max(initial=0)) + 1)
        # Chunks keep MeanIoU's float32 confusion counts exact; they are summed as integers.
        metric = keras.metrics.MeanIoU(num_classes=k)
        confusion = np.zeros((k, k), dtype=np.int64)
        for start in range(0, len(y_true), chunk):
            metric.reset_state()
            metric.update_state(y_true[start : start + chunk], predicted[start : start + chunk])
            confusion += np.asarray(metric.total_cm).astype(np.int64)
        report = {
            **iou_report(confusion, class_names),
            "confusion_matrix": confusion.tolist(),
            "num_examples": int(len(y_true)),
        }
        if class_names and all("/" in str(name) for name in class_names):
            report.update(part_averaged_iou(y_true, predicted, class_names))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None, count=6):
        from pathlib import Path

        run_dir = Path(run_dir)
        if is_point_cloud(x):
            x = {key: np.asarray(value)[:count] for key, value in x.items()} if isinstance(x, dict) else np.asarray(x)[:count]
            predicted = class_map_of(self.predict(model, x))
            point_parts_grid(x["points"] if isinstance(x, dict) else x, np.asarray(y)[:count], predicted, class_names, run_dir / "point_parts.png")
            if report.get("per_class_iou"):
                per_class_iou_chart(report["per_class_iou"], report.get("miou"), run_dir / "per_class_iou.png")
            return
        x = np.asarray(x)[:count]
        outputs = self.predict(model, x)
        overlay_grid(x, np.asarray(y)[:count], class_map_of(outputs), class_names, run_dir / "segmentation_overlay.png")
        if report.get("per_class_iou"):
            per_class_iou_chart(report["per_class_iou"], report.get("miou"), run_dir / "per_class_iou.png")

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """Blocky label maps and images whose colour follows the label (learnable in a few steps)."""
        rng = np.random.default_rng(seed)
        height, width, channels = (int(d) for d in model.inputs[0].shape[1:4])
        k = num_classes_of(model)
        cells = 8
        coarse = rng.integers(0, k, size=(n, cells, cells))
        labels = np.repeat(np.repeat(coarse, -(-height // cells), axis=1), -(-width // cells), axis=2)[:, :height, :width]
        palette = rng.uniform(0.0, 255.0, size=(k, channels))
        x = palette[labels] + rng.normal(0.0, 10.0, size=(n, height, width, channels))
        x = np.clip(x, 0.0, 255.0).astype("float32")
        y = centre_crop(labels.astype("int32"), _output_tensor(model).shape[1:3])
        return x, y

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        import keras

        specs = model_input_specs(model)
        if len(specs) > 1:  # named inputs (a point cloud and its object category)
            inputs = {spec.name: keras.Input(shape=spec.shape, name=spec.name, dtype=spec.dtype) for spec in specs}
        else:
            inputs = keras.Input(shape=specs[0].shape, name=specs[0].name, dtype=specs[0].dtype)
        scores = model(inputs, training=False)
        probabilities = scores if outputs_probabilities(model) else keras.layers.Softmax(axis=-1, name="softmax")(scores)
        class_map = exportable_argmax(probabilities)
        return keras.Model(inputs, {"probabilities": probabilities, "class_map": class_map}, name=f"{model.name}_endpoint")

    def compare_outputs(self, name, reference, actual, atol, rtol):
        reference, actual = np.asarray(reference), np.asarray(actual)
        if name != "class_map":
            return super().compare_outputs(name, reference, actual, atol, rtol)
        if reference.shape != actual.shape:
            return CheckOutcome(False, f"{name}: shape {actual.shape} differs from Keras {reference.shape}")
        agree = float(np.mean(reference == actual)) if reference.size else 1.0
        return CheckOutcome(agree >= CLASS_MAP_AGREEMENT, f"{name}: {agree:.4%} of pixels equal (need {CLASS_MAP_AGREEMENT:.1%})")

    def quantized_reference(self, reference_outputs):
        """Targets for a quantised export's mIoU when no ground truth is given: Keras' class map."""
        return class_map_of(reference_outputs)


# --- point clouds ------------------------------------------------------------------------------


POINT_AUGMENTATION_KEYS = ("rotate", "scale", "jitter")
POINT_AUGMENTATION_DEFAULTS = {"rotate": True, "scale": 0.2, "jitter": 0.01}


def _augmentation_settings_points(config):
    """Point-cloud augmentation settings: None (off), or {rotate, scale, jitter}; any preset name or
    True gives the defaults (PointNet's rotation about the up axis and jitter, plus a scale)."""
    if config in (None, False, "none", {}):
        return None
    if config is True or isinstance(config, str):
        return dict(POINT_AUGMENTATION_DEFAULTS)
    if not isinstance(config, dict):
        raise ValueError(f"Augmentation must be a preset name or a dict. Received: {config!r}")
    unknown = sorted(set(config) - set(POINT_AUGMENTATION_KEYS))
    if unknown:
        raise ValueError(f"Unknown point-cloud augmentation(s) {unknown}. Expected some of {list(POINT_AUGMENTATION_KEYS)}.")
    return {key: config.get(key, False) for key in POINT_AUGMENTATION_KEYS}


def point_cloud_augmentation(seed=0, rotate=True, scale=0.2, jitter=0.01, clip=0.05):
    """`fn(x, labels) -> (x, labels)` on batches of points [B, P, 3] (or {"points", ...}): a random
    rotation about the up axis (z), an anisotropic scale in [1 − scale, 1 + scale] per axis and
    N(0, jitter) noise clipped at ±clip. Per-point labels stay with their points."""
    import math

    import keras
    import tensorflow as tf

    generator = keras.random.SeedGenerator(seed)

    def move(points):
        points = tf.cast(points, "float32")
        batch = tf.shape(points)[0]
        if rotate:
            angle = keras.random.uniform((batch,), 0.0, 2.0 * math.pi, seed=generator)
            cos, sin, zeros, ones = tf.cos(angle), tf.sin(angle), tf.zeros((batch,)), tf.ones((batch,))
            rotation = tf.reshape(tf.stack([cos, -sin, zeros, sin, cos, zeros, zeros, zeros, ones], axis=1), (-1, 3, 3))
            points = tf.einsum("bij,bnj->bni", rotation, points)
        if scale:
            points = points * keras.random.uniform((batch, 1, 3), 1.0 - scale, 1.0 + scale, seed=generator)
        if jitter:
            points = points + tf.clip_by_value(keras.random.normal(tf.shape(points), stddev=jitter, seed=generator), -clip, clip)
        return points

    def augment(x, labels):
        if isinstance(x, dict):
            return {**x, "points": move(x["points"])}, labels
        return move(x), labels

    return augment


def is_point_cloud(x):
    """Whether `x` is point-cloud data: [N, P, 3] coordinates or a dict with "points"."""
    if isinstance(x, dict):
        return "points" in x
    return np.ndim(x) == 3 and np.shape(x)[-1] == 3


def part_averaged_iou(y_true, predicted, class_names):
    """The part-segmentation score of Qi et al. 2017 (§5.1, as in their evaluation code), for labels
    named "category/part" with parts disjoint between categories. Per shape of category C: the IoU
    of every part of C between truth and prediction (sklearn's jaccard_score; a part absent from
    both counts 1), averaged over C's parts. "part_instance_miou": the mean over all shapes (the
    paper's mIoU); "part_category_miou": the mean over categories of their shapes' mean;
    "part_miou_per_category": {category: mean}. A shape's category is the one of its true labels."""
    from sklearn.metrics import jaccard_score

    categories = [str(name).split("/", 1)[0] for name in class_names]
    order = list(dict.fromkeys(categories))
    parts_of = {category: [i for i, c in enumerate(categories) if c == category] for category in order}
    y_true, predicted = np.asarray(y_true).reshape(len(y_true), -1), np.asarray(predicted).reshape(len(predicted), -1)
    per_category = {category: [] for category in order}
    for truth, guess in zip(y_true, predicted):
        category = categories[int(np.bincount(truth, minlength=len(categories)).argmax())]
        ious = jaccard_score(truth, guess, labels=parts_of[category], average=None, zero_division=1.0)
        per_category[category].append(float(np.mean(ious)))
    shapes = [value for values in per_category.values() for value in values]
    means = {category: float(np.mean(values)) for category, values in per_category.items() if values}
    return {
        "part_instance_miou": float(np.mean(shapes)) if shapes else None,
        "part_category_miou": float(np.mean(list(means.values()))) if means else None,
        "part_miou_per_category": means,
    }


def point_parts_grid(points, true_labels, predicted_labels, class_names, path, title=None):
    """Point clouds [N, P, 3] coloured by predicted part (top row) next to the truth (bottom row),
    matplotlib 3-D scatter; points whose prediction is wrong are crossed in black."""
    from tasks import plots

    plt = plots._pyplot()
    points, true_labels, predicted_labels = np.asarray(points), np.asarray(true_labels), np.asarray(predicted_labels)
    n = len(points)
    k = len(class_names) if class_names else int(max(true_labels.max(initial=0), predicted_labels.max(initial=0)) + 1)
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    palette = plt.get_cmap("tab10" if k <= 10 else "tab20")
    figure = plt.figure(figsize=(2.6 * n, 5.6))
    for column in range(n):
        cloud = points[column]
        for row, (labels, heading) in enumerate(((predicted_labels[column], "predicted"), (true_labels[column], "truth"))):
            axis = figure.add_subplot(2, n, row * n + column + 1, projection="3d")
            axis.scatter(cloud[:, 0], cloud[:, 1], cloud[:, 2], s=5, c=[palette(int(i) % palette.N) for i in labels], depthshade=False)
            if row == 0:
                wrong = labels != true_labels[column]
                axis.scatter(cloud[wrong, 0], cloud[wrong, 1], cloud[wrong, 2], s=16, marker="x", c="black", linewidths=0.6, depthshade=False)
                accuracy = 1.0 - float(np.mean(wrong))
                axis.set_title(f"{names[int(np.bincount(true_labels[column]).argmax())].split('/')[0]}: {accuracy:.0%} points right", fontsize=8)
            for set_limits in (axis.set_xlim, axis.set_ylim, axis.set_zlim):
                set_limits(-1.0, 1.0)
            axis.set_box_aspect((1.0, 1.0, 1.0))  # equal scales: a lamp keeps its height
            axis.view_init(elev=20, azim=30)
            axis.set_axis_off()
            if column == 0:
                axis.text2D(0.0, 0.5, heading, transform=axis.transAxes, rotation=90, va="center")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=palette(i % palette.N), label=names[i]) for i in range(k)]
    figure.legend(handles=handles, loc="lower center", ncol=min(k, 6), frameon=False, fontsize=8)
    figure.suptitle(title or "held-out point clouds coloured by predicted part (top; wrong points crossed) and true part (bottom)")
    plots._save(figure, path)
    return path


# --- plots -------------------------------------------------------------------------------------


def _colour_mapping(k):
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    return {i: [int(255 * c) for c in palette[(i - 1) % len(palette)]] if i else [0, 0, 0] for i in range(k)}


def overlay_grid(images, true_masks, predicted_masks, class_names, path):
    """Rows: image, ground truth and prediction drawn with keras.visualization.draw_segmentation_masks."""
    import keras

    from tasks import plots

    true_masks = centre_crop(np.asarray(true_masks), predicted_masks.shape[1:3])
    images = centre_crop(np.asarray(images, dtype="float32"), predicted_masks.shape[1:3])
    if images.shape[-1] not in (1, 3):  # non-RGB grids (LiDAR range images, BEV maps): last channel as grey
        images = images[..., -1:]
    k = len(class_names) if class_names else int(max(true_masks.max(initial=0), predicted_masks.max(initial=0)) + 1)
    colours = _colour_mapping(k)
    low, high = float(images.min(initial=0.0)), float(images.max(initial=1.0))
    images = (images - low) / max(high - low, 1e-6) * 255.0 if high > 255.0 or low < 0.0 or high <= 1.0 else images
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)

    # Masks are drawn over a grey version of the image, so that a class colour never mixes with
    # the random colour of the shape under it.
    grey = np.repeat(images @ np.array([0.299, 0.587, 0.114], "float32"), 3).reshape(images.shape)

    def draw(masks):
        return keras.visualization.draw_segmentation_masks(
            grey, np.asarray(masks, "int32")[..., None], num_classes=k, color_mapping=colours, alpha=0.8, ignore_index=0
        )

    rows = [("image", images.astype("uint8")), ("ground truth", draw(true_masks)), ("prediction", draw(predicted_masks))]
    plt = plots._pyplot()
    n = len(images)
    figure, axes = plt.subplots(3, n, figsize=(2.2 * n, 7.0), squeeze=False)
    for row, (title, pictures) in enumerate(rows):
        for column in range(n):
            axis = axes[row][column]
            axis.imshow(pictures[column])
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(title)
    names = class_names or [str(i) for i in range(k)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.array(colours[i]) / 255.0) for i in range(1, k)]
    figure.legend(handles, names[1:], loc="lower center", ncol=max(1, k - 1), frameon=False)
    figure.suptitle("held-out images: ground truth and prediction (background not painted)")
    plots._save(figure, path)
    return path


def per_class_iou_chart(per_class_iou, miou, path):
    from tasks import plots

    names = list(per_class_iou)
    values = [per_class_iou[name] if per_class_iou[name] is not None else 0.0 for name in names]
    plt = plots._pyplot()
    figure, axis = plt.subplots(figsize=(max(4.0, 0.7 * len(names) + 2), 3.4))
    axis.bar(range(len(names)), values, color="tab:blue")
    axis.set_xticks(range(len(names)), names, rotation=30, ha="right")
    axis.set_ylim(0.0, 1.0)
    axis.set_ylabel("IoU")
    if miou is not None:
        axis.axhline(miou, color="tab:red", linestyle="--", label=f"mIoU {miou:.3f}")
        axis.legend(loc="lower right")
    axis.set_title("hold-out IoU per class")
    axis.grid(axis="y", alpha=0.3)
    plots._save(figure, path)
    return path
