"""Localisation, interpretability and robustness (spec §2 C): the methods and their task kinds.

Every method is a function over any Keras image classifier with a conv layer (inputs: raw images,
e.g. 0..255, the model normalises them itself; output: class probabilities), written with
`keras.ops` and `tf.GradientTape` (TensorFlow backend) where gradients are needed:

    grad_cam(model, images)                Selvaraju et al. 2017: ReLU(Σ_k mean_ij(∂y_c/∂A_k) A_k)
    class_activation_map(model, images)    Zhou et al. 2016: M_c = Σ_k w_ck f_k (conv → GAP → Dense)
    augmented_grad_cam(model, image)       Morbidelli et al. 2020: TV-regularised super-resolution
    saliency_map(model, images)            Simonyan et al. 2014: max_ch |∂S_c/∂I|
    occlusion_sensitivity(model, images)   Zeiler & Fergus 2014: p_c with a grey square slid over
    activation_maximization(model, c)      argmax S_c(I) − λ‖I‖² (spec §9 #12) + Yosinski regularisers
    deep_dream(model, image)               Mordvintsev et al. 2015: ascend ‖A_l(I)‖², octaves 1.4
    max_activating_patches(model, ...)     Zeiler & Fergus 2014: top-k receptive-field crops
    fgsm(model, images, labels, ε)         Goodfellow et al. 2015: clip(x + ε·sign(∇_x J))
    adversarial_objective(...)             J̃ = αJ(x) + (1 − α)J(x_adv)
    sticker_attack(model, images, labels)  Brown et al. 2017 / Eykholt et al. 2018: EOT patch
    receptive_field(model, layer)          spec §3: r_l = r_{l−1} + (k_l − 1)·Π_{i<l} s_i

"Pre-softmax score" (Grad-CAM, saliency, activation maximisation): when the classifier ends in a
Dense/Conv layer with a softmax/sigmoid activation (or a separate Softmax/Activation layer), the
score is that layer's linear output; otherwise the log-probability.

Task kinds defined here (registered in tasks/__init__.py):
    explanation:   a classifier trained as usual (element as classification) whose export endpoint
                   adds the row's method output (heat map, saliency, adversarial image) to the
                   probabilities.
    localization:  (image float32 [N, H, W, 3], {"label" int32 [N], "box" float32 [N, 4]
                   normalised centre (x, y, w, h), "present" float32 [N]}): the two-head localiser.
    reconstruction: (image, image): decoders trained from a fixed classifier's features.
"""

import numpy as np

from tasks.base import CheckOutcome, length, take  # noqa: F401
from tasks.classification import Classification

# --- model surgery: the conv layer and the pre-softmax score ------------------------------------


def _keras():
    import keras

    return keras


def conv_layers(model):
    """Names of the layers with a 4-D (N, H, W, C) output, in graph order (convs, pools, blocks)."""
    keras = _keras()
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and shape[1] is not None and shape[1] > 1:
            names.append(layer.name)
    return names


def last_conv_layer(model):
    """Grad-CAM's default layer: the last 4-D feature map that is not a pooling, i.e. the last
    conv's output after its normalisation and activation where it has them (a conv's raw output
    before BN carries BN's per-channel offset and scale into the map)."""
    keras = _keras()
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    candidates = [name for name in conv_layers(model) if not isinstance(model.get_layer(name), pools)]
    if not any(isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) for layer in model.layers):
        candidates = []
    if not candidates:
        raise ValueError(f"Model '{model.name}' has no conv layer (no 4-D feature map); these methods need one.")
    return candidates[-1]


def check_image_classifier(model):
    """Raises a one-line ValueError unless `model` maps one image input to class probabilities."""
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        shapes = [tuple(t.shape) for t in model.inputs]
        raise ValueError(f"Expected an image classifier with one (N, H, W, C) input. Received: model '{model.name}' with inputs {shapes}")
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        shapes = [tuple(t.shape) for t in model.outputs]
        raise ValueError(f"Expected an image classifier with one (N, classes) output. Received: model '{model.name}' with outputs {shapes}")
    last_conv_layer(model)


def check_images(model, images):
    """`images` as float32 of the model's input size, or a one-line ValueError."""
    images = np.asarray(images, dtype="float32")
    expected = tuple(int(d) if d is not None else None for d in model.inputs[0].shape[1:])
    if images.ndim != 4 or any(e is not None and e != a for e, a in zip(expected, images.shape[1:])):
        raise ValueError(f"Expected images of shape (N, {', '.join(str(e) for e in expected)}). Received: shape {images.shape}")
    return images


def _score_model(model, layer_name=None):
    """keras.Model: images → [activations of `layer_name` (or None), pre-softmax class scores]."""
    keras = _keras()
    from keras import ops

    final = model.layers[-1]
    activation = getattr(final, "activation", None)
    name = getattr(activation, "__name__", "")
    if isinstance(final, keras.layers.Softmax) or (isinstance(final, keras.layers.Activation) and name in ("softmax", "sigmoid")):
        scores = final.input
    elif name in ("softmax", "sigmoid") and isinstance(final, keras.layers.Dense):
        # The Dense layer's affine part with its own (live) variables: x·W + b.
        scores = _affine_part_class()(final, name=f"{final.name}_scores")(final.input)
    else:
        scores = ops.log(ops.maximum(model.outputs[0], 1e-12))
    outputs = [scores] if layer_name is None else [model.get_layer(layer_name).output, scores]
    return keras.Model(model.input, outputs)


def _affine_part_class():
    import keras

    class AffinePart(keras.layers.Layer):
        """x·W + b of a Dense layer (its pre-activation), sharing the layer's variables."""

        def __init__(self, dense, **kwargs):
            super().__init__(**kwargs)
            self.dense = dense

        def call(self, inputs):
            from keras import ops

            out = ops.matmul(inputs, self.dense.kernel)
            return out + self.dense.bias if self.dense.use_bias else out

    return AffinePart


def _class_indices(model, images, class_index):
    """Per-image class ids: `class_index` (int or array), else the predicted class."""
    if class_index is None:
        return np.argmax(np.asarray(model(images, training=False)), axis=-1)
    return np.broadcast_to(np.asarray(class_index, dtype="int64"), (len(images),)).copy()


def _pick(scores, classes):
    import tensorflow as tf

    return tf.gather(scores, tf.cast(classes, tf.int32), axis=1, batch_dims=1)


def _normalise_maps(maps):
    """Each map scaled to 0..1 by its maximum (all-zero maps stay zero)."""
    from keras import ops

    peak = ops.max(maps, axis=(1, 2), keepdims=True)
    return maps / ops.maximum(peak, 1e-12)


def _upsample(maps, size):
    from keras import ops

    return ops.image.resize(maps[..., None], size, interpolation="bilinear")[..., 0]


# --- CAM and Grad-CAM ---------------------------------------------------------------------------


def grad_cam(model, images, class_index=None, layer=None, upsample=True):
    """Grad-CAM maps [N, H, W] in 0..1 (input size; conv grid with `upsample=False`).

    w_k^c = mean_ij ∂y_c/∂A_k(i, j), map = ReLU(Σ_k w_k^c A_k), y_c the pre-softmax score.
    """
    import tensorflow as tf

    images = check_images(model, images)
    classes = _class_indices(model, images, class_index)
    scorer = _score_model(model, layer or last_conv_layer(model))
    inputs = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        activations, scores = scorer(inputs, training=False)
        picked = _pick(scores, classes)
    gradients = tape.gradient(picked, activations)
    maps = _grad_cam_from(activations, gradients)
    return np.asarray(_upsample(maps, images.shape[1:3]) if upsample else maps)


def _grad_cam_from(activations, gradients):
    from keras import ops

    weights = ops.mean(gradients, axis=(1, 2), keepdims=True)
    return _normalise_maps(ops.relu(ops.sum(weights * activations, axis=-1)))


def cam_head(model):
    """(conv layer name, Dense kernel [K, C], bias) of a conv → GlobalAveragePooling → Dense head."""
    keras = _keras()
    final = model.layers[-1]
    if not isinstance(final, keras.layers.Dense):
        raise ValueError(f"CAM needs a conv → GAP → Dense(softmax) head (use grad_cam for any classifier). Received: last layer {type(final).__name__}")
    pool = final.input._keras_history.operation
    if not isinstance(pool, keras.layers.GlobalAveragePooling2D):
        raise ValueError(f"CAM needs GlobalAveragePooling2D right before the classifier. Received: {type(pool).__name__}")
    conv = pool.input._keras_history.operation
    return conv.name, final.kernel, final.bias


def class_activation_map(model, images, class_index=None, upsample=True):
    """CAM maps [N, H, W] in 0..1: M_c(x, y) = Σ_k w_ck f_k(x, y), bilinearly up-sampled."""
    keras = _keras()
    from keras import ops

    images = check_images(model, images)
    classes = _class_indices(model, images, class_index)
    conv_name, kernel, _ = cam_head(model)
    features = keras.Model(model.input, model.get_layer(conv_name).output)(images, training=False)
    weights = ops.transpose(ops.take(kernel, classes, axis=1))  # [N, K]
    maps = _normalise_maps(ops.relu(ops.einsum("nhwk,nk->nhw", features, weights)))
    return np.asarray(_upsample(maps, images.shape[1:3]) if upsample else maps)


def heatmap_box(heatmap, threshold=0.2):
    """(x_min, y_min, x_max, y_max) pixel box of the largest connected region above `threshold`
    × the map's maximum (CAM's localisation rule, Zhou et al. 2016)."""
    from scipy import ndimage

    heatmap = np.asarray(heatmap, dtype="float64")
    regions, count = ndimage.label(heatmap >= threshold * heatmap.max())
    if count == 0 or heatmap.max() <= 0:
        return np.array([0.0, 0.0, float(heatmap.shape[1]), float(heatmap.shape[0])], dtype="float32")
    sizes = ndimage.sum_labels(np.ones_like(heatmap), regions, index=np.arange(1, count + 1))
    rows, cols = np.nonzero(regions == int(np.argmax(sizes)) + 1)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype="float32")


def pointing_game(heatmaps, boxes, tolerance=0.0):
    """Fraction of maps whose maximum falls inside the object's box [N, 4] (x_min, y_min, x_max,
    y_max in pixels), enlarged by `tolerance` pixels (Zhang et al. 2016)."""
    heatmaps, boxes = np.asarray(heatmaps), np.asarray(boxes, dtype="float64").reshape(len(heatmaps), 4)
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(axis=1)
    y, x = np.unravel_index(flat, heatmaps.shape[1:])
    x, y = x + 0.5, y + 0.5
    hits = (x >= boxes[:, 0] - tolerance) & (x <= boxes[:, 2] + tolerance) & (y >= boxes[:, 1] - tolerance) & (y <= boxes[:, 3] + tolerance)
    return float(hits.mean()) if len(hits) else float("nan")


# --- Augmented Grad-CAM -------------------------------------------------------------------------


def _affine(images, transforms):
    """Bilinear warp of [N, H, W, C] by projective 8-vectors [N, 8] (output → input coordinates)."""
    from keras import ops

    return ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant")


def shift_rotation_transforms(size, count, max_shift=3.0, max_angle=15.0, seed=0):
    """`count` known transforms (the first the identity): rotations about the centre + shifts, as
    [count, 8] projective vectors for `keras.ops.image.affine_transform`."""
    rng = np.random.default_rng(seed)
    out = []
    centre = (size - 1) / 2.0
    for index in range(count):
        angle = 0.0 if index == 0 else np.deg2rad(rng.uniform(-max_angle, max_angle))
        dx, dy = (0.0, 0.0) if index == 0 else rng.uniform(-max_shift, max_shift, size=2)
        cos, sin = np.cos(angle), np.sin(angle)
        # input = R·(output − centre) + centre − shift
        a0, a1, b0, b1 = cos, -sin, sin, cos
        a2 = centre - a0 * centre - a1 * centre - dx
        b2 = centre - b0 * centre - b1 * centre - dy
        out.append([a0, a1, a2, b0, b1, b2, 0.0, 0.0])
    return np.asarray(out, dtype="float32")


def total_variation(maps):
    """Anisotropic TV Σ|h(i+1, j) − h(i, j)| + |h(i, j+1) − h(i, j)| per map [N, H, W]."""
    from keras import ops

    return ops.sum(ops.abs(maps[:, 1:, :] - maps[:, :-1, :]), axis=(1, 2)) + ops.sum(ops.abs(maps[:, :, 1:] - maps[:, :, :-1]), axis=(1, 2))


def super_resolve(low_res_maps, transforms, size, tv_weight=0.01, steps=300, learning_rate=0.05):
    """h = argmin_h Σ_l ‖D·A_l·h − g_l‖² + λ·TV(h) by gradient descent (Adam), h ≥ 0.

    low_res_maps: [L, h, w] maps g_l of the L transformed images; transforms: [L, 8] the known
    A_l; D averages size/h × size/w blocks (the down-sampling to the map grid).
    """
    import keras
    import tensorflow as tf
    from keras import ops

    low = tf.constant(np.asarray(low_res_maps, dtype="float32"))
    transforms = tf.constant(np.asarray(transforms, dtype="float32"))
    factor = (size // int(low.shape[1]), size // int(low.shape[2]))
    start = ops.mean(_upsample(low[:1], (size, size)), axis=0, keepdims=True)
    h = tf.Variable(start)
    optimizer = keras.optimizers.Adam(learning_rate)
    count = int(low.shape[0])

    def objective():
        warped = _affine(ops.repeat(h[..., None], count, axis=0), transforms)
        down = ops.nn.average_pool(warped, factor, strides=factor, padding="valid")[..., 0]
        return ops.sum(ops.square(down - low)) + tv_weight * ops.sum(total_variation(h))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = objective()
        optimizer.apply_gradients([(tape.gradient(loss, h), h)])
        h.assign(ops.relu(h))
        return loss

    for _ in range(steps):
        step()
    return np.asarray(h[0])


def augmented_grad_cam(model, image, class_index=None, layer=None, augmentations=16, tv_weight=0.2, steps=150, seed=0):
    """Augmented Grad-CAM [H, W] of one image: the low-resolution Grad-CAMs g_l of `augmentations`
    rotated and shifted copies A_l(I), merged by TV-regularised super-resolution (0..1)."""
    images = check_images(model, np.asarray(image)[None])
    size = images.shape[1]
    transforms = shift_rotation_transforms(size, augmentations, seed=seed)
    augmented = np.asarray(_affine(np.repeat(images, augmentations, axis=0), transforms))
    classes = _class_indices(model, images, class_index)
    low = grad_cam(model, augmented, class_index=np.repeat(classes, augmentations), layer=layer, upsample=False)
    h = super_resolve(low, transforms, size, tv_weight=tv_weight, steps=steps)
    return h / max(float(h.max()), 1e-12)


# --- saliency and occlusion ---------------------------------------------------------------------


def saliency_map(model, images, class_index=None):
    """M(i, j) = max_ch |∂S_c/∂I(i, j, ch)| with S_c the pre-softmax score: [N, H, W]."""
    import tensorflow as tf

    images = check_images(model, images)
    classes = _class_indices(model, images, class_index)
    scorer = _score_model(model)
    inputs = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        picked = _pick(scorer(inputs, training=False), classes)
    return np.asarray(tf.reduce_max(tf.abs(tape.gradient(picked, inputs)), axis=-1))


def occlusion_sensitivity(model, images, class_index=None, patch=8, stride=4, fill=None, batch_size=256):
    """Zeiler & Fergus: a `patch`² square of `fill` (the image mean when None) slid with `stride`;
    returns (probability maps [N, h, w] of class c with the square at each position, sensitivity
    maps [N, H, W] = p_c(I) − p_c(occluded) averaged over the squares covering each pixel)."""
    images = check_images(model, images)
    if patch < 1 or stride < 1 or patch > images.shape[1]:
        raise ValueError(f"Expected 1 <= patch <= image size and stride >= 1. Received: patch={patch}, stride={stride}")
    classes = _class_indices(model, images, class_index)
    height, width = images.shape[1:3]
    rows = list(range(0, height - patch + 1, stride))
    cols = list(range(0, width - patch + 1, stride))
    base = np.asarray(model(images, training=False))[np.arange(len(images)), classes]
    probabilities = np.zeros((len(images), len(rows), len(cols)), "float32")
    sensitivity = np.zeros((len(images), height, width), "float32")
    coverage = np.zeros((height, width), "float32")
    for n, image in enumerate(images):
        value = image.mean(axis=(0, 1)) if fill is None else fill
        copies = np.repeat(image[None], len(rows) * len(cols), axis=0)
        for index, (r, c) in enumerate((r, c) for r in rows for c in cols):
            copies[index, r : r + patch, c : c + patch] = value
        p = np.concatenate([np.asarray(model(copies[i : i + batch_size], training=False)) for i in range(0, len(copies), batch_size)])
        probabilities[n] = p[:, classes[n]].reshape(len(rows), len(cols))
    for r_index, r in enumerate(rows):
        for c_index, c in enumerate(cols):
            sensitivity[:, r : r + patch, c : c + patch] += base[:, None, None] - probabilities[:, r_index, c_index][:, None, None]
            coverage[r : r + patch, c : c + patch] += 1.0
    return probabilities, sensitivity / np.maximum(coverage, 1.0)


# --- activation maximisation and DeepDream ------------------------------------------------------


def _gaussian_blur(images, sigma):
    from scipy import ndimage

    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0))


def activation_maximization(
    model, class_index, steps=200, learning_rate=1.0, l2_decay=1e-3, blur_every=4, blur_sigma=0.5,
    norm_percentile=10.0, contribution_percentile=10.0, value_range=(0.0, 255.0), start=None, seed=0,
):
    """I* = argmax_I S_c(I) − λ‖I − μ‖²₂ by gradient *ascent* (the standard sign, spec §9 #12)
    from a small-noise image, with Yosinski et al. 2015's regularisers: L2 decay
    (I ← μ + (1 − θ)(I − μ)), Gaussian blur every `blur_every` steps, clipping pixels of small
    norm and of small contribution |I·∇I| (below the given percentiles) to μ.

    Returns (image [H, W, C] in `value_range`, score history [steps]).
    """
    import tensorflow as tf

    check_image_classifier(model)
    low, high = value_range
    mean = (low + high) / 2.0
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    image = np.asarray(start, "float32")[None] if start is not None else (mean + rng.normal(0, 0.01 * (high - low), (1, *shape))).astype("float32")
    scorer = _score_model(model)
    history = []
    for step in range(steps):
        inputs = tf.convert_to_tensor(image)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            score = scorer(inputs, training=False)[0, int(class_index)]
            objective = score - l2_decay * tf.reduce_sum(tf.square((inputs - mean) / (high - low)))
        gradient = np.asarray(tape.gradient(objective, inputs))
        history.append(float(score))
        # Normalised ascent step: the step size is in pixel units whatever the gradient scale.
        image = image + learning_rate * gradient / (np.abs(gradient).mean() + 1e-12)
        image = mean + (1.0 - l2_decay) * (image - mean)
        if blur_every and (step + 1) % blur_every == 0:
            image = _gaussian_blur(image, blur_sigma)
        centred = image - mean
        if norm_percentile:
            norms = np.linalg.norm(centred, axis=-1)
            centred[norms < np.percentile(norms, norm_percentile)] = 0.0
        if contribution_percentile:
            contribution = np.abs(centred * gradient).sum(axis=-1)
            centred[contribution < np.percentile(contribution, contribution_percentile)] = 0.0
        image = np.clip(mean + centred, low, high).astype("float32")
    return image[0], np.asarray(history)


def deep_dream(model, image, layer=None, steps=20, step_size=2.0, octaves=3, octave_scale=1.4, jitter=2, value_range=(0.0, 255.0), seed=0):
    """Mordvintsev et al. 2015: ascend ‖A_l(I)‖² (mean square) of layer `l` from a real image,
    with normalised gradient steps, random jitter (roll) and `octaves` scales (×`octave_scale`);
    the details added at a coarse scale are carried up to the next. Returns (image, losses)."""
    import tensorflow as tf
    from keras import ops

    images = check_images(model, np.asarray(image)[None])
    keras = _keras()
    features = keras.Model(model.input, model.get_layer(layer or last_conv_layer(model)).output)
    size = np.asarray(images.shape[1:3])
    rng = np.random.default_rng(seed)
    base = images
    detail = np.zeros_like(images)
    losses = []
    for octave in range(octaves - 1, -1, -1):
        shape = np.maximum((size / octave_scale**octave).round().astype(int), 8)
        small = np.asarray(ops.image.resize(base, tuple(shape)))
        dream = small + np.asarray(ops.image.resize(detail, tuple(shape)))
        for _ in range(steps):
            dy, dx = rng.integers(-jitter, jitter + 1, size=2)
            rolled = np.roll(dream, (dy, dx), axis=(1, 2))
            inputs = tf.convert_to_tensor(np.asarray(ops.image.resize(rolled, tuple(size))))
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_mean(tf.square(features(inputs, training=False)))
            gradient = np.asarray(ops.image.resize(tape.gradient(loss, inputs), tuple(shape)))
            gradient = np.roll(gradient, (-dy, -dx), axis=(1, 2))
            dream = np.clip(dream + step_size * gradient / (np.abs(gradient).mean() + 1e-12), *value_range)
            losses.append(float(loss))
        detail = dream - small
    result = np.clip(base + np.asarray(ops.image.resize(detail, tuple(size))), *value_range)
    return result[0].astype("float32"), np.asarray(losses)


# --- receptive fields and maximally activating patches ------------------------------------------


def _layer_geometry(layer):
    """(kernel, stride, padding) of a layer that moves the grid, or None for one that does not."""
    keras = _keras()
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        kernel = (np.asarray(layer.kernel_size) - 1) * np.asarray(layer.dilation_rate) + 1
        return kernel, np.asarray(layer.strides), layer.padding
    if isinstance(layer, pools):
        return np.asarray(layer.pool_size), np.asarray(layer.strides), layer.padding
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        return np.asarray([1, 1]), np.asarray([1, 1]), ("explicit", np.asarray([top, left]))
    return None


def receptive_field_of_layers(geometry):
    """Spec §3 on a chain of (kernel, stride, pad) (ints or pairs): returns (size r, jump j, start)
    of the last layer's units. r_l = r_{l−1} + (k_l − 1)·j_{l−1}; j_l = j_{l−1}·s_l; start_l =
    start_{l−1} + ((k_l − 1)/2 − p_l)·j_{l−1}: the centre of unit (0, 0) in input pixels."""
    size, jump, start = np.ones(2), np.ones(2), np.full(2, 0.5)
    for kernel, stride, pad in geometry:
        kernel, stride, pad = (np.broadcast_to(np.asarray(v, "float64"), (2,)) for v in (kernel, stride, pad))
        start = start + ((kernel - 1) / 2.0 - pad) * jump
        size = size + (kernel - 1) * jump
        jump = jump * stride
    return size, jump, start


def receptive_field(model, layer_name):
    """(size, jump, start) per axis of `layer_name`'s units along the chain of layers before it
    (residual branches add no extent beyond their longest path, which is this chain)."""
    geometry = []
    for layer in model.layers:
        found = _layer_geometry(layer)
        if found is not None:
            kernel, stride, padding = found
            if isinstance(padding, tuple):
                pad = padding[1]
            elif padding == "same":
                # TensorFlow's "same": total padding k − s (for the sizes that divide), left half floor.
                pad = np.floor(np.maximum(kernel - stride, 0) / 2.0)
            else:
                pad = np.zeros(2)
            geometry.append((kernel, stride, pad))
        if layer.name == layer_name:
            return receptive_field_of_layers(geometry)
    raise ValueError(f"Model '{model.name}' has no layer '{layer_name}'. Expected one of {conv_layers(model)}")


def max_activating_patches(model, images, layer=None, unit=0, top_k=8, batch_size=256):
    """The `top_k` images whose strongest response of channel `unit` of `layer` is largest, each
    with its receptive-field crop (Zeiler & Fergus 2014). Returns dict(indices, activations,
    boxes [k, 4] pixel (x_min, y_min, x_max, y_max) clipped to the image, patches list)."""
    keras = _keras()
    images = check_images(model, images)
    layer = layer or last_conv_layer(model)
    features = keras.Model(model.input, model.get_layer(layer).output)
    if not 0 <= unit < int(features.outputs[0].shape[-1]):
        raise ValueError(f"Layer '{layer}' has {features.outputs[0].shape[-1]} channels. Received: unit={unit}")
    maps = np.concatenate([np.asarray(features(images[i : i + batch_size], training=False))[..., unit] for i in range(0, len(images), batch_size)])
    flat = maps.reshape(len(maps), -1)
    best = flat.max(axis=1)
    order = np.argsort(-best, kind="stable")[:top_k]
    size, jump, start = receptive_field(model, layer)
    height, width = images.shape[1:3]
    boxes, patches = [], []
    for index in order:
        row, col = np.unravel_index(flat[index].argmax(), maps.shape[1:])
        cy, cx = start[0] + row * jump[0], start[1] + col * jump[1]
        x0, y0 = int(max(0, np.floor(cx - size[1] / 2))), int(max(0, np.floor(cy - size[0] / 2)))
        x1, y1 = int(min(width, np.ceil(cx + size[1] / 2))), int(min(height, np.ceil(cy + size[0] / 2)))
        boxes.append([x0, y0, x1, y1])
        patches.append(images[index, y0:y1, x0:x1])
    return {"indices": order, "activations": best[order], "boxes": np.asarray(boxes, "float32"), "patches": patches}


# --- adversarial examples -----------------------------------------------------------------------


def input_gradient(model, images, labels, loss=None):
    """∇_x J(θ, x, y) with J the sparse categorical cross-entropy of the model's probabilities."""
    import keras
    import tensorflow as tf

    loss = loss or keras.losses.SparseCategoricalCrossentropy(reduction="sum")
    inputs = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = loss(labels, model(inputs, training=False))
    return tape.gradient(value, inputs)


def fgsm(model, images, labels, epsilon, value_range=(0.0, 255.0)):
    """x_adv = clip(x + ε·sign(∇_x J(θ, x, y))); ε is a fraction of the value range (0.007 of
    0..255 ≈ 1.8 grey levels, Goodfellow et al.'s panda)."""
    import tensorflow as tf

    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"epsilon is a fraction of the pixel range and must be in [0, 1]. Received: epsilon={epsilon}")
    low, high = value_range
    images = tf.convert_to_tensor(np.asarray(images, "float32"))
    step = float(epsilon) * (high - low) * tf.sign(input_gradient(model, images, np.asarray(labels)))
    return np.asarray(tf.clip_by_value(images + step, low, high))


def adversarial_objective(model, loss_fn, x, y, y_pred, epsilon, alpha=0.5, value_range=(0.0, 255.0)):
    """J̃ = α·J(x) + (1 − α)·J(x + ε·sign(∇_x J)) (Goodfellow et al. 2015, α = 0.5), inside a
    training step: x_adv is a constant of the weight update (no gradient through the attack)."""
    import tensorflow as tf

    clean = loss_fn(y, y_pred)
    if epsilon <= 0.0 or alpha >= 1.0:
        return clean
    low, high = value_range
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        attacked = loss_fn(y, model(x, training=False))
    x_adv = tf.stop_gradient(tf.clip_by_value(x + epsilon * (high - low) * tf.sign(tape.gradient(attacked, x)), low, high))
    return alpha * clean + (1.0 - alpha) * loss_fn(y, model(x_adv, training=True))


def accuracy_under_fgsm(model, images, labels, epsilon, value_range=(0.0, 255.0), batch_size=256):
    """(clean accuracy, accuracy on FGSM examples of strength ε)."""
    clean, attacked = [], []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], np.asarray(labels[start : start + batch_size])
        clean.append(np.argmax(np.asarray(model(x, training=False)), -1) == y)
        adversarial = fgsm(model, x, y, epsilon, value_range)
        attacked.append(np.argmax(np.asarray(model(adversarial, training=False)), -1) == y)
    return float(np.concatenate(clean).mean()), float(np.concatenate(attacked).mean())


def sticker_transforms(count, size, sticker, scale=(0.8, 1.2), max_angle=20.0, brightness=(0.8, 1.2), rng=None):
    """Random placements of a `sticker`² patch in a `size`² image: ([count, 8] projective vectors
    output → sticker coordinates, brightness factors [count]) — the expectation over
    transformations (position, scale, rotation, brightness)."""
    rng = rng or np.random.default_rng(0)
    out = []
    factors = rng.uniform(*brightness, size=count).astype("float32")
    for _ in range(count):
        s = rng.uniform(*scale)
        angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
        half = sticker * s / 2.0
        cx, cy = rng.uniform(half, size - half, size=2)
        cos, sin = np.cos(angle) / s, np.sin(angle) / s
        centre = (sticker - 1) / 2.0
        # sticker coordinate = R(−θ)/s·(output − c) + sticker centre
        out.append([cos, sin, centre - cos * cx - sin * cy, -sin, cos, centre + sin * cx - cos * cy, 0.0, 0.0])
    return np.asarray(out, "float32"), factors


def apply_sticker(images, sticker, transforms, factors):
    """(1 − m)·x + m·(brightness · sticker) with the sticker and its mask m warped into place."""
    from keras import ops

    count = ops.shape(transforms)[0]
    size = ops.shape(images)[1]
    sticker_size = ops.shape(sticker)[0]
    padding = [[0, size - sticker_size], [0, size - sticker_size], [0, 0]]
    canvas = ops.pad(ops.concatenate([sticker, ops.ones_like(sticker[..., :1])], axis=-1), padding)
    placed = _affine(ops.repeat(canvas[None], count, axis=0), transforms)
    content, mask = placed[..., :-1], placed[..., -1:]
    return (1.0 - mask) * images + mask * content * ops.reshape(factors, (-1, 1, 1, 1))


def sticker_attack(model, images, labels, sticker_size=10, steps=150, samples=16, learning_rate=0.1, target=None, value_range=(0.0, 255.0), seed=0):
    """One universal sticker (content optimised; placement, scale, rotation and brightness drawn
    at random each step: the expectation over transformations) that lowers the probability of
    the true class (or raises `target`'s). Returns (sticker [s, s, C] in `value_range`, losses)."""
    import keras
    import tensorflow as tf

    images = check_images(model, images)
    labels = np.asarray(labels)
    low, high = value_range
    size, channels = images.shape[1], images.shape[3]
    if not 1 <= sticker_size <= size:
        raise ValueError(f"Expected 1 <= sticker_size <= image size {size}. Received: sticker_size={sticker_size}")
    rng = np.random.default_rng(seed)
    logits = tf.Variable(rng.normal(0, 0.5, (sticker_size, sticker_size, channels)).astype("float32"))
    optimizer = keras.optimizers.Adam(learning_rate)
    crossentropy = keras.losses.SparseCategoricalCrossentropy()
    losses = []
    for _ in range(steps):
        pick = rng.integers(0, len(images), size=samples)
        transforms, factors = sticker_transforms(samples, size, sticker_size, rng=rng)
        with tf.GradientTape() as tape:
            sticker = low + (high - low) * tf.sigmoid(logits)
            attacked = tf.clip_by_value(apply_sticker(images[pick], sticker, transforms, factors), low, high)
            probabilities = model(attacked, training=False)
            if target is None:
                loss = -crossentropy(labels[pick], probabilities)  # push the true class down
            else:
                loss = crossentropy(np.full(samples, int(target)), probabilities)
        optimizer.apply_gradients([(tape.gradient(loss, logits), logits)])
        losses.append(float(loss))
    return np.asarray(low + (high - low) * tf.sigmoid(logits)), np.asarray(losses)


def accuracy_with_sticker(model, images, labels, sticker, placements=4, value_range=(0.0, 255.0), seed=1):
    """Accuracy with `sticker` at `placements` random transformations per image (fresh draws)."""
    rng = np.random.default_rng(seed)
    correct = []
    for _ in range(placements):
        transforms, factors = sticker_transforms(len(images), images.shape[1], sticker.shape[0], rng=rng)
        attacked = np.clip(np.asarray(apply_sticker(images, sticker, transforms, factors)), *value_range)
        correct.append(np.argmax(np.asarray(model(attacked, training=False)), -1) == labels)
    return float(np.mean(correct))


# --- the methods as a table (CLI, endpoints, benchmark) -----------------------------------------

# Per-image attribution methods: fn(model, images, class_index) -> maps [N, H, W].
ATTRIBUTIONS = {
    "cam": lambda model, images, classes: class_activation_map(model, images, classes),
    "grad_cam": lambda model, images, classes: grad_cam(model, images, classes),
    "augmented_grad_cam": lambda model, images, classes: np.stack(
        [augmented_grad_cam(model, image, None if classes is None else int(np.asarray(classes).reshape(-1)[i % np.size(classes)])) for i, image in enumerate(images)]
    ),
    "saliency_map": lambda model, images, classes: saliency_map(model, images, classes),
    "occlusion_sensitivity": lambda model, images, classes: occlusion_sensitivity(model, images, classes, patch=max(2, images.shape[1] // 4), stride=max(1, images.shape[1] // 16))[1],
}
ATTACKS = ("fgsm", "adversarial_sticker")
SYNTHESIS = ("activation_maximization", "deep_dream", "max_activating_patches")
METHODS = tuple(ATTRIBUTIONS) + ATTACKS + SYNTHESIS


def explain(model, images, method, class_index=None):
    """Maps [N, H, W] of attribution `method` for `images` (the predicted class by default)."""
    if method not in ATTRIBUTIONS:
        raise ValueError(f"Unknown attribution method '{method}'. Expected one of {sorted(ATTRIBUTIONS)}")
    check_image_classifier(model)
    return np.asarray(ATTRIBUTIONS[method](model, check_images(model, images), class_index), "float32")


# --- the exported form of a method (inside a Keras graph) ---------------------------------------


def _endpoint_layer_class():
    import keras
    import tensorflow as tf

    class MethodOutput(keras.layers.Layer):
        """The row's method over `classifier` for the predicted class, as one graph op sequence."""

        def __init__(self, classifier, method, layer_name=None, epsilon=0.007, value_range=(0.0, 255.0), **kwargs):
            super().__init__(**kwargs)
            self.classifier, self.method = classifier, method
            self.epsilon, self.value_range = float(epsilon), tuple(value_range)
            if method == "cam":
                conv_name, self.cam_kernel, _ = cam_head(classifier)
                self.features = keras.Model(classifier.input, classifier.get_layer(conv_name).output)
            elif method == "grad_cam":
                self.scorer = _score_model(classifier, layer_name or last_conv_layer(classifier))
            elif method == "saliency_map":
                self.scorer = _score_model(classifier)

        def call(self, images):
            from keras import ops

            # tf.argmax, not ops.argmax: Keras' float argmax adds a Bitcast/BitwiseAnd sign test
            # (negative zero) that neither ONNX nor TFLite builtins have.
            classes = tf.argmax(self.classifier(images, training=False), axis=-1)
            size = ops.shape(images)[1:3]
            if self.method == "cam":
                weights = ops.transpose(ops.take(self.cam_kernel, classes, axis=1))
                maps = ops.einsum("nhwk,nk->nhw", self.features(images, training=False), weights)
                return _upsample(_normalise_maps(ops.relu(maps)), size)
            if self.method == "grad_cam":
                with tf.GradientTape() as tape:
                    activations, scores = self.scorer(images, training=False)
                    picked = _pick(scores, classes)
                return _upsample(_grad_cam_from(activations, tape.gradient(picked, activations)), size)
            if self.method == "saliency_map":
                with tf.GradientTape() as tape:
                    tape.watch(images)
                    picked = _pick(self.scorer(images, training=False), classes)
                return ops.max(ops.abs(tape.gradient(picked, images)), axis=-1)
            if self.method == "fgsm":
                with tf.GradientTape() as tape:
                    tape.watch(images)
                    probabilities = self.classifier(images, training=False)
                    loss = keras.losses.sparse_categorical_crossentropy(classes, probabilities)
                low, high = self.value_range
                step = self.epsilon * (high - low) * ops.sign(tape.gradient(loss, images))
                return ops.clip(images + step, low, high)
            raise ValueError(f"Method '{self.method}' has no graph form.")

    return MethodOutput


# What each method's endpoint returns beside the probabilities.
ENDPOINT_OUTPUTS = {"cam": "heatmap", "grad_cam": "heatmap", "saliency_map": "saliency", "fgsm": "adversarial_image"}


def method_endpoint(model, method, **options):
    """keras.Model: image → {"probabilities", <the method's output>} (see ENDPOINT_OUTPUTS)."""
    import keras

    if method not in ENDPOINT_OUTPUTS:
        return model
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="image")
    output = _endpoint_layer_class()(model, method, name=ENDPOINT_OUTPUTS[method], **options)(inputs)
    return keras.Model(inputs, {"probabilities": model(inputs), ENDPOINT_OUTPUTS[method]: output}, name=f"{model.name}_{method}")


class Explanation(Classification):
    """A classifier (trained as `classification`) whose endpoint adds its row's method output."""

    name = "explanation"
    element = "(image float32 [N, H, W, C] raw pixels, label int32 [N])"
    default_dataset = "shapes10"
    export_outputs = "probabilities [N, K] and the method's map or image (heatmap [N, H, W], saliency [N, H, W], adversarial_image [N, H, W, C])"
    accepts_any_data = True  # the classification data any classifier trains on; checked in model_overrides

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if not dataset.class_names or not isinstance(x_train, np.ndarray) or x_train.ndim != 4:
            raise ValueError(f"An explained classifier trains on labelled images (N, H, W, C). Received: dataset '{dataset.name}' ({dataset.task})")
        value_range = dataset.value_range or (float(x_train.min()), float(x_train.max()))
        return {"value_range": [float(v) for v in value_range]} if "value_range" in accepted else {}

    def export_endpoint(self, model, format=None):
        return method_endpoint(model, getattr(model, "method", ""), **getattr(model, "method_options", {}))

    def score(self, y_true, outputs, class_names=None):
        outputs = outputs if not isinstance(outputs, dict) else {"probabilities": outputs.get("probabilities", next(iter(outputs.values())))}
        return super().score(y_true, outputs, class_names)


# --- localisation (the two-head localiser) ------------------------------------------------------


def box_iou(a, b):
    """IoU of centre-format (x, y, w, h) boxes [N, 4] (normalised), pairwise by row."""
    import keras

    a = keras.utils.bounding_boxes.convert_format(np.asarray(a, "float32"), "center_xywh", "xyxy")
    b = keras.utils.bounding_boxes.convert_format(np.asarray(b, "float32"), "center_xywh", "xyxy")
    a, b = np.asarray(a), np.asarray(b)
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1, y1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda box: (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def localization_loss(y, y_pred, alpha=0.5, conditional_mask=True):
    """L = α·S + (1 − α)·R per batch (mean over examples).

    S: cross-entropy of the class head plus binary cross-entropy of the object score p_c; R: the
    squared L2 distance of the 4 box outputs. With `conditional_mask` (003's variant) an example
    without an object ("present" 0) contributes only (p_c − 0) terms: no class and no box loss.
    """
    import keras
    from keras import ops

    present = ops.cast(ops.reshape(y["present"], (-1,)), "float32")
    mask = present if conditional_mask else ops.ones_like(present)
    classes = keras.losses.sparse_categorical_crossentropy(y["label"], y_pred["probabilities"])
    objectness = keras.losses.binary_crossentropy(ops.reshape(present, (-1, 1)), y_pred["objectness"])
    box = ops.sum(ops.square(ops.cast(y["box"], "float32") - y_pred["box"]), axis=-1)
    s = ops.mean(mask * classes + objectness)
    r = ops.mean(mask * box)
    return alpha * s + (1.0 - alpha) * r


class Localization(Classification):
    """One object per image: class, object score and box; the model computes its own α-weighted
    loss (`localization_loss`) in `compute_loss`."""

    name = "localization"
    element = '(image float32 [N, H, W, C], {"label" int32 [N], "box" float32 [N, 4] centre (x, y, w, h) / size, "present" float32 [N]})'
    default_dataset = "shapes10_localization"
    monitor = ("val_loss", "min")
    objective = ("corloc", "max")
    objectives = (("corloc", "max"), ("mean_iou", "max"), ("accuracy", "max"))
    export_outputs = "probabilities [N, K], box [N, 4] centre (x, y, w, h) / image size, objectness [N, 1]"
    stratify = False
    augmentation = None
    compare_jointly = False

    def stratify_labels(self, y):
        return None

    def build_augmentation(self, config, dataset, seed):
        return None

    def loss(self, model, **_):
        return None

    def metrics(self, model, **_):
        return []

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    def fit_targets(self, model, y, **_):
        return y

    def score(self, y_true, outputs, class_names=None):
        present = np.asarray(y_true["present"]).reshape(-1) > 0.5
        labels = np.asarray(y_true["label"]).reshape(-1)
        predicted = np.argmax(np.asarray(outputs["probabilities"]), -1)
        iou = box_iou(np.asarray(y_true["box"])[present], np.asarray(outputs["box"])[present])
        detected = np.asarray(outputs["objectness"]).reshape(-1) > 0.5
        report = {
            "accuracy": float(np.mean(predicted[present] == labels[present])) if present.any() else float("nan"),
            "mean_iou": float(iou.mean()) if len(iou) else float("nan"),
            # CorLoc: right class and IoU ≥ 0.5 (the localisation accuracy of ILSVRC-style tasks).
            "corloc": float(np.mean((iou >= 0.5) & (predicted[present] == labels[present]))) if len(iou) else float("nan"),
            "objectness_accuracy": float(np.mean(detected == present)),
            "num_examples": len(labels),
        }
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from tasks import plots

        outputs = self.predict(model, take(x, slice(0, 16)))
        plots_localization(plots, take(x, slice(0, 16)), take(y, slice(0, 16)), outputs, run_dir / "localization.png")

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 1.0, size=(n, *model.inputs[0].shape[1:])).astype("float32")
        classes = int(model.outputs[0].shape[-1]) if not isinstance(model.output, dict) else int(model.output["probabilities"].shape[-1])
        centre = rng.uniform(0.3, 0.7, size=(n, 2))
        sizes = rng.uniform(0.2, 0.5, size=(n, 2))
        y = {
            "label": (np.arange(n) % classes).astype("int32"),
            "box": np.concatenate([centre, sizes], axis=1).astype("float32"),
            "present": (np.arange(n) % 4 != 3).astype("float32"),
        }
        return x, y

    def quantized_reference(self, reference_outputs):
        return reference_outputs


def plots_localization(plots, images, y, outputs, path):
    """True (green) and predicted (red) boxes on a grid of images."""
    plt = plots._pyplot()
    n = len(images)
    columns = min(8, n)
    rows = (n + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.6 * rows), squeeze=False)
    size = images.shape[1]
    for axis in axes.ravel():
        axis.axis("off")
    for index in range(n):
        axis = axes.ravel()[index]
        axis.imshow(np.clip(images[index] / max(float(images.max()), 1.0), 0, 1))
        for box, colour in ((y["box"][index], "lime"), (outputs["box"][index], "red")):
            x, yy, w, h = np.asarray(box) * size
            axis.add_patch(plt.Rectangle((x - w / 2, yy - h / 2), w, h, fill=False, edgecolor=colour, linewidth=1.2))
    plots._save(figure, path)


# --- reconstruction from a fixed classifier's features ------------------------------------------


class Reconstruction(Classification):
    """Decoders of a frozen classifier's features: the target is the image itself (pixel MSE)."""

    name = "reconstruction"
    element = "(image float32 [N, H, W, C], image): any labelled or unlabelled image data"
    default_dataset = "shapes10"
    monitor = ("val_loss", "min")
    objective = ("psnr", "max")
    objectives = (("psnr", "max"), ("mse", "min"))
    export_outputs = "the reconstructed image [N, H, W, C] in the input's value range"
    stratify = False
    accepts_any_data = True

    def stratify_labels(self, y):
        return None

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if not isinstance(x_train, np.ndarray) or x_train.ndim != 4:
            raise ValueError(f"A feature decoder trains on images (N, H, W, C). Received: dataset '{dataset.name}' with x of shape {np.shape(x_train)}")
        return {"value_range": [float(x_train.min()), float(x_train.max())]} if "value_range" in accepted else {}

    def build_augmentation(self, config, dataset, seed):
        return None

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        return super().make_dataset(x, x, batch_size, shuffle=shuffle, augment=None, seed=seed)

    def loss(self, model, **_):
        import keras

        return keras.losses.MeanSquaredError()

    def metrics(self, model, **_):
        return []

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, loss=self.loss(model), jit_compile=jit_compile)

    def fit_targets(self, model, y, **_):
        return y

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        return self.score(x, self.predict(model, x))

    def score(self, y_true, outputs, class_names=None):
        reconstruction = np.asarray(outputs["output"] if isinstance(outputs, dict) else outputs, "float64")
        target = np.asarray(y_true, "float64").reshape(reconstruction.shape)
        mse = float(np.mean(np.square(reconstruction - target)))
        peak = max(float(target.max() - target.min()), 1e-12)
        return {"mse": mse, "psnr": float(10 * np.log10(peak**2 / max(mse, 1e-12))), "num_examples": len(target)}

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from tasks import plots

        images = x[:8]
        reconstruction = np.asarray(model(images, training=False))
        plt = plots._pyplot()
        figure, axes = plt.subplots(2, len(images), figsize=(1.6 * len(images), 3.4), squeeze=False)
        scale = max(float(images.max()), 1.0)
        for index in range(len(images)):
            for row, picture in enumerate((images[index], reconstruction[index])):
                axes[row, index].imshow(np.clip(picture / scale, 0, 1))
                axes[row, index].axis("off")
        plots._save(figure, run_dir / "reconstructions.png")

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 1.0, size=(n, *model.inputs[0].shape[1:])).astype("float32")
        return x, x

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        return super().fit_example(model, x, x, epochs, learning_rate, jit_compile)

    def quantized_reference(self, reference_outputs):
        return next(iter(reference_outputs.values())) if isinstance(reference_outputs, dict) else reference_outputs


# --- training recipes: adversarial fine-tuning and the localiser's joint vs separate training ---


def adversarial_training(model, x, y, epsilon, alpha=0.5, epochs=3, batch_size=64, learning_rate=1e-3, value_range=(0.0, 255.0), seed=0):
    """Fine-tunes any classifier `model` in place with J̃ = αJ(x) + (1 − α)J(x_adv), x_adv the
    FGSM example of strength ε (a fraction of `value_range`). Returns Keras' history dict."""
    import keras

    if not 0.0 < float(epsilon) <= 1.0:
        raise ValueError(f"epsilon is a fraction of the pixel range and must be in (0, 1]. Received: epsilon={epsilon}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}")

    class AdversarialTrainer(keras.Model):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier

        def call(self, inputs, training=False):
            return self.classifier(inputs, training=training)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            plain = lambda target, predicted: super(AdversarialTrainer, self).compute_loss(x, target, predicted, sample_weight, training)
            if not training:
                return plain(y, y_pred)
            return adversarial_objective(self, plain, x, y, y_pred, float(epsilon), float(alpha), value_range)

    keras.utils.set_random_seed(seed)
    trainer = AdversarialTrainer(model)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return trainer.fit(np.asarray(x, "float32"), np.asarray(y), batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0).history


def fit_localizer(model, x, y, mode="joint", epochs=5, batch_size=64, learning_rate=1e-3, seed=0):
    """Trains a two-head localiser (`TwoHeadLocalizer`) on (x, y).

    mode "joint": both heads and the backbone together with L = α·S + (1 − α)·R (the model's α).
    mode "separate" (the notes' first recipe): the classification network first (α = 1: the box
    head gets no gradient), then the box head alone on the frozen features (α = 0).
    `epochs` may be a pair (classification stage, box stage) for "separate".
    Returns {stage: history dict}. The model's α and trainable flags are restored afterwards.
    """
    import keras

    if mode not in ("joint", "separate"):
        raise ValueError(f"mode must be 'joint' or 'separate'. Received: mode={mode!r}")
    keras.utils.set_random_seed(seed)

    first, second = (epochs, epochs) if np.isscalar(epochs) else epochs

    def fit(alpha, trainable, epochs):
        saved_alpha, saved = model.alpha, {layer.name: layer.trainable for layer in model.layers}
        model.alpha = alpha
        for layer in model.layers:
            layer.trainable = trainable(layer)
        try:
            model.compile(optimizer=keras.optimizers.Adam(learning_rate))
            return model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0).history
        finally:
            model.alpha = saved_alpha
            for layer in model.layers:
                layer.trainable = saved[layer.name]

    if mode == "joint":
        return {"joint": fit(model.alpha, lambda layer: True, first)}
    return {
        "classification": fit(1.0, lambda layer: True, first),
        "box": fit(0.0, lambda layer: layer.name == "box_head", second),
    }


# --- pictures -----------------------------------------------------------------------------------


def overlay_grid(images, maps, path, titles=None, boxes=None, value_range=(0.0, 255.0), columns=8):
    """PNG grid: each image with its heat map over it (jet, alpha 0.5), an optional box (x_min,
    y_min, x_max, y_max pixels, lime) and title. `maps` None shows the images alone."""
    from tasks import plots

    plt = plots._pyplot()
    n = len(images)
    columns = max(1, min(columns, n))
    rows = (n + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.0 * rows), squeeze=False)
    low, high = value_range
    for axis in axes.ravel():
        axis.axis("off")
    for index in range(n):
        axis = axes.ravel()[index]
        picture = np.clip((np.asarray(images[index], "float32") - low) / max(high - low, 1e-12), 0, 1)
        axis.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray" if picture.shape[-1] == 1 else None)
        if maps is not None:
            axis.imshow(np.asarray(maps[index]), cmap="jet", alpha=0.5, extent=(-0.5, picture.shape[1] - 0.5, picture.shape[0] - 0.5, -0.5))
        if boxes is not None:
            x0, y0, x1, y1 = np.asarray(boxes[index], "float64")
            axis.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="lime", linewidth=1.2))
        if titles is not None:
            axis.set_title(str(titles[index]), fontsize=7)
    plots._save(figure, path)
    return path
