"""3-D GANs on voxel occupancy (spec §2 G): 3D-GAN and 3D-VAE-GAN.

References:
    gan_3d      Wu, Zhang, Xue, Freeman & Tenenbaum 2016, "Learning a probabilistic latent space of
                object shapes via 3D generative-adversarial modeling", NIPS (arXiv 1610.07584).
    vae_gan_3d  the same paper, §3.2: an image encoder E gives (μ, log σ²), z = μ + σ ⊙ ε, and the
                3D-GAN generator decodes it; L = L_3D-GAN + α1·KL + α2·‖G(E(y)) − x‖².

G: z (200) → a 4×4×4 transposed conv from 1³ to 4³×512 → stride-2 4×4×4 transposed convs to 256,
128, 64 and 1 channels (BN + ReLU; the paper's sigmoid output is our tanh mapped onto the data's
[0, 1] range, the family's convention) → 64³. D mirrors it with stride-2 3-D convs (64, 128, 256,
512; BN except the first, LeakyReLU 0.2) and a 4×4×4 valid conv to one logit.

Training (the paper's tricks against D overpowering G): D's learning rate is `d_learning_rate_scale`
× G's (1e-5 vs 0.0025 in the paper: 0.004), and D is updated only if its accuracy on the current
batch (real logit > 0, fake logit < 0) is below `d_accuracy_threshold` (0.8). A skipped update
restores D's weights after the optimiser call, so one compiled step (XLA included) serves both
cases; the optimiser still counts the step, and the `d_updated` metric reports the fraction of
steps that changed D.
"""

import keras
from keras import ops

from architectures.generative.dcgan import _clone_optimizer, _regularization
from architectures.generative.gans import GAN
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.autoencoder import gaussian_kl, reparameterize
from tasks.generative import LATENT_PRIORS, discriminator_loss, generator_loss

WU_GENERATOR_FILTERS = (512, 256, 128, 64)
WU_DISCRIMINATOR_FILTERS = (64, 128, 256, 512)
# 3D-VAE-GAN image encoder (Wu et al. §3.2): 5 convs (filters, kernel, stride) on 256×256 images.
WU_ENCODER_CONVS = ((64, 11, 4), (128, 5, 2), (256, 5, 2), (512, 5, 2), (400, 8, 1))


def _voxel_generator(latent_dim, grid, filters, name="generator"):
    ups = len(filters)
    start = grid // 2**ups
    noise = keras.Input((latent_dim,), name="noise")
    x = keras.layers.Reshape((1, 1, 1, latent_dim), name="g_reshape")(noise)
    x = keras.layers.Conv3DTranspose(filters[0], start, padding="valid", name="g_project")(x)
    x = keras.layers.BatchNormalization(name="g_project_bn")(x)
    x = keras.layers.ReLU(name="g_project_relu")(x)
    for index, width in enumerate(tuple(filters[1:]) + (1,)):
        x = keras.layers.Conv3DTranspose(width, 4, strides=2, padding="same", name=f"g_up{index + 1}")(x)
        if index < ups - 1:
            x = keras.layers.BatchNormalization(name=f"g_up{index + 1}_bn")(x)
            x = keras.layers.ReLU(name=f"g_up{index + 1}_relu")(x)
    x = keras.layers.Activation("tanh", name="g_tanh")(x)
    return keras.Model(noise, x, name=name)


def _voxel_discriminator(sample_shape, filters, name="discriminator"):
    voxels = keras.Input(sample_shape, name="samples")
    x = voxels
    for index, width in enumerate(filters):
        x = keras.layers.Conv3D(width, 4, strides=2, padding="same", name=f"d_conv{index + 1}")(x)
        if index > 0:
            x = keras.layers.BatchNormalization(name=f"d_conv{index + 1}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"d_conv{index + 1}_lrelu")(x)
    x = keras.layers.Conv3D(1, x.shape[1], padding="valid", name="d_logit")(x)
    return keras.Model(voxels, keras.layers.Flatten(name="d_flatten")(x), name=name)


@keras.saving.register_keras_serializable(package="deepzoo")
class GAN3D(GAN):
    """3D-GAN: `model(noise)` → {"images": voxels [N, G, G, G, 1] in the data's range}.

    Args:
        input_shape: (G, G, G, 1) voxel grid; G a multiple of 2^len(generator_filters).
        latent_dim: z (200).
        generator_filters: channels after the projection and each up-sampling but the last (→ 1).
        discriminator_filters: stride-2 conv widths.
        d_accuracy_threshold: D is updated only while its batch accuracy is below this (0.8).
        d_learning_rate_scale: D's learning rate relative to G's when no d_optimizer is given.
        latent_prior: "uniform" in [-1, 1] (the paper's U[0, 1], shifted) or "normal".
        value_range: the data's occupancy range (0, 1).
    """

    def __init__(
        self,
        input_shape=(64, 64, 64, 1),
        latent_dim=200,
        generator_filters=WU_GENERATOR_FILTERS,
        discriminator_filters=WU_DISCRIMINATOR_FILTERS,
        d_accuracy_threshold=0.8,
        d_learning_rate_scale=0.004,
        latent_prior="uniform",
        value_range=(0.0, 1.0),
        seed=None,
        name="gan_3d",
        **kwargs,
    ):
        object.__setattr__(self, "_voxel_filters", (tuple(int(f) for f in generator_filters), tuple(int(f) for f in discriminator_filters)))
        self._init_voxel_game(input_shape, latent_dim, latent_prior, value_range, seed, name, **kwargs)
        self.d_accuracy_threshold = float(d_accuracy_threshold)
        self.d_learning_rate_scale = float(d_learning_rate_scale)

    def _init_voxel_game(self, input_shape, latent_dim, latent_prior, value_range, seed, name, **kwargs):
        self._init_game(
            input_shape=input_shape, latent_dim=latent_dim, loss="non_saturating", generator_units=(), discriminator_units=(),
            discriminator_pieces=1, discriminator_dropout=0.0, discriminator_steps=1, clip_value=None, gradient_penalty_weight=0.0,
            margin=1.0, pullaway_weight=0.0, minimax_after_step=None, num_classes=0, generator_label_units=0,
            discriminator_label_units=0, discriminator_label_pieces=1, latent_prior=latent_prior, value_range=value_range, seed=seed,
            name=name, **kwargs,
        )

    @staticmethod
    def _check_options(input_shape, loss, latent_prior, value_range, discriminator_steps, num_classes):
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 4 or not shape[0] == shape[1] == shape[2]:
            raise ValueError(f"input_shape must be a cubic voxel grid (G, G, G, C). Received: input_shape={shape}")
        if latent_prior not in LATENT_PRIORS:
            raise ValueError(f"latent_prior must be one of {LATENT_PRIORS}. Received: latent_prior={latent_prior!r}")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low. Received: value_range={value_range}")

    def _build_networks(self, sample_shape, latent_dim, loss, g_units, d_units, d_pieces, d_dropout, g_label_units, d_label_units, d_label_pieces, seed):
        g_filters, d_filters = self._voxel_filters
        grid = sample_shape[0]
        if grid % 2 ** len(g_filters) or grid // 2 ** len(g_filters) < 1:
            raise ValueError(f"The grid size must be a multiple of 2^{len(g_filters)} = {2 ** len(g_filters)}. Received: input_shape={sample_shape}")
        generator = _voxel_generator(latent_dim, grid, g_filters)
        discriminator = _voxel_discriminator(sample_shape, d_filters)
        noise = keras.Input((latent_dim,), name="noise")
        return self._model_inputs(noise), generator, discriminator, generator(noise)

    def _model_inputs(self, noise):
        return noise

    def _tracked_metric_names(self):
        return ("d_loss", "g_loss", "d_real", "d_fake", "d_accuracy", "d_updated")

    def compile(self, g_optimizer=None, d_optimizer=None, optimizer=None, **kwargs):
        """As GAN.compile; without a d_optimizer, D's is G's with the learning rate × d_learning_rate_scale."""
        if d_optimizer is None:
            base = keras.optimizers.get(g_optimizer or optimizer or keras.optimizers.Adam(0.0025, beta_1=0.5))
            d_optimizer = _clone_optimizer(base, f"{base.name}_discriminator")
            rate = d_optimizer.learning_rate
            if isinstance(rate, (float, int)) or hasattr(rate, "assign"):
                d_optimizer.learning_rate = float(ops.convert_to_numpy(rate)) * getattr(self, "d_learning_rate_scale", 1.0)
            if g_optimizer is None and optimizer is None:
                g_optimizer = base
        super().compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, optimizer=optimizer, **kwargs)

    def _gated_discriminator_step(self, real, fake):
        """One D step applied only if D's accuracy on this batch is below the threshold."""
        import tensorflow as tf

        d_variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(real_logits, fake_logits) + _regularization(self.discriminator)
        accuracy = 0.5 * (ops.mean(ops.cast(real_logits > 0, "float32")) + ops.mean(ops.cast(fake_logits < 0, "float32")))
        update = ops.cast(accuracy < self.d_accuracy_threshold, self.compute_dtype)
        before = [ops.convert_to_tensor(v) for v in d_variables]
        gradients = [g * update for g in tape.gradient(d_loss, d_variables)]
        self.d_optimizer.apply_gradients(zip(gradients, d_variables))
        for variable, old in zip(d_variables, before):
            variable.assign(update * variable + (1.0 - update) * old)
        return d_loss, ops.mean(ops.sigmoid(real_logits)), ops.mean(ops.sigmoid(fake_logits)), accuracy, update

    def train_step(self, data):
        import tensorflow as tf

        real, _ = self._unpack(data)
        batch_size = ops.shape(real)[0]
        fake = ops.stop_gradient(self.generator(self.sample_noise(batch_size), training=True))
        d_loss, d_real, d_fake, accuracy, updated = self._gated_discriminator_step(real, fake)
        g_variables = self._generator_side_variables()
        with tf.GradientTape() as tape:
            g_loss = generator_loss(self.discriminator(self.generator(self.sample_noise(batch_size), training=True), training=True))
            g_total = g_loss + _regularization(self.generator)
        self.optimizer.apply_gradients(zip(tape.gradient(g_total, g_variables), g_variables))
        return self._update_trackers(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake, d_accuracy=accuracy, d_updated=updated)

    def test_step(self, data):
        real, _ = self._unpack(data)
        fake = self.generator(self.sample_noise(ops.shape(real)[0]), training=False)
        real_logits, fake_logits = self.discriminator(real, training=False), self.discriminator(fake, training=False)
        accuracy = 0.5 * (ops.mean(ops.cast(real_logits > 0, "float32")) + ops.mean(ops.cast(fake_logits < 0, "float32")))
        return self._update_trackers(
            d_loss=discriminator_loss(real_logits, fake_logits), g_loss=generator_loss(fake_logits), d_real=ops.mean(ops.sigmoid(real_logits)),
            d_fake=ops.mean(ops.sigmoid(fake_logits)), d_accuracy=accuracy, d_updated=ops.cast(accuracy < self.d_accuracy_threshold, "float32"),
        )


def _image_encoder(image_shape, convs, latent_dim, name="image_encoder"):
    images = keras.Input(image_shape, name="images")
    x = images
    for index, (filters, kernel, stride) in enumerate(convs):
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", name=f"e_conv{index + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"e_conv{index + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"e_conv{index + 1}_relu")(x)
    x = keras.layers.Flatten(name="e_flatten")(x)
    mean = keras.layers.Dense(latent_dim, name="e_mean")(x)
    log_variance = keras.layers.Dense(latent_dim, name="e_log_variance")(x)
    return keras.Model(images, [mean, log_variance], name=name)


@keras.saving.register_keras_serializable(package="deepzoo")
class VAEGAN3D(GAN3D):
    """3D-VAE-GAN: the 3D-GAN plus an image encoder E: image → (μ, log σ²) → z → G(z) voxels.

    `fit(voxels, images)` trains on paired data (`voxel_image_pairs`); `model(noise)` is the
    generator (the exported endpoint) and `model.reconstruct(images)` gives G(μ(E(image))), the
    image → shape path.

    Args (besides GAN3D's):
        image_shape: (H, W, C) of the 2-D input images.
        encoder_convs: ((filters, kernel, stride), ...) of E (Wu et al.: 5 convs).
        kl_weight, reconstruction_weight: α1 and α2 (5 and 1e-4 in the paper; the reconstruction is
            the sum of squared voxel differences per shape, batch-averaged).
    """

    def __init__(
        self,
        input_shape=(64, 64, 64, 1),
        image_shape=(256, 256, 3),
        latent_dim=200,
        generator_filters=WU_GENERATOR_FILTERS,
        discriminator_filters=WU_DISCRIMINATOR_FILTERS,
        encoder_convs=WU_ENCODER_CONVS,
        kl_weight=5.0,
        reconstruction_weight=1e-4,
        d_accuracy_threshold=0.8,
        d_learning_rate_scale=0.004,
        latent_prior="normal",
        value_range=(0.0, 1.0),
        seed=None,
        name="vae_gan_3d",
        **kwargs,
    ):
        object.__setattr__(self, "_voxel_filters", (tuple(int(f) for f in generator_filters), tuple(int(f) for f in discriminator_filters)))
        self._init_voxel_game(input_shape, latent_dim, latent_prior, value_range, seed, name, **kwargs)
        self.image_encoder = _image_encoder(tuple(int(d) for d in image_shape), encoder_convs, int(latent_dim))
        self.d_accuracy_threshold = float(d_accuracy_threshold)
        self.d_learning_rate_scale = float(d_learning_rate_scale)
        self.kl_weight = float(kl_weight)
        self.reconstruction_weight = float(reconstruction_weight)

    def _tracked_metric_names(self):
        return super()._tracked_metric_names() + ("kl", "reconstruction")

    def _generator_side_variables(self):
        return self.generator.trainable_variables + self.image_encoder.trainable_variables

    def reconstruct(self, images):
        """Voxels in the data's range from images: G(μ(E(images)))."""
        mean, _ = self.image_encoder(ops.cast(images, self.compute_dtype), training=False)
        low, high = self.value_range
        return (self.generator(mean, training=False) + 1.0) * (high - low) / 2.0 + low

    def train_step(self, data):
        import tensorflow as tf

        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError("3D-VAE-GAN learns from pairs: fit(voxels, images). Received: voxels alone")
        real = self.from_pixels(ops.cast(data[0], self.compute_dtype))
        images = ops.cast(data[1], self.compute_dtype)
        batch_size = ops.shape(real)[0]
        fake = ops.stop_gradient(self.generator(self.sample_noise(batch_size), training=True))
        d_loss, d_real, d_fake, accuracy, updated = self._gated_discriminator_step(real, fake)
        g_variables = self._generator_side_variables()
        with tf.GradientTape() as tape:
            g_loss = generator_loss(self.discriminator(self.generator(self.sample_noise(batch_size), training=True), training=True))
            mean, log_variance = self.image_encoder(images, training=True)
            reconstruction = self.generator(reparameterize(mean, log_variance, self.noise_seed), training=True)
            kl = ops.mean(gaussian_kl(mean, log_variance))
            squared = ops.mean(ops.sum(ops.reshape(ops.square(reconstruction - real), (batch_size, -1)), axis=1))
            total = g_loss + self.kl_weight * kl + self.reconstruction_weight * squared
            total = total + _regularization(self.generator) + _regularization(self.image_encoder)
        self.optimizer.apply_gradients(zip(tape.gradient(total, g_variables), g_variables))
        return self._update_trackers(
            d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake, d_accuracy=accuracy, d_updated=updated, kl=kl, reconstruction=squared
        )

    def test_step(self, data):
        logs = super().test_step(data[0] if isinstance(data, (tuple, list)) else data)
        return logs


# --- registry ----------------------------------------------------------------------------------------------


def _vae_gan_batch(config, seed, n=8):
    """(noise, {"images": voxels, "labels": paired 2-D images}): the generative task fits
    `fit(images, labels)`, which for this model is fit(voxels, images)."""
    import numpy as np

    from tasks.generative import latent_noise

    rng = np.random.default_rng(seed + 1)
    grid = int(config["input_shape"][0])
    voxels = (rng.uniform(size=(n, grid, grid, grid, 1)) < 0.3).astype("float32")
    images = rng.uniform(size=(n, *[int(d) for d in config["image_shape"]])).astype("float32")
    return latent_noise(n, int(config["latent_dim"]), config.get("latent_prior", "normal"), seed), {"images": voxels, "labels": images}


_VOXEL_OUT = (TensorSpec("images", (None, None, None, 1)),)
_NOISE_IN = (TensorSpec("noise", (None,)),)
_WU_PAPER = "Wu, Zhang, Xue, Freeman & Tenenbaum 2016, NIPS (arXiv 1610.07584)"

register(
    ModelSpec(
        name="gan_3d",
        family="generative",
        task="generative",
        builder=GAN3D,
        canonical_config=dict(input_shape=(64, 64, 64, 1), latent_dim=200),
        tiny_config=dict(input_shape=(8, 8, 8, 1), latent_dim=8, generator_filters=(8,), discriminator_filters=(8,), d_learning_rate_scale=1.0),
        paper=_WU_PAPER,
        seeds=("003",),
        default_dataset="voxel_shapes",
        inputs=_NOISE_IN,
        outputs=_VOXEL_OUT,
        train_recipe=dict(optimizer="adam", learning_rate=0.0025, optimizer_options={"beta_1": 0.5}, batch_size=100),
        export_endpoint="the generator: noise [N, z] -> voxel occupancy [N, G, G, G, 1] in the data's range (0..1)",
        notes=(
            "G 200 → 4³×512 → 8³×256 → 16³×128 → 32³×64 → 64³×1 (4×4×4 transposed convs, BN + ReLU); D mirrored with "
            "LeakyReLU 0.2. D's learning rate = 0.004 × G's (1e-5 vs 0.0025) and D is updated only while its batch accuracy "
            "is below 80 % (a skipped update restores D's weights; Adam's moments see a zero gradient). Output tanh mapped "
            "onto [0, 1] instead of the paper's sigmoid (same parameters); z ~ U[-1, 1] instead of U[0, 1] (a shift). "
            "Trained on embedded voxel primitives (16³ default), not ShapeNet."
        ),
    )
)

register(
    ModelSpec(
        name="vae_gan_3d",
        family="generative",
        task="generative",
        builder=VAEGAN3D,
        canonical_config=dict(input_shape=(64, 64, 64, 1), image_shape=(256, 256, 3), latent_dim=200),
        tiny_config=dict(
            input_shape=(8, 8, 8, 1), image_shape=(16, 16, 1), latent_dim=8, generator_filters=(8,), discriminator_filters=(8,),
            encoder_convs=((8, 3, 4),), d_learning_rate_scale=1.0, reconstruction_weight=0.01,
        ),
        paper=_WU_PAPER + " §3.2",
        seeds=("003",),
        default_dataset="voxel_image_pairs",
        example_batch=_vae_gan_batch,
        inputs=_NOISE_IN,
        outputs=_VOXEL_OUT,
        train_recipe=dict(optimizer="adam", learning_rate=0.0025, optimizer_options={"beta_1": 0.5}, batch_size=100),
        export_endpoint="the generator: noise [N, z] -> voxels [N, G, G, G, 1]; image -> shape is model.reconstruct(images) (in Python)",
        notes=(
            "Image encoder of 5 convs (64@11/4, 128@5/2, 256@5/2, 512@5/2, 400@8/1; BN + ReLU) → μ, log σ² (200) → "
            "reparameterised z → the 3D-GAN generator; L = L_3D-GAN + α1·KL + α2·Σ(G(E(y)) − x)², α1 = 5, α2 = 1e-4 (the "
            "paper's). Trains on voxel_image_pairs: fit(voxels, depth images of the same shapes). The exported endpoint is "
            "the generator (the task's convention); the image → voxel path is model.reconstruct. The same G/D training "
            "tricks as gan_3d."
        ),
    )
)
