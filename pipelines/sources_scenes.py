"""Multi-object shapes scenes (spec §8.2 D and E): detection boxes, semantic and instance masks.

Each 128×128 RGB scene holds 1–6 filled shapes from `num_classes` (3–5) classes drawn from the
shapes-10 vocabulary (circle, square, triangle, star, cross), with random position, scale, aspect,
rotation (bounded per class as in shapes-10 so that a turn never makes another class) and colour,
on a random background with a linear gradient, then pixel noise. Colour, size and place carry no
class information. Shapes are painted in order, a later one over an earlier one; a placement is
rejected when it would hide more than 40 % of an earlier shape or leave fewer than `MIN_PIXELS`
visible, so every annotated instance stays recognisable while overlap still occurs.

Annotations describe what is visible: instance `i`'s mask is its pixels not covered by a later
shape, its box is the tight box around that mask, and the semantic mask is the instance masks
painted with `class + 1` (0 = background).

Datasets (deterministic given `seed`; the default `n` builds in about a second):

    shapes_scenes (detection)   x float32 [N, S, S, 3] pixels 0..255, class_names = shape classes,
                                y = {"boxes":          float32 [N, M, 4] (x_min, y_min, x_max, y_max)
                                                        pixels, rows of -1 pad,
                                     "classes":        int32 [N, M], -1 pads,
                                     "masks":          uint8 [N, S, S] semantic (0 background, class + 1),
                                     "instance_masks": uint8 [N, M, S, S] 0/1, all-zero pads}
                                M = max_objects (6). Instances are in painting order.
    shapes_masks (segmentation) the same scenes; y = masks uint8 [N, S, S] with values 0..K,
                                class_names = ["background", *shape classes].
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset
from pipelines.sources_generated import SHAPES, _random_colours

SCENE_CLASSES = ("circle", "square", "triangle", "star", "cross")
MAX_OBJECTS = 6
MIN_PIXELS = 24  # fewest visible pixels an annotated instance keeps
MAX_HIDDEN_FRACTION = 0.4  # a later shape may hide at most this much of an earlier one


def _check_options(image_size, n, num_classes, max_objects):
    if image_size < 48:
        raise ValueError(f"shapes scenes need image_size >= 48 to hold several shapes. Received: image_size={image_size}")
    if n < 1:
        raise ValueError(f"n must be at least 1. Received: n={n}")
    if not 3 <= num_classes <= len(SCENE_CLASSES):
        raise ValueError(f"num_classes must be in 3..{len(SCENE_CLASSES)}. Received: num_classes={num_classes}")
    if not 1 <= max_objects <= MAX_OBJECTS:
        raise ValueError(f"max_objects must be in 1..{MAX_OBJECTS}. Received: max_objects={max_objects}")


def _shape_coverage(rng, shape_name, size, supersample=2):
    """One shape at a random place: (coverage float32 [h, w] in 0..1, (top, left)) of its patch."""
    inside, max_rotation = SHAPES[shape_name]
    radius = rng.uniform(0.07, 0.17) * size
    aspect = np.exp(rng.uniform(-0.2, 0.2))  # ≈ 0.82..1.22: varied aspect, class kept
    radius_x, radius_y = radius * aspect, radius / aspect
    extent = int(np.ceil(max(radius_x, radius_y) * 1.05)) + 1
    centre_x = rng.uniform(extent, size - extent)
    centre_y = rng.uniform(extent, size - extent)
    theta = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    top, left = int(np.floor(centre_y)) - extent, int(np.floor(centre_x)) - extent
    top, left = max(top, 0), max(left, 0)
    height = min(2 * extent + 1, size - top)
    width = min(2 * extent + 1, size - left)
    # Sample at sub-pixel centres of the patch; coverage is the fraction of samples inside.
    grid_y = top + (np.arange(height * supersample) + 0.5) / supersample
    grid_x = left + (np.arange(width * supersample) + 0.5) / supersample
    dx = grid_x[None, :] - centre_x
    dy = grid_y[:, None] - centre_y
    cos, sin = np.cos(theta), np.sin(theta)
    u = (cos * dx + sin * dy) / radius_x
    v = (-sin * dx + cos * dy) / radius_y
    covered = inside(u, v).astype("float32")
    coverage = covered.reshape(height, supersample, width, supersample).mean(axis=(1, 3))
    return coverage, (top, left)


def _tight_boxes(instance_masks):
    """(x_min, y_min, x_max, y_max) pixel boxes [M, 4] around each mask; -1 rows for empty ones."""
    boxes = np.full((len(instance_masks), 4), -1.0, dtype="float32")
    for index, mask in enumerate(instance_masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows):
            boxes[index] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def _draw_scene(rng, size, num_classes, max_objects, noise):
    """One scene: image float32 [S, S, 3], classes int32 [k], instance masks bool [k, S, S]."""
    background = rng.uniform(0.0, 255.0, size=3).astype("float32")
    ramp = np.linspace(-0.5, 0.5, size, dtype="float32")
    direction = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(direction) * ramp[None, :] + np.sin(direction) * ramp[:, None]
    image = background + gradient[..., None] * np.float32(rng.uniform(0.0, 60.0))

    wanted = int(rng.integers(1, max_objects + 1))
    visible = np.zeros((max_objects, size, size), dtype=bool)  # instance masks, occlusion applied
    counts = np.zeros(max_objects, dtype="int64")  # visible pixels per instance
    classes, patches = [], []
    for _ in range(wanted):
        for _attempt in range(20):
            class_id = int(rng.integers(num_classes))
            coverage, (top, left) = _shape_coverage(rng, SCENE_CLASSES[class_id], size)
            window = np.s_[top : top + coverage.shape[0], left : left + coverage.shape[1]]
            mask = coverage >= 0.5
            area = int(mask.sum())
            if area < MIN_PIXELS:
                continue
            k = len(classes)
            hidden = (visible[:k][(slice(None), *window)] & mask).sum(axis=(1, 2))
            if np.any(counts[:k] - hidden < np.maximum((1 - MAX_HIDDEN_FRACTION) * counts[:k], MIN_PIXELS)):
                continue
            visible[:k][(slice(None), *window)] &= ~mask
            counts[:k] -= hidden
            visible[k][window] = mask
            counts[k] = area
            classes.append(class_id)
            patches.append((window, coverage))
            break
    # Colours far from the background; paint in order so later shapes cover earlier ones.
    colours = _random_colours(rng, len(classes), np.tile(background, (len(classes), 1))).astype("float32")
    for (window, coverage), colour in zip(patches, colours):
        alpha = coverage[..., None]
        image[window] = (1.0 - alpha) * image[window] + alpha * colour
    image += rng.standard_normal(size=image.shape, dtype="float32") * np.float32(rng.uniform(0.0, noise))
    return np.clip(image, 0.0, 255.0), np.asarray(classes, "int32"), visible[: len(classes)]


def generate_scenes(seed=0, n=600, image_size=128, num_classes=4, max_objects=MAX_OBJECTS, noise=12.0):
    """Scenes and their annotations (see the module docstring), padded to `max_objects` rows."""
    _check_options(image_size, n, num_classes, max_objects)
    rng = np.random.default_rng(seed)
    images = np.empty((n, image_size, image_size, 3), dtype="float32")
    classes = np.full((n, max_objects), -1, dtype="int32")
    instance_masks = np.zeros((n, max_objects, image_size, image_size), dtype="uint8")
    boxes = np.full((n, max_objects, 4), -1.0, dtype="float32")
    semantic = np.zeros((n, image_size, image_size), dtype="uint8")
    for index in range(n):
        image, scene_classes, masks = _draw_scene(rng, image_size, num_classes, max_objects, noise)
        count = len(scene_classes)
        images[index] = image
        classes[index, :count] = scene_classes
        instance_masks[index, :count] = masks
        boxes[index, :count] = _tight_boxes(masks)
        # Visible instance masks are disjoint, so their labelled sum is the semantic mask.
        semantic[index] = np.tensordot(scene_classes + 1, masks, axes=1) if count else 0
    return {
        "images": images,
        "boxes": boxes,
        "classes": classes,
        "masks": semantic,
        "instance_masks": instance_masks,
        "class_names": list(SCENE_CLASSES[:num_classes]),
    }


@register_dataset(
    "shapes_scenes",
    "detection",
    "procedural 128×128 scenes of 1–6 shapes from 4 classes with boxes, classes, semantic and instance masks (spec §8.2 D)",
)
def load_shapes_scenes(seed=0, n=600, image_size=128, num_classes=4, max_objects=MAX_OBJECTS, noise=12.0):
    scenes = generate_scenes(seed, n, image_size, num_classes, max_objects, noise)
    return Dataset(
        name="shapes_scenes",
        task="detection",
        x=scenes["images"],
        y={key: scenes[key] for key in ("boxes", "classes", "masks", "instance_masks")},
        class_names=scenes["class_names"],
        description=f"shapes scenes: {n} procedural {image_size}×{image_size} scenes, 1–{max_objects} shapes each",
        value_range=(0.0, 255.0),
        boxes=scenes["boxes"],
        masks=scenes["masks"],
    )


@register_dataset(
    "shapes_masks",
    "segmentation",
    "the shapes scenes with per-pixel labels: 0 background, 1..K shape classes (spec §8.2 E)",
)
def load_shapes_masks(seed=0, n=600, image_size=128, num_classes=4, max_objects=MAX_OBJECTS, noise=12.0):
    scenes = generate_scenes(seed, n, image_size, num_classes, max_objects, noise)
    return Dataset(
        name="shapes_masks",
        task="segmentation",
        x=scenes["images"],
        y=scenes["masks"],
        class_names=["background", *scenes["class_names"]],
        description=f"shapes scenes segmentation: {n} procedural {image_size}×{image_size} scenes, 1–{max_objects} shapes each",
        value_range=(0.0, 255.0),
    )
