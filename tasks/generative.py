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
never with published FIDs. For point data (e.g. `ring8`, 2-D) the points themselves are the
features, and `evaluate` adds mode coverage (modes = the labelled components of the data).

Models with more inputs than noise (a class for cGAN, codes for InfoGAN, images for BiGAN's
encoder and anomaly score) give them by name (`keras.Input(name=...)`) and draw their latent
inputs with `model.latent_inputs(n, seed, labels=None)`; `generator_inputs` fills the rest. The
samples are the output "images" (image data) or "points" (vector data), `SAMPLE_KEYS`.
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


def least_squares_discriminator_loss(real_outputs, fake_outputs):
    """LSGAN (Mao et al. 2017, eq. 2 with a = 0, b = 1 and the ½ factors): ½E[(D(x) − 1)²] + ½E[D(G(z))²]
    on D's linear output."""
    from keras import ops

    return 0.5 * ops.mean(ops.square(real_outputs - 1.0)) + 0.5 * ops.mean(ops.square(fake_outputs))


def least_squares_generator_loss(fake_outputs):
    """LSGAN with c = 1: ½E[(D(G(z)) − 1)²]."""
    from keras import ops

    return 0.5 * ops.mean(ops.square(fake_outputs - 1.0))


def wasserstein_critic_loss(real_scores, fake_scores):
    """WGAN (Arjovsky et al. 2017): the critic maximises E[f(x)] − E[f(G(z))]; minimised: E[f(G(z))] − E[f(x)]."""
    from keras import ops

    return ops.mean(fake_scores) - ops.mean(real_scores)


def wasserstein_generator_loss(fake_scores):
    """WGAN generator: −E[f(G(z))]."""
    from keras import ops

    return -ops.mean(fake_scores)


def gradient_penalty(critic, real, fake, seed=None):
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): E[(‖∇_x̂ f(x̂)‖₂ − 1)²] on x̂ = εx + (1 − ε)G(z),
    ε ~ U[0, 1] per example; the norm is over all of one example's dimensions."""
    import keras
    import tensorflow as tf
    from keras import ops

    shape = [ops.shape(real)[0]] + [1] * (len(real.shape) - 1)
    epsilon = keras.random.uniform(shape, 0.0, 1.0, seed=seed)
    interpolates = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = critic(interpolates, training=True)
    gradients = tape.gradient(scores, interpolates)
    norms = ops.sqrt(ops.sum(ops.square(ops.reshape(gradients, (ops.shape(real)[0], -1))), axis=1) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def energy_discriminator_loss(real_energy, fake_energy, margin):
    """EBGAN (Zhao et al. 2017, eq. 1): D(x) + [m − D(G(z))]⁺ with D(·) the autoencoder's
    reconstruction MSE (per example, averaged over the batch)."""
    from keras import ops

    return ops.mean(real_energy) + ops.mean(ops.relu(margin - fake_energy))


def energy_generator_loss(fake_energy):
    """EBGAN generator: E[D(G(z))]."""
    from keras import ops

    return ops.mean(fake_energy)


def pullaway_term(embeddings):
    """EBGAN's repelling regulariser f_PT = 1/(N(N−1)) Σ_{i≠j} cos²(S_i, S_j) on the encoder's codes."""
    from keras import ops

    flat = ops.reshape(embeddings, (ops.shape(embeddings)[0], -1))
    unit = flat / ops.sqrt(ops.sum(ops.square(flat), axis=1, keepdims=True) + 1e-12)
    cosines = ops.square(ops.matmul(unit, ops.transpose(unit)))
    n = ops.cast(ops.shape(flat)[0], cosines.dtype)
    return (ops.sum(cosines) - ops.sum(ops.diagonal(cosines))) / (n * (n - 1.0))


def information_loss(category, category_logits, codes, code_means):
    """InfoGAN's L_I (Chen et al. 2016), the variational bound on −I(c; G(z, c)) up to a constant:
    cross-entropy of the categorical code under Q + the Gaussian negative log-likelihood of the
    continuous codes with a fixed unit variance, ½E‖c − μ_Q‖²."""
    from keras import ops

    categorical = ops.mean(ops.sparse_categorical_crossentropy(category, category_logits, from_logits=True))
    if codes is None:
        return categorical
    return categorical + 0.5 * ops.mean(ops.sum(ops.square(codes - code_means), axis=-1))


# The adversarial games as data: (discriminator loss, generator loss, what D outputs). The models
# of `architectures/generative/gans.py` pick one by name; "energy" takes reconstruction energies.
ADVERSARIAL_LOSSES = {
    "minimax": (discriminator_loss, lambda fake: generator_loss(fake, "minimax"), "logit"),
    "non_saturating": (discriminator_loss, lambda fake: generator_loss(fake, "non_saturating"), "logit"),
    "least_squares": (least_squares_discriminator_loss, least_squares_generator_loss, "linear"),
    "wasserstein": (wasserstein_critic_loss, wasserstein_generator_loss, "linear"),
    "energy": (None, energy_generator_loss, "energy"),  # D's loss needs the margin: energy_discriminator_loss
}


def latent_noise(n, latent_dim, prior="uniform", seed=0):
    """Numpy latent vectors [n, latent_dim] from `prior` (uniform in [-1, 1] or standard normal)."""
    rng = np.random.default_rng(seed)
    if prior == "uniform":
        return rng.uniform(-1.0, 1.0, size=(n, latent_dim)).astype("float32")
    if prior == "normal":
        return rng.standard_normal(size=(n, latent_dim)).astype("float32")
    raise ValueError(f"latent prior must be one of {LATENT_PRIORS}. Received: prior={prior!r}")


SAMPLE_KEYS = ("images", "points")
# The input through which a model scores given samples (BiGAN's encoder and anomaly score).
QUERY_INPUT = "query"


def _input_named(model, name):
    for tensor in model.inputs:
        if tensor.name.split(":")[0] == name:
            return tensor
    return None


def model_noise(model, n, seed=0):
    """Latent vectors for a generative model: its noise input's width and its `latent_prior`."""
    noise = _input_named(model, "noise")
    latent_dim = int((noise if noise is not None else model.inputs[0]).shape[-1])
    return latent_noise(n, latent_dim, getattr(model, "latent_prior", "normal"), seed)


def generator_inputs(model, n, seed=0, labels=None, images=None):
    """What a generative model (or its endpoint) takes to make `n` samples: the noise array for a
    noise-only model, else a dict by input name. `labels` (class ids) condition a conditional
    model (default: the classes in turn); `images` fill the `QUERY_INPUT` (BiGAN's scorer; default
    zeros, which leave the generated samples unchanged)."""
    names = [t.name.split(":")[0] for t in model.inputs]
    if names == ["noise"] or len(names) == 1:
        if labels is not None:
            raise ValueError(f"Model '{model.name}' is not conditional: it takes no class. Received: labels")
        return model_noise(model, n, seed)
    sampler = getattr(model, "latent_inputs", None)
    inputs = sampler(n, seed, labels=labels) if sampler is not None else {"noise": model_noise(model, n, seed)}
    if "labels" not in names and labels is not None:
        raise ValueError(f"Model '{model.name}' is not conditional: it takes no class. Received: labels")
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        if name not in inputs:
            if name != QUERY_INPUT:
                raise ValueError(f"Cannot make input '{name}' of model '{model.name}'. Expected the model's latent_inputs to give it.")
            if images is None:
                images = np.zeros((n, *[int(d) for d in tensor.shape[1:]]), "float32")
            inputs[name] = np.asarray(images, dtype="float32")[:n]
    return inputs


def samples_of(outputs):
    """The samples in a generator's outputs (a dict with "images" or "points", or one array)."""
    if not isinstance(outputs, dict):
        return np.asarray(outputs)
    for key in SAMPLE_KEYS:
        if key in outputs:
            return np.asarray(outputs[key])
    raise ValueError(f"Generator outputs have no samples. Expected one of {SAMPLE_KEYS}. Received: {sorted(outputs)}")


def is_point_data(samples):
    """Vectors [N, D] (e.g. the 2-D ring of Gaussians) rather than images [N, H, W, C]."""
    return np.ndim(samples) == 2


def is_volume_data(samples):
    """Voxel grids [N, D, H, W, C] (3D-GAN) rather than images [N, H, W, C]."""
    return np.ndim(samples) == 5


def volume_features(volumes, cells=4):
    """Fréchet features of voxel grids: the mean occupancy of cells³ blocks per channel (no image
    network exists for volumes; 4³ blocks keep the covariance small and well estimated)."""
    volumes = np.asarray(volumes, dtype="float32")
    n, d, h, w, c = volumes.shape
    cells = min(cells, d, h, w)
    blocks = volumes[:, : d // cells * cells, : h // cells * cells, : w // cells * cells]
    blocks = blocks.reshape(n, cells, d // cells, cells, h // cells, cells, w // cells, c).mean(axis=(2, 4, 6))
    return blocks.reshape(n, -1)


def volume_projections(samples):
    """Images [N, H, W, C] of voxel grids (max occupancy along the depth axis) for sample pictures;
    other samples pass through."""
    samples = np.asarray(samples, dtype="float32")
    return samples.max(axis=1) if is_volume_data(samples) else samples


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
_CLASSIFIERS = {}  # id(feature network) -> the digits classifier it is part of


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
    _CLASSIFIERS[id(network)] = classifier
    return network


def image_features(images, network=None, batch_size=256):
    images = np.asarray(images, dtype="float32")
    network = network or feature_network(images.shape[1:])
    return np.concatenate(
        [np.asarray(network(images[i : i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    )


def frechet_distance_images(images_a, images_b, network=None):
    """Fréchet distance between two image sets (pixels 0..255) on the feature network's features;
    between two point sets [N, D] on the points themselves."""
    images_a = np.asarray(images_a, dtype="float32")
    if is_point_data(images_a) or is_volume_data(images_a):
        return frechet_distance(sample_features(images_a), sample_features(images_b))
    network = network or feature_network(images_a.shape[1:])
    return frechet_distance(image_features(images_a, network), image_features(images_b, network))


def sample_features(samples, network=None):
    """Features of samples for the Fréchet distance: the CNN's for images, the points themselves."""
    samples = np.asarray(samples, dtype="float32")
    if is_point_data(samples):
        return samples
    if is_volume_data(samples):
        return volume_features(samples)
    return image_features(samples, network or feature_network(samples.shape[1:]))


def mode_coverage(points, centres, scale, threshold=3.0, min_fraction=0.01):
    """Mode coverage of generated points (spec §6.3, the standard toy-mixture count).

    A sample is high quality when within `threshold`·`scale` of its nearest centre; a mode is
    covered when it receives at least `min_fraction` of all samples as high-quality ones.
    Returns {"modes_covered", "num_modes", "high_quality_fraction", "mode_counts"}.
    """
    points = np.asarray(points, dtype="float64")
    centres = np.asarray(centres, dtype="float64")
    distances = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=-1)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(points)), nearest] <= threshold * scale
    counts = np.bincount(nearest[good], minlength=len(centres))
    return {
        "modes_covered": int(np.sum(counts >= min_fraction * len(points))),
        "num_modes": int(len(centres)),
        "high_quality_fraction": float(good.mean()) if len(points) else 0.0,
        "mode_counts": counts.astype(int).tolist(),
    }


def labelled_modes(points, labels):
    """Centres (per-label means) and a common scale (mean per-label standard deviation) of labelled
    point data, e.g. the ring's 8 components."""
    points, labels = np.asarray(points, dtype="float64"), np.asarray(labels)
    classes = np.unique(labels)
    centres = np.stack([points[labels == c].mean(axis=0) for c in classes])
    scale = float(np.mean([points[labels == c].std(axis=0).mean() for c in classes]))
    return centres, scale


def anomaly_score(images, reconstructions, real_features, reconstructed_features, alpha=0.9, norm="l1"):
    """BiGAN anomaly score (Zenati et al. 2018): A(x) = α‖x − G(E(x))‖ + (1 − α)‖f(x, E(x)) − f(G(E(x)), E(x))‖₁,
    per example, with f the discriminator's last hidden layer (feature matching) and the
    reconstruction norm L1 or L2 over the example's dimensions (inputs in D's [-1, 1] scale)."""
    from keras import ops

    n = ops.shape(images)[0]
    difference = ops.reshape(images - reconstructions, (n, -1))
    if norm == "l1":
        reconstruction = ops.sum(ops.abs(difference), axis=1)
    elif norm == "l2":
        reconstruction = ops.sqrt(ops.sum(ops.square(difference), axis=1) + 1e-12)
    else:
        raise ValueError(f"anomaly norm must be 'l1' or 'l2'. Received: norm={norm!r}")
    matching = ops.sum(ops.abs(ops.reshape(real_features - reconstructed_features, (n, -1))), axis=1)
    return alpha * reconstruction + (1.0 - alpha) * matching


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


def save_point_scatter(generated, path, real=None, title="", modes=None):
    """A scatter plot PNG of 2-D points (the first two dimensions): generated over real ones, with
    the modes' centres marked where given (mode coverage at a glance)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    figure, axis = plt.subplots(figsize=(5.4, 5.4))
    if real is not None:
        real = np.asarray(real)
        axis.scatter(real[:, 0], real[:, 1], s=4, c="tab:blue", alpha=0.3, label="real")
    generated = np.asarray(generated)
    axis.scatter(generated[:, 0], generated[:, 1], s=4, c="tab:orange", alpha=0.6, label="generated")
    if modes is not None:
        modes = np.asarray(modes)
        axis.scatter(modes[:, 0], modes[:, 1], s=60, marker="x", c="black", label="modes")
    axis.set_aspect("equal")
    axis.legend(loc="upper right", fontsize=8)
    if title:
        axis.set_title(title)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


def save_samples_picture(samples, path, columns=8, value_range=(0.0, 255.0), title=""):
    """A PNG of generator samples: an image grid, or a scatter plot for point data."""
    if is_point_data(samples):
        return save_point_scatter(samples, path, title=title)
    return save_image_grid(volume_projections(samples), path, columns=columns, value_range=value_range)


def _generate(model, inputs, batch_size=256):
    """Samples from a generative model for `inputs` (noise, or a dict of its named inputs), in the
    data's range: its "images" or "points" output."""
    from tasks.base import take

    parts = []
    for start in range(0, length(inputs), batch_size):
        outputs = as_structure(model(take(inputs, slice(start, start + batch_size)), training=False))
        parts.append(samples_of(outputs) if any(k in outputs for k in SAMPLE_KEYS) else next(iter(outputs.values())))
    return np.concatenate(parts)


def generate_samples(model, n, seed=0, labels=None):
    """`n` samples from a generator (a trained model or its endpoint); `labels` for a conditional one."""
    return _generate(model, generator_inputs(model, n, seed, labels=labels))


# --- callbacks -------------------------------------------------------------------------------------


def sample_grid_callback(directory, num_images=64, seed=0, value_range=(0.0, 255.0)):
    """A Keras callback writing `directory/epoch_NNNN.png`: the same `num_images` noise vectors
    through the generator after every epoch, so the grids show how one set of samples evolves."""
    import keras

    class SampleGrid(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            samples = generate_samples(self.model, num_images, seed)
            save_samples_picture(samples, Path(directory) / f"epoch_{epoch + 1:04d}.png", value_range=value_range)

    return SampleGrid()


def frechet_distance_callback(real_images, seed=0, key="val_frechet_distance"):
    """A Keras callback adding `logs[key]`: the Fréchet distance between `real_images` and as many
    generated ones after every epoch. Placed before checkpoints and early stopping in the callback
    list, it lets them watch sample quality (a GAN's losses do not measure it)."""
    import keras

    real_images = np.asarray(real_images, dtype="float32")
    network = None if is_point_data(real_images) or is_volume_data(real_images) else feature_network(real_images.shape[1:])
    real_features = sample_features(real_images, network)

    class FrechetDistance(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            generated = generate_samples(self.model, len(real_images), seed)
            if logs is not None:
                logs[key] = frechet_distance(real_features, sample_features(generated, network))

    return FrechetDistance()


# --- the task --------------------------------------------------------------------------------------


class Generative(Task):
    name = "generative"
    element = (
        "(images float32 [N, H, W, C] pixels 0..255, or points float32 [N, D]; labels int32 [N] or none: "
        "the class of a conditional model, ignored by unconditional ones)"
    )
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
        """Fréchet distance between real samples `y_true` and the endpoint's samples (its
        "images", or "points" for vector data)."""
        real = np.asarray(y_true, dtype="float32")
        generated = np.asarray(samples_of(outputs), dtype="float32")
        if real.shape[1:] != generated.shape[1:]:
            raise ValueError(f"Real and generated samples differ in shape. Received: {real.shape[1:]} and {generated.shape[1:]}")
        return {
            "frechet_distance": frechet_distance_images(real, generated),
            "num_real": int(len(real)),
            "num_generated": int(len(generated)),
        }

    def evaluate(self, model, x, y, class_names=None, x_reference=None, seed=0):
        """Fréchet distances against the held-out real samples `x`:

        frechet_distance            the model's generator (as many samples as `x` has);
        frechet_distance_untrained  the same architecture freshly initialised: the ceiling;
        frechet_distance_real       real vs real: `x` against `x_reference` (the training images)
                                    when given, else the two halves of `x`: the floor.

        Point data with integer labels (the components of a mixture, e.g. `ring8`) adds the mode
        coverage of 2,000 generated points (`mode_coverage`, modes = the labels' centres).
        """
        real = np.asarray(x, dtype="float32")
        points = is_point_data(real)
        network = None if points or is_volume_data(real) else feature_network(real.shape[1:])
        real_features = sample_features(real, network)

        def distance_to_real(generator_model):
            generated = generate_samples(generator_model, len(real), seed)
            return frechet_distance(real_features, sample_features(generated, network))

        untrained = _fresh_copy(model, seed)
        if x_reference is not None:
            real_vs_real = frechet_distance(real_features, sample_features(x_reference, network))
            reference = "training images"
        else:
            half = len(real) // 2
            real_vs_real = frechet_distance(real_features[:half], real_features[half:])
            reference = "two halves of the held-out images"
        report = {
            "frechet_distance": distance_to_real(model),
            "frechet_distance_untrained": distance_to_real(untrained),
            "frechet_distance_real": real_vs_real,
            "real_reference": reference,
            "num_examples": int(len(real)),
            "feature_network": "the points themselves" if points else "voxel occupancy of 4³ blocks" if is_volume_data(real) else (
                f"digits CNN v{FEATURE_NETWORK_VERSION}, {network.outputs[0].shape[-1]} features (FID-like; not published FID)"
            ),
        }
        if points and y is not None and np.asarray(y).dtype.kind in "iu":
            centres, scale = labelled_modes(real, y)
            report.update(mode_coverage(generate_samples(model, 2000, seed), centres, scale))
        if isinstance(model.output, dict) and "anomaly_scores" in model.output and y is not None and set(np.unique(y).tolist()) == {0, 1}:
            report.update(anomaly_report(model, real, y))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """samples.png: 64 held-out real images beside 64 generated ones (point data: a scatter
        plot of 2,000 generated points over the held-out ones, modes marked)."""
        real = np.asarray(x, dtype="float32")
        title = f"Fréchet distance {report['frechet_distance']:.2f}" if "frechet_distance" in report else ""
        if is_point_data(real):
            modes = labelled_modes(real, y)[0] if y is not None and np.asarray(y).dtype.kind in "iu" else None
            if "modes_covered" in report:
                title += f", {report['modes_covered']}/{report['num_modes']} modes"
            save_point_scatter(generate_samples(model, 2000, 0), Path(run_dir) / "samples.png", real=real, title=title, modes=modes)
            return
        generated = generate_samples(model, 64, 0)
        save_comparison(volume_projections(real[:64]), volume_projections(generated), Path(run_dir) / "samples.png", value_range=_value_range(model), title=title)

    def save_samples(self, model, path, n=64, seed=0, label=None, class_names=None):
        """`deepzoo sample`: `n` samples of a trained generator as one PNG (an image grid, or a
        scatter plot for point data); `label` (a class id) for a conditional generator."""
        labels = None
        if label is not None:
            num_classes = getattr(model, "num_classes", None)
            if "labels" not in [t.name.split(":")[0] for t in model.inputs] or not num_classes:
                raise ValueError(f"Model '{model.name}' is not a conditional generator: it takes no class. Received: class {label}")
            if not 0 <= int(label) < int(num_classes):
                names = f" ({', '.join(map(str, class_names))})" if class_names else ""
                raise ValueError(f"Class must be in 0..{int(num_classes) - 1}{names}. Received: {label}")
            labels = np.full((n,), int(label), "int32")
        samples = generate_samples(model, n, seed, labels=labels)
        title = f"class {class_names[int(label)] if class_names else label}" if label is not None else ""
        return save_samples_picture(samples, path, value_range=_value_range(model), title=title)

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """(generator inputs, real-looking samples): `x` is what the model and its endpoint take
        (noise, or a dict with a class / codes / images by name), `y` is a batch of random samples
        in the data's range that `check_training` trains on ({"images", "labels"} for a
        conditional model, which learns from labelled data)."""
        rng = np.random.default_rng(seed + 1)
        low, high = _value_range(model)
        shape = _sample_shape(model)
        samples = rng.uniform(low, high, size=(n, *shape)).astype("float32")
        x = generator_inputs(model, n, seed, images=samples)
        if isinstance(x, dict) and "labels" in x:
            return x, {"images": samples, "labels": np.asarray(x["labels"], "int32")}
        return x, samples

    def fit_example(self, model, x, y, epochs, learning_rate=2e-4, jit_compile=False):
        """Fits the example batch's samples `y` (with their labels for a conditional model; its
        `x` is the generator's inputs, for forward and export)."""
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate, beta_1=0.5), jit_compile=jit_compile)
        if isinstance(y, dict):
            images, labels = np.asarray(y["images"], dtype="float32"), np.asarray(y["labels"], "int32")
            return model.fit(images, labels, batch_size=len(images), epochs=epochs, shuffle=False, verbose=0).history
        images = np.asarray(y, dtype="float32")
        return model.fit(images, batch_size=len(images), epochs=epochs, shuffle=False, verbose=0).history

    check_learning_rate = 2e-4

    def check_training(self, model, x, y, epochs=4, learning_rate=None, jit_compile=False):
        """"gan_steps": a few steps of `fit` on the sample batch `y` give finite losses and move both
        networks, each by its own optimiser (k discriminator steps per generator step where the
        model's `discriminator_steps` says so).

        "loss_falls" does not apply to a GAN: the two losses are the two sides of one game. A
        discriminator step lowers L_D by raising L_G and a generator step does the opposite, and at
        the equilibrium D(x) = ½ both stay at log 4 and log 2. Over a few steps from a random start
        L_D usually falls while L_G rises, which is correct training, not a failure.

        A generator without a discriminator (VAE, autoencoder generator) minimises one loss (the
        negative ELBO, the reconstruction error): its check is "loss_falls".
        """
        if not hasattr(model, "discriminator"):
            return Task.check_training(self, model, x, y, epochs, learning_rate, jit_compile)
        generator_before = [np.array(w) for w in model.generator.trainable_weights]
        discriminator_before = [np.array(w) for w in model.discriminator.trainable_weights]
        learning_rate = self.check_learning_rate if learning_rate is None else learning_rate
        history = self.fit_example(model, x, y, epochs, learning_rate, jit_compile=jit_compile)
        losses = {key: history[key] for key in ("d_loss", "g_loss")}
        if not all(math.isfinite(v) for values in losses.values() for v in values):
            return CheckOutcome(False, f"non-finite losses {losses}")

        def moved(before, variables):
            return max((float(np.max(np.abs(np.asarray(v) - b))) for v, b in zip(variables, before)), default=0.0)

        g_moved = moved(generator_before, model.generator.trainable_weights)
        d_moved = moved(discriminator_before, model.discriminator.trainable_weights)
        k = int(getattr(model, "discriminator_steps", 1))
        steps = {"generator": int(model.optimizer.iterations), "discriminator": int(model.d_optimizer.iterations)}
        if g_moved == 0.0 or d_moved == 0.0:
            return CheckOutcome(False, f"weights did not move: generator {g_moved:.3g}, discriminator {d_moved:.3g}")
        if steps != {"generator": epochs, "discriminator": k * epochs}:
            return CheckOutcome(False, f"optimiser steps {steps}, expected {epochs} for G and {k * epochs} for D")
        return CheckOutcome(
            True,
            f"d_loss {losses['d_loss'][0]:.3g} -> {losses['d_loss'][-1]:.3g}, g_loss {losses['g_loss'][0]:.3g} -> "
            f"{losses['g_loss'][-1]:.3g} in {epochs} steps; max weight change G {g_moved:.2g}, D {d_moved:.2g}",
        )

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """The generator: {"noise": float32 [N, z]} -> {"images": float32 [N, H, W, C]} in the
        data's pixel range (the model's deterministic tanh-to-pixels rescale included). A model
        whose own outputs are a dict is its own endpoint (a conditional generator's class input,
        BiGAN's encoder and anomaly score beside the generator)."""
        import keras

        if isinstance(model.output, dict):
            endpoint = model
        else:
            endpoint = keras.Model(model.input, {"images": model.output}, name=f"{model.name}_generator")
        # The noise distribution travels with the endpoint (export_samples and calibration draw from it).
        endpoint.latent_prior = getattr(model, "latent_prior", "normal")
        return endpoint

    def export_samples(self, endpoint, x, y):
        """(the generator's inputs for as many samples as `x` has, the real samples `x`): an
        artifact's samples are scored by their Fréchet distance to the held-out ones, like Keras'.
        `x` may already be the generator's inputs (a dict by name, the sweep's example batch);
        held-out `x` also fills an image input (BiGAN's scorer) and `y` a class input."""
        if isinstance(x, dict):
            names = {t.name.split(":")[0] for t in endpoint.inputs}
            inputs = {key: value for key, value in x.items() if key in names}
            return inputs, None
        names = [t.name.split(":")[0] for t in endpoint.inputs]
        labels = None
        if "labels" in names and y is not None and np.asarray(y).ndim == 1 and np.asarray(y).dtype.kind in "iu":
            labels = np.asarray(y, "int32")
        inputs = generator_inputs(endpoint, length(x), seed=0, labels=labels, images=x if QUERY_INPUT in names else None)
        return inputs, np.asarray(x, dtype="float32")

    def quantized_reference(self, reference_outputs):
        """Without real samples, a quantised artifact's samples are compared with Keras' own."""
        return samples_of(reference_outputs)


def anomaly_scores(model, samples, batch_size=256):
    """A(x) of a scoring model (BiGAN) for `samples` in the data's range: float [N]."""
    parts = []
    for start in range(0, len(samples), batch_size):
        chunk = np.asarray(samples[start : start + batch_size], "float32")
        inputs = generator_inputs(model, len(chunk), seed=0, images=chunk)
        parts.append(np.asarray(model(inputs, training=False)["anomaly_scores"]))
    return np.concatenate(parts)


def anomaly_report(model, samples, is_anomalous):
    """ROC AUC and average precision (scikit-learn) of the model's anomaly score against 0/1 flags."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = anomaly_scores(model, samples)
    flags = np.asarray(is_anomalous).astype(int)
    return {
        "anomaly_roc_auc": float(roc_auc_score(flags, scores)),
        "anomaly_average_precision": float(average_precision_score(flags, scores)),
        "num_anomalous": int(flags.sum()),
    }


def conditional_class_accuracy(model, classifier, per_class=50, seed=0):
    """Fraction of a conditional generator's samples that `classifier` (images -> logits, e.g.
    `feature_classifier`) puts in the class they were generated for; per-class accuracies too."""
    num_classes = int(model.num_classes)
    labels = np.repeat(np.arange(num_classes, dtype="int32"), per_class)
    images = generate_samples(model, len(labels), seed, labels=labels)
    predicted = np.concatenate([np.argmax(np.asarray(classifier(images[i : i + 256], training=False)), -1) for i in range(0, len(images), 256)])
    correct = predicted == labels
    return {"class_accuracy": float(correct.mean()), "per_class": [float(correct[labels == c].mean()) for c in range(num_classes)]}


def feature_classifier(image_shape):
    """The Fréchet feature network's digits classifier itself (images 0..255 -> 10 logits)."""
    return _CLASSIFIERS[id(feature_network(image_shape))]


def _sample_shape(model):
    """Shape of one sample (batch excluded) from the model's "images"/"points" output."""
    output = model.output
    if isinstance(output, dict):
        output = next(output[key] for key in SAMPLE_KEYS if key in output)
    elif isinstance(output, (list, tuple)):
        output = output[0]
    return tuple(int(d) for d in output.shape[1:])


def _value_range(model):
    return tuple(float(v) for v in getattr(model, "value_range", (0.0, 255.0)))


def _fresh_copy(model, seed):
    """The same architecture with freshly initialised weights (seeded where the constructor has `seed`)."""
    config = model.get_config()
    if "seed" in config:
        config["seed"] = seed
    return type(model).from_config(config)
