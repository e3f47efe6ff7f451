"""Embedded data of family C (spec §8.2 C): single-object images with a known box.

`shapes10_localization`: the shapes-10 images (32×32 RGB, one shape each) with their class and
tight box as the two-head localiser's targets, plus a fraction of images with no object (the
003 variant's p_c = 0 examples: background, gradient and noise only).
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset
from pipelines.sources_generated import (
    SHAPE_CLASSES,
    _boxes_from_masks,
    generate_shapes10,
)


def _empty_images(rng, n, size, noise):
    """Backgrounds drawn like shapes-10's (flat colour + linear gradient + pixel noise), no shape."""
    background = rng.uniform(0.0, 255.0, size=(n, 1, 1, 3))
    ramp = np.linspace(-0.5, 0.5, size)
    direction = rng.uniform(0, 2 * np.pi, size=n)
    gradient = np.cos(direction)[:, None, None] * ramp[None, None, :] + np.sin(direction)[:, None, None] * ramp[None, :, None]
    images = background + gradient[..., None] * rng.uniform(0.0, 60.0, size=(n, 1, 1, 1))
    images += rng.normal(size=images.shape) * rng.uniform(0.0, noise, size=(n, 1, 1, 1))
    return np.clip(images, 0.0, 255.0).astype("float32")


@register_dataset(
    "shapes10_localization",
    "localization",
    "shapes-10 images with (class, normalised centre box, object present); a fraction without an object",
)
def load_shapes10_localization(seed=0, image_size=32, num_per_class=200, noise=20.0, empty_fraction=0.1):
    if not 0.0 <= empty_fraction < 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1). Received: empty_fraction={empty_fraction}")
    images, labels, masks = generate_shapes10(seed, image_size, num_per_class, noise)
    corners = _boxes_from_masks(masks)[:, 0] / float(image_size)
    boxes = np.stack(
        [(corners[:, 0] + corners[:, 2]) / 2, (corners[:, 1] + corners[:, 3]) / 2, corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]],
        axis=1,
    ).astype("float32")
    rng = np.random.default_rng(seed + 1)
    empty = round(len(labels) * empty_fraction / (1.0 - empty_fraction))
    present = np.concatenate([np.ones(len(labels), "float32"), np.zeros(empty, "float32")])
    images = np.concatenate([images, _empty_images(rng, empty, image_size, noise)])
    labels = np.concatenate([labels, np.zeros(empty, "int32")])  # ignored where present = 0
    boxes = np.concatenate([boxes, np.zeros((empty, 4), "float32")])
    order = rng.permutation(len(labels))
    return Dataset(
        name="shapes10_localization",
        task="localization",
        x=images[order],
        y={"label": labels[order], "box": boxes[order], "present": present[order]},
        class_names=list(SHAPE_CLASSES),
        description=f"shapes-10 localisation: {len(labels)} {image_size}×{image_size} images, {empty} without an object",
        value_range=(0.0, 255.0),
    )
