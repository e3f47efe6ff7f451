"""Local response normalisation (Krizhevsky, Sutskever & Hinton 2012, §3.3), spec §3.

    b^i_{x,y} = a^i_{x,y} / (k + α · Σ_{j = max(0, i − n/2)}^{min(N − 1, i + n/2)} (a^j_{x,y})²)^β

with the AlexNet constants k = 2, n = 5, α = 1e-4, β = 0.75. α multiplies the plain sum of squares
(as in the paper and `tf.nn.local_response_normalization`); Caffe divides α by n, which is
`alpha_per_size=True` here. The "within_channel" mode sums over an n×n spatial window of the same
map instead of over neighbouring maps (the intra-map variant of spec §3).

Written with slicing and padding only, so it exports to every runtime (ONNX, LiteRT) without the
TensorFlow-only LRN op.
"""

import keras
from keras import ops

LRN_MODES = ("across_channels", "within_channel")


@keras.saving.register_keras_serializable(package="deepzoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (AlexNet, GoogLeNet) or within each map.

    Args:
        size: n, the number of neighbouring channels (or the spatial window side) summed over.
        alpha: α, the scale of the sum of squares.
        beta: β, the exponent.
        k: the additive constant (the paper's k; TensorFlow calls it `bias`).
        mode: "across_channels" (the paper's inter-map form) or "within_channel".
        alpha_per_size: divide α by the window's element count (Caffe's convention).
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, mode="across_channels", alpha_per_size=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in LRN_MODES:
            raise ValueError(f"mode must be one of {LRN_MODES}. Received: mode={mode!r}")
        if int(size) < 1:
            raise ValueError(f"size must be a positive integer. Received: size={size}")
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.mode = mode
        self.alpha_per_size = bool(alpha_per_size)

    def call(self, inputs):
        squares = ops.square(inputs)
        before = self.size // 2
        after = self.size - 1 - before
        if self.mode == "across_channels":
            channels = inputs.shape[-1]
            padded = ops.pad(squares, [[0, 0]] * (len(inputs.shape) - 1) + [[before, after]])
            total = padded[..., 0:channels]
            for offset in range(1, self.size):
                total = total + padded[..., offset : offset + channels]
            count = self.size
        else:
            padded = ops.pad(squares, [[0, 0], [before, after], [before, after], [0, 0]])
            total = ops.average_pool(padded, pool_size=self.size, strides=1, padding="valid") * float(self.size**2)
            count = self.size**2
        alpha = self.alpha / count if self.alpha_per_size else self.alpha
        return inputs / ops.power(self.k + alpha * total, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
            "mode": self.mode,
            "alpha_per_size": self.alpha_per_size,
        }
