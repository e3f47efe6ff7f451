"""Denoising diffusion (DDPM, family G): ε-prediction training, ancestral sampling, one-step export.

Element structure (as the generative task's): (samples float32 [N, *shape] (images 0..255 or 2-D
points), labels int32 [N] or none; labels are ignored). A model of this task (see
`architectures/generative/diffusion.py`) trains with its own `train_step` on L_simple, exposes
`sample(n, seed)` (the T-step ancestral loop, in the data's space), `diffusion_loss(samples,
timesteps=, noise=)`, `to_model_space`, `alpha_bars` and `timesteps`; its functional graph is one
denoising step {"x_t", "timestep", "z"} -> {"epsilon", "x_prev"}, the exported endpoint.

Sample quality: the generative task's Fréchet distance (the project's digits-CNN features for
images, the points themselves for vector data) and, for labelled mixtures (ring8), mode coverage.
"""

from pathlib import Path

import numpy as np

from tasks.base import CheckOutcome
from tasks.generative import (
    Generative,
    feature_network,
    frechet_distance,
    is_point_data,
    labelled_modes,
    mode_coverage,
    sample_features,
    save_comparison,
    save_point_scatter,
    save_samples_picture,
)


def split_conditioning(x):
    """(samples, conditioning inputs or None) of a dataset's x: an array of samples, or a dict
    {"samples": ..., **conditioning} for a conditional model (e.g. dalle2_unclip's caption_ids)."""
    if isinstance(x, dict):
        return x["samples"], {key: value for key, value in x.items() if key != "samples"}
    return x, None


def _take_conditioning(conditioning, n):
    return None if conditioning is None else {key: np.asarray(value)[:n] for key, value in conditioning.items()}


def step_inputs(model, samples, seed=0, conditioning=None):
    """One denoising step's inputs for raw `samples`: x_t from q(x_t | x_0) at random t, fresh z
    (+ the conditioning inputs given, or random ones for a conditional model)."""
    rng = np.random.default_rng(seed)
    x0 = np.asarray(model.to_model_space(np.asarray(samples, np.float32)), np.float32)
    t = rng.integers(0, model.timesteps, size=len(x0)).astype(np.int32)
    noise = rng.standard_normal(x0.shape).astype(np.float32)
    a = model.alpha_bars[t].reshape((-1,) + (1,) * (x0.ndim - 1))
    inputs = {
        "x_t": (np.sqrt(a) * x0 + np.sqrt(1.0 - a) * noise).astype(np.float32),
        "timestep": t,
        "z": rng.standard_normal(x0.shape).astype(np.float32),
    }
    if conditioning is not None:
        inputs.update({key: np.asarray(value) for key, value in conditioning.items()})
    elif hasattr(model, "random_conditioning"):
        inputs.update(model.random_conditioning(len(x0), rng))
    elif getattr(model, "condition_dim", 0):
        inputs["condition"] = rng.standard_normal((len(x0), model.condition_dim)).astype(np.float32)
    return inputs


class Diffusion(Generative):
    name = "diffusion"
    element = "(samples float32 [N, *shape]: images 0..255 or points; labels int32 [N] or none, ignored)"
    default_dataset = "ring8"
    monitor = ("val_loss", "min")
    objective = ("frechet_distance", "min")
    train_check = "loss_falls"
    export_outputs = "one denoising step: epsilon and x_prev float32 [N, *shape] from x_t, timestep int32 [N], z"
    data_tasks = ("generative",)
    sample_count = 1000  # samples drawn for the hold-out report

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """The data's sample shape, and its pixel range for images (points stay as they are)."""
        shape = [int(d) for d in np.asarray(split_conditioning(x_train)[0]).shape[1:]]
        overrides = {"data_shape": shape}
        if len(shape) == 3 and getattr(dataset, "value_range", None) is not None:
            overrides["value_range"] = [float(v) for v in dataset.value_range]
        elif len(shape) == 1:
            overrides["value_range"] = None
        return {key: value for key, value in overrides.items() if key in accepted}

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        """The generative task's batches; a conditional dataset's dict x keeps its conditioning inputs."""
        if isinstance(x, dict):
            samples, conditioning = split_conditioning(x)
            x = {"samples": np.asarray(samples, dtype="float32"), **conditioning}
            import tensorflow as tf

            dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).cache()
            if shuffle:
                dataset = dataset.shuffle(min(len(samples), 10_000), seed=seed, reshuffle_each_iteration=True)
            dataset = dataset.batch(batch_size)
            if augment is not None:
                dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
            return dataset.prefetch(tf.data.AUTOTUNE)
        return super().make_dataset(x, y, batch_size, shuffle=shuffle, augment=augment, seed=seed)

    def callbacks(self, run_dir, model, x_val=None, y_val=None):
        return []  # sampling takes T network calls: samples are drawn once, after training

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    # --- evaluation ---------------------------------------------------------------------------

    def evaluate(self, model, x, y, class_names=None, x_reference=None, seed=0):
        """Fréchet distance of `sample_count` ancestral samples (and of the untrained network's,
        and real vs real) to the held-out samples; mode coverage for labelled point mixtures."""
        real, conditioning = split_conditioning(x)
        real = np.asarray(real, dtype="float32")
        points = is_point_data(real)
        network = None if points else feature_network(real.shape[1:])
        real_features = sample_features(real, network)
        n = max(len(real), 2) if not points else self.sample_count
        conditional = {} if conditioning is None else {"condition": _take_conditioning(conditioning, n)}
        generated = model.sample(n, seed, **conditional)
        m = min(n, 256)
        conditional_m = {} if conditioning is None else {"condition": _take_conditioning(conditioning, m)}
        untrained = type(model).from_config(model.get_config()).sample(m, seed, **conditional_m)
        half = len(real) // 2
        report = {
            "frechet_distance": frechet_distance(real_features, sample_features(generated, network)),
            "frechet_distance_untrained": frechet_distance(real_features, sample_features(untrained, network)),
            "frechet_distance_real": frechet_distance(real_features[:half], real_features[half:]),
            "held_out_loss": self.fixed_loss(model, real, conditioning=conditioning),
            "num_examples": len(real),
            "num_generated": int(n),
            "sampler": f"ancestral, T = {model.timesteps}",
        }
        if points and y is not None and np.asarray(y).dtype.kind in "iu":
            centres, scale = labelled_modes(real, y)
            report.update(mode_coverage(generated, centres, scale))
            report.update(mmd_rbf(real, generated[: len(real)]))
        return report

    def score(self, y_true, outputs, class_names=None):
        """A denoising step's outputs carry no sample quality (that needs the T-step loop, see
        `evaluate`): quantised exports are checked on their relative error against Keras'."""
        raise NotImplementedError("a single denoising step has no sample-quality score; evaluate() runs the sampler")

    def fixed_loss(self, model, samples, seed=0, conditioning=None):
        """L_simple on `samples` at fixed (t, ε) drawn from `seed`: comparable before and after training
        (`samples` may be a conditional dataset's dict x)."""
        rng = np.random.default_rng(seed)
        if isinstance(samples, dict):
            samples, conditioning = split_conditioning(samples)
        samples = np.asarray(samples, np.float32)
        t = rng.integers(0, model.timesteps, size=len(samples)).astype(np.int32)
        noise = rng.standard_normal(samples.shape).astype(np.float32)
        return float(model.diffusion_loss(samples, conditioning, timesteps=t, noise=noise))

    def plots(self, run_dir, model, x, y, report, class_names=None):
        real, conditioning = split_conditioning(x)
        real = np.asarray(real, dtype="float32")
        title = f"DDPM, Fréchet distance {report.get('frechet_distance', float('nan')):.3g}"
        if is_point_data(real):
            modes = labelled_modes(real, y)[0] if y is not None and np.asarray(y).dtype.kind in "iu" else None
            save_point_scatter(model.sample(2000, 0), Path(run_dir) / "samples.png", real=real, title=title, modes=modes)
            return
        n = min(64, len(real))
        conditional = {} if conditioning is None else {"condition": _take_conditioning(conditioning, n)}
        save_comparison(real[:n], model.sample(n, 0, **conditional), Path(run_dir) / "samples.png", value_range=model.value_range, title=title)

    def save_samples(self, model, path, n=64, seed=0, label=None, class_names=None):
        if label is not None:
            raise ValueError(f"diffusion_ddpm is unconditional: it takes no class. Received: class {label}")
        return save_samples_picture(model.sample(n, seed), path, value_range=model.value_range or (0.0, 255.0))

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """(one step's inputs, samples to train on): random samples in the data's range."""
        rng = np.random.default_rng(seed + 1)
        low, high = model.value_range or (-1.0, 1.0)
        samples = rng.uniform(low, high, size=(n, *model.data_shape)).astype("float32")
        if hasattr(model, "random_conditioning"):  # a conditional model trains on {"samples", **conditioning}
            conditioning = model.random_conditioning(n, rng)
            return step_inputs(model, samples, seed, conditioning), {"samples": samples, **conditioning}
        return step_inputs(model, samples, seed), samples

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
        samples = dict(y) if isinstance(y, dict) else np.asarray(y, dtype="float32")
        return model.fit(samples, batch_size=len(samples), epochs=epochs, shuffle=False, verbose=0).history

    def check_training(self, model, x, y, epochs=8, learning_rate=1e-2, jit_compile=False):
        """"loss_falls" on L_simple measured at fixed (t, ε) before and after `epochs` steps of fit
        (each step draws its own t and ε, so the logged per-step losses are too noisy to compare)."""
        before = self.fixed_loss(model, y)
        history = self.fit_example(model, x, y, epochs, learning_rate, jit_compile=jit_compile)
        after = self.fixed_loss(model, y)
        if not all(np.isfinite(history["loss"])) or not np.isfinite(after):
            return CheckOutcome(False, f"non-finite loss {history['loss']}")
        if after < before:
            return CheckOutcome(True, f"L_simple at fixed (t, ε) {before:.4g} -> {after:.4g} in {epochs} steps")
        return CheckOutcome(False, f"L_simple at fixed (t, ε) did not fall: {before:.4g} -> {after:.4g}")

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        return model  # one denoising step, named inputs, dict outputs

    def export_samples(self, endpoint, x, y):
        """Step inputs: given as a dict (the sweep's batch), or made from held-out samples `x`."""
        if isinstance(x, dict) and "samples" in x:  # a conditional dataset's x
            samples, conditioning = split_conditioning(x)
            return step_inputs(endpoint, samples, 0, conditioning), None
        if isinstance(x, dict):
            names = {t.name.split(":")[0] for t in endpoint.inputs}
            return {k: v for k, v in x.items() if k in names}, None
        return step_inputs(endpoint, x, seed=0), None

    def quantized_reference(self, reference_outputs):
        return reference_outputs


def mmd_rbf(a, b, bandwidths=(0.1, 0.3, 1.0)):
    """Squared maximum mean discrepancy with a sum of Gaussian kernels (biased estimate)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)

    def kernel(p, q):
        d = ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-d / (2 * h * h)) for h in bandwidths)

    return {"mmd": float(kernel(a, a).mean() + kernel(b, b).mean() - 2 * kernel(a, b).mean())}
