"""DCGAN: deep convolutional generative adversarial network.

Reference: Radford, Metz & Chintala, "Unsupervised representation learning with deep convolutional
generative adversarial networks", ICLR 2016 (arXiv 1511.06434), and the authors' code
(github.com/Newmu/dcgan_code, `faces/train_uncond_dcgan.py`, the 64×64 model also used for LSUN).

Generator (Figure 1): z ∈ R^100, uniform in [-1, 1] → project (a dense layer without bias) to
4·4·1024 → BatchNorm → ReLU → reshape 4×4×1024 → three fractionally strided (transposed) 5×5
stride-2 convolutions to 8×8×512, 16×16×256, 32×32×128, each BatchNorm + ReLU → a last transposed
conv to 64×64×3 → tanh. No pooling, no hidden fully connected layer, no biases (BatchNorm's shift
replaces them; the output layer has none in the reference code either).

Discriminator, mirrored: 5×5 stride-2 convolutions 128 → 256 → 512 → 1024 with LeakyReLU 0.2,
BatchNorm on all but the first; flatten → one logit (sigmoid = P(real)). Spec §9 row 27: one
sigmoid output, not "2 output neurons".

Training (§4 of the paper): weights N(0, 0.02) (BatchNorm gains N(1, 0.02) in the reference code),
Adam lr 2e-4, β1 = 0.5, batch 128; each step updates D on a real and a generated batch, then G
with fresh noise, with the non-saturating generator loss (spec §9 row 28; `tasks.generative`). The networks and
losses are pure `keras.ops`; the two-optimiser `train_step` uses `tf.GradientTape` (the project's
TensorFlow backend).

Pixels: the model takes and returns the data's own range (`value_range`, 0..255 for the embedded
image sets): real images are mapped to [-1, 1] before D, and the generator's tanh output is mapped
back (deterministic rescaling inside the model, as deepzoo requires). `model(noise)` returns images
in the data's range; `model.generator` gives the tanh output, `model.discriminator` the logit.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.generative import GENERATOR_LOSS_FORMS, LATENT_PRIORS, discriminator_loss, generator_loss

# Feature maps of the 64×64 model (Figure 1; ngf = ndf = 128 in the reference code).
DCGAN_GENERATOR_FILTERS = (1024, 512, 256, 128)
DCGAN_DISCRIMINATOR_FILTERS = (128, 256, 512, 1024)
# BatchNorm of the projection: per unit of the 4·4·1024 vector as in the reference code
# (`batchnorm(T.dot(Z, w))` before the reshape), or per channel after it (the PyTorch example).
PROJECTION_NORMS = ("units", "channels")


def _initializer(stddev, seed, index, mean=0.0):
    # A distinct seed per layer: one seeded initialiser reused would give equal tensors.
    return keras.initializers.RandomNormal(mean=mean, stddev=stddev, seed=None if seed is None else seed + index)


def _batchnorm(name, momentum, stddev, seed, index):
    return keras.layers.BatchNormalization(
        momentum=momentum, gamma_initializer=_initializer(stddev, seed, index, mean=1.0), name=name
    )


def _generator(latent_dim, image_shape, filters, kernel_size, projection_norm, momentum, stddev, seed):
    height, width, channels = image_shape
    scale = 2 ** len(filters)
    base_height, base_width = height // scale, width // scale
    noise = keras.Input((latent_dim,), name="noise")
    x = keras.layers.Dense(
        base_height * base_width * filters[0], use_bias=False, kernel_initializer=_initializer(stddev, seed, 0), name="project"
    )(noise)
    if projection_norm == "units":
        x = _batchnorm("project_bn", momentum, stddev, seed, 1)(x)
        x = keras.layers.ReLU(name="project_relu")(x)
        x = keras.layers.Reshape((base_height, base_width, filters[0]), name="reshape")(x)
    else:
        x = keras.layers.Reshape((base_height, base_width, filters[0]), name="reshape")(x)
        x = _batchnorm("project_bn", momentum, stddev, seed, 1)(x)
        x = keras.layers.ReLU(name="project_relu")(x)
    for index, width_out in enumerate((*filters[1:], channels), start=1):
        x = keras.layers.Conv2DTranspose(
            width_out,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=_initializer(stddev, seed, 2 * index),
            name=f"up{index}",
        )(x)
        if index < len(filters):
            x = _batchnorm(f"up{index}_bn", momentum, stddev, seed, 2 * index + 1)(x)
            x = keras.layers.ReLU(name=f"up{index}_relu")(x)
    images = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(noise, images, name="generator")


def _discriminator(image_shape, filters, kernel_size, leaky_slope, momentum, stddev, seed):
    offset = 100  # seeds distinct from the generator's
    images = keras.Input(image_shape, name="images")
    x = images
    for index, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            width,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=_initializer(stddev, seed, offset + 2 * index),
            name=f"down{index}",
        )(x)
        if index > 1:  # no BatchNorm on the input layer (§3 of the paper)
            x = _batchnorm(f"down{index}_bn", momentum, stddev, seed, offset + 2 * index + 1)(x)
        x = keras.layers.LeakyReLU(negative_slope=leaky_slope, name=f"down{index}_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logit = keras.layers.Dense(1, use_bias=False, kernel_initializer=_initializer(stddev, seed, offset), name="logit")(x)
    return keras.Model(images, logit, name="discriminator")


def _clone_optimizer(optimizer, name):
    config = keras.optimizers.serialize(optimizer)
    config["config"]["name"] = name
    return keras.optimizers.deserialize(config)


@keras.saving.register_keras_serializable(package="deepzoo")
class DCGAN(ZooModel):
    """A DCGAN: `model(noise)` → images; `fit(images)` trains D and G by their own optimisers.

    Args:
        input_shape: (height, width, channels) of the images (the discriminator's input and the
            generator's output); height and width must be multiples of 2 ** len(generator_filters).
        latent_dim: size of z (100 in the paper).
        generator_filters: feature maps after the projection and after each transposed conv but
            the last (which outputs `channels`); the projection is to (H, W) / 2 ** len(filters).
        discriminator_filters: feature maps of the strided convolutions.
        kernel_size: 5 in the paper's code; 4 in the common PyTorch variant.
        projection_norm: "units" (reference code) or "channels" (BatchNorm after the reshape).
        latent_prior: "uniform" in [-1, 1] (the paper) or "normal".
        value_range: (low, high) of the data's pixels; the generator's tanh range maps onto it.
        leaky_slope: LeakyReLU slope of the discriminator.
        init_stddev: standard deviation of the N(0, σ) weight initialisation.
        batchnorm_momentum: moving-average momentum (0.9 = PyTorch's 0.1; the reference code
            normalised with batch statistics only, so the paper has no value).
        generator_loss: "non_saturating" (default, spec §9 row 28) or "minimax".
        seed: initialiser seed (None: Keras' global RNG, see keras.utils.set_random_seed).
    """

    def __init__(
        self,
        input_shape=(64, 64, 3),
        latent_dim=100,
        generator_filters=DCGAN_GENERATOR_FILTERS,
        discriminator_filters=DCGAN_DISCRIMINATOR_FILTERS,
        kernel_size=5,
        projection_norm="units",
        latent_prior="uniform",
        value_range=(0.0, 255.0),
        leaky_slope=0.2,
        init_stddev=0.02,
        batchnorm_momentum=0.9,
        generator_loss="non_saturating",
        seed=None,
        name="dcgan",
        **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        generator_filters = tuple(int(f) for f in generator_filters)
        discriminator_filters = tuple(int(f) for f in discriminator_filters)
        for option, value, allowed in (
            ("projection_norm", projection_norm, PROJECTION_NORMS),
            ("latent_prior", latent_prior, LATENT_PRIORS),
            ("generator_loss", generator_loss, GENERATOR_LOSS_FORMS),
        ):
            if value not in allowed:
                raise ValueError(f"{option} must be one of {allowed}. Received: {option}={value!r}")
        scale = 2 ** len(generator_filters)
        if len(input_shape) != 3 or not generator_filters or input_shape[0] % scale or input_shape[1] % scale:
            raise ValueError(
                f"input_shape must be (height, width, channels) with height and width multiples of 2 ** "
                f"len(generator_filters) = {scale}. Received: input_shape={input_shape}, generator_filters={generator_filters}"
            )
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low. Received: value_range={value_range}")

        generator = _generator(
            latent_dim, input_shape, generator_filters, kernel_size, projection_norm, batchnorm_momentum, init_stddev, seed
        )
        discriminator = _discriminator(
            input_shape, discriminator_filters, kernel_size, leaky_slope, batchnorm_momentum, init_stddev, seed
        )
        noise = keras.Input((latent_dim,), name="noise")
        # tanh range [-1, 1] -> the data's pixel range.
        to_pixels = keras.layers.Rescaling((high - low) / 2.0, offset=(high + low) / 2.0, name="to_pixels")
        super().__init__(inputs=noise, outputs=to_pixels(generator(noise)), name=name, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        # The data's pixel range -> [-1, 1], for real images entering the discriminator.
        self.from_pixels = keras.layers.Rescaling(2.0 / (high - low), offset=-(high + low) / (high - low), name="from_pixels")
        self.latent_dim = int(latent_dim)
        self.latent_prior = latent_prior
        self.value_range = (low, high)
        self.generator_loss_form = generator_loss
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.d_optimizer = None
        self.trackers = {
            key: keras.metrics.Mean(name=key) for key in ("d_loss", "g_loss", "d_real", "d_fake")
        }

    # --- compile ------------------------------------------------------------------------------

    def compile(self, g_optimizer=None, d_optimizer=None, optimizer=None, loss=None, metrics=None, jit_compile="auto", **kwargs):
        """Two optimisers: `g_optimizer` (also `model.optimizer`, what LR callbacks see) and
        `d_optimizer`. Defaults: the paper's Adam(2e-4, β1 = 0.5); a missing `d_optimizer` is a
        fresh copy of `g_optimizer`'s config. `optimizer=` is accepted as `g_optimizer`."""
        if loss is not None or metrics:
            raise ValueError(
                f"DCGAN trains with its own adversarial losses and metrics. Received: loss={loss!r}, metrics={metrics!r}"
            )
        if optimizer is not None and g_optimizer is not None:
            raise ValueError("Pass the generator's optimiser once, as g_optimizer or optimizer, not both.")
        g_optimizer = keras.optimizers.get(g_optimizer or optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        if d_optimizer is None:
            d_optimizer = _clone_optimizer(g_optimizer, f"{g_optimizer.name}_discriminator")
        d_optimizer = keras.optimizers.get(d_optimizer)
        if d_optimizer is g_optimizer:
            raise ValueError("g_optimizer and d_optimizer must be two instances: each keeps its own moments.")
        super().compile(optimizer=g_optimizer, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = d_optimizer
        # Built now, each on its own network: fit must not build model.optimizer on D's weights
        # too, and BackupAndRestore / load_model restore the slots into existing variables.
        if not g_optimizer.built:
            g_optimizer.build(self.generator.trainable_variables)
        if not d_optimizer.built:
            d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def extra_optimizers(self):
        """Optimisers besides `model.optimizer` whose state belongs to a training run."""
        return (self.d_optimizer,) if self.d_optimizer is not None else ()

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "g_optimizer": keras.optimizers.serialize(self.optimizer),
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(
            g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
            d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
        )

    # --- training -----------------------------------------------------------------------------

    @property
    def metrics(self):
        return list(self.trackers.values())

    def sample_noise(self, batch_size):
        shape = (batch_size, self.latent_dim)
        if self.latent_prior == "uniform":
            return keras.random.uniform(shape, -1.0, 1.0, seed=self.noise_seed)
        return keras.random.normal(shape, seed=self.noise_seed)

    def _real_images(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        return self.from_pixels(ops.cast(images, self.compute_dtype))

    def train_step(self, data):
        import tensorflow as tf

        real = self._real_images(data)
        batch_size = ops.shape(real)[0]
        discriminator_variables = self.discriminator.trainable_variables
        generator_variables = self.generator.trainable_variables

        # 1. The discriminator ascends log D(x) + log(1 − D(G(z))): generated images are inputs here.
        fake = ops.stop_gradient(self.generator(self.sample_noise(batch_size), training=True))
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(real_logits, fake_logits)
            d_total = d_loss + _regularization(self.discriminator)
        if discriminator_variables:  # a frozen network (trainable = False) is not updated
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_total, discriminator_variables), discriminator_variables))

        # 2. The generator, against the updated discriminator, on a fresh noise batch.
        with tf.GradientTape() as tape:
            logits = self.discriminator(self.generator(self.sample_noise(batch_size), training=True), training=True)
            g_loss = generator_loss(logits, self.generator_loss_form)
            g_total = g_loss + _regularization(self.generator)
        if generator_variables:
            self.optimizer.apply_gradients(zip(tape.gradient(g_total, generator_variables), generator_variables))
        return self._update_trackers(d_loss, g_loss, real_logits, fake_logits)

    def test_step(self, data):
        real = self._real_images(data)
        fake = self.generator(self.sample_noise(ops.shape(real)[0]), training=False)
        real_logits = self.discriminator(real, training=False)
        fake_logits = self.discriminator(fake, training=False)
        d_loss = discriminator_loss(real_logits, fake_logits)
        g_loss = generator_loss(fake_logits, self.generator_loss_form)
        return self._update_trackers(d_loss, g_loss, real_logits, fake_logits)

    def _update_trackers(self, d_loss, g_loss, real_logits, fake_logits):
        self.trackers["d_loss"].update_state(d_loss)
        self.trackers["g_loss"].update_state(g_loss)
        # Mean D(x) and D(G(z)): ½ and ½ at the equilibrium.
        self.trackers["d_real"].update_state(ops.mean(ops.sigmoid(real_logits)))
        self.trackers["d_fake"].update_state(ops.mean(ops.sigmoid(fake_logits)))
        return {key: tracker.result() for key, tracker in self.trackers.items()}


def _regularization(network):
    """Weight penalties added to the network's layers (e.g. by the trainer's l1/l2 options)."""
    return ops.sum(ops.stack(network.losses)) if network.losses else 0.0


register(
    ModelSpec(
        name="dcgan",
        family="generative",
        task="generative",
        builder=DCGAN,
        canonical_config=dict(input_shape=(64, 64, 3), latent_dim=100),
        tiny_config=dict(
            input_shape=(32, 32, 1),
            latent_dim=32,
            generator_filters=(64, 32, 16),
            discriminator_filters=(16, 32, 64),
        ),
        reference_params=36_118_528,
        reference_source=(
            "P (the authors' code, ngf = ndf = 128, 5×5 kernels: G 18,885,760 + D 17,232,768 trainable; "
            "count_params adds 38,144 BatchNorm moving statistics, 0.11 %)"
        ),
        paper="Radford, Metz & Chintala 2016, ICLR (arXiv 1511.06434)",
        seeds=("003",),
        default_dataset="digits",
        inputs=(TensorSpec("noise", (100,)),),
        outputs=(TensorSpec("images", (64, 64, 3)),),
        train_check="gan_steps",
        export_endpoint="the generator alone: noise [N, z] -> images [N, H, W, C] in the data's pixel range",
        train_recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=128, epochs=25),
        notes=(
            "Spec §9 row 29: only fractionally strided convolutions, no interpolation. Row 27: one "
            "sigmoid (logit) output for D. Row 28: non-saturating G loss throughout (generator_loss="
            "'minimax' for the original). The reference code alternates G and D updates on separate "
            "batches; here each batch makes one D step then one G step (Goodfellow et al.'s Algorithm 1 "
            "with k = 1, as in the PyTorch example). The spec's B figures (G 3,576,704, D 2,765,568) are the "
            "PyTorch variant: kernel_size=4, generator_filters=(512, 256, 128, 64), discriminator_filters="
            "(64, 128, 256, 512), projection_norm='channels'; tests/test_generative.py checks both."
        ),
    )
)
