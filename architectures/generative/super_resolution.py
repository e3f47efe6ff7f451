"""×4 single-image super-resolution (spec §2 G row `srgan`, ids `srresnet` and `srgan`).

Reference: Ledig et al. 2017, "Photo-realistic single image super-resolution using a generative
adversarial network", CVPR.
    SRResNet (the generator): 9×9 conv 64 + PReLU; 16 residual blocks (3×3 conv 64, BN, PReLU,
        3×3 conv 64, BN, add); 3×3 conv + BN + the long skip; two sub-pixel up-sampling stages
        (3×3 conv 256 → pixel shuffle ×2 → PReLU); 9×9 conv 3. 1,554,883 parameters with BN
        statistics (≈1.55 M, the paper's count). Trained alone with pixel MSE (`srresnet`).
        Initialisation: PReLU slopes 0.25 (He et al. 2015, the paper's PReLU) and ICNR for the
        sub-pixel convolutions (Aitken et al. 2017); without them the tiny benchmark model stayed
        ~2 dB below bicubic after the same number of steps.
    SRGAN: the same generator against D (eight 3×3 convs 64, 64, 128, 128, 256, 256, 512, 512,
        stride 2 on every second, BN after all but the first, LeakyReLU 0.2; Dense 1024, LeakyReLU,
        Dense 1); generator loss l = l_VGG/5.4 + 10⁻³·(−log D(G(x))) with l_VGG the MSE of loss-
        network features (the paper: VGG-19 relu5_4, features scaled by 1/12.75); D's loss the BCE.
The loss network is the project's own VGG-style stack (style_transfer.vgg_feature_network), no
download. The spec's correction (row 31 of §9) is followed: the content loss compares the
loss-network features of the SR and HR images.
"""

import keras
from keras import ops

from architectures.generative.style_transfer import VGG19_BLOCKS, vgg_feature_network
from architectures.generative.translation import (
    ImageTranslator,
    pixels_to_unit,
    unit_to_pixels,
)
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.generative import discriminator_loss, generator_loss
from tasks.image_to_image import feature_mse

SRGAN_DISCRIMINATOR_FILTERS = (64, 64, 128, 128, 256, 256, 512, 512)
FEATURE_SCALE = 1.0 / 12.75  # Ledig et al.: VGG features rescaled by 1/12.75


@keras.saving.register_keras_serializable(package="deepzoo")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel convolution's rearrangement (depth-to-space, Shi et al. 2016): [N, H, W, r²C] →
    [N, rH, rW, C] with out[h·r + i, w·r + j, c] = in[h, w, (i·r + j)·C + c] (TensorFlow's order).
    Written with 5-D transposes only (TFLite's limit)."""

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        r = self.factor
        height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3] // (r * r)
        x = ops.reshape(inputs, (-1, height, width, r, r * channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4))  # [N, H, r(i), W, r(j)·C]
        return ops.reshape(x, (-1, height * r, width * r, channels))

    def compute_output_shape(self, input_shape):
        r = self.factor
        scale = lambda d: None if d is None else d * r
        return (input_shape[0], scale(input_shape[1]), scale(input_shape[2]), input_shape[3] // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="deepzoo")
class ICNR(keras.initializers.Initializer):
    """ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"): the kernel of a
    conv followed by a ×`factor` pixel shuffle starts as one glorot-uniform sub-kernel repeated for
    the factor² sub-pixel positions, so that the shuffle's output starts as a nearest-neighbour
    up-sampling of one convolution (no checkerboard at initialisation). The channel order is
    PixelShuffle's: out channel (i·r + j)·C + c uses sub-kernel c."""

    def __init__(self, factor=2, seed=None):
        self.factor, self.seed = int(factor), seed

    def __call__(self, shape, dtype=None):
        copies = self.factor * self.factor
        if shape[-1] % copies:
            raise ValueError(f"ICNR needs output channels divisible by factor² = {copies}. Received: shape={tuple(shape)}")
        sub = keras.initializers.GlorotUniform(seed=self.seed)((*shape[:-1], shape[-1] // copies), dtype=dtype)
        return ops.tile(sub, (1,) * (len(shape) - 1) + (copies,))

    def get_config(self):
        return {"factor": self.factor, "seed": self.seed}


def _prelu(name):
    """PReLU with one slope per channel, initialised to 0.25 as He et al. 2015 (Keras' default is 0:
    a ReLU that drops the negative half of the colour signal at the start of training)."""
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)


def srresnet_generator(input_shape, filters=64, residual_blocks=16, upsamplings=2, output_channels=3, name="generator"):
    """SRResNet: LR in [-1, 1] → SR ×2^upsamplings in [-1, 1] (tanh)."""
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = _prelu(f"{name}_head_prelu")(keras.layers.Conv2D(filters, 9, padding="same", name=f"{name}_head")(inputs))
    skip = x
    for block in range(residual_blocks):
        shortcut = x
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_res{block}_conv0")(x)
        x = _prelu(f"{name}_res{block}_prelu")(keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_res{block}_bn0")(x))
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_res{block}_conv1")(x)
        x = keras.layers.Add(name=f"{name}_res{block}_add")([shortcut, keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_res{block}_bn1")(x)])
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_trunk_bn")(keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_trunk_conv")(x))
    x = keras.layers.Add(name=f"{name}_long_skip")([skip, x])
    for stage in range(upsamplings):
        x = keras.layers.Conv2D(filters * 4, 3, padding="same", kernel_initializer=ICNR(2), name=f"{name}_up{stage}_conv")(x)
        x = _prelu(f"{name}_up{stage}_prelu")(PixelShuffle(2, name=f"{name}_up{stage}_shuffle")(x))
    x = keras.layers.Conv2D(output_channels, 9, padding="same", name=f"{name}_tail")(x)
    return keras.Model(inputs, keras.layers.Activation("tanh", name=f"{name}_tanh")(x), name=name)


def srgan_discriminator(input_shape, filters=SRGAN_DISCRIMINATOR_FILTERS, dense_units=1024, name="discriminator"):
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = inputs
    for index, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, strides=1 + index % 2, padding="same", name=f"{name}_conv{index}")(x)
        if index > 0:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{index}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu{index}")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.LeakyReLU(0.2, name=f"{name}_dense_lrelu")(keras.layers.Dense(dense_units, name=f"{name}_dense")(x))
    return keras.Model(inputs, keras.layers.Dense(1, name=f"{name}_logit")(x), name=name)


def _check_shape(input_shape, model):
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"{model} needs the LR image shape (H, W, C). Received: input_shape={input_shape}")
    return input_shape


@keras.saving.register_keras_serializable(package="deepzoo")
class SRResNet(ImageTranslator):
    """SRResNet: `model(lr_images)` → {"generated": ×4 SR}; `fit(lr, hr)` minimises the pixel MSE.

    Args:
        input_shape: (h, w, C) of the LR images (pixels 0..255).
        filters: trunk width (64); residual_blocks: 16; upsamplings: ×2 pixel-shuffle stages (2 = ×4).
    """

    def __init__(self, input_shape=(24, 24, 3), filters=64, residual_blocks=16, upsamplings=2, name="srresnet", **kwargs):
        input_shape = _check_shape(input_shape, "SRResNet")
        generator = srresnet_generator(input_shape, int(filters), int(residual_blocks), int(upsamplings), input_shape[2])
        inputs = keras.Input(input_shape, name="images")
        super().__init__(inputs=inputs, outputs={"generated": unit_to_pixels()(generator(pixels_to_unit()(inputs)))}, name=name, **kwargs)
        self.generator = generator
        self._setup([generator], (), ("loss",))

    def _objectives(self, x, y, training=True):
        sr = self.generator(self.from_pixels(ops.cast(x, self.compute_dtype)), training=training)
        return ops.mean(ops.square(sr - self.from_pixels(ops.cast(y, self.compute_dtype)))), None, {}


@keras.saving.register_keras_serializable(package="deepzoo")
class SRGAN(ImageTranslator):
    """SRGAN: the SRResNet generator trained against D with the perceptual loss
    content_weight·MSE(φ(SR)/12.75, φ(HR)/12.75) + adversarial_weight·(−log D(SR)) (+ pixel_weight·MSE,
    0 in the paper). Start from a trained SRResNet with `model.generator.set_weights(...)`.

    Args (besides SRResNet's):
        discriminator_filters / dense_units: D's conv widths and hidden dense width.
        vgg_blocks / content_layer: the loss network and its feature layer (VGG-19 relu5_4).
        content_weight / adversarial_weight / pixel_weight: the loss weights (1, 10⁻³, 0).
    """

    def __init__(
        self, input_shape=(24, 24, 3), filters=64, residual_blocks=16, upsamplings=2, discriminator_filters=SRGAN_DISCRIMINATOR_FILTERS,
        dense_units=1024, vgg_blocks=VGG19_BLOCKS, content_layer="conv5_4", content_weight=1.0, adversarial_weight=1e-3,
        pixel_weight=0.0, name="srgan", **kwargs,
    ):
        input_shape = _check_shape(input_shape, "SRGAN")
        scale = 2 ** int(upsamplings)
        high_shape = (input_shape[0] * scale, input_shape[1] * scale, input_shape[2])
        generator = srresnet_generator(input_shape, int(filters), int(residual_blocks), int(upsamplings), input_shape[2])
        discriminator = srgan_discriminator(high_shape, tuple(discriminator_filters), int(dense_units))
        blocks = tuple(tuple(int(w) for w in widths) for widths in vgg_blocks)
        loss_network = vgg_feature_network(high_shape, blocks, "max")
        if content_layer not in loss_network.output:
            raise ValueError(f"content_layer must be a layer of the loss network. Received: {content_layer!r}; expected one of {sorted(loss_network.output)}")
        loss_network.trainable = False
        inputs = keras.Input(input_shape, name="images")
        super().__init__(inputs=inputs, outputs={"generated": unit_to_pixels()(generator(pixels_to_unit()(inputs)))}, name=name, **kwargs)
        self.generator, self.discriminator, self.loss_network = generator, discriminator, loss_network
        self.content_layer = content_layer
        self.content_weight, self.adversarial_weight, self.pixel_weight = float(content_weight), float(adversarial_weight), float(pixel_weight)
        self._setup([generator], [discriminator], ("loss", "d_loss", "content", "g_adversarial"))

    def _objectives(self, x, y, training=True):
        low = self.from_pixels(ops.cast(x, self.compute_dtype))
        high = self.from_pixels(ops.cast(y, self.compute_dtype))
        sr = self.generator(low, training=training)
        features = lambda images: self.loss_network((images + 1.0) * 0.5, training=False)[self.content_layer] * FEATURE_SCALE
        content = feature_mse(features(sr), features(high))
        adversarial = generator_loss(self.discriminator(sr, training=training))
        loss = self.content_weight * content + self.adversarial_weight * adversarial
        if self.pixel_weight:
            loss = loss + self.pixel_weight * ops.mean(ops.square(sr - high))
        d_loss = discriminator_loss(self.discriminator(high, training=training), self.discriminator(ops.stop_gradient(sr), training=training))
        return loss, d_loss, {"content": content, "g_adversarial": adversarial}


_SR_IO = dict(inputs=(TensorSpec("images", (None, None, 3)),), outputs=(TensorSpec("generated", (None, None, 3)),))

register(
    ModelSpec(
        name="srresnet",
        family="generative",
        task="image_to_image",
        builder=SRResNet,
        canonical_config=dict(input_shape=(24, 24, 3)),
        tiny_config=dict(input_shape=(4, 4, 3), filters=8, residual_blocks=1),
        reference_params=1_550_000,
        reference_source="P: ≈1.55 M (Ledig et al. 2017); our build 1,554,883 with BN statistics",
        paper="Ledig et al. 2017, CVPR",
        seeds=("003",),
        default_dataset="shapes_sr4",
        train_recipe=dict(optimizer="adam", learning_rate=1e-4),
        notes="tanh output mapped to 0..255; LR inputs 0..255 mapped to [-1, 1] inside the model (the paper: LR in [0, 1]).",
        **_SR_IO,
    )
)

register(
    ModelSpec(
        name="srgan",
        family="generative",
        task="image_to_image",
        builder=SRGAN,
        canonical_config=dict(input_shape=(24, 24, 3)),
        tiny_config=dict(input_shape=(4, 4, 3), filters=8, residual_blocks=1, discriminator_filters=(8, 8), dense_units=16, vgg_blocks=((4,), (8,)), content_layer="conv2_1"),
        reference_params=45_148_484,
        reference_source="B: SRResNet G 1,554,883 + D 23,569,217 at 96×96 HR + frozen VGG-19 loss network 20,024,384",
        paper="Ledig et al. 2017, CVPR",
        seeds=("003",),
        default_dataset="shapes_sr4",
        train_recipe=dict(optimizer="adam", learning_rate=1e-4),
        notes=(
            "Content loss on the project's own VGG-style loss network (relu5_4 of a VGG-19 layout, weights random or trained on "
            "shapes10 by the benchmark: no ImageNet download). One joint forward per step: G and D are updated from it."
        ),
        **_SR_IO,
    )
)
