"""Point clouds, voxels, multi-view depth renders and RGB-D pairs of primitives (spec §8.2 K).

Six primitives (`PRIMITIVES`): sphere, cube, cylinder, cone, torus, plane. One shape is a unit
primitive with an anisotropic scale (0.7–1.3 per axis), a random rotation about the up axis (z)
and a small random tilt (±10°), centred and scaled into the unit sphere. The shape is upright up to
the tilt, as ModelNet objects are, which multi-view renders and panoramas assume (spec §5.3:
PointNet's own augmentation is a rotation about the up axis). The same shape gives every view:

    primitives          x float32 [N, P, 3] surface points (jitter σ = 0.01 clipped at 0.05), y int32 class.
    primitive_voxels    x float32 [N, G, G, G, 1] surface occupancy (0/1) of the shape in [-1, 1]³.
    primitive_views     x float32 [N, 12, S, S, 1] orthographic depth renders (1 = nearest, 0 = empty)
                        every 30° around the up axis at 30° elevation (MVCNN's setup).
    primitive_rgbd      x {"rgb": [N, S, S, 3] 0..255, "depth": [N, S, S, 1] 0..1}: one view, the
                        colour a random hue × Lambertian shading (colour carries no class).
    voxel_shapes        generative: x float32 [N, G, G, G, 1] solid occupancy of sphere, box,
                        cylinder, cone, torus (no plane: a solid needs volume); y int32 class.
    voxel_image_pairs   generative (3D-VAE-GAN): x voxels as voxel_shapes, y float32 [N, S, S, 1]
                        a depth render of the same shape from a random azimuth.
    part_primitives     segmentation: x {"points": [N, P, 3], "category": [N, 4] one-hot}, y int32 [N, P]
                        part ids of composite objects (table = top + legs, chair = seat + back + legs,
                        lamp = base + pole + shade, mug = body + handle); class names "category/part".

Renders use a dense sample of the surface (4,096 points, z-buffered), not a mesh rasteriser: with
that density the orthographic renders are hole-free at 16–32 px.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

PRIMITIVES = ("sphere", "cube", "cylinder", "cone", "torus", "plane")
SOLIDS = ("sphere", "cube", "cylinder", "cone", "torus")
NUM_VIEWS = 12
VIEW_ELEVATION_DEG = 30.0
DENSE_POINTS = 4096
TORUS_RADII = (0.7, 0.3)


def _check(num_points=64, num_per_class=1, size=8):
    if num_points < 8:
        raise ValueError(f"num_points must be at least 8. Received: num_points={num_points}")
    if num_per_class < 1:
        raise ValueError(f"num_per_class must be at least 1. Received: num_per_class={num_per_class}")
    if size < 4:
        raise ValueError(f"grid or image size must be at least 4. Received: size={size}")


# --- surfaces and solids ------------------------------------------------------------------------------


def surface_points(kind, n, rng):
    """`n` points spread over the surface of the unit primitive `kind` (area-weighted where cheap)."""
    if kind == "sphere":
        p = rng.normal(size=(n, 3))
        return p / np.linalg.norm(p, axis=1, keepdims=True)
    if kind == "cube":
        p = rng.uniform(-1, 1, size=(n, 3))
        axis = rng.integers(0, 3, n)
        p[np.arange(n), axis] = rng.choice([-1.0, 1.0], n)
        return p
    if kind == "plane":
        return np.stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), np.zeros(n)], axis=1)
    if kind == "cylinder":
        # Lateral area 2π·r·h = 4π, caps 2·π: 2/3 of the points on the side.
        side = rng.uniform(size=n) < 2 / 3
        theta = rng.uniform(0, 2 * np.pi, n)
        radius = np.where(side, 1.0, np.sqrt(rng.uniform(size=n)))
        z = np.where(side, rng.uniform(-1, 1, n), rng.choice([-1.0, 1.0], n))
        return np.stack([radius * np.cos(theta), radius * np.sin(theta), z], axis=1)
    if kind == "cone":
        # Apex at z = 1, base of radius 1 at z = −1; lateral area π·r·√5 vs base π: √5/(1 + √5) on the side.
        side = rng.uniform(size=n) < np.sqrt(5) / (1 + np.sqrt(5))
        theta = rng.uniform(0, 2 * np.pi, n)
        t = np.sqrt(rng.uniform(size=n))  # distance from the apex, area-uniform
        radius = np.where(side, t, np.sqrt(rng.uniform(size=n)))
        z = np.where(side, 1.0 - 2.0 * t, -1.0)
        return np.stack([radius * np.cos(theta), radius * np.sin(theta), z], axis=1)
    if kind == "torus":
        big, small = TORUS_RADII
        u, v = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 2 * np.pi, n)
        return np.stack([(big + small * np.cos(v)) * np.cos(u), (big + small * np.cos(v)) * np.sin(u), small * np.sin(v)], axis=1)
    raise ValueError(f"Unknown primitive. Expected one of {PRIMITIVES}. Received: {kind!r}")


def inside(kind, p):
    """Whether points p [..., 3] of the unit primitive's frame lie inside the solid `kind`."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    r = np.sqrt(x**2 + y**2)
    if kind == "sphere":
        return x**2 + y**2 + z**2 <= 1.0
    if kind == "cube":
        return np.max(np.abs(p), axis=-1) <= 1.0
    if kind == "cylinder":
        return (r <= 1.0) & (np.abs(z) <= 1.0)
    if kind == "cone":
        return (np.abs(z) <= 1.0) & (r <= (1.0 - z) / 2.0)
    if kind == "torus":
        big, small = TORUS_RADII
        return (r - big) ** 2 + z**2 <= small**2
    raise ValueError(f"No solid for primitive. Expected one of {SOLIDS}. Received: {kind!r}")


def _rotation_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotation_x(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def random_pose(rng, tilt_deg=10.0):
    """(scale [3], rotation [3, 3]): anisotropic scale 0.7–1.3 and rotation about z with a small tilt."""
    scale = rng.uniform(0.7, 1.3, size=3)
    rotation = _rotation_z(rng.uniform(0, 2 * np.pi)) @ _rotation_x(np.deg2rad(rng.uniform(-tilt_deg, tilt_deg)))
    return scale, rotation


def posed_surface(kind, n, scale, rotation, rng):
    """Surface points of `kind` scaled, rotated, centred and fitted into the unit sphere."""
    p = (surface_points(kind, n, rng) * scale) @ rotation.T
    bound = np.sqrt(3.0) * np.max(scale)  # the unscaled bound keeps the relative size of shapes
    return p / bound


def jitter(points, rng, sigma=0.01, clip=0.05):
    return points + np.clip(rng.normal(scale=sigma, size=points.shape), -clip, clip)


# --- renderers ------------------------------------------------------------------------------------------


def voxelize(points, grid):
    """Occupancy [G, G, G] of the cells of [-1, 1]³ that contain a point."""
    index = np.clip(((points + 1.0) / 2.0 * grid).astype(int), 0, grid - 1)
    volume = np.zeros((grid, grid, grid), "float32")
    volume[index[:, 0], index[:, 1], index[:, 2]] = 1.0
    return volume


def solid_voxels(kind, grid, scale, rotation):
    """Solid occupancy [G, G, G] of the posed primitive: cell centres mapped back to its frame."""
    centres = (np.arange(grid) + 0.5) / grid * 2.0 - 1.0
    cells = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1).reshape(-1, 3)
    bound = np.sqrt(3.0) * np.max(scale) * 0.85  # solids fill a bit more of the grid than surfaces
    local = (cells * bound) @ rotation / scale
    return inside(kind, local).reshape(grid, grid, grid).astype("float32")


def depth_render(points, size, azimuth_deg, elevation_deg=VIEW_ELEVATION_DEG):
    """Orthographic depth image [S, S] of `points` seen from (azimuth, elevation) about the up axis:
    1 at the nearest possible depth, falling to ~0 at the farthest; 0 where no point projects."""
    return _depth_renders(points, size, [azimuth_deg], elevation_deg)[0]


def _depth_renders(points, size, azimuths_deg, elevation_deg=VIEW_ELEVATION_DEG):
    """Depth images [V, S, S], one per azimuth, z-buffered in one vectorised pass."""
    views = np.stack([_rotation_x(-np.deg2rad(90.0 - elevation_deg)) @ _rotation_z(-np.deg2rad(a)) for a in azimuths_deg])
    p = points[None] @ views.transpose(0, 2, 1)  # [V, N, 3]; camera looks along −z, +y is up in the image
    cols = np.clip(((p[..., 0] + 1.0) / 2.0 * size).astype(int), 0, size - 1)
    rows = np.clip(((1.0 - p[..., 1]) / 2.0 * size).astype(int), 0, size - 1)
    nearness = np.clip((p[..., 2] + 1.0) / 2.0 * 0.9 + 0.1, 0.0, 1.0).reshape(-1)
    cells = (np.arange(len(views))[:, None] * size * size + rows * size + cols).reshape(-1)
    # z-buffer: sort by cell, then by nearness within a cell (nearness < 1 never reaches the next
    # cell's key); the last entry of each cell is its nearest point.
    order = np.argsort(cells + nearness * 0.999)
    cells, nearness = cells[order], nearness[order]
    keep = np.nonzero(np.r_[cells[1:] != cells[:-1], True])[0]
    images = np.zeros(len(views) * size * size, "float32")
    images[cells[keep]] = nearness[keep]
    return images.reshape(len(views), size, size)


def multiview(points, size, views=NUM_VIEWS):
    """`views` depth renders [V, S, S] every 360°/V around the up axis at 30° elevation."""
    return _depth_renders(points, size, [360.0 * v / views for v in range(views)])


# --- datasets -------------------------------------------------------------------------------------------


def _shapes(kinds, num_per_class, seed):
    """Labels [N] in class order, shuffled, with one pose and one rng per shape."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(kinds)), num_per_class)
    rng.shuffle(labels)
    for label in labels:
        scale, rotation = random_pose(rng)
        yield int(label), scale, rotation, rng


def primitive_points(num_points=256, num_per_class=100, seed=0):
    """(points [N, P, 3] float32, labels [N] int32) of the six primitives."""
    _check(num_points, num_per_class)
    xs, ys = [], []
    for label, scale, rotation, rng in _shapes(PRIMITIVES, num_per_class, seed):
        xs.append(jitter(posed_surface(PRIMITIVES[label], num_points, scale, rotation, rng), rng))
        ys.append(label)
    return np.asarray(xs, "float32"), np.asarray(ys, "int32")


@register_dataset("primitives", "classification", "point clouds [N, 256, 3] of 6 primitives (sphere, cube, cylinder, cone, torus, plane), posed and jittered")
def load_primitives(seed=0, num_points=256, num_per_class=100):
    x, y = primitive_points(num_points, num_per_class, seed)
    return Dataset("primitives", "classification", x, y, class_names=list(PRIMITIVES), description="point clouds of primitives")


@register_dataset("primitive_voxels", "classification", "surface occupancy grids [N, 16, 16, 16, 1] of the 6 primitives")
def load_primitive_voxels(seed=0, grid=16, num_per_class=100):
    _check(64, num_per_class, grid)
    xs, ys = [], []
    for label, scale, rotation, rng in _shapes(PRIMITIVES, num_per_class, seed):
        points = jitter(posed_surface(PRIMITIVES[label], DENSE_POINTS, scale, rotation, rng), rng, sigma=0.005)
        xs.append(voxelize(points, grid)[..., None])
        ys.append(label)
    return Dataset("primitive_voxels", "classification", np.asarray(xs, "float32"), np.asarray(ys, "int32"), class_names=list(PRIMITIVES), value_range=(0.0, 1.0))


@register_dataset("primitive_views", "classification", "12 depth renders [N, 12, 16, 16, 1] (every 30°, 30° elevation) of the 6 primitives")
def load_primitive_views(seed=0, image_size=16, num_per_class=100, views=NUM_VIEWS):
    _check(64, num_per_class, image_size)
    xs, ys = [], []
    for label, scale, rotation, rng in _shapes(PRIMITIVES, num_per_class, seed):
        points = posed_surface(PRIMITIVES[label], DENSE_POINTS // 2, scale, rotation, rng)
        xs.append(multiview(points, image_size, views)[..., None])
        ys.append(label)
    return Dataset("primitive_views", "classification", np.asarray(xs, "float32"), np.asarray(ys, "int32"), class_names=list(PRIMITIVES), value_range=(0.0, 1.0))


def _shaded_colour(depth, rng):
    """RGB 0..255 [S, S, 3]: a random base colour × a shading from the depth gradient (normals)."""
    gy, gx = np.gradient(depth)
    normal = np.stack([-gx * 4.0, -gy * 4.0, np.ones_like(depth)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = rng.normal(size=3) * [0.5, 0.5, 0.0] + [0.0, 0.0, 1.0]
    shading = np.clip(normal @ (light / np.linalg.norm(light)), 0.0, 1.0)
    colour = rng.uniform(0.3, 1.0, size=3)
    rgb = (0.25 + 0.75 * shading[..., None]) * colour * (depth[..., None] > 0)
    return np.clip(rgb * 255.0 + rng.normal(scale=4.0, size=rgb.shape), 0.0, 255.0)


@register_dataset("primitive_rgbd", "classification", "RGB-D pairs {rgb [N, 16, 16, 3], depth [N, 16, 16, 1]} of the 6 primitives, one random view")
def load_primitive_rgbd(seed=0, image_size=16, num_per_class=100):
    _check(64, num_per_class, image_size)
    rgbs, depths, ys = [], [], []
    for label, scale, rotation, rng in _shapes(PRIMITIVES, num_per_class, seed):
        points = posed_surface(PRIMITIVES[label], DENSE_POINTS, scale, rotation, rng)
        depth = depth_render(points, image_size, rng.uniform(0, 360), rng.uniform(10, 50))
        rgbs.append(_shaded_colour(depth, rng))
        depths.append(depth[..., None])
        ys.append(label)
    x = {"rgb": np.asarray(rgbs, "float32"), "depth": np.asarray(depths, "float32")}
    return Dataset("primitive_rgbd", "classification", x, np.asarray(ys, "int32"), class_names=list(PRIMITIVES), value_range=(0.0, 255.0))


def voxel_solids(grid=16, num_per_class=60, seed=0, image_size=None):
    """(voxels [N, G, G, G, 1], labels [N], depth images [N, S, S, 1] or None) of the solids."""
    _check(64, num_per_class, grid)
    volumes, ys, images = [], [], []
    for label, scale, rotation, rng in _shapes(SOLIDS, num_per_class, seed):
        volumes.append(solid_voxels(SOLIDS[label], grid, scale, rotation)[..., None])
        ys.append(label)
        if image_size:  # the render of the same solid: its occupied cell centres, z-buffered
            cells = np.argwhere(volumes[-1][..., 0] > 0) + rng.uniform(0.0, 1.0, size=(int(volumes[-1].sum()), 3))
            images.append(depth_render(cells / grid * 2.0 - 1.0, image_size, rng.uniform(0, 360))[..., None])
    return np.asarray(volumes, "float32"), np.asarray(ys, "int32"), (np.asarray(images, "float32") if image_size else None)


@register_dataset("voxel_shapes", "generative", "solid voxel primitives [N, 16, 16, 16, 1] (sphere, box, cylinder, cone, torus), occupancy 0/1")
def load_voxel_shapes(seed=0, grid=16, num_per_class=60):
    x, y, _ = voxel_solids(grid, num_per_class, seed)
    return Dataset("voxel_shapes", "generative", x, y, class_names=list(SOLIDS), value_range=(0.0, 1.0))


@register_dataset("voxel_image_pairs", "generative", "voxel_shapes [N, 16, 16, 16, 1] with a depth render [N, 16, 16, 1] of each (3D-VAE-GAN)")
def load_voxel_image_pairs(seed=0, grid=16, num_per_class=60, image_size=16):
    x, _, images = voxel_solids(grid, num_per_class, seed, image_size=image_size)
    return Dataset("voxel_image_pairs", "generative", x, images, class_names=list(SOLIDS), value_range=(0.0, 1.0))


# --- composite objects with part labels (spec §8.2 K: "composite objects with part labels") ---------------

# Each category is a list of parts; each part is a list of components (kind, half-size (x, y, z), centre
# (x, y, z)) of the unit primitives above, before the object's random proportions are applied. The
# part ids are global and disjoint between categories (as ShapeNet-Part's 50 labels over 16 categories):
# a class name is "category/part", so the segmentation task can average IoU over a shape's own parts.
PART_CATEGORIES = ("table", "chair", "lamp", "mug")
PART_NAMES = {
    "table": ("top", "leg"),
    "chair": ("seat", "back", "leg"),
    "lamp": ("base", "pole", "shade"),
    "mug": ("body", "handle"),
}
PART_CLASS_NAMES = tuple(f"{category}/{part}" for category in PART_CATEGORIES for part in PART_NAMES[category])


def _legs(rng, half_width, half_depth, leg_height, radius, top_z):
    """Four cylinder legs under a rectangle of half-sizes (half_width, half_depth), ending at top_z."""
    inset = rng.uniform(0.8, 0.92)
    return [
        ("cylinder", (radius, radius, leg_height / 2), (sx * half_width * inset, sy * half_depth * inset, top_z - leg_height / 2))
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]


def _composite_parts(category, rng):
    """[(part index within the category, [components])] of one random instance of `category`."""
    if category == "table":
        w, d, h, t = rng.uniform(0.8, 1.3), rng.uniform(0.5, 0.9), rng.uniform(0.6, 1.0), rng.uniform(0.04, 0.08)
        top = [("cube", (w, d, t), (0.0, 0.0, h))]
        return [(0, top), (1, _legs(rng, w, d, h - t, rng.uniform(0.04, 0.08), h - t))]
    if category == "chair":
        w, h, t = rng.uniform(0.4, 0.6), rng.uniform(0.5, 0.7), rng.uniform(0.04, 0.07)
        back = rng.uniform(0.5, 0.9)
        seat = [("cube", (w, w, t), (0.0, 0.0, h))]
        backrest = [("cube", (w, t, back / 2), (0.0, -w + t, h + t + back / 2))]
        return [(0, seat), (1, backrest), (2, _legs(rng, w, w, h - t, rng.uniform(0.03, 0.05), h - t))]
    if category == "lamp":
        base_r, base_t = rng.uniform(0.3, 0.5), rng.uniform(0.04, 0.08)
        pole_h, pole_r = rng.uniform(0.8, 1.3), rng.uniform(0.03, 0.05)
        shade_r, shade_h = rng.uniform(0.3, 0.55), rng.uniform(0.25, 0.45)
        top = 2 * base_t + pole_h
        return [
            (0, [("cylinder", (base_r, base_r, base_t), (0.0, 0.0, base_t))]),
            (1, [("cylinder", (pole_r, pole_r, pole_h / 2), (0.0, 0.0, 2 * base_t + pole_h / 2))]),
            (2, [("cone", (shade_r, shade_r, shade_h / 2), (0.0, 0.0, top + shade_h / 2))]),  # the pole ends at the shade
        ]
    if category == "mug":
        r, h = rng.uniform(0.35, 0.5), rng.uniform(0.4, 0.65)
        handle = rng.uniform(0.25, 0.4)
        # Half a torus stood upright (its ring in the x-z plane) at the side of the body; what of it
        # lies inside the body is dropped when sampled (`_sample_component`).
        return [(0, [("cylinder", (r, r, h), (0.0, 0.0, h))]), (1, [("handle", (handle, handle, handle), (r, 0.0, h))])]
    raise ValueError(f"Unknown part category. Expected one of {PART_CATEGORIES}. Received: {category!r}")


def _component_area(kind, half):
    """Approximate surface area of a unit primitive scaled by `half` (for point allocation)."""
    a, b, c = half
    r = (a + b) / 2
    if kind == "cube":
        return 8 * (a * b + b * c + c * a)
    if kind == "cylinder":
        return 4 * np.pi * r * c + 2 * np.pi * r * r
    if kind == "cone":
        return np.pi * r * np.sqrt(r * r + 4 * c * c) + np.pi * r * r
    if kind == "handle":  # half a torus of radii (0.7, 0.3)·scale
        big, small = TORUS_RADII
        return 2 * np.pi**2 * big * small * a * c
    raise ValueError(f"Unknown component kind {kind!r}")


def _sample_component(kind, half, centre, n, rng):
    """`n` surface points [n, 3] of one component."""
    if kind == "handle":
        ring = surface_points("torus", 3 * n, rng)
        ring = ring[ring[:, 0] > 0.0]  # the outer half (x > 0 in the ring's frame)
        upright = ring @ _rotation_x(np.pi / 2).T * np.asarray(half) + np.asarray(centre)  # ring plane x-y → x-z
        # Only the visible handle: the part of the tube inside the body (within the body's radius,
        # which is the handle's x offset) is not surface, and would be body and handle at once.
        outside = upright[np.hypot(upright[:, 0], upright[:, 1]) > centre[0]]
        return outside[:n] if len(outside) >= n else np.concatenate([outside, outside[rng.integers(0, len(outside), n - len(outside))]])
    return surface_points(kind, n, rng) * np.asarray(half) + np.asarray(centre)


def part_object(category, num_points, rng):
    """(points [P, 3] float64, part index within the category [P]) of one composite object, sampled
    area-proportionally over its components, posed (anisotropic scale 0.8–1.2, rotation about z, tilt
    ±10°), centred, fitted into the unit sphere and jittered; points in random order."""
    parts = _composite_parts(category, rng)
    components = [(part, kind, half, centre) for part, members in parts for kind, half, centre in members]
    areas = np.array([_component_area(kind, half) for _, kind, half, _ in components])
    # Every part gets at least a few points; the rest follows the area.
    counts = np.full(len(components), 2)
    counts += rng.multinomial(num_points - counts.sum(), areas / areas.sum())
    points, labels = [], []
    for (part, kind, half, centre), count in zip(components, counts):
        points.append(_sample_component(kind, half, centre, int(count), rng))
        labels.append(np.full(int(count), part))
    points, labels = np.concatenate(points), np.concatenate(labels)
    scale = rng.uniform(0.8, 1.2, size=3)
    rotation = _rotation_z(rng.uniform(0, 2 * np.pi)) @ _rotation_x(np.deg2rad(rng.uniform(-10.0, 10.0)))
    points = (points * scale) @ rotation.T
    points -= (points.max(axis=0) + points.min(axis=0)) / 2
    points /= np.linalg.norm(points, axis=1).max()
    order = rng.permutation(num_points)
    return jitter(points, rng)[order], labels[order]


def part_objects(num_points=256, num_per_category=100, seed=0):
    """(points [N, P, 3] float32, category [N] int32, part labels [N, P] int32 global ids into
    PART_CLASS_NAMES) of the composite objects, categories shuffled."""
    _check(num_points, num_per_category)
    if num_points < 16:
        raise ValueError(f"part objects need at least 16 points (2 per component). Received: num_points={num_points}")
    rng = np.random.default_rng(seed)
    categories = np.repeat(np.arange(len(PART_CATEGORIES)), num_per_category)
    rng.shuffle(categories)
    offsets = np.cumsum([0] + [len(PART_NAMES[c]) for c in PART_CATEGORIES])[:-1]
    xs, ys = [], []
    for category in categories:
        points, parts = part_object(PART_CATEGORIES[category], num_points, rng)
        xs.append(points)
        ys.append(parts + offsets[category])
    return np.asarray(xs, "float32"), categories.astype("int32"), np.asarray(ys, "int32")


@register_dataset(
    "part_primitives",
    "segmentation",
    "composite objects (table, chair, lamp, mug) of 2–3 primitive parts each: {points [N, 256, 3], category one-hot [N, 4]}, per-point part ids (10 'category/part' classes)",
)
def load_part_primitives(seed=0, num_points=256, num_per_category=100):
    points, categories, parts = part_objects(num_points, num_per_category, seed)
    x = {"points": points, "category": np.eye(len(PART_CATEGORIES), dtype="float32")[categories]}
    return Dataset(
        "part_primitives",
        "segmentation",
        x,
        parts,
        class_names=list(PART_CLASS_NAMES),
        description="composite objects with per-point part labels; the object category is an input (PointNet part segmentation)",
    )
