"""U-Net: the valid-convolution encoder–decoder of Ronneberger, Fischer & Brox (MICCAI 2015).

Reference: "U-Net: Convolutional networks for biomedical image segmentation", MICCAI 2015, Fig. 1
and §2. Contracting path: per level two unpadded 3×3 convolutions + ReLU, then 2×2 max-pooling
with stride 2; the number of feature channels doubles at each down-step (64, 128, 256, 512, and
1024 at the bottom). Expansive path: per level a 2×2 "up-convolution" (transposed convolution,
stride 2) that halves the channels, concatenation with the centre-cropped encoder map of the same
level (the map *before* its pooling; the notes' "output of the max-pooling layer" is a slip), and
two 3×3 valid convolutions + ReLU. A 1×1 convolution maps the 64 channels to the K classes:
23 convolutional layers in all. Drop-out ends the contracting path (the reference Caffe model puts
p = 0.5 after the last encoder level and after the bottom level). A 572×572 tile gives a 388×388
map; with K = 2 and one input channel the network has 31,030,658 parameters (our build; the paper
prints no count).

Valid convolutions shrink the output by a constant border (184 px at depth 4). The paper segments
a large image by the overlap-tile strategy: the input tile is the output tile plus this border,
and missing context at the image edge is extrapolated by mirroring. `tile_padding="reflect"` does
exactly that inside the model: the (preprocessed) image is mirror-padded to the smallest valid
tile whose output covers it, and the output is centre-cropped back to the image, so the model maps
H×W to H×W and its targets need no cropping. Without it the output is the paper's smaller valid map
and `tasks.segmentation` centre-crops the targets to it. `padding="same"` is the common
re-implementation with padded convolutions (sizes divisible by 2^depth).
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks.base import TensorSpec

# Fig. 1: channels of the first level; each level below doubles them, the bottom has 2^depth × 64.
UNET_FILTERS = 64
UNET_DEPTH = 4
UNET_REFERENCE_PARAMS = 31_030_658  # K = 2, one input channel (our faithful build)


def valid_output_size(size, depth):
    """Output side of a valid U-Net for an input side `size`, or None if the pooling would not
    halve an even side at every level (the paper picks tile sizes so that it always does)."""
    for _ in range(depth):
        size -= 4
        if size <= 0 or size % 2:
            return None
        size //= 2
    size -= 4  # the bottom level's two convolutions
    if size <= 0:
        return None
    for _ in range(depth):
        size = 2 * size - 4
    return size


def valid_tile_size(size, depth):
    """The smallest valid input side whose output covers `size` pixels (overlap-tile, §2)."""
    # Valid inputs are 2^depth·t + 4·(2^depth − 1) for an integer bottom size t > 4.
    step = 2**depth
    t = 5
    while True:
        tile = step * t + 4 * (step - 1)
        output = valid_output_size(tile, depth)
        if output is not None and output >= size:
            return tile, output
        t += 1


# --- blocks ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class MirrorPadding2D(keras.layers.Layer):
    """Mirror (reflect) padding by ((top, bottom), (left, right)) pixels, channels last.

    A single reflection can add at most side − 1 pixels; wider borders are built by reflecting the
    already padded map again, which is the mirror extrapolation the overlap-tile strategy uses.
    Exports as MirrorPad (TFLite builtin, ONNX Pad mode=reflect).
    """

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        (top, bottom), (left, right) = padding
        self.padding = ((int(top), int(bottom)), (int(left), int(right)))

    def _steps(self, height, width):
        """Padding amounts per reflection, each smaller than the side it reflects."""
        (top, bottom), (left, right) = self.padding
        steps = []
        while top or bottom or left or right:
            t, b = min(top, height - 1), min(bottom, height - 1)
            l, r = min(left, width - 1), min(right, width - 1)
            steps.append(((t, b), (l, r)))
            top, bottom, left, right = top - t, bottom - b, left - l, right - r
            height, width = height + t + b, width + l + r
        return steps

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError(f"MirrorPadding2D needs static height and width. Received: shape {inputs.shape}")
        x = inputs
        for (t, b), (l, r) in self._steps(height, width):
            x = ops.pad(x, [[0, 0], [t, b], [l, r], [0, 0]], mode="reflect")
        return x

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        batch, height, width, channels = input_shape
        grow = lambda side, a, b: None if side is None else side + a + b  # noqa: E731
        return (batch, grow(height, top, bottom), grow(width, left, right), channels)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


def _conv_pair(x, filters, padding, batch_norm, prefix):
    """(3×3 conv + ReLU) × 2: one level of either path."""
    for index in (1, 2):
        x = keras.layers.Conv2D(
            filters, 3, padding=padding, use_bias=not batch_norm, kernel_initializer="he_normal", name=f"{prefix}_conv{index}"
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{prefix}_bn{index}")(x)
        x = keras.layers.Activation("relu", name=f"{prefix}_relu{index}")(x)
    return x


def _centre_crop_to(skip, target, name):
    """Crops the encoder map `skip` to the spatial size of `target` (the centre, as in Fig. 1)."""
    (skip_h, skip_w), (target_h, target_w) = skip.shape[1:3], target.shape[1:3]
    if (skip_h, skip_w) == (target_h, target_w):
        return skip
    dh, dw = skip_h - target_h, skip_w - target_w
    return keras.layers.Cropping2D(((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)), name=name)(skip)


# --- the model ---------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class UNet(ZooModel):
    """U-Net with valid (paper) or same convolutions.

    Args:
        input_shape: (height, width, channels); 572×572×1 in the paper. Height and width must be
            static; with `padding="valid"` and no tile padding they must be valid tile sizes
            (572, 508, 444, ... at depth 4, see `valid_output_size`).
        num_classes: K output channels of the per-pixel softmax (2 in the paper).
        filters: channels of the first level (64); level l has filters·2^l.
        depth: number of pooling steps (4).
        padding: "valid" (the paper: output smaller by a border) or "same".
        tile_padding: None, or "reflect": mirror-pad the input to the smallest valid tile and crop
            the output back, so the output has the input's height and width. A no-op with
            `padding="same"`, whose output already covers the input.
        dropout: rate after the last encoder level and the bottom level (0.5 in the reference model).
        batch_norm: BatchNormalization after every 3×3 convolution (not in the paper; helps tiny
            widths train fast).
        preprocessing: deterministic input transform (`architectures.layers.preprocessing`).
        classifier_activation: "softmax" (probabilities) or None (logits).
    """

    def __init__(
        self,
        input_shape=(572, 572, 1),
        num_classes=2,
        filters=UNET_FILTERS,
        depth=UNET_DEPTH,
        padding="valid",
        tile_padding=None,
        dropout=0.5,
        batch_norm=False,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        height, width = tuple(input_shape)[:2]
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")
        if tile_padding not in (None, "reflect"):
            raise ValueError(f"tile_padding must be None or 'reflect'. Received: tile_padding={tile_padding!r}")
        if height is None or width is None:
            raise ValueError(f"U-Net needs a static height and width. Received: input_shape={input_shape}")
        if depth < 1 or num_classes < 2:
            raise ValueError(f"U-Net needs depth >= 1 and num_classes >= 2. Received: depth={depth}, num_classes={num_classes}")
        inputs, x = model_input(input_shape, preprocessing)

        crop = None
        if padding == "same":
            if height % 2**depth or width % 2**depth:
                raise ValueError(
                    f"padding='same' needs height and width divisible by 2^depth = {2**depth}. Received: input_shape={input_shape}"
                )
        elif tile_padding:
            (tile_h, out_h), (tile_w, out_w) = valid_tile_size(height, depth), valid_tile_size(width, depth)
            border_h, border_w = (tile_h - out_h) // 2, (tile_w - out_w) // 2
            pad_top, pad_left = (tile_h - height) // 2, (tile_w - width) // 2
            x = MirrorPadding2D(((pad_top, tile_h - height - pad_top), (pad_left, tile_w - width - pad_left)), name="tile_padding")(x)
            # Output pixel j sees tile pixel j + border; the image starts at tile pixel pad_*.
            top, left = pad_top - border_h, pad_left - border_w
            crop = ((top, out_h - height - top), (left, out_w - width - left))
        else:
            for side in (height, width):
                if valid_output_size(side, depth) is None:
                    below, above = side, side
                    while below > 0 and valid_output_size(below, depth) is None:
                        below -= 1
                    while valid_output_size(above, depth) is None:
                        above += 1
                    raise ValueError(
                        f"A valid U-Net of depth {depth} needs input sides that halve evenly at every level; "
                        f"nearest valid sizes are {below} and {above}, or set tile_padding='reflect'. Received: input_shape={input_shape}"
                    )

        skips = []
        for level in range(depth):
            x = _conv_pair(x, filters * 2**level, padding, batch_norm, f"down{level + 1}")
            if dropout and level == depth - 1:
                x = keras.layers.Dropout(dropout, name=f"down{level + 1}_dropout")(x)
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, strides=2, name=f"down{level + 1}_pool")(x)
        x = _conv_pair(x, filters * 2**depth, padding, batch_norm, "bottom")
        if dropout:
            x = keras.layers.Dropout(dropout, name="bottom_dropout")(x)
        for level in reversed(range(depth)):
            x = keras.layers.Conv2DTranspose(
                filters * 2**level, 2, strides=2, kernel_initializer="he_normal", name=f"up{level + 1}_upconv"
            )(x)
            skip = _centre_crop_to(skips[level], x, f"up{level + 1}_crop")
            x = keras.layers.Concatenate(name=f"up{level + 1}_concat")([skip, x])
            x = _conv_pair(x, filters * 2**level, padding, batch_norm, f"up{level + 1}")
        x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
        if crop is not None and any(sum(c) for c in crop):
            x = keras.layers.Cropping2D(crop, name="tile_crop")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "unet", **kwargs)


register(
    ModelSpec(
        name="unet",
        family="segmentation",
        task="segmentation",
        builder=UNet,
        canonical_config=dict(input_shape=(572, 572, 1), num_classes=2),
        # Two levels and no BatchNorm: graph building dominates a tiny model's first training step,
        # and each level and each BatchNorm adds to it (the sweep's per-model budget is 6 s).
        tiny_config=dict(
            input_shape=(32, 32, 3),
            num_classes=5,
            filters=4,
            depth=2,
            tile_padding="reflect",
            dropout=0.0,  # deterministic 8-step loss check
            preprocessing={"scale": 1.0 / 255.0},
        ),
        reference_params=UNET_REFERENCE_PARAMS,
        reference_source="B (faithful Keras build of Fig. 1 for K = 2; the paper prints no count)",
        paper="Ronneberger, Fischer & Brox 2015, MICCAI",
        seeds=("000", "001", "003", "004"),
        default_dataset="shapes_masks",
        train_recipe=dict(optimizer="momentum", learning_rate=1e-2, momentum=0.99, batch_size=1),
        inputs=(TensorSpec("input", (None, None, None)),),
        outputs=(TensorSpec("probabilities", (None, None, None)), TensorSpec("class_map", (None, None), "int32")),
        notes=(
            "Valid 3×3 convolutions, 2×2 up-convolutions and centre-cropped skips as in Fig. 1: 572×572 → 388×388. "
            "tile_padding='reflect' is the paper's overlap-tile with mirrored borders, done inside the model so the "
            "output covers the image (the tiny config and training on shapes scenes use it). The border-weighted loss "
            "w(x) and elastic deformation belong to the data/loss side (augment preset 'unet'), not to the network. "
            "batch_norm (off in the paper and in the configs) is an option for reduced-width training runs. "
            "The notes' 'concatenation with the output of the max-pooling layer' is a slip: the skip is the "
            "pre-pooling map, cropped."
        ),
    )
)
