"""View- and volume-based 3-D shape classifiers (spec §2 K): MVCNN, VoxNet, RGB-D fusion, DeepPano.

References:
    multiview_cnn       Su, Maji, Kalogerakis & Learned-Miller 2015, "Multi-view convolutional neural
                        networks for 3D shape recognition", ICCV (12 views, shared CNN1 = VGG-M to
                        conv5, element-wise max view pooling, CNN2 = fc6–fc8).
    volumetric_cnn      Maturana & Scherer 2015, "VoxNet: a 3D convolutional neural network for
                        real-time object recognition", IROS.
    rgbd_fusion         Eitel, Springenberg, Spinello, Riedmiller & Burgard 2015, "Multimodal deep
                        learning for robust RGB-D object recognition", IROS (two CaffeNet streams,
                        jet-colourised depth, fc7 concatenated → fusion FC → softmax).
    projection_cnn_3d   Shi, Bai, Zhou & Bai 2015, "DeepPano: deep panoramic representation for 3-D
                        shape recognition", IEEE SPL (cylindrical panorama around the principal axis,
                        CNN, row-wise max pooling for rotation invariance).

Deterministic preprocessing lives in the models: pixel rescaling, the jet colour map of the depth
stream, and the cylindrical projection of raw points (so an artifact takes what the data gives).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.three_d.points import max_over
from tasks import TensorSpec

# VGG-M (Chatfield et al. 2014) conv1–conv5 as MVCNN's CNN1: (filters, kernel, stride, pool after).
VGG_M_CONVS = ((96, 7, 2, True), (256, 5, 2, True), (512, 3, 1, False), (512, 3, 1, False), (512, 3, 1, True))
VGG_M_FC = (4096, 4096)
# CaffeNet (Krizhevsky et al. 2012, single-tower Caffe reference) per RGB-D stream.
CAFFENET_CONVS = ((96, 11, 4, True), (256, 5, 1, True), (384, 3, 1, False), (384, 3, 1, False), (256, 3, 1, True))
CAFFENET_FC = (4096, 4096)
# VoxNet: (filters, kernel, stride) then a 2³ max-pool, FC 128.
VOXNET_CONVS = ((32, 5, 2), (32, 3, 1))
# DeepPano-style CNN on the panorama: (filters, kernel, pool rows after).
DEEPPANO_CONVS = ((96, 5, True), (256, 5, True), (384, 3, False), (512, 3, False))


# --- layers ------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class FoldViews(keras.layers.Layer):
    """[B, V, H, W, C] → [B·V, H, W, C], so one CNN runs on every view with shared weights."""

    def call(self, views):
        return ops.reshape(views, (-1, *views.shape[2:]))

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[2:])


@keras.saving.register_keras_serializable(package="deepzoo")
class ViewMaxPool(keras.layers.Layer):
    """MVCNN's view pooling: [B·V, F] → element-wise max over the V views → [B, F]."""

    def __init__(self, views, **kwargs):
        super().__init__(**kwargs)
        self.views = int(views)

    def call(self, features):
        flat = ops.reshape(features, (-1, self.views, int(np.prod(features.shape[1:]))))
        return ops.reshape(max_over(flat, 1), (-1, *features.shape[1:]))

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "views": self.views}


@keras.saving.register_keras_serializable(package="deepzoo")
class JetColormap(keras.layers.Layer):
    """Depth [.., 1] in [0, 1] → jet RGB [.., 3] in [0, 1] (Eitel et al. colourise depth this way so
    that an RGB-pretrained stream can take it)."""

    def call(self, depth):
        d = ops.clip(depth, 0.0, 1.0)
        channels = [ops.clip(1.5 - ops.abs(4.0 * d - centre), 0.0, 1.0) for centre in (3.0, 2.0, 1.0)]
        return ops.concatenate(channels, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="deepzoo")
class CylindricalPanorama(keras.layers.Layer):
    """Points [B, N, 3] → panorama [B, H, W, 1] around the z axis: row = height bin of z in [-1, 1],
    column = angle bin of atan2(y, x), value = the largest radial distance √(x² + y²) in the cell
    (0 where empty). A rotation about z by 360°/W shifts the panorama by one column."""

    def __init__(self, height=36, width=108, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    def call(self, points):
        x, y, z = points[..., 0], points[..., 1], points[..., 2]
        radius = ops.sqrt(x * x + y * y + 1e-12)
        angle = (ops.arctan2(y, x) + np.pi) / (2.0 * np.pi)
        column = ops.mod(ops.floor(angle * self.width), self.width)
        row = ops.clip(ops.floor((1.0 - z) / 2.0 * self.height), 0, self.height - 1)
        cell = ops.cast(row * self.width + column, "int32")
        cells = ops.one_hot(cell, self.height * self.width, dtype=points.dtype) * radius[..., None]
        panorama = ops.max(cells, axis=1)
        return ops.reshape(panorama, (-1, self.height, self.width, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, 1)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="deepzoo")
class CircularPad(keras.layers.Layer):
    """Pads the width (angle) axis circularly and the height axis with zeros, by `pad` each side:
    convolutions on a panorama then commute with column shifts (rotations about the axis)."""

    def __init__(self, pad, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        if p == 0:
            return x
        x = ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)
        return ops.pad(x, ((0, 0), (p, p), (0, 0), (0, 0)))

    def compute_output_shape(self, s):
        grow = lambda d: None if d is None else d + 2 * self.pad  # noqa: E731
        return (s[0], grow(s[1]), grow(s[2]), s[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="deepzoo")
class RowMaxPool(keras.layers.Layer):
    """DeepPano's row-wise max pooling: [B, H, W, C] → max over the width (angle) → [B, H, C]."""

    def call(self, x):
        w = x.shape[2]
        return ops.squeeze(ops.max_pool(x, (1, w), strides=(1, w)), axis=2)

    def compute_output_shape(self, s):
        return (s[0], s[1], s[3])


@keras.saving.register_keras_serializable(package="deepzoo")
class MaxPool3DBy2D(keras.layers.Layer):
    """2×2×2 max pooling (stride 2, 'valid') as two 2-D max pools: over (H, W) per slice, then over
    pairs of slices. The same numbers as MaxPooling3D; TFLite has no MaxPool3D builtin."""

    def call(self, x):
        c = x.shape[4]
        d, h, w = (x.shape[i] // 2 * 2 for i in (1, 2, 3))
        x = x[:, :d, :h, :w, :]
        y = ops.max_pool(ops.reshape(x, (-1, h, w, c)), 2, strides=2)
        y = ops.reshape(y, (-1, d, (h // 2) * (w // 2), c))
        y = ops.max_pool(y, (2, 1), strides=(2, 1))
        return ops.reshape(y, (-1, d // 2, h // 2, w // 2, c))

    def compute_output_shape(self, s):
        return (s[0], s[1] // 2, s[2] // 2, s[3] // 2, s[4])


# --- blocks ------------------------------------------------------------------------------------------------


def _conv_stack(x, convs, name):
    """2-D convs (filters, kernel, stride, pool) with ReLU, 'same' padding, 3×3/2 max-pool where marked."""
    for index, (filters, kernel, stride, pool) in enumerate(convs):
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", activation="relu", name=f"{name}conv{index + 1}")(x)
        if pool:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}pool{index + 1}")(x)
    return keras.layers.Flatten(name=f"{name}flatten")(x)


def _dense_stack(x, widths, dropout, name):
    for index, width in enumerate(widths):
        x = keras.layers.Dense(width, activation="relu", name=f"{name}{index + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}{index + 1}_dropout")(x)
    return x


# --- models ------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class MultiViewCNN(ZooModel):
    """MVCNN: views [B, V, H, W, C] (depth renders in 0..1) → shared CNN1 per view → element-wise
    max over views → CNN2 (FC layers) → softmax."""

    def __init__(self, input_shape=(12, 224, 224, 1), num_classes=40, convs=VGG_M_CONVS, fc=VGG_M_FC, dropout=0.5, name="multiview_cnn", **kwargs):
        if len(tuple(input_shape)) != 4:
            raise ValueError(f"input_shape must be (views, height, width, channels). Received: input_shape={tuple(input_shape)}")
        views = int(input_shape[0])
        inputs = keras.Input(tuple(int(d) for d in input_shape), name="views")
        image = keras.Input(tuple(int(d) for d in input_shape[1:]), name="view")
        cnn1 = keras.Model(image, _conv_stack(image, convs, "cnn1_"), name="cnn1")
        x = ViewMaxPool(views, name="view_pool")(cnn1(FoldViews(name="fold_views")(inputs)))
        x = _dense_stack(x, fc, dropout, "cnn2_fc")
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class VoxNet(ZooModel):
    """VoxNet: occupancy [B, G, G, G, 1] → Conv3D 32@5³/2 → Conv3D 32@3³ → max-pool 2³ → FC 128 → K,
    leaky ReLU 0.1, dropout 0.2 / 0.3 / 0.4 as in the paper."""

    def __init__(self, input_shape=(32, 32, 32, 1), num_classes=10, convs=VOXNET_CONVS, fc=128, dropouts=(0.2, 0.3, 0.4), name="volumetric_cnn", **kwargs):
        if len(tuple(input_shape)) != 4:
            raise ValueError(f"input_shape must be (depth, height, width, channels). Received: input_shape={tuple(input_shape)}")
        inputs = keras.Input(tuple(int(d) for d in input_shape), name="voxels")
        x = inputs
        for index, (filters, kernel, stride) in enumerate(convs):
            x = keras.layers.Conv3D(filters, kernel, strides=stride, padding="valid", name=f"conv{index + 1}")(x)
            x = keras.layers.LeakyReLU(0.1, name=f"conv{index + 1}_lrelu")(x)
            if index == 0 and dropouts[0]:
                x = keras.layers.Dropout(dropouts[0], name="conv1_dropout")(x)
        x = MaxPool3DBy2D(name="pool")(x)
        if dropouts[1]:
            x = keras.layers.Dropout(dropouts[1], name="pool_dropout")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(int(fc), name="fc1")(x)
        x = keras.layers.LeakyReLU(0.1, name="fc1_lrelu")(x)
        if dropouts[2]:
            x = keras.layers.Dropout(dropouts[2], name="fc1_dropout")(x)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class RGBDFusion(ZooModel):
    """Two-stream RGB-D network: {"rgb" 0..255, "depth" 0..1} → rgb/255 and jet(depth) → one
    CaffeNet-style stream each (conv → fc6 → fc7) → concatenated fc7 → fusion FC → softmax."""

    def __init__(self, image_shape=(227, 227, 3), num_classes=51, convs=CAFFENET_CONVS, fc=CAFFENET_FC, fusion=4096, dropout=0.5, name="rgbd_fusion", **kwargs):
        # `image_shape`, not `input_shape`: the inputs are a dict ({"rgb", "depth"}), one size for both.
        shape = tuple(int(d) for d in image_shape)
        if len(shape) != 3:
            raise ValueError(f"image_shape must be the RGB image's (height, width, 3). Received: image_shape={shape}")
        rgb = keras.Input(shape[:2] + (3,), name="rgb")
        depth = keras.Input(shape[:2] + (1,), name="depth")
        streams = []
        for stream, tensor in (("rgb", keras.layers.Rescaling(1.0 / 255.0, name="rgb_rescale")(rgb)), ("depth", JetColormap(name="depth_jet")(depth))):
            x = _conv_stack(tensor, convs, f"{stream}_")
            streams.append(_dense_stack(x, fc, dropout, f"{stream}_fc"))
        x = keras.layers.Concatenate(name="fuse")(streams)
        x = _dense_stack(x, (int(fusion),), dropout, "fusion_fc")
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs={"rgb": rgb, "depth": depth}, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class PanoramaCNN(ZooModel):
    """DeepPano-style classifier: points [B, N, 3] → cylindrical panorama about z (inside the model)
    → convs with circular padding along the angle, pooling along the axis only → row-wise max
    pooling (invariant to rotations about the axis) → FC → softmax."""

    def __init__(self, input_shape=(1024, 3), num_classes=40, panorama=(36, 108), convs=DEEPPANO_CONVS, fc=(512,), dropout=0.5, name="projection_cnn_3d", **kwargs):
        if len(tuple(input_shape)) != 2 or int(input_shape[-1]) != 3:
            raise ValueError(f"input_shape must be (num_points, 3). Received: input_shape={tuple(input_shape)}")
        inputs = keras.Input(tuple(int(d) for d in input_shape), name="points")
        x = CylindricalPanorama(*panorama, name="panorama")(inputs)
        for index, (filters, kernel, pool) in enumerate(convs):
            x = CircularPad(kernel // 2, name=f"conv{index + 1}_pad")(x)
            x = keras.layers.Conv2D(filters, kernel, padding="valid", activation="relu", name=f"conv{index + 1}")(x)
            if pool:
                x = keras.layers.MaxPooling2D((2, 1), name=f"pool{index + 1}")(x)
        x = RowMaxPool(name="row_max_pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = _dense_stack(x, fc, dropout, "fc")
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


# --- registry ----------------------------------------------------------------------------------------------

_CLASSES_OUT = (TensorSpec("output", (None,)),)


def _rgbd_batch(config, seed, n=8):
    rng = np.random.default_rng(seed)
    h, w = (int(d) for d in config["image_shape"][:2])
    x = {"rgb": rng.uniform(0, 255, size=(n, h, w, 3)).astype("float32"), "depth": rng.uniform(0, 1, size=(n, h, w, 1)).astype("float32")}
    return x, (np.arange(n) % int(config["num_classes"])).astype("int32")


register(
    ModelSpec(
        name="multiview_cnn",
        family="three_d",
        task="classification",
        builder=MultiViewCNN,
        canonical_config=dict(input_shape=(12, 224, 224, 1), num_classes=40),
        tiny_config=dict(input_shape=(12, 16, 16, 1), num_classes=6, convs=((8, 3, 1, True), (16, 3, 1, True)), fc=(32,), dropout=0.0),
        paper="Su, Maji, Kalogerakis & Learned-Miller 2015, ICCV (arXiv 1505.00880)",
        seeds=("003",),
        default_dataset="primitive_views",
        inputs=(TensorSpec("views", (12, None, None, 1)),),
        outputs=_CLASSES_OUT,
        train_recipe=dict(optimizer="sgd", learning_rate=1e-3, momentum=0.9, batch_size=32),
        notes=(
            "V = 12 views every 30° at 30° elevation; CNN1 = VGG-M conv1–conv5 (LRN omitted) shared by the views; "
            "element-wise max view pooling after conv5; CNN2 = fc6, fc7 (4096) → K. Views are 1-channel depth renders of "
            "the shapes (the paper renders shaded greyscale images and ImageNet-pretrains CNN1; no weights are downloaded "
            "here), so no reference parameter count is claimed."
        ),
    )
)

register(
    ModelSpec(
        name="volumetric_cnn",
        family="three_d",
        task="classification",
        builder=VoxNet,
        canonical_config=dict(input_shape=(32, 32, 32, 1), num_classes=10),
        tiny_config=dict(input_shape=(12, 12, 12, 1), num_classes=6, convs=((4, 3, 2), (8, 3, 1)), fc=16, dropouts=(0.0, 0.0, 0.0)),
        reference_params=917_866,
        reference_source="B (spec: VoxNet for K = 10)",
        paper="Maturana & Scherer 2015, IROS",
        seeds=("003",),
        default_dataset="primitive_voxels",
        inputs=(TensorSpec("voxels", (None, None, None, 1)),),
        outputs=_CLASSES_OUT,
        train_recipe=dict(optimizer="sgd", learning_rate=1e-2, momentum=0.9, batch_size=32),
        notes=(
            "Conv3D 32@5³ stride 2 → Conv3D 32@3³ → max-pool 2³ → FC 128 → K with leaky ReLU 0.1 and dropout 0.2/0.3/0.4 "
            "(the paper's). The octree option (O-CNN) is not built. The embedded data is a 16³ surface occupancy grid "
            "(input_shape follows the data); the canonical build is the paper's 32³."
        ),
    )
)

register(
    ModelSpec(
        name="rgbd_fusion",
        family="three_d",
        task="classification",
        builder=RGBDFusion,
        canonical_config=dict(image_shape=(227, 227, 3), num_classes=51),
        tiny_config=dict(image_shape=(16, 16, 3), num_classes=6, convs=((8, 3, 1, True), (16, 3, 1, True)), fc=(16,), fusion=16, dropout=0.0),
        paper="Eitel, Springenberg, Spinello, Riedmiller & Burgard 2015, IROS (arXiv 1507.06821)",
        seeds=("003",),
        default_dataset="primitive_rgbd",
        example_batch=_rgbd_batch,
        inputs=(TensorSpec("rgb", (None, None, 3)), TensorSpec("depth", (None, None, 1))),
        outputs=_CLASSES_OUT,
        notes=(
            "Two CaffeNet streams (single-tower: no grouped convolutions, no LRN), depth colourised with a jet map inside "
            "the model, fc7 of both streams concatenated → fusion FC 4096 → softmax (51 Washington RGB-D classes in the "
            "canonical config). The paper's ImageNet pre-training and stage-wise fine-tuning are not reproduced (no "
            "downloads): streams train jointly from scratch."
        ),
    )
)

register(
    ModelSpec(
        name="projection_cnn_3d",
        family="three_d",
        task="classification",
        builder=PanoramaCNN,
        canonical_config=dict(input_shape=(1024, 3), num_classes=40),
        tiny_config=dict(input_shape=(64, 3), num_classes=6, panorama=(8, 16), convs=((8, 3, True), (16, 3, False)), fc=(16,), dropout=0.0),
        paper="Shi, Bai, Zhou & Bai 2015, IEEE Signal Processing Letters 22(12) (DeepPano)",
        seeds=("003",),
        default_dataset="primitives",
        inputs=(TensorSpec("points", (None, 3)),),
        outputs=_CLASSES_OUT,
        notes=(
            "The panorama is built from raw points inside the model (largest radius per (height, angle) cell around the "
            "up axis z, which our upright shapes share; the paper aligns meshes to their principal axis and ray-casts). "
            "Convolutions pad the angle axis circularly and pools stride along the axis only, so row-wise max pooling makes "
            "the output exactly invariant to rotations by whole columns (360°/W); DeepPano uses plain convs, so its "
            "invariance is approximate. Layer widths follow the paper's four conv layers at 36×108; no reference count."
        ),
    )
)
