"""C3D and C3D + RNN for temporal activity detection.

C3D: Tran, Bourdev, Fergus, Torresani & Paluri, "Learning spatiotemporal features with 3D
convolutional networks", ICCV 2015. 16×112×112×3 clips; every convolution 3×3×3 with stride 1
and 'same' padding; pool1 1×2×2 (no early temporal pooling), pool2–pool5 2×2×2; fc6 and fc7 4096
with dropout 0.5; softmax over Sports-1M's 487 classes. pool5 pads its 2×7×7 input to 2×8×8 (as
the released Caffe model does), so fc6 reads 1×4×4×512 = 8,192 values: 79,991,015 parameters.
Here every pooling is TF 'same', which gives exactly that for 16×112×112 and lets shorter clips
(the tiny 8 frames) pool to one time step.

C3D + RNN: Montes, Salvador, Pascual & Giró-i-Nieto, "Temporal activity detection in untrimmed
videos with recurrent neural networks", NIPS 2016 workshop (arXiv 1608.08128). The fc6 activations
(4,096) of each consecutive 16-frame clip feed a single LSTM layer of 512 cells with dropout 0.5
before and after it, which outputs per-clip probabilities over ActivityNet's 200 activities plus
background. Post-processing (threshold γ on the activity probabilities, smoothing, runs of a class
→ segments) is `tasks.video.detect_segments`; segments are scored by temporal IoU. The paper uses a
frozen, pre-trained C3D; here the whole network trains end to end unless its C3D layers are frozen.
"""

import keras

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.video.layers import (
    FoldClips,
    Pool3D,
    UnfoldClips,
    clip_input,
    conv_unit,
    dense_stack,
    scaled,
)
from tasks.base import TensorSpec

# (layer, filters or pool size): the C3D table.
C3D_TABLE = (
    ("conv1a", 64), ("pool1", (1, 2, 2)),
    ("conv2a", 128), ("pool2", (2, 2, 2)),
    ("conv3a", 256), ("conv3b", 256), ("pool3", (2, 2, 2)),
    ("conv4a", 512), ("conv4b", 512), ("pool4", (2, 2, 2)),
    ("conv5a", 512), ("conv5b", 512), ("pool5", (2, 2, 2)),
)  # fmt: skip
C3D_FC = (4096, 4096)


def c3d_features(x, width_multiplier=1.0, fc_layers=2, dropout=0.5):
    """The C3D convolutions and the first `fc_layers` FC layers (fc6, fc7) on a clip tensor."""
    for layer, value in C3D_TABLE:
        if layer.startswith("conv"):
            x = conv_unit(x, scaled(value, width_multiplier), 3, 1, padding="same", name=layer)
        else:
            x = Pool3D("max", value, value, padding="same", name=layer)(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return dense_stack(x, C3D_FC[:fc_layers], width_multiplier, dropout)


@keras.saving.register_keras_serializable(package="deepzoo")
class C3D(ZooModel):
    """C3D (Tran et al. 2015).

    Args:
        input_shape: clip (T, H, W, 3); the paper: 16×112×112 crops.
        num_classes: 487 (Sports-1M).
        width_multiplier: scales conv and FC widths (tiny configs).
        dropout: after fc6 and fc7 (0.5).
        preprocessing: deterministic input preprocessing (`model_input`).
    """

    def __init__(self, input_shape=(16, 112, 112, 3), num_classes=487, width_multiplier=1.0, dropout=0.5, preprocessing=None, name="c3d", **kwargs):
        inputs, x = clip_input(input_shape, preprocessing)
        x = c3d_features(x, width_multiplier, 2, dropout)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class C3DRNN(ZooModel):
    """C3D fc6 features of consecutive clips → LSTM → per-clip class probabilities (Montes et al.).

    Args:
        input_shape: (C, T, H, W, 3): C consecutive clips of T frames.
        num_classes: 201 (ActivityNet's 200 activities + background).
        lstm_units: 512; lstm_layers: 1 (the paper's best of 1×512, 2×512, 3×1024).
        width_multiplier: scales C3D's widths (tiny configs).
        dropout: before and after the LSTM (0.5), and after fc6.
        unroll: unroll the LSTM over the C clips (fixed C; every export format converts it).
        preprocessing: deterministic input preprocessing (`model_input`).
    """

    def __init__(
        self,
        input_shape=(32, 16, 112, 112, 3),
        num_classes=201,
        lstm_units=512,
        lstm_layers=1,
        width_multiplier=1.0,
        dropout=0.5,
        unroll=True,
        preprocessing=None,
        name="c3d_rnn",
        **kwargs,
    ):
        clips = int(input_shape[0])
        inputs, x = clip_input(input_shape, preprocessing, name="clips")
        x = FoldClips(name="fold_clips")(x)
        x = c3d_features(x, width_multiplier, 1, dropout)  # fc6
        x = UnfoldClips(clips, name="unfold_clips")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="lstm_input_dropout")(x)
        for index in range(lstm_layers):
            x = keras.layers.LSTM(scaled(lstm_units, width_multiplier), return_sequences=True, unroll=unroll, name=f"lstm{index + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="lstm_output_dropout")(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="clip_predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="c3d",
        family="video",
        task="video",
        builder=C3D,
        canonical_config=dict(input_shape=(16, 112, 112, 3), num_classes=487),
        tiny_config=dict(input_shape=(8, 32, 32, 3), num_classes=9, width_multiplier=1 / 16, dropout=0.0),
        reference_params=79_991_015,
        reference_source="B (the released Caffe model's count, as the spec gives it)",
        paper="Tran, Bourdev, Fergus, Torresani & Paluri 2015, ICCV",
        seeds=("003",),
        default_dataset="moving_shapes",
        inputs=(TensorSpec("clip", (None, None, None, 3)),),
        outputs=(TensorSpec("output", (None,)),),
        train_recipe=dict(optimizer="sgd", learning_rate=3e-3, momentum=0.9, batch_size=30),
        notes="All pools TF 'same': identical to the released model's pool5 padding at 16×112×112.",
    )
)

register(
    ModelSpec(
        name="c3d_rnn",
        family="video",
        task="video",
        builder=C3DRNN,
        canonical_config=dict(input_shape=(32, 16, 112, 112, 3), num_classes=201),
        tiny_config=dict(input_shape=(4, 8, 32, 32, 3), num_classes=10, width_multiplier=1 / 16, dropout=0.0),
        reference_params=70_756_809,
        reference_source="B (faithful build: C3D to fc6 61,214,464 + LSTM 9,439,232 + softmax 103,113)",
        paper="Montes, Salvador, Pascual & Giró-i-Nieto 2016, NIPS workshop (arXiv 1608.08128)",
        seeds=("003",),
        default_dataset="moving_shapes_untrimmed",
        inputs=(TensorSpec("clips", (None, None, None, None, 3)),),
        outputs=(TensorSpec("output", (None, None)),),
        notes=(
            "Canonical: 32 consecutive 16-frame clips (a fixed number so the LSTM unrolls); C3D to fc6 + "
            "LSTM 512 + softmax over 201."
        ),
    )
)
