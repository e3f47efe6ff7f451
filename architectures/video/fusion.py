"""Karpathy et al.'s single-frame baseline and its three time-fusion variants.

Reference: Karpathy, Toderici, Shetty, Leung, Sukthankar & Fei-Fei, "Large-scale video
classification with convolutional neural networks", CVPR 2014. Single-frame tower
C(96, 11, 3)-N-P-C(256, 5, 1)-N-P-C(384, 3, 1)-C(384, 3, 1)-C(256, 3, 1)-P-FC4096-FC4096-softmax
on 170×170 frames (C(d, f, s) = d filters f×f, stride s; N = local response normalisation; P =
2×2 max pooling), Sports-1M's 487 classes. The fusion models extend that tower over time:

- single frame: the tower on each frame; the clip's prediction is the average of the frames'.
- early fusion: conv1 spans T = 10 frames (a 10×11×11×3 filter, valid in time), the rest as above.
- late fusion: two towers with shared weights see frames 15 apart; they merge at the first FC.
- slow fusion: conv1 spans 4 frames with temporal stride 2 on 10 frames (4 responses), conv2 and
  conv3 span 2 with stride 2, so conv3 sees all 10 frames.

The paper gives no parameter counts; the references are faithful builds (B). The first conv is
'valid', the others 'same' (the paper does not say; this keeps the 170 px maps at 54 → 27 → 13 →
6, so FC6 reads 6×6×256). The multiresolution fovea/context streams are a separate experiment
of the paper, not one of these rows.
"""

import keras

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.video.layers import (
    SelectFrames,
    TemporalMean,
    clip_input,
    dense_stack,
    frame_tower,
)
from tasks.base import TensorSpec

KARPATHY_TOWER = (
    ("conv", 96, 11, 3, "valid"), ("lrn",), ("pool", 2, 2),
    ("conv", 256, 5, 1, "same"), ("lrn",), ("pool", 2, 2),
    ("conv", 384, 3, 1, "same"),
    ("conv", 384, 3, 1, "same"),
    ("conv", 256, 3, 1, "same"), ("pool", 2, 2),
)  # fmt: skip
KARPATHY_FC = (4096, 4096)

# Temporal (extent, stride) of the convolutions that span time, by conv index; None = the clip length.
FUSIONS = {
    "single": {},
    "early": {0: (None, 1)},
    "late": {},
    "slow": {0: (4, 2), 1: (2, 2), 2: (2, 2)},
}


@keras.saving.register_keras_serializable(package="deepzoo")
class FusionCNN(ZooModel):
    """Karpathy et al.'s video CNN with a given time fusion.

    Args:
        input_shape: clip (T, H, W, 3); the paper: 170×170 frames, T = 10 (early, slow), 16 frames
            for late fusion's frames 15 apart.
        num_classes: classes (487 for Sports-1M).
        fusion: "single", "early", "late" or "slow".
        temporal_extents: [[extent, stride], ...] of conv1, conv2, ... overriding the fusion's
            (the paper's: early [[10, 1]], slow [[4, 2], [2, 2], [2, 2]]); None = the paper's.
        frame_gap: late fusion's distance between its two frames (15); None = T − 1.
        width_multiplier: scales every conv and FC width (tiny configs).
        dropout: dropout after each FC layer.
        preprocessing: deterministic input preprocessing (`model_input`).
    """

    def __init__(
        self,
        input_shape=(10, 170, 170, 3),
        num_classes=487,
        fusion="slow",
        temporal_extents=None,
        frame_gap=None,
        width_multiplier=1.0,
        dropout=0.0,
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}. Received: fusion={fusion!r}")
        frames = int(input_shape[0])
        if temporal_extents is None:
            temporal = {i: (frames if e is None else e, s) for i, (e, s) in FUSIONS[fusion].items()}
        else:
            temporal = {i: tuple(pair) for i, pair in enumerate(temporal_extents)}
        inputs, x = clip_input(input_shape, preprocessing)
        if fusion == "late":
            gap = frames - 1 if frame_gap is None else int(frame_gap)
            if not 0 < gap < frames:
                raise ValueError(f"late fusion needs 0 < frame_gap < T = {frames}. Received: frame_gap={frame_gap}")
            x = SelectFrames([0, gap], name="frames")(x)
        x = frame_tower(x, KARPATHY_TOWER, width_multiplier, temporal)
        if fusion == "single":
            # Each frame is classified alone; the clip's scores are the frames' average.
            x = keras.layers.Reshape((x.shape[1], -1), name="flatten")(x)
            x = dense_stack(x, KARPATHY_FC, width_multiplier, dropout)
            x = keras.layers.Dense(num_classes, activation="softmax", name="frame_predictions")(x)
            outputs = TemporalMean(name="predictions")(x)
        else:
            # Early/slow fusion end with one time step; late fusion concatenates its two towers here.
            x = keras.layers.Flatten(name="flatten")(x)
            x = dense_stack(x, KARPATHY_FC, width_multiplier, dropout)
            outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"{fusion}_fusion_cnn", **kwargs)


PAPER = "Karpathy, Toderici, Shetty, Leung, Sukthankar & Fei-Fei 2014, CVPR"
TINY = dict(num_classes=9, width_multiplier=1 / 16)  # conv widths 6, 16, 24, 24, 16; FC 256
CLIP = TensorSpec("clip", (None, None, None, 3))
PROBABILITIES = (TensorSpec("output", (None,)),)

VARIANTS = {
    # name: (fusion, canonical clip, tiny clip, tiny overrides, reference params (B), notes)
    "single_frame_cnn": ("single", (10, 170, 170, 3), (8, 32, 32, 3), {}, 60_276_583,
                         "Frame predictions averaged over the clip; the paper also averages over clips of a video."),
    "early_fusion_cnn": ("early", (10, 170, 170, 3), (8, 32, 32, 3), {}, 60_590_215,
                         "conv1 spans the whole clip (T = 10 canonical, 8 tiny), valid in time."),
    "late_fusion_cnn": ("late", (16, 170, 170, 3), (8, 32, 32, 3), {}, 98_025_319,
                        "Frames 0 and 15 (tiny: 0 and 7) through one shared tower; FC6 reads both."),
    "slow_fusion_cnn": ("slow", (10, 170, 170, 3), (8, 32, 32, 3), {"temporal_extents": [[2, 2], [2, 2], [2, 2]]}, 61_880_263,
                        "conv1 4 frames / stride 2, conv2 and conv3 2 / stride 2 on 10 frames (tiny: 2/2 three times on 8)."),
}


def _register():
    for name, (fusion, canonical, tiny, tiny_overrides, params, note) in VARIANTS.items():
        register(
            ModelSpec(
                name=name,
                family="video",
                task="video",
                builder=FusionCNN,
                canonical_config=dict(input_shape=canonical, num_classes=487, fusion=fusion),
                tiny_config=dict(input_shape=tiny, fusion=fusion, **TINY, **tiny_overrides),
                reference_params=params,
                reference_source="B (faithful build; the paper gives no count)",
                paper=PAPER,
                seeds=("003",),
                default_dataset="moving_shapes",
                inputs=(CLIP,),
                outputs=PROBABILITIES,
                notes=note,
            )
        )


_register()
