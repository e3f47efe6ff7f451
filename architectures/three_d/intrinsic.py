"""Intrinsic decomposition and neural rendering (spec §2 K): SfSNet, the learned reflectance prior
and a tiny neural rendering pipeline.

References:
    sfsnet                       Sengupta, Kanazawa, Castillo & Jacobs 2018, "SfSNet: learning shape,
                                 reflectance and illuminance of faces in the wild", CVPR (the notes'
                                 "Feng & Patel 2018" is a wrong citation, spec §9 row 64). Shared conv
                                 encoder (7×7 64, 3×3 128, 3×3/2 128) → normal and albedo residual
                                 branches (5 blocks each) → decoders (×2 up-sampling, conv 64, conv 3);
                                 light estimator on the concatenated image/normal/albedo features →
                                 27 SH coefficients. Shading = SH rendering of the normals;
                                 reconstruction = albedo ⊙ shading. Losses: L1 on normals, albedo and
                                 reconstruction, L2 on lighting.
    intrinsic_reflectance_prior  Zhou, Krähenbühl & Efros 2015, "Learning data-driven reflectance
                                 priors for intrinsic image decomposition", ICCV: a CNN classifies the
                                 relative reflectance of two points (equal / darker / lighter) from
                                 multi-scale patches; scored by WHDR (Bell, Bala & Snavely 2014, IIW).
    neural_rendering_pipeline    Tewari et al. 2020, "State of the art on neural rendering",
                                 Eurographics STAR: a graphics block made differentiable (here the
                                 Lambertian SH shading of a G-buffer) followed by a CNN that repairs the
                                 low-fidelity render (faceted normals) into the clean image.

The SH shading (Ramamoorthi & Hanrahan 2001: 9 coefficients per colour, the Lambertian kernel's
attenuation folded in) is `tasks.image_to_image.sh_shading`, the same function the face renders
of pipelines/sources_graphics.py are made with (in numpy).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.generative.translation import ImageTranslator
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.image_to_image import RELATIONS, sh_shading

SH_COEFFICIENTS = 27  # 9 per colour channel


@keras.saving.register_keras_serializable(package="deepzoo")
class SphericalHarmonicsShading(keras.layers.Layer):
    """Lambertian shading of unit normals [N, H, W, 3] under SH lighting [N, 27] → [N, H, W, 3]."""

    def call(self, normals, lighting):
        return sh_shading(normals, lighting)

    def compute_output_shape(self, normals_shape, lighting_shape):
        return normals_shape


@keras.saving.register_keras_serializable(package="deepzoo")
class UnitNormalize(keras.layers.Layer):
    """A normal map from the decoder's output: (output + (0, 0, 1)) scaled to unit length. The
    decoder predicts the deviation from the camera-facing normal (visible surfaces face the camera),
    which keeps the vector away from zero length, where normalising is ill-conditioned."""

    def call(self, inputs):
        facing = inputs + ops.convert_to_tensor(np.asarray([0.0, 0.0, 1.0], "float32"))
        return facing / ops.sqrt(ops.sum(ops.square(facing), axis=-1, keepdims=True) + 1e-8)


@keras.saving.register_keras_serializable(package="deepzoo")
class ChannelSlice(keras.layers.Layer):
    """Channels start … start + size − 1 of the last axis."""

    def __init__(self, start, size, **kwargs):
        super().__init__(**kwargs)
        self.start, self.size = int(start), int(size)

    def call(self, inputs):
        return inputs[..., self.start : self.start + self.size]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.size)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "size": self.size}


def _conv_bn_relu(x, filters, kernel, name, strides=1):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x))


def _residual_branch(x, filters, blocks, name):
    """SfSNet's residual blocks (pre-activation: BN-ReLU-conv-BN-ReLU-conv + identity)."""
    for block in range(blocks):
        shortcut = x
        for part in range(2):
            x = keras.layers.ReLU(name=f"{name}{block}_relu{part}")(keras.layers.BatchNormalization(momentum=0.9, name=f"{name}{block}_bn{part}")(x))
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}{block}_conv{part}")(x)
        x = keras.layers.Add(name=f"{name}{block}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out_relu")(keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_out_bn")(x))


def _decoder(x, filters, name):
    x = keras.layers.Conv2DTranspose(filters[1], 4, strides=2, padding="same", use_bias=False, name=f"{name}_up")(x)
    x = keras.layers.ReLU(name=f"{name}_up_relu")(keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_up_bn")(x))
    x = _conv_bn_relu(x, filters[0], 3, f"{name}_refine")
    return keras.layers.Conv2D(3, 1, name=f"{name}_out")(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class SfSNet(ImageTranslator):
    """SfSNet: `model(images)` → {"normals", "albedo" (0..1), "lighting" [27], "shading",
    "reconstruction" (0..255)}; `fit(images, {"normals", "albedo", "lighting", "reconstruction"})`.

    Args:
        input_shape: (H, W, 3) face images in 0..255; H, W even.
        filters: (encoder/decoder width, residual width): (64, 128).
        residual_blocks: per branch (5).
        light_filters: the light estimator's 1×1 conv width (128).
        normal_weight / albedo_weight / reconstruction_weight / lighting_weight: loss weights.
    """

    target_keys = ("normals", "albedo", "lighting", "reconstruction")

    def __init__(
        self, input_shape=(128, 128, 3), filters=(64, 128), residual_blocks=5, light_filters=128, normal_weight=1.0, albedo_weight=1.0,
        reconstruction_weight=1.0, lighting_weight=1.0, name="sfsnet", **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3 or input_shape[0] % 2 or input_shape[1] % 2:
            raise ValueError(f"SfSNet needs (H, W, 3) with even H and W. Received: input_shape={input_shape}")
        width, deep = int(filters[0]), int(filters[1])
        inputs = keras.Input(input_shape, name="images")
        x = keras.layers.Rescaling(1.0 / 255.0, name="from_pixels")(inputs)
        x = _conv_bn_relu(x, width, 7, "encoder0")
        x = _conv_bn_relu(x, deep, 3, "encoder1")
        image_features = keras.layers.Conv2D(deep, 3, strides=2, padding="same", name="encoder2_conv")(x)
        normal_features = _residual_branch(image_features, deep, int(residual_blocks), "normal_res")
        albedo_features = _residual_branch(image_features, deep, int(residual_blocks), "albedo_res")
        normals = UnitNormalize(name="normals")(_decoder(normal_features, (width, deep), "normal_decoder"))
        albedo = keras.layers.Activation("sigmoid", name="albedo")(_decoder(albedo_features, (width, deep), "albedo_decoder"))
        joint = keras.layers.Concatenate(name="light_features")([image_features, normal_features, albedo_features])
        joint = _conv_bn_relu(joint, int(light_filters), 1, "light")
        lighting = keras.layers.Dense(SH_COEFFICIENTS, name="lighting")(keras.layers.GlobalAveragePooling2D(name="light_pool")(joint))
        shading = SphericalHarmonicsShading(name="shading")(normals, lighting)
        reconstruction = keras.layers.Rescaling(255.0, name="reconstruction")(keras.layers.Multiply(name="image_formation")([albedo, shading]))
        outputs = {"normals": normals, "albedo": albedo, "lighting": lighting, "shading": shading, "reconstruction": reconstruction}
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.weights_by_term = {
            "normals": float(normal_weight), "albedo": float(albedo_weight), "reconstruction": float(reconstruction_weight), "lighting": float(lighting_weight),
        }
        self._setup(None, (), ("loss", "normals_l1", "albedo_l1", "reconstruction_l1", "lighting_l2"))

    def _objectives(self, x, y, training=True):
        outputs = self(x, training=training)
        terms = {
            "normals_l1": ops.mean(ops.abs(outputs["normals"] - y["normals"])),
            "albedo_l1": ops.mean(ops.abs(outputs["albedo"] - y["albedo"])),
            "reconstruction_l1": ops.mean(ops.abs(outputs["reconstruction"] - y["reconstruction"])) / 255.0,
            "lighting_l2": ops.mean(ops.square(outputs["lighting"] - y["lighting"])),
        }
        weights = self.weights_by_term
        loss = (
            weights["normals"] * terms["normals_l1"] + weights["albedo"] * terms["albedo_l1"]
            + weights["reconstruction"] * terms["reconstruction_l1"] + weights["lighting"] * terms["lighting_l2"]
        )
        return loss, None, terms


@keras.saving.register_keras_serializable(package="deepzoo")
class ReflectancePrior(ZooModel):
    """Zhou et al.'s pairwise reflectance classifier: `model(patches)` → P(equal, darker, lighter).

    The input stacks, per pair, the patch around point 1, around point 2 and the whole image
    resized to the patch size ([P, P, 9], pixels 0..255): the two point patches go through one
    shared (Siamese) conv tower, the context through its own; the three codes are concatenated
    into fully connected layers and a 3-way softmax.

    Args:
        input_shape: (P, P, 9).
        filters: conv widths of each tower (one 3×3 conv + 2×2 max pool per width).
        units: hidden fully connected widths.
        dropout: before the output layer.
    """

    def __init__(self, input_shape=(16, 16, 9), filters=(32, 64, 128), units=(256, 256), dropout=0.5, name="intrinsic_reflectance_prior", **kwargs):
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3 or input_shape[-1] != 9:
            raise ValueError(f"The reflectance prior takes (P, P, 9): two point patches and the context. Received: input_shape={input_shape}")
        inputs = keras.Input(input_shape, name="patches")
        scaled = keras.layers.Rescaling(1.0 / 255.0, name="from_pixels")(inputs)

        def tower(name):
            patch = keras.Input((*input_shape[:2], 3), name=f"{name}_input")
            x = patch
            for index, width in enumerate(filters):
                x = keras.layers.Conv2D(int(width), 3, padding="same", activation="relu", name=f"{name}_conv{index}")(x)
                if min(x.shape[1], x.shape[2]) >= 2:
                    x = keras.layers.MaxPooling2D(2, name=f"{name}_pool{index}")(x)
            return keras.Model(patch, keras.layers.Flatten(name=f"{name}_flatten")(x), name=name)

        point_tower, context_tower = tower("point_tower"), tower("context_tower")
        split = lambda start, label: ChannelSlice(start, 3, name=label)(scaled)
        codes = [point_tower(split(0, "point1")), point_tower(split(3, "point2")), context_tower(split(6, "context"))]
        x = keras.layers.Concatenate(name="codes")(codes)
        for index, width in enumerate(units):
            x = keras.layers.Dense(int(width), activation="relu", name=f"fc{index}")(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout), name="dropout")(x)
        outputs = keras.layers.Dense(len(RELATIONS), activation="softmax", name="relation")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class NeuralRenderingPipeline(ImageTranslator):
    """G-buffer → image: `model({"normals", "albedo", "lighting"})` → {"generated": the denoised
    render (0..255), "render": the differentiable Lambertian render of the given G-buffer}; a CNN
    (the render and the G-buffer in, a residual correction out) repairs the low-fidelity render;
    `fit(gbuffers, clean images)` minimises the L1 error. Gradients reach the lighting and the
    normals through the shading layer (inverse rendering).

    Args:
        image_size: (H, W) of the G-buffers.
        filters: widths of the denoiser's 3×3 conv layers.
    """

    def __init__(self, image_size=(64, 64), filters=(64, 64, 64, 64, 64), name="neural_rendering_pipeline", **kwargs):
        height, width = (int(d) for d in image_size)
        normals = keras.Input((height, width, 3), name="normals")
        albedo = keras.Input((height, width, 3), name="albedo")
        lighting = keras.Input((SH_COEFFICIENTS,), name="lighting")
        shading = SphericalHarmonicsShading(name="shading")(normals, lighting)
        render = keras.layers.Multiply(name="image_formation")([albedo, shading])
        x = keras.layers.Concatenate(name="gbuffer")([render, normals, albedo])
        for index, channels in enumerate(filters):
            x = keras.layers.Conv2D(int(channels), 3, padding="same", activation="relu", name=f"denoiser_conv{index}")(x)
        correction = keras.layers.Conv2D(3, 3, padding="same", name="denoiser_out")(x)
        clean = keras.layers.Add(name="denoised")([render, correction])
        to_pixels = keras.layers.Rescaling(255.0, name="to_pixels")
        outputs = {"generated": to_pixels(clean), "render": keras.layers.Rescaling(255.0, name="render_pixels")(render)}
        super().__init__(inputs={"normals": normals, "albedo": albedo, "lighting": lighting}, outputs=outputs, name=name, **kwargs)
        self._setup(None, (), ("loss",))

    def _objectives(self, x, y, training=True):
        return ops.mean(ops.abs(self(x, training=training)["generated"] - y)) / 255.0, None, {}


# --- registration ---------------------------------------------------------------------------------


def _reflectance_example_batch(config, seed, n=8):
    """Patches in the data's pixel range (0..255) with the three relations in turn (the
    classification task's generic batch lies in 0..1, which the model's 1/255 rescale flattens)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 255.0, size=(n, *[int(d) for d in config["input_shape"]])).astype("float32")
    return x, (np.arange(n) % len(RELATIONS)).astype("int32")


register(
    ModelSpec(
        name="sfsnet",
        family="three_d",
        task="image_to_image",
        builder=SfSNet,
        canonical_config=dict(input_shape=(128, 128, 3)),
        tiny_config=dict(input_shape=(16, 16, 3), filters=(4, 8), residual_blocks=1, light_filters=8),
        paper="Sengupta, Kanazawa, Castillo & Jacobs 2018, CVPR",
        seeds=("003",),
        default_dataset="lambertian_faces",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3),
        notes=(
            "Trained on synthetic Lambertian faces with ground truth only (stage 1 of the paper); the pseudo-labelling of real "
            "images (stages 2-3) has no real images offline. The notes cite 'Feng & Patel 2018' (wrong): Sengupta et al."
        ),
        inputs=(TensorSpec("images", (None, None, 3)),),
        outputs=(
            TensorSpec("normals", (None, None, 3)), TensorSpec("albedo", (None, None, 3)), TensorSpec("lighting", (SH_COEFFICIENTS,)),
            TensorSpec("shading", (None, None, 3)), TensorSpec("reconstruction", (None, None, 3)),
        ),
    )
)

register(
    ModelSpec(
        name="intrinsic_reflectance_prior",
        family="three_d",
        task="classification",
        builder=ReflectancePrior,
        canonical_config=dict(input_shape=(16, 16, 9)),
        tiny_config=dict(input_shape=(8, 8, 9), filters=(4, 8), units=(16,), dropout=0.0),
        example_batch=_reflectance_example_batch,
        paper="Zhou, Krähenbühl & Efros 2015, ICCV",
        seeds=("003",),
        default_dataset="face_reflectance_pairs",
        notes=(
            "Judgements come from the true albedo of synthetic faces (IIW's δ = 10 % equality threshold) instead of human "
            "annotations; WHDR with unit weights. The energy-minimisation decomposition that uses the prior is not built."
        ),
        inputs=(TensorSpec("patches", (None, None, 9)),),
        outputs=(TensorSpec("output", (len(RELATIONS),)),),
    )
)

register(
    ModelSpec(
        name="neural_rendering_pipeline",
        family="three_d",
        task="image_to_image",
        builder=NeuralRenderingPipeline,
        canonical_config=dict(image_size=(64, 64)),
        tiny_config=dict(image_size=(32, 32), filters=(8, 8)),
        paper="Tewari et al. 2020, Eurographics STAR",
        seeds=("003",),
        default_dataset="face_gbuffers",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3),
        notes="A tiny pipeline (the spec's registry choice): differentiable Lambertian SH shading + a residual CNN denoiser.",
        inputs=(TensorSpec("normals", (None, None, 3)), TensorSpec("albedo", (None, None, 3)), TensorSpec("lighting", (SH_COEFFICIENTS,))),
        outputs=(TensorSpec("generated", (None, None, 3)), TensorSpec("render", (None, None, 3))),
    )
)
