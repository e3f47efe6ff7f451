"""LiDAR sweeps of ground, cars and pedestrians; meshes with per-vertex labels; a synthetic SMPL stand-in; Lambertian face renders; stick-figure motion (spec §8.2 K)."""


# === three_d_scenes: synthetic LiDAR, labelled meshes, SMPL stand-in, image → voxel pairs ========
# (one block; the image_to_image helper's face renders live in their own block of this module)

import numpy as np

from pipelines.datasets import Dataset, register_dataset

# HDL-64E geometry (KITTI): 64 beams from +2° to −24.8° elevation, sensor 1.73 m above the ground.
# SqueezeSeg/PointSeg keep the 90° frontal field of view, 512 columns.
LIDAR_FOV_UP, LIDAR_FOV_DOWN = 2.0, -24.8
LIDAR_AZIMUTH_FOV = 90.0
LIDAR_HEIGHT = 1.73
LIDAR_MAX_RANGE = 50.0
LIDAR_CLASSES = ("background", "car", "pedestrian")
CAR_SIZE = (3.9, 1.6, 1.5)  # KITTI's mean car (l, w, h), metres
PEDESTRIAN_SIZE = (0.6, 0.6, 1.75)  # cylinder diameter (l = w) and height
_REFLECTIVITY = np.array([0.25, 0.7, 0.45], dtype=np.float32)  # ground, car, pedestrian


def _beam_directions(beams, columns, fov_up=LIDAR_FOV_UP, fov_down=LIDAR_FOV_DOWN, azimuth_fov=LIDAR_AZIMUTH_FOV):
    """Unit ray directions [beams, columns, 3] at the centres of the spherical grid's cells."""
    elevation = np.deg2rad(fov_up - (np.arange(beams) + 0.5) * (fov_up - fov_down) / beams)
    azimuth = np.deg2rad(azimuth_fov / 2 - (np.arange(columns) + 0.5) * azimuth_fov / columns)
    elevation, azimuth = np.meshgrid(elevation, azimuth, indexing="ij")
    return np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], axis=-1)


def random_lidar_scene(rng, max_cars=6, max_pedestrians=4):
    """Objects of one street scene: boxes float32 [M, 7] (x, y, z, l, w, h, yaw; z = box centre in
    the sensor frame, ground at z = −1.73) and classes int32 [M] (1 car, 2 pedestrian)."""
    boxes, classes = [], []
    wanted = [1] * int(rng.integers(1, max_cars + 1)) + [2] * int(rng.integers(1, max_pedestrians + 1))
    for cls in wanted:
        for _ in range(20):  # rejection sampling: objects never overlap
            if cls == 1:
                l, w, h = np.asarray(CAR_SIZE) * rng.uniform(0.9, 1.1, 3)
                x, y, yaw = rng.uniform(6.0, 38.0), rng.uniform(-14.0, 14.0), rng.uniform(-np.pi, np.pi)
            else:
                l, w, h = PEDESTRIAN_SIZE[0] * rng.uniform(0.85, 1.15), 0.0, PEDESTRIAN_SIZE[2] * rng.uniform(0.9, 1.1)
                w, yaw = l, 0.0
                x, y = rng.uniform(4.0, 26.0), rng.uniform(-10.0, 10.0)
            if abs(y) > x * np.tan(np.deg2rad(LIDAR_AZIMUTH_FOV / 2)) - 1.0:
                continue  # outside the frontal field of view
            radius = 0.5 * np.hypot(l, w)
            if all(np.hypot(x - b[0], y - b[1]) > radius + 0.5 * np.hypot(b[3], b[4]) + 0.3 for b in boxes):
                boxes.append([x, y, -LIDAR_HEIGHT + h / 2, l, w, h, yaw])
                classes.append(cls)
                break
    return np.asarray(boxes, np.float32).reshape(-1, 7), np.asarray(classes, np.int32)


def ray_cast_sweep(rng, boxes, classes, beams=64, columns=512, range_noise=0.02, dropout=0.03):
    """Ray-casts a `beams`-beam scanner into ground + boxes (cars) + vertical cylinders (pedestrians).

    Returns points float32 [P, 4] (x, y, z, intensity in 0..1) and labels int32 [P] (0 ground,
    1 car, 2 pedestrian) of the rays that hit something within `LIDAR_MAX_RANGE`.
    """
    d = _beam_directions(beams, columns).reshape(-1, 3)
    t_best = np.full(len(d), np.inf)
    label = np.zeros(len(d), np.int32)
    ground = d[:, 2] < -1e-6
    t_best[ground] = -LIDAR_HEIGHT / d[ground, 2]
    for box, cls in zip(boxes, classes):
        x, y, z, l, w, h, yaw = box
        if cls == 2:  # cylinder: |(o + t d)_xy − c_xy| = r, z within the body
            r = l / 2
            a = d[:, 0] ** 2 + d[:, 1] ** 2
            b = -2 * (d[:, 0] * x + d[:, 1] * y)
            c = x * x + y * y - r * r
            disc = b * b - 4 * a * c
            t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / np.maximum(2 * a, 1e-12), np.inf)
            hz = t * d[:, 2]
            t = np.where((t > 0) & (hz >= z - h / 2) & (hz <= z + h / 2), t, np.inf)
        else:  # oriented box: slab test in the box frame
            cos, sin = np.cos(-yaw), np.sin(-yaw)
            o = np.array([-(cos * x - sin * y), -(sin * x + cos * y), -z])
            local = np.stack([cos * d[:, 0] - sin * d[:, 1], sin * d[:, 0] + cos * d[:, 1], d[:, 2]], axis=-1)
            half = np.array([l, w, h]) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                t1, t2 = (-half - o) / local, (half - o) / local
            t_near = np.nanmax(np.minimum(t1, t2), axis=1)
            t_far = np.nanmin(np.maximum(t1, t2), axis=1)
            t = np.where((t_far >= t_near) & (t_near > 0), t_near, np.inf)
        closer = t < t_best
        t_best[closer], label[closer] = t[closer], cls
    keep = (t_best < LIDAR_MAX_RANGE) & (rng.random(len(d)) >= dropout)
    t = t_best[keep] + rng.normal(0.0, range_noise, keep.sum())
    points = d[keep] * t[:, None]
    incidence = np.where(label[keep] == 0, np.abs(d[keep, 2]) * 4.0, 1.0)  # grazing ground returns are weak
    intensity = _REFLECTIVITY[label[keep]] * np.clip(incidence, 0.2, 1.0) + rng.normal(0.0, 0.03, keep.sum())
    points = np.concatenate([points, np.clip(intensity, 0.0, 1.0)[:, None]], axis=1).astype(np.float32)
    return points, label[keep]


def check_points(points, width=4, what="points"):
    """A LiDAR point array [P, width] of finite values, else a one-line ValueError."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != width:
        raise ValueError(f"{what} must be [P, {width}] (x, y, z, intensity). Received: shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{what} hold NaN or infinite coordinates. Received: {int(np.sum(~np.isfinite(points)))} non-finite values")
    return points.astype(np.float32)


def spherical_projection(points, labels=None, height=64, width=512, fov_up=LIDAR_FOV_UP, fov_down=LIDAR_FOV_DOWN, azimuth_fov=LIDAR_AZIMUTH_FOV):
    """SqueezeSeg/PointSeg's spherical projection of a sweep onto a `height` × `width` grid.

    Column from the azimuth θ = atan2(y, x) over the frontal `azimuth_fov`, row from the elevation
    φ = asin(z / r) over [fov_down, fov_up]; points outside are cropped (the camera field of view).
    Channels (x, y, z, intensity, range r = ‖(x, y, z)‖); where several points fall in one cell the
    nearest wins; empty cells are zero (label 0). Returns image float32 [H, W, 5] (and labels
    int32 [H, W] when given).
    """
    points = check_points(points)
    r = np.linalg.norm(points[:, :3], axis=1)
    azimuth = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    elevation = np.degrees(np.arcsin(np.clip(points[:, 2] / np.maximum(r, 1e-9), -1.0, 1.0)))
    column = np.floor((azimuth_fov / 2 - azimuth) / azimuth_fov * width).astype(np.int64)
    row = np.floor((fov_up - elevation) / (fov_up - fov_down) * height).astype(np.int64)
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height) & (r > 0)
    order = np.argsort(-r[inside], kind="stable")  # far first, so the nearest point is written last
    index = np.flatnonzero(inside)[order]
    image = np.zeros((height, width, 5), np.float32)
    image[row[index], column[index]] = np.concatenate([points[index], r[index, None]], axis=1)
    if labels is None:
        return image
    label_image = np.zeros((height, width), np.int32)
    label_image[row[index], column[index]] = np.asarray(labels)[index]
    return image, label_image


def bev_raster(points, x_range=(0.0, 40.0), y_range=(-20.0, 20.0), cell=0.1, z_range=(-2.0, 1.0), slices=4):
    """MV3D's bird's-eye-view maps (Chen et al. 2017, §3.1) of a sweep.

    The x–y plane is cut into `cell`-metre cells (rows along x, columns along y) and z_range into
    `slices` height slices. Channels: per slice the maximum height of its points in the cell
    (relative to z_range[0], 0 where empty); the intensity of the cell's highest point (MV3D: "the
    reflectance value of the point which has the maximum height in each cell"); the density
    min(1, log(N + 1) / log 64) of the cell's N points. Returns float32 [X, Y, slices + 2].
    """
    points = check_points(points)
    rows = int(round((x_range[1] - x_range[0]) / cell))
    cols = int(round((y_range[1] - y_range[0]) / cell))
    i = np.floor((points[:, 0] - x_range[0]) / cell).astype(np.int64)
    j = np.floor((points[:, 1] - y_range[0]) / cell).astype(np.int64)
    z = points[:, 2]
    inside = (i >= 0) & (i < rows) & (j >= 0) & (j < cols) & (z >= z_range[0]) & (z < z_range[1])
    i, j, z, intensity = i[inside], j[inside], z[inside], points[inside, 3]
    out = np.zeros((rows, cols, slices + 2), np.float32)
    height = z - z_range[0]
    k = np.minimum(np.floor(height / ((z_range[1] - z_range[0]) / slices)).astype(np.int64), slices - 1)
    np.maximum.at(out, (i, j, k), height.astype(np.float32))
    order = np.argsort(z, kind="stable")  # highest written last: its intensity stays
    out[i[order], j[order], slices] = intensity[order]
    counts = np.zeros((rows, cols), np.float64)
    np.add.at(counts, (i, j), 1.0)
    out[..., slices + 1] = np.minimum(1.0, np.log(counts + 1.0) / np.log(64.0))
    return out


def bev_footprints(boxes, classes, x_range=(0.0, 40.0), y_range=(-20.0, 20.0), cell=0.1):
    """Class id per BEV cell [X, Y] int32: the class of the box whose rotated footprint holds the cell
    centre (0 elsewhere): the BEV segmentation target."""
    rows = int(round((x_range[1] - x_range[0]) / cell))
    cols = int(round((y_range[1] - y_range[0]) / cell))
    cx = x_range[0] + (np.arange(rows) + 0.5) * cell
    cy = y_range[0] + (np.arange(cols) + 0.5) * cell
    gx, gy = np.meshgrid(cx, cy, indexing="ij")
    target = np.zeros((rows, cols), np.int32)
    for (x, y, _, l, w, _, yaw), cls in zip(boxes, classes):
        dx, dy = gx - x, gy - y
        u = np.cos(yaw) * dx + np.sin(yaw) * dy
        v = -np.sin(yaw) * dx + np.cos(yaw) * dy
        # Footprints grow to at least one cell, so a pedestrian never falls between cell centres.
        half_l, half_w = max(l / 2, cell * 0.75), max(w / 2, cell * 0.75)
        target[(np.abs(u) <= half_l) & (np.abs(v) <= half_w)] = cls
    return target


def pillarize(points, x_range=(0.0, 40.0), y_range=(-20.0, 20.0), cell=0.16, max_points=32):
    """PointPillars' dense pillar tensor (Lang et al. 2019, §2.1) of a sweep: float32 [X, Y, P, 9].

    Each non-empty cell (pillar) keeps up to `max_points` points (the first ones; zero rows pad);
    per point (x, y, z, r, x_c, y_c, z_c, x_p, y_p): coordinates and intensity, offsets to the
    pillar's arithmetic mean and offsets to the pillar's x–y centre. Dense instead of PointPillars'
    (P, N, D) + scatter, so the model is one static graph that every export runtime runs.
    """
    points = check_points(points)
    rows = int(round((x_range[1] - x_range[0]) / cell))
    cols = int(round((y_range[1] - y_range[0]) / cell))
    i = np.floor((points[:, 0] - x_range[0]) / cell).astype(np.int64)
    j = np.floor((points[:, 1] - y_range[0]) / cell).astype(np.int64)
    inside = (i >= 0) & (i < rows) & (j >= 0) & (j < cols)
    points, i, j = points[inside], i[inside], j[inside]
    flat = i * cols + j
    order = np.argsort(flat, kind="stable")
    flat, points, i, j = flat[order], points[order], i[order], j[order]
    starts = np.searchsorted(flat, flat, side="left")
    slot = np.arange(len(flat)) - starts
    counts = np.bincount(flat, minlength=rows * cols)
    sums = np.zeros((rows * cols, 3))
    np.add.at(sums, flat, points[:, :3])
    mean = sums[flat] / counts[flat, None]
    centre = np.stack([x_range[0] + (i + 0.5) * cell, y_range[0] + (j + 0.5) * cell], axis=1)
    features = np.concatenate([points, points[:, :3] - mean, points[:, :2] - centre], axis=1)
    keep = slot < max_points
    out = np.zeros((rows, cols, max_points, 9), np.float32)
    out[i[keep], j[keep], slot[keep]] = features[keep]
    return out


def _lidar_scenes(n, seed, beams, columns):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        boxes, classes = random_lidar_scene(rng)
        points, labels = ray_cast_sweep(rng, boxes, classes, beams=beams, columns=columns)
        yield points, labels, boxes, classes


@register_dataset("lidar_range_images", "segmentation", "synthetic LiDAR sweeps (ground, cars, pedestrians) spherically projected to a beams × columns × (x, y, z, intensity, range) grid; per-point classes")
def load_lidar_range_images(seed=0, n=240, beams=32, columns=128):
    """PointSeg's input: each sweep ray-cast with a `beams`-beam scanner over the frontal 90° and
    projected to [beams, columns, 5]; y = class per grid cell (0 background/ground/empty, 1 car,
    2 pedestrian)."""
    if beams < 8 or columns < 16 or n < 1:
        raise ValueError(f"lidar_range_images needs beams >= 8, columns >= 16, n >= 1. Received: beams={beams}, columns={columns}, n={n}")
    images, masks = [], []
    for points, labels, _, _ in _lidar_scenes(n, seed, beams, columns):
        image, mask = spherical_projection(points, labels, height=beams, width=columns)
        images.append(image)
        masks.append(mask)
    return Dataset(
        "lidar_range_images", "segmentation", np.stack(images), np.stack(masks).astype(np.uint8), list(LIDAR_CLASSES),
        f"{n} synthetic {beams}-beam LiDAR sweeps, spherical projection {beams}×{columns}×5 (x, y, z, intensity, range)",
    )


@register_dataset("lidar_bev", "segmentation", "synthetic LiDAR sweeps rasterised to MV3D bird's-eye-view maps (height slices, intensity, density); per-cell object footprints")
def load_lidar_bev(seed=0, n=240, beams=32, columns=256, cells=64, extent=32.0, slices=4):
    """BEV CNN input: MV3D maps over x in [0, extent), y in [−extent/2, extent/2), `cells` × `cells`
    cells; y = class of the object footprint holding each cell (0 background, 1 car, 2 pedestrian)."""
    if cells < 8 or n < 1:
        raise ValueError(f"lidar_bev needs cells >= 8 and n >= 1. Received: cells={cells}, n={n}")
    cell = extent / cells
    grid = dict(x_range=(0.0, extent), y_range=(-extent / 2, extent / 2), cell=cell)
    rasters, targets = [], []
    for points, _, boxes, classes in _lidar_scenes(n, seed, beams, columns):
        rasters.append(bev_raster(points, slices=slices, **grid))
        targets.append(bev_footprints(boxes, classes, **grid))
    return Dataset(
        "lidar_bev", "segmentation", np.stack(rasters), np.stack(targets).astype(np.uint8), list(LIDAR_CLASSES),
        f"{n} synthetic LiDAR sweeps, MV3D BEV {cells}×{cells} cells of {cell:g} m, {slices} height slices + intensity + density",
    )


MAX_BOXES_3D = 10


@register_dataset("lidar_pillars", "detection_3d", "synthetic LiDAR sweeps as PointPillars' dense pillars; oriented 3-D boxes (x, y, z, l, w, h, yaw) of cars and pedestrians")
def load_lidar_pillars(seed=0, n=200, beams=32, columns=256, cells=32, extent=32.0, max_points=8):
    """3-D detection: x = pillars float32 [N, cells, cells, max_points, 9] over x in [0, extent),
    y in [−extent/2, extent/2); y = {"boxes": float32 [N, M, 7] (x, y, z, l, w, h, yaw), rows of 0
    pad, "classes": int32 [N, M] (0 car, 1 pedestrian; −1 pads)}, M = 10. Objects outside the grid
    or hit by fewer than 3 points are dropped."""
    if cells < 8 or n < 1 or max_points < 1:
        raise ValueError(f"lidar_pillars needs cells >= 8, max_points >= 1, n >= 1. Received: cells={cells}, max_points={max_points}, n={n}")
    grid = dict(x_range=(0.0, extent), y_range=(-extent / 2, extent / 2), cell=extent / cells)
    pillars = []
    all_boxes = np.zeros((n, MAX_BOXES_3D, 7), np.float32)
    all_classes = np.full((n, MAX_BOXES_3D), -1, np.int32)
    for index, (points, labels, boxes, classes) in enumerate(_lidar_scenes(n, seed, beams, columns)):
        pillars.append(pillarize(points, max_points=max_points, **grid))
        hits = np.array([np.sum(_points_in_box(points, box)) for box in boxes]) if len(boxes) else np.zeros(0)
        keep = (hits >= 3) & (boxes[:, 0] < extent) & (np.abs(boxes[:, 1]) < extent / 2)
        kept = np.flatnonzero(keep)[:MAX_BOXES_3D]
        all_boxes[index, : len(kept)] = boxes[kept]
        all_classes[index, : len(kept)] = classes[kept] - 1
    return Dataset(
        "lidar_pillars", "detection_3d", np.stack(pillars), {"boxes": all_boxes, "classes": all_classes}, ["car", "pedestrian"],
        f"{n} synthetic LiDAR sweeps, {cells}×{cells} pillars of {extent / cells:g} m × {max_points} points × 9 features",
    )


def _points_in_box(points, box):
    x, y, z, l, w, h, yaw = box
    dx, dy = points[:, 0] - x, points[:, 1] - y
    u = np.cos(yaw) * dx + np.sin(yaw) * dy
    v = -np.sin(yaw) * dx + np.cos(yaw) * dy
    return (np.abs(u) <= l / 2 + 0.05) & (np.abs(v) <= w / 2 + 0.05) & (np.abs(points[:, 2] - z) <= h / 2 + 0.05)


# --- meshes with per-vertex labels, the SMPL stand-in, rendered views → voxels ---------------------

MESH_CLASSES = ("surface", "bump", "dent")


@register_dataset("mesh_bumps", "segmentation", "icospheres deformed by random bumps and dents, per-vertex labels (surface, bump, dent); vertex features (x, y, z, ‖p‖) as a [V, 1, 4] grid")
def load_mesh_bumps(seed=0, n=300, subdivisions=2, noise=0.02):
    """Spectral mesh CNN data: each example is the unit icosphere of level `subdivisions` with 1–4
    Gaussian bumps (outward) or dents (inward) of random width and height, a random anisotropic
    scale and position noise. x = vertex features float32 [N, V, 1, 4]; y = uint8 [N, V, 1], the
    class of the deformation whose region (angle < 1.5 σ from its centre) holds the vertex. Vertex
    features (x, y, z, ‖p‖): the distance from the centre is given because a ReLU network builds a
    norm poorly, and the bumps are its local deviations that the graph filters must find."""
    from architectures.three_d.meshes import icosphere

    if not 1 <= subdivisions <= 4 or n < 1:
        raise ValueError(f"mesh_bumps needs subdivisions in 1..4 and n >= 1. Received: subdivisions={subdivisions}, n={n}")
    rng = np.random.default_rng(seed)
    unit, _ = icosphere(subdivisions)
    x = np.zeros((n, len(unit), 1, 4), np.float32)
    y = np.zeros((n, len(unit), 1), np.uint8)
    for i in range(n):
        radius = np.ones(len(unit))
        strongest = np.zeros(len(unit))
        for _ in range(int(rng.integers(1, 5))):
            centre = rng.normal(size=3)
            centre /= np.linalg.norm(centre)
            sigma = rng.uniform(0.25, 0.45)
            height = rng.uniform(0.15, 0.35) * (1 if rng.random() < 0.5 else -1)
            angle = np.arccos(np.clip(unit @ centre, -1.0, 1.0))
            profile = np.exp(-(angle**2) / (2 * sigma**2))
            radius += height * profile
            region = (angle < 1.5 * sigma) & (profile > strongest)
            y[i, region, 0] = 1 if height > 0 else 2
            strongest = np.maximum(strongest, np.where(angle < 1.5 * sigma, profile, 0.0))
        scale = rng.uniform(0.85, 1.15, 3)
        position = unit * radius[:, None] * scale + rng.normal(0.0, noise, unit.shape)
        x[i, :, 0] = np.concatenate([position, np.linalg.norm(position, axis=1, keepdims=True)], axis=1)
    return Dataset("mesh_bumps", "segmentation", x, y, list(MESH_CLASSES), f"{n} icospheres of {len(unit)} vertices with bumps and dents; features (x, y, z, ‖p‖)")


@register_dataset("smpl_standin", "regression", "a synthetic SMPL stand-in body: (pose θ, shape β) → posed vertices [V, 3] of the stand-in with its true blend shapes")
def load_smpl_standin(seed=0, n=400, num_vertices=64, num_joints=6, num_betas=4, pose_std=0.3):
    """x = {"pose": float32 [N, 3J] axis-angle per joint (N(0, pose_std)), "shape": float32 [N, B]
    (N(0, 1))}; y = float32 [N, V, 3] vertices of the stand-in body (`standin_truth`). The sizes
    must match the model's (the tiny config's by default)."""
    from architectures.three_d.meshes import smpl_forward_numpy, smpl_parents, standin_truth

    if n < 1:
        raise ValueError(f"n must be at least 1. Received: n={n}")
    rng = np.random.default_rng(seed)
    truth = standin_truth(num_vertices, num_joints, num_betas)
    pose = rng.normal(0.0, pose_std, (n, 3 * num_joints)).astype(np.float32)
    shape = rng.normal(0.0, 1.0, (n, num_betas)).astype(np.float32)
    vertices = smpl_forward_numpy(truth, pose, shape, smpl_parents(num_joints))
    return Dataset("smpl_standin", "regression", {"pose": pose, "shape": shape}, vertices, None,
                   f"{n} poses × shapes of a {num_vertices}-vertex, {num_joints}-joint SMPL stand-in")


VOXEL_PRIMITIVES = ("sphere", "box", "cylinder", "torus")


def voxel_primitive(rng, size, kind):
    """One primitive as a bool grid [size]³ with a random centre, extent and axis."""
    axis = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    cx, cy, cz = rng.uniform(-0.2, 0.2, 3)
    a, b, c = rng.uniform(0.35, 0.75, 3)
    x, y, z = x - cx, y - cy, z - cz
    order = rng.permutation(3)
    x, y, z = (x, y, z)[order[0]], (x, y, z)[order[1]], (x, y, z)[order[2]]
    if kind == "sphere":
        return (x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1.0
    if kind == "box":
        return (np.abs(x) <= a * 0.8) & (np.abs(y) <= b * 0.8) & (np.abs(z) <= c * 0.8)
    if kind == "cylinder":
        return ((x / a) ** 2 + (y / b) ** 2 <= 1.0) & (np.abs(z) <= c)
    major, minor = 0.5 * max(a, b), 0.35 * min(a, b) + 0.1
    return (np.sqrt(x**2 + y**2) - major) ** 2 + z**2 <= minor**2


VIEW_EXTENT = 1.4  # half-width of the orthographic views, in units of the grid's half side


def render_voxel_views(grid, views, image_size, elevation=30.0, azimuth_offset=0.0):
    """Orthographic depth-shaded renders [views, S, S, 1] (0..255) of a bool grid, the camera
    circling the up axis (z) every 360°/views at `elevation` degrees."""
    size = grid.shape[0]
    points = (np.argwhere(grid) + 0.5) / size * 2.0 - 1.0
    images = np.zeros((views, image_size, image_size, 1), np.float32)
    if not len(points):
        return images
    tilt = np.deg2rad(elevation)
    for v in range(views):
        turn = np.deg2rad(azimuth_offset + 360.0 * v / views)
        x = np.cos(turn) * points[:, 0] + np.sin(turn) * points[:, 1]
        depth0 = -np.sin(turn) * points[:, 0] + np.cos(turn) * points[:, 1]
        up = np.cos(tilt) * points[:, 2] - np.sin(tilt) * depth0
        depth = np.sin(tilt) * points[:, 2] + np.cos(tilt) * depth0
        u = np.clip(((x + VIEW_EXTENT) / (2 * VIEW_EXTENT) * image_size).astype(int), 0, image_size - 1)
        w = np.clip(((VIEW_EXTENT - up) / (2 * VIEW_EXTENT) * image_size).astype(int), 0, image_size - 1)
        nearest = np.full((image_size, image_size), np.inf)
        np.minimum.at(nearest, (w, u), depth)
        hit = np.isfinite(nearest)
        images[v, hit, 0] = 255.0 * (0.95 - 0.7 * (nearest[hit] + VIEW_EXTENT) / (2 * VIEW_EXTENT))  # near = bright
    return images


@register_dataset("rendered_voxels", "voxel_reconstruction", "primitives (sphere, box, cylinder, torus) as D³ occupancy grids with T orthographic depth-shaded renders around them")
def load_rendered_voxels(seed=0, n=300, voxel_size=16, views=2, image_size=16):
    """3D-R2N2 data: x = float32 [N, views, S, S, 1] renders (pixels 0..255) from views spread
    around the shape with a random first azimuth; y = uint8 [N, D, D, D] occupancy."""
    if voxel_size < 8 or views < 1 or image_size < 8 or n < 1:
        raise ValueError(f"rendered_voxels needs voxel_size >= 8, views >= 1, image_size >= 8, n >= 1. Received: {voxel_size}, {views}, {image_size}, {n}")
    rng = np.random.default_rng(seed)
    x = np.zeros((n, views, image_size, image_size, 1), np.float32)
    y = np.zeros((n, voxel_size, voxel_size, voxel_size), np.uint8)
    for i in range(n):
        grid = voxel_primitive(rng, voxel_size, VOXEL_PRIMITIVES[i % len(VOXEL_PRIMITIVES)])
        y[i] = grid
        x[i] = render_voxel_views(grid, views, image_size, azimuth_offset=rng.uniform(0.0, 360.0))
    return Dataset("rendered_voxels", "voxel_reconstruction", x, y, ["empty", "occupied"],
                   f"{n} primitives, {voxel_size}³ voxels, {views} views of {image_size}×{image_size}", value_range=(0.0, 255.0))


# === image_to_image: Lambertian face renders (SfSNet, intrinsic reflectance prior, neural rendering) ===
# Ellipsoid "faces" with analytic normals, albedo maps (skin, eyes, mouth, smooth texture) and random
# second-order SH lighting, rendered I = albedo ⊙ SH-shading(normals) (tasks.image_to_image).


def render_faces(n, image_size=32, seed=0):
    """n Lambertian face renders: dict of images float32 [n, S, S, 3] (0..255), normals [n, S, S, 3]
    (unit, camera frame: x right, y up, z to the viewer), albedo [n, S, S, 3] (0..1), lighting
    [n, 27] (9 SH coefficients per colour), shading [n, S, S, 3] and mask uint8 [n, S, S] (the face)."""
    import scipy.ndimage

    from tasks.image_to_image import sh_shading_numpy

    if int(image_size) < 8 or int(n) < 1:
        raise ValueError(f"Face renders need n >= 1 and image_size >= 8. Received: n={n}, image_size={image_size}")
    rng = np.random.default_rng(seed)
    size = int(image_size)
    grid = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    u, v = np.meshgrid(grid, -grid)  # v up
    a, b, c = rng.uniform(0.55, 0.7, n), rng.uniform(0.75, 0.9, n), rng.uniform(0.5, 0.7, n)
    cx, cy = rng.uniform(-0.06, 0.06, n), rng.uniform(-0.06, 0.06, n)
    du = (u[None] - cx[:, None, None]) / a[:, None, None]
    dv = (v[None] - cy[:, None, None]) / b[:, None, None]
    radius = du**2 + dv**2
    mask = radius < 1.0
    dz = np.sqrt(np.clip(1.0 - radius, 0.0, None))
    normals = np.stack([du / a[:, None, None], dv / b[:, None, None], dz / c[:, None, None]], axis=-1)
    normals = np.where(mask[..., None], normals, np.asarray([0.0, 0.0, 1.0]))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)

    skin = np.sort(rng.uniform(0.45, 0.9, (n, 3)), axis=1)[:, ::-1]  # r ≥ g ≥ b
    background = rng.uniform(0.2, 0.8, (n, 3))
    albedo = np.where(mask[..., None], skin[:, None, None, :], background[:, None, None, :])
    texture = scipy.ndimage.gaussian_filter(rng.normal(size=(n, size, size)), (0, size / 10, size / 10))
    albedo = albedo * (1.0 + 0.6 * texture / max(np.abs(texture).max(), 1e-6) * 0.25)[..., None]
    for side in (-1.0, 1.0):  # eyes
        eye = ((du - side * 0.38) / 0.16) ** 2 + ((dv - 0.25) / 0.1) ** 2 < 1.0
        albedo = np.where(eye[..., None], 0.25 * skin[:, None, None, :], albedo)
    mouth = (du / 0.32) ** 2 + ((dv + 0.45) / 0.08) ** 2 < 1.0
    albedo = np.where(mouth[..., None], np.asarray([0.7, 0.2, 0.2]) * skin[:, None, None, :], albedo)
    albedo = np.clip(albedo, 0.02, 1.0)

    tint = rng.uniform(0.9, 1.1, (n, 3, 1))
    lighting = np.zeros((n, 3, 9))
    lighting[:, :, 0] = rng.uniform(0.7, 1.0, (n, 1))
    lighting[:, :, 1:4] = rng.normal(0.0, 0.3, (n, 1, 3))
    lighting[:, :, 4:] = rng.normal(0.0, 0.08, (n, 1, 5))
    lighting = (lighting * tint).reshape(n, 27)
    shading = np.clip(sh_shading_numpy(normals, lighting), 0.0, None)
    images = np.clip(albedo * shading, 0.0, 1.0) * 255.0
    return {
        "images": images.astype("float32"), "normals": normals.astype("float32"), "albedo": albedo.astype("float32"),
        "lighting": lighting.astype("float32"), "shading": shading.astype("float32"), "mask": mask.astype("uint8"),
    }


@register_dataset("lambertian_faces", "image_to_image", "Lambertian ellipsoid faces (x: image) with their normals, albedo, 27 SH lighting coefficients and the image as reconstruction target (y) (SfSNet)")
def load_lambertian_faces(seed=0, n=400, image_size=32):
    faces = render_faces(int(n), int(image_size), seed)
    targets = {key: faces[key] for key in ("normals", "albedo", "lighting")}
    targets["reconstruction"] = faces["images"]
    return Dataset(
        name="lambertian_faces", task="image_to_image", x=faces["images"], y=targets,
        description=f"{n} Lambertian {image_size}×{image_size} face renders with ground-truth normals, albedo and SH lighting",
        value_range=(0.0, 255.0),
    )


def reflectance_pairs(faces, pairs_per_image=8, patch=8, seed=0):
    """Pairwise relative-reflectance judgements of face renders (the IIW protocol): for pairs of
    points, x = [P, P, 9] (the patch around point 1, around point 2, the whole image resized to
    P × P: Zhou et al.'s multi-scale context), y = 0 equal / 1 darker / 2 lighter (point 1 vs 2, from
    the true albedo's luminance, δ = 10 %), balanced over the three relations."""
    from tasks.image_to_image import relative_reflectance

    rng = np.random.default_rng(seed)
    images, albedo = faces["images"], faces["albedo"]
    n, size = images.shape[:2]
    half = int(patch) // 2
    padded = np.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="edge")
    if size % int(patch):
        raise ValueError(f"image_size must be a multiple of patch. Received: image_size={size}, patch={patch}")
    step = size // int(patch)
    context = images.reshape(n, int(patch), step, int(patch), step, 3).mean(axis=(2, 4))  # area resize to P × P
    luminance = albedo @ np.asarray([0.299, 0.587, 0.114])
    candidates = 20 * int(pairs_per_image)
    image_index = np.repeat(np.arange(n), candidates)
    first, second = rng.integers(0, size, (len(image_index), 2)), rng.integers(0, size, (len(image_index), 2))
    relations = relative_reflectance(luminance[image_index, first[:, 0], first[:, 1]], luminance[image_index, second[:, 0], second[:, 1]])
    per_class = n * int(pairs_per_image) // 3
    chosen = np.sort(np.concatenate([rng.permutation(np.flatnonzero(relations == c))[:per_class] for c in range(3)]))
    offsets = np.arange(2 * half)

    def patches(points):
        rows = points[chosen, 0][:, None, None] + offsets[None, :, None]
        cols = points[chosen, 1][:, None, None] + offsets[None, None, :]
        return padded[image_index[chosen][:, None, None], rows, cols]

    x = np.concatenate([patches(first), patches(second), context[image_index[chosen]]], axis=-1)
    points = np.concatenate([image_index[chosen][:, None], first[chosen], second[chosen]], axis=1)
    return x.astype("float32"), relations[chosen].astype("int32"), points.astype("int32")


@register_dataset("face_reflectance_pairs", "classification", "pairs of points on Lambertian faces: two 8×8 patches + the downsized image (9 channels) → equal / darker / lighter reflectance (IIW-style)")
def load_face_reflectance_pairs(seed=0, n=300, image_size=32, pairs_per_image=6, patch=8):
    x, y, _ = reflectance_pairs(render_faces(int(n), int(image_size), seed), int(pairs_per_image), int(patch), seed)
    return Dataset(
        name="face_reflectance_pairs", task="classification", x=x, y=y, class_names=["equal", "darker", "lighter"],
        description=f"{len(y)} relative-reflectance judgements on {n} face renders", value_range=(0.0, 255.0),
    )


def coarse_normals(normals, cell=4, noise=0.05, seed=0):
    """A low-fidelity geometry: normals averaged over `cell` × `cell` facets (a coarse mesh's flat
    shading) plus Gaussian noise, renormalised."""
    rng = np.random.default_rng(seed)
    n, height, width, _ = normals.shape
    blocks = normals.reshape(n, height // cell, cell, width // cell, cell, 3).mean(axis=(2, 4))
    faceted = np.repeat(np.repeat(blocks, cell, axis=1), cell, axis=2) + rng.normal(0.0, noise, normals.shape)
    return (faceted / np.linalg.norm(faceted, axis=-1, keepdims=True)).astype("float32")


@register_dataset("face_gbuffers", "image_to_image", "neural rendering: G-buffers of Lambertian faces (faceted, noisy normals; albedo; SH lighting) → the clean render")
def load_face_gbuffers(seed=0, n=400, image_size=32, cell=4, noise=0.05):
    faces = render_faces(int(n), int(image_size), seed)
    x = {"normals": coarse_normals(faces["normals"], int(cell), float(noise), seed), "albedo": faces["albedo"], "lighting": faces["lighting"]}
    return Dataset(
        name="face_gbuffers", task="image_to_image", x=x, y=faces["images"],
        description=f"{n} {image_size}×{image_size} G-buffers (faceted normals, albedo, lighting) → clean renders", value_range=(0.0, 255.0),
    )
