"""Generated embedded sources: scikit-learn's 2-D / tabular generators and "shapes-10" images.

Every source is deterministic given its seed. Sizes default to what keeps a family test well under
a minute on one CPU core; options change them (`load_dataset("moons", n_samples=2000)`).

shapes-10 (spec §8.2 B) draws one filled shape per RGB image: circle, square, triangle, star,
cross, ring, horizontal bar, vertical bar, diamond, ellipse, with random position, scale,
rotation, foreground and background colours, a background gradient and pixel noise. Colour, size
and place carry no class information, so a classifier must learn the shape. Rotation is bounded
per class where a larger turn would make another class (a square turned 45° is a diamond, a
horizontal bar turned 90° is a vertical bar). Each example also carries its box and its mask
(`Dataset.boxes` [N, 1, 4] as (x_min, y_min, x_max, y_max) pixels, `Dataset.masks` [N, H, W]
with 1 on the shape), for localisation, segmentation and augmentation tests.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

# --- scikit-learn generators -------------------------------------------------------------------

# name: (sklearn function, task, default options, description). Outputs with a continuous target
# (regression, swiss roll, S curve: the position along the manifold) are regression data.
SKLEARN_GENERATORS = {
    "moons": ("make_moons", "classification", {"n_samples": 500, "noise": 0.2}, "two interleaving half circles, 2-D, binary"),
    "circles": (
        "make_circles",
        "classification",
        {"n_samples": 500, "noise": 0.1, "factor": 0.5},
        "a circle inside a circle, 2-D, binary",
    ),
    "blobs": (
        "make_blobs",
        "classification",
        {"n_samples": 500, "centers": 3, "n_features": 2, "cluster_std": 1.0},
        "isotropic Gaussian blobs, 2-D, 3 classes",
    ),
    "classification": (
        "make_classification",
        "classification",
        {"n_samples": 500, "n_features": 20, "n_informative": 5, "n_redundant": 2, "n_classes": 3},
        "scikit-learn make_classification: 20 features, 3 classes",
    ),
    "regression": (
        "make_regression",
        "regression",
        {"n_samples": 500, "n_features": 10, "n_informative": 5, "noise": 10.0},
        "scikit-learn make_regression: 10 features, 1 target",
    ),
    "swiss_roll": (
        "make_swiss_roll",
        "regression",
        {"n_samples": 500, "noise": 0.05},
        "3-D swiss roll; target = position along the roll",
    ),
    "s_curve": (
        "make_s_curve",
        "regression",
        {"n_samples": 500, "noise": 0.05},
        "3-D S curve; target = position along the curve",
    ),
}


def _register_sklearn_generator(name, function_name, task, defaults, description):
    @register_dataset(name, task, f"{description} (seeded scikit-learn {function_name})")
    def load(seed=0, **options):
        import sklearn.datasets

        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise ValueError(f"Unknown option(s) {unknown} for dataset '{name}'. Expected some of {sorted(defaults)}.")
        x, y = getattr(sklearn.datasets, function_name)(**{**defaults, **options}, random_state=seed)
        x = x.astype("float32")
        if task == "classification":
            y = y.astype("int32")
            class_names = [str(c) for c in range(int(y.max()) + 1)]
        else:
            y = y.astype("float32").reshape(len(y), -1)
            class_names = None
        return Dataset(name, task, x, y, class_names, description)

    return load


for _name, (_function, _task, _defaults, _description) in SKLEARN_GENERATORS.items():
    _register_sklearn_generator(_name, _function, _task, _defaults, _description)


# --- shapes-10 ---------------------------------------------------------------------------------


def _convex_polygon(vertices):
    """Inside test for a convex polygon: the point is on the same side of every edge."""
    vertices = np.asarray(vertices, dtype="float32")

    def inside(u, v):
        edges = zip(vertices, np.roll(vertices, -1, axis=0))
        sides = np.stack([(u1 - u0) * (v - v0) - (v1 - v0) * (u - u0) for (u0, v0), (u1, v1) in edges])
        return np.all(sides >= 0, axis=0) | np.all(sides <= 0, axis=0)

    return inside


def _star(u, v, points=5, inner=0.42):
    """A regular star: within each sector the edge runs from an outer tip to an inner corner."""
    sector = 2 * np.pi / points
    angle = np.mod(np.arctan2(v, u) + np.pi / 2, sector)  # a tip points up
    angle = np.minimum(angle, sector - angle)  # fold onto [0, sector / 2]
    tip = np.array([1.0, 0.0])
    corner = inner * np.array([np.cos(sector / 2), np.sin(sector / 2)])
    normal = np.array([corner[1] - tip[1], tip[0] - corner[0]])
    edge_radius = (normal @ tip) / (normal[0] * np.cos(angle) + normal[1] * np.sin(angle))
    return np.hypot(u, v) <= edge_radius


# Shapes in local units (radius 1 at the drawn scale), their inside test and the largest rotation
# (degrees) that keeps the class unambiguous.
SHAPES = {
    "circle": (lambda u, v: u**2 + v**2 <= 1.0, 180),
    "square": (lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.78, 15),
    "triangle": (_convex_polygon([(0.0, -1.0), (-0.92, 0.62), (0.92, 0.62)]), 180),
    "star": (_star, 180),
    "cross": (lambda u, v: ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0)), 15),
    "ring": (lambda u, v: (u**2 + v**2 <= 1.0) & (u**2 + v**2 >= 0.5**2), 180),
    "horizontal_bar": (lambda u, v: (np.abs(u) <= 1.0) & (np.abs(v) <= 0.28), 15),
    "vertical_bar": (lambda u, v: (np.abs(u) <= 0.28) & (np.abs(v) <= 1.0), 15),
    "diamond": (lambda u, v: np.abs(u) + np.abs(v) <= 1.0, 15),
    "ellipse": (lambda u, v: u**2 + (v / 0.55) ** 2 <= 1.0, 25),
}
SHAPE_CLASSES = tuple(SHAPES)


def _random_colours(rng, n, background, min_distance=110.0):
    """Foreground colours at least `min_distance` (RGB, 0..255) from their backgrounds."""
    colours = rng.uniform(0.0, 255.0, size=(n, 3))
    for _ in range(100):
        close = np.linalg.norm(colours - background, axis=1) < min_distance
        if not close.any():
            break
        colours[close] = rng.uniform(0.0, 255.0, size=(int(close.sum()), 3))
    else:  # astronomically rare: fall back to the complementary colour
        colours[close] = 255.0 - background[close]
    return colours


def _draw_class(rng, shape_name, n, size, noise, supersample=2):
    """n images of one class: (images float32 [n, S, S, 3], masks uint8 [n, S, S])."""
    inside, max_rotation = SHAPES[shape_name]
    radius = rng.uniform(0.2, 0.4, size=n) * size
    margin = radius + 1.0
    centre_x = rng.uniform(margin, size - margin)
    centre_y = rng.uniform(margin, size - margin)
    theta = np.deg2rad(rng.uniform(-max_rotation, max_rotation, size=n))

    # Sample points at sub-pixel centres; coverage is the fraction of samples inside.
    grid = (np.arange(size * supersample) + 0.5) / supersample
    dx = grid[None, None, :] - centre_x[:, None, None]
    dy = grid[None, :, None] - centre_y[:, None, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = (cos * dx + sin * dy) / radius[:, None, None]
    v = (-sin * dx + cos * dy) / radius[:, None, None]
    covered = inside(u, v).astype("float32")
    coverage = covered.reshape(n, size, supersample, size, supersample).mean(axis=(2, 4))

    background = rng.uniform(0.0, 255.0, size=(n, 3))
    foreground = _random_colours(rng, n, background)
    # A linear background gradient of random direction and strength, then pixel noise.
    ramp = np.linspace(-0.5, 0.5, size)
    direction = rng.uniform(0, 2 * np.pi, size=n)
    gradient = np.cos(direction)[:, None, None] * ramp[None, None, :] + np.sin(direction)[:, None, None] * ramp[None, :, None]
    gradient = gradient[..., None] * rng.uniform(0.0, 60.0, size=(n, 1, 1, 1))
    images = background[:, None, None, :] + gradient
    alpha = coverage[..., None]
    images = (1.0 - alpha) * images + alpha * foreground[:, None, None, :]
    images += rng.normal(size=images.shape) * rng.uniform(0.0, noise, size=(n, 1, 1, 1))
    images = np.clip(images, 0.0, 255.0).astype("float32")
    return images, (coverage >= 0.5).astype("uint8")


def _boxes_from_masks(masks):
    """Tight (x_min, y_min, x_max, y_max) pixel boxes [N, 1, 4] around each mask's foreground."""
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    size_y, size_x = masks.shape[1:]
    y_min, y_max = rows.argmax(axis=1), size_y - rows[:, ::-1].argmax(axis=1)
    x_min, x_max = cols.argmax(axis=1), size_x - cols[:, ::-1].argmax(axis=1)
    return np.stack([x_min, y_min, x_max, y_max], axis=1).astype("float32")[:, None, :]


def generate_shapes10(seed=0, image_size=32, num_per_class=200, noise=20.0):
    """(images float32 [N, S, S, 3] in 0..255, labels int32 [N], masks uint8 [N, S, S]), shuffled."""
    if image_size < 16:
        raise ValueError(f"shapes10 needs image_size >= 16 to tell the shapes apart. Received: image_size={image_size}")
    if num_per_class < 1:
        raise ValueError(f"num_per_class must be at least 1. Received: num_per_class={num_per_class}")
    rng = np.random.default_rng(seed)
    images, masks = zip(*(_draw_class(rng, name, num_per_class, image_size, noise) for name in SHAPE_CLASSES))
    labels = np.repeat(np.arange(len(SHAPE_CLASSES), dtype="int32"), num_per_class)
    order = rng.permutation(len(labels))
    return np.concatenate(images)[order], labels[order], np.concatenate(masks)[order]


@register_dataset("shapes10", "classification", "procedural 32×32 RGB shapes, 10 classes, with boxes and masks (spec §8.2)")
def load_shapes10(seed=0, image_size=32, num_per_class=200, noise=20.0):
    images, labels, masks = generate_shapes10(seed, image_size, num_per_class, noise)
    return Dataset(
        name="shapes10",
        task="classification",
        x=images,
        y=labels,
        class_names=list(SHAPE_CLASSES),
        description=f"shapes-10: {len(labels)} procedural {image_size}×{image_size} RGB shapes",
        value_range=(0.0, 255.0),
        boxes=_boxes_from_masks(masks),
        masks=masks,
    )


@register_dataset("shapes10_area", "regression", "shapes-10 images with the shape's area (fraction of the image) as target")
def load_shapes10_area(seed=0, image_size=32, num_per_class=200, noise=20.0):
    images, _, masks = generate_shapes10(seed, image_size, num_per_class, noise)
    area = masks.reshape(len(masks), -1).mean(axis=1, dtype="float32").reshape(-1, 1)
    return Dataset(
        name="shapes10_area",
        task="regression",
        x=images,
        y=area,
        description=f"shapes-10 size regression: area fraction of {len(area)} {image_size}×{image_size} shapes",
        value_range=(0.0, 255.0),
        boxes=_boxes_from_masks(masks),
        masks=masks,
    )
