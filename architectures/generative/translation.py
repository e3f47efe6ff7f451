"""Image-to-image translation (spec §2 G): Pix2Pix (paired) and CycleGAN (unpaired).

References:
    pix2pix   Isola, Zhu, Zhou & Efros 2017, "Image-to-image translation with conditional adversarial
              networks", CVPR. U-Net-256 generator (encoder C64-C128-C256-C512-C512-C512-C512-C512,
              4×4 stride-2 convs, LeakyReLU 0.2, BN except the first and the innermost; mirrored
              decoder of transposed convs, dropout 0.5 in the first three decoder blocks, skip
              concatenation, tanh); 70×70 PatchGAN D (C64-C128-C256-C512, then a 1-channel conv: a
              30×30 grid at 256×256) on the input concatenated with the real or generated target;
              L = L_cGAN + λ·L1, λ = 100; Adam 2e-4, β1 = 0.5.
    cyclegan  Zhu, Park, Isola & Efros 2017, "Unpaired image-to-image translation using
              cycle-consistent adversarial networks", ICCV. ResNet generator c7s1-64, d128, d256,
              9×R256, u128, u64, c7s1-3 with instance norm (no affine parameters, as the reference
              code) and reflection padding: 11,378,179 parameters at 256×256; 70×70 PatchGAN D with
              instance norm; LSGAN losses; λ_cyc = 10 (L1), identity weight 0.5·λ_cyc.

`ImageTranslator` is the shared base of every image-to-image model of this project (also the
super-resolution, style-transfer and intrinsic-decomposition models): a functional model whose
call is the export endpoint (named inputs → dict of named outputs, pixels 0..255 in and out), its
own `train_step` with the generator's optimiser (`model.optimizer`) and, where it has
discriminators, a second one (`d_optimizer`, in `extra_optimizers` so that checkpoints keep it).
The losses live in `tasks/` (`tasks.generative` adversarial losses, `tasks.image_to_image`
perceptual ones).
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.generative.dcgan import _clone_optimizer, _regularization
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.generative import (
    discriminator_loss,
    generator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
)

# Isola et al.'s U-Net-256 encoder widths and the 70×70 PatchGAN's (n_layers = 3).
UNET_256_FILTERS = (64, 128, 256, 512, 512, 512, 512, 512)
PATCHGAN_70_FILTERS = (64, 128, 256, 512)
# Zhu et al.'s ResNet generator for 256×256 images: c7s1-64, two downsamplings, 9 residual blocks.
CYCLEGAN_RESIDUAL_BLOCKS = 9


# --- blocks ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by `padding` pixels, mirroring the image (no edge repeat)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        grow = lambda d: None if d is None else d + 2 * self.padding
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="deepzoo")
class InstanceNormalization(keras.layers.Layer):
    """Instance normalisation (Ulyanov et al. 2016): per-sample, per-channel mean and variance over
    height and width; optional affine γ, β (`affine`). Equal to GroupNormalization(groups=-1) with
    fewer ops (the XLA compile of the CycleGAN step is a third shorter)."""

    def __init__(self, epsilon=1e-5, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.affine = bool(affine)

    def build(self, input_shape):
        if self.affine:
            self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

    def call(self, inputs):
        mean, variance = ops.moments(inputs, axes=(1, 2), keepdims=True)
        outputs = (inputs - mean) * ops.rsqrt(variance + self.epsilon)
        return outputs * self.gamma + self.beta if self.affine else outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


def instance_norm(name, affine=False):
    """Instance normalisation; no affine parameters by default, as the CycleGAN / Johnson reference code."""
    return InstanceNormalization(affine=affine, name=name)


def initializer(seed, index):
    """N(0, 0.02), the pix2pix/CycleGAN initialisation; a distinct seed per layer."""
    return keras.initializers.RandomNormal(0.0, 0.02, seed=None if seed is None else seed + index)


def pixels_to_unit(low=0.0, high=255.0, name="from_pixels"):
    return keras.layers.Rescaling(2.0 / (high - low), offset=-(high + low) / (high - low), name=name)


def unit_to_pixels(low=0.0, high=255.0, name="to_pixels"):
    return keras.layers.Rescaling((high - low) / 2.0, offset=(high + low) / 2.0, name=name)


def patchgan_discriminator(input_shape, filters=PATCHGAN_70_FILTERS, norm="batch", seed=None, name="discriminator"):
    """The PatchGAN (Isola et al. 2017, n_layers = len(filters) − 1): 4×4 convs, stride 2 but the
    last two, LeakyReLU 0.2, normalisation except the first, then a 1-channel 4×4 conv: a grid of
    per-patch logits. Stride-1 layers pad by 1 and convolve `valid` (the reference's padding 1), so
    a 256×256 input gives the 30×30 grid and each logit sees a 70×70 patch (70 = receptive field)."""
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = inputs
    for index, width in enumerate(filters):
        stride = 2 if index < len(filters) - 1 else 1
        normalised = index > 0
        if stride == 1:
            x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad{index}")(x)
        x = keras.layers.Conv2D(
            width, 4, strides=stride, padding="same" if stride == 2 else "valid", use_bias=not (normalised and norm == "batch"),
            kernel_initializer=initializer(seed, index), name=f"{name}_conv{index}",
        )(x)
        if normalised:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{index}")(x) if norm == "batch" else instance_norm(f"{name}_in{index}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu{index}")(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad_out")(x)
    logits = keras.layers.Conv2D(1, 4, padding="valid", kernel_initializer=initializer(seed, 99), name=f"{name}_logits")(x)
    return keras.Model(inputs, logits, name=name)


def receptive_field(network):
    """Receptive field (pixels) of one output of a stack of convolutions: r ← r·s + (k − s), last layer first."""
    field = 1
    for layer in reversed(network.layers):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            kernel = layer.kernel_size[0] if hasattr(layer, "kernel_size") else layer.pool_size[0]
            stride = layer.strides[0]
            field = field * stride + (kernel - stride)
    return field


def unet_generator(input_shape, filters=UNET_256_FILTERS, output_channels=3, dropout=0.5, dropout_blocks=3, seed=None, name="generator"):
    """Isola et al.'s U-Net: len(filters) stride-2 down blocks, mirrored up blocks with skips, tanh."""
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = inputs
    skips = []
    depth = len(filters)
    for index, width in enumerate(filters):
        if index > 0:
            x = keras.layers.LeakyReLU(0.2, name=f"{name}_down{index}_lrelu")(x)
        normalised = 0 < index < depth - 1  # not the outermost, not the innermost (reference code)
        x = keras.layers.Conv2D(width, 4, strides=2, padding="same", use_bias=False, kernel_initializer=initializer(seed, index), name=f"{name}_down{index}_conv")(x)
        if normalised:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_down{index}_bn")(x)
        skips.append(x)
    for step, index in enumerate(range(depth - 2, -1, -1)):
        x = keras.layers.ReLU(name=f"{name}_up{step}_relu")(x)
        x = keras.layers.Conv2DTranspose(filters[index], 4, strides=2, padding="same", use_bias=False, kernel_initializer=initializer(seed, 100 + step), name=f"{name}_up{step}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_up{step}_bn")(x)
        if step < dropout_blocks and dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_up{step}_dropout")(x)
        x = keras.layers.Concatenate(name=f"{name}_skip{step}")([x, skips[index]])
    x = keras.layers.ReLU(name=f"{name}_out_relu")(x)
    x = keras.layers.Conv2DTranspose(output_channels, 4, strides=2, padding="same", kernel_initializer=initializer(seed, 199), name=f"{name}_out_conv")(x)
    return keras.Model(inputs, keras.layers.Activation("tanh", name=f"{name}_tanh")(x), name=name)


def resnet_generator(input_shape, filters=64, residual_blocks=CYCLEGAN_RESIDUAL_BLOCKS, downsamplings=2, output_channels=3, seed=None, name="generator"):
    """Zhu et al.'s ResNet generator: c7s1-f, d2f, d4f, R4f × blocks, u2f, uf, c7s1-3, tanh (instance norm, reflection padding)."""
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = ReflectionPadding2D(3, name=f"{name}_pad_in")(inputs)
    x = keras.layers.Conv2D(filters, 7, kernel_initializer=initializer(seed, 0), name=f"{name}_c7s1")(x)
    x = keras.layers.ReLU(name=f"{name}_c7s1_relu")(instance_norm(f"{name}_c7s1_in")(x))
    width = filters
    for index in range(downsamplings):
        width *= 2
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", kernel_initializer=initializer(seed, 1 + index), name=f"{name}_d{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_d{index}_relu")(instance_norm(f"{name}_d{index}_in")(x))
    for block in range(residual_blocks):
        shortcut = x
        for part in range(2):
            x = ReflectionPadding2D(1, name=f"{name}_r{block}_pad{part}")(x)
            x = keras.layers.Conv2D(width, 3, kernel_initializer=initializer(seed, 10 + 2 * block + part), name=f"{name}_r{block}_conv{part}")(x)
            x = instance_norm(f"{name}_r{block}_in{part}")(x)
            if part == 0:
                x = keras.layers.ReLU(name=f"{name}_r{block}_relu")(x)
        x = keras.layers.Add(name=f"{name}_r{block}_add")([shortcut, x])
    for index in range(downsamplings):
        width //= 2
        x = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same", kernel_initializer=initializer(seed, 80 + index), name=f"{name}_u{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_u{index}_relu")(instance_norm(f"{name}_u{index}_in")(x))
    x = ReflectionPadding2D(3, name=f"{name}_pad_out")(x)
    x = keras.layers.Conv2D(output_channels, 7, kernel_initializer=initializer(seed, 99), name=f"{name}_c7s1_out")(x)
    return keras.Model(inputs, keras.layers.Activation("tanh", name=f"{name}_tanh")(x), name=name)


# --- the shared image-to-image model ---------------------------------------------------------------


class ImageTranslator(ZooModel):
    """Base of the image-to-image models: own `train_step`, one or two optimisers, loss trackers.

    Subclasses call `_setup(...)` after `super().__init__(inputs, outputs)` and implement
    `_objectives(x, y, training)` -> (generator loss, discriminator loss or None, {part: value})."""

    target_keys = ("generated",)
    paired = True

    def _setup(self, generator_networks, discriminator_networks=(), tracked=("loss",), value_range=(0.0, 255.0)):
        """`generator_networks` None: the whole model is what the optimiser trains (no discriminator)."""
        self.trains_whole_model = generator_networks is None
        self.generator_networks = list(generator_networks or ())
        self.discriminator_networks = list(discriminator_networks)
        self.value_range = tuple(float(v) for v in value_range)
        self.from_pixels = pixels_to_unit(*self.value_range, name="loss_from_pixels")
        self.d_optimizer = None
        self.trackers = {key: keras.metrics.Mean(name=key) for key in tracked}

    # --- compile ------------------------------------------------------------------------------

    def compile(self, optimizer=None, d_optimizer=None, g_optimizer=None, loss=None, metrics=None, jit_compile="auto", **kwargs):
        """`optimizer` (or `g_optimizer`) trains the generator side; `d_optimizer` (default: a fresh
        copy of its config) the discriminators, where the model has any. Default Adam(2e-4, β1 = 0.5)."""
        if loss is not None or metrics:
            raise ValueError(f"{type(self).__name__} trains with its own losses and metrics. Received: loss={loss!r}, metrics={metrics!r}")
        if optimizer is not None and g_optimizer is not None:
            raise ValueError("Pass the generator's optimiser once, as optimizer or g_optimizer, not both.")
        optimizer = keras.optimizers.get(optimizer or g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if not optimizer.built:
            optimizer.build(self._generator_variables())
        if self.discriminator_networks:
            d_optimizer = keras.optimizers.get(d_optimizer or _clone_optimizer(optimizer, f"{optimizer.name}_discriminator"))
            if d_optimizer is optimizer:
                raise ValueError("optimizer and d_optimizer must be two instances: each keeps its own moments.")
            self.d_optimizer = d_optimizer
            if not d_optimizer.built:
                d_optimizer.build(self._discriminator_variables())

    @property
    def extra_optimizers(self):
        return (self.d_optimizer,) if self.d_optimizer is not None else ()

    def get_compile_config(self):
        if not self.compiled:
            return {}
        config = {"optimizer": keras.optimizers.serialize(self.optimizer)}
        if self.d_optimizer is not None:
            config["d_optimizer"] = keras.optimizers.serialize(self.d_optimizer)
        return config

    def compile_from_config(self, config):
        self.compile(
            optimizer=keras.optimizers.deserialize(config["optimizer"]),
            d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]) if "d_optimizer" in config else None,
        )

    def _generator_variables(self):
        if self.trains_whole_model:
            return self.trainable_variables
        return [v for network in self.generator_networks for v in network.trainable_variables]

    def _generator_regularization(self):
        if self.trains_whole_model:
            return _regularization(self)
        return sum(_regularization(n) for n in self.generator_networks)

    def _discriminator_variables(self):
        return [v for network in self.discriminator_networks for v in network.trainable_variables]

    # --- training -----------------------------------------------------------------------------

    @property
    def metrics(self):
        return list(self.trackers.values())

    @staticmethod
    def _unpack(data):
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def train_step(self, data):
        """One forward pass of every network, then one update of the generators (against D before
        its update) and one of the discriminators (on the same, stopped, generated images): the
        order of the CycleGAN/pix2pix reference code's G step and D step on one forward()."""
        import tensorflow as tf

        x, y = self._unpack(data)
        g_variables, d_variables = self._generator_variables(), self._discriminator_variables()
        with tf.GradientTape(persistent=bool(d_variables)) as tape:
            loss, d_loss, logs = self._objectives(x, y, training=True)
            total = loss + self._generator_regularization()
            if d_variables:
                d_total = d_loss + sum(_regularization(n) for n in self.discriminator_networks)
        self.optimizer.apply_gradients(zip(tape.gradient(total, g_variables), g_variables))
        if d_variables:
            self.d_optimizer.apply_gradients(zip(tape.gradient(d_total, d_variables), d_variables))
            logs["d_loss"] = d_loss
        del tape
        return self._update_trackers(loss=loss, **logs)

    def test_step(self, data):
        x, y = self._unpack(data)
        loss, d_loss, logs = self._objectives(x, y, training=False)
        if d_loss is not None:
            logs["d_loss"] = d_loss
        return self._update_trackers(loss=loss, **logs)

    def _update_trackers(self, **values):
        for key, value in values.items():
            if key in self.trackers:
                self.trackers[key].update_state(value)
        return {key: tracker.result() for key, tracker in self.trackers.items()}


def _pixels(model, images):
    return model.from_pixels(ops.cast(images, model.compute_dtype))


# --- Pix2Pix --------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Pix2Pix(ImageTranslator):
    """Pix2Pix: `model(images)` → {"generated": translated}; `fit(inputs, targets)` trains the U-Net G
    (cGAN + λ·L1) and the PatchGAN D on (input, target) vs (input, G(input)) pairs.

    Args:
        input_shape: (H, W, C) of the input images; H and W multiples of 2 ** len(generator_filters).
        output_channels: channels of the translated image.
        generator_filters: U-Net encoder widths (the decoder mirrors them).
        discriminator_filters: PatchGAN widths; 4 layers = the 70×70 PatchGAN.
        dropout / dropout_blocks: dropout rate in the first `dropout_blocks` decoder blocks.
        l1_weight: λ of the L1 term.
        seed: initialiser seed.
    """

    def __init__(
        self, input_shape=(256, 256, 3), output_channels=3, generator_filters=UNET_256_FILTERS, discriminator_filters=PATCHGAN_70_FILTERS,
        dropout=0.5, dropout_blocks=3, l1_weight=100.0, seed=None, name="pix2pix", **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        factor = 2 ** len(generator_filters)
        if len(input_shape) != 3 or input_shape[0] % factor or input_shape[1] % factor:
            raise ValueError(f"Pix2Pix needs (H, W, C) with H and W multiples of {factor}. Received: input_shape={input_shape}")
        generator = unet_generator(input_shape, tuple(generator_filters), int(output_channels), float(dropout), int(dropout_blocks), seed)
        discriminator = patchgan_discriminator((*input_shape[:2], input_shape[2] + int(output_channels)), tuple(discriminator_filters), "batch", seed, "discriminator")
        inputs = keras.Input(input_shape, name="images")
        outputs = unit_to_pixels()(generator(pixels_to_unit()(inputs)))
        super().__init__(inputs=inputs, outputs={"generated": outputs}, name=name, **kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.l1_weight = float(l1_weight)
        self._setup([generator], [discriminator], ("loss", "d_loss", "g_adversarial", "l1"))

    def _objectives(self, x, y, training=True):
        source, target = _pixels(self, x), _pixels(self, y)
        fake = self.generator(source, training=training)
        real_logits = self.discriminator(ops.concatenate([source, target], axis=-1), training=training)
        fake_logits = self.discriminator(ops.concatenate([source, fake], axis=-1), training=training)
        stopped_logits = self.discriminator(ops.concatenate([source, ops.stop_gradient(fake)], axis=-1), training=training)
        adversarial = generator_loss(fake_logits)
        l1 = ops.mean(ops.abs(fake - target))
        d_loss = discriminator_loss(real_logits, stopped_logits)
        return adversarial + self.l1_weight * l1, d_loss, {"g_adversarial": adversarial, "l1": l1}


# --- CycleGAN -------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class CycleGAN(ImageTranslator):
    """CycleGAN: `model(images of A)` → {"generated": G(a) in B, "reconstruction": F(G(a))};
    `fit(a_images, b_images)` (unpaired batches) trains G: A → B, F: B → A and D_A, D_B with the
    LSGAN losses, λ_cyc·(‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁) and the identity term
    identity_weight·λ_cyc·(‖G(b) − b‖₁ + ‖F(a) − a‖₁).

    Args:
        input_shape: (H, W, C); H and W multiples of 2 ** downsamplings.
        filters: the first layer's width (c7s1-64).
        residual_blocks: 9 at 256×256 (6 at 128×128 in the paper).
        downsamplings: stride-2 stages (2).
        discriminator_filters: PatchGAN widths.
        cycle_weight: λ_cyc; identity_weight: the identity term's weight relative to λ_cyc.
        seed: initialiser seed.
    """

    target_keys = ("generated",)
    paired = False

    def __init__(
        self, input_shape=(256, 256, 3), filters=64, residual_blocks=CYCLEGAN_RESIDUAL_BLOCKS, downsamplings=2,
        discriminator_filters=PATCHGAN_70_FILTERS, cycle_weight=10.0, identity_weight=0.5, seed=None, name="cyclegan", **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        factor = 2 ** int(downsamplings)
        if len(input_shape) != 3 or input_shape[0] % factor or input_shape[1] % factor:
            raise ValueError(f"CycleGAN needs (H, W, C) with H and W multiples of {factor}. Received: input_shape={input_shape}")
        offset = lambda k: None if seed is None else seed + 1000 * k
        make_g = lambda k, name: resnet_generator(input_shape, int(filters), int(residual_blocks), int(downsamplings), input_shape[2], offset(k), name)
        g_ab, g_ba = make_g(0, "generator_ab"), make_g(1, "generator_ba")
        d_a = patchgan_discriminator(input_shape, tuple(discriminator_filters), "instance", offset(2), "discriminator_a")
        d_b = patchgan_discriminator(input_shape, tuple(discriminator_filters), "instance", offset(3), "discriminator_b")
        inputs = keras.Input(input_shape, name="images")
        translated = g_ab(pixels_to_unit()(inputs))
        to_pixels = unit_to_pixels()
        super().__init__(inputs=inputs, outputs={"generated": to_pixels(translated), "reconstruction": to_pixels(g_ba(translated))}, name=name, **kwargs)
        self.generator, self.generator_ba = g_ab, g_ba
        self.discriminator, self.discriminator_a = d_b, d_a
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)
        self._setup([g_ab, g_ba], [d_a, d_b], ("loss", "d_loss", "g_adversarial", "cycle", "identity"))

    def _objectives(self, x, y, training=True):
        a, b = _pixels(self, x), _pixels(self, y)
        fake_b = self.generator(a, training=training)
        fake_a = self.generator_ba(b, training=training)
        adversarial = least_squares_generator_loss(self.discriminator(fake_b, training=training)) + least_squares_generator_loss(
            self.discriminator_a(fake_a, training=training)
        )
        cycle = ops.mean(ops.abs(self.generator_ba(fake_b, training=training) - a)) + ops.mean(ops.abs(self.generator(fake_a, training=training) - b))
        identity = ops.mean(ops.abs(self.generator(b, training=training) - b)) + ops.mean(ops.abs(self.generator_ba(a, training=training) - a))
        loss = adversarial + self.cycle_weight * cycle + self.identity_weight * self.cycle_weight * identity
        d_loss = least_squares_discriminator_loss(
            self.discriminator(b, training=training), self.discriminator(ops.stop_gradient(fake_b), training=training)
        ) + least_squares_discriminator_loss(self.discriminator_a(a, training=training), self.discriminator_a(ops.stop_gradient(fake_a), training=training))
        return loss, d_loss, {"g_adversarial": adversarial, "cycle": cycle, "identity": identity}


# --- registration ---------------------------------------------------------------------------------

_IMAGE_IO = dict(inputs=(TensorSpec("images", (None, None, 3)),), outputs=(TensorSpec("generated", (None, None, 3)),))

register(
    ModelSpec(
        name="pix2pix",
        family="generative",
        task="image_to_image",
        builder=Pix2Pix,
        canonical_config=dict(input_shape=(256, 256, 3)),
        tiny_config=dict(input_shape=(16, 16, 3), generator_filters=(8, 16), discriminator_filters=(8,), seed=1),
        reference_params=57_194_308,
        reference_source="B: U-Net-256 G 54,423,811 + 70×70 PatchGAN D 2,770,497 (BN moving statistics included; trainable 54,413,955 + 2,768,705 ≈ the paper's 54.4 M + 2.77 M)",
        paper="Isola, Zhu, Zhou & Efros 2017, CVPR",
        seeds=("003",),
        default_dataset="edges2shapes",
        train_recipe=dict(optimizer="adam", learning_rate=2e-4, beta_1=0.5, batch_size=1),
        notes=(
            "Dropout in the first three decoder blocks (the paper's CD512 blocks); at inference and in exports dropout is "
            "off (the paper keeps it on as noise). D sees the input concatenated with the real or generated target."
        ),
        **_IMAGE_IO,
    )
)

register(
    ModelSpec(
        name="cyclegan",
        family="generative",
        task="image_to_image",
        builder=CycleGAN,
        canonical_config=dict(input_shape=(256, 256, 3)),
        tiny_config=dict(input_shape=(16, 16, 3), filters=4, residual_blocks=1, downsamplings=1, discriminator_filters=(8,), seed=1),
        reference_params=28_285_832,
        reference_source="B: two ResNet generators of 11,378,179 each + two 70×70 instance-norm PatchGANs of 2,764,737 each",
        paper="Zhu, Park, Isola & Efros 2017, ICCV",
        seeds=("003", "004"),
        default_dataset="solid2striped",
        train_recipe=dict(optimizer="adam", learning_rate=2e-4, beta_1=0.5, batch_size=1),
        notes=(
            "LSGAN losses with Mao et al.'s ½ factors (the reference code uses plain MSE: the same minimiser). The history buffer "
            "of 50 generated images is not implemented: D trains on the current batch's translations. The export endpoint "
            "gives G(a) and the cycle F(G(a))."
        ),
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("generated", (None, None, 3)), TensorSpec("reconstruction", (None, None, 3))),
    )
)
