"""Per-frame CNN features + LSTM: Ng et al.'s "beyond short snippets" and Donahue et al.'s LRCN.

CNN + RNN: Ng, Hausknecht, Vijayanarasimhan, Vinyals, Monga & Toderici, "Beyond short snippets:
deep networks for video classification", CVPR 2015. Frame features of an AlexNet/CaffeNet
(fc7, 4,096) feed five stacked LSTM layers of 512 cells; a softmax predicts at every frame and the
video's prediction is a weighted average of the frames' with weights g increasing linearly over
time (late frames have seen more of the video). 30 frames at one frame per second; 227×227 crops.
The GoogLeNet backbone and the feature-pooling alternative are other experiments of the paper.

LRCN: Donahue, Hendricks, Guadarrama, Rohrbach, Venugopalan, Saenko & Darrell, "Long-term
recurrent convolutional networks for visual recognition and description", CVPR 2015. A
CaffeNet-style per-frame CNN (the Zeiler & Fergus variant the paper uses: conv1 96@7×7/2, conv2
384@5×5/2, conv3 512, conv4 512, conv5 384, each conv1/conv2 followed by pooling and LRN) to fc6
(4,096) → one LSTM layer of 256 cells → per-frame softmax, averaged over the 16-frame clip.
The paper's RGB and flow models are fused late by weighted averaging; this row is one stream.

The paper gives no parameter counts for either; the references are faithful builds (B). AlexNet's
two-GPU grouping is not reproduced (one group), which the count reflects. Tiny configs use 'same'
pooling so 32 px frames survive three 3×3/2 pools. Pooled three times, though, a 32 px frame is
one 1×1 cell: a max over the whole frame that no longer says where the sprite is, so the LSTM has
no motion to see (both tiny rows sat at chance). `max_pools` keeps fewer of the tower's pools, so
that fc6 reads a spatial grid as the paper's fc6 reads pool5's 6×6 grid.
"""

import keras

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.video.layers import (
    TemporalMean,
    clip_input,
    dense_stack,
    frame_tower,
    scaled,
)
from tasks.base import TensorSpec

CAFFENET_TOWER = (
    ("conv", 96, 11, 4, "valid"), ("pool", 3, 2), ("lrn",),
    ("conv", 256, 5, 1, "same"), ("pool", 3, 2), ("lrn",),
    ("conv", 384, 3, 1, "same"),
    ("conv", 384, 3, 1, "same"),
    ("conv", 256, 3, 1, "same"), ("pool", 3, 2),
)  # fmt: skip
LRCN_TOWER = (
    ("conv", 96, 7, 2, "valid"), ("pool", 3, 2), ("lrn",),
    ("conv", 384, 5, 2, "same"), ("pool", 3, 2), ("lrn",),
    ("conv", 512, 3, 1, "same"),
    ("conv", 512, 3, 1, "same"),
    ("conv", 384, 3, 1, "same"), ("pool", 3, 2),
)  # fmt: skip
TOWERS = {"caffenet": (CAFFENET_TOWER, (4096, 4096)), "lrcn": (LRCN_TOWER, (4096,))}


@keras.saving.register_keras_serializable(package="deepzoo")
class FrameRNN(ZooModel):
    """A per-frame CNN → stacked LSTM → per-frame softmax → (weighted) average over the frames.

    Args:
        input_shape: clip (T, H, W, 3).
        num_classes: output classes.
        tower: "caffenet" (AlexNet to fc7, Ng et al.) or "lrcn" (Donahue et al.'s CNN to fc6).
        lstm_units: cells per LSTM layer; lstm_layers: stacked layers.
        weighting: "linear" (Ng et al.'s g) or "uniform" (LRCN's average).
        width_multiplier: scales conv, FC and LSTM widths (tiny configs).
        pool_padding: None (the table's 'valid') or "same" (small frames).
        max_pools: keep only the tower's first that many max-pools (None: all, the paper). The
            paper's 227 px frames leave a 6×6 grid at pool5 for fc6 to read; 32 px frames pooled
            three times leave 1×1, a max over the whole frame that no longer says where the sprite
            is, so the LSTM cannot see it move (the tiny rows sat at chance).
        dropout: after each FC layer.
        unroll: unroll the LSTMs over the T frames (fixed T; every export format converts it).
        preprocessing: deterministic input preprocessing (`model_input`).
    """

    def __init__(
        self,
        input_shape=(30, 227, 227, 3),
        num_classes=487,
        tower="caffenet",
        lstm_units=512,
        lstm_layers=5,
        weighting="linear",
        width_multiplier=1.0,
        pool_padding=None,
        max_pools=None,
        dropout=0.5,
        unroll=True,
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        if tower not in TOWERS:
            raise ValueError(f"tower must be one of {sorted(TOWERS)}. Received: tower={tower!r}")
        table, fc = TOWERS[tower]
        inputs, x = clip_input(input_shape, preprocessing)
        x = frame_tower(x, table, width_multiplier, pool_padding=pool_padding, max_pools=max_pools)
        x = keras.layers.Reshape((x.shape[1], -1), name="flatten")(x)
        x = dense_stack(x, fc, width_multiplier, dropout)
        for index in range(lstm_layers):
            x = keras.layers.LSTM(scaled(lstm_units, width_multiplier), return_sequences=True, unroll=unroll, name=f"lstm{index + 1}")(x)
        x = keras.layers.Dense(num_classes, activation="softmax", name="frame_predictions")(x)
        outputs = TemporalMean(weighting, name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"{tower}_rnn", **kwargs)


CLIP = (TensorSpec("clip", (None, None, None, 3)),)
PROBABILITIES = (TensorSpec("output", (None,)),)

register(
    ModelSpec(
        name="cnn_rnn_video",
        family="video",
        task="video",
        builder=FrameRNN,
        canonical_config=dict(input_shape=(30, 227, 227, 3), num_classes=487, tower="caffenet", lstm_units=512, lstm_layers=5, weighting="linear"),
        tiny_config=dict(
            input_shape=(8, 32, 32, 3), num_classes=9, tower="caffenet", lstm_units=512, lstm_layers=2,
            weighting="linear", width_multiplier=1 / 32, pool_padding="same", max_pools=0, dropout=0.0,
        ),
        reference_params=76_367_207,
        reference_source="B (faithful build: CaffeNet to fc7 without grouping + 5 × LSTM 512)",
        paper="Ng, Hausknecht, Vijayanarasimhan, Vinyals, Monga & Toderici 2015, CVPR",
        seeds=("003",),
        default_dataset="moving_shapes",
        inputs=CLIP,
        outputs=PROBABILITIES,
        notes=(
            "Sports-1M's 487 classes; 30 frames. The tiny config stacks 2 LSTM layers instead of 5 and drops the "
            "max-pools (max_pools=0), so that fc6 reads a 6×6 grid of its 32 px frames as the paper's fc6 reads "
            "pool5's 6×6 grid of 227 px frames; pooled to 1×1 the tiny row sat at chance."
        ),
    )
)

register(
    ModelSpec(
        name="lrcn",
        family="video",
        task="video",
        builder=FrameRNN,
        canonical_config=dict(input_shape=(16, 227, 227, 3), num_classes=101, tower="lrcn", lstm_units=256, lstm_layers=1, weighting="uniform", name="lrcn"),
        tiny_config=dict(
            input_shape=(8, 32, 32, 3), num_classes=9, tower="lrcn", lstm_units=1024, lstm_layers=1,
            weighting="uniform", width_multiplier=1 / 64, pool_padding="same", max_pools=0, dropout=0.0, name="lrcn",
        ),
        reference_params=67_946_469,
        reference_source="B (faithful build: the paper's CNN to fc6 + LSTM 256)",
        paper="Donahue, Hendricks, Guadarrama, Rohrbach, Venugopalan, Saenko & Darrell 2015, CVPR",
        seeds=("003", "004"),
        default_dataset="moving_shapes",
        inputs=CLIP,
        outputs=PROBABILITIES,
        notes=(
            "UCF-101; 16-frame clips (the paper samples them every 8 frames and averages clips per video). The tiny "
            "config drops the max-pools (max_pools=0: fc6 reads a 7×7 grid, not a 1×1 max over the frame) and "
            "scales widths by 1/64 (conv 2–8 channels, fc6 64, LSTM 1024/64 = 16 cells): wider, it memorised "
            "its training clips."
        ),
    )
)
