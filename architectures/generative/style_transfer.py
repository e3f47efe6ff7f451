"""Neural style transfer (spec §2 G): optimisation-based (Gatys) and feed-forward (Johnson).

References:
    gatys_style_transfer  Gatys, Ecker & Bethge 2016, "Image style transfer using convolutional
                          neural networks", CVPR. The pixels of the generated image are the only
                          trainable weight; a fixed VGG-19 (average pooling) gives the features.
                          J = α·J_content + β·J_style, J_content = ½Σ(F − P)² at conv4_2, J_style =
                          Σ_l w_l E_l over conv1_1 … conv5_1 (w_l = 1/5), E_l = Σ(G − A)²/(4N_l²M_l²)
                          with Gram matrices G = FᵀF; α/β = 10⁻³.
    fast_style_transfer   Johnson, Alahi & Fei-Fei 2016, "Perceptual losses for real-time style
                          transfer and super-resolution", ECCV (instance norm: Ulyanov et al. 2016).
                          Transformation net 9×9 conv 32 → 3×3/2 conv 64 → 3×3/2 conv 128 → 5
                          residual blocks → two stride-½ 3×3 transposed convs (64, 32) → 9×9 conv 3
                          (tanh); loss network VGG-16: feature reconstruction at relu2_2, Gram style
                          loss at relu1_2, relu2_2, relu3_3, relu4_3 (Gram / (C·H·W)), total variation.

The loss network is a VGG-style stack (`vgg_feature_network`, the block table below) inside the
model, frozen (`trainable = False`). Nothing is downloaded: its weights are random at construction
(spec: "a VGG-style extractor with random or locally trained weights") and the benchmark
(benchmarks/bench_image_to_image.py) trains a VGG-style classifier on the project's own shapes10
images and copies its convolutions in with `load_feature_weights`. The same network serves SRGAN's
content loss (architectures/generative/super_resolution.py).
"""

import keras
import numpy as np
from keras import ops

from architectures.generative.translation import (
    ImageTranslator,
    instance_norm,
    pixels_to_unit,
    unit_to_pixels,
)
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.image_to_image import (
    content_loss,
    feature_mse,
    gram_matrix,
    style_layer_loss,
    total_variation,
)

# Conv widths per block (Simonyan & Zisserman 2015): VGG-19 (configuration E) and VGG-16 (D).
VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512))  # up to relu4_3 (Johnson's deepest layer)
GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
JOHNSON_STYLE_LAYERS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3")


# --- the loss network -----------------------------------------------------------------------------


def vgg_feature_network(input_shape, blocks=VGG19_BLOCKS, pooling="max", name="vgg_features"):
    """A VGG stack: 3×3 same convs + ReLU per block, 2×2 pooling between blocks ("max" or Gatys'
    "avg"). Input: images in [0, 1]; output: {"conv{b}_{i}": the ReLU output of block b, conv i}."""
    if pooling not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg'. Received: pooling={pooling!r}")
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = keras.layers.Rescaling(1.0, offset=-0.5, name=f"{name}_centre")(inputs)
    features = {}
    for block, widths in enumerate(blocks, start=1):
        if block > 1:
            pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
            x = pool(2, name=f"{name}_pool{block - 1}")(x)
        for index, width in enumerate(widths, start=1):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{block}_{index}")(x)
            features[f"conv{block}_{index}"] = x
    return keras.Model(inputs, features, name=name)


def vgg_classifier(input_shape, blocks, num_classes, pooling="max"):
    """The loss network with a classification head (flatten + dense, VGG's fully connected head
    reduced to one layer): what the benchmark trains on shapes10 (pixels 0..255 in) before copying
    the convolutions in."""
    network = vgg_feature_network(input_shape, blocks, pooling)
    inputs = keras.Input(input_shape, name="images")
    features = network(keras.layers.Rescaling(1.0 / 255.0)(inputs))
    last = features[f"conv{len(blocks)}_{len(blocks[-1])}"]
    pooled = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(last))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(pooled), name="vgg_classifier")


def load_feature_weights(loss_network, trained):
    """Copies the convolutions of a trained VGG stack (or a `vgg_classifier`) into `loss_network` by layer name."""
    source = trained.get_layer("vgg_features") if any(layer.name == "vgg_features" for layer in trained.layers) else trained
    for layer in loss_network.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights(source.get_layer(layer.name).get_weights())


def _check_layers(blocks, layers):
    known = {f"conv{b}_{i}" for b, widths in enumerate(blocks, start=1) for i in range(1, len(widths) + 1)}
    missing = [name for name in layers if name not in known]
    if missing:
        raise ValueError(f"Feature layers {missing} are not in the loss network. Expected some of {sorted(known)}")


class _PerceptualModel(ImageTranslator):
    """Shared parts of the style-transfer models: the frozen loss network and the loss terms."""

    paired = False

    @staticmethod
    def _build_loss_network(input_shape, blocks, pooling, content_layer, style_layers):
        blocks = tuple(tuple(int(w) for w in widths) for widths in blocks)
        _check_layers(blocks, [content_layer, *style_layers])
        network = vgg_feature_network(tuple(input_shape), blocks, pooling, name="vgg_features")
        network.trainable = False
        return network

    def _features(self, unit_images):
        """Loss-network activations of images in [-1, 1]."""
        return self.loss_network((unit_images + 1.0) * 0.5, training=False)

    def loss_terms(self, content, style, generated):
        """(content loss, style loss) of `generated` for (content, style) images, all in pixels 0..255."""
        to_unit = lambda images: self.from_pixels(ops.cast(images, "float32"))
        terms = self._terms(self._features(to_unit(content)), self._features(to_unit(style)), self._features(to_unit(generated)))
        return float(terms[0]), float(terms[1])

    def evaluation_terms(self, x, y):
        """Mean content and style losses of the model's outputs on held-out (content, style) pairs."""
        outputs = self.predict(x, verbose=0)["generated"]
        content, style = self.loss_terms(x, y, outputs)
        return {"content_loss": content, "style_loss": style}


# --- Gatys ----------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class PixelImage(keras.layers.Layer):
    """The generated image as the layer's weight ([H, W, C] in [-1, 1]), given once per input example."""

    def __init__(self, image_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.seed = seed
        self.pixels = self.add_weight(
            shape=self.image_shape, initializer=keras.initializers.RandomUniform(-1.0, 1.0, seed=seed), name="pixels"
        )

    def call(self, inputs):
        # inputs · 0 (not zeros_like): the image must depend on the input's values, or graph
        # optimisers drop the input and the exported signature loses it.
        return inputs * 0.0 + ops.clip(self.pixels, -1.0, 1.0)[None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_shape)

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "seed": self.seed}


@keras.saving.register_keras_serializable(package="deepzoo")
class GatysStyleTransfer(_PerceptualModel):
    """Gatys et al.: `fit(content, style)` optimises the pixels of one image (the model's only
    trainable weight); `model(images)` returns that image for every input example.

    Args:
        input_shape: (H, W, 3) of the content, style and generated images.
        vgg_blocks: conv widths per block of the loss network (VGG-19 by default).
        pooling: "avg" (Gatys' choice) or "max".
        content_layer / style_layers: feature layers ("conv{block}_{index}", ReLU outputs).
        content_weight / style_weight: α and β (α/β = 10⁻³).
        seed: the white-noise initialisation's seed.
    """

    def __init__(
        self, input_shape=(256, 256, 3), vgg_blocks=VGG19_BLOCKS, pooling="avg", content_layer="conv4_2", style_layers=GATYS_STYLE_LAYERS,
        content_weight=1e-3, style_weight=1.0, seed=None, name="gatys_style_transfer", **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        loss_network = self._build_loss_network(input_shape, vgg_blocks, pooling, content_layer, style_layers)
        inputs = keras.Input(input_shape, name="images")
        image = PixelImage(input_shape, seed=seed, name="generated_image")
        super().__init__(inputs=inputs, outputs={"generated": unit_to_pixels()(image(inputs))}, name=name, **kwargs)
        self.image, self.loss_network = image, loss_network
        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self._setup([image], (), ("loss", "content_loss", "style_loss"))

    def initialize_from(self, images):
        """Starts the optimisation from `images` [H, W, 3] in pixels (Gatys also start from the content)."""
        self.image.pixels.assign(np.clip(np.asarray(images, "float32") / 127.5 - 1.0, -1.0, 1.0))

    def _terms(self, content_features, style_features, generated_features):
        content = content_loss(generated_features[self.content_layer], content_features[self.content_layer])
        style = sum(style_layer_loss(generated_features[k], style_features[k]) for k in self.style_layers) / len(self.style_layers)
        return content, style

    def _objectives(self, x, y, training=True):
        content_images, style_images = _pixels(self, x), _pixels(self, y)
        generated = ops.clip(self.image.pixels, -1.0, 1.0)[None] + ops.zeros_like(content_images)
        content, style = self._terms(self._features(content_images), self._features(style_images), self._features(generated))
        return self.content_weight * content + self.style_weight * style, None, {"content_loss": content, "style_loss": style}


def _pixels(model, images):
    return model.from_pixels(ops.cast(images, model.compute_dtype))


# --- Johnson --------------------------------------------------------------------------------------


def transformation_network(input_shape, filters=(32, 64, 128), residual_blocks=5, name="transformer"):
    """Johnson et al.'s image transformation net with instance norm (affine γ, β, as the reference fast-neural-style code)."""
    inputs = keras.Input(input_shape, name=f"{name}_input")
    x = inputs
    for index, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 9 if index == 0 else 3, strides=1 if index == 0 else 2, padding="same", name=f"{name}_conv{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{index}")(instance_norm(f"{name}_in{index}", affine=True)(x))
    for block in range(residual_blocks):
        shortcut = x
        x = keras.layers.Conv2D(filters[-1], 3, padding="same", name=f"{name}_res{block}_conv0")(x)
        x = keras.layers.ReLU(name=f"{name}_res{block}_relu")(instance_norm(f"{name}_res{block}_in0", affine=True)(x))
        x = keras.layers.Conv2D(filters[-1], 3, padding="same", name=f"{name}_res{block}_conv1")(x)
        x = keras.layers.Add(name=f"{name}_res{block}_add")([shortcut, instance_norm(f"{name}_res{block}_in1", affine=True)(x)])
    for index, width in enumerate(reversed(filters[:-1])):
        x = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same", name=f"{name}_up{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_up{index}_relu")(instance_norm(f"{name}_up{index}_in", affine=True)(x))
    x = keras.layers.Conv2D(input_shape[-1], 9, padding="same", name=f"{name}_out")(x)
    return keras.Model(inputs, keras.layers.Activation("tanh", name=f"{name}_tanh")(x), name=name)


@keras.saving.register_keras_serializable(package="deepzoo")
class FastStyleTransfer(_PerceptualModel):
    """Johnson et al.: `model(content)` → {"generated": stylised} in one pass; `fit(content, style)`
    trains the transformation net with the perceptual losses of the frozen loss network.

    Args:
        input_shape: (H, W, 3); H and W multiples of 2 ** (len(filters) − 1).
        filters: widths of the down-sampling convs (the up-sampling ones mirror them).
        residual_blocks: residual blocks at the narrowest width.
        vgg_blocks / pooling: the loss network (VGG-16 up to relu4_3 by default).
        content_layer / style_layers: feature reconstruction and style layers.
        content_weight / style_weight / tv_weight: the loss weights.
    """

    def __init__(
        self, input_shape=(256, 256, 3), filters=(32, 64, 128), residual_blocks=5, vgg_blocks=VGG16_BLOCKS, pooling="max",
        content_layer="conv2_2", style_layers=JOHNSON_STYLE_LAYERS, content_weight=1.0, style_weight=5.0, tv_weight=1e-6,
        name="fast_style_transfer", **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        factor = 2 ** (len(filters) - 1)
        if len(input_shape) != 3 or input_shape[0] % factor or input_shape[1] % factor:
            raise ValueError(f"The transformation net needs (H, W, C) with H and W multiples of {factor}. Received: input_shape={input_shape}")
        loss_network = self._build_loss_network(input_shape, vgg_blocks, pooling, content_layer, style_layers)
        transformer = transformation_network(input_shape, tuple(int(f) for f in filters), int(residual_blocks))
        inputs = keras.Input(input_shape, name="images")
        super().__init__(inputs=inputs, outputs={"generated": unit_to_pixels()(transformer(pixels_to_unit()(inputs)))}, name=name, **kwargs)
        self.transformer, self.loss_network = transformer, loss_network
        self.content_layer, self.style_layers = content_layer, tuple(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = float(content_weight), float(style_weight), float(tv_weight)
        self._setup([transformer], (), ("loss", "content_loss", "style_loss", "tv"))

    def _terms(self, content_features, style_features, generated_features):
        content = feature_mse(generated_features[self.content_layer], content_features[self.content_layer])
        style = 0.0
        for key in self.style_layers:
            generated, target = generated_features[key], style_features[key]
            size = float(generated.shape[1] * generated.shape[2] * generated.shape[3])
            difference = (gram_matrix(generated) - gram_matrix(target)) / size
            style = style + ops.mean(ops.sum(ops.square(difference), axis=(1, 2)))
        return content, style

    def _objectives(self, x, y, training=True):
        content_images, style_images = _pixels(self, x), _pixels(self, y)
        generated = self.transformer(content_images, training=training)
        content, style = self._terms(self._features(content_images), self._features(style_images), self._features(generated))
        tv = total_variation((generated + 1.0) * 127.5)
        loss = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return loss, None, {"content_loss": content, "style_loss": style, "tv": tv}


# --- registration ---------------------------------------------------------------------------------

_TINY_VGG = dict(vgg_blocks=((4,), (8,)))

register(
    ModelSpec(
        name="gatys_style_transfer",
        family="generative",
        task="image_to_image",
        builder=GatysStyleTransfer,
        canonical_config=dict(input_shape=(256, 256, 3)),
        tiny_config=dict(input_shape=(16, 16, 3), content_layer="conv2_1", style_layers=("conv1_1", "conv2_1"), seed=1, **_TINY_VGG),
        reference_params=20_220_992,
        reference_source="B: VGG-19 convolutions 20,024,384 (frozen loss network) + the 256×256×3 image 196,608 (the only trainable weight)",
        paper="Gatys, Ecker & Bethge 2016, CVPR",
        seeds=("003", "004"),
        default_dataset="shapes_style",
        train_recipe=dict(optimizer="adam", learning_rate=2e-2),
        notes=(
            "Optimised with Adam (the paper uses L-BFGS, which Keras lacks). The loss network is VGG-style with random or "
            "locally trained weights (no ImageNet download). A batch of several content images optimises one image for their "
            "mean content loss; the benchmark uses one (content, style) pair."
        ),
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("generated", (None, None, 3)),),
    )
)

register(
    ModelSpec(
        name="fast_style_transfer",
        family="generative",
        task="image_to_image",
        builder=FastStyleTransfer,
        canonical_config=dict(input_shape=(256, 256, 3)),
        tiny_config=dict(input_shape=(16, 16, 3), filters=(4, 8), residual_blocks=1, content_layer="conv2_1", style_layers=("conv1_1", "conv2_1"), **_TINY_VGG),
        reference_params=9_314_499,
        reference_source="B: transformation net 1,679,235 (affine instance norm) + VGG-16 convolutions to relu4_3 7,635,264 (frozen loss network)",
        paper="Johnson, Alahi & Fei-Fei 2016, ECCV",
        seeds=("004",),
        default_dataset="shapes_style",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=4),
        notes="Zero 'same' padding instead of the reference's reflection padding; tanh output mapped to 0..255. Loss network trained locally (no download).",
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(TensorSpec("generated", (None, None, 3)),),
    )
)
