"""Human pose estimation (family J): joints of one person or of every person in an image.

Element structure (batched):
    x: float32 [N, H, W, 3] raw pixels 0..255 (single person), or a dict {"images": [N, H, W, 3],
       "boxes": [N, P, 4] person boxes (x_min, y_min, x_max, y_max) pixels, rows of -1 pad}
       (several people; a top-down model takes the boxes, a bottom-up one ignores them).
    y: float32 [N, P, K, 3] keypoints (x, y, visible) in pixels of the image, P people (P = 1 for
       the single-person data), K joints of the skeleton; a person row that is all zero is padding.

Every pose model trains on the keypoints themselves: it renders its own targets in the graph with
`render_heatmaps` (Gaussian belief maps, Tompson/CPM/OpenPose) and `render_pafs` (OpenPose's part
affinity fields) and computes its loss in `compute_loss` (so that the targets follow any
augmentation and the training step compiles under XLA). A model's outputs are a dict; the task
reads these names:
    "keypoints"  [N, P, K, 3] (x, y, score) pixels: the model decodes itself (DeepPose, Tompson's
                 refined estimates, AlphaPose's SDTN output);
    "heatmaps"   [N, h, w, K] final belief maps at stride `model.stride` (CPM: the task decodes
                 them in the graph, peak + sub-pixel parabola through the log values);
    "pafs"       [N, h, w, 2C] final part affinity fields (OpenPose).
A model with `multi_person = True` and no "keypoints" output exports its maps; `predict` decodes
them with numpy/scipy (peaks, PAF line integral + greedy bipartite matching, or DeepCut's ILP).

Scores: PCK@0.2 (a joint is correct within 0.2 × the torso diameter, right shoulder to left hip)
for one person; COCO keypoint AP (OKS with the skeleton's own sigmas) via faster-coco-eval for
several.
"""

import dataclasses

import numpy as np

from tasks.base import CheckOutcome, Task, as_structure, concatenate, length, take


@dataclasses.dataclass(frozen=True)
class Skeleton:
    joints: tuple
    limbs: tuple  # (parent, child) joint index pairs, a tree rooted at `root`, parents first
    flip_pairs: tuple  # (left, right) joint indices swapped by a horizontal flip
    sigmas: tuple  # per-joint OKS falloff (COCO's κ_i)
    torso: tuple  # (joint, joint) whose distance is the PCK reference length
    root: int = 0


# 14 joints in the LSP order of DeepPose/CPM (head, neck, limbs); sigmas are COCO's for the
# matching joints (head and neck take the ear's 0.035 × 2).
STICK14 = Skeleton(
    joints=("head", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
            "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle"),
    limbs=((1, 0), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13)),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13)),
    sigmas=(0.07, 0.07, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087, 0.089, 0.107, 0.087, 0.089),
    torso=(2, 11),
    root=1,
)
# COCO's 17 keypoints, sigmas and skeleton tree (spec §9 #62: COCO has 17, not 18).
COCO17 = Skeleton(
    joints=("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist",
            "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"),
    limbs=((0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (0, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 13),
           (13, 15), (12, 14), (14, 16)),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
            0.089, 0.089),
    torso=(6, 11),
    root=0,
)
# OpenPose's COCO layout: the 17 keypoints in OpenPose's order plus a neck, 19 limbs (two of them,
# shoulder-ear, close cycles) → 18 + 1 heat maps and 38 PAF channels.
COCO18 = Skeleton(
    joints=("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee", "r_ankle",
            "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear"),
    limbs=((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13), (1, 0), (0, 14),
           (14, 16), (0, 15), (15, 17), (2, 16), (5, 17)),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    sigmas=(0.026, 0.079, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087, 0.089, 0.107, 0.087, 0.089, 0.025, 0.025, 0.035, 0.035),
    torso=(2, 11),
    root=1,
)
SKELETONS = {"stick14": STICK14, "coco17": COCO17, "coco18": COCO18}


def get_skeleton(name):
    if name not in SKELETONS:
        raise ValueError(f"Unknown skeleton {name!r}. Expected one of {sorted(SKELETONS)}.")
    return SKELETONS[name]


def skeleton_of(model):
    return get_skeleton(getattr(model, "skeleton", "stick14"))


# --- targets, in the graph (keras.ops: XLA, any backend) ------------------------------------------


def _cell_centres(size, stride):
    from keras import ops

    return (ops.cast(ops.arange(size), "float32") + 0.5) * float(stride)


def render_heatmaps(keypoints, height, width, stride, sigma):
    """Gaussian belief maps [N, h, w, K] (h = height // stride) of keypoints [N, P, K, 3] pixels:
    exp(−‖c − p‖² / 2σ²) at each cell centre c, σ in pixels, the maximum over people (CPM, OpenPose),
    zero for invisible joints."""
    from keras import ops

    keypoints = ops.cast(keypoints, "float32")
    ys, xs = _cell_centres(height // stride, stride), _cell_centres(width // stride, stride)
    dx = xs[None, None, None, :] - keypoints[..., 0:1]  # [N, P, K, w]
    dy = ys[None, None, None, :] - keypoints[..., 1:2]  # [N, P, K, h]
    distance = dy[..., :, None] ** 2 + dx[..., None, :] ** 2  # [N, P, K, h, w]
    maps = ops.exp(-distance / (2.0 * sigma**2)) * keypoints[..., 2][..., None, None]
    return ops.transpose(ops.max(maps, axis=1), (0, 2, 3, 1))


def render_pafs(keypoints, limbs, height, width, stride, limb_width):
    """Part affinity fields [N, h, w, 2C] (x, y per limb) of keypoints [N, P, K, 3] (Cao et al.
    2017 eq. 8-9): the unit vector from parent to child on cells within `limb_width` pixels of the
    segment, averaged over the people whose limb covers the cell."""
    from keras import ops

    keypoints = ops.cast(keypoints, "float32")
    parents = ops.take(keypoints, [a for a, _ in limbs], axis=2)  # [N, P, C, 3]
    children = ops.take(keypoints, [b for _, b in limbs], axis=2)
    delta = children[..., :2] - parents[..., :2]
    length_ = ops.sqrt(ops.sum(delta**2, axis=-1) + 1e-12)  # [N, P, C]
    unit = delta / ops.maximum(length_, 1e-6)[..., None]
    valid = parents[..., 2] * children[..., 2] * ops.cast(length_ > 1e-3, "float32")
    ys, xs = _cell_centres(height // stride, stride), _cell_centres(width // stride, stride)
    rel_x = (xs[None, None, None, :] - parents[..., 0:1])[..., None, :]  # [N, P, C, 1, w]
    rel_y = (ys[None, None, None, :] - parents[..., 1:2])[..., :, None]  # [N, P, C, h, 1]
    ux, uy = unit[..., 0][..., None, None], unit[..., 1][..., None, None]
    along = rel_x * ux + rel_y * uy
    across = ops.abs(rel_x * uy - rel_y * ux)
    on_limb = (along >= 0.0) & (along <= length_[..., None, None]) & (across <= limb_width)
    mask = ops.cast(on_limb, "float32") * valid[..., None, None]  # [N, P, C, h, w]
    count = ops.maximum(ops.sum(mask, axis=1), 1.0)  # [N, C, h, w]
    field_x = ops.sum(mask * ux, axis=1) / count
    field_y = ops.sum(mask * uy, axis=1) / count
    field = ops.stack([field_x, field_y], axis=-1)  # [N, C, h, w, 2]
    field = ops.transpose(field, (0, 2, 3, 1, 4))
    return ops.reshape(field, (-1, height // stride, width // stride, 2 * len(limbs)))


def decode_heatmaps(heatmaps, stride):
    """Keypoints [N, 1, K, 3] (x, y, peak value) from belief maps [N, h, w, K], in the graph: the
    arg-max cell, refined per axis by the vertex of the parabola through the log values of the cell
    and its two neighbours (exact for a Gaussian peak), in input pixels."""
    from keras import ops

    h, w, k = int(heatmaps.shape[1]), int(heatmaps.shape[2]), int(heatmaps.shape[3])
    flat = ops.reshape(heatmaps, (-1, h * w, k))
    peak = ops.max(flat, axis=1)  # [N, K]
    is_max = ops.cast(ops.greater_equal(flat, peak[:, None, :]), "int32")
    index = ops.cast(ops.argmax(is_max, axis=1), "float32")  # first maximum [N, K]
    row = ops.floor(index / float(w))
    col = index - row * float(w)
    grid_y = ops.cast(ops.arange(h), "float32")[None, :, None, None]
    grid_x = ops.cast(ops.arange(w), "float32")[None, None, :, None]

    def log_value(dr, dc):  # log of the map at (row + dr, col + dc), by a masked sum (exportable)
        at = ops.cast(ops.logical_and(ops.equal(grid_y, row[:, None, None, :] + dr), ops.equal(grid_x, col[:, None, None, :] + dc)), "float32")
        return ops.log(ops.maximum(ops.sum(heatmaps * at, axis=(1, 2)), 1e-6))

    centre = ops.log(ops.maximum(peak, 1e-6))
    cx = col + _parabola_offset(log_value(0.0, -1.0), centre, log_value(0.0, 1.0))
    cy = row + _parabola_offset(log_value(-1.0, 0.0), centre, log_value(1.0, 0.0))
    keypoints = ops.stack([(cx + 0.5) * float(stride), (cy + 0.5) * float(stride), peak], axis=-1)
    return keypoints[:, None]


def _parabola_offset(before, centre, after):
    """Sub-cell offset of the vertex of the parabola through three log values (exact for a
    Gaussian peak), clipped to half a cell; 0 where the three do not bend downwards."""
    from keras import ops

    bend = before - 2.0 * centre + after
    offset = ops.where(bend < -1e-6, 0.5 * (before - after) / ops.minimum(bend, -1e-6), 0.0)
    return ops.clip(offset, -0.5, 0.5)


def bilinear_sample(images, xs, ys):
    """Bilinear samples of images [N, H, W, C] at pixel positions xs, ys [N, M] (pixel centres at
    i + 0.5), zero outside: [N, M, C]. A gather on the flattened image (exports to ONNX/TFLite);
    the spatial transformer's sampler (Jaderberg et al. 2015) and DeepPose's joint crops."""
    from keras import ops

    height, width, channels = int(images.shape[1]), int(images.shape[2]), int(images.shape[3])
    flat = ops.reshape(images, (-1, height * width, channels))
    x, y = xs - 0.5, ys - 0.5
    x0, y0 = ops.floor(x), ops.floor(y)
    result = 0.0
    for dy in (0.0, 1.0):
        for dx in (0.0, 1.0):
            cx, cy = x0 + dx, y0 + dy
            weight = (1.0 - ops.abs(x - cx)) * (1.0 - ops.abs(y - cy))
            inside = (cx >= 0) & (cx <= width - 1) & (cy >= 0) & (cy <= height - 1)
            index = ops.cast(ops.clip(cy, 0, height - 1) * width + ops.clip(cx, 0, width - 1), "int32")
            values = ops.take_along_axis(flat, ops.repeat(index[..., None], channels, axis=-1), axis=1)
            result = result + values * (weight * ops.cast(inside, "float32"))[..., None]
    return result


def affine_crop(images, centres, sizes, out_size, theta=None):
    """Crops [N·M, s, s, C] of images [N, H, W, C] around centres [N, M, 2] with side `sizes` [N, M]
    pixels, resampled to s = out_size (the STN grid sampler; `theta` [N, M, 2, 3] an optional
    residual affine in crop-normalised coordinates, identity when None). Returns the crops and the
    affine A [N, M, 2, 3] mapping crop pixels to image pixels (its inverse is the SDTN)."""
    from keras import ops

    m = int(centres.shape[1])
    grid = (ops.cast(ops.arange(out_size), "float32") + 0.5) / out_size - 0.5  # [-0.5, 0.5)
    gy, gx = ops.meshgrid(grid, grid, indexing="ij")
    base = ops.stack([ops.reshape(gx, (-1,)), ops.reshape(gy, (-1,)), ops.ones((out_size * out_size,))], axis=0)  # [3, s²]
    scale = sizes[..., None, None]
    if theta is None:
        linear = ops.eye(2)[None, None] * scale
        offset = centres
    else:
        linear = theta[..., :2] * scale
        offset = centres + theta[..., 2] * sizes[..., None]
    affine = ops.concatenate([linear, offset[..., None]], axis=-1)  # [N, M, 2, 3] on normalised crop coords
    points = ops.einsum("nmij,jp->nmip", affine, base)  # [N, M, 2, s²]
    xs = ops.reshape(points[:, :, 0], (-1, m * out_size * out_size))
    ys = ops.reshape(points[:, :, 1], (-1, m * out_size * out_size))
    samples = bilinear_sample(images, xs, ys)
    crops = ops.reshape(samples, (-1, out_size, out_size, int(images.shape[-1])))
    return crops, affine


def crop_to_image(points, affine, out_size):
    """Crop pixels [N, M, K, 2] back to image pixels through `affine` (SDTN)."""
    from keras import ops

    normalised = points / float(out_size) - 0.5
    return ops.einsum("nmij,nmkj->nmki", affine[..., :2], normalised) + affine[:, :, None, :, 2]


def image_to_crop(points, affine, out_size):
    """Image pixels [N, M, K, 2] into the crop frame of `affine` (the inverse of `crop_to_image`)."""
    from keras import ops

    linear, offset = affine[..., :2], affine[..., 2]
    a, b, c, d = linear[..., 0, 0], linear[..., 0, 1], linear[..., 1, 0], linear[..., 1, 1]
    det = a * d - b * c
    inverse = ops.stack([ops.stack([d, -b], axis=-1), ops.stack([-c, a], axis=-1)], axis=-2) / det[..., None, None]
    normalised = ops.einsum("nmij,nmkj->nmki", inverse, points - offset[:, :, None, :])
    return (normalised + 0.5) * float(out_size)


def heatmap_mse(target, predicted):
    """Σ_p ‖b^p − b_*^p‖² per example, averaged over the batch (CPM's per-stage loss, per cell mean)."""
    from keras import ops

    return ops.mean(ops.sum((predicted - target) ** 2, axis=-1))


# --- decoding many people (numpy / scipy) ------------------------------------------------------


def find_peaks(heatmap, threshold=0.1, stride=1):
    """Local maxima (3×3) above `threshold` of one map [h, w]: array [M, 3] (x, y, value) in input
    pixels, refined by a parabola through the log values of each axis' neighbours."""
    from scipy import ndimage

    heatmap = np.asarray(heatmap, np.float64)
    maxima = (heatmap == ndimage.maximum_filter(heatmap, size=3, mode="constant")) & (heatmap > threshold)
    peaks = []
    h, w = heatmap.shape
    logs = np.log(np.maximum(np.pad(heatmap, 1), 1e-6))

    def offset(before, centre, after):
        bend = before - 2.0 * centre + after
        return float(np.clip(0.5 * (before - after) / bend, -0.5, 0.5)) if bend < -1e-6 else 0.0

    for r, c in zip(*np.nonzero(maxima)):
        centre = logs[r + 1, c + 1]
        cx = c + offset(logs[r + 1, c], centre, logs[r + 1, c + 2])
        cy = r + offset(logs[r, c + 1], centre, logs[r + 2, c + 1])
        peaks.append(((cx + 0.5) * stride, (cy + 0.5) * stride, heatmap[r, c]))
    return np.asarray(peaks, np.float64).reshape(-1, 3)


def paf_line_integral(paf_x, paf_y, start, end, stride=1, samples=10):
    """OpenPose's association score of a candidate limb: the mean over `samples` points of the
    segment of the field (nearest cell) dotted with the segment's unit vector (Cao et al. eq. 10,
    the integral approximated by sampling), and the fraction of samples above 0.05."""
    start, end = np.asarray(start, np.float64)[:2], np.asarray(end, np.float64)[:2]
    delta = end - start
    norm = float(np.hypot(*delta))
    if norm < 1e-6:
        return 0.0, 0.0
    unit = delta / norm
    h, w = paf_x.shape
    t = np.linspace(0.0, 1.0, samples)
    points = start[None] + t[:, None] * delta[None]
    cols = np.clip((points[:, 0] / stride).astype(int), 0, w - 1)
    rows = np.clip((points[:, 1] / stride).astype(int), 0, h - 1)
    values = paf_x[rows, cols] * unit[0] + paf_y[rows, cols] * unit[1]
    return float(values.mean()), float(np.mean(values > 0.05))


def greedy_match(weights, min_weight=0.0):
    """OpenPose's bipartite matching: sort candidate edges by weight and take the heaviest whose two
    endpoints are both unused. weights [A, B]; returns [(a, b, weight)]."""
    weights = np.asarray(weights, np.float64)
    order = np.dstack(np.unravel_index(np.argsort(-weights, axis=None), weights.shape))[0] if weights.size else []
    used_a, used_b, matches = set(), set(), []
    for a, b in order:
        if weights[a, b] <= min_weight:
            break
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        matches.append((int(a), int(b), float(weights[a, b])))
    return matches


def hungarian_match(weights, min_weight=0.0):
    """The optimal assignment (scipy.optimize.linear_sum_assignment) of the same bipartite graph."""
    from scipy.optimize import linear_sum_assignment

    weights = np.asarray(weights, np.float64)
    if not weights.size:
        return []
    rows, cols = linear_sum_assignment(-weights)
    return [(int(a), int(b), float(weights[a, b])) for a, b in zip(rows, cols) if weights[a, b] > min_weight]


def paf_limb_weights(pafs, stride, samples=10, min_fraction=0.6):
    """`fn(limb index, candidates_a [A, 3], candidates_b [B, 3]) -> weights [A, B]`: the PAF line
    integral of each candidate limb, 0 where fewer than `min_fraction` of its samples agree."""

    def weights(c, cand_a, cand_b):
        result = np.zeros((len(cand_a), len(cand_b)))
        for i, pa in enumerate(cand_a):
            for j, pb in enumerate(cand_b):
                score, fraction = paf_line_integral(pafs[..., 2 * c], pafs[..., 2 * c + 1], pa, pb, stride, samples)
                result[i, j] = score if fraction >= min_fraction else 0.0
        return result

    return weights


def assemble_people(peaks, skeleton, limb_weights, min_score=0.05, matcher="greedy"):
    """People [P, K, 3] (x, y, score; 0 = missing) from per-joint peaks (list of [M, 3]): each
    limb's bipartite graph, weighted by `limb_weights` (the PAF line integral for OpenPose), is
    matched, then fragments that share an endpoint are merged greedily (Cao et al. §2.4)."""
    match = greedy_match if matcher == "greedy" else hungarian_match
    k = len(skeleton.joints)
    people = []  # each: {"joints": [K] candidate index or -1, "score"}
    for c, (a, b) in enumerate(skeleton.limbs):
        cand_a, cand_b = peaks[a], peaks[b]
        if not len(cand_a) or not len(cand_b):
            continue
        for i, j, weight in match(limb_weights(c, cand_a, cand_b), min_score):
            owners = [p for p in people if p["joints"][a] == i or p["joints"][b] == j]
            if not owners:
                joints = -np.ones(k, int)
                joints[a], joints[b] = i, j
                people.append({"joints": joints, "score": weight})
                continue
            first = owners[0]
            if (first["joints"][a] not in (-1, i)) or (first["joints"][b] not in (-1, j)):
                continue  # the fragment already has another candidate for this joint
            first["joints"][a], first["joints"][b] = i, j
            first["score"] += weight
            for other in owners[1:]:  # two fragments joined by this limb: merge when disjoint
                if np.all((first["joints"] < 0) | (other["joints"] < 0) | (first["joints"] == other["joints"])):
                    first["joints"] = np.maximum(first["joints"], other["joints"])
                    first["score"] += other["score"]
                    people.remove(other)
    result = np.zeros((len(people), k, 3))
    for p, person in enumerate(people):
        for joint, index in enumerate(person["joints"]):
            if index >= 0:
                result[p, joint] = peaks[joint][index]
    return result


def solve_partition_ilp(alpha, beta, time_limit=10.0):
    """DeepCut's subset partition and labelling ILP (Pishchulin et al. 2016, eq. 1-7), solved with
    scipy.optimize.milp (HiGHS branch-and-cut).

    alpha [D, C]: unary costs α_dc of labelling candidate d as joint c (np.inf = not allowed);
    beta: {(d, d', c, c'): cost β} pairwise costs of d (class c) and d' (class c') being one person.
    Variables x_dc, y_dd' (d < d') and z_dd'cc' = x_dc·x_d'c'·y_dd' (linearised). Constraints:
    uniqueness Σ_c x_dc ≤ 1; consistency y_dd' ≤ Σ_c x_dc and y_dd' ≤ Σ_c x_d'c; transitivity
    y_dd' + y_d'd'' − 1 ≤ y_dd'' (all three rotations). Minimises Σ α·x + Σ β·z.
    Returns (labels [D], -1 = suppressed; clusters [D], -1 = suppressed)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    alpha = np.asarray(alpha, np.float64)
    d_count, c_count = alpha.shape
    x_index = {(d, c): i for i, (d, c) in enumerate((d, c) for d in range(d_count) for c in range(c_count) if np.isfinite(alpha[d, c]))}
    y_index = {}
    for d in range(d_count):
        for e in range(d + 1, d_count):
            y_index[(d, e)] = len(x_index) + len(y_index)
    terms = [(key, cost) for key, cost in beta.items() if (key[0], key[2]) in x_index and (key[1], key[3]) in x_index and key[0] != key[1]]
    z_start = len(x_index) + len(y_index)
    n = z_start + len(terms)
    cost = np.zeros(n)
    for (d, c), i in x_index.items():
        cost[i] = alpha[d, c]
    rows, lower, upper = [], [], []

    def pair(d, e):
        return y_index[(min(d, e), max(d, e))]

    def add(coefficients, low, high):
        rows.append(coefficients)
        lower.append(low)
        upper.append(high)

    for d in range(d_count):  # uniqueness
        labels = [i for (dd, _), i in x_index.items() if dd == d]
        if labels:
            add({i: 1.0 for i in labels}, -np.inf, 1.0)
    for (d, e), yi in y_index.items():  # consistency
        for node in (d, e):
            add({yi: 1.0, **{i: -1.0 for (dd, _), i in x_index.items() if dd == node}}, -np.inf, 0.0)
    for d in range(d_count):  # transitivity
        for e in range(d + 1, d_count):
            for f in range(e + 1, d_count):
                de, ef, df = pair(d, e), pair(e, f), pair(d, f)
                add({de: 1.0, ef: 1.0, df: -1.0}, -np.inf, 1.0)
                add({de: 1.0, df: 1.0, ef: -1.0}, -np.inf, 1.0)
                add({ef: 1.0, df: 1.0, de: -1.0}, -np.inf, 1.0)
    for offset, ((d, e, c, f), value) in enumerate(terms):  # z = x·x·y
        zi = z_start + offset
        cost[zi] = value
        xi, xj, yi = x_index[(d, c)], x_index[(e, f)], pair(d, e)
        if value < 0:  # attractive: z may only be 1 when all three are
            for other in (xi, xj, yi):
                add({zi: 1.0, other: -1.0}, -np.inf, 0.0)
        else:  # repulsive: z must be 1 when all three are
            add({xi: 1.0, xj: 1.0, yi: 1.0, zi: -1.0}, -np.inf, 2.0)
    matrix = lil_matrix((max(len(rows), 1), n))
    for r, coefficients in enumerate(rows):
        for column, value in coefficients.items():
            matrix[r, column] += value
    constraints = [LinearConstraint(matrix.tocsr(), lower or [-np.inf], upper or [np.inf])]
    result = milp(cost, constraints=constraints, integrality=np.ones(n), bounds=Bounds(0, 1), options={"time_limit": time_limit})
    if result.x is None:
        raise ValueError(f"The DeepCut ILP found no solution: {result.message}")
    solution = np.round(result.x).astype(int)
    labels = -np.ones(d_count, int)
    for (d, c), i in x_index.items():
        if solution[i]:
            labels[d] = c
    clusters = -np.ones(d_count, int)
    for d in range(d_count):
        if labels[d] < 0 or clusters[d] >= 0:
            continue
        clusters[d] = d
        for e in range(d_count):
            if e != d and labels[e] >= 0 and solution[pair(d, e)]:
                clusters[e] = d
    return labels, clusters


def pose_similarity_nms(poses, scores, sigma=None, box_sizes=None, keep_threshold=0.5, lam=1.0, sigma1=0.3, sigma2=0.1):
    """AlphaPose's parametric pose NMS (Fang et al. 2017 §3.3): take the most confident pose as the
    reference, eliminate every pose whose distance d(P_i, P_ref) = K_sim + λ·H_sim ≥ η to it, repeat.
    K_sim = Σ_n tanh(c_i^n/σ1)·tanh(c_ref^n/σ1) over joints within the reference box (soft matching
    of confident joints), H_sim = Σ_n exp(−‖k_i^n − k_ref^n‖²/σ2) with distances in units of the
    reference's box size. poses [P, K, 3] (x, y, confidence); returns the kept indices, best first."""
    poses = np.asarray(poses, np.float64)
    scores = np.asarray(scores, np.float64)
    k = poses.shape[1] if poses.ndim == 3 else 0
    order = list(np.argsort(-scores))
    keep = []
    while order:
        ref = order.pop(0)
        keep.append(int(ref))
        visible = poses[ref, :, 2] > 0
        size = float(box_sizes[ref]) if box_sizes is not None else max(*_extent(poses[ref, visible, :2]), 1.0)
        remaining = []
        for other in order:
            distance = np.hypot(*(poses[other, :, :2] - poses[ref, :, :2]).T) / size
            near = distance <= 0.1 * 5  # joints inside the reference's box region (B(k_ref) of the paper)
            k_sim = np.sum(near * np.tanh(poses[other, :, 2] / sigma1) * np.tanh(poses[ref, :, 2] / sigma1))
            h_sim = np.sum(np.exp(-(distance**2) / sigma2))
            if (k_sim + lam * h_sim) / max(k, 1) < keep_threshold:
                remaining.append(other)
        order = remaining
    return keep


def _extent(points):
    """(width, height) of points [M, 2]; (1, 1) for none."""
    return tuple(np.ptp(points, axis=0)) if len(points) else (1.0, 1.0)


# --- scores --------------------------------------------------------------------------------------


def pck(y_true, predicted, skeleton, alpha=0.2):
    """PCK@α: the fraction of visible ground-truth joints predicted within α × the torso diameter
    (the distance of `skeleton.torso`'s two joints; the person's box diagonal when that is not
    visible). y_true [N, 1, K, 3], predicted [N, 1, K, ≥2]."""
    y_true, predicted = np.asarray(y_true, np.float64)[:, 0], np.asarray(predicted, np.float64)[:, 0]
    a, b = skeleton.torso
    torso = np.hypot(*(y_true[:, a, :2] - y_true[:, b, :2]).T)
    visible = y_true[..., 2] > 0
    span = np.array([np.hypot(*_extent(t[v, :2])) for t, v in zip(y_true, visible)])
    reference = np.where((y_true[:, a, 2] > 0) & (y_true[:, b, 2] > 0) & (torso > 1e-6), torso, span)
    error = np.hypot(*(predicted[..., :2] - y_true[..., :2]).transpose(2, 0, 1))
    correct = (error <= alpha * reference[:, None]) & visible
    per_joint = correct.sum(0) / np.maximum(visible.sum(0), 1)
    return float(correct.sum() / max(visible.sum(), 1)), {name: float(v) for name, v in zip(skeleton.joints, per_joint)}


def oks_ap(y_true, people, skeleton):
    """COCO keypoint AP (OKS with the skeleton's sigmas) of predicted people against y_true
    [N, P, K, 3] (faster-coco-eval). people: list per image of [M, K, 3] (x, y, joint score); a
    person's score is its mean joint score. Area = the ground-truth person's keypoint box area."""
    from faster_coco_eval import COCO, COCOeval_faster

    y_true = np.asarray(y_true, np.float64)
    k = len(skeleton.joints)
    images, annotations, results = [], [], []
    for index in range(len(y_true)):
        images.append({"id": index + 1, "width": 0, "height": 0})
        for person in y_true[index]:
            visible = person[:, 2] > 0
            if not visible.any():
                continue
            x0, y0 = person[visible, :2].min(0)
            x1, y1 = person[visible, :2].max(0)
            w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
            keypoints = np.concatenate([person[:, :2], np.where(visible, 2, 0)[:, None]], axis=1).reshape(-1)
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": 1, "bbox": [float(x0), float(y0), float(w), float(h)],
                                "area": float(w * h), "iscrowd": 0, "num_keypoints": int(visible.sum()), "keypoints": keypoints.tolist()})
        for person in people[index] if index < len(people) else []:
            person = np.asarray(person, np.float64)
            found = person[:, 2] > 0
            if not found.any():
                continue
            keypoints = np.concatenate([person[:, :2], np.ones((k, 1))], axis=1).reshape(-1)
            x0, y0 = person[found, :2].min(0)
            x1, y1 = person[found, :2].max(0)
            results.append({"image_id": index + 1, "category_id": 1, "keypoints": keypoints.tolist(), "score": float(person[found, 2].mean() * found.mean()),
                            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]})
    report = {"num_people": len(annotations), "num_predicted_people": len(results)}
    if not annotations or not results:
        return {**report, "oks_ap": 0.0, "oks_ap50": 0.0, "oks_ap75": 0.0}
    ground_truth = COCO({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person", "keypoints": list(skeleton.joints)}]})
    evaluator = COCOeval_faster(ground_truth, ground_truth.loadRes(results), iouType="keypoints", kpt_oks_sigmas=list(skeleton.sigmas),
                                print_function=lambda *a, **k: None)
    evaluator.params.areaRng = [[0, 1e10]] * len(evaluator.params.areaRng)  # small synthetic people: no area bands
    evaluator.run()
    stats = [max(0.0, float(v)) for v in evaluator.stats[:3]]
    return {**report, "oks_ap": stats[0], "oks_ap50": stats[1], "oks_ap75": stats[2]}


# --- the task --------------------------------------------------------------------------------


def images_of(x):
    return x["images"] if isinstance(x, dict) else x


class Pose(Task):
    name = "pose"
    element = "(x float32 [N, H, W, 3] pixels (or {images, boxes [N, P, 4]}), y float32 [N, P, K, 3] keypoints (x, y, visible) pixels)"
    default_dataset = "stick_figures"
    monitor = ("val_loss", "min")
    objective = ("score", "max")
    export_outputs = "keypoints [N, P, K, 3] (x, y, score) pixels, or heat maps/PAFs decoded by predict for bottom-up models"
    augmentation = "own"  # keypoints move with the image and left/right swap (`make_pose_augmentation`)
    check_learning_rate = 3e-3  # belief maps are mostly zero: 8 steps at 1e-3 barely move them
    augmentation_presets = {
        "none": {},
        "light": {"flip": "horizontal", "translate": 0.05},
        "standard": {"flip": "horizontal", "translate": 0.08, "rotate": 0.05, "zoom": 0.1, "brightness": 0.1},
    }

    # --- data ---------------------------------------------------------------------------------

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle:
            dataset = dataset.shuffle(min(length(x), 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augment is not None:
            dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """The image size and the skeleton (by its joint count) of the data."""
        overrides = {}
        if "image_size" in accepted:
            overrides["image_size"] = int(images_of(x_train).shape[1])
        if "skeleton" in accepted and y_train is not None:
            k = int(np.asarray(y_train).shape[2])
            overrides["skeleton"] = next((name for name, s in SKELETONS.items() if len(s.joints) == k), "stick14")
        return overrides

    def fit_inputs(self, model, x, y=None, **_):
        """The entries of a dict `x` that the model takes (a bottom-up model ignores the boxes)."""
        names = [t.name.split(":")[0] for t in model.inputs]
        if isinstance(x, dict):
            return x[names[0]] if len(names) == 1 else {n: x[n] for n in names}
        return x

    def build_augmentation(self, config, dataset, seed):
        """Image, keypoints and boxes move together through one affine map per example
        (`pipelines.augment.build_paired_augmentation`); a horizontal flip swaps the skeleton's
        left and right joints. A dict `x` keeps its boxes moved with the image."""
        if config in (None, False, "none", {}):
            return None
        if config is True:
            config = "standard"
        if isinstance(config, str):
            if config not in self.augmentation_presets:
                raise ValueError(f"Unknown pose augmentation preset {config!r}. Expected one of {sorted(self.augmentation_presets)} or a dict.")
            config = dict(self.augmentation_presets[config])
        if not isinstance(config, dict) or set(config) - {"flip", "translate", "rotate", "zoom", "brightness"}:
            raise ValueError(f"Pose augmentation takes keys flip, translate, rotate, zoom, brightness. Received: {config!r}")
        # The flip pairs come from the data's skeleton (K joints), read from the targets' shape.
        k = int(np.asarray(dataset.y).shape[2]) if dataset is not None else len(STICK14.joints)
        skeleton = next((s for s in SKELETONS.values() if len(s.joints) == k), STICK14)
        value_range = tuple(getattr(dataset, "value_range", None) or (0.0, 255.0))
        return make_pose_augmentation(config, skeleton, value_range, int(seed or 0))

    # --- scores -------------------------------------------------------------------------------

    def predict(self, model, x, batch_size=64):
        """The endpoint's outputs; for a multi-person model without in-graph decoding, plus
        "people" [N, P_max, K, 3] decoded from its maps (`decode_people`)."""
        endpoint = self.export_endpoint(model)
        parts = []
        n = length(x)
        for start in range(0, n, batch_size):
            chunk = self.fit_inputs(model, take(x, slice(start, start + batch_size)))
            parts.append(as_structure(endpoint(chunk, training=False)))
        outputs = concatenate(parts) if parts else {}
        if outputs and hasattr(model, "postprocess_outputs"):
            outputs = model.postprocess_outputs(outputs)  # e.g. AlphaPose's parametric pose NMS
        if outputs and "keypoints" not in outputs:
            outputs["keypoints"] = self.decode_people(model, outputs)
        return outputs

    def decode_people(self, model, outputs, max_people=8):
        """[N, max_people, K, 3] people from maps: the model's own `decode_maps` (DeepCut's ILP),
        else OpenPose's peaks + PAF matching, padded with zeros."""
        skeleton = skeleton_of(model)
        decode = getattr(model, "decode_maps", None)
        heatmaps = np.asarray(outputs["heatmaps"])
        result = np.zeros((len(heatmaps), max_people, len(skeleton.joints), 3), "float32")
        for i in range(len(heatmaps)):
            if decode is not None:
                people = decode({key: np.asarray(value)[i] for key, value in outputs.items()})
            else:
                peaks = [find_peaks(heatmaps[i, ..., j], model.peak_threshold, model.stride) for j in range(len(skeleton.joints))]
                people = assemble_people(peaks, skeleton, paf_limb_weights(np.asarray(outputs["pafs"])[i], model.stride))
            if len(people):
                order = np.argsort(-np.asarray(people)[..., 2].sum(-1))[:max_people]
                result[i, : len(order)] = np.asarray(people)[order]
        return result

    def score(self, y_true, outputs, class_names=None, skeleton="stick14"):
        skeleton = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
        report = {"num_examples": int(length(outputs))}
        if isinstance(outputs, dict) and "keypoints" not in outputs:
            # Raw maps of a bottom-up endpoint: decoding needs the model (`predict`); an exported
            # artifact's maps are then compared with Keras' by their relative error.
            return report
        y_true = np.asarray(y_true, np.float32)
        keypoints = np.asarray(outputs["keypoints"] if isinstance(outputs, dict) else outputs, np.float32)
        if y_true.shape[2] != len(skeleton.joints):
            skeleton = next((s for s in SKELETONS.values() if len(s.joints) == y_true.shape[2]), skeleton)
        if y_true.shape[1] == 1 and keypoints.shape[1] == 1:
            value, per_joint = pck(y_true, keypoints, skeleton)
            report.update({"pck@0.2": value, "pck_per_joint": per_joint, "score": value})
            return report
        report.update(oks_ap(y_true, list(keypoints), skeleton))
        report["score"] = report["oks_ap50"]
        return report

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        return self.score(y, self.predict(model, x), class_names, skeleton=skeleton_of(model))

    def plots(self, run_dir, model, x, y, report, class_names=None, count=6):
        from pathlib import Path

        x_part = take(x, slice(0, count))
        outputs = self.predict(model, x_part)
        run_dir = Path(run_dir)
        skeleton_overlay(images_of(x_part), np.asarray(y)[:count], outputs["keypoints"], skeleton_of(model), run_dir / "pose_overlay.png")
        if "heatmaps" in outputs:
            heatmap_grid(images_of(x_part)[0], np.asarray(outputs["heatmaps"])[0], skeleton_of(model), run_dir / "heatmaps.png")
        if "pafs" in outputs:
            paf_plot(images_of(x_part)[0], np.asarray(outputs["pafs"])[0], model.stride, run_dir / "pafs.png")

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """Stick figures at the model's input size (the task's own renderer, one or two people)."""
        names = [t.name.split(":")[0] for t in model.inputs]
        shape = tuple(int(d) for d in model.inputs[names.index("images") if "images" in names else 0].shape[1:])
        people = int(getattr(model, "max_people", 2)) if getattr(model, "multi_person", False) else 1
        images, keypoints, boxes = render_stick_figures(n, shape[0], people, skeleton_of(model), seed, min_people=people)
        x = {"images": images, "boxes": boxes} if "boxes" in names else images
        return x, keypoints

    def compile(self, model, optimizer, jit_compile=False, **options):
        # The model's compute_loss renders its targets from the keypoints; no Keras loss object.
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """Named image (and box) inputs → {"keypoints"} where decoding is a graph (regression, CPM's
        single-person peaks, AlphaPose's SDTN), else the final maps {"heatmaps"[, "pafs"]}."""
        import keras

        inputs = {t.name.split(":")[0]: keras.Input(shape=t.shape[1:], name=t.name.split(":")[0], dtype=t.dtype) for t in model.inputs}
        if len(inputs) == 1:
            inputs = next(iter(inputs.values()))
        outputs = model(inputs, training=False)
        if "keypoints" in outputs:
            result = {key: outputs[key] for key in ("keypoints", "heatmaps") if key in outputs}
        elif getattr(model, "multi_person", False):
            result = {key: outputs[key] for key in getattr(model, "endpoint_outputs", ("heatmaps", "pafs"))}
        else:
            stride = model.stride
            decoded = keras.layers.Lambda(lambda maps: decode_heatmaps(maps, stride), name="decode_heatmaps")(outputs["heatmaps"])
            result = {"keypoints": decoded, "heatmaps": outputs["heatmaps"]}
        return keras.Model(inputs, result, name=f"{model.name}_endpoint")

    def export_samples(self, endpoint, x, y):
        if isinstance(x, dict):
            names = {t.name.split(":")[0] for t in endpoint.inputs}
            x = {key: value for key, value in x.items() if key in names}
            if len(x) == 1:
                x = next(iter(x.values()))
        return x, y

    def quantized_reference(self, reference_outputs):
        """Keras' keypoints as the ground truth of a quantised artifact (visible where scored > 0)."""
        if "keypoints" not in reference_outputs:
            return reference_outputs
        keypoints = np.array(reference_outputs["keypoints"], np.float32)
        keypoints[..., 2] = (keypoints[..., 2] > 0).astype(np.float32)
        return keypoints

    def compare_outputs(self, name, reference, actual, atol, rtol):
        if name == "keypoints":
            # Coordinates are pixels: an arg-max tie may move a joint by a cell under another runtime.
            reference, actual = np.asarray(reference), np.asarray(actual)
            if reference.shape != actual.shape:
                return CheckOutcome(False, f"{name}: shape {actual.shape} differs from Keras {reference.shape}")
            close = np.abs(actual - reference) <= atol + rtol * np.abs(reference) + 0.5
            agree = float(np.mean(close))
            return CheckOutcome(agree >= 0.95, f"{name}: {agree:.2%} of coordinates within 0.5 px + tolerance")
        return super().compare_outputs(name, reference, actual, atol, rtol)


# --- augmentation ------------------------------------------------------------------------------


def make_pose_augmentation(config, skeleton, value_range=(0.0, 255.0), seed=0):
    """`fn(x, y) -> (x, y)` on batches (tf.data): one random similarity per example (horizontal
    flip, rotation `rotate` × 360°, scale 1 ± `zoom`, shift ± `translate` × size) resamples the
    image with `keras.ops.image.affine_transform` and moves the keypoints (and the person boxes of a
    dict `x`) with it; a flip swaps the skeleton's left and right joints; joints pushed out of the
    image become invisible. `brightness` scales the pixel values only."""
    import tensorflow as tf
    from keras import ops

    swap = list(range(len(skeleton.joints)))
    for left, right in skeleton.flip_pairs:
        swap[left], swap[right] = right, left
    flip = config.get("flip") in (True, "horizontal")
    rotate, zoom, translate = float(config.get("rotate", 0.0)), float(config.get("zoom", 0.0)), float(config.get("translate", 0.0))
    brightness = float(config.get("brightness", 0.0))
    generator = tf.random.Generator.from_seed(seed)
    low, high = value_range

    def augment(x, y):
        images = tf.cast(x["images"] if isinstance(x, dict) else x, tf.float32)
        batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
        flipped = generator.uniform([batch]) < 0.5 if flip else tf.zeros([batch], tf.bool)
        angle = generator.uniform([batch], -1.0, 1.0) * rotate * 2.0 * np.pi
        scale = 1.0 + generator.uniform([batch], -1.0, 1.0) * zoom
        shift = generator.uniform([batch, 2], -1.0, 1.0) * translate * tf.constant([width, height], tf.float32)
        sign = tf.where(flipped, -1.0, 1.0)
        cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
        # p_out = M p_in + t in continuous pixels (centres at i + 0.5), M = s·R·F about the centre.
        m = tf.stack([tf.stack([cos * sign, -sin], -1), tf.stack([sin * sign, cos], -1)], -2)  # [B, 2, 2]
        centre = tf.constant([width / 2.0, height / 2.0], tf.float32)
        t = centre[None] - tf.einsum("bij,j->bi", m, centre) + shift
        inverse = tf.linalg.inv(m)
        # affine_transform maps output pixel indices to input indices: i_in = M⁻¹ i_out + M⁻¹(0.5 − t) − 0.5.
        offset = tf.einsum("bij,bj->bi", inverse, 0.5 - t) - 0.5
        transform = tf.concat([inverse[:, 0, :], offset[:, 0:1], inverse[:, 1, :], offset[:, 1:2], tf.zeros([batch, 2])], axis=-1)
        moved_images = ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=low)
        if brightness:
            moved_images = moved_images * (1.0 + generator.uniform([batch, 1, 1, 1], -brightness, brightness))
        moved_images = tf.clip_by_value(moved_images, low, high)
        keypoints = tf.cast(y, tf.float32)
        keypoints = tf.where(flipped[:, None, None, None], tf.gather(keypoints, swap, axis=2), keypoints)
        points = tf.einsum("bij,bpkj->bpki", m, keypoints[..., :2]) + t[:, None, None, :]
        inside = (points[..., 0] >= 0) & (points[..., 0] < width) & (points[..., 1] >= 0) & (points[..., 1] < height)
        visible = tf.where(inside, keypoints[..., 2], 0.0)
        moved_keypoints = tf.concat([points, visible[..., None]], axis=-1)
        # Padding people (all zero) stay all zero.
        present = tf.reduce_any(tf.cast(y, tf.float32)[..., 2] > 0, axis=-1)[..., None, None]
        moved_keypoints = tf.where(present, moved_keypoints, 0.0)
        if isinstance(x, dict):
            moved = dict(x)
            moved["images"] = tf.cast(moved_images, x["images"].dtype)
            if "boxes" in x:
                boxes = tf.cast(x["boxes"], tf.float32)
                corners = tf.stack([boxes[..., 0:2], tf.stack([boxes[..., 2], boxes[..., 1]], -1), boxes[..., 2:4],
                                    tf.stack([boxes[..., 0], boxes[..., 3]], -1)], axis=2)  # [B, P, 4, 2]
                corners = tf.einsum("bij,bpkj->bpki", m, corners) + t[:, None, None, :]
                enclosing = tf.concat([tf.reduce_min(corners, 2), tf.reduce_max(corners, 2)], -1)
                enclosing = tf.clip_by_value(enclosing, 0.0, float(max(width, height)))
                moved["boxes"] = tf.where(boxes[..., :1] >= 0, enclosing, -1.0)
            return moved, moved_keypoints
        return tf.cast(moved_images, images.dtype), moved_keypoints

    return augment


# --- data rendering (also the sweep's example batch) --------------------------------------------


def render_stick_figures(n, size, people, skeleton, seed, min_people=1, limb_width=None):
    """Images float32 [n, size, size, 3] 0..255, keypoints [n, people, K, 3] and person boxes
    [n, people, 4] (-1 rows pad): random joint angles on a tree of fixed limb proportions, drawn
    as thick coloured limbs (a colour per body side, so that left and right can be told apart) on
    a noisy background. Several people are placed side by side without overlap."""
    rng = np.random.default_rng(seed)
    k = len(skeleton.joints)
    images = np.zeros((n, size, size, 3), np.float32)
    keypoints = np.zeros((n, people, k, 3), np.float32)
    boxes = -np.ones((n, people, 4), np.float32)
    for i in range(n):
        canvas = rng.uniform(0, 40, size=(size, size, 3)).astype(np.float32) + rng.uniform(0, 40, size=(1, 1, 3))
        count = int(rng.integers(min_people, people + 1))
        slots = np.arange(count)
        for p in slots:
            width = size / count
            scale = width / 2.4 if count > 1 else size / 3.2
            scale = min(scale, size / 3.2)
            centre = np.array([width * (p + 0.5) + rng.uniform(-0.08, 0.08) * width, size * 0.5 + rng.uniform(-0.06, 0.06) * size])
            joints = _pose(skeleton, rng, scale) + centre
            keypoints[i, p, :, :2] = joints
            keypoints[i, p, :, 2] = 1.0
            margin = 0.08 * scale
            boxes[i, p] = [joints[:, 0].min() - margin, joints[:, 1].min() - margin, joints[:, 0].max() + margin, joints[:, 1].max() + margin]
            _draw_person(canvas, joints, skeleton, limb_width or max(1.0, size / (32.0 if count < 3 else 48.0)))
        images[i] = np.clip(canvas, 0, 255)
    inside = (keypoints[..., 0] >= 0) & (keypoints[..., 0] < size) & (keypoints[..., 1] >= 0) & (keypoints[..., 1] < size)
    keypoints[..., 2] *= inside
    boxes = np.where(boxes[..., :1] >= -0.5, np.clip(boxes, 0, size), -1.0).astype(np.float32)
    return images, keypoints, boxes


# Limb lengths in units of the person's scale, per skeleton, and the joint each limb hangs from.
_LENGTHS = {"head": 0.35, "r_shoulder": 0.3, "l_shoulder": 0.3, "r_elbow": 0.4, "l_elbow": 0.4, "r_wrist": 0.35, "l_wrist": 0.35,
            "r_hip": 0.75, "l_hip": 0.75, "r_knee": 0.5, "l_knee": 0.5, "r_ankle": 0.5, "l_ankle": 0.5,
            "nose": 0.35, "l_eye": 0.08, "r_eye": 0.08, "l_ear": 0.1, "r_ear": 0.1}
# Rest direction (degrees, 0 = +x, 90 = down in image coordinates) of each limb, and its spread.
_ANGLES = {"head": (-90, 10), "nose": (-90, 10), "r_shoulder": (180, 8), "l_shoulder": (0, 8), "r_elbow": (120, 45), "l_elbow": (60, 45),
           "r_wrist": (110, 70), "l_wrist": (70, 70), "r_hip": (100, 4), "l_hip": (80, 4), "r_knee": (95, 20), "l_knee": (85, 20),
           "r_ankle": (90, 25), "l_ankle": (90, 25), "l_eye": (-120, 5), "r_eye": (-60, 5), "l_ear": (-170, 5), "r_ear": (-10, 5)}


def _pose(skeleton, rng, scale):
    """Joint positions [K, 2] around the origin (the root), one random angle per limb. Image x
    grows rightwards: the person faces the viewer, so its right side is on the image's left."""
    joints = np.zeros((len(skeleton.joints), 2))
    for parent, child in skeleton.limbs:
        name = skeleton.joints[child]
        mean, spread = _ANGLES[name]
        if skeleton is COCO17 and name in ("l_shoulder", "r_shoulder"):
            mean, spread = (0, 8) if name == "r_shoulder" else (180, 8)
        angle = np.deg2rad(mean + rng.uniform(-spread, spread))
        length_ = _LENGTHS[name] * scale * rng.uniform(0.9, 1.1)
        if skeleton is COCO17 and name in ("l_hip", "r_hip"):
            length_ *= 1.1
        joints[child] = joints[parent] + length_ * np.array([np.cos(angle), np.sin(angle)])
    # Put the figure's centre, not its root, at the origin.
    return joints - (joints.min(0) + joints.max(0)) / 2.0


def _side_colour(name):
    if name.startswith("l_"):
        return np.array([70.0, 150.0, 255.0])
    if name.startswith("r_"):
        return np.array([255.0, 110.0, 60.0])
    return np.array([230.0, 230.0, 120.0])


def _draw_person(canvas, joints, skeleton, width):
    """Thick limbs, then brighter joint dots, painted in order (a later limb covers an earlier
    one), all limbs at once on the person's window of the canvas."""
    size = canvas.shape[0]
    reach = int(np.ceil(width * 1.3)) + 1
    x0, y0 = np.clip(np.floor(joints.min(0)).astype(int) - reach, 0, size)
    x1, y1 = np.clip(np.ceil(joints.max(0)).astype(int) + reach + 1, 0, size)
    gy, gx = np.mgrid[y0:y1, x0:x1] + 0.5
    parents, children = (np.array(side) for side in zip(*skeleton.limbs))
    a, d = joints[parents][:, :, None, None], (joints[children] - joints[parents])[:, :, None, None]
    t = np.clip(((gx - a[:, 0]) * d[:, 0] + (gy - a[:, 1]) * d[:, 1]) / np.maximum((d**2).sum(1), 1e-6), 0.0, 1.0)
    on_limb = np.hypot(gx - (a[:, 0] + t * d[:, 0]), gy - (a[:, 1] + t * d[:, 1])) <= width  # [C, h, w]
    on_joint = np.hypot(gx - joints[:, 0, None, None], gy - joints[:, 1, None, None]) <= width * 1.3  # [K, h, w]
    colours = np.array([_side_colour(skeleton.joints[c]) for c in children] + [np.minimum(_side_colour(n) + 60.0, 255.0) for n in skeleton.joints])
    layers = np.concatenate([on_limb, on_joint])
    last = len(layers) - 1 - np.argmax(layers[::-1], axis=0)
    painted = layers.any(0)
    region = canvas[y0:y1, x0:x1]
    region[painted] = colours[last[painted]]


# --- plots ---------------------------------------------------------------------------------------


def _draw_skeleton(axis, person, skeleton, style):
    for parent, child in skeleton.limbs:
        if person[parent, 2] > 0 and person[child, 2] > 0:
            # imshow puts pixel i's centre at i; keypoints put it at i + 0.5.
            axis.plot([person[parent, 0] - 0.5, person[child, 0] - 0.5], [person[parent, 1] - 0.5, person[child, 1] - 0.5], style, linewidth=1.5)


def skeleton_overlay(images, y_true, predicted, skeleton, path):
    """Pose sticks: ground truth (green) and prediction (red) over each image."""
    from tasks import plots

    images = np.asarray(images, np.float32)
    plt = plots._pyplot()
    n = len(images)
    figure, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.6), squeeze=False)
    for i in range(n):
        axis = axes[0][i]
        axis.imshow(np.clip(images[i] / 255.0, 0, 1))
        for person in np.asarray(y_true)[i]:
            _draw_skeleton(axis, person, skeleton, "g-")
        for person in np.asarray(predicted)[i]:
            _draw_skeleton(axis, person, skeleton, "r-")
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("held-out poses: ground truth (green), prediction (red)")
    plots._save(figure, path)
    return path


def heatmap_grid(image, heatmaps, skeleton, path):
    from tasks import plots

    plt = plots._pyplot()
    k = heatmaps.shape[-1]
    columns = min(k + 1, 8)
    rows = -(-(k + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.8 * columns, 1.9 * rows), squeeze=False)
    for index in range(rows * columns):
        axis = axes[index // columns][index % columns]
        axis.set_axis_off()
        if index == 0:
            axis.imshow(np.clip(np.asarray(image) / 255.0, 0, 1))
            axis.set_title("image", fontsize=7)
        elif index <= k:
            axis.imshow(heatmaps[..., index - 1], cmap="magma")
            axis.set_title(skeleton.joints[index - 1] if index - 1 < len(skeleton.joints) else "background", fontsize=7)
    figure.suptitle("predicted belief maps")
    plots._save(figure, path)
    return path


def paf_plot(image, pafs, stride, path):
    """The part affinity fields of every limb as arrows over the image."""
    from tasks import plots

    plt = plots._pyplot()
    h, w = pafs.shape[:2]
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.imshow(np.clip(np.asarray(image) / 255.0, 0, 1))
    gy, gx = (np.mgrid[0:h, 0:w] + 0.5) * stride - 0.5
    field = pafs.reshape(h, w, -1, 2)
    u, v = field[..., 0].sum(-1), field[..., 1].sum(-1)
    strength = np.hypot(u, v)
    keep = strength > 0.2
    axis.quiver(gx[keep], gy[keep], u[keep], v[keep], strength[keep], angles="xy", scale_units="xy", scale=1.0 / stride, cmap="viridis")
    axis.set_title("part affinity fields (sum over limbs)")
    axis.set_axis_off()
    plots._save(figure, path)
    return path
