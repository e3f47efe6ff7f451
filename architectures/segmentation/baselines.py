"""Dense-prediction baselines of family E: shift-and-stitch, the patch-classification (sliding
window) segmenter, the full-resolution convolution-only network and the generic encoder–decoder.

- Shift-and-stitch (Sermanet et al. 2014; Long, Shelhamer & Darrell 2015 §3.2): a net that
  down-samples by f gives a coarse map; running it on the f² inputs shifted by (r, c), 0 ≤ r, c < f,
  and interleaving the maps gives a dense one (`shift_and_stitch`). The same output comes from one
  pass of the "à trous" net: the pooling keeps stride 1 and every later filter is dilated by f
  (filter rarefaction). `ShiftAndStitch(dilated=True)` is that net; `dilated=False` builds the
  strided net with the same layers (names and weights), so the two can be compared pixel for pixel.
- Patch classification (Ciresan, Giusti, Gambardella & Schmidhuber 2012, NIPS: N4 net, 95×95
  patches, conv 48@4×4, 48@5×5, 48@4×4, 48@4×4 with 2×2 max-pooling after each, FC 200, FC 2):
  every pixel is classified from the patch centred on it, with the image borders mirrored. The
  patches are cut out inside the model (a constant one-hot convolution, which exports everywhere)
  and classified one by one: no computation is shared, which is the method's known inefficiency.
  `patch_dataset` builds the patch-based training set (centre labels, mostly-background patches
  dropped, classes resampled to balance).
- Conv-only: L same-padded 3×3 convolutions + ReLU and a 1×1 K-class head; no pooling, so the
  receptive field is only 1 + 2L ("what" vs "where").
- Encoder–decoder: conv + ReLU + 2×2 max-pool stages, a mirrored decoder whose up-sampling is
  chosen by `upsampling`: "nearest", "bed_of_nails", "max_unpooling" (the encoder's switches) or
  "transposed" (a learned 2×2/2 transposed convolution); 1×1 K-class head, per-pixel softmax.
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import SEGMENTATION_INPUTS, SEGMENTATION_OUTPUTS
from architectures.segmentation.layers import BedOfNails2D, MaxPoolingWithSwitches, MaxUnpooling2D
from architectures.segmentation.unet import MirrorPadding2D

# Ciresan et al. 2012, N4: (filters, kernel) per conv, each followed by 2×2 max-pooling.
CIRESAN_N4 = ((48, 4), (48, 5), (48, 4), (48, 4))
UPSAMPLING_OPERATORS = ("nearest", "bed_of_nails", "max_unpooling", "transposed")

_TINY_INPUT = dict(input_shape=(32, 32, 3), num_classes=5, preprocessing={"scale": 1.0 / 255.0})


def _softmax_head(x, num_classes, classifier_activation):
    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    if classifier_activation:
        x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
    return x


# --- shift-and-stitch ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ShiftAndStitch(ZooModel):
    """Convs, one f×f max-pool, convs, 1×1 score; dilated (dense output) or strided (coarse).

    Args:
        front_widths: 3×3 convs before the pooling.
        factor: the pooling's down-sampling factor f (its window is f × f).
        back_widths: 3×3 convs after the pooling (dilated by f when `dilated`).
        padding: "same" (output H × W when dilated) or "valid" (no border effects: the dilated
            output equals shift-and-stitch exactly, see `shift_and_stitch`).
        dilated: True = the à-trous net (pool stride 1, filters dilated by f); False = the
            strided net whose f² shifted outputs are stitched.
    """

    def __init__(
        self,
        input_shape=(None, None, 3),
        num_classes=21,
        front_widths=(64, 64),
        factor=4,
        back_widths=(128, 128),
        padding="same",
        dilated=True,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid'. Received: padding={padding!r}")
        inputs, x = model_input(input_shape, preprocessing)
        for index, width in enumerate(front_widths, start=1):
            x = keras.layers.Conv2D(width, 3, padding=padding, activation="relu", name=f"front_conv{index}")(x)
        x = keras.layers.MaxPooling2D(factor, strides=1 if dilated else factor, padding=padding, name="pool")(x)
        for index, width in enumerate(back_widths, start=1):
            x = keras.layers.Conv2D(
                width, 3, padding=padding, dilation_rate=factor if dilated else 1, activation="relu", name=f"back_conv{index}"
            )(x)
        x = _softmax_head(x, num_classes, classifier_activation)
        super().__init__(inputs=inputs, outputs=x, name=name or "shift_and_stitch", **kwargs)


def shift_and_stitch(strided_model, images, factor, output_size):
    """Dense map [N, *output_size, K] from the coarse net on the f² shifted inputs.

    The input shifted by (r, c) (its first r rows and c columns dropped) gives a coarse map whose
    pixel (i, j) sees the window that starts at input pixel (f·i + r, f·j + c); stitching puts it
    at output pixel (f·i + r, f·j + c).
    """
    images = np.asarray(images)
    height, width = output_size
    stitched = np.full((len(images), height, width, int(strided_model.output_shape[-1])), np.nan, dtype="float32")
    for r in range(factor):
        for c in range(factor):
            coarse = np.asarray(strided_model(images[:, r:, c:], training=False))
            rows, cols = min(coarse.shape[1], len(range(r, height, factor))), min(coarse.shape[2], len(range(c, width, factor)))
            stitched[:, r : r + factor * rows : factor, c : c + factor * cols : factor] = coarse[:, :rows, :cols]
    return stitched


# --- patch classification ------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ExtractPatches(keras.layers.Layer):
    """[N, H + P − 1, W + P − 1, C] → [N, H, W, P·P·C]: the P×P patch around every pixel, as a
    convolution with a constant one-hot kernel (exports to every runtime, unlike ExtractImagePatches)."""

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)

    def build(self, input_shape):
        size, channels = self.patch_size, int(input_shape[-1])
        kernel = np.zeros((size, size, channels, size * size * channels), dtype="float32")
        for i in range(size):
            for j in range(size):
                for c in range(channels):
                    kernel[i, j, c, (i * size + j) * channels + c] = 1.0
        self._kernel = kernel

    def call(self, inputs):
        return ops.conv(inputs, ops.convert_to_tensor(self._kernel, dtype=inputs.dtype), padding="valid")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        shrink = lambda side: None if side is None else side - self.patch_size + 1  # noqa: E731
        return (batch, shrink(height), shrink(width), self.patch_size**2 * channels)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="deepzoo")
class FoldPixels(keras.layers.Layer):
    """[N, H, W, D] ↔ [N·H·W, ...]: pixels as a batch of patches (`shape`), or back (`unfold_to`)."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape = tuple(int(s) for s in shape)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *self.shape))

    def compute_output_shape(self, input_shape):
        return (None, *self.shape)

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape)}


@keras.saving.register_keras_serializable(package="deepzoo")
class SlidingWindowSegmenter(ZooModel):
    """Classifies each pixel from the `patch_size` patch centred on it (mirrored borders).

    Args:
        input_shape: (height, width, channels), static sides.
        patch_size: odd side P of the patches (95 in the paper).
        conv_layers: ((filters, kernel), ...) of the patch classifier, each conv + ReLU followed by
            2×2 max-pooling (Ciresan's N4 by default).
        dense_units: hidden FC width (200).
    """

    def __init__(
        self,
        input_shape=(512, 512, 1),
        num_classes=2,
        patch_size=95,
        conv_layers=CIRESAN_N4,
        dense_units=200,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        height, width, channels = tuple(input_shape)
        if height is None or width is None or patch_size % 2 == 0:
            raise ValueError(f"Needs static sides and an odd patch_size. Received: input_shape={input_shape}, patch_size={patch_size}")
        inputs, x = model_input(input_shape, preprocessing)
        half = patch_size // 2
        x = MirrorPadding2D(((half, half), (half, half)), name="mirror_borders")(x)
        x = ExtractPatches(patch_size, name="patches")(x)
        x = FoldPixels((patch_size, patch_size, channels), name="fold_pixels")(x)
        self._patch_layers = []
        for index, (filters, kernel) in enumerate(conv_layers, start=1):
            self._patch_layers += [
                keras.layers.Conv2D(filters, kernel, activation="relu", name=f"patch_conv{index}"),
                keras.layers.MaxPooling2D(2, name=f"patch_pool{index}"),
            ]
        self._patch_layers += [
            keras.layers.Flatten(name="patch_flatten"),
            keras.layers.Dense(dense_units, activation="relu", name="patch_fc"),
            keras.layers.Dense(num_classes, name="patch_score"),
        ]
        for layer in self._patch_layers:
            x = layer(x)
        x = FoldPixels((height, width, num_classes), name="unfold_pixels")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "sliding_window_segmenter", **kwargs)

    def patch_classifier(self):
        """The patch → class-logits network (the same layers and weights), for patch training."""
        patch_shape = tuple(self.get_layer("fold_pixels").shape)
        patches = keras.Input(patch_shape, name="patch")
        x = patches
        for layer in self._patch_layers:
            x = layer(x)
        return keras.Model(patches, x, name="patch_classifier")


def patch_dataset(images, masks, patch_size, background_keep=0.1, per_class=None, seed=0):
    """Patch-based training set: (patches [M, P, P, C], centre labels [M]).

    Each patch is labelled by its centre pixel (borders mirrored); patches that are entirely
    background (label 0 everywhere) are kept with probability `background_keep`; then every class
    is resampled (with replacement) to `per_class` patches (default: the largest class's count).
    """
    rng = np.random.default_rng(seed)
    images, masks = np.asarray(images), np.asarray(masks)
    half = patch_size // 2
    padded = np.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="reflect")
    padded_masks = np.pad(masks, ((0, 0), (half, half), (half, half)), mode="reflect")
    n, height, width = masks.shape
    index = np.stack(np.meshgrid(np.arange(n), np.arange(height), np.arange(width), indexing="ij"), -1).reshape(-1, 3)
    windows = np.lib.stride_tricks.sliding_window_view(padded_masks, (patch_size, patch_size), axis=(1, 2))
    background_only = ~windows.reshape(n, height, width, -1).any(axis=-1).reshape(-1)
    keep = ~background_only | (rng.random(len(index)) < background_keep)
    index = index[keep]
    labels = masks[index[:, 0], index[:, 1], index[:, 2]]
    classes = np.unique(labels)
    per_class = per_class or int(max(np.sum(labels == c) for c in classes))
    chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=True) for c in classes])
    rng.shuffle(chosen)
    index = index[chosen]
    patches = np.stack([padded[i, r : r + patch_size, c : c + patch_size] for i, r, c in index])
    return patches, masks[index[:, 0], index[:, 1], index[:, 2]]


# --- conv-only -----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ConvOnlySegmenter(ZooModel):
    """`depth` same-padded 3×3 conv + ReLU layers of `width` channels and a 1×1 K-class head."""

    def __init__(
        self,
        input_shape=(None, None, 3),
        num_classes=21,
        depth=8,
        width=64,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        inputs, x = model_input(input_shape, preprocessing)
        for index in range(1, depth + 1):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{index}")(x)
        x = _softmax_head(x, num_classes, classifier_activation)
        super().__init__(inputs=inputs, outputs=x, name=name or "conv_only_segmenter", **kwargs)


# --- encoder–decoder -----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class EncoderDecoderSegmenter(ZooModel):
    """Encoder of (conv + ReLU) × `convs_per_stage` + 2×2 max-pool stages; mirrored decoder.

    Args:
        widths: channels per stage (the decoder stage mirrors the encoder stage).
        convs_per_stage: 3×3 convs per stage.
        upsampling: "nearest", "bed_of_nails", "max_unpooling" or "transposed".
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=21,
        widths=(64, 128, 256, 512),
        convs_per_stage=2,
        upsampling="transposed",
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if upsampling not in UPSAMPLING_OPERATORS:
            raise ValueError(f"upsampling must be one of {UPSAMPLING_OPERATORS}. Received: upsampling={upsampling!r}")
        inputs, x = model_input(input_shape, preprocessing)
        stack = []
        for stage, width in enumerate(widths, start=1):
            for index in range(1, convs_per_stage + 1):
                x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"enc{stage}_conv{index}")(x)
            size = tuple(x.shape[1:3])
            if upsampling == "max_unpooling":
                x, switches = MaxPoolingWithSwitches(name=f"enc{stage}_pool")(x)
            else:
                x, switches = keras.layers.MaxPooling2D(2, name=f"enc{stage}_pool")(x), None
            stack.append((stage, width, size, switches))
        for stage, width, size, switches in reversed(stack):
            if upsampling == "nearest":
                x = keras.layers.UpSampling2D(2, name=f"dec{stage}_upsample")(x)
            elif upsampling == "bed_of_nails":
                x = BedOfNails2D(name=f"dec{stage}_upsample")(x)
            elif upsampling == "max_unpooling":
                x = MaxUnpooling2D(size, name=f"dec{stage}_upsample")([x, switches])
            else:
                x = keras.layers.Conv2DTranspose(int(x.shape[-1]), 2, strides=2, name=f"dec{stage}_upsample")(x)
            for index in range(1, convs_per_stage + 1):
                x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"dec{stage}_conv{index}")(x)
        x = _softmax_head(x, num_classes, classifier_activation)
        super().__init__(inputs=inputs, outputs=x, name=name or "encoder_decoder_segmenter", **kwargs)


# --- registration --------------------------------------------------------------------------------

_BASELINE_B = "B (our build; the baseline has no paper count)"

register(
    ModelSpec(
        name="shift_and_stitch",
        family="segmentation",
        task="segmentation",
        builder=ShiftAndStitch,
        canonical_config=dict(input_shape=(None, None, 3), num_classes=21),
        tiny_config=dict(front_widths=(8,), factor=2, back_widths=(8,), **_TINY_INPUT),
        reference_params=262_869,
        reference_source=_BASELINE_B,
        paper="Sermanet et al. 2014, ICLR; Long, Shelhamer & Darrell 2015, CVPR §3.2",
        seeds=("000", "001"),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "The registered net is the efficient à-trous form (pool stride 1, later filters dilated by f); "
            "dilated=False is the strided net and shift_and_stitch() stitches its f² shifted outputs into the same map."
        ),
    )
)

register(
    ModelSpec(
        name="sliding_window_segmenter",
        family="segmentation",
        task="segmentation",
        builder=SlidingWindowSegmenter,
        canonical_config=dict(input_shape=(512, 512, 1), num_classes=2),
        tiny_config=dict(patch_size=7, conv_layers=((8, 3),), dense_units=16, **_TINY_INPUT),
        reference_params=219_290,
        reference_source="B (Ciresan et al.'s N4 for 95×95 patches, our build; the paper prints no count)",
        paper="Ciresan, Giusti, Gambardella & Schmidhuber 2012, NIPS",
        seeds=("000", "003", "004"),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "Patches are cut inside the model and classified one per pixel (no shared computation), so a canonical "
            "512×512 image is 262,144 patch forwards. patch_dataset() gives the paper's patch training set; "
            "patch_classifier() the patch network with the same weights."
        ),
    )
)

register(
    ModelSpec(
        name="conv_only_segmenter",
        family="segmentation",
        task="segmentation",
        builder=ConvOnlySegmenter,
        canonical_config=dict(input_shape=(None, None, 3), num_classes=21),
        tiny_config=dict(depth=3, width=8, **_TINY_INPUT),
        reference_params=261_653,
        reference_source=_BASELINE_B,
        paper="Baseline (no paper)",
        seeds=("000", "001", "003"),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes="Receptive field 1 + 2L for L same-padded 3×3 convolutions (L = 8: 17 px).",
    )
)

register(
    ModelSpec(
        name="encoder_decoder_segmenter",
        family="segmentation",
        task="segmentation",
        builder=EncoderDecoderSegmenter,
        canonical_config=dict(input_shape=(224, 224, 3), num_classes=21),
        tiny_config=dict(widths=(8, 8), convs_per_stage=1, upsampling="max_unpooling", **_TINY_INPUT),
        reference_params=14_155_925,
        reference_source=_BASELINE_B,
        paper="Generic (cf. Noh, Hong & Han 2015; Badrinarayanan, Kendall & Cipolla 2017)",
        seeds=("000", "001", "004"),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes="upsampling selects nearest, bed_of_nails, max_unpooling (encoder switches) or transposed (learned).",
    )
)
