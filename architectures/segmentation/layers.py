"""Up- and down-sampling operators of family E that Keras lacks, written once in `keras.ops`.

- `MaxPoolingWithSwitches` / `MaxUnpooling2D`: 2×2/2 max-pooling that also returns its *switches*
  (which of the four window positions held the maximum, row-major 0..3, the first one on ties) and
  the unpooling that puts each value back at its switch, zeros elsewhere (Zeiler & Fergus 2014;
  DeconvNet, SegNet, ENet). The switches are the local form of `tf.nn.max_pool_with_argmax`'s flat
  indices: the same information, but computed with a max-pool, a comparison of the input with the
  nearest-up-sampled maxima and a min-pool of the window positions that hold a maximum (the first
  one), and undone with a nearest ×2 up-sampling masked where the up-sampled switch equals the
  pixel's window position, so SavedModel, ONNX and TFLite export them with builtin ops (no
  scatter, no MaxPoolWithArgmax kernel). Only the pooled values carry gradients, through the
  native max-pool: a training step is about 10× cheaper than with stacked strided slices. Odd sides are padded symmetrically by one
  pixel before pooling (a duplicated edge never wins a tie against its original, the first one);
  `MaxUnpooling2D(output_size=...)` crops the unpooled map back to the pre-pooling size.
- `BedOfNails2D`: the "bed of nails" up-sampling (each value to the top-left of its 2×2 block).
- `bilinear_kernel`, `BilinearInitializer`, `FixedBilinearUpsampling2D`: FCN's up-sampling by a
  factor f, a transposed convolution with a 2f × 2f bilinear kernel (Long et al. 2015 §3.3, the
  reference `upsample_filt`), either learned from a bilinear initialisation (a `Conv2DTranspose`
  with `BilinearInitializer`) or fixed (`FixedBilinearUpsampling2D`: the kernel is a constant, not a
  weight, as the reference models' `lr_mult: 0` deconvolutions). Followed by a crop of f/2 pixels
  per side, the output is exactly f× the input and pixel centres line up.
"""

import keras
import numpy as np
from keras import ops


# --- max pooling with switches and max unpooling -------------------------------------------------


def _upsample_nearest(x):
    """×2 nearest-neighbour up-sampling of [N, H, W, C] (each value fills its 2×2 block)."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def _window_positions(height, width):
    """int32 [1, 2·height, 2·width, 1]: each pixel's row-major position 0..3 in its 2×2 window."""
    rows, cols = np.arange(2 * height) % 2, np.arange(2 * width) % 2
    return ops.convert_to_tensor((2 * rows[:, None] + cols[None, :]).astype("int32")[None, :, :, None])


@keras.saving.register_keras_serializable(package="deepzoo")
class MaxPoolingWithSwitches(keras.layers.Layer):
    """2×2/2 max-pooling returning `(pooled, switches)`; switches int32 in 0..3 (row-major window
    position of the maximum). Channels last; static height and width."""

    def _padding(self, shape):
        return int(shape[1]) % 2, int(shape[2]) % 2

    def call(self, inputs):
        pad_h, pad_w = self._padding(inputs.shape)
        x = inputs
        if pad_h or pad_w:
            x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="symmetric")
        pooled = ops.max_pool(x, 2, strides=2)
        # Switches: the smallest window position whose pixel equals its window's maximum (integers,
        # no gradient), as a min-pool (−max-pool of −position) of the positions that hold a maximum.
        is_max = ops.greater_equal(ops.stop_gradient(x), _upsample_nearest(ops.stop_gradient(pooled)))
        positions = ops.cast(_window_positions(int(pooled.shape[1]), int(pooled.shape[2])), x.dtype)
        candidates = ops.where(is_max, positions, ops.cast(4.0, x.dtype))
        return pooled, ops.cast(-ops.max_pool(-candidates, 2, strides=2), "int32")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        half = lambda side: None if side is None else (side + 1) // 2  # noqa: E731
        shape = (batch, half(height), half(width), channels)
        return shape, shape

    def compute_output_spec(self, inputs):
        shape, _ = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, inputs.dtype), keras.KerasTensor(shape, "int32")


@keras.saving.register_keras_serializable(package="deepzoo")
class MaxUnpooling2D(keras.layers.Layer):
    """Puts each value of `[values, switches]` back at its switch position in a 2× map of zeros.

    Args:
        output_size: (height, width) of the map before pooling (crops the odd-side padding), or
            None for exactly twice the input.
    """

    def __init__(self, output_size=None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = None if output_size is None else tuple(int(s) for s in output_size)

    def call(self, inputs):
        values, switches = inputs
        _, height, width, _ = values.shape
        at_switch = ops.equal(_upsample_nearest(ops.cast(switches, "int32")), _window_positions(int(height), int(width)))
        out = _upsample_nearest(values) * ops.cast(at_switch, values.dtype)
        if self.output_size is not None and self.output_size != (2 * height, 2 * width):
            out = out[:, : self.output_size[0], : self.output_size[1], :]
        return out

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape[0]
        if self.output_size is not None:
            return (batch, *self.output_size, channels)
        return (batch, None if height is None else 2 * height, None if width is None else 2 * width, channels)

    def get_config(self):
        return {**super().get_config(), "output_size": None if self.output_size is None else list(self.output_size)}


@keras.saving.register_keras_serializable(package="deepzoo")
class BedOfNails2D(keras.layers.Layer):
    """×2 "bed of nails" up-sampling: each value at the top-left of its 2×2 block, zeros elsewhere."""

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        zeros = ops.zeros_like(inputs)
        row0 = ops.reshape(ops.stack([inputs, zeros], axis=3), (-1, height, 2 * width, channels))
        return ops.reshape(ops.stack([row0, ops.zeros_like(row0)], axis=2), (-1, 2 * height, 2 * width, channels))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, None if height is None else 2 * height, None if width is None else 2 * width, channels)


# --- bilinear up-sampling ------------------------------------------------------------------------


def bilinear_kernel(size):
    """[size, size] bilinear interpolation weights (FCN's `upsample_filt`)."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    rows, cols = np.ogrid[:size, :size]
    return ((1 - abs(rows - centre) / factor) * (1 - abs(cols - centre) / factor)).astype("float32")


def bilinear_transposed_kernel(size, out_channels, in_channels):
    """A Conv2DTranspose kernel [size, size, out, in] that up-samples each channel on its own."""
    kernel = np.zeros((size, size, out_channels, in_channels), dtype="float32")
    weights = bilinear_kernel(size)
    for channel in range(min(out_channels, in_channels)):
        kernel[:, :, channel, channel] = weights
    return kernel


@keras.saving.register_keras_serializable(package="deepzoo")
class BilinearInitializer(keras.initializers.Initializer):
    """Initialises a Conv2DTranspose kernel [k, k, out, in] to per-channel bilinear interpolation."""

    def __call__(self, shape, dtype=None):
        size, _, out_channels, in_channels = shape
        return ops.convert_to_tensor(bilinear_transposed_kernel(int(size), int(out_channels), int(in_channels)), dtype=dtype or "float32")

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="deepzoo")
class FixedBilinearUpsampling2D(keras.layers.Layer):
    """×`factor` bilinear up-sampling as a transposed convolution with a constant 2f × 2f kernel
    (not a weight) and a crop of f/2 pixels per side: output side = factor × input side."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)
        if self.factor < 2 or self.factor % 2:
            raise ValueError(f"FixedBilinearUpsampling2D needs an even factor >= 2. Received: factor={factor}")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self._kernel = bilinear_transposed_kernel(2 * self.factor, channels, channels)

    def call(self, inputs):
        kernel = ops.convert_to_tensor(self._kernel, dtype=inputs.dtype)
        out = ops.conv_transpose(inputs, kernel, strides=self.factor, padding="valid")
        crop = self.factor // 2
        return out[:, crop:-crop, crop:-crop, :]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = lambda side: None if side is None else side * self.factor  # noqa: E731
        return (batch, grow(height), grow(width), channels)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def learned_bilinear_upsampling(x, channels, factor, name):
    """FCN's learned up-sampling: Conv2DTranspose (2f × 2f, stride f, no bias) initialised to
    bilinear interpolation, then a crop of f/2 per side (output = f × input)."""
    x = keras.layers.Conv2DTranspose(
        channels, 2 * factor, strides=factor, use_bias=False, kernel_initializer=BilinearInitializer(), name=name
    )(x)
    return keras.layers.Cropping2D(factor // 2, name=f"{name}_crop")(x)


# --- receptive fields ----------------------------------------------------------------------------


def effective_kernel_size(kernel_size, dilation_rate):
    """Side of the window a dilated (atrous) kernel spans: k + (k − 1)(r − 1)."""
    return kernel_size + (kernel_size - 1) * (dilation_rate - 1)


def receptive_field(model):
    """Receptive field side of the last layer of a plain stack of convolutions and poolings,
    from each layer's kernel, dilation and stride (r_out = r_in + (k_eff − 1)·jump)."""
    field, jump = 1, 1
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            kernel, dilation, stride = layer.kernel_size[0], layer.dilation_rate[0], layer.strides[0]
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            kernel, dilation, stride = layer.pool_size[0], 1, layer.strides[0]
        else:
            continue
        field += (effective_kernel_size(kernel, dilation) - 1) * jump
        jump *= stride
    return field
