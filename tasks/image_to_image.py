"""Image-to-image models (task kind "image_to_image"): translation, super-resolution, style transfer
and the intrinsic/graphics decompositions, with their losses and metrics.

Element structure (batched):
    (inputs: images float32 [N, H, W, C] in 0..255, or a dict of named arrays;
     targets: images float32 [N, H', W', C'] in 0..255, or a dict of named arrays)
A model is a functional Keras model with named inputs and a dict of named outputs ("generated" for a
translated / super-resolved / stylised image; SfSNet's "normals", "albedo", "lighting", "shading",
"reconstruction"); its own `train_step` computes its loss (adversarial, L1, perceptual, Gram style)
and reports it as "loss" (plus its parts). It carries `target_keys` (the outputs its targets
supervise), `paired` (False for CycleGAN: its targets are unpaired images of the other domain) and
`value_range`. The export endpoint is the model itself (the generator alone: discriminators and the
loss network are attributes used by `train_step` only).

Math owned here (each once, used by the models, the datasets and the tests):
    Gram matrix G = FᵀF over the (H·W) × C reshaped activations; Gatys' layer loss
        E_l = 1/(4 N_l² M_l²) Σ (G − A)²; total variation; the SH Lambertian shading
        (Ramamoorthi & Hanrahan 2001: 9 real SH basis functions, attenuation π, 2π/3, π/4) in numpy
        and in keras.ops; angular error of normal maps; WHDR (Bell et al. 2014) of pairwise
        reflectance judgements; PSNR and SSIM from tf.image.
"""

import math

import numpy as np

from tasks.base import Task, as_structure, length

# Real SH basis constants (band 0, 1, 2) and the Lambertian kernel's attenuation per band.
SH_CONSTANTS = (0.282095, 0.488603, 1.092548, 0.315392, 0.546274)
SH_ATTENUATION = (math.pi, 2.0 * math.pi / 3.0, 2.0 * math.pi / 3.0, 2.0 * math.pi / 3.0) + (math.pi / 4.0,) * 5
RELATIONS = ("equal", "darker", "lighter")  # of point 1 relative to point 2 (IIW's E, 1, 2 judgements)
WHDR_DELTA = 0.10  # IIW's relative-reflectance threshold


# --- spherical-harmonics shading -------------------------------------------------------------------


def sh_basis_numpy(normals):
    """The 9 real SH basis values times the Lambertian attenuation at unit `normals` [..., 3] -> [..., 9]."""
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    basis = np.stack(
        [np.full_like(x, c0), c1 * y, c1 * z, c1 * x, c2 * x * y, c2 * y * z, c3 * (3.0 * z * z - 1.0), c2 * x * z, c4 * (x * x - y * y)],
        axis=-1,
    )
    return basis * np.asarray(SH_ATTENUATION, basis.dtype)


def sh_shading_numpy(normals, lighting):
    """Lambertian shading [N, H, W, 3] of normals [N, H, W, 3] under SH lighting [N, 27] (9 per colour)."""
    coefficients = np.asarray(lighting).reshape(len(lighting), 3, 9)
    return np.einsum("nhwk,nck->nhwc", sh_basis_numpy(np.asarray(normals)), coefficients)


def sh_shading(normals, lighting):
    """keras.ops version of `sh_shading_numpy` (differentiable in normals and lighting)."""
    from keras import ops

    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    basis = ops.stack(
        [ops.ones_like(x) * c0, c1 * y, c1 * z, c1 * x, c2 * x * y, c2 * y * z, c3 * (3.0 * z * z - 1.0), c2 * x * z, c4 * (x * x - y * y)],
        axis=-1,
    ) * ops.convert_to_tensor(np.asarray(SH_ATTENUATION, "float32"))
    coefficients = ops.reshape(lighting, (-1, 1, 1, 3, 9))
    return ops.sum(basis[..., None, :] * coefficients, axis=-1)


# --- style and perceptual losses -------------------------------------------------------------------


def gram_matrix(features):
    """G = FᵀF [N, C, C] of activations [N, H, W, C] reshaped to (H·W) × C (Gatys et al., eq. 3)."""
    from keras import ops

    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[-1]))
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat)


def style_layer_loss(generated, style):
    """Gatys' E_l = 1/(4 N_l² M_l²) Σ (G^l − A^l)², N_l channels, M_l = H·W, averaged over the batch."""
    from keras import ops

    channels = generated.shape[-1]
    positions = generated.shape[1] * generated.shape[2]
    difference = gram_matrix(generated) - gram_matrix(style)
    return ops.mean(ops.sum(ops.square(difference), axis=(1, 2))) / (4.0 * channels**2 * positions**2)


def content_loss(generated, content):
    """½ Σ (F − P)² at one layer (Gatys et al., eq. 1), averaged over the batch."""
    from keras import ops

    return 0.5 * ops.mean(ops.sum(ops.reshape(ops.square(generated - content), (ops.shape(generated)[0], -1)), axis=-1))


def feature_mse(generated, target):
    """Johnson's feature reconstruction loss: ‖φ(ŷ) − φ(y)‖²₂ / (C·H·W) (also SRGAN's VGG content loss)."""
    from keras import ops

    return ops.mean(ops.square(generated - target))


def total_variation(images):
    """Σ of absolute neighbour differences per image, averaged over the batch (Johnson et al.'s regulariser)."""
    from keras import ops

    dy = ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    dx = ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    return ops.mean(ops.sum(ops.reshape(dy, (ops.shape(images)[0], -1)), -1) + ops.sum(ops.reshape(dx, (ops.shape(images)[0], -1)), -1))


# --- metrics -------------------------------------------------------------------------------------


def psnr_ssim(target, output, max_value=255.0):
    """(mean PSNR dB, mean SSIM) of image batches in 0..max_value (tf.image.psnr / tf.image.ssim)."""
    import tensorflow as tf

    target = tf.convert_to_tensor(np.asarray(target, "float32"))
    output = tf.clip_by_value(tf.convert_to_tensor(np.asarray(output, "float32")), 0.0, max_value)
    psnr = float(tf.reduce_mean(tf.image.psnr(target, output, max_val=max_value)))
    size = min(int(target.shape[1]), int(target.shape[2]))
    ssim = float(tf.reduce_mean(tf.image.ssim(target, output, max_val=max_value, filter_size=min(11, size))))
    return psnr, ssim


def angular_error_degrees(predicted, target, mask=None):
    """Mean angle (degrees) between predicted and true normals [N, H, W, 3] (where `mask` > 0)."""
    predicted = np.asarray(predicted, np.float64)
    target = np.asarray(target, np.float64)
    predicted = predicted / np.maximum(np.linalg.norm(predicted, axis=-1, keepdims=True), 1e-8)
    target = target / np.maximum(np.linalg.norm(target, axis=-1, keepdims=True), 1e-8)
    angles = np.degrees(np.arccos(np.clip(np.sum(predicted * target, axis=-1), -1.0, 1.0)))
    if mask is None:
        mask = np.linalg.norm(target, axis=-1) > 0.5
    mask = np.asarray(mask, bool).reshape(angles.shape)
    return float(angles[mask].mean()) if mask.any() else float("nan")


def relative_reflectance(reflectance_1, reflectance_2, delta=WHDR_DELTA):
    """IIW's judgement of point 1 vs point 2: 0 equal (ratio within 1 + δ), 1 darker, 2 lighter."""
    r1, r2 = np.asarray(reflectance_1, np.float64), np.asarray(reflectance_2, np.float64)
    ratio = (r1 + 1e-6) / (r2 + 1e-6)
    return np.where(ratio > 1.0 + delta, 2, np.where(ratio < 1.0 / (1.0 + delta), 1, 0)).astype("int32")


def whdr(predicted, target, weights=None):
    """Weighted human disagreement rate (Bell et al. 2014): Σ w_i·[pred_i ≠ true_i] / Σ w_i."""
    predicted, target = np.asarray(predicted).reshape(-1), np.asarray(target).reshape(-1)
    if predicted.shape != target.shape:
        raise ValueError(f"WHDR needs one prediction per judgement. Received: {predicted.shape} and {target.shape}")
    weights = np.ones(len(target)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    return float(np.sum(weights * (predicted != target)) / max(np.sum(weights), 1e-12))


# --- the task ------------------------------------------------------------------------------------


def primary_output(outputs):
    """The output a plain target array is compared with: "generated", else "reconstruction"."""
    return "generated" if "generated" in outputs else ("reconstruction" if "reconstruction" in outputs else next(iter(outputs)))


def _is_image(array):
    return np.ndim(array) == 4 and np.shape(array)[-1] in (1, 3)


class ImageToImage(Task):
    name = "image_to_image"
    element = "(images float32 [N, H, W, C] 0..255 or a dict of named arrays, target images or a dict of named arrays)"
    default_dataset = "edges2shapes"
    monitor = ("val_loss", "min")
    objective = ("psnr", "max")
    objectives = (("psnr", "max"), ("l1", "min"))
    train_check = "loss_falls"
    # A quantised artifact may lose up to 5 % of the Keras model's PSNR (about 1 dB at 25 dB).
    quantized_tolerance = 0.05
    export_outputs = "the generator's named outputs (\"images\", or SfSNet's normals/albedo/lighting/shading/reconstruction)"

    def compile(self, model, optimizer, jit_compile=False, **options):
        """The model's own train_step computes its loss; only the optimiser is passed."""
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
        return model.fit(x, y, batch_size=length(x), epochs=epochs, shuffle=False, verbose=0).history

    # --- evaluation ---------------------------------------------------------------------------

    def score(self, y_true, outputs, class_names=None, paired=True, inputs=None):
        """L1 (pixel units), PSNR and SSIM of every image output against its target; the primary
        ("generated", else "reconstruction") without a prefix; angular error for "normals"; MSE for
        vector outputs ("lighting"). Unpaired targets (CycleGAN) are not compared pixel by pixel:
        the report gives the cycle error |F(G(x)) − x| instead."""
        outputs = as_structure(outputs)
        targets = dict(y_true) if isinstance(y_true, dict) else {primary_output(outputs): np.asarray(y_true)}
        report = {"num_examples": int(length(y_true))}
        if not paired:
            targets = {}
            if inputs is not None and "reconstruction" in outputs:
                report["cycle_l1"] = float(np.mean(np.abs(outputs["reconstruction"] - np.asarray(inputs, "float32"))))
                report["l1"] = report["cycle_l1"]
                report["psnr"], report["ssim"] = psnr_ssim(np.asarray(inputs), outputs["reconstruction"])
        primary = primary_output(outputs)
        for key, target in targets.items():
            if key not in outputs:
                continue
            target, output = np.asarray(target, "float32"), np.asarray(outputs[key], "float32")
            prefix = "" if key == primary else f"{key}_"
            if key == "normals":
                report["normals_angular_error"] = angular_error_degrees(output, target)
            elif _is_image(target) and target.shape == output.shape:
                report[f"{prefix}l1"] = float(np.mean(np.abs(output - target)))
                report[f"{prefix}psnr"], report[f"{prefix}ssim"] = psnr_ssim(target, output, 255.0 if target.max() > 1.5 else 1.0)
            else:
                report[f"{prefix}mse"] = float(np.mean(np.square(output - target)))
        return report

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """`score` on the held-out pairs, plus the bicubic baseline of a super-resolution model
        (its input up-sampled with tf.image.resize, bicubic) and the identity baseline of a
        same-size translation (the input itself as the prediction)."""
        import tensorflow as tf

        outputs = self.predict(model, x)
        paired = bool(getattr(model, "paired", True))
        report = self.score(y, outputs, paired=paired, inputs=x if not isinstance(x, dict) else None)
        if paired and not isinstance(x, dict) and not isinstance(y, dict) and "generated" in outputs:
            x_array, y_array = np.asarray(x, "float32"), np.asarray(y, "float32")
            if x_array.shape[1:3] != y_array.shape[1:3]:
                baseline = tf.image.resize(x_array, y_array.shape[1:3], method="bicubic").numpy()
                report["psnr_bicubic"], report["ssim_bicubic"] = psnr_ssim(y_array, baseline)
            elif x_array.shape == y_array.shape:
                report["l1_identity"] = float(np.mean(np.abs(x_array - y_array)))
        terms = getattr(model, "evaluation_terms", None)
        if terms is not None:  # the style-transfer models' content and style losses
            report.update(terms(x, y))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """translations.png: inputs, outputs and targets of 8 held-out examples (image data)."""
        from pathlib import Path

        from tasks.generative import save_image_grid

        outputs = self.predict(model, x if not isinstance(x, dict) else {k: v[:8] for k, v in x.items()})
        key = primary_output(outputs)
        rows = [np.asarray(outputs[key][:8], "float32")]
        if not isinstance(x, dict) and _is_image(x):
            rows.insert(0, np.asarray(x[:8], "float32"))
        target = y.get(key) if isinstance(y, dict) else y
        if target is not None and _is_image(target):
            rows.append(np.asarray(target[:8], "float32"))
        size = rows[-1].shape[1:3]
        import tensorflow as tf

        rows = [tf.image.resize(r, size, method="nearest").numpy() if r.shape[1:3] != size else r for r in rows]
        rows = [np.repeat(r, 3, axis=-1) if r.shape[-1] == 1 else r for r in rows if r.shape[-1] in (1, 3)]
        if rows and _is_image(rows[0]):
            low, high = (0.0, 1.0) if max(float(np.max(r)) for r in rows) <= 1.5 else (0.0, 255.0)
            save_image_grid(np.concatenate(rows), Path(run_dir) / "translations.png", columns=len(rows[0]), value_range=(low, high))

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """Random inputs in 0..255 (unit vectors for "normals", small values for "lighting") by the
        model's input specs; targets of the shapes of the outputs in `model.target_keys` (an
        array when there is one target)."""
        from keras import tree

        rng = np.random.default_rng(seed)
        x = {}
        for tensor in model.inputs:
            name = tensor.name.split(":")[0]
            x[name] = _random_array(name, (n, *[int(d) for d in tensor.shape[1:]]), rng)
        if hasattr(model, "example_targets"):  # targets that are not outputs (motion style transfer's style ids)
            return x, model.example_targets(x, rng)
        outputs = model(x if len(x) > 1 else next(iter(x.values())), training=False)
        targets = {key: _random_array(key, tuple(tree.map_structure(lambda t: t, outputs[key]).shape), rng) for key in model.target_keys}
        x = x if len(x) > 1 else next(iter(x.values()))
        if len(targets) == 1:
            return x, next(iter(targets.values()))
        return x, targets

    def export_endpoint(self, model, format=None):
        return model

    def compare_outputs(self, name, reference, actual, atol, rtol):
        """Element-wise, in units of the output's range: pixels 0..255 are divided by their
        largest magnitude, so a format's tolerance means the same for images and unit normals."""
        reference = np.asarray(reference)
        if actual is None or reference.dtype.kind != "f":
            return Task.compare_outputs(self, name, reference, actual, atol, rtol)
        scale = max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
        return Task.compare_outputs(self, name, reference / scale, np.asarray(actual) / scale, atol, rtol)


def _random_array(name, shape, rng):
    if name == "normals":
        values = rng.normal(size=shape)
        values[..., 2] = np.abs(values[..., 2]) + 0.5
        return (values / np.linalg.norm(values, axis=-1, keepdims=True)).astype("float32")
    if name == "lighting":
        return rng.normal(0.0, 0.2, size=shape).astype("float32")
    if name in ("albedo", "shading"):
        return rng.uniform(0.1, 0.9, size=shape).astype("float32")
    return rng.uniform(0.0, 255.0, size=shape).astype("float32")
