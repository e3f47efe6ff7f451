"""Blocks the video models share: clip convolutions with per-axis padding, 3-D pooling that every
runtime converts, frame selection and flow stacking, temporal averaging, and a per-frame CNN tower
built from a layer table.

Tensors are clips [B, T, H, W, C]. Per-frame stretches of a network fold the frames into the batch
([B·T, H, W, C], `FoldClips`/`UnfoldClips`) and run plain 2-D layers, which run and compile much
faster than 1×k×k Conv3Ds on CPU; `conv_unit` and `pool` pick the 2-D or 3-D layer from the rank
of their input. A 2-D parent built as 1×k×k Conv3Ds (`I3D(inflate=False)`) inflates into its 3-D
network weight for weight (`inflate_weights`).

TFLite has no 3-D pooling builtin, so `Pool3D` pools space with 2-D pooling on [B·T, H, W, C] and
then time with a (k_t, 1) 2-D pooling on [B, T, H'·W', C]. Max and average pooling over a box are
separable, padding excluded from averages as TensorFlow does, so the result is exactly the 3-D
pooling's.
"""

import math

import keras
import numpy as np
from keras import ops

from architectures.layers.lrn import LocalResponseNormalization
from architectures.layers.preprocessing import model_input


def triple(value):
    """An int or a (t, h, w) sequence as a (t, h, w) tuple."""
    if isinstance(value, int):
        return (value, value, value)
    value = tuple(int(v) for v in value)
    if len(value) == 2:  # (h, w): a per-frame 2-D size
        return (1, *value)
    if len(value) != 3:
        raise ValueError(f"Expected an int, (h, w) or (t, h, w). Received: {value}")
    return value


def same_padding(size, kernel, stride):
    """TensorFlow's 'same' padding (before, after) of one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="deepzoo")
class EdgePadTime(keras.layers.Layer):
    """Repeats the first and last frame `before` and `after` times (replicate padding in time).

    With it, an inflated 3-D network sees a static video exactly as its 2-D parent sees the frame
    (I3D's "boring video" property); zero padding would dim the first and last frames."""

    def __init__(self, before, after, **kwargs):
        super().__init__(**kwargs)
        self.before, self.after = int(before), int(after)

    def call(self, inputs):
        parts = [ops.repeat(inputs[:, :1], self.before, axis=1)] if self.before else []
        parts.append(inputs)
        if self.after:
            parts.append(ops.repeat(inputs[:, -1:], self.after, axis=1))
        return ops.concatenate(parts, axis=1) if len(parts) > 1 else inputs

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else input_shape[1] + self.before + self.after
        return (input_shape[0], frames, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "before": self.before, "after": self.after}


def conv_unit(
    x,
    filters,
    kernel,
    strides=1,
    padding="same",
    temporal_padding=None,
    batch_norm=False,
    bn_scale=True,
    activation="relu",
    use_bias=None,
    name=None,
):
    """Conv3D (→ BatchNorm) → activation on a clip, padding chosen per axis.

    Args:
        padding: spatial padding, "same" or "valid".
        temporal_padding: "valid", "zeros" (TF 'same' with zeros) or "edge" (TF 'same' amounts,
            replicated frames); None = as `padding`.
    """
    kernel, strides = triple(kernel), triple(strides)
    temporal_padding = temporal_padding or ("zeros" if padding == "same" else "valid")
    use_bias = (not batch_norm) if use_bias is None else use_bias
    if len(x.shape) == 4:  # frames folded into the batch: a plain 2-D convolution
        if kernel[0] != 1 or strides[0] != 1:
            raise ValueError(f"A 2-D (folded) input takes no temporal kernel. Received: kernel={kernel}, strides={strides}")
        x = keras.layers.Conv2D(filters, kernel[1:], strides=strides[1:], padding=padding, use_bias=use_bias, name=name)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(epsilon=1e-3, scale=bn_scale, name=f"{name}_bn" if name else None)(x)
        if activation:
            x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
        return x
    temporal_default = temporal_padding == ("zeros" if padding == "same" else "valid")
    if kernel[0] == 1 and strides[0] == 1:
        temporal_default = True  # nothing to pad in time
    if temporal_default:
        conv_padding = padding
    else:
        frames, height, width = x.shape[1:4]
        if temporal_padding != "valid":
            before, after = same_padding(frames, kernel[0], strides[0])
            if temporal_padding == "edge":
                x = EdgePadTime(before, after, name=f"{name}_tpad" if name else None)(x)
            else:
                x = keras.layers.ZeroPadding3D(((before, after), (0, 0), (0, 0)), name=f"{name}_tpad" if name else None)(x)
        if padding == "same":
            pads = (same_padding(height, kernel[1], strides[1]), same_padding(width, kernel[2], strides[2]))
            if any(sum(p) for p in pads):
                x = keras.layers.ZeroPadding3D(((0, 0), *pads), name=f"{name}_pad" if name else None)(x)
        conv_padding = "valid"
    x = keras.layers.Conv3D(filters, kernel, strides=strides, padding=conv_padding, use_bias=use_bias, name=name)(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(epsilon=1e-3, scale=bn_scale, name=f"{name}_bn" if name else None)(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    return x


@keras.saving.register_keras_serializable(package="deepzoo")
class Pool3D(keras.layers.Layer):
    """Max or average pooling over (t, h, w) boxes, separable so that TFLite converts it."""

    def __init__(self, mode="max", pool_size=(1, 2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "average"):
            raise ValueError(f"mode must be 'max' or 'average'. Received: mode={mode!r}")
        self.mode = mode
        self.pool_size = triple(pool_size)
        self.strides = triple(strides) if strides is not None else self.pool_size
        self.padding = padding

    def _pool(self, x, size, strides):
        pool = ops.max_pool if self.mode == "max" else ops.average_pool
        return pool(x, pool_size=size, strides=strides, padding=self.padding)

    def call(self, inputs):
        frames, height, width, channels = inputs.shape[1:]
        x = inputs
        if self.pool_size[1:] != (1, 1) or self.strides[1:] != (1, 1):
            x = ops.reshape(x, (-1, height, width, channels))
            x = self._pool(x, self.pool_size[1:], self.strides[1:])
            height, width = x.shape[1:3]
            x = ops.reshape(x, (-1, frames, height, width, channels))
        if self.pool_size[0] != 1 or self.strides[0] != 1:
            x = ops.reshape(x, (-1, frames, height * width, channels))
            x = self._pool(x, (self.pool_size[0], 1), (self.strides[0], 1))
            x = ops.reshape(x, (-1, x.shape[1], height, width, channels))
        return x

    def compute_output_shape(self, input_shape):
        sizes = []
        for size, pool, stride in zip(input_shape[1:4], self.pool_size, self.strides):
            if size is None:
                sizes.append(None)
            elif self.padding == "same":
                sizes.append(math.ceil(size / stride))
            else:
                sizes.append((size - pool) // stride + 1)
        return (input_shape[0], *sizes, input_shape[4])

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


def pool(x, mode, pool_size, strides, padding="valid", name=None):
    """Pool3D on a clip; on frames folded into the batch (4-D), the 2-D pooling of its (h, w) box."""
    pool_size, strides = triple(pool_size), triple(strides)
    if len(x.shape) == 4:
        if pool_size[0] != 1 or strides[0] != 1:
            raise ValueError(f"A 2-D (folded) input takes no temporal pooling. Received: pool_size={pool_size}")
        layer = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
        return layer(pool_size[1:], strides[1:], padding=padding, name=name)(x)
    return Pool3D(mode, pool_size, strides, padding=padding, name=name)(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class SelectFrames(keras.layers.Layer):
    """Frames `indices` of a clip (fixed at build time): [B, T, ...] → [B, len(indices), ...]."""

    def __init__(self, indices, **kwargs):
        super().__init__(**kwargs)
        self.indices = [int(i) for i in indices]

    def call(self, inputs):
        return ops.take(inputs, np.asarray(self.indices, "int32"), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.indices), *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "indices": self.indices}


@keras.saving.register_keras_serializable(package="deepzoo")
class StackFlow(keras.layers.Layer):
    """Stacks L consecutive flow fields into 2L channels per window (Simonyan & Zisserman 2014):
    flow [B, F, H, W, 2] → [B, len(starts), H, W, 2L], channels (dx₁, dy₁, dx₂, dy₂, ...)."""

    def __init__(self, starts, length, **kwargs):
        super().__init__(**kwargs)
        self.starts = [int(s) for s in starts]
        self.length = int(length)

    def call(self, inputs):
        height, width, channels = inputs.shape[2:]
        indices = np.asarray([s + k for s in self.starts for k in range(self.length)], "int32")
        x = ops.take(inputs, indices, axis=1)  # [B, S·L, H, W, 2]
        x = ops.reshape(x, (-1, len(self.starts), self.length, height, width, channels))
        x = ops.transpose(x, (0, 1, 3, 4, 2, 5))  # [B, S, H, W, L, 2]
        return ops.reshape(x, (-1, len(self.starts), height, width, self.length * channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.starts), *input_shape[2:4], self.length * input_shape[4])

    def get_config(self):
        return {**super().get_config(), "starts": self.starts, "length": self.length}


def window_starts(num_flows, centres, length):
    """Start index of a length-L flow window centred on each of `centres`, kept inside 0..F − L."""
    if length > num_flows:
        raise ValueError(f"a flow stack of {length} fields needs at least {length} flow frames. Received: {num_flows}")
    return [int(min(max(0, c - length // 2), num_flows - length)) for c in centres]


@keras.saving.register_keras_serializable(package="deepzoo")
class MeanFlowSubtraction(keras.layers.Layer):
    """Subtracts each flow field's spatial mean (Simonyan & Zisserman: camera-motion compensation)."""

    def call(self, inputs):
        return inputs - ops.mean(inputs, axis=(2, 3), keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="deepzoo")
class TemporalMean(keras.layers.Layer):
    """Mean over axis 1 (time, segments or clips), optionally weighted by fixed per-step weights
    (Ng et al.'s linearly increasing g, normalised to sum 1)."""

    def __init__(self, weighting="uniform", **kwargs):
        super().__init__(**kwargs)
        if weighting not in ("uniform", "linear"):
            raise ValueError(f"weighting must be 'uniform' or 'linear'. Received: weighting={weighting!r}")
        self.weighting = weighting

    def call(self, inputs):
        if self.weighting == "uniform":
            return ops.mean(inputs, axis=1)
        steps = inputs.shape[1]
        weights = np.arange(1, steps + 1, dtype="float32")
        weights = weights / weights.sum()
        shape = (1, steps) + (1,) * (len(inputs.shape) - 2)
        return ops.sum(inputs * ops.convert_to_tensor(weights.reshape(shape), inputs.dtype), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "weighting": self.weighting}


@keras.saving.register_keras_serializable(package="deepzoo")
class FoldClips(keras.layers.Layer):
    """[B, C, ...] → [B·C, ...]: run a clip network on every clip of a sequence."""

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[2:])


@keras.saving.register_keras_serializable(package="deepzoo")
class UnfoldClips(keras.layers.Layer):
    """[B·C, F] back to [B, C, F], with C = `clips`."""

    def __init__(self, clips, **kwargs):
        super().__init__(**kwargs)
        self.clips = int(clips)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, self.clips, *inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        return (None, self.clips, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "clips": self.clips}


def clip_input(input_shape, preprocessing=None, name="clip"):
    """The named clip input and the tensor after deterministic preprocessing (`model_input`)."""
    return model_input(input_shape, preprocessing, name=name)


def scaled(filters, multiplier, minimum=2):
    return max(minimum, int(round(filters * multiplier)))


def frame_tower(x, table, width_multiplier=1.0, temporal=None, prefix="", pool_padding=None, max_pools=None):
    """A CNN from a layer table, each layer per frame unless `temporal` gives its time extent.

    Table rows: ("conv", filters, kernel, stride, padding), ("lrn",), ("pool", size, stride[, padding]).
    `temporal`: {conv index: (extent, stride)} of convolutions that span time (valid in time,
    as in Karpathy et al.'s fusion models). Pools are spatial, 'valid' unless the row or
    `pool_padding` says otherwise (tiny 32 px inputs need 'same' where the paper's 227 px do not);
    `max_pools` keeps only the table's first that many pools (None: all of them).
    """
    temporal = temporal or {}
    # Layers that span time run on the clip; once none is left, the frames fold into the batch and
    # the rest of the tower is plain 2-D (Conv2D runs and compiles much faster than a 1×k×k Conv3D).
    last_temporal = max(temporal, default=-1)
    frames = x.shape[1]
    conv_index = pool_index = 0
    if last_temporal < 0:
        x = FoldClips(name=f"{prefix}fold_frames")(x)
    for row in table:
        kind = row[0]
        if kind == "conv":
            _, filters, kernel, stride, padding = row
            extent, t_stride = temporal.get(conv_index, (1, 1))
            conv_index += 1
            x = conv_unit(
                x, scaled(filters, width_multiplier), (extent, kernel, kernel), (t_stride, stride, stride),
                padding=padding, temporal_padding="valid", name=f"{prefix}conv{conv_index}",
            )
            if conv_index - 1 == last_temporal and last_temporal >= 0:
                frames = x.shape[1]
                x = FoldClips(name=f"{prefix}fold_frames")(x)
        elif kind == "lrn":
            x = LocalResponseNormalization(name=f"{prefix}norm{conv_index}")(x)
        elif kind == "pool":
            size, stride = row[1:3]
            padding = pool_padding or (row[3] if len(row) > 3 else "valid")
            pool_index += 1
            if max_pools is not None and pool_index > max_pools:
                continue
            x = pool(x, "max", (1, size, size), (1, stride, stride), padding=padding, name=f"{prefix}pool{conv_index}")
        else:
            raise ValueError(f"Unknown tower row {row!r}")
    return UnfoldClips(frames, name=f"{prefix}unfold_frames")(x)


def dense_stack(x, units, width_multiplier=1.0, dropout=0.0, prefix="fc", start=6):
    """Fully connected layers (ReLU, dropout) named fc6, fc7, ... as in the papers."""
    for index, width in enumerate(units):
        x = keras.layers.Dense(scaled(width, width_multiplier), activation="relu", name=f"{prefix}{start + index}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{prefix}{start + index}_dropout")(x)
    return x


def inflate_weights(source, target):
    """Bootstraps a 3-D network from its 2-D parent (Carreira & Zisserman 2017, §2.3): every
    1×k×k kernel is repeated N times along time and divided by N; other weights are copied.
    Layers are matched by name; returns the names of the inflated layers."""
    inflated = []
    for layer in target.layers:
        try:
            parent = source.get_layer(layer.name)
        except ValueError:
            continue
        weights = parent.get_weights()
        if not weights:
            continue
        mine = layer.get_weights()
        new = []
        for theirs, ours in zip(weights, mine):
            if theirs.shape != ours.shape and theirs.ndim == 5 and theirs.shape[0] == 1:
                theirs = np.repeat(theirs, ours.shape[0], axis=0) / ours.shape[0]
                inflated.append(layer.name)
            new.append(theirs)
        layer.set_weights(new)
    return inflated
