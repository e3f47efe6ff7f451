"""Autoencoding (task kind "autoencoder", family G): the task and the autoencoder losses.

Element structure (batched):
    (images float32 [N, H, W, C] (or vectors [N, d]) raw values in the data's range, labels or none)
    The labels are ignored: the target of an autoencoder is its own (clean) input.

A reconstruction model is a functional Keras model with one input (`keras.Input(name="images")`)
and a dict of two outputs: "reconstruction" (same shape and range as the input) and "code" (the
encoder's output, float32 [N, k]). It carries `value_range` (low, high) of the data and its own
`train_step`, which computes the loss below on the input mapped to [0, 1] (corrupting the input
first for a denoising autoencoder, adding a sparsity penalty for a sparse one). The export endpoint
is the model itself: image -> {reconstruction, code}, i.e. the autoencoder and the encoder in one.

Losses (spec §4.2 "Autoencoder losses", §9; standard forms), x and x̂ in [0, 1]:
    "bce"       mean over pixels of −[x log x̂ + (1 − x) log(1 − x̂)]   (from logits)
    "mse"       mean over pixels of (x − x̂)²
    "bce_sum"   Σ over pixels of the BCE: the Bernoulli negative log-likelihood (VAE, ELBO in nats)
    "half_sse"  ½ Σ over pixels (x − x̂)² (Ng's sparse-autoencoder notes)
each averaged over the batch. Sparsity (Ng 2011): β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the batch-mean activation
of code unit j, KL(ρ‖ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)); or λ mean_n ‖z_n‖₁.
VAE (Kingma & Welling 2014): KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²), and
z = μ + σ ⊙ ε, ε ~ N(0, I) (the reparameterisation: gradients reach μ and σ through z).
Corruption (Vincent et al. 2008), at training only: "masking" zeroes a fraction ν of the inputs,
"gaussian" adds N(0, σ²) noise.
"""

from pathlib import Path

import numpy as np

from tasks.base import Task, as_structure, length, take  # noqa: F401

RECONSTRUCTION_LOSSES = ("bce", "mse", "bce_sum", "half_sse")
SPARSITY_FORMS = (None, "kl", "l1")
CORRUPTIONS = (None, "masking", "gaussian")


# --- losses ----------------------------------------------------------------------------------------


def _per_example(values):
    from keras import ops

    return ops.reshape(values, (ops.shape(values)[0], -1))


def reconstruction_loss(target, logits, output, form):
    """The batch-mean reconstruction loss of `form` (see the module docstring).

    target: inputs in [0, 1]; logits: the decoder's pre-activation (used by the BCE forms, stable);
    output: the decoder's output after its activation (used by the squared-error forms)."""
    from keras import ops

    if form not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTION_LOSSES}. Received: reconstruction={form!r}")
    target = _per_example(target)
    if form in ("bce", "bce_sum"):
        logits = _per_example(logits)
        # −[x log σ(l) + (1 − x) log(1 − σ(l))] = softplus(l) − x·l
        per_pixel = ops.softplus(logits) - target * logits
    else:
        per_pixel = ops.square(target - _per_example(output))
    if form in ("bce", "mse"):
        return ops.mean(per_pixel)
    per_example = ops.sum(per_pixel, axis=-1)
    return ops.mean(per_example * (0.5 if form == "half_sse" else 1.0))


def sparsity_kl(code, target):
    """Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch-mean of sigmoid code unit j (Ng 2011, §2.3)."""
    from keras import ops

    rho_hat = ops.clip(ops.mean(code, axis=0), 1e-6, 1.0 - 1e-6)
    rho = target
    return ops.sum(rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat)))


def sparsity_penalty(code, form, target, weight):
    """β·Σ_j KL(ρ‖ρ̂_j) ("kl") or λ·mean_n ‖z_n‖₁ ("l1"); 0 without a form."""
    from keras import ops

    if form is None:
        return 0.0
    if form == "kl":
        return weight * sparsity_kl(code, target)
    if form == "l1":
        return weight * ops.mean(ops.sum(ops.abs(code), axis=-1))
    raise ValueError(f"sparsity must be one of {SPARSITY_FORMS}. Received: sparsity={form!r}")


def gaussian_kl(mean, log_variance):
    """Per-example KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ_j (1 + log σ² − μ² − σ²), shape [N]."""
    from keras import ops

    return -0.5 * ops.sum(1.0 + log_variance - ops.square(mean) - ops.exp(log_variance), axis=-1)


def reparameterize(mean, log_variance, seed):
    """z = μ + σ ⊙ ε with ε ~ N(0, I) drawn from `seed` (a keras.random.SeedGenerator)."""
    import keras
    from keras import ops

    epsilon = keras.random.normal(ops.shape(mean), seed=seed, dtype=mean.dtype)
    return mean + ops.exp(0.5 * log_variance) * epsilon


def corrupt(x, kind, level, seed):
    """x̃ from x in [0, 1]: "masking" zeroes each value with probability `level` (ν), "gaussian"
    adds N(0, level²) noise; None returns x. Called by train_step only (never at inference)."""
    import keras
    from keras import ops

    if kind is None or level == 0:
        return x
    if kind == "masking":
        keep = ops.cast(keras.random.uniform(ops.shape(x), seed=seed, dtype=x.dtype) >= level, x.dtype)
        return x * keep
    if kind == "gaussian":
        return x + level * keras.random.normal(ops.shape(x), seed=seed, dtype=x.dtype)
    raise ValueError(f"corruption must be one of {CORRUPTIONS}. Received: corruption={kind!r}")


# --- pictures --------------------------------------------------------------------------------------


def save_reconstructions(images, reconstructions, path, value_range=(0.0, 255.0), columns=8, title=""):
    """Held-out images beside their reconstructions, one PNG (the run's `reconstructions.png`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path
    from tasks.generative import image_mosaic

    figure, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    for axis, pictures, name in zip(axes, (images, reconstructions), ("held-out images", "reconstructions")):
        mosaic = image_mosaic(pictures, columns, value_range)
        axis.imshow(mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic[..., :3], cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(name)
        axis.axis("off")
    if title:
        figure.suptitle(title)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


# --- the task --------------------------------------------------------------------------------------


class Autoencoding(Task):
    name = "autoencoder"
    element = "(images float32 [N, H, W, C] or vectors [N, d] in the data's range, labels or none: ignored)"
    default_dataset = "digits"
    monitor = ("val_loss", "min")
    objective = ("mse", "min")
    objectives = (("mse", "min"), ("psnr", "max"))
    train_check = "loss_falls"
    export_outputs = "reconstruction (the input's shape and range) and code float32 [N, k]: the autoencoder and its encoder"
    stratify = True  # class-balanced splits where labels exist
    accepts_any_data = True  # any dataset's x will do; its labels are not used

    def stratify_labels(self, y):
        if y is None:
            return None
        y = np.asarray(y)
        return y if y.ndim == 1 and y.dtype.kind in "iu" else None

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        """Batches of `(x, x)`: the target is the input (labels are dropped)."""
        import tensorflow as tf

        x = np.asarray(x, dtype="float32")
        dataset = tf.data.Dataset.from_tensor_slices((x, x)).cache()
        if shuffle:
            dataset = dataset.shuffle(min(len(x), 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augment is not None:
            dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        value_range = getattr(dataset, "value_range", None)
        if "value_range" in accepted:
            if value_range is None:  # not image data: the training split's own range
                value_range = (float(np.min(x_train)), float(np.max(x_train)))
            return {"value_range": [float(v) for v in value_range]}
        return {}

    def fit_targets(self, model, y, **options):
        return y  # make_dataset pairs x with itself; train_step reads only x

    def compile(self, model, optimizer, jit_compile=False, **options):
        """The model's own train_step computes its loss; only the optimiser is passed."""
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    # --- evaluation ---------------------------------------------------------------------------

    def score(self, y_true, outputs, class_names=None, data_range=None):
        """Reconstruction error of `outputs["reconstruction"]` against the inputs `y_true`:
        mse (raw units), psnr (dB, skimage, over `data_range`, default the inputs' span) and the
        fraction of variance unexplained (mse / variance of the inputs: 0 perfect, 1 = the mean)."""
        from skimage.metrics import peak_signal_noise_ratio

        target = np.asarray(y_true, dtype=np.float64)
        output = outputs["reconstruction"] if isinstance(outputs, dict) else outputs
        output = np.asarray(output, dtype=np.float64).reshape(target.shape)
        mse = float(np.mean(np.square(output - target)))
        data_range = float(data_range if data_range is not None else np.ptp(target)) or 1.0
        variance = float(np.var(target))
        return {
            "mse": mse,
            "psnr": float(peak_signal_noise_ratio(target, output, data_range=data_range)) if mse > 0 else float("inf"),
            "unexplained_variance": mse / variance if variance > 0 else float("nan"),
            "num_examples": int(len(target)),
        }

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """Hold-out reconstruction report of `model` on the images `x` (labels ignored), with the
        trivial baseline: every image reconstructed as the mean training image (`x_reference`)."""
        x = np.asarray(x, dtype="float32")
        low, high = _value_range(model)
        report = self.score(x, self.predict(model, x), data_range=high - low)
        reference = np.asarray(x_reference if x_reference is not None else x, dtype="float32")
        baseline = np.broadcast_to(reference.mean(axis=0, keepdims=True), x.shape)
        report["mse_mean_image"] = float(np.mean(np.square(baseline - x)))
        report["code_size"] = int(np.prod(self.export_endpoint(model).output["code"].shape[1:]))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """reconstructions.png: 32 held-out images beside their reconstructions (image data only)."""
        x = np.asarray(x, dtype="float32")[:32]
        if x.ndim != 4:
            return
        outputs = self.predict(model, x)
        title = f"hold-out MSE {report['mse']:.4g}, PSNR {report['psnr']:.2f} dB" if "psnr" in report else ""
        save_reconstructions(x, outputs["reconstruction"], Path(run_dir) / "reconstructions.png", _value_range(model), title=title)

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """(images, images): random bright values on a dark background (a quarter of the pixels
        lit, like the embedded digits) in the model's value range; the target is the input. Uniform
        noise would leave a fresh decoder's output (½ everywhere) already at its optimum."""
        rng = np.random.default_rng(seed)
        low, high = _value_range(model)
        shape = (n, *model.inputs[0].shape[1:])
        lit = rng.uniform(size=shape) < 0.25
        x = np.where(lit, rng.uniform(low + 0.5 * (high - low), high, size=shape), low).astype("float32")
        return x, x

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """The model itself: {"images"} -> {"reconstruction", "code"}."""
        return model

    def export_samples(self, endpoint, x, y):
        """(images, images): an artifact's reconstructions are scored against the inputs."""
        x = np.asarray(x, dtype="float32")
        return x, x

    def quantized_reference(self, reference_outputs):
        return np.asarray(reference_outputs["reconstruction"])


def _value_range(model):
    return tuple(float(v) for v in getattr(model, "value_range", (0.0, 255.0)))
