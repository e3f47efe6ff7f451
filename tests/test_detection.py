"""The detection task's box math, scoring, augmentation and export endpoint, and RetinaNet.

Each test fails if the thing it names breaks: anchors, matching, delta coding, the focal loss, NMS
(against a numpy reference), boxes moving with augmented images, COCO mAP on perfect predictions
and on images without objects, and the export endpoint's ONNX / TFLite-builtins parity.
"""

import numpy as np
import pytest

import architectures
from tasks import detection as det
from tasks import get_task

TASK = get_task("detection")


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    return architectures.create_model("retinanet", config="tiny")


# --- anchors -------------------------------------------------------------------------------------


def test_anchor_grid_sizes_ratios_and_order():
    scales = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    anchors = det.generate_anchors([(2, 3)], strides=[8], base_sizes=[32], scales=scales, aspect_ratios=(0.5, 1.0, 2.0))
    assert anchors.shape == (2 * 3 * 9, 4)
    first = anchors[:9]  # location (row 0, column 0): centre (4, 4)
    np.testing.assert_allclose((first[:, :2] + first[:, 2:]) / 2, 4.0, atol=1e-5)
    widths, heights = first[:, 2] - first[:, 0], first[:, 3] - first[:, 1]
    np.testing.assert_allclose(np.sqrt(widths * heights), np.repeat(32 * np.array(scales), 3), rtol=1e-5)
    np.testing.assert_allclose(heights / widths, np.tile([0.5, 1.0, 2.0], 3), rtol=1e-5)
    # Row-major positions: the second location is one stride to the right, the fourth one stride down.
    np.testing.assert_allclose(anchors[9:18] - first, np.tile([8.0, 0.0, 8.0, 0.0], (9, 1)), atol=1e-5)
    np.testing.assert_allclose(anchors[27:36] - first, np.tile([0.0, 8.0, 0.0, 8.0], (9, 1)), atol=1e-5)


def test_model_anchors_match_its_outputs(tiny_model):
    # 128 px: P3..P7 are 16², 8², 4², 2², 1² cells with 9 anchors each.
    expected = 9 * (256 + 64 + 16 + 4 + 1)
    assert tiny_model.anchors.shape == (expected, 4)
    outputs = tiny_model(np.zeros((1, 128, 128, 3), "float32"))
    assert tuple(outputs["box_deltas"].shape) == (1, expected, 4)
    assert tuple(outputs["class_logits"].shape) == (1, expected, tiny_model.num_classes)
    sides = np.sqrt(np.prod(tiny_model.anchors[:, 2:] - tiny_model.anchors[:, :2], axis=1))
    assert sides.min() == pytest.approx(16.0, rel=1e-4)  # 2 × stride 8 in the tiny config
    assert sides.max() == pytest.approx(256.0 * 2 ** (2 / 3), rel=1e-4)


# --- matching and coding -------------------------------------------------------------------------


def test_matching_thresholds_ignore_band_and_low_quality_matches():
    anchors = np.array(
        [
            [0, 0, 10, 10],  # IoU 1.0 with box 0 → positive
            [0, 0, 10, 12],  # IoU 0.83 → positive
            [0, 0, 10, 22],  # IoU 0.45 → ignored (between 0.4 and 0.5)
            [0, 0, 20, 20],  # IoU 0.25 → background
            [100, 100, 110, 110],  # best anchor of the small box 1 (IoU 0.16): low-quality positive
            [60, 60, 70, 70],  # nothing → background
        ],
        "float32",
    )
    boxes = np.array([[[0, 0, 10, 10], [100, 100, 104, 104], [-1, -1, -1, -1]], [[-1, -1, -1, -1]] * 3], "float32")
    classes = np.array([[2, 1, -1], [-1, -1, -1]], "int32")
    matched, labels = det.match_anchors(anchors, boxes, classes)
    assert np.asarray(labels[0]).tolist() == [2, 2, det.IGNORE, det.BACKGROUND, 1, det.BACKGROUND]
    assert np.asarray(matched[0])[[0, 1, 4]].tolist() == [0, 0, 1]
    assert np.asarray(labels[1]).tolist() == [det.BACKGROUND] * 6  # an image without objects
    _, strict = det.match_anchors(anchors, boxes, classes, low_quality_matches=False)
    assert int(np.asarray(strict)[0, 4]) == det.BACKGROUND


def test_delta_encoding_round_trip_and_fixture():
    rng = np.random.default_rng(0)
    centres, sizes = rng.uniform(20, 100, (50, 2)), rng.uniform(4, 60, (50, 2))
    anchors = np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype("float32")
    boxes = anchors + rng.normal(0, 3, anchors.shape).astype("float32")
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    for variance in (None, [0.1, 0.1, 0.2, 0.2]):
        deltas = det.encode_boxes(anchors, boxes[None], variance)
        np.testing.assert_allclose(np.asarray(det.decode_boxes(anchors, deltas, variance))[0], boxes, atol=1e-3)
    # The spec's fixture: (0, 0.25, 0, 0) in (dy, dx, dh, dw) means the box lies a quarter width to the right.
    fixture = det.encode_boxes(np.array([[0, 0, 10, 10]], "float32"), np.array([[2.5, 0, 12.5, 10]], "float32"))
    np.testing.assert_allclose(np.asarray(fixture), [[0.0, 0.25, 0.0, 0.0]], atol=1e-6)


def test_focal_loss_agrees_with_keras_binary_focal_crossentropy():
    import keras

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (4, 7, 5)).astype("float32")
    targets = (rng.uniform(size=(4, 7, 5)) < 0.3).astype("float32")
    ours = np.asarray(det.sigmoid_focal_loss(targets, logits, alpha=0.25, gamma=2.0)).mean(axis=-1)
    theirs = keras.losses.binary_focal_crossentropy(targets, logits, apply_class_balancing=True, alpha=0.25, gamma=2.0, from_logits=True)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=1e-6)


def test_loss_is_finite_on_images_without_objects(tiny_model):
    x = np.random.default_rng(0).uniform(0, 255, (2, 128, 128, 3)).astype("float32")
    y = {"boxes": np.full((2, 3, 4), -1, "float32"), "classes": np.full((2, 3), -1, "int32")}
    total, class_loss, box_loss = det.dense_detection_loss(tiny_model.anchors, y, tiny_model(x), tiny_model.num_classes)
    assert np.isfinite(float(total)) and float(box_loss) == 0.0 and float(class_loss) > 0.0


# --- NMS against a numpy reference --------------------------------------------------------------


def _numpy_detections(boxes, scores, score_threshold, iou_threshold, max_detections):
    """Greedy per-class NMS per image, then the best max_detections: the textbook procedure."""
    results = []
    for image_boxes, image_scores in zip(boxes, scores):
        kept = []
        for cls in range(image_scores.shape[1]):
            order = [i for i in np.argsort(-image_scores[:, cls], kind="stable") if image_scores[i, cls] > score_threshold]
            chosen = []
            for i in order:
                if all(det.numpy_iou(image_boxes[i : i + 1], image_boxes[j : j + 1])[0, 0] <= iou_threshold for j in chosen):
                    chosen.append(i)
            kept += [(image_scores[i, cls], i, cls) for i in chosen]
        kept.sort(key=lambda item: -item[0])
        results.append(kept[:max_detections])
    return results


def test_decoder_nms_matches_numpy_reference():
    anchor_config = {"feature_shapes": [[4, 4]], "strides": [16], "base_sizes": [20.0], "scales": [1.0, 1.5], "aspect_ratios": [0.5, 1.0, 2.0]}
    anchors = det.anchors_from_config(anchor_config)
    rng = np.random.default_rng(3)
    batch, num_classes = 3, 2
    deltas = rng.normal(0, 0.2, (batch, len(anchors), 4)).astype("float32")
    logits = rng.normal(-1.5, 1.5, (batch, len(anchors), num_classes)).astype("float32")
    layer = det.decoder(anchor_config=anchor_config, num_classes=num_classes, image_size=[64, 64],
                        score_threshold=0.2, iou_threshold=0.5, max_detections=12, pre_nms_topk=10_000)
    out = {k: np.asarray(v) for k, v in layer({"box_deltas": deltas, "class_logits": logits}).items()}
    boxes = np.clip(np.asarray(det.decode_boxes(anchors, deltas)), 0.0, 64.0)
    scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    reference = _numpy_detections(boxes, scores, 0.2, 0.5, 12)
    for index, expected in enumerate(reference):
        count = int(out["num_detections"][index])
        assert count == len(expected) > 0
        np.testing.assert_allclose(out["scores"][index, :count], [s for s, _, _ in expected], rtol=1e-5)
        assert out["classes"][index, :count].tolist() == [c for _, _, c in expected]
        np.testing.assert_allclose(out["boxes"][index, :count], boxes[index, [i for _, i, _ in expected]], atol=1e-4)
        assert np.all(out["classes"][index, count:] == -1) and np.all(out["scores"][index, count:] == 0)
    assert int(out["num_detections"].max()) == 12  # the cap is hit, so truncation is exercised


# --- augmentation --------------------------------------------------------------------------------


def test_augmentation_moves_boxes_with_the_image():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    n, size = 12, 64
    images = np.zeros((n, size, size, 3), "float32")
    boxes = np.full((n, 2, 4), -1.0, "float32")
    classes = np.full((n, 2), -1, "int32")
    for i in range(n):
        x0, y0 = rng.integers(8, 30, 2)
        w, h = rng.integers(8, 20, 2)
        images[i, y0 : y0 + h, x0 : x0 + w] = 255.0
        boxes[i, 0], classes[i, 0] = (x0, y0, x0 + w, y0 + h), i % 3
    augment = TASK.build_augmentation({"flip": "horizontal", "translate": 0.15, "zoom": 0.2}, None, seed=4)
    out_images, out_y = augment(tf.constant(images), {"boxes": tf.constant(boxes), "classes": tf.constant(classes)})
    out_images, out_boxes, out_classes = np.asarray(out_images), np.asarray(out_y["boxes"]), np.asarray(out_y["classes"])
    moved = 0
    for i in range(n):
        assert out_classes[i, 1] == -1 and np.all(out_boxes[i, 1] == -1)  # padding stays padding
        ys, xs = np.nonzero(out_images[i, ..., 0] > 127)
        if out_classes[i, 0] < 0:
            assert len(xs) < 4  # dropped only when the shape left the image
            continue
        assert out_classes[i, 0] == i % 3
        visible = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], "float32")
        np.testing.assert_allclose(out_boxes[i, 0], visible, atol=2.5)
        moved += not np.allclose(out_boxes[i, 0], boxes[i, 0], atol=1.0)
    assert moved >= n // 2  # the transforms did move most boxes
    assert TASK.build_augmentation("none", None, 0) is None
    with pytest.raises(ValueError, match="rotate"):
        TASK.build_augmentation({"rotate": 0.1}, None, 0)


def test_make_dataset_with_augmentation_keeps_the_structure(tiny_model):
    x, y = TASK.example_batch(tiny_model, 6, seed=1)
    y = {**y, "masks": np.zeros((6, 128, 128), "uint8")}  # extra targets of the scenes are dropped
    data = TASK.make_dataset(x, TASK.fit_targets(tiny_model, y), 4, shuffle=True, augment=TASK.build_augmentation("standard", None, 0))
    sizes = []
    for images, targets in data:
        sizes.append(int(images.shape[0]))
        assert tuple(images.shape[1:]) == (128, 128, 3) and sorted(targets) == ["boxes", "classes"]
        assert tuple(targets["boxes"].shape) == (sizes[-1], 3, 4) and targets["classes"].dtype.name == "int32"
    assert sorted(sizes) == [2, 4]


# --- COCO scoring --------------------------------------------------------------------------------


def _targets():
    boxes = np.full((3, 2, 4), -1.0, "float32")
    classes = np.full((3, 2), -1, "int32")
    boxes[0, :2], classes[0, :2] = [[10, 10, 40, 50], [60, 20, 90, 40]], [0, 2]
    boxes[1, 0], classes[1, 0] = [30, 30, 70, 60], 1
    return {"boxes": boxes, "classes": classes}  # image 2 has no objects


def _as_outputs(y, score=0.9, extra=None):
    out_boxes = np.zeros((3, 5, 4), "float32")
    scores, classes = np.zeros((3, 5), "float32"), np.full((3, 5), -1, "int32")
    counts = []
    for i in range(3):
        rows = [(b, c, score) for b, c in zip(y["boxes"][i], y["classes"][i]) if c >= 0] + (extra or {}).get(i, [])
        for j, (b, c, s) in enumerate(rows):
            out_boxes[i, j], scores[i, j], classes[i, j] = b, s, c
        counts.append(len(rows))
    return {"boxes": out_boxes, "scores": scores, "classes": classes, "num_detections": np.array(counts, "int32")}


def test_coco_score_perfect_predictions_and_empty_images():
    y = _targets()
    names = ["circle", "square", "star"]
    perfect = TASK.score(y, _as_outputs(y), names)
    assert perfect["map50"] == pytest.approx(1.0) and perfect["map"] == pytest.approx(1.0)
    assert perfect["num_objects"] == 3 and perfect["ap50_per_class"] == {"circle": 1.0, "square": 1.0, "star": 1.0}
    # A confident false positive on the image without objects costs precision.
    with_false_positive = TASK.score(y, _as_outputs(y, 0.5, {2: [([5, 5, 30, 30], 0, 0.95)]}), names)
    assert with_false_positive["ap50_per_class"]["circle"] == pytest.approx(0.5, abs=0.02)
    assert with_false_positive["map50"] == pytest.approx((0.5 + 1 + 1) / 3, abs=0.01)
    # Nothing predicted, or nothing to find: defined, zero, no crash.
    assert TASK.score(y, _as_outputs({"boxes": y["boxes"], "classes": np.full((3, 2), -1)}), names)["map50"] == 0.0
    empty = {"boxes": np.full((3, 2, 4), -1, "float32"), "classes": np.full((3, 2), -1, "int32")}
    nothing = TASK.score(empty, _as_outputs(empty), names)
    assert nothing["map50"] == 0.0 and nothing["map"] == 0.0 and nothing["num_objects"] == 0


def test_compare_outputs_matches_detections_as_sets():
    y = _targets()
    low = {0: [([100, 100, 120, 120], 1, 0.3)]}  # the lowest score: where the score threshold cuts
    reference = _as_outputs(y, extra=low)
    permuted = {k: v.copy() for k, v in reference.items()}
    for key in ("boxes", "scores", "classes"):
        permuted[key][0, [0, 1]] = reference[key][0, [1, 0]]
    assert TASK.compare_outputs(None, reference, permuted, 1e-4, 1e-3).ok
    for name in ("boxes", "scores", "classes", "num_detections"):
        assert TASK.compare_outputs(name, reference[name], permuted[name], 1e-4, 1e-3).ok, name
    # A detection on the score cut-off present on one side only is tolerated; a confident one is not.
    on_cut_off = _as_outputs(y, extra={**low, 2: [([5, 5, 30, 30], 0, 0.3005)]})
    assert TASK.compare_outputs(None, reference, on_cut_off, 1e-4, 1e-3).ok
    confident = _as_outputs(y, extra={**low, 2: [([5, 5, 30, 30], 0, 0.8)]})
    assert not TASK.compare_outputs(None, reference, confident, 1e-4, 1e-3).ok
    shifted = {k: v.copy() for k, v in reference.items()}
    shifted["boxes"][1, 0] += 1.5  # IoU ≈ 0.93
    assert not TASK.compare_outputs(None, reference, shifted, 1e-4, 1e-3).ok
    assert not TASK.compare_outputs("boxes", reference["boxes"], shifted["boxes"], 1e-4, 1e-3).ok
    rescored = {k: v.copy() for k, v in reference.items()}
    rescored["scores"][1, 0] += 0.01
    assert not TASK.compare_outputs(None, reference, rescored, 1e-4, 1e-3).ok


# --- the model: training check, round trip, endpoint ---------------------------------------------


def test_endpoint_matches_the_declared_contract(tiny_model):
    # Training, forward and the .keras round trip are the registry sweep's columns; here the
    # endpoint that export and serving see: its named input and typed, shaped outputs.
    spec = architectures.get_spec("retinanet")
    endpoint = TASK.export_endpoint(tiny_model)
    assert [t.name.split(":")[0] for t in endpoint.inputs] == [s.name for s in spec.inputs] == ["images"]
    x, _ = TASK.example_batch(tiny_model, 3, seed=0)
    outputs = TASK.predict(tiny_model, x)
    assert sorted(outputs) == sorted(s.name for s in spec.outputs)
    for declared in spec.outputs:
        assert outputs[declared.name].shape == (3, *declared.shape), declared
        assert outputs[declared.name].dtype == np.dtype(declared.dtype), declared


def _with_confident_heads(model, seed=0):
    """Random final-layer weights so that many anchors score above 0.05 with distinct scores."""
    rng = np.random.default_rng(seed)
    for name, bias in (("class_subnet_output", -2.5), ("box_subnet_output", 0.0)):
        layer = model.get_layer(name)
        kernel, _ = layer.get_weights()
        layer.set_weights([rng.normal(0, 0.05, kernel.shape).astype("float32"), np.full(layer.bias.shape, bias, "float32")])
    return model


def test_export_endpoint_converts_to_onnx_and_tflite_builtins_with_parity(tmp_path):
    import keras
    import onnxruntime
    import tensorflow as tf
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    model = _with_confident_heads(architectures.create_model("retinanet", config="tiny"))
    endpoint = TASK.export_endpoint(model)
    x, _ = TASK.example_batch(model, 3, seed=5)
    reference = {k: np.asarray(v) for k, v in endpoint(x).items()}
    assert reference["num_detections"].min() >= 5  # NMS and the cap have work to do

    signature = [tf.TensorSpec([None, 128, 128, 3], tf.float32, name="images")]
    function = tf.function(lambda images: endpoint(images, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=17)
    assert "NonMaxSuppression" in {node.op_type for node in proto.graph.node}
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    onnx_outputs = dict(zip(names, session.run(None, {"images": x})))
    outcome = TASK.compare_outputs(None, reference, onnx_outputs, 1e-4, 1e-3)
    assert outcome.ok, f"ONNX: {outcome.detail}"

    archive = keras.export.ExportArchive()
    archive.track(endpoint)
    archive.add_endpoint("serving_default", function)
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    operators = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "NON_MAX_SUPPRESSION_V4" in operators and not any(op.startswith("Flex") or op == "CUSTOM" for op in operators)
    tflite_outputs = interpreter.get_signature_runner("serving_default")(images=x)
    outcome = TASK.compare_outputs(None, reference, tflite_outputs, 1e-4, 1e-3)
    assert outcome.ok, f"TFLite: {outcome.detail}"


@pytest.mark.large
def test_canonical_retinanet_parameter_count():
    spec = architectures.get_spec("retinanet")
    count = architectures.create_model("retinanet").count_params()
    # ResNet-50 without conv biases (23,561,152, as Detectron) + FPN P3–P7 and both subnets for 80 classes.
    assert count == 38_021_812
    assert abs(count - spec.reference_params) / spec.reference_params <= spec.param_tolerance


# --- the one-stage and sliding-window detectors (spec §2 D) -------------------------------------


def test_overfeat_toy_window_gives_one_output_and_16px_gives_the_four_crop_outputs():
    import keras

    from architectures.detection import overfeat

    keras.utils.set_random_seed(2)
    window = overfeat.OverFeat(input_shape=(14, 14, 3), num_classes=3, layers=overfeat.OVERFEAT_TOY, box_regression=False)
    image = overfeat.OverFeat(input_shape=(16, 16, 3), num_classes=3, layers=overfeat.OVERFEAT_TOY, box_regression=False)
    image.set_weights(window.get_weights())  # the same network: a fully convolutional model takes both sizes
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    assert tuple(window(x[:, :14, :14])["class_logits"].shape) == (2, 1, 4)  # one output of 4 (3 classes + background)
    maps = np.asarray(image(x)["class_logits"])
    assert maps.shape == (2, 4, 4)  # a 2 × 2 map of 4 scores, row-major
    for position, (dy, dx) in enumerate([(0, 0), (0, 2), (2, 0), (2, 2)]):  # the network's stride is 2
        crop = np.asarray(window(x[:, dy : dy + 14, dx : dx + 14])["class_logits"])[:, 0]
        np.testing.assert_allclose(maps[:, position], crop, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(image.windows, [[0, 0, 14, 14], [2, 0, 16, 14], [0, 2, 14, 16], [2, 2, 16, 16]])
    # The fast model: stride 32, and on its 231-px input one output centred on the image, whose receptive field
    # (327 px) reaches into the zero padding of layers 3–5.
    windows, size, stride = overfeat.receptive_windows(overfeat.OVERFEAT_FAST, (1, 1))
    assert (size, stride) == (327.0, 32.0) and np.allclose((windows[0, :2] + windows[0, 2:]) / 2, 115.5)


def test_yolo_rescaling_example_from_the_416_grid_to_a_1000_by_667_image():
    # Spec §9 #25: the notes print 544 for the last coordinate; 340 · 667 / 416 = 545.1.
    rescaled = det.rescale_boxes([[116, 132, 241, 340]], from_size=(416, 416), to_size=(667, 1000))
    assert np.round(rescaled).astype(int).tolist() == [[279, 212, 579, 545]]


def test_yolo_v2_kmeans_anchors_use_one_minus_iou_on_the_scenes():
    from sklearn.cluster import KMeans

    from architectures.detection import yolo
    from pipelines.datasets import load_dataset

    data = load_dataset("shapes_scenes", seed=0, n=300)
    boxes = data.y["boxes"][data.y["classes"] >= 0]
    sizes = (boxes[:, 2:] - boxes[:, :2]) / 128.0
    centroids, mean_iou = det.kmeans_anchors(sizes, 5, seed=0)
    # The tiny yolo_v2 config's anchors are these clusters.
    np.testing.assert_allclose(centroids, yolo.SHAPES_SCENES_ANCHORS, atol=2e-3)
    # A fixed point of k-means under d = 1 − IoU: each centroid is the mean of the boxes nearest it by IoU.
    assignment = np.argmax(det.centred_iou(sizes, centroids), axis=1)
    for k in range(5):
        np.testing.assert_allclose(centroids[k], sizes[assignment == k].mean(axis=0), rtol=1e-6)
    # The distance is not Euclidean: a 20 × 20 box is nearer (by IoU) a 34 × 34 centroid than a 10 × 10 one.
    assert np.argmax(det.centred_iou([[20, 20]], [[10, 10], [34, 34]])) == 1
    assert mean_iou > det.kmeans_anchors(sizes, 1, seed=0)[1] + 0.1  # more clusters overlap the boxes better
    # Paper §2: with boxes of many scales, Euclidean k-means lets large boxes dominate; the IoU clusters overlap
    # the boxes better. (The scenes' shapes span only 15–55 px, where the two agree within 0.001.)
    spread = np.exp(np.random.default_rng(0).uniform(np.log(4), np.log(256), (2000, 2)))
    _, iou_mean = det.kmeans_anchors(spread, 5, seed=0)
    euclidean = KMeans(5, n_init=10, random_state=0).fit(spread).cluster_centers_
    assert iou_mean > float(np.mean(np.max(det.centred_iou(spread, euclidean), axis=1))) + 0.02


def test_ssd300_has_8732_default_boxes_with_the_paper_scales():
    from architectures.detection import ssd

    shapes = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    boxes = det.ssd_default_boxes(shapes, (300, 300), ssd.SSD300_SCALES, ssd.SSD300_RATIOS)
    assert det.boxes_per_location(ssd.SSD300_RATIOS) == [4, 6, 6, 6, 4, 4]
    assert boxes.shape == (8732, 4)
    first = boxes[:4]  # conv4_3, cell (0, 0): centre 300 / 38 / 2
    np.testing.assert_allclose((first[:, :2] + first[:, 2:]) / 2, 150 / 38, rtol=1e-5)
    sizes = first[:, 2:] - first[:, :2]
    np.testing.assert_allclose(sizes[0], [30, 30], rtol=1e-5)  # s_1 = 0.1
    np.testing.assert_allclose(sizes[1], [np.sqrt(30 * 60)] * 2, rtol=1e-5)  # s'_1 = √(s_1 s_2)
    np.testing.assert_allclose(sizes[2], [30 * np.sqrt(2), 30 / np.sqrt(2)], rtol=1e-5)  # ratio 2 (w / h)
    np.testing.assert_allclose((boxes[-4:, :2] + boxes[-4:, 2:]) / 2, 150.0, rtol=1e-5)  # conv11_2: one centred cell


def test_ssd_matching_rules_and_hard_negative_mining_3_to_1():
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 14], [0, 0, 10, 22], [50, 50, 80, 80], [60, 60, 62, 62], [90, 0, 99, 9]], "float32")
    boxes = np.array([[[0, 0, 10, 10], [60, 60, 100, 100]]], "float32")
    classes = np.array([[1, 2]], "int32")
    _, labels = det.match_anchors(anchors, boxes, classes, 0.5, 0.5, True)
    # IoU ≥ 0.5 positives (1.0, 0.71), no ignore band (0.45 → background), and box 2's best default box
    # (IoU 0.25) positive although below 0.5.
    assert np.asarray(labels)[0].tolist() == [1, 1, det.BACKGROUND, 2, det.BACKGROUND, det.BACKGROUND]

    rng = np.random.default_rng(0)
    loss = rng.uniform(0, 5, (2, 40)).astype("float32")
    positive = np.zeros((2, 40), bool)
    positive[0, [3, 7, 11]] = True
    mask = np.asarray(det.hard_negative_mask(loss, positive, ~positive, ratio=3.0))
    assert mask.sum(axis=1).tolist() == [9, 0]  # 3 negatives per positive; none where an image has no object
    hardest = np.argsort(-np.where(positive[0], -np.inf, loss[0]))[:9]
    assert sorted(np.nonzero(mask[0])[0].tolist()) == sorted(hardest.tolist()) and not np.any(mask[0] & positive[0])


def test_yolo_v1_loss_weights_sqrt_sizes_and_the_responsible_predictor():
    from architectures.detection import yolo

    grid_shape, image_size, num_classes = (2, 2), (64, 64), 3
    # One object centred in cell (row 0, column 1): box 40..56 × 8..24 → centre (48, 16), size 16 × 16.
    y = {"boxes": np.array([[[40, 8, 56, 24], [-1, -1, -1, -1]]], "float32"), "classes": np.array([[2, -1]], "int32")}
    grid = np.zeros((1, 2, 2, 5 * 2 + num_classes), "float32")
    cell = grid[0, 0, 1]
    cell[0:5] = [0.4, 0.6, 0.3, 0.2, 0.7]  # predictor 0: off-centre, wrong size → low IoU
    cell[5:10] = [0.5, 0.5, 0.5, 0.5, 0.9]  # predictor 1: exactly the box → IoU 1, responsible
    cell[10:13] = [0.1, 0.2, 0.6]
    grid[0, 1, 0, 4] = 0.3  # an empty cell's confidence
    _, parts = yolo.yolo_v1_loss(y, grid, grid_shape, 2, num_classes, image_size)
    # Responsible predictor 1: x, y 0.5 in the cell, √(16/64) = 0.5 → coord 0; confidence target IoU 1.
    np.testing.assert_allclose(float(parts["coord_loss"]), 0.0, atol=1e-6)
    np.testing.assert_allclose(float(parts["object_loss"]), (0.9 - 1.0) ** 2, rtol=1e-5)
    np.testing.assert_allclose(float(parts["noobject_loss"]), 0.5 * (0.7**2 + 0.3**2), rtol=1e-5)  # λ_noobj = 0.5
    np.testing.assert_allclose(float(parts["class_loss"]), 0.1**2 + 0.2**2 + 0.4**2, rtol=1e-5)
    # Swap the predictors: now predictor 0 is responsible and its error is weighted by λ_coord = 5 on √w, √h.
    cell[0:5], cell[5:10] = [0.5, 0.5, 0.5, 0.5, 0.9], [0.4, 0.6, 0.3, 0.2, 0.7]
    cell[2:4] = [0.6, 0.3]
    _, parts = yolo.yolo_v1_loss(y, grid, grid_shape, 2, num_classes, image_size)
    # Predictor 0 (23 × 5.8 px on the centre, IoU 0.31) now beats predictor 1 (5.8 × 2.6 px off-centre, IoU 0.06).
    np.testing.assert_allclose(float(parts["coord_loss"]), 5.0 * ((0.6 - 0.5) ** 2 + (0.3 - 0.5) ** 2), rtol=1e-5)


def test_yolo_v1_decoder_scores_are_confidence_times_a_class_distribution():
    from architectures.detection import yolo

    # The SSE-trained outputs are linear: here a confidence of 1.3 and class outputs (1.2, 1.1, -0.2).
    # Clipping the product alone gave this box score 1.0 in two classes (ties at the top of both lists).
    grid = np.zeros((1, 1, 1, 5 * 2 + 3), "float32")
    grid[0, 0, 0, :10] = [0.5, 0.5, 0.5, 0.5, 1.3, 0.5, 0.5, 0.25, 0.25, 0.4]
    grid[0, 0, 0, 10:] = [1.2, 1.1, -0.2]
    scores = np.asarray(yolo.YoloV1Decoder((1, 1), 2, 3, (64, 64))(grid)["scores"])[0]  # [B, C]
    np.testing.assert_allclose(scores[0], [1.2 / 2.3, 1.1 / 2.3, 0.0], rtol=1e-5)  # confidence clipped to 1
    np.testing.assert_allclose(scores[1], [0.4 * 1.2 / 2.3, 0.4 * 1.1 / 2.3, 0.0], rtol=1e-5)
    grid[0, 0, 0, 10:] = [0.5, 0.2, -0.1]  # summing under 1: kept as they are
    scores = np.asarray(yolo.YoloV1Decoder((1, 1), 2, 3, (64, 64))(grid)["scores"])[0]
    np.testing.assert_allclose(scores[1], [0.4 * 0.5, 0.4 * 0.2, 0.0], rtol=1e-5)


def test_yolo_v2_decoding_formula():
    from architectures.detection import yolo

    anchors = [[0.25, 0.5]]
    raw = np.zeros((1, 2, 2, 5 + 2), "float32")
    raw[0, 1, 0, :5] = [0.3, -0.2, 0.4, -0.1, 2.0]  # cell (row 1, column 0)
    out = yolo.YoloV2Decoder((2, 2), anchors, 2, (64, 64))(raw)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    cx, cy = (sigmoid(0.3) + 0) * 32, (sigmoid(-0.2) + 1) * 32
    w, h = 0.25 * np.exp(0.4) * 64, 0.5 * np.exp(-0.1) * 64
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, 2], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["scores"])[0, 2], [sigmoid(2.0) / 2] * 2, rtol=1e-5)  # σ(t_o) · softmax


def test_detectnet_coverage_targets_on_the_16px_grid():
    from architectures.detection import detectnet

    boxes = np.array([[[8, 8, 72, 56], [0, 0, 6, 6]]], "float32")
    coverage, corners, covered = detectnet.coverage_targets(boxes, np.array([[1, 0]], "int32"), (4, 4), 16, 2, 0.4, 32.0)
    covered = np.asarray(covered)[0].reshape(4, 4)
    # Box 0: centre (40, 32), shrunk to 25.6 × 19.2 → cell centres (40, 24) and (40, 40): cells (1, 2) and (2, 2).
    # Box 1 (6 px) covers no cell centre but holds its own centre's cell (0, 0).
    assert np.argwhere(covered).tolist() == [[0, 0], [1, 2], [2, 2]]
    assert np.asarray(coverage)[0, 1 * 4 + 2].tolist() == [0.0, 1.0] and np.asarray(coverage)[0, 0].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(np.asarray(corners)[0, 1 * 4 + 2], (np.array([8, 8, 72, 56]) - [40, 24, 40, 24]) / 32.0)


def test_sliding_window_detector_windows_grow_its_work_linearly_and_it_finds_one_object():
    import keras

    from architectures.detection import overfeat

    counts = [len(overfeat.window_grid((32, 32), (10, 18), (1.0,), stride)) for stride in (4, 2)]
    assert counts == [6 * 6 + 4 * 4, 12 * 12 + 8 * 8]
    crops = overfeat.WindowCrops((32, 32), (10, 18), (1.0,), 2, 8)(np.zeros((3, 32, 32, 3), "float32"))
    assert tuple(crops.shape) == (3 * counts[1], 8, 8, 3)  # the classifier runs once per window: work ∝ windows
    # Crop-and-resize by gathers: an 18-px window resized to 9 px averages 2 × 2 pixel blocks.
    image = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 1)).astype("float32")
    crop = np.asarray(overfeat.WindowCrops((32, 32), (18,), (1.0,), 14, 9)(image))[0, ..., 0]
    np.testing.assert_allclose(crop, image[0, :18, :18, 0].reshape(9, 2, 9, 2).mean(axis=(1, 3)), atol=1e-5)

    # Trained on single-object scenes, the detector's best box finds the object.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 160
    images = rng.normal(110, 10, (n, 32, 32, 3)).astype("float32")
    boxes = np.zeros((n, 1, 4), "float32")
    for i in range(n):
        side = int(rng.choice([10, 18]))
        x0, y0 = rng.integers(0, 32 - side, 2)
        images[i, y0 : y0 + side, x0 : x0 + side] = [230, 40, 40]
        boxes[i, 0] = (x0, y0, x0 + side, y0 + side)
    y = {"boxes": boxes, "classes": np.zeros((n, 1), "int32")}
    model = architectures.create_model("sliding_window_detector", config="tiny", num_classes=1)
    model.compile(keras.optimizers.Adam(1e-2))
    model.fit(images[:128], {k: v[:128] for k, v in y.items()}, batch_size=32, epochs=25, verbose=0)
    out = TASK.predict(model, images[128:])
    hits = [det.numpy_iou(out["boxes"][i, :1], boxes[128 + i])[0, 0] >= 0.5 for i in range(n - 128)]
    assert np.mean(hits) >= 0.8, np.mean(hits)


@pytest.mark.parametrize("name", ["yolo_v1", "yolo_v2", "ssd", "overfeat", "sliding_window_detector", "detectnet"])
def test_one_stage_endpoints_decode_and_suppress(name):
    model = architectures.create_model(name, config="tiny")
    x, _ = TASK.example_batch(model, 2, seed=0)
    out = TASK.predict(model, x)
    d = det.DECODER_DEFAULTS["max_detections"]
    assert out["boxes"].shape == (2, d, 4) and out["classes"].dtype == np.int32 and out["num_detections"].shape == (2,)
    size = model.inputs[0].shape[1]
    for index in range(2):
        boxes, scores, classes = det.valid_detections(out, index)
        assert np.all(boxes >= 0) and np.all(boxes <= size) and np.all(np.diff(scores) <= 1e-6)
        for cls in set(classes.tolist()):  # per-class NMS: no two kept boxes of a class overlap above 0.5
            same = boxes[classes == cls]
            iou = det.numpy_iou(same, same) - np.eye(len(same))
            assert iou.max(initial=0.0) <= model.nms_config["iou_threshold"] + 1e-5


@pytest.mark.large
def test_canonical_one_stage_shapes_and_parameter_counts():
    yolo = architectures.create_model("yolo_v1")
    assert yolo.output_shape == (None, 7, 7, 30) and yolo.count_params() == 271_703_550
    yolo2 = architectures.create_model("yolo_v2")
    assert yolo2.output_shape == (None, 13, 13, 5 * 25)
    ssd = architectures.create_model("ssd")
    assert ssd.default_boxes.shape == (8732, 4) and ssd.count_params() == 26_285_486
    overfeat = architectures.create_model("overfeat")
    assert tuple(overfeat(np.zeros((1, 231, 231, 3), "float32"))["class_logits"].shape) == (1, 1, 1001)  # one 231-px window
    assert architectures.create_model("detectnet").grid_shape == (24, 78)  # 384 × 1248 on a 16-px grid


def test_precision_recall_curves_per_class(tmp_path):
    boxes = np.array([[[10, 10, 30, 30], [40, 40, 60, 70]], [[5, 5, 25, 25], [-1, -1, -1, -1]]], "float32")
    classes = np.array([[0, 1], [1, -1]], "int32")
    y = {"boxes": boxes, "classes": classes}
    # Class 0 found; class 1 found once with a high score and missed once, plus a false positive.
    outputs = {
        "boxes": np.array([[[10, 10, 30, 30], [80, 80, 90, 90]], [[5, 5, 25, 25], [0, 0, 0, 0]]], "float32"),
        "scores": np.array([[0.9, 0.6], [0.7, 0.0]], "float32"),
        "classes": np.array([[0, 1], [1, -1]], "int32"),
        "num_detections": np.array([2, 1], "int32"),
    }
    curves = det.coco_evaluation(y, outputs, ["a", "b"], return_curves=True)
    recall, precision = curves["a"]
    assert np.all(precision == 1.0)  # every recall level reached without a false positive
    recall, precision = curves["b"]
    assert np.all(precision[recall <= 0.5] == 1.0) and np.all(precision[recall > 0.5] == 0.0)  # half the objects at most
    path = det.precision_recall_plot(tmp_path / "pr.png", y, outputs, ["a", "b"])
    assert path.is_file() and path.stat().st_size > 1000


@pytest.mark.parametrize("name", ["ssd", "detectnet"])
def test_one_stage_onnx_and_tflite_builtins_parity_with_detections(name, tmp_path):
    # These two start at background 0.99, so an untrained endpoint keeps nothing above 0.05; at a 0.001
    # threshold it has real detections for NMS to sort, and the converted graphs must agree with Keras.
    import keras
    import onnxruntime
    import tensorflow as tf
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    keras.utils.set_random_seed(3)
    model = architectures.create_model(name, config="tiny", score_threshold=0.001, max_detections=20)
    endpoint = TASK.export_endpoint(model)
    x, _ = TASK.example_batch(model, 2, seed=5)
    reference = {k: np.asarray(v) for k, v in endpoint(x).items()}
    assert reference["num_detections"].min() >= 5
    size = int(model.inputs[0].shape[1])
    signature = [tf.TensorSpec([None, size, size, 3], tf.float32, name="images")]
    function = tf.function(lambda images: endpoint(images, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=17)
    assert "NonMaxSuppression" in {node.op_type for node in proto.graph.node}
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))
    outcome = TASK.compare_outputs(None, reference, onnx_outputs, 1e-4, 1e-3)
    assert outcome.ok, f"ONNX: {outcome.detail}"
    archive = keras.export.ExportArchive()
    archive.track(endpoint)
    archive.add_endpoint("serving_default", function)
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    operators = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "NON_MAX_SUPPRESSION_V4" in operators and not any(op.startswith("Flex") or op == "CUSTOM" for op in operators)
    outcome = TASK.compare_outputs(None, reference, interpreter.get_signature_runner("serving_default")(images=x), 1e-4, 1e-3)
    assert outcome.ok, f"TFLite: {outcome.detail}"



def test_yolo_v1_pretraining_trains_the_convolutions_only_and_runs_from_train(tmp_path):
    """Paper §2.2: the conv layers are pretrained as a classifier before detection training
    (`YoloV1.pretraining_stage`, `deepzoo train yolo_v1 --pretrain-epochs N`); the FC head is left alone."""
    import json

    import keras

    from pipelines.train import check_pretraining, train

    keras.utils.set_random_seed(0)
    model = architectures.create_model("yolo_v1", config="tiny", input_shape=(64, 64, 3), num_classes=3)
    x, y = det.synthetic_scenes(16, (64, 64), 3, seed=0)
    data = TASK.make_dataset(x.astype("float32"), TASK.fit_targets(model, y), 8, shuffle=True)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if layer.get_weights()}
    loss = model.pretraining_stage(data, 2, keras.optimizers.Adam(1e-2))
    assert np.isfinite(loss)
    convs = [name for name in before if isinstance(model.get_layer(name), keras.layers.Conv2D)]
    assert convs and all(not np.allclose(before[name][0], model.get_layer(name).get_weights()[0]) for name in convs[:2])
    for head in ("fc1", "fc2"):
        assert np.array_equal(before[head][0], model.get_layer(head).get_weights()[0]), head
    assert not any(layer.name.startswith("pretrain") for layer in model.layers)  # the throw-away head is not part of it

    lines = []
    result = train("yolo_v1", run_dir=tmp_path / "run", progress=lines.append, model_config="tiny",
                   epochs=1, batch_size=16, max_examples=48, pretrain_epochs=2)
    assert [line.split(":")[0].split(" (")[0] for line in lines if line.startswith("pre-training")] == ["pre-training epoch 1/2", "pre-training epoch 2/2", "pre-training done after 2 epochs"]
    assert json.loads((result.run_dir / "config.json").read_text())["pretrain_epochs"] == 2
    with pytest.raises(ValueError, match="has no pre-training stage; pretrain_epochs applies to yolo_v1"):
        check_pretraining(architectures.get_spec("ssd"), 3)
