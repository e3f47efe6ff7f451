"""3D-R2N2: single- and multi-view 3-D reconstruction with a 3-D convolutional LSTM.

Reference: Choy, Xu, Gwak, Chen & Savarese, "3D-R2N2: a unified approach for single and multi-view
3D object reconstruction" (ECCV 2016), Fig. 2–4 and §3 (the "3D-LSTM" shallow variant):

- 2-D encoder: six conv(3×3 after a 7×7 first) + max-pool stages of 96, 128, 256, 256, 256, 256
  channels (leaky ReLU 0.01) on 127×127 views, then a fully connected layer of 1024 units.
- 3-D convolutional LSTM: a 4×4×4 grid of hidden cells (N_h = 128 channels). Each view's feature
  T(x_t) drives the gates through fully connected maps; the neighbouring hidden states through a
  3×3×3 convolution: f_t = σ(W_f T(x_t) + U_f * h_{t−1} + b_f), i_t = σ(W_i T(x_t) + U_i * h_{t−1} + b_i),
  s_t = f_t ⊙ s_{t−1} + i_t ⊙ tanh(W_s T(x_t) + U_s * h_{t−1} + b_s), h_t = tanh(s_t) (no output gate,
  eq. 6–8). The views are processed in sequence; the last hidden grid is decoded.
- 3-D deconvolutional decoder: (unpool ×2 → conv3d 3³) with 128, 128, 32 channels, then conv3d 8
  and a conv3d to 2 classes → per-voxel softmax on 32³; loss = voxel-wise cross-entropy (eq. 10).
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec

R2N2_ENCODER = ((96, 7), (128, 3), (256, 3), (256, 3), (256, 3), (256, 3))  # (filters, kernel), each then 2×2 max-pool
R2N2_DECODER = (128, 128, 32)  # after each 2× unpool
R2N2_LEAK = 0.01


@keras.saving.register_keras_serializable(package="deepzoo")
class ConvLSTM3D(keras.layers.Layer):
    """3D-R2N2's 3-D convolutional LSTM over a sequence of view features [N, T, F] → the last hidden
    grid [N, G, G, G, C]. Python-unrolled over the static T views (every export runtime runs it)."""

    def __init__(self, grid=4, channels=128, kernel=3, **kwargs):
        super().__init__(**kwargs)
        self.grid, self.channels, self.kernel = int(grid), int(channels), int(kernel)
        cells = self.grid**3 * self.channels
        self.input_maps = [keras.layers.Dense(cells, name=f"w_{gate}") for gate in ("f", "i", "s")]
        self.hidden_maps = [
            keras.layers.Conv3D(self.channels, self.kernel, padding="same", use_bias=False, name=f"u_{gate}") for gate in ("f", "i", "s")
        ]

    def build(self, input_shape):
        features = int(input_shape[-1])
        grid_shape = (None, self.grid, self.grid, self.grid, self.channels)
        for dense, conv in zip(self.input_maps, self.hidden_maps):
            dense.build((None, features))
            conv.build(grid_shape)
        self.built = True

    def call(self, sequence):
        steps = int(sequence.shape[1])
        shape = (-1, self.grid, self.grid, self.grid, self.channels)
        hidden = state = None
        for t in range(steps):
            x = sequence[:, t]
            pre = [ops.reshape(dense(x), shape) for dense in self.input_maps]
            if hidden is not None:
                pre = [p + conv(hidden) for p, conv in zip(pre, self.hidden_maps)]
            forget, inp, candidate = ops.sigmoid(pre[0]), ops.sigmoid(pre[1]), ops.tanh(pre[2])
            state = inp * candidate if state is None else forget * state + inp * candidate
            hidden = ops.tanh(state)
        return hidden

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.grid, self.grid, self.grid, self.channels)

    def get_config(self):
        return {**super().get_config(), "grid": self.grid, "channels": self.channels, "kernel": self.kernel}


@keras.saving.register_keras_serializable(package="deepzoo")
class R2N2(ZooModel):
    """3D-R2N2 (shallow 3D-LSTM variant).

    Args:
        input_shape: (T views, H, W, C); 127×127×3 in the paper (any T ≥ 1).
        voxel_size: D of the output grid (32); D = grid · 2^k with k unpoolings.
        encoder: (filters, kernel) of the 2-D conv stages, each followed by a 2×2 max-pool.
        features: units of the encoder's fully connected layer (1024).
        grid, hidden: the conv-LSTM's grid side (4) and channels N_h (128).
        decoder: channels of the 3-D conv after each 2× unpooling (128, 128, 32); its last width
            repeats where voxel_size needs more unpoolings, and it is cut where fewer.
        head: channels of the last 3-D conv before the 2-class output (8).
    """

    def __init__(
        self,
        input_shape=(3, 127, 127, 3),
        voxel_size=32,
        encoder=R2N2_ENCODER,
        features=1024,
        grid=4,
        hidden=128,
        decoder=R2N2_DECODER,
        head=8,
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        shape = tuple(input_shape)
        if len(shape) != 4 or any(d is None for d in shape):
            raise ValueError(f"3D-R2N2 needs static views (T, H, W, C). Received: input_shape={shape}")
        unpools = int(round(math.log2(max(voxel_size, 1) / grid))) if voxel_size >= grid else -1
        if unpools < 0 or grid * 2**unpools != voxel_size:
            raise ValueError(f"voxel_size must be grid · 2^k (grid = {grid}). Received: voxel_size={voxel_size}")
        # One 3-D conv per unpooling; a grid larger than the table repeats its last width.
        decoder = (tuple(decoder) + (tuple(decoder)[-1],) * unpools)[:unpools]
        views, x = model_input(shape, preprocessing, name="views")
        encoder_net = keras.Sequential(name="view_encoder")
        encoder_net.add(keras.Input(shape=shape[1:]))
        for index, (filters, kernel) in enumerate(encoder):
            encoder_net.add(keras.layers.Conv2D(filters, kernel, padding="same", name=f"conv{index + 1}"))
            encoder_net.add(keras.layers.LeakyReLU(R2N2_LEAK, name=f"leaky{index + 1}"))
            encoder_net.add(keras.layers.MaxPooling2D(2, padding="same", name=f"pool{index + 1}"))
        encoder_net.add(keras.layers.Flatten(name="flatten"))
        encoder_net.add(keras.layers.Dense(features, name="fc"))
        encoder_net.add(keras.layers.LeakyReLU(R2N2_LEAK, name="fc_leaky"))
        x = keras.layers.TimeDistributed(encoder_net, name="encode_views")(x)  # shared weights across views
        x = ConvLSTM3D(grid, hidden, name="conv_lstm_3d")(x)
        for index, filters in enumerate(decoder):
            x = keras.layers.UpSampling3D(2, name=f"unpool{index + 1}")(x)
            x = keras.layers.Conv3D(filters, 3, padding="same", name=f"deconv{index + 1}")(x)
            x = keras.layers.LeakyReLU(R2N2_LEAK, name=f"deconv{index + 1}_leaky")(x)
        x = keras.layers.Conv3D(head, 3, padding="same", name="deconv_head")(x)
        x = keras.layers.LeakyReLU(R2N2_LEAK, name="deconv_head_leaky")(x)
        x = keras.layers.Conv3D(2, 3, padding="same", name="voxel_logits")(x)
        x = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs=views, outputs=x, name=name or "r2n2", **kwargs)


register(
    ModelSpec(
        name="image_to_3d",
        family="three_d",
        task="voxel_reconstruction",
        builder=R2N2,
        canonical_config=dict(input_shape=(3, 127, 127, 3), voxel_size=32),
        tiny_config=dict(
            input_shape=(2, 16, 16, 1), voxel_size=8, encoder=((4, 3), (8, 3)), features=16, grid=4, hidden=4, decoder=(4,), head=4,
        ),
        paper="Choy, Xu, Gwak, Chen & Savarese 2016 (ECCV, 3D-R2N2)",
        seeds=("003",),
        default_dataset="rendered_voxels",
        inputs=(TensorSpec("views", (None, None, None, None)),),
        outputs=(TensorSpec("occupancy_probability", (None, None, None)), TensorSpec("occupancy", (None, None, None), "int32")),
        notes=(
            "The notes' figure is missing; the row follows 3D-R2N2's shallow 3D-LSTM network. Decoder unpooling "
            "is nearest-neighbour up-sampling + 3×3×3 conv (the paper's unpool copies into a sparse grid). "
            "The paper gives no parameter count."
        ),
    )
)
