"""Inception video networks: two-stream I3D and the Temporal Segment Network.

I3D: Carreira & Zisserman, "Quo vadis, action recognition? A new model and the Kinetics dataset",
CVPR 2017. Inception-v1 with batch normalisation, inflated: every N×N kernel becomes N×N×N, the
first conv 7×7×7 with stride 2, no temporal stride in the first two max-pools (1×3×3), then
3×3×3 / stride 2 before Mixed_4b and 2×2×2 / stride 2 before Mixed_5b; a 2×7×7 average pool, a
1×1×1 conv to logits, averaged over time. Layer table as in the released code (kinetics-i3d):
batch norm without scale, the third branch 3×3×3 (as TF-slim's Inception-v1). Two streams, RGB
(3 channels) and optical flow (2 channels), each its own network; their logits are averaged.
2-D weights bootstrap the 3-D net by repeating them N times along time and dividing by N
(`layers.inflate_weights`): with replicated temporal padding (`temporal_padding="edge"`) the
inflated net's output on a static ("boring") video is exactly the 2-D net's on the frame;
the released code pads with zeros (the canonical config), which makes that approximate at the
clip's ends.

TSN: Wang, Xiong, Wang, Qiao, Lin, Tang & Van Gool, "Temporal segment networks: towards good
practices for deep action recognition", ECCV 2016. The video is split into K = 3 segments; one
snippet per segment (an RGB frame; 5 stacked x/y flow fields = 10 channels) goes through a shared
BN-Inception per modality; a segmental consensus (the average of the class scores, before the
softmax) aggregates the snippets, and the modalities are fused with weights 1 (spatial) : 1.5
(temporal). Snippets are the segments' centres here (TSN's test-time choice); the random snippet
per segment of its training is a data-pipeline choice. Dropout 0.8 (spatial) / 0.7 (temporal).
BN-Inception table from Ioffe & Szegedy 2015 (Fig. 5).
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.video.layers import (
    FoldClips,
    MeanFlowSubtraction,
    Pool3D,
    SelectFrames,
    StackFlow,
    TemporalMean,
    UnfoldClips,
    conv_unit,
    pool,
    scaled,
    window_starts,
)
from tasks.base import TensorSpec

# Inception-v1 modules (#1×1, #3×3 reduce, #3×3, #3×3 reduce, #3×3, pool proj), per stage.
I3D_STAGES = (
    (("Mixed_3b", (64, 96, 128, 16, 32, 32)), ("Mixed_3c", (128, 128, 192, 32, 96, 64))),
    (
        ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
        ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
        ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
        ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
        ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ),
    (("Mixed_5b", (256, 160, 320, 32, 128, 128)), ("Mixed_5c", (384, 192, 384, 48, 128, 128))),
)
# The max-pool before each stage: (pool size, strides) in (t, h, w).
I3D_STAGE_POOLS = (((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2)))

# BN-Inception modules (#1×1, #3×3 reduce, #3×3, double #3×3 reduce, double #3×3, pool, pool proj,
# stride); per stage: the regular modules, then the stride-2 module that ends the stage (None in 5).
BN_INCEPTION_STAGES = (
    (
        (("inception_3a", (64, 64, 64, 64, 96, "average", 32, 1)), ("inception_3b", (64, 64, 96, 64, 96, "average", 64, 1))),
        ("inception_3c", (0, 128, 160, 64, 96, "max", 0, 2)),
    ),
    (
        (
            ("inception_4a", (224, 64, 96, 96, 128, "average", 128, 1)),
            ("inception_4b", (192, 96, 128, 96, 128, "average", 128, 1)),
            ("inception_4c", (160, 128, 160, 128, 160, "average", 128, 1)),
            ("inception_4d", (96, 128, 192, 160, 192, "average", 128, 1)),
        ),
        ("inception_4e", (0, 128, 192, 192, 256, "max", 0, 2)),
    ),
    (
        (("inception_5a", (352, 192, 320, 160, 224, "average", 128, 1)), ("inception_5b", (352, 192, 320, 192, 224, "max", 128, 1))),
        None,
    ),
)


def _i3d_module(x, widths, multiplier, inflate, temporal_padding, name):
    k3 = (3, 3, 3) if inflate else (1, 3, 3)
    b0, b1r, b1, b2r, b2, b3 = (scaled(w, multiplier) for w in widths)

    def unit(y, filters, kernel, suffix):
        return conv_unit(y, filters, kernel, 1, temporal_padding=temporal_padding, batch_norm=True, bn_scale=False, name=f"{name}_{suffix}")

    branch0 = unit(x, b0, 1, "b0_1x1")
    branch1 = unit(unit(x, b1r, 1, "b1_1x1"), b1, k3, "b1_3x3")
    branch2 = unit(unit(x, b2r, 1, "b2_1x1"), b2, k3, "b2_3x3")
    branch3 = Pool3D("max", k3, 1, padding="same", name=f"{name}_b3_pool")(x)
    branch3 = unit(branch3, b3, 1, "b3_1x1")
    return keras.layers.Concatenate(name=name)([branch0, branch1, branch2, branch3])


def i3d_tower(x, prefix, num_classes, multiplier=1.0, stage_blocks=(2, 5, 2), inflate=True, temporal_padding="zeros", dropout=0.5):
    """One I3D stream (or, `inflate=False`, its 2-D Inception-v1 parent applied per frame): logits
    per time step after the last average pool, averaged over time: [B, num_classes]."""

    def unit(y, filters, kernel, strides, suffix):
        return conv_unit(
            y, scaled(filters, multiplier), kernel if inflate else (1, *kernel[1:]), strides if inflate else (1, *strides[1:]),
            temporal_padding=temporal_padding, batch_norm=True, bn_scale=False, name=f"{prefix}{suffix}",
        )

    x = unit(x, 64, (7, 7, 7), (2, 2, 2), "Conv3d_1a_7x7")
    x = Pool3D("max", (1, 3, 3), (1, 2, 2), padding="same", name=f"{prefix}MaxPool3d_2a_3x3")(x)
    x = unit(x, 64, (1, 1, 1), (1, 1, 1), "Conv3d_2b_1x1")
    x = unit(x, 192, (3, 3, 3), (1, 1, 1), "Conv3d_2c_3x3")
    for stage, (modules, count, (pool_size, strides)) in enumerate(zip(I3D_STAGES, stage_blocks, I3D_STAGE_POOLS)):
        if not inflate:
            pool_size, strides = (1, *pool_size[1:]), (1, *strides[1:])
        x = Pool3D("max", pool_size, strides, padding="same", name=f"{prefix}MaxPool3d_{stage + 3}a")(x)
        for block_name, widths in modules[:count]:
            x = _i3d_module(x, widths, multiplier, inflate, temporal_padding, f"{prefix}{block_name}")
    frames, height, width = x.shape[1:4]
    x = Pool3D("average", (min(2, frames), height, width), 1, padding="valid", name=f"{prefix}AvgPool3d")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}Dropout")(x)
    x = conv_unit(x, num_classes, 1, 1, activation=None, use_bias=True, name=f"{prefix}Logits")
    x = keras.layers.Reshape((x.shape[1], num_classes), name=f"{prefix}SpatialSqueeze")(x)
    return TemporalMean(name=f"{prefix}TemporalMean")(x)


STREAM_CHANNELS = {"rgb": 3, "flow": 2}


@keras.saving.register_keras_serializable(package="deepzoo")
class I3D(ZooModel):
    """Two-stream Inflated 3-D ConvNet (Carreira & Zisserman 2017).

    Args:
        rgb_shape: RGB clip (T, H, W, 3), pixels 0..255 (scaled to [-1, 1] inside, as I3D's inputs).
        flow_shape: flow clip (T, H, W, 2), pixels per frame (clipped to ±20 and scaled to [-1, 1]).
        num_classes: 400 (Kinetics).
        streams: ["rgb", "flow"] (the two-stream model) or one of them.
        stage_blocks: Inception modules used per stage (2, 5, 2); tiny configs keep one per stage.
        width_multiplier: scales every width (tiny configs).
        inflate: False builds the 2-D Inception-v1 parent applied per frame (for `inflate_weights`).
        temporal_padding: "zeros" (the released code) or "edge" (replicated frames: exact
            inflation on static videos).
        dropout: before the logits (0.5 in the released code's training).
    """

    def __init__(
        self,
        rgb_shape=(64, 224, 224, 3),
        flow_shape=(64, 224, 224, 2),
        num_classes=400,
        streams=("rgb", "flow"),
        stage_blocks=(2, 5, 2),
        width_multiplier=1.0,
        inflate=True,
        temporal_padding="zeros",
        dropout=0.5,
        name="i3d",
        **kwargs,
    ):
        streams = list(streams)
        if not streams or set(streams) - set(STREAM_CHANNELS):
            raise ValueError(f"streams must be a non-empty subset of {sorted(STREAM_CHANNELS)}. Received: streams={streams}")
        shapes = {"rgb": rgb_shape, "flow": flow_shape}
        inputs, logits = {}, []
        for stream in streams:
            inputs[stream] = keras.Input(tuple(shapes[stream]), name=stream)
            if stream == "rgb":
                x = keras.layers.Rescaling(1 / 127.5, -1.0, name="rgb_rescale")(inputs[stream])
            else:
                x = keras.layers.Rescaling(1 / 20.0, name="flow_rescale")(keras.layers.Activation(clip_flow_range, name="flow_clip")(inputs[stream]))
            logits.append(
                i3d_tower(x, f"{stream}_", num_classes, width_multiplier, stage_blocks, inflate, temporal_padding, dropout)
            )
        fused = logits[0] if len(logits) == 1 else keras.layers.Average(name="logits")(logits)
        outputs = keras.layers.Activation("softmax", name="predictions")(fused)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
def clip_flow_range(x):
    return ops.clip(x, -20.0, 20.0)


def _bn_inception_module(x, spec, multiplier, name):
    b0, b1r, b1, b2r, b2, pool_mode, proj, stride = spec
    widths = [scaled(w, multiplier) if w else 0 for w in (b0, b1r, b1, b2r, b2, proj)]
    b0, b1r, b1, b2r, b2, proj = widths

    def unit(y, filters, kernel, strides, suffix):
        return conv_unit(y, filters, (1, kernel, kernel), (1, strides, strides), batch_norm=True, name=f"{name}_{suffix}")

    branches = []
    if b0:
        branches.append(unit(x, b0, 1, 1, "1x1"))
    branches.append(unit(unit(x, b1r, 1, 1, "3x3_reduce"), b1, 3, stride, "3x3"))
    double = unit(unit(x, b2r, 1, 1, "double_3x3_reduce"), b2, 3, 1, "double_3x3_1")
    branches.append(unit(double, b2, 3, stride, "double_3x3_2"))
    pooled = pool(x, pool_mode, (1, 3, 3), (1, stride, stride), padding="same", name=f"{name}_pool")
    branches.append(unit(pooled, proj, 1, 1, "pool_proj") if proj else pooled)
    return keras.layers.Concatenate(name=f"{name}_output")(branches)


def bn_inception(x, prefix, multiplier=1.0, stage_blocks=(2, 4, 2)):
    """BN-Inception applied per frame/snippet: [B, S, H, W, C] → features [B, S, 1024·m]. The
    snippets fold into the batch, so the network is plain 2-D."""
    snippets = x.shape[1]
    x = FoldClips(name=f"{prefix}fold_snippets")(x)

    def unit(y, filters, kernel, strides, suffix):
        return conv_unit(y, scaled(filters, multiplier), (1, kernel, kernel), (1, strides, strides), batch_norm=True, name=f"{prefix}{suffix}")

    x = unit(x, 64, 7, 2, "conv1_7x7_s2")
    x = pool(x, "max", (1, 3, 3), (1, 2, 2), padding="same", name=f"{prefix}pool1_3x3_s2")
    x = unit(x, 64, 1, 1, "conv2_3x3_reduce")
    x = unit(x, 192, 3, 1, "conv2_3x3")
    x = pool(x, "max", (1, 3, 3), (1, 2, 2), padding="same", name=f"{prefix}pool2_3x3_s2")
    for (modules, reduction), count in zip(BN_INCEPTION_STAGES, stage_blocks):
        for block_name, spec in modules[:count]:
            x = _bn_inception_module(x, spec, multiplier, f"{prefix}{block_name}")
        if reduction is not None:
            x = _bn_inception_module(x, reduction[1], multiplier, f"{prefix}{reduction[0]}")
    x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}global_pool")(x)
    return UnfoldClips(snippets, name=f"{prefix}features")(x)


def segment_centres(frames, segments):
    """The centre frame of each of `segments` equal segments of `frames` frames."""
    if segments > frames:
        raise ValueError(f"{segments} segments need at least as many frames. Received: {frames} frames")
    bounds = [k * frames // segments for k in range(segments + 1)]
    return [(start + end - 1) // 2 for start, end in zip(bounds[:-1], bounds[1:])]


CONSENSUS = ("average", "max")


@keras.saving.register_keras_serializable(package="deepzoo")
class TSN(ZooModel):
    """Temporal Segment Network, two modalities (RGB and optical flow).

    Args:
        rgb_shape: the video's RGB frames (T, H, W, 3), pixels 0..255.
        flow_shape: its flow fields (T, H, W, 2), pixels per frame, flow t from frame t to t + 1.
        num_classes: 101 (UCF-101).
        segments: K = 3.
        flow_length: stacked flow fields per temporal snippet (5 → 10 channels).
        consensus: "average" (TSN's) or "max", over the segments' class scores before the softmax.
        fusion_weights: [spatial, temporal] = [1, 1.5].
        stage_blocks: regular BN-Inception modules per stage (2, 4, 2); tiny configs keep one.
        width_multiplier: scales every width (tiny configs).
        dropout: [spatial, temporal] before each modality's classifier ([0.8, 0.7]).
    """

    def __init__(
        self,
        rgb_shape=(25, 224, 224, 3),
        flow_shape=(25, 224, 224, 2),
        num_classes=101,
        segments=3,
        flow_length=5,
        consensus="average",
        fusion_weights=(1.0, 1.5),
        stage_blocks=(2, 4, 2),
        width_multiplier=1.0,
        dropout=(0.8, 0.7),
        name="tsn",
        **kwargs,
    ):
        if consensus not in CONSENSUS:
            raise ValueError(f"consensus must be one of {CONSENSUS}. Received: consensus={consensus!r}")
        rgb = keras.Input(tuple(rgb_shape), name="rgb")
        flow = keras.Input(tuple(flow_shape), name="flow")
        rgb_snippets = SelectFrames(segment_centres(rgb_shape[0], segments), name="rgb_snippets")(rgb)
        centres = segment_centres(flow_shape[0], segments)
        flow_x = MeanFlowSubtraction(name="flow_mean_subtraction")(flow)
        flow_snippets = StackFlow(window_starts(flow_shape[0], centres, flow_length), flow_length, name="flow_snippets")(flow_x)
        scores = []
        for modality, x, drop in (("rgb", rgb_snippets, dropout[0]), ("flow", flow_snippets, dropout[1])):
            if modality == "rgb":
                x = keras.layers.Rescaling(1 / 127.5, -1.0, name="rgb_rescale")(x)
            features = bn_inception(x, f"{modality}_", width_multiplier, stage_blocks)
            if drop:
                features = keras.layers.Dropout(drop, name=f"{modality}_dropout")(features)
            segment_scores = keras.layers.Dense(num_classes, name=f"{modality}_scores")(features)  # [B, K, classes]
            if consensus == "average":
                pooled = TemporalMean(name=f"{modality}_consensus")(segment_scores)
            else:
                pooled = keras.layers.GlobalMaxPooling1D(name=f"{modality}_consensus")(segment_scores)
            scores.append(keras.layers.Rescaling(float(fusion_weights[0 if modality == "rgb" else 1]), name=f"{modality}_weighted")(pooled))
        fused = keras.layers.Add(name="fused_scores")(scores)
        outputs = keras.layers.Activation("softmax", name="predictions")(fused)
        super().__init__(inputs={"rgb": rgb, "flow": flow}, outputs=outputs, name=name, **kwargs)


TWO_STREAM_INPUTS = (TensorSpec("rgb", (None, None, None, 3)), TensorSpec("flow", (None, None, None, 2)))
PROBABILITIES = (TensorSpec("output", (None,)),)

register(
    ModelSpec(
        name="i3d",
        family="video",
        task="video",
        builder=I3D,
        canonical_config=dict(rgb_shape=(64, 224, 224, 3), flow_shape=(64, 224, 224, 2), num_classes=400),
        tiny_config=dict(
            rgb_shape=(8, 32, 32, 3), flow_shape=(8, 32, 32, 2), num_classes=9, stage_blocks=(1, 0, 0), width_multiplier=1 / 8, dropout=0.0
        ),
        reference_params=25_387_136,
        reference_source="B (faithful build, BN statistics included; the paper's ≈25 M two-stream, ≈12 M per stream)",
        paper="Carreira & Zisserman 2017, CVPR",
        seeds=("003",),
        default_dataset="moving_shapes_flow",
        inputs=TWO_STREAM_INPUTS,
        outputs=PROBABILITIES,
        notes=(
            "Tiny config: one Inception module (Mixed_3b) per stream, all pools kept, to fit the sweep budget. "
            "The paper rounds to 12 M per stream / 25 M; this build has 12,704,544 (RGB stream) and 25,387,136, "
            "1.5 % above the rounded 25 M, so the reference is the build's count (B). Streams are trained jointly "
            "through the averaged logits here; the paper trains them separately (streams=['rgb'] or ['flow'])."
        ),
    )
)

register(
    ModelSpec(
        name="tsn",
        family="video",
        task="video",
        builder=TSN,
        canonical_config=dict(rgb_shape=(25, 224, 224, 3), flow_shape=(25, 224, 224, 2), num_classes=101),
        tiny_config=dict(
            rgb_shape=(8, 32, 32, 3), flow_shape=(8, 32, 32, 2), num_classes=9, flow_length=2,
            stage_blocks=(1, 0, 0), width_multiplier=1 / 8, dropout=(0.0, 0.0),
        ),
        reference_params=20_789_514,
        reference_source="B (faithful build: two BN-Inception backbones, 3 and 10 input channels; the paper gives no count)",
        paper="Wang, Xiong, Wang, Qiao, Lin, Tang & Van Gool 2016, ECCV",
        seeds=("003",),
        default_dataset="moving_shapes_flow",
        inputs=TWO_STREAM_INPUTS,
        outputs=PROBABILITIES,
        notes=(
            "Snippets are the segment centres (TSN's test-time sampling); both modalities train jointly here. "
            "Tiny config: inception_3a and the two stride-2 modules (3c, 4e), to fit the sweep budget."
        ),
    )
)
