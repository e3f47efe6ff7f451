"""Synthetic identities (spec §8.2 F): parametric "faces" for metric learning.

Each identity is a fixed random parametric face: an ellipse with its own aspect and size, a hair
line, two eyes at their own spacing, height and size, a mouth of its own width, height and
position, and a palette (skin, hair, eye and mouth colours). Every image of an identity renders
that face under a random pose (in-plane rotation ±18°, scale, shift), random lighting (a global gain
and a linear gradient in a random direction), a random background colour and pixel noise. So what
stays the same across the images of one identity is its geometry and palette; what changes is
what a face recogniser must ignore.

Datasets (deterministic given `seed`; the default sizes build in well under a second):

    identities (metric_learning)       x float32 [N, S, S, 3] pixels 0..255, y int32 [N] identity ids;
                                       class_names = identity names ("id000", ...). The metric
                                       learning task splits by identity (`Task.split_groups`), so
                                       the held-out identities are never seen in training.
    identity_classes (classification)  the same images for the per-identity classifier baseline,
                                       split by example: every identity is seen in training.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

SUPERSAMPLE = 2  # samples per pixel side; coverage is their mean (anti-aliased edges)


def _check_options(n_identities, images_per_identity, image_size):
    if n_identities < 2:
        raise ValueError(f"n_identities must be at least 2. Received: n_identities={n_identities}")
    if images_per_identity < 2:
        raise ValueError(f"images_per_identity must be at least 2 (pairs need two images). Received: {images_per_identity}")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 to draw eyes and a mouth. Received: image_size={image_size}")


def identity_parameters(rng, n_identities):
    """The fixed face of every identity: a dict of arrays [n_identities, ...] (sizes relative to the image)."""
    n = n_identities

    def colours(low=20.0, high=235.0):
        return rng.uniform(low, high, size=(n, 3)).astype("float32")

    return {
        "face_rx": rng.uniform(0.24, 0.36, n),
        "face_ry": rng.uniform(0.30, 0.42, n),
        "hair_line": rng.uniform(-0.85, -0.35, n),  # face-relative v above which the face is hair
        "eye_dx": rng.uniform(0.25, 0.50, n),  # face-relative half distance between the eyes
        "eye_dy": rng.uniform(-0.35, -0.05, n),
        "eye_r": rng.uniform(0.08, 0.18, n),
        "mouth_dy": rng.uniform(0.30, 0.60, n),
        "mouth_rx": rng.uniform(0.15, 0.50, n),
        "mouth_ry": rng.uniform(0.05, 0.16, n),
        "skin": colours(),
        "hair": colours(),
        "eyes": colours(0.0, 255.0),
        "mouth": colours(0.0, 255.0),
    }


def render_faces(rng, faces, identity, image_size=32, noise=8.0):
    """Images float32 [N, S, S, 3] (0..255) of the identities `identity` [N] under random nuisances."""
    n, size, ss = len(identity), image_size, SUPERSAMPLE
    p = {key: value[identity] for key, value in faces.items()}
    angle = np.deg2rad(rng.uniform(-18.0, 18.0, n))
    scale = rng.uniform(0.85, 1.15, n)
    shift = rng.uniform(-0.07, 0.07, (n, 2))
    # Sample positions in [-0.5, 0.5) image units, then into each face's own frame.
    grid = (np.arange(size * ss) + 0.5) / (size * ss) - 0.5
    gx, gy = np.meshgrid(grid, grid)  # [S·ss, S·ss]
    dx = gx[None] - shift[:, 0, None, None]
    dy = gy[None] - shift[:, 1, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    rx = (p["face_rx"] * scale)[:, None, None]
    ry = (p["face_ry"] * scale)[:, None, None]
    u = (cos * dx + sin * dy) / rx  # face frame: the face ellipse is u² + v² <= 1
    v = (-sin * dx + cos * dy) / ry

    def column(key):
        return p[key][:, None, None]

    face = u**2 + v**2 <= 1.0
    hair = face & (v < column("hair_line"))
    eye_radius = column("eye_r")
    eyes = ((u - column("eye_dx")) ** 2 + (v - column("eye_dy")) ** 2 <= eye_radius**2) | (
        (u + column("eye_dx")) ** 2 + (v - column("eye_dy")) ** 2 <= eye_radius**2
    )
    mouth = ((u / column("mouth_rx")) ** 2 + ((v - column("mouth_dy")) / column("mouth_ry")) ** 2) <= 1.0

    background = rng.uniform(0.0, 255.0, (n, 3)).astype("float32")
    canvas = np.broadcast_to(background[:, None, None, :], (n, size * ss, size * ss, 3)).copy()
    for mask, colour in ((face, p["skin"]), (hair, p["hair"]), (eyes & face, p["eyes"]), (mouth & face, p["mouth"])):
        canvas = np.where(mask[..., None], colour[:, None, None, :], canvas)
    images = canvas.reshape(n, size, ss, size, ss, 3).mean(axis=(2, 4))

    # Lighting: a global gain and a linear ramp in a random direction.
    ramp = np.linspace(-0.5, 0.5, size, dtype="float32")
    direction = rng.uniform(0.0, 2.0 * np.pi, n)
    gradient = np.cos(direction)[:, None, None] * ramp[None, None, :] + np.sin(direction)[:, None, None] * ramp[None, :, None]
    gain = rng.uniform(0.75, 1.25, n)[:, None, None] + gradient * rng.uniform(0.0, 0.5, n)[:, None, None]
    images = images * gain[..., None]
    images += rng.standard_normal(images.shape) * rng.uniform(0.0, noise, n)[:, None, None, None]
    return np.clip(images, 0.0, 255.0).astype("float32")


def generate_identities(seed=0, n_identities=100, images_per_identity=12, image_size=32, noise=8.0):
    """(images float32 [N, S, S, 3], identity int32 [N], names) with N = n_identities · images_per_identity."""
    _check_options(n_identities, images_per_identity, image_size)
    rng = np.random.default_rng(seed)
    faces = identity_parameters(rng, n_identities)
    identity = np.repeat(np.arange(n_identities, dtype="int32"), images_per_identity)
    images = render_faces(rng, faces, identity, image_size, noise)
    names = [f"id{i:03d}" for i in range(n_identities)]
    return images, identity, names


def _faces(name, task, description, seed, n_identities, images_per_identity, image_size, noise):
    images, identity, names = generate_identities(seed, n_identities, images_per_identity, image_size, noise)
    return Dataset(
        name=name, task=task, x=images, y=identity, class_names=names, value_range=(0.0, 255.0),
        description=f"{description}: {n_identities} faces × {images_per_identity} images at {image_size}×{image_size}",
    )


@register_dataset(
    "identities",
    "metric_learning",
    "synthetic parametric faces, 100 identities × 12 images at 32×32×3 under random pose, lighting and noise (spec §8.2 F)",
)
def load_identities(seed=0, n_identities=100, images_per_identity=12, image_size=32, noise=8.0):
    return _faces("identities", "metric_learning", "synthetic identities", seed, n_identities, images_per_identity, image_size, noise)


@register_dataset(
    "identity_classes",
    "classification",
    "the synthetic identities as a classification set (every identity in training): the per-identity classifier baseline",
)
def load_identity_classes(seed=0, n_identities=20, images_per_identity=24, image_size=32, noise=8.0):
    return _faces("identity_classes", "classification", "synthetic identities as classes", seed, n_identities, images_per_identity, image_size, noise)
