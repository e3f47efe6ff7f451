"""The two-stage detectors' own checks (spec §2 D: fast_rcnn, faster_rcnn; tasks/two_stage.py,
tasks/selective_search.py). The registry sweep covers build, training, round trip and exports."""

import numpy as np
import pytest

import architectures
from tasks import get_task
from tasks import two_stage as ts
from tasks.detection import numpy_iou

TASK = get_task("two_stage_detection")


def _random_rois(rng, n, r, side):
    corners = rng.uniform(0, side * 0.6, size=(n, r, 2))
    sizes = rng.uniform(2, side * 0.4, size=(n, r, 2))
    return np.concatenate([corners, corners + sizes], -1).astype("float32")


def test_roi_max_pool_matches_the_caffe_reference_and_is_quantised():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 9, 11, 3)).astype("float32")
    rois = _random_rois(rng, 2, 5, 40)
    reference_pool, _ = ts.numpy_references()
    ours = np.asarray(ts.roi_max_pool(features, rois, 0.25, 3))
    np.testing.assert_array_equal(ours, reference_pool(features, rois, 0.25, 3))
    # Quantised: a shift of a fraction of a feature cell that does not cross a rounding edge changes nothing.
    shifted = rois.copy()
    shifted[..., [0, 2]] = np.floor(rois[..., [0, 2]] / 4) * 4 + 0.5  # same rounded cell as ...
    base = shifted.copy()
    base[..., [0, 2]] -= 0.4  # ... this one
    np.testing.assert_array_equal(np.asarray(ts.roi_max_pool(features, shifted, 0.25, 3)), np.asarray(ts.roi_max_pool(features, base, 0.25, 3)))


def test_roi_align_matches_the_bilinear_reference_and_has_no_quantisation():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 8, 10, 4)).astype("float32")
    rois = _random_rois(rng, 2, 4, 36)
    _, reference_align = ts.numpy_references()
    ours = np.asarray(ts.roi_align(features, rois, 0.25, 3, sampling_ratio=2))
    np.testing.assert_allclose(ours, reference_align(features, rois, 0.25, 3, 2), atol=1e-5)
    moved = np.asarray(ts.roi_align(features, rois + 0.4, 0.25, 3, sampling_ratio=2))
    assert np.abs(moved - ours).max() > 1e-3  # a sub-cell shift moves every sample


def test_rpn_has_nine_anchors_per_location_of_the_papers_sizes():
    config = ts.rpn_anchor_config((38, 50), 16)
    from tasks.detection import anchors_from_config

    anchors = anchors_from_config(config)
    assert anchors.shape == (38 * 50 * 9, 4)
    first = anchors[:9]
    widths, heights = first[:, 2] - first[:, 0], first[:, 3] - first[:, 1]
    np.testing.assert_allclose(np.sort(np.unique(np.round(np.sqrt(widths * heights)))), [128, 256, 512])
    np.testing.assert_allclose(np.sort(np.unique(np.round(heights / widths, 3))), [0.5, 1.0, 2.0])
    model = architectures.create_model("faster_rcnn", config="tiny")
    assert model.get_layer("rpn_cls_score").filters == 2 * 9 and model.get_layer("rpn_bbox_pred").filters == 4 * 9
    assert architectures.get_spec("faster_rcnn").builder.__init__.__wrapped__.__defaults__ is not None
    canonical = architectures.resolved_config("faster_rcnn")
    assert canonical.get("num_proposals", 300) == 300  # the builder's default: ~300 proposals after NMS


def test_balanced_sampling_caps_positives_and_fills_with_negatives():
    import keras

    positive = np.zeros((2, 400), bool)
    positive[0, :10] = True  # few positives: all taken, the rest negatives
    positive[1, :300] = True  # many: capped at half
    pos, neg = ts.sample_balanced(positive, ~positive, 256, 0.5, keras.random.SeedGenerator(0))
    pos, neg = np.asarray(pos), np.asarray(neg)
    assert pos.sum(axis=1).tolist() == [10, 128]
    assert neg.sum(axis=1).tolist() == [246, 100]  # image 1 has only 100 negatives
    assert not (pos & ~positive).any() and not (neg & positive).any()


def test_proposals_after_nms_are_capped_and_do_not_overlap_above_the_threshold():
    import keras

    model = architectures.create_model("faster_rcnn", config="tiny")
    images, y = TASK.example_batch(model, 3, 0)
    for layer in ("rpn_cls_score", "rpn_bbox_pred"):  # separated, varied proposals
        kernel, bias = model.get_layer(layer).get_weights()
        model.get_layer(layer).set_weights([kernel * 300.0, bias])
    outputs = model(images)
    rois, valid = np.asarray(outputs["rois"]), np.asarray(outputs["roi_valid"]) > 0.5
    assert rois.shape == (3, 32, 4) and valid.sum(axis=1).min() > 4
    for boxes, keep in zip(rois, valid):
        iou = numpy_iou(boxes[keep], boxes[keep])
        np.fill_diagonal(iou, 0.0)
        assert iou.max() <= 0.7 + 1e-6
    assert keras.ops.all(outputs["rois"] >= 0.0)
    # the RPN checked on its own: recall@0.5 of the kept proposals, as counted from the outputs here
    covered = [numpy_iou(b[c >= 0], r[k]).max(axis=1) >= 0.5 for b, c, r, k in zip(y["boxes"], y["classes"], rois, valid)]
    report = ts.proposal_recall(model, images, y)
    assert report["objects"] == sum(len(c) for c in covered)
    assert report["recall"] == pytest.approx(sum(c.sum() for c in covered) / report["objects"])
    assert model.sampling["background_iou"] == (0.0, 0.5)  # with the RPN (see the next test)


def test_head_background_rois_start_at_iou_zero_with_the_rpn():
    """py-faster-rcnn's end-to-end config (BG_THRESH_LO 0.0): an RPN proposal on empty background is
    a background RoI of the head's minibatch; Fast R-CNN's [0.1, 0.5) leaves it out (§2.3)."""
    import keras

    rois = np.array([[[10, 10, 30, 30], [40, 40, 60, 60], [12, 12, 32, 30]]], np.float32)  # object, empty background, overlap
    y = {"boxes": np.array([[[10, 10, 30, 30]]], np.float32), "classes": np.array([[2]], np.int32)}
    sampled = {}
    for low in (0.0, 0.1):
        _, labels, _, weights = ts.head_targets(rois, np.ones((1, 3), bool), y, keras.random.SeedGenerator(0), batch_per_image=8,
                                                background_iou=(low, 0.5), add_ground_truth=False)
        sampled[low] = np.asarray(weights)[0].tolist()
        assert np.asarray(labels)[0].tolist() == [3, 0, 3]  # class 2 → label 3 (0 = background)
    assert sampled[0.0] == [1.0, 1.0, 1.0] and sampled[0.1] == [1.0, 0.0, 1.0]


def test_fast_rcnn_projects_rois_onto_the_shared_feature_map():
    """Image once through the convolutions, each RoI max pooled from that map at 1/stride: the
    head's outputs equal the head applied to the numpy RoI pooling of the model's own features."""
    model = architectures.create_model("fast_rcnn", config="tiny")
    x, _ = TASK.example_batch(model, 2, 0)
    outputs = model(x)
    features = np.asarray(outputs["features"])
    assert features.shape[1:3] == (8, 8)  # 32 px / stride 4, computed once per image
    assert model.sampling["background_iou"] == (0.1, 0.5)  # Fast R-CNN §2.3 with Selective Search
    reference_pool, _ = ts.numpy_references()
    pooled = reference_pool(features, x["proposals"], 0.25, 4)
    hidden = pooled.reshape(2, 32, -1)
    for name in ("fc6", "fc7"):
        kernel, bias = model.get_layer(name).get_weights()
        hidden = np.maximum(hidden @ kernel + bias, 0.0)
    kernel, bias = model.get_layer("cls_score").get_weights()
    np.testing.assert_allclose(np.asarray(outputs["class_logits"]), hidden @ kernel + bias, atol=1e-4)


def test_multi_task_loss_is_cross_entropy_plus_smooth_l1_of_the_true_class():
    logits = np.array([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], np.float32)  # one image, two RoIs, K = 2
    deltas = np.zeros((1, 2, 3, 4), np.float32)
    deltas[0, 1, 1] = [0.5, -2.0, 0.0, 0.0]  # class 1's deltas of the foreground RoI
    deltas[0, 1, 2] = [9.0, 9.0, 9.0, 9.0]  # another class's: must not count
    labels = np.array([[0, 1]], np.int32)
    targets = np.zeros((1, 2, 4), np.float32)
    weights = np.ones((1, 2), np.float32)
    cls, box = ts.head_losses(logits, deltas, labels, targets, weights)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(float(cls), -(log_softmax[0, 0, 0] + log_softmax[0, 1, 1]) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(box), (0.5 * 0.5**2 + (2.0 - 0.5)) / 2, rtol=1e-5)


def test_decoder_applies_class_specific_deltas_and_per_class_nms():
    probabilities = np.zeros((1, 3, 3), np.float32)
    probabilities[0, 0] = [0.1, 0.9, 0.0]  # RoI 0: class 0
    probabilities[0, 1] = [0.2, 0.8, 0.0]  # RoI 1 overlaps RoI 0, same class: suppressed
    probabilities[0, 2] = [0.3, 0.0, 0.7]  # RoI 2 at the same place, other class: kept
    rois = np.array([[[10, 10, 30, 30], [11, 10, 31, 30], [10, 10, 30, 30]]], np.float32)
    deltas = np.zeros((1, 3, 3, 4), np.float32)
    deltas[0, 2, 2] = [0.0, 1.0, 0.0, 0.0]  # class 1 (index 2) of RoI 2: x shifted by 0.1 · 20 px
    out = ts.decode_detections(probabilities, deltas, rois, np.ones((1, 3)), (64, 64), 0.05, 0.5, 10, 100)
    assert int(out["num_detections"][0]) == 2
    np.testing.assert_allclose(np.asarray(out["scores"])[0, :2], [0.9, 0.7], rtol=1e-6)
    assert np.asarray(out["classes"])[0, :2].tolist() == [0, 1]
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, 1], [12, 10, 32, 30], atol=1e-4)


def test_faster_rcnn_trains_four_losses_end_to_end_and_by_the_alternating_scheme():
    from architectures.detection.rcnn import alternating_training

    model = architectures.create_model("faster_rcnn", config="tiny")
    x, y = TASK.example_batch(model, 4, 0)
    history = TASK.fit_example(model, x, y, epochs=3)
    for key in ("rpn_cls_loss", "rpn_box_loss", "head_cls_loss", "head_box_loss"):
        assert np.isfinite(history[key]).all() and history[key][0] > 0.0, key
    np.testing.assert_allclose(history["loss"][0], sum(history[k][0] for k in ("rpn_cls_loss", "rpn_box_loss", "head_cls_loss", "head_box_loss")), rtol=1e-4)
    model.set_training_stage("rpn_unique")  # step 3: only the RPN's own layers train, on RPN losses
    assert sorted({v.path.split("/")[0] for v in model.trainable_variables}) == ["rpn_bbox_pred", "rpn_cls_score", "rpn_conv"]
    assert model.loss_terms == ("rpn",)
    model.set_training_stage("head_unique")  # step 4: only fc6, fc7 and the siblings
    assert sorted({v.path.split("/")[0] for v in model.trainable_variables}) == ["bbox_pred", "cls_score", "fc6", "fc7"]
    histories = alternating_training(model, x, y, epochs_per_step=1)
    assert list(histories) == ["rpn", "head", "rpn_unique", "head_unique"]
    assert all(np.isfinite(v).all() for v in histories.values())
    assert model.loss_terms == ("rpn", "head") and all(layer.trainable for layer in model.layers)
    with pytest.raises(ValueError, match="training stage"):
        model.set_training_stage("step5")


def test_selective_search_covers_the_objects_of_the_scenes():
    from pipelines.datasets import load_dataset
    from tasks.selective_search import recall, selective_search

    scenes = load_dataset("shapes_scenes", n=12, seed=3)
    recalls, counts = [], []
    for image, boxes, classes in zip(scenes.x, scenes.y["boxes"], scenes.y["classes"]):
        proposals = selective_search(image)
        recalls.append(recall(proposals, boxes[classes >= 0], iou=0.5))
        counts.append(len(proposals))
        assert proposals.shape[1] == 4 and (proposals[:, 2:] > proposals[:, :2]).all()
    assert np.mean(recalls) >= 0.9, recalls  # measured 0.995 on 40 scenes with ~18 boxes each
    assert max(counts) < 200  # proposals, not an exhaustive window scan
    with pytest.raises(ValueError, match="one \\[H, W, 3\\] image"):
        selective_search(np.zeros((8, 8)))


def test_exports_agree_with_keras_on_separated_detections(tmp_path):
    """The sweep's untrained detector reports nothing (background prior); here the head's weights
    are scaled so that scores are spread out, and ONNX and TFLite (builtins) must give the same
    detections as Keras: matched at IoU ≥ 0.99, scores within 1e-3."""
    from export.formats import export_model

    model = architectures.create_model("fast_rcnn", config="tiny")
    x, _ = TASK.example_batch(model, 3, 1)
    for layer, scale in (("cls_score", 400.0), ("bbox_pred", 50.0)):
        kernel, bias = model.get_layer(layer).get_weights()
        model.get_layer(layer).set_weights([kernel * scale, bias * 0.0])
    endpoint = TASK.export_endpoint(model)
    reference = TASK.predict(model, x)
    assert int(reference["num_detections"].sum()) >= 6
    results = export_model(endpoint, tmp_path, formats=["onnx", "tflite"], sample_inputs=x, task=TASK)
    assert {r.format: (r.verified, r.error) for r in results} == {"onnx": (True, None), "tflite": (True, None)}


def test_rcnn_warps_each_region_with_context_to_a_fixed_crop():
    from architectures.detection.rcnn import RegionWarp

    image = np.zeros((1, 32, 32, 3), np.float32)
    image[0, 8:24, 4:12] = [200.0, 10.0, 50.0]  # a 8 × 16 (w × h) red rectangle
    boxes = np.array([[[4, 8, 12, 24], [0, 0, 32, 32]]], np.float32)
    crops = np.asarray(RegionWarp(16, 0.0)(image, boxes))
    assert crops.shape == (2, 16, 16, 3)  # anisotropic: a tall box fills the square crop
    # Bilinear samples at the crop's pixel centres: the first and last columns (x = 3.75, 11.25) blend
    # in the black border, every other sample lies inside the rectangle.
    np.testing.assert_allclose(crops[0, :, 1:-1], np.broadcast_to([200.0, 10.0, 50.0], (16, 14, 3)), atol=1e-4)
    np.testing.assert_allclose(crops[0, :, 0], np.broadcast_to([150.0, 7.5, 37.5], (16, 3)), atol=1e-3)
    _, reference_align = ts.numpy_references()
    np.testing.assert_allclose(crops[1], reference_align(image, boxes[:, 1:], 1.0, 16, 1)[0, 0], atol=1e-4)
    padded = np.asarray(RegionWarp(16, 2.0)(image, boxes[:, :1]))  # context: 2 px of 16 on each side
    assert np.abs(padded[0, 0, 0]).max() < 1e-4 and np.allclose(padded[0, 8, 8], [200.0, 10.0, 50.0], atol=1e-3)


def test_rcnn_fits_per_class_linear_svms_and_box_regressors_on_cached_features():
    model = architectures.create_model("rcnn", config="tiny")
    x, y = TASK.example_batch(model, 8, 2)
    before = model(x)
    assert float(np.max(before["svm_scores"])) == -10.0  # no SVM yet: nothing is detected
    assert int(TASK.predict(model, x)["num_detections"].sum()) == 0
    report = model.fit_svms(x, TASK.fit_targets(model, y))
    assert report["fitted"] and report["accuracy"] >= 0.8, report
    kernel, _ = model.get_layer("svm").get_weights()
    present = sorted(set(y["classes"][y["classes"] >= 0].tolist()))
    assert all(np.abs(kernel[:, c]).max() > 0 for c in present)
    # The Dense layer is the LinearSVC's decision function: ground-truth regions score above 0 for
    # their class far more often than background proposals do.
    gt = np.zeros_like(x["proposals"])
    gt[:, : y["boxes"].shape[1]] = np.where(y["classes"][..., None] >= 0, y["boxes"], 0.0)
    scores = np.asarray(model({"images": x["images"], "proposals": gt})["svm_scores"])
    own = [scores[i, j, c] for i in range(8) for j, c in enumerate(y["classes"][i]) if c >= 0]
    assert np.mean(np.array(own) > 0) >= 0.7
    regression, _ = model.get_layer("bbox_regressor").get_weights()
    assert np.abs(regression).max() > 0  # class-specific box regression fitted where IoU ≥ 0.6 pairs exist
    assert int(TASK.predict(model, x)["num_detections"].sum()) > 0
