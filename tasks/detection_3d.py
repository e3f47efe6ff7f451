"""3-D object detection on a bird's-eye-view grid (family K: VoxelNet / PointPillars).

Element: x = the model's grid input (PointPillars' dense pillars float32 [N, X, Y, P, 9]), y =
{"boxes": float32 [N, M, 7] (x, y, z, l, w, h, yaw) in metres and radians, zero rows pad,
"classes": int32 [N, M], −1 pads}.

The model predicts, per BEV cell, K class logits and 8 box values (dx, dy: the box centre's
offset from the cell centre in cells; z; log l, log w, log h; sin 2·yaw, cos 2·yaw). A box's
footprint is the same at yaw and yaw + π and the points cannot tell a car's front from its back, so
the doubled angle is regressed (regressing sin/cos of yaw itself averages the two readings towards
no direction); decoded yaws lie in (−π/2, π/2]. Its grid is
`model.bev_grid` = {"x_min", "y_min", "cell"} in metres (rows along x, columns along y).

Targets: a box is assigned to the cell that holds its centre (a centre-point head: VoxelNet's RPN
matches anchors by BEV IoU instead; see the model's notes); class heat maps are Gaussians around the
centre cells (CenterNet's penalty-reduced focal loss), box values are regressed at the centre cells
with smooth L1. The export endpoint keeps local maxima of the heat maps (3×3 max-pool, the
NMS-free decoding of CenterNet) and the `max_boxes` best: {"boxes" [N, D, 7], "scores" [N, D],
"classes" [N, D] int32}. Hold-out score: BEV AP@0.5 per class (rotated-box IoU in the ground
plane, VOC all-point interpolation) and its mean "bev_ap50".
"""

import functools
import math

import numpy as np

from tasks.base import CheckOutcome, Task, as_structure, concatenate, length, take

BOX_VALUES = 8  # dx, dy, z, log l, log w, log h, sin 2·yaw, cos 2·yaw
HEATMAP_SIGMA = 0.8  # cells


# --- geometry ------------------------------------------------------------------------------------


def box_corners_bev(box):
    """The 4 ground-plane corners [4, 2] (counter-clockwise) of a box (x, y, z, l, w, h, yaw)."""
    x, y, _, l, w, _, yaw = (float(v) for v in box[:7])
    c, s = math.cos(yaw), math.sin(yaw)
    local = np.array([[l / 2, w / 2], [-l / 2, w / 2], [-l / 2, -w / 2], [l / 2, -w / 2]])
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def _polygon_area(polygon):
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip(subject, clipper):
    """Sutherland–Hodgman: the part of convex polygon `subject` inside convex CCW `clipper`."""
    output = list(subject)
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        edge = b - a
        inputs, output = output, []
        if not inputs:
            break

        def inside(p, a=a, edge=edge):
            return edge[0] * (p[1] - a[1]) - edge[1] * (p[0] - a[0]) >= -1e-12

        for j in range(len(inputs)):
            p, q = inputs[j], inputs[(j + 1) % len(inputs)]
            if inside(q):
                if not inside(p):
                    output.append(_intersection(p, q, a, b))
                output.append(q)
            elif inside(p):
                output.append(_intersection(p, q, a, b))
    return np.array(output).reshape(-1, 2)


def _intersection(p, q, a, b):
    d1, d2 = q - p, b - a
    denominator = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(denominator) < 1e-12:
        return q
    t = ((a[0] - p[0]) * d2[1] - (a[1] - p[1]) * d2[0]) / denominator
    return p + t * d1


def bev_iou(box_a, box_b):
    """IoU of two boxes' rotated footprints in the ground plane (BEV IoU)."""
    pa, pb = box_corners_bev(box_a), box_corners_bev(box_b)
    area_a, area_b = _polygon_area(pa), _polygon_area(pb)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = _polygon_area(_clip(pa, pb))
    return inter / max(area_a + area_b - inter, 1e-12)


def bev_average_precision(y_true, outputs, num_classes, iou_threshold=0.5, min_score=0.05):
    """Per-class BEV AP (VOC all-point interpolation) and their mean. `y_true` {"boxes", "classes"},
    `outputs` {"boxes", "scores", "classes"} of an endpoint."""
    true_boxes, true_classes = np.asarray(y_true["boxes"]), np.asarray(y_true["classes"])
    pred_boxes, pred_scores, pred_classes = (np.asarray(outputs[k]) for k in ("boxes", "scores", "classes"))
    per_class = []
    for k in range(num_classes):
        detections, total = [], 0
        matched = {}
        for n in range(len(true_boxes)):
            total += int(np.sum(true_classes[n] == k))
            keep = (pred_classes[n] == k) & (pred_scores[n] >= min_score)
            detections += [(float(s), n, b) for s, b in zip(pred_scores[n][keep], pred_boxes[n][keep])]
        detections.sort(key=lambda item: -item[0])
        hits = np.zeros(len(detections))
        for index, (_, n, box) in enumerate(detections):
            candidates = np.flatnonzero(true_classes[n] == k)
            ious = [bev_iou(box, true_boxes[n, c]) for c in candidates]
            if ious:
                best = int(np.argmax(ious))
                if ious[best] >= iou_threshold and (n, candidates[best]) not in matched:
                    matched[(n, candidates[best])] = True
                    hits[index] = 1
        if total == 0:
            per_class.append(float("nan"))
            continue
        tp = np.cumsum(hits)
        recall = tp / total
        precision = tp / np.arange(1, len(hits) + 1)
        recall = np.concatenate([[0.0], recall, [1.0]])
        precision = np.concatenate([[0.0], precision, [0.0]])
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        changes = np.flatnonzero(recall[1:] != recall[:-1])
        per_class.append(float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1])))
    valid = [v for v in per_class if not math.isnan(v)]
    return float(np.mean(valid)) if valid else 0.0, per_class


# --- targets and loss ----------------------------------------------------------------------------


def encode_targets(boxes, classes, grid_shape, bev_grid, num_classes):
    """Dense targets [N, X, Y, K + 8 + 1]: Gaussian heat maps, box values and the centre mask."""
    rows, cols = grid_shape
    x_min, y_min, cell = bev_grid["x_min"], bev_grid["y_min"], bev_grid["cell"]
    boxes, classes = np.asarray(boxes, np.float32), np.asarray(classes, np.int32)
    targets = np.zeros((len(boxes), rows, cols, num_classes + BOX_VALUES + 1), np.float32)
    gi, gj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    for n in range(len(boxes)):
        for box, cls in zip(boxes[n], classes[n]):
            if cls < 0 or cls >= num_classes:
                continue
            fi, fj = (box[0] - x_min) / cell, (box[1] - y_min) / cell
            i, j = int(math.floor(fi)), int(math.floor(fj))
            if not (0 <= i < rows and 0 <= j < cols):
                continue
            gaussian = np.exp(-((gi - i) ** 2 + (gj - j) ** 2) / (2 * HEATMAP_SIGMA**2))
            targets[n, :, :, cls] = np.maximum(targets[n, :, :, cls], gaussian)
            size = np.log(np.maximum(box[3:6], 1e-3))
            targets[n, i, j, num_classes:num_classes + BOX_VALUES] = [fi - i - 0.5, fj - j - 0.5, box[2], *size, math.sin(2.0 * box[6]), math.cos(2.0 * box[6])]
            targets[n, i, j, -1] = 1.0
    return targets


@functools.cache
def centre_point_loss_class():
    import keras
    from keras import ops

    from tasks.detection import smooth_l1

    @keras.saving.register_keras_serializable(package="deepzoo")
    class CentrePointLoss(keras.losses.Loss):
        """CenterNet's penalty-reduced focal loss on the class heat maps (α = 2, β = 4) + smooth L1
        on the box values at centre cells, both normalised by the number of objects."""

        def __init__(self, num_classes=1, box_weight=1.0, name="centre_point_loss", **kwargs):
            super().__init__(name=name, **kwargs)
            self.num_classes = int(num_classes)
            self.box_weight = float(box_weight)

        def call(self, y_true, y_pred):
            k = self.num_classes
            heat, boxes, mask = y_true[..., :k], y_true[..., k:k + BOX_VALUES], y_true[..., -1:]
            logits, predicted = y_pred[..., :k], y_pred[..., k:k + BOX_VALUES]
            # log p and log(1 − p) from the logits (softplus), finite for any logit.
            p = ops.sigmoid(logits)
            log_p, log_not_p = -ops.softplus(-logits), -ops.softplus(logits)
            positive = ops.cast(heat >= 1.0 - 1e-6, p.dtype)
            negative_weight = ops.square(ops.square(1.0 - heat))
            focal = -positive * ops.square(1.0 - p) * log_p - (1.0 - positive) * negative_weight * ops.square(p) * log_not_p
            objects = ops.maximum(ops.sum(mask, axis=(1, 2, 3)), 1.0)
            focal = ops.sum(focal, axis=(1, 2, 3)) / objects
            box = ops.sum(smooth_l1(predicted - boxes, 1.0 / 9.0) * mask, axis=(1, 2, 3)) / objects
            return focal + self.box_weight * box

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes, "box_weight": self.box_weight}

    return CentrePointLoss


@functools.cache
def box_decoder_class():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="deepzoo")
    class CentrePointDecoder(keras.layers.Layer):
        """Raw grid outputs [N, X, Y, K + 8] → the `max_boxes` best heat-map peaks as 3-D boxes."""

        def __init__(self, num_classes, bev_grid, max_boxes=20, **kwargs):
            super().__init__(**kwargs)
            self.num_classes = int(num_classes)
            self.bev_grid = {key: float(value) for key, value in dict(bev_grid).items()}
            self.max_boxes = int(max_boxes)

        def call(self, raw):
            k = self.num_classes
            rows, cols = int(raw.shape[1]), int(raw.shape[2])
            heat = ops.sigmoid(raw[..., :k])
            peaks = ops.cast(ops.equal(heat, ops.max_pool(heat, 3, strides=1, padding="same")), heat.dtype)
            flat = ops.reshape(heat * peaks, (-1, rows * cols * k))
            scores, index = ops.top_k(flat, k=min(self.max_boxes, rows * cols * k))
            cell_index = index // k
            classes = index - cell_index * k
            values = ops.reshape(raw[..., k:k + BOX_VALUES], (-1, rows * cols, BOX_VALUES))
            values = ops.take_along_axis(values, ops.repeat(ops.expand_dims(cell_index, -1), BOX_VALUES, axis=-1), axis=1)
            i = ops.cast(cell_index // cols, "float32")
            j = ops.cast(cell_index - (cell_index // cols) * cols, "float32")
            cell = self.bev_grid["cell"]
            x = self.bev_grid["x_min"] + (i + 0.5 + values[..., 0]) * cell
            y = self.bev_grid["y_min"] + (j + 0.5 + values[..., 1]) * cell
            size = ops.exp(ops.clip(values[..., 3:6], -5.0, 5.0))
            yaw = 0.5 * ops.arctan2(values[..., 6], values[..., 7])
            boxes = ops.concatenate([ops.stack([x, y, values[..., 2]], axis=-1), size, ops.expand_dims(yaw, -1)], axis=-1)
            return {"boxes": boxes, "scores": scores, "classes": ops.cast(classes, "int32")}

        def compute_output_spec(self, raw):
            n = min(self.max_boxes, int(raw.shape[1]) * int(raw.shape[2]) * self.num_classes)
            return {
                "boxes": keras.KerasTensor((raw.shape[0], n, 7)),
                "scores": keras.KerasTensor((raw.shape[0], n)),
                "classes": keras.KerasTensor((raw.shape[0], n), dtype="int32"),
            }

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes, "bev_grid": self.bev_grid, "max_boxes": self.max_boxes}

    return CentrePointDecoder


def infer_bev_grid(pillars):
    """{"x_min", "y_min", "cell"} of dense pillars [N, X, Y, P, 9] from their own features: a
    point's pillar centre is (x − x_p, y − y_p), linear in the pillar's row and column."""
    pillars = np.asarray(pillars)
    n, i, j, p = np.nonzero(np.any(pillars != 0, axis=-1))
    if len(n) < 2:
        return None
    centres = pillars[n, i, j, p, :2] - pillars[n, i, j, p, 7:9]
    grid = {}
    for axis, index, key in ((0, i, "x_min"), (1, j, "y_min")):
        if np.ptp(index) == 0:
            return None
        slope, intercept = np.polyfit(index.astype(np.float64) + 0.5, centres[:, axis].astype(np.float64), 1)
        grid[key], grid[f"cell_{axis}"] = float(intercept), float(slope)
    return {"x_min": round(grid["x_min"], 4), "y_min": round(grid["y_min"], 4), "cell": round(grid["cell_0"], 4)}


def _check_targets(y):
    if not isinstance(y, dict) or "boxes" not in y or "classes" not in y:
        received = sorted(y) if isinstance(y, dict) else type(y).__name__
        raise ValueError(f"3-D detection targets need a dict with 'boxes' [N, M, 7] and 'classes' [N, M]. Received: {received}")
    boxes = np.asarray(y["boxes"])
    if boxes.ndim != 3 or boxes.shape[-1] != 7:
        raise ValueError(f"3-D boxes must be [N, M, 7] (x, y, z, l, w, h, yaw). Received: shape {boxes.shape}")


# --- the task ------------------------------------------------------------------------------------


class Detection3D(Task):
    name = "detection_3d"
    element = "(x float32 [N, X, Y, P, 9] dense pillars, y {boxes float32 [N, M, 7] (x, y, z, l, w, h, yaw), classes int32 [N, M], -1 pad})"
    default_dataset = "lidar_pillars"
    monitor = ("val_loss", "min")
    objective = ("bev_ap50", "max")
    export_outputs = "boxes float32 [N, D, 7] (x, y, z, l, w, h, yaw), scores float32 [N, D], classes int32 [N, D]; peak decoding inside"
    quantized_tolerance = 0.1
    compare_jointly = True

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if "pillar_grid" not in accepted:
            return {}
        grid = infer_bev_grid(take(x_train, slice(0, 64)))
        return {"pillar_grid": grid} if grid else {}

    def fit_targets(self, model, y, **_):
        _check_targets(y)
        rows, cols = (int(d) for d in model.outputs[0].shape[1:3])
        return encode_targets(y["boxes"], y["classes"], (rows, cols), model.bev_grid, model.num_classes)

    def loss(self, model, **_):
        return centre_point_loss_class()(num_classes=model.num_classes)

    def predict(self, model, x, batch_size=32):
        endpoint = self.export_endpoint(model)
        parts = [as_structure(endpoint.predict_on_batch(take(x, slice(s, s + batch_size)))) for s in range(0, length(x), batch_size)]
        return concatenate(parts) if parts else {}

    def score(self, y_true, outputs, class_names=None):
        _check_targets(y_true)
        k = len(class_names) if class_names else int(max(np.max(y_true["classes"], initial=0), np.max(outputs["classes"], initial=0)) + 1)
        mean, per_class = bev_average_precision(y_true, outputs, k)
        loose, _ = bev_average_precision(y_true, outputs, k, iou_threshold=0.25)
        names = class_names or [str(c) for c in range(k)]
        return {"bev_ap50": mean, "per_class_bev_ap50": dict(zip(names, per_class)), "bev_ap25": loose, "num_examples": int(length(y_true["boxes"]))}

    def quantized_reference(self, reference_outputs):
        keep = np.asarray(reference_outputs["scores"]) >= 0.3
        return {"boxes": np.where(keep[..., None], reference_outputs["boxes"], 0.0), "classes": np.where(keep, reference_outputs["classes"], -1)}

    def plots(self, run_dir, model, x, y, report, class_names=None, count=4, min_score=0.3):
        from pathlib import Path

        count = min(count, length(x))
        if count == 0:
            return None
        outputs = self.predict(model, take(x, slice(0, count)))
        path = Path(run_dir) / "bev_detections.png"
        draw_bev_boxes(path, occupancy_of(take(x, slice(0, count))), model.bev_grid, take(y, slice(0, count)), outputs, min_score, report.get("bev_ap50"))
        return path

    def example_batch(self, model, n, seed):
        """Scenes of 1–3 boxes whose pillars hold points inside the box (learnable in a few steps)."""
        rng = np.random.default_rng(seed)
        rows, cols, points, features = (int(d) for d in model.inputs[0].shape[1:5])
        grid = model.bev_grid
        x = np.zeros((n, rows, cols, points, features), np.float32)
        boxes = np.zeros((n, 3, 7), np.float32)
        classes = np.full((n, 3), -1, np.int32)
        for b in range(n):
            for m in range(int(rng.integers(1, 4))):
                i, j = int(rng.integers(1, rows - 1)), int(rng.integers(1, cols - 1))
                cls = int(rng.integers(0, model.num_classes))
                cx, cy = grid["x_min"] + (i + 0.5) * grid["cell"], grid["y_min"] + (j + 0.5) * grid["cell"]
                size = (2.0 * grid["cell"], grid["cell"], 1.5) if cls == 0 else (grid["cell"], grid["cell"], 1.8)
                boxes[b, m] = [cx, cy, -1.0, *size, rng.uniform(-1, 1)]
                classes[b, m] = cls
                z = rng.uniform(-1.7, -1.7 + size[2], points)
                x[b, i, j, :, 0], x[b, i, j, :, 1], x[b, i, j, :, 2] = cx, cy, z
                x[b, i, j, :, 3] = 0.5 + 0.2 * cls
                x[b, i, j, :, 6] = z - z.mean()
        return x, {"boxes": boxes, "classes": classes}

    def export_endpoint(self, model, format=None):
        import keras

        cached = getattr(model, "_detection_3d_endpoint", None)
        if cached is not None:
            return cached
        spec = model.inputs[0]
        pillars = keras.Input(shape=tuple(spec.shape[1:]), name=spec.name.split(":")[0])
        decoder = box_decoder_class()(model.num_classes, model.bev_grid, getattr(model, "max_boxes", 20), name="boxes_3d")
        endpoint = keras.Model(pillars, decoder(model(pillars, training=False)), name=f"{model.name}_detector")
        object.__setattr__(model, "_detection_3d_endpoint", endpoint)
        return endpoint

    def compare_outputs(self, name, reference, actual, atol, rtol):
        """Boxes sorted by score: the same boxes (within tolerance) among the confident ones; ties
        between equal scores may swap order, so boxes are matched per image by nearest centre."""
        if not isinstance(reference, dict):
            return super().compare_outputs(name, reference, actual, atol, rtol)
        tolerance = max(1e-3, 10 * atol)
        worst = 0.0
        for n in range(len(reference["scores"])):
            ref_scores, act_scores = np.sort(reference["scores"][n]), np.sort(np.asarray(actual["scores"][n]))
            worst = max(worst, float(np.max(np.abs(ref_scores - act_scores))))
            confident = np.flatnonzero(reference["scores"][n] >= 0.05 + tolerance)
            for index in confident:
                distances = np.abs(np.asarray(actual["boxes"][n])[:, :6] - reference["boxes"][n][index, :6]).max(axis=1)
                worst = max(worst, float(distances.min()) / max(1.0, float(np.abs(reference["boxes"][n][index, :6]).max())))
        ok = worst <= tolerance
        return CheckOutcome(ok, f"boxes and scores: max relative |diff| {worst:.3g} (tolerance {tolerance:g})")


def occupancy_of(pillars):
    """A BEV picture [N, X, Y] of dense pillars: the number of points per pillar."""
    return np.sum(np.any(np.asarray(pillars) != 0, axis=-1), axis=-1).astype(np.float32)


def draw_bev_boxes(path, occupancy, bev_grid, y_true, outputs, min_score=0.3, bev_ap50=None):
    """BEV occupancy with true boxes (green) and predicted boxes (red, score ≥ min_score)."""
    from tasks import plots as plot_lib

    plt = plot_lib._pyplot()
    count = len(occupancy)
    figure, axes = plt.subplots(1, count, figsize=(3.4 * count, 3.6), squeeze=False)
    rows, cols = occupancy.shape[1:3]
    extent = [bev_grid["y_min"], bev_grid["y_min"] + cols * bev_grid["cell"], bev_grid["x_min"], bev_grid["x_min"] + rows * bev_grid["cell"]]
    for index, axis in enumerate(axes[0]):
        axis.imshow(occupancy[index], origin="lower", extent=extent, cmap="gray_r", aspect="equal")
        for box, cls in zip(y_true["boxes"][index], y_true["classes"][index]):
            if cls >= 0:
                corners = box_corners_bev(box)
                axis.fill(corners[:, 1], corners[:, 0], fill=False, edgecolor="limegreen", linewidth=1.5)
        for box, score in zip(outputs["boxes"][index], outputs["scores"][index]):
            if score >= min_score:
                corners = box_corners_bev(box)
                axis.fill(corners[:, 1], corners[:, 0], fill=False, edgecolor="red", linewidth=1.0)
        axis.set_xlabel("y (m)")
        axis.set_ylabel("x (m)")
    title = "BEV: green true boxes, red predicted"
    if bev_ap50 is not None:
        title += f" (hold-out BEV AP@0.5 {bev_ap50:.3f})"
    figure.suptitle(title, fontsize=9)
    plot_lib._save(figure, path)
