"""Two-stream ConvNets: Simonyan & Zisserman's, and Feichtenhofer et al.'s 3-D convolutional fusion.

Two-stream: Simonyan & Zisserman, "Two-stream convolutional networks for action recognition in
videos", NIPS 2014. A spatial stream on single RGB frames and a temporal stream on L = 10 stacked
optical-flow fields (x and y: 20 channels) with mean-flow subtraction; each a CNN-M-2048:
conv1 96@7×7/2 - norm - pool 2×2, conv2 256@5×5/2 - norm - pool 2×2, conv3-5 512@3×3, pool 2×2,
full6 4096 - dropout, full7 2048 - dropout, softmax (the temporal net drops the second norm). The
streams' softmax scores are averaged; at test time over frames sampled from the video (one flow
stack starting at each sampled frame), which is what this model does over its input frames.
With 2×2 'valid' pools the 224 px maps go 109 → 54 → 27 → 13 → 6, so full6 reads 6×6×512 as
CNN-M-2048 does; tiny configs pool 'same' so that 32 px frames survive. The paper trains the
streams separately.

Two-stream 3-D fusion: Feichtenhofer, Pinz & Zisserman, "Convolutional two-stream network fusion
for video action recognition", CVPR 2016. VGG-16 streams (RGB frames; 10 stacked flows around
each frame) run on T = 5 frames τ = 10 apart; their conv5_3 maps are concatenated (1,024 channels)
and fused by a 3×3×3 convolution to 512 channels, followed by 3-D max pooling over time and 2×2
space (it replaces VGG's pool5, so fc6 reads 7×7×512 as VGG's does), fc6 4096, fc7 4096, softmax.
The paper additionally keeps a temporal-stream tower and averages the two towers' predictions;
this row is the fused spatio-temporal tower. The spec's ≈39 M (P) is Carreira & Zisserman's
"3D-Fused" re-implementation on Inception-v1 streams, not this VGG-16 network, so the reference
here is the faithful build's count (B).
"""

import keras

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.video.layers import (
    FoldClips,
    MeanFlowSubtraction,
    Pool3D,
    StackFlow,
    TemporalMean,
    UnfoldClips,
    conv_unit,
    dense_stack,
    frame_tower,
    scaled,
)
from tasks.base import TensorSpec

CNN_M_2048 = (
    ("conv", 96, 7, 2, "valid"), ("lrn",), ("pool", 2, 2),
    ("conv", 256, 5, 2, "same"), ("lrn",), ("pool", 2, 2),
    ("conv", 512, 3, 1, "same"),
    ("conv", 512, 3, 1, "same"),
    ("conv", 512, 3, 1, "same"), ("pool", 2, 2),
)  # fmt: skip
CNN_M_2048_TEMPORAL = tuple(row for index, row in enumerate(CNN_M_2048) if index != 4)  # no second norm
CNN_M_FC = (4096, 2048)

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def flow_window_starts(rgb_frames, flow_frames, length):
    """Start of the L-field flow stack of each RGB frame: frame t of T ↔ flow round(t·F/T), kept
    inside 0..F − L (τ = F/T apart, as Feichtenhofer et al. sample frames)."""
    if length > flow_frames:
        raise ValueError(f"a flow stack of {length} fields needs at least {length} flow frames. Received: {flow_frames}")
    return [min(round(t * flow_frames / rgb_frames), flow_frames - length) for t in range(rgb_frames)]


def _inputs(rgb_shape, flow_shape, flow_length):
    rgb = keras.Input(tuple(rgb_shape), name="rgb")
    flow = keras.Input(tuple(flow_shape), name="flow")
    x_rgb = keras.layers.Rescaling(1 / 127.5, -1.0, name="rgb_rescale")(rgb)
    x_flow = MeanFlowSubtraction(name="flow_mean_subtraction")(flow)
    starts = flow_window_starts(rgb_shape[0], flow_shape[0], flow_length)
    x_flow = StackFlow(starts, flow_length, name="flow_stacks")(x_flow)  # [B, T, H, W, 2L]
    return {"rgb": rgb, "flow": flow}, x_rgb, x_flow


@keras.saving.register_keras_serializable(package="deepzoo")
class TwoStream(ZooModel):
    """Simonyan & Zisserman's two-stream ConvNet (CNN-M-2048 streams, score averaging).

    Args:
        rgb_shape: (T, H, W, 3) frames, pixels 0..255; each frame is scored, scores averaged.
        flow_shape: (F, H, W, 2) flow fields; one L-stack per RGB frame (`flow_window_starts`).
        num_classes: 101 (UCF-101).
        flow_length: L = 10 (20 input channels).
        width_multiplier: scales conv and FC widths (tiny configs).
        dropout: after full6 and full7 (0.5; the paper uses 0.9 for the temporal net's training).
        pool_padding: None (the table's 'valid') or "same" (small frames).
    """

    def __init__(
        self,
        rgb_shape=(1, 224, 224, 3),
        flow_shape=(10, 224, 224, 2),
        num_classes=101,
        flow_length=10,
        width_multiplier=1.0,
        dropout=0.5,
        pool_padding=None,
        name="two_stream",
        **kwargs,
    ):
        inputs, x_rgb, x_flow = _inputs(rgb_shape, flow_shape, flow_length)
        scores = []
        for stream, x, table in (("spatial", x_rgb, CNN_M_2048), ("temporal", x_flow, CNN_M_2048_TEMPORAL)):
            x = frame_tower(x, table, width_multiplier, prefix=f"{stream}_", pool_padding=pool_padding)
            x = keras.layers.Reshape((x.shape[1], -1), name=f"{stream}_flatten")(x)
            x = dense_stack(x, CNN_M_FC, width_multiplier, dropout, prefix=f"{stream}_full")
            x = keras.layers.Dense(num_classes, activation="softmax", name=f"{stream}_softmax")(x)
            scores.append(TemporalMean(name=f"{stream}_scores")(x))  # average over the sampled frames
        outputs = keras.layers.Average(name="predictions")(scores)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


def _vgg16_conv5(x, prefix, multiplier, blocks):
    frames = x.shape[1]
    x = FoldClips(name=f"{prefix}fold_frames")(x)  # per frame: plain 2-D VGG
    for stage, (widths, count) in enumerate(zip(VGG16_BLOCKS, blocks), start=1):
        for index, width in enumerate(widths[:count], start=1):
            x = conv_unit(x, scaled(width, multiplier), (1, 3, 3), 1, name=f"{prefix}conv{stage}_{index}")
        if stage < len(VGG16_BLOCKS):  # pool5 is replaced by the fused 3-D pooling
            x = keras.layers.MaxPooling2D(2, name=f"{prefix}pool{stage}")(x)
    return UnfoldClips(frames, name=f"{prefix}unfold_frames")(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class TwoStreamFusion3D(ZooModel):
    """Feichtenhofer et al.'s two-stream network fused at conv5 by a 3-D conv and 3-D pooling.

    Args:
        rgb_shape: (T, H, W, 3): T = 5 frames τ apart, pixels 0..255.
        flow_shape: (F, H, W, 2): the flow over the same span (F = T·τ = 50).
        num_classes: 101 (UCF-101).
        flow_length: L = 10 flow fields stacked around each frame.
        vgg_blocks: convolutions used per VGG-16 stage, (2, 2, 3, 3, 3); tiny configs keep one.
        width_multiplier: scales every width (tiny configs).
        dropout: after fc6 and fc7 (0.5).
    """

    def __init__(
        self,
        rgb_shape=(5, 224, 224, 3),
        flow_shape=(50, 224, 224, 2),
        num_classes=101,
        flow_length=10,
        vgg_blocks=(2, 2, 3, 3, 3),
        width_multiplier=1.0,
        dropout=0.5,
        name="two_stream_fusion_3d",
        **kwargs,
    ):
        inputs, x_rgb, x_flow = _inputs(rgb_shape, flow_shape, flow_length)
        spatial = _vgg16_conv5(x_rgb, "spatial_", width_multiplier, vgg_blocks)
        temporal = _vgg16_conv5(x_flow, "temporal_", width_multiplier, vgg_blocks)
        x = keras.layers.Concatenate(name="conv5_concat")([spatial, temporal])  # [B, T, h, w, 1024]
        x = conv_unit(x, scaled(512, width_multiplier), 3, 1, padding="same", name="fusion_conv3d")
        frames = x.shape[1]
        x = Pool3D("max", (frames, 2, 2), (frames, 2, 2), padding="same", name="fusion_pool3d")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = dense_stack(x, (4096, 4096), width_multiplier, dropout)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


TWO_STREAM_INPUTS = (TensorSpec("rgb", (None, None, None, 3)), TensorSpec("flow", (None, None, None, 2)))
PROBABILITIES = (TensorSpec("output", (None,)),)

register(
    ModelSpec(
        name="two_stream",
        family="video",
        task="video",
        builder=TwoStream,
        canonical_config=dict(rgb_shape=(1, 224, 224, 3), flow_shape=(10, 224, 224, 2), num_classes=101),
        tiny_config=dict(rgb_shape=(8, 32, 32, 3), flow_shape=(8, 32, 32, 2), num_classes=9, flow_length=4, width_multiplier=1 / 16,
                         pool_padding="same", dropout=0.0),
        reference_params=181_335_594,
        reference_source="B (faithful build of two CNN-M-2048 streams; the paper gives no count)",
        paper="Simonyan & Zisserman 2014, NIPS",
        seeds=("003",),
        default_dataset="moving_shapes_flow",
        inputs=TWO_STREAM_INPUTS,
        outputs=PROBABILITIES,
        notes="Both streams train jointly through the averaged scores here; the paper trains them separately.",
    )
)

register(
    ModelSpec(
        name="two_stream_fusion_3d",
        family="video",
        task="video",
        builder=TwoStreamFusion3D,
        canonical_config=dict(rgb_shape=(5, 224, 224, 3), flow_shape=(50, 224, 224, 2), num_classes=101),
        tiny_config=dict(
            rgb_shape=(8, 32, 32, 3), flow_shape=(8, 32, 32, 2), num_classes=9, flow_length=2,
            vgg_blocks=(1, 1, 1, 1, 1), width_multiplier=1 / 16, dropout=0.0,
        ),
        reference_params=163_555_109,
        reference_source="B (faithful build: two VGG-16 conv stacks, 3×3×3 fusion conv, fc6/fc7)",
        paper="Feichtenhofer, Pinz & Zisserman 2016, CVPR",
        seeds=("003",),
        default_dataset="moving_shapes_flow",
        inputs=TWO_STREAM_INPUTS,
        outputs=PROBABILITIES,
        notes=(
            "The spec's ≈39 M (P, from Carreira & Zisserman's table) counts their Inception-v1 '3D-Fused' "
            "re-implementation; this row follows Feichtenhofer et al.'s VGG-16 network (the paper wins), so "
            "the reference is the build's count. Only the fused tower is built (the paper also averages in a "
            "separate temporal tower)."
        ),
    )
)
