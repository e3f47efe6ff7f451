"""Family E semantic segmentation: the shapes scenes, the segmentation task and U-Net."""

import numpy as np
import pytest

from pipelines.datasets import Dataset, load_dataset
from tasks import get_task


@pytest.fixture(scope="module")
def scenes():
    return load_dataset("shapes_scenes", seed=3, n=24)


@pytest.fixture(scope="module")
def task():
    return get_task("segmentation")


# --- data --------------------------------------------------------------------------------------


def test_scenes_contract_padding_and_boxes_enclosing_masks(scenes):
    x, y = scenes.x, scenes.y
    n, m = y["classes"].shape
    assert x.shape == (24, 128, 128, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
    assert scenes.class_names == ["circle", "square", "triangle", "star"] and scenes.task == "detection"
    assert y["boxes"].shape == (n, m, 4) and y["boxes"].dtype == np.float32 and m == 6
    assert y["classes"].dtype == np.int32 and y["masks"].shape == (n, 128, 128) and y["masks"].dtype == np.uint8
    assert y["instance_masks"].shape == (n, m, 128, 128) and y["instance_masks"].dtype == np.uint8
    real = y["classes"] >= 0
    counts = real.sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= 6
    assert all(np.all(row[: c]) and not np.any(row[c:]) for row, c in zip(real, counts))  # padding at the end
    assert np.all(y["boxes"][~real] == -1) and not y["instance_masks"][~real].any()
    assert set(np.unique(y["classes"][real])) <= {0, 1, 2, 3}
    assert y["instance_masks"].sum(axis=1).max() == 1  # visible instance masks are disjoint
    for i, j in zip(*np.nonzero(real)):
        rows, cols = np.nonzero(y["instance_masks"][i, j])
        assert len(rows) >= 24
        x_min, y_min, x_max, y_max = y["boxes"][i, j]
        assert (x_min, y_min, x_max, y_max) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    semantic = np.einsum("nm,nmhw->nhw", np.where(real, y["classes"] + 1, 0), y["instance_masks"].astype(np.int64))
    np.testing.assert_array_equal(semantic, y["masks"])


def test_shapes_masks_are_the_same_scenes_and_deterministic(scenes):
    masks = load_dataset("shapes_masks", seed=3, n=24)
    assert masks.task == "segmentation" and masks.class_names == ["background", *scenes.class_names]
    np.testing.assert_array_equal(masks.x, scenes.x)
    np.testing.assert_array_equal(masks.y, scenes.y["masks"])
    assert not np.array_equal(load_dataset("shapes_masks", seed=4, n=24).x, masks.x)
    with pytest.raises(ValueError, match="num_classes must be in 3..5"):
        load_dataset("shapes_masks", num_classes=6)


def test_colour_carries_no_class(scenes):
    """Mean shape colour per class is the same up to noise: only the shape tells the class."""
    y = scenes.y
    means = [scenes.x[y["masks"] == c + 1].mean(axis=0) for c in range(4)]
    assert np.ptp(np.stack(means), axis=0).max() < 60.0


def test_dataset_slices_dict_targets(scenes):
    part = scenes.subset(np.array([2, 5]))
    assert len(part) == 2 and part.input_shape == (128, 128, 3)
    np.testing.assert_array_equal(part.y["boxes"], scenes.y["boxes"][[2, 5]])
    dict_x = Dataset("d", "detection", {"images": scenes.x, "extra": scenes.y["classes"]}, scenes.y)
    assert len(dict_x) == 24 and dict_x.input_shape == {"images": (128, 128, 3), "extra": (6,)}
    assert dict_x.subset(np.arange(3)).x["images"].shape == (3, 128, 128, 3)


# --- the task ----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [{"flip": "horizontal_and_vertical", "translate": 0.2, "rotate": 0.1, "zoom": 0.15}, "unet"])
def test_augmentation_moves_masks_with_images(task, scenes, config):
    masks = scenes.y["masks"][:8]
    # Bright pixels exactly where the mask has a shape: after augmentation they must still coincide.
    images = np.where(masks[..., None] > 0, 255.0, 0.0).astype("float32").repeat(3, axis=-1)
    augment = task.build_augmentation(config, scenes, seed=1)
    dataset = task.make_dataset(images, masks.astype("int32"), batch_size=8, augment=augment)
    out_images, out_masks, out_weights = (np.asarray(t) for t in next(iter(dataset)))
    np.testing.assert_array_equal(out_weights, task.class_weights(masks)[out_masks])  # weights follow the moved masks
    assert out_masks.shape == masks.shape and out_masks.dtype == np.int32
    assert set(np.unique(out_masks)) <= set(np.unique(masks))  # nearest: no blended labels
    changed = np.mean(out_masks != masks)
    assert changed > 0.02, f"augmentation left the masks in place ({changed:.3%} changed)"
    agreement = np.mean((out_images[..., 0] > 127.5) == (out_masks > 0))
    assert agreement > 0.98, f"images and masks moved apart: {agreement:.3%} agree"


def test_class_weights_balance_frequencies_with_mean_pixel_weight_one(task):
    y = np.array([0] * 81 + [1] * 9 + [3] * 10)  # class 2 absent
    weights = task.class_weights(y)
    frequency = np.array([0.81, 0.09, 0.0, 0.10])
    assert weights[2] == 0 and weights[1] / weights[0] == pytest.approx(3.0)  # 1/√frequency
    assert float(np.sum(frequency * weights)) == pytest.approx(1.0)


def test_dice_cross_entropy_hand_case_and_task_option(task, monkeypatch):
    import keras

    from tasks.segmentation import dice_cross_entropy

    y = np.array([[[0, 0], [1, 2]]])
    uniform = np.full((1, 2, 2, 3), 1 / 3, "float32")
    # Dice per class (s = 1): (2·Σpt + 1) / (Σp + Σt + 1) = (2·2/3 + 1)/(4/3 + 2 + 1), (2/3 + 1)/(4/3 + 1 + 1) twice.
    dice = np.array([(4 / 3 + 1) / (4 / 3 + 3), (2 / 3 + 1) / (4 / 3 + 2), (2 / 3 + 1) / (4 / 3 + 2)])
    expected = np.log(3.0) + 1.0 - dice.mean()
    assert float(dice_cross_entropy(3)(y, uniform)) == pytest.approx(expected, rel=1e-5)
    # Logits give the same loss; a confident right answer costs almost nothing.
    assert float(dice_cross_entropy(3, from_logits=True)(y, np.log(uniform))) == pytest.approx(expected, rel=1e-5)
    assert float(dice_cross_entropy(3)(y, np.eye(3, dtype="float32")[y])) < 1e-5
    monkeypatch.setattr(task, "loss_kind", "dice_cross_entropy")
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(3, 1, activation="softmax")])
    assert task.loss(model).get_config()["num_classes"] == 3
    monkeypatch.setattr(task, "loss_kind", "focal")
    with pytest.raises(ValueError, match="Unknown segmentation loss_kind"):
        task.loss(model)


def test_augmentation_rejects_unknown_settings(task, scenes):
    with pytest.raises(ValueError, match="Unknown segmentation augmentation"):
        task.build_augmentation({"mixup": 0.2}, scenes, 0)
    assert task.build_augmentation("none", scenes, 0) is None


def test_miou_perfect_prediction_and_hand_case(task):
    y = np.random.default_rng(0).integers(0, 3, size=(4, 8, 8))
    perfect = task.score(y, {"class_map": y}, ["background", "a", "b"])
    assert perfect["miou"] == 1.0 and perfect["pixel_accuracy"] == 1.0
    # true [[0, 0], [1, 1]] vs predicted [[0, 1], [1, 1]]: IoU(0) = 1/2, IoU(1) = 2/3; class 2 is
    # absent from both and does not count (keras.metrics.MeanIoU's rule).
    y_true = np.array([[[0, 0], [1, 1]]])
    y_pred = np.array([[[0, 1], [1, 1]]])
    report = task.score(y_true, {"class_map": y_pred}, ["background", "a", "b"])
    assert report["per_class_iou"] == {"background": 0.5, "a": pytest.approx(2 / 3), "b": None}
    assert report["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert report["pixel_accuracy"] == 0.75 and report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    # Probabilities are argmaxed.
    probabilities = np.eye(3)[y_pred]
    assert task.score(y_true, {"probabilities": probabilities}, ["background", "a", "b"])["miou"] == report["miou"]


def test_compare_outputs_class_map_tolerates_one_pixel_in_a_thousand(task):
    reference = np.zeros((1, 50, 40), np.int32)
    one_off, many_off = reference.copy(), reference.copy()
    one_off[0, 0, 0] = 1
    many_off[0, :2, :3] = 1
    assert task.compare_outputs("class_map", reference, one_off, 1e-4, 1e-3).ok
    assert not task.compare_outputs("class_map", reference, many_off, 1e-4, 1e-3).ok


# --- U-Net -------------------------------------------------------------------------------------


def test_unet_valid_sizes_and_tile_padding_cover_the_image():
    from architectures import create_model
    from architectures.segmentation.unet import valid_output_size, valid_tile_size

    assert valid_output_size(572, 4) == 388 and valid_output_size(570, 4) is None
    assert valid_tile_size(128, 4) == (316, 132)
    with pytest.raises(ValueError, match="nearest valid sizes are 556 and 572"):
        create_model("unet", input_shape=(570, 570, 1))
    model = create_model("unet", config="tiny", input_shape=(100, 90, 3))
    assert tuple(model.output_shape) == (None, 100, 90, 5)


def test_tile_padding_is_the_valid_network_on_a_mirrored_tile():
    """Overlap-tile (§2): the padded model equals the valid U-Net run on the mirror-extended image."""
    from architectures import create_model
    from architectures.segmentation.unet import valid_tile_size

    padded = create_model("unet", config="tiny", input_shape=(40, 40, 3), depth=2, preprocessing=None)
    tile, output = valid_tile_size(40, 2)
    valid = create_model("unet", config="tiny", input_shape=(tile, tile, 3), depth=2, tile_padding=None, preprocessing=None)
    valid.set_weights(padded.get_weights())
    x = np.random.default_rng(0).uniform(0, 1, size=(2, 40, 40, 3)).astype("float32")
    before = (tile - 40) // 2
    mirrored = np.pad(x, [(0, 0), (before, tile - 40 - before), (before, tile - 40 - before), (0, 0)], mode="reflect")
    start = before - (tile - output) // 2
    expected = np.asarray(valid(mirrored))[:, start : start + 40, start : start + 40]
    np.testing.assert_allclose(np.asarray(padded(x)), expected, rtol=1e-5, atol=1e-6)


def test_mirror_padding_wider_than_the_image_reflects_again():
    from architectures.segmentation.unet import MirrorPadding2D

    x = np.arange(2 * 5 * 4 * 1, dtype="float32").reshape(2, 5, 4, 1)
    out = np.asarray(MirrorPadding2D(((9, 6), (7, 3)))(x))
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (9, 6), (7, 3), (0, 0)], mode="reflect"))


def test_valid_output_model_gets_centre_cropped_targets(task):
    from architectures import create_model

    model = create_model("unet", input_shape=(28, 28, 1), num_classes=3, filters=2, depth=1, dropout=0.0)
    assert tuple(model.output_shape) == (None, 12, 12, 3)
    y = np.random.default_rng(0).integers(0, 3, size=(2, 28, 28)).astype("uint8")
    np.testing.assert_array_equal(task.fit_targets(model, y), y[:, 8:20, 8:20])
    x, y_fit = task.example_batch(model, 2, 0)
    assert x.shape == (2, 28, 28, 1) and y_fit.shape == (2, 12, 12)
    report = task.evaluate(model, x, np.pad(y_fit, [(0, 0), (8, 8), (8, 8)]), ["a", "b", "c"])
    assert 0.0 <= report["miou"] <= 1.0 and report["num_examples"] == 2


@pytest.mark.large
def test_unet_canonical_572_to_388_and_paper_parameter_count():
    import keras

    from architectures import create_model, get_spec

    model = create_model("unet")
    assert tuple(model.input_shape) == (None, 572, 572, 1) and tuple(model.output_shape) == (None, 388, 388, 2)
    assert model.count_params() == get_spec("unet").reference_params == 31_030_658
    convolutions = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert len(convolutions) == 23  # "In total the network has 23 convolutional layers"
    assert [layer.output.shape[1] for layer in model.layers if layer.name.endswith("_pool")] == [284, 140, 68, 32]


def test_plots_write_overlay_and_iou_chart(task, scenes, tmp_path):
    from architectures import create_model

    masks = load_dataset("shapes_masks", seed=3, n=4)
    model = create_model("unet", config="tiny", input_shape=(128, 128, 3), filters=2)
    report = task.evaluate(model, masks.x, masks.y, masks.class_names)
    assert set(report["per_class_iou"]) == set(masks.class_names)
    task.plots(tmp_path, model, masks.x, masks.y, report, masks.class_names)
    for name in ("segmentation_overlay.png", "per_class_iou.png"):
        assert (tmp_path / name).stat().st_size > 5_000


# --- export ------------------------------------------------------------------------------------


def _frozen_endpoint(endpoint, input_shape):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda images: endpoint(images, training=False), input_signature=[tf.TensorSpec((None, *input_shape), tf.float32)])
    return convert_variables_to_constants_v2(function.get_concrete_function())


def test_export_endpoint_parity_onnx_and_tflite(task, tmp_path):
    import keras
    import onnxruntime
    import tensorflow as tf
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    from architectures import create_model

    model = create_model("unet", config="tiny", input_shape=(32, 32, 3), depth=2)
    x, _ = task.example_batch(model, 2, 0)
    endpoint = task.export_endpoint(model)
    reference = {k: np.asarray(v) for k, v in endpoint(x, training=False).items()}
    assert reference["probabilities"].shape == (2, 32, 32, 5) and reference["class_map"].dtype == np.int32
    np.testing.assert_array_equal(reference["class_map"], reference["probabilities"].argmax(-1))

    frozen = _frozen_endpoint(endpoint, (32, 32, 3))
    # A frozen function's outputs follow tf.nest's flattening of the output dict: sorted keys.
    names = dict(zip(sorted(reference), [t.name for t in frozen.outputs]))
    onnx_model, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(), input_names=[frozen.inputs[0].name], output_names=list(names.values()), opset=17
    )
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_out = dict(zip(names, session.run(list(names.values()), {frozen.inputs[0].name: x})))

    archive = keras.export.ExportArchive()
    archive.track(endpoint)
    archive.add_endpoint("serving_default", tf.function(lambda images: endpoint(images, training=False), input_signature=[tf.TensorSpec((None, 32, 32, 3), tf.float32)]))
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops
    runner = Interpreter(model_content=converter.convert()).get_signature_runner("serving_default")
    tflite_out = runner(images=x)

    for runtime, outputs in (("onnx", onnx_out), ("tflite", tflite_out)):
        for name in ("probabilities", "class_map"):
            outcome = task.compare_outputs(name, reference[name], outputs[name], atol=1e-4, rtol=1e-3)
            assert outcome.ok, f"{runtime}: {outcome.detail}"
