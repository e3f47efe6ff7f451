"""Generative models (family G): the adversarial losses, the Fréchet distance and the task.

Element structure (batched):
    (images float32 [N, H, W, C] raw pixels in the data's range (0..255), labels int32 [N] or none)
    The labels are ignored by an unconditional GAN; the real images are what it learns to imitate.

A generative model here is a functional Keras model whose first input is the latent noise
(`keras.Input(name="noise")`, float32 [N, z]) and whose output is images in the data's pixel range;
it carries `latent_prior` ("uniform" in [-1, 1] or "normal") so the task can draw the noise it was
trained with. Its own `train_step` learns from batches of real images. The export endpoint is that
generator alone: {"noise"} -> {"images"}.

Losses (spec §4.2, §9 rows 27-28; standard forms, on logits for numerical stability):
    discriminator  L_D = −E[log D(x)] − E[log(1 − D(G(z)))]   (binary cross-entropy, real = 1)
    generator      L_G = −E[log D(G(z))]                       (non-saturating, the default)
                   L_G = E[log(1 − D(G(z)))]                   ("minimax", Goodfellow's original)
D(·) = sigmoid(logit). Both are minimised.

Fréchet distance (spec §6.3 "FID-like"): d² = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^½) between
Gaussians fitted to the features of real and generated images. Inception weights cannot be
downloaded, so the features come from a small CNN trained here on scikit-learn's digits
(resized to the images' size), once per image shape, with a fixed seed, cached under
$DEEPZOO_CACHE or ~/.cache/deepzoo/frechet/. Values are comparable between runs of this project,
never with published FIDs.
"""

import math
import os
import warnings
from pathlib import Path

import numpy as np

from tasks.base import CheckOutcome, Task, as_structure, length  # noqa: F401

GENERATOR_LOSS_FORMS = ("non_saturating", "minimax")
LATENT_PRIORS = ("uniform", "normal")
# Version of the feature network's recipe: bump it when the network or its training changes, so
# cached networks from the old recipe are not mixed with new ones.
FEATURE_NETWORK_VERSION = 1
FEATURE_NETWORK_SEED = 1234


# --- adversarial losses ---------------------------------------------------------------------------


def discriminator_loss(real_logits, fake_logits):
    """−E[log D(x)] − E[log(1 − D(G(z)))] with D = sigmoid(logit): softplus(−l_real) + softplus(l_fake)."""
    from keras import ops

    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits, form="non_saturating"):
    """The generator's loss on D's logits for generated images.

    non_saturating: −E[log D(G(z))] = softplus(−l); strong gradients while D rejects the samples.
    minimax: E[log(1 − D(G(z)))] = −softplus(l); flat (saturating) when D(G(z)) ≈ 0, kept as the
        original objective for comparison.
    """
    from keras import ops

    if form == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    if form == "minimax":
        return -ops.mean(ops.softplus(fake_logits))
    raise ValueError(f"generator loss form must be one of {GENERATOR_LOSS_FORMS}. Received: form={form!r}")


def latent_noise(n, latent_dim, prior="uniform", seed=0):
    """Numpy latent vectors [n, latent_dim] from `prior` (uniform in [-1, 1] or standard normal)."""
    rng = np.random.default_rng(seed)
    if prior == "uniform":
        return rng.uniform(-1.0, 1.0, size=(n, latent_dim)).astype("float32")
    if prior == "normal":
        return rng.standard_normal(size=(n, latent_dim)).astype("float32")
    raise ValueError(f"latent prior must be one of {LATENT_PRIORS}. Received: prior={prior!r}")


def model_noise(model, n, seed=0):
    """Latent vectors for a generative model: its noise input's width and its `latent_prior`."""
    latent_dim = int(model.inputs[0].shape[-1])
    return latent_noise(n, latent_dim, getattr(model, "latent_prior", "normal"), seed)


# --- Fréchet distance -----------------------------------------------------------------------------


def gaussian_statistics(features):
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if len(features) < 2:
        raise ValueError(f"The Fréchet distance needs at least 2 samples per set. Received: {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features_a, features_b):
    """d² between Gaussians fitted to two feature sets [N, D] (Heusel et al. 2017, eq. 6)."""
    from scipy import linalg

    mu_a, sigma_a = gaussian_statistics(features_a)
    mu_b, sigma_b = gaussian_statistics(features_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"Feature sets must have the same width. Received: {mu_a.shape[0]} and {mu_b.shape[0]}")
    sigma_a, sigma_b = np.atleast_2d(sigma_a), np.atleast_2d(sigma_b)
    with warnings.catch_warnings():
        # A singular product (fewer samples than features, constant features) is still PSD and its
        # square root well defined; scipy warns all the same. Non-finite results are retried below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma_a @ sigma_b)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(len(sigma_a)) * 1e-6
            covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    covmean = np.real(covmean)  # imaginary parts are numerical noise of a PSD product
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * np.trace(covmean)))


def cache_dir():
    """Where trained helper networks are kept: $DEEPZOO_CACHE or ~/.cache/deepzoo."""
    return Path(os.environ.get("DEEPZOO_CACHE") or Path.home() / ".cache" / "deepzoo")


def _digits_images(image_shape):
    """scikit-learn's digits at `image_shape` (H, W, C), pixels 0..255, and their labels.

    The same recipe as the embedded "digits" dataset (scale 0..16 to 0..255, bilinear antialiased
    resize), repeated here because tasks/ sits below pipelines/; channels are copies."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    height, width, channels = (int(d) for d in image_shape)
    bunch = load_digits()
    images = (bunch.images[..., None] * (255.0 / 16.0)).astype("float32")
    images = tf.image.resize(images, (height, width), method="bilinear", antialias=True).numpy()
    images = np.clip(images, 0.0, 255.0)
    return np.repeat(images, channels, axis=-1).astype("float32"), bunch.target.astype("int32")


def _build_feature_classifier(image_shape, seed):
    import keras

    def init(index):
        return keras.initializers.GlorotUniform(seed=seed + index)

    inputs = keras.Input(image_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for index, filters in enumerate((32, 64)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init(index))(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    # Pre-activation features: a ReLU here would leave dead, constant features (singular covariances).
    features = keras.layers.Dense(128, kernel_initializer=init(5), name="features")(x)
    x = keras.layers.ReLU()(features)
    logits = keras.layers.Dense(10, kernel_initializer=init(9), name="logits")(x)
    return keras.Model(inputs, logits, name="frechet_classifier")


_FEATURE_NETWORKS = {}


def feature_network(image_shape, directory=None, epochs=6, seed=FEATURE_NETWORK_SEED, progress=None):
    """The Fréchet feature extractor for images of `image_shape`: pixels 0..255 in, 128 features out.

    A small CNN (two conv + pool stages, a 128-unit dense layer, 10 logits) classifies
    scikit-learn's digits at this size; the dense layer's pre-activations (the analogue of
    Inception's pool3) are the features. Trained once with fixed seeds
    and a fixed example order, then loaded from the cache (an atomic write, so concurrent
    trainers never leave a broken file).
    """
    import keras

    from common.io import atomic_path

    image_shape = tuple(int(d) for d in image_shape)
    directory = Path(directory) if directory else cache_dir() / "frechet"
    path = directory / f"digits-{'x'.join(map(str, image_shape))}-seed{seed}-v{FEATURE_NETWORK_VERSION}.keras"
    if path in _FEATURE_NETWORKS:
        return _FEATURE_NETWORKS[path]
    if path.is_file():
        classifier = keras.saving.load_model(path, compile=False)
    else:
        if progress:
            progress(f"training the Fréchet feature network for {image_shape} (once; cached at {path})")
        images, labels = _digits_images(image_shape)
        classifier = _build_feature_classifier(image_shape, seed)
        classifier.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        order = np.random.default_rng(seed)
        for _ in range(epochs):  # our own shuffle: fit's would draw from the global RNG
            permutation = order.permutation(len(images))
            classifier.fit(images[permutation], labels[permutation], batch_size=64, epochs=1, shuffle=False, verbose=0)
        with atomic_path(path, suffix=".keras") as tmp:
            classifier.save(tmp)
    network = keras.Model(classifier.input, classifier.get_layer("features").output, name="frechet_features")
    _FEATURE_NETWORKS[path] = network
    return network


def image_features(images, network=None, batch_size=256):
    images = np.asarray(images, dtype="float32")
    network = network or feature_network(images.shape[1:])
    return np.concatenate(
        [np.asarray(network(images[i : i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    )


def frechet_distance_images(images_a, images_b, network=None):
    """Fréchet distance between two image sets (pixels 0..255) on the feature network's features."""
    images_a = np.asarray(images_a, dtype="float32")
    network = network or feature_network(images_a.shape[1:])
    return frechet_distance(image_features(images_a, network), image_features(images_b, network))


# --- pictures --------------------------------------------------------------------------------------


def image_mosaic(images, columns=8, value_range=(0.0, 255.0)):
    """One [rows·H, columns·W, C] array in 0..1 from [N, H, W, C] images, a 1-pixel gap between."""
    images = np.asarray(images, dtype="float32")
    low, high = value_range
    images = np.clip((images - low) / (high - low), 0.0, 1.0)
    n, height, width, channels = images.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    mosaic = np.ones(((height + 1) * rows - 1, (width + 1) * columns - 1, channels), dtype="float32")
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        mosaic[row * (height + 1) : row * (height + 1) + height, column * (width + 1) : column * (width + 1) + width] = image
    return mosaic


def save_image_grid(images, path, columns=8, value_range=(0.0, 255.0)):
    """Writes `images` as one PNG grid (grey for one channel) and returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    mosaic = image_mosaic(images, columns, value_range)
    with atomic_path(path, suffix=".png") as tmp:
        if mosaic.shape[-1] == 1:
            plt.imsave(tmp, mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            plt.imsave(tmp, mosaic[..., :3])
    return Path(path)


def save_comparison(real, generated, path, columns=8, value_range=(0.0, 255.0), title=""):
    """Real images beside generated ones, one figure (the run's `samples.png`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    figure, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    for axis, images, name in zip(axes, (real, generated), ("real (held out)", "generated")):
        mosaic = image_mosaic(images, columns, value_range)
        axis.imshow(mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic[..., :3], cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(name)
        axis.axis("off")
    if title:
        figure.suptitle(title)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


def _generate(model, noise, batch_size=256):
    """Images from a generative model for `noise` (its call output, in the data's pixel range)."""
    parts = []
    for start in range(0, len(noise), batch_size):
        outputs = as_structure(model(noise[start : start + batch_size], training=False))
        parts.append(outputs.get("images", next(iter(outputs.values()))))
    return np.concatenate(parts)


# --- callbacks -------------------------------------------------------------------------------------


def sample_grid_callback(directory, num_images=64, seed=0, value_range=(0.0, 255.0)):
    """A Keras callback writing `directory/epoch_NNNN.png`: the same `num_images` noise vectors
    through the generator after every epoch, so the grids show how one set of samples evolves."""
    import keras

    class SampleGrid(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            noise = model_noise(self.model, num_images, seed)
            save_image_grid(_generate(self.model, noise), Path(directory) / f"epoch_{epoch + 1:04d}.png", value_range=value_range)

    return SampleGrid()


def frechet_distance_callback(real_images, seed=0, key="val_frechet_distance"):
    """A Keras callback adding `logs[key]`: the Fréchet distance between `real_images` and as many
    generated ones after every epoch. Placed before checkpoints and early stopping in the callback
    list, it lets them watch sample quality (a GAN's losses do not measure it)."""
    import keras

    real_images = np.asarray(real_images, dtype="float32")
    network = feature_network(real_images.shape[1:])
    real_features = image_features(real_images, network)

    class FrechetDistance(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            generated = _generate(self.model, model_noise(self.model, len(real_images), seed))
            if logs is not None:
                logs[key] = frechet_distance(real_features, image_features(generated, network))

    return FrechetDistance()


# --- the task --------------------------------------------------------------------------------------


class Generative(Task):
    name = "generative"
    element = "(images float32 [N, H, W, C] pixels 0..255, labels int32 [N] or none: ignored by unconditional models)"
    default_dataset = "digits"
    # Adversarial losses do not measure sample quality; the Fréchet distance on the validation
    # images (frechet_distance_callback, attached by `callbacks`) does.
    monitor = ("val_frechet_distance", "min")
    objective = ("frechet_distance", "min")
    train_check = "gan_steps"
    export_outputs = "images float32 [N, H, W, C] in the data's pixel range (0..255), from noise float32 [N, z]"
    stratify = True  # class-balanced splits where labels exist: held-out and training images alike
    accepts_any_data = True  # any image dataset will do; its labels are not used

    def stratify_labels(self, y):
        if y is None:
            return None
        y = np.asarray(y)
        return y if y.ndim == 1 and y.dtype.kind in "iu" else None

    # --- data ---------------------------------------------------------------------------------

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        """Batches of `(images, labels)` (or images alone when `y` is None) for the model's train_step."""
        import tensorflow as tf

        elements = np.asarray(x, dtype="float32") if y is None else (np.asarray(x, dtype="float32"), y)
        dataset = tf.data.Dataset.from_tensor_slices(elements).cache()
        if shuffle:
            dataset = dataset.shuffle(min(length(x), 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augment is not None:
            dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """The data's pixel range, so the model maps it to and from its tanh range [-1, 1]."""
        value_range = getattr(dataset, "value_range", None)
        if "value_range" in accepted and value_range is not None:
            return {"value_range": [float(v) for v in value_range]}
        return {}

    def callbacks(self, run_dir, model, x_val=None, y_val=None):
        """A sample grid per epoch (run_dir/samples/epoch_NNNN.png) and, given validation images,
        `val_frechet_distance` in the logs (put these before checkpoints and early stopping)."""
        callbacks = []
        if x_val is not None and length(x_val) >= 2:
            callbacks.append(frechet_distance_callback(x_val))
        callbacks.append(sample_grid_callback(Path(run_dir) / "samples", value_range=_value_range(model)))
        return callbacks

    # --- training -----------------------------------------------------------------------------

    def compile(self, model, optimizer, jit_compile=False, **options):
        """The trainer's one optimiser drives the generator; the model builds the discriminator's
        from the same config (a fresh instance with its own state). Task options are ignored."""
        model.compile(g_optimizer=optimizer, jit_compile=jit_compile)

    # --- evaluation ---------------------------------------------------------------------------

    def score(self, y_true, outputs, class_names=None):
        """Fréchet distance between real images `y_true` and the endpoint's `outputs["images"]`."""
        real = np.asarray(y_true, dtype="float32")
        generated = np.asarray(outputs["images"] if isinstance(outputs, dict) else outputs, dtype="float32")
        if real.shape[1:] != generated.shape[1:]:
            raise ValueError(f"Real and generated images differ in shape. Received: {real.shape[1:]} and {generated.shape[1:]}")
        return {
            "frechet_distance": frechet_distance_images(real, generated),
            "num_real": int(len(real)),
            "num_generated": int(len(generated)),
        }

    def evaluate(self, model, x, y, class_names=None, x_reference=None, seed=0):
        """Fréchet distances against the held-out real images `x`:

        frechet_distance            the model's generator (as many samples as `x` has images);
        frechet_distance_untrained  the same architecture freshly initialised: the ceiling;
        frechet_distance_real       real vs real: `x` against `x_reference` (the training images)
                                    when given, else the two halves of `x`: the floor.
        """
        real = np.asarray(x, dtype="float32")
        network = feature_network(real.shape[1:])
        real_features = image_features(real, network)
        noise = model_noise(model, len(real), seed)

        def distance_to_real(generator_model):
            generated = self.predict(generator_model, noise)["images"]
            return frechet_distance(real_features, image_features(generated, network))

        untrained = _fresh_copy(model, seed)
        if x_reference is not None:
            real_vs_real = frechet_distance(real_features, image_features(x_reference, network))
            reference = "training images"
        else:
            half = len(real) // 2
            real_vs_real = frechet_distance(real_features[:half], real_features[half:])
            reference = "two halves of the held-out images"
        return {
            "frechet_distance": distance_to_real(model),
            "frechet_distance_untrained": distance_to_real(untrained),
            "frechet_distance_real": real_vs_real,
            "real_reference": reference,
            "num_examples": int(len(real)),
            "feature_network": f"digits CNN v{FEATURE_NETWORK_VERSION}, {network.outputs[0].shape[-1]} features (FID-like; not published FID)",
        }

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """samples.png: 64 held-out real images beside 64 generated ones."""
        real = np.asarray(x, dtype="float32")[:64]
        generated = self.predict(model, model_noise(model, 64, seed=0))["images"]
        title = f"Fréchet distance {report['frechet_distance']:.2f}" if "frechet_distance" in report else ""
        save_comparison(real, generated, Path(run_dir) / "samples.png", value_range=_value_range(model), title=title)

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """(noise [n, z], images [n, H, W, C]): `x` is what the model and its endpoint take,
        `y` is a batch of real-looking images (random pixels) that `check_training` trains on."""
        rng = np.random.default_rng(seed + 1)
        low, high = _value_range(model)
        images = rng.uniform(low, high, size=(n, *model.outputs[0].shape[1:])).astype("float32")
        return model_noise(model, n, seed), images

    def fit_example(self, model, x, y, epochs, learning_rate=2e-4, jit_compile=False):
        """Fits the example batch's images `y` (its `x` is noise, for forward and export)."""
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate, beta_1=0.5), jit_compile=jit_compile)
        images = np.asarray(y, dtype="float32")
        return model.fit(images, batch_size=len(images), epochs=epochs, shuffle=False, verbose=0).history

    def check_training(self, model, x, y, epochs=4, learning_rate=2e-4):
        """"gan_steps": a few steps of `fit` on the image batch `y` give finite losses and move both
        networks, each by its own optimiser.

        "loss_falls" does not apply to a GAN: the two losses are the two sides of one game. A
        discriminator step lowers L_D by raising L_G and a generator step does the opposite, and at
        the equilibrium D(x) = ½ both stay at log 4 and log 2. Over a few steps from a random start
        L_D usually falls while L_G rises, which is correct training, not a failure.
        """
        generator_before = [np.array(w) for w in model.generator.trainable_weights]
        discriminator_before = [np.array(w) for w in model.discriminator.trainable_weights]
        history = self.fit_example(model, x, y, epochs, learning_rate)
        losses = {key: history[key] for key in ("d_loss", "g_loss")}
        if not all(math.isfinite(v) for values in losses.values() for v in values):
            return CheckOutcome(False, f"non-finite losses {losses}")

        def moved(before, variables):
            return max((float(np.max(np.abs(np.asarray(v) - b))) for v, b in zip(variables, before)), default=0.0)

        g_moved = moved(generator_before, model.generator.trainable_weights)
        d_moved = moved(discriminator_before, model.discriminator.trainable_weights)
        steps = {"generator": int(model.optimizer.iterations), "discriminator": int(model.d_optimizer.iterations)}
        if g_moved == 0.0 or d_moved == 0.0:
            return CheckOutcome(False, f"weights did not move: generator {g_moved:.3g}, discriminator {d_moved:.3g}")
        if steps != {"generator": epochs, "discriminator": epochs}:
            return CheckOutcome(False, f"optimiser steps {steps}, expected {epochs} each")
        return CheckOutcome(
            True,
            f"d_loss {losses['d_loss'][0]:.3g} -> {losses['d_loss'][-1]:.3g}, g_loss {losses['g_loss'][0]:.3g} -> "
            f"{losses['g_loss'][-1]:.3g} in {epochs} steps; max weight change G {g_moved:.2g}, D {d_moved:.2g}",
        )

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """The generator alone: {"noise": float32 [N, z]} -> {"images": float32 [N, H, W, C]} in the
        data's pixel range (the model's deterministic tanh-to-pixels rescale included)."""
        import keras

        if isinstance(model.output, dict):
            endpoint = model
        else:
            endpoint = keras.Model(model.input, {"images": model.output}, name=f"{model.name}_generator")
        # The noise distribution travels with the endpoint (export_samples and calibration draw from it).
        endpoint.latent_prior = getattr(model, "latent_prior", "normal")
        return endpoint

    def export_samples(self, endpoint, x, y):
        """(noise for as many samples as `x` has images, the real images `x`): an artifact's
        samples are scored by their Fréchet distance to the held-out images, like Keras'."""
        return model_noise(endpoint, length(x), seed=0), np.asarray(x, dtype="float32")

    def quantized_reference(self, reference_outputs):
        """Without real images, a quantised artifact's samples are compared with Keras' own."""
        return np.asarray(reference_outputs["images"])


def _value_range(model):
    return tuple(float(v) for v in getattr(model, "value_range", (0.0, 255.0)))


def _fresh_copy(model, seed):
    """The same architecture with freshly initialised weights (seeded where the constructor has `seed`)."""
    config = model.get_config()
    if "seed" in config:
        config["seed"] = seed
    return type(model).from_config(config)
