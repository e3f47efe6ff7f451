"""Mask R-CNN's own checks (spec §2 E `mask_rcnn`, §4.2 L = L_cls + L_box + L_mask;
tasks/instance_segmentation.py, architectures/segmentation/mask_rcnn.py). The registry sweep covers
build, training, round trip, XLA and exports."""

import numpy as np
import pytest

import architectures
from tasks import get_task
from tasks import instance_segmentation as inst
from tasks import two_stage as ts

TASK = get_task("instance_segmentation")


@pytest.fixture(scope="module")
def tiny():
    return architectures.create_model("mask_rcnn", config="tiny")


def test_fpn_level_assignment_is_eq_1_of_the_fpn_paper():
    boxes = np.array([[[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 448, 448], [0, 0, 56, 56], [0, 0, 8, 8], [0, 0, 2000, 2000], [0, 0, 223, 223]]], np.float32)
    levels = np.asarray(inst.fpn_levels(boxes, num_levels=4, first_level=2))
    # P4, P3, P5, P2, clipped to P2, clipped to P5, just under 224 → P3 (floor)
    assert levels.tolist() == [[2, 1, 3, 0, 0, 3, 1]]


def test_pyramid_roi_align_reads_each_rois_own_level_without_quantisation():
    rng = np.random.default_rng(0)
    strides = (4, 8, 16)
    features = [rng.normal(size=(2, 32 // s, 32 // s, 3)).astype("float32") for s in strides]
    corners = rng.uniform(0, 18, size=(2, 6, 2))
    rois = np.concatenate([corners, corners + rng.uniform(2, 14, size=(2, 6, 2))], -1).astype("float32")
    levels = rng.integers(0, 3, size=(2, 6)).astype("int32")
    ours = np.asarray(inst.pyramid_roi_align(features, rois, strides, levels, 5, sampling_ratio=2))
    _, reference_align = ts.numpy_references()
    for b in range(2):
        for r in range(6):
            level = levels[b, r]
            expected = reference_align(features[level][b : b + 1], rois[b : b + 1, r : r + 1], 1.0 / strides[level], 5, 2)
            np.testing.assert_allclose(ours[b, r], expected[0, 0], atol=1e-5)
    moved = np.asarray(inst.pyramid_roi_align(features, rois + 0.5, strides, levels, 5))
    assert np.abs(moved - ours).max() > 1e-3  # half a pixel moves every sample: no rounding to cells


def test_mask_branch_is_14_to_28_with_one_sigmoid_mask_per_class(tiny):
    outputs = tiny(TASK.example_batch(tiny, 2, 0)[0])
    assert tuple(outputs["mask_logits"].shape) == (2, tiny.num_proposals, 28, 28, tiny.num_classes)
    assert tiny.get_layer("mask_roi_align").output_size == 14 and tiny.get_layer("mask_deconv").strides == (2, 2)
    assert tiny.get_layer("box_roi_align").output_size == 4  # tiny; canonical 7 (below)


@pytest.mark.large
def test_canonical_is_resnet50_fpn_with_the_papers_heads():
    import keras

    model = architectures.create_model("mask_rcnn")
    assert [model.get_layer(f"mask_conv{i}").filters for i in range(1, 5)] == [256] * 4
    assert model.get_layer("mask_deconv").kernel_size == (2, 2) and model.get_layer("mask_logits").filters == 90
    assert model.get_layer("box_roi_align").output_size == 7 and model.get_layer("mask_roi_align").output_size == 14
    assert [model.get_layer(f"fpn_p{k}").filters for k in range(2, 6)] == [256] * 4
    assert model.get_layer("fc6").units == model.get_layer("fc7").units == 1024
    assert isinstance(model.get_layer("mask_deconv"), keras.layers.Conv2DTranspose)
    assert abs(model.count_params() - 44_401_393) / 44_401_393 < 0.01  # torchvision's maskrcnn_resnet50_fpn


def test_mask_targets_are_the_matched_instance_cropped_to_the_roi():
    masks = np.zeros((1, 2, 32, 32), np.uint8)
    masks[0, 0, 8:24, 8:24] = 1  # a 16 × 16 square
    masks[0, 1, 0:4, 0:4] = 1
    rois = np.array([[[8, 8, 24, 24], [0, 8, 32, 40]]], np.float32)  # exactly the box; twice as large
    matched = np.array([[0, 0]], np.int32)
    targets = np.asarray(inst.mask_targets(rois, matched, masks, 28))
    assert targets.shape == (1, 2, 28, 28)
    assert targets[0, 0].min() == 1.0  # the RoI is the square: all foreground
    # the 32-wide RoI from x = 0: the square spans x 8..24 → columns 7..20 of 28; y 8..24 of 8..40 → rows 0..13
    assert targets[0, 1, :, 7:21][:14].min() == 1.0 and targets[0, 1, 14:].max() == 0.0 and targets[0, 1, :, :6].max() == 0.0


def test_mask_loss_is_per_pixel_bce_on_the_ground_truth_class_only():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 3, 4, 4, 3)).astype("float32")
    labels = np.array([[2, 0, 1]], np.int32)  # RoI 0 class 1, RoI 1 background, RoI 2 class 0
    targets = (rng.uniform(size=(1, 3, 4, 4)) > 0.5).astype("float32")
    weights = np.ones((1, 3), np.float32)
    loss = float(inst.mask_loss(logits, labels, targets, weights))

    def bce(z, t):
        p = 1 / (1 + np.exp(-z))
        return float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))

    expected = (bce(logits[0, 0, ..., 1], targets[0, 0]) + bce(logits[0, 2, ..., 0], targets[0, 2])) / 2
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    changed = logits.copy()
    changed[0, 0, ..., 0] += 5.0  # another class's channel of a foreground RoI
    changed[0, 1] += 5.0  # a background RoI
    np.testing.assert_allclose(float(inst.mask_loss(changed, labels, targets, weights)), expected, rtol=1e-5)


def test_the_loss_is_rpn_plus_cls_plus_box_plus_mask(tiny):
    x, y = TASK.example_batch(tiny, 4, 0)
    targets = TASK.fit_targets(tiny, y)
    total = float(tiny.compute_loss(x, targets, tiny(x, training=True)))
    terms = {k: float(t.result()) for k, t in tiny.loss_trackers.items()}
    assert set(terms) == {"rpn_cls_loss", "rpn_box_loss", "head_cls_loss", "head_box_loss", "mask_loss"}
    np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-5)
    assert terms["mask_loss"] > 0.3  # untrained: about log 2 per pixel


def test_pasted_ground_truth_scores_mask_ap_one_and_a_shifted_mask_less():
    scenes_x, y = TASK.example_batch(architectures.create_model("mask_rcnn", config="tiny"), 6, 1)
    count = y["classes"].shape[1]
    rois = np.where(y["classes"][..., None] >= 0, y["boxes"], 0.0).astype("float32")
    masks = np.asarray(inst.mask_targets(rois, np.tile(np.arange(count), (6, 1)), y["instance_masks"], 28))
    outputs = {"boxes": rois, "scores": np.where(y["classes"] >= 0, 0.9, 0.0).astype("float32"), "classes": y["classes"],
               "num_detections": (y["classes"] >= 0).sum(1).astype("int32"), "masks": masks}
    order = np.argsort(y["classes"] < 0, axis=1, kind="stable")  # valid detections first
    outputs = {k: (np.take_along_axis(v, order[(...,) + (None,) * (v.ndim - 2)], axis=1) if k != "num_detections" else v) for k, v in outputs.items()}
    report = TASK.score(y, outputs, ["a", "b", "c"])
    # 28 × 28 and back loses a little of the thinnest occluded slivers: not all of them reach IoU 0.5
    assert report["mask_map50"] >= 0.95 and report["map50"] == pytest.approx(1.0)
    outputs["masks"] = np.zeros_like(outputs["masks"])
    outputs["masks"][..., :7, :7] = 1.0  # each mask a corner of its box: boxes still right
    report = TASK.score(y, outputs, ["a", "b", "c"])
    assert report["map50"] == pytest.approx(1.0) and report["mask_map50"] < 0.5


def test_paste_masks_fills_the_box_at_image_size():
    pasted = inst.paste_masks(np.array([[4, 6, 20, 14]]), np.ones((1, 28, 28), np.float32), (32, 32))
    assert pasted.shape == (1, 32, 32) and pasted.sum() == 16 * 8 and pasted[0, 6:14, 4:20].all()


def test_flip_moves_image_boxes_and_masks_together(tiny):
    x, y = TASK.example_batch(tiny, 8, 3)
    augment = TASK.build_augmentation({"flip": "horizontal"}, None, seed=0)
    images, out = augment(x, TASK.fit_targets(tiny, y))
    images, boxes, masks = np.asarray(images), np.asarray(out["boxes"]), np.asarray(out["instance_masks"])
    flipped = [i for i in range(8) if not np.allclose(images[i], x[i])]
    assert 0 < len(flipped) < 8
    for i in range(8):
        for j in np.flatnonzero(y["classes"][i] >= 0):
            cols = np.flatnonzero(masks[i, j].any(axis=0))
            if len(cols):
                assert boxes[i, j, 0] <= cols[0] and cols[-1] + 1 <= boxes[i, j, 2] + 1e-4  # mask inside its moved box


def test_bad_targets_give_one_line_value_errors(tiny):
    _, y = TASK.example_batch(tiny, 2, 0)
    with pytest.raises(ValueError, match="image size"):
        TASK.fit_targets(tiny, {**y, "instance_masks": y["instance_masks"][..., :16, :16]})
    with pytest.raises(ValueError, match="class ids"):
        TASK.fit_targets(tiny, {**y, "classes": np.where(y["classes"] >= 0, 7, -1)})
    with pytest.raises(ValueError, match="instance_masks"):
        TASK.fit_targets(tiny, {"boxes": y["boxes"], "classes": y["classes"]})


def test_export_comparison_checks_the_matched_masks():
    rng = np.random.default_rng(0)
    reference = {"boxes": np.array([[[2, 2, 20, 20], [0, 0, 0, 0]]], np.float32), "scores": np.array([[0.9, 0.0]], np.float32),
                 "classes": np.array([[1, -1]], np.int32), "num_detections": np.array([1], np.int32),
                 "masks": (rng.uniform(size=(1, 2, 28, 28)) > 0.5).astype("float32")}
    same = {k: v.copy() for k, v in reference.items()}
    assert TASK.compare_all(reference, same, 1e-4, 1e-4)["outputs"].ok
    other = {**same, "masks": 1.0 - same["masks"]}
    outcome = TASK.compare_all(reference, other, 1e-4, 1e-4)["outputs"]
    assert not outcome.ok and "mask IoU" in outcome.detail


def test_exports_agree_with_keras_on_separated_detections_and_their_masks(tmp_path):
    """The sweep's untrained model reports nothing (background prior); here the heads' weights are
    scaled so that scores and mask logits are spread out, and ONNX and TFLite (builtins) must give
    the same detections (IoU ≥ 0.99, scores within 1e-3) and masks (IoU ≥ 0.99) as Keras."""
    from export.formats import export_model

    model = architectures.create_model("mask_rcnn", config="tiny")
    x, _ = TASK.example_batch(model, 3, 1)
    for layer, scale in (("cls_score", 400.0), ("bbox_pred", 50.0), ("mask_logits", 30.0)):
        kernel, bias = model.get_layer(layer).get_weights()
        model.get_layer(layer).set_weights([kernel * scale, bias * 0.0])
    reference = TASK.predict(model, x)
    assert int(reference["num_detections"].sum()) >= 6 and reference["masks"].shape[2:] == (28, 28)
    results = export_model(TASK.export_endpoint(model), tmp_path, formats=["onnx", "tflite"], sample_inputs=x, task=TASK)
    assert {r.format: (r.verified, r.error) for r in results} == {"onnx": (True, None), "tflite": (True, None)}
