"""Every export format on a tiny model: written, loaded in its own runtime, verified against Keras
(element-wise for float formats, by the task metric for quantised ones), described in deepzoo.json,
and published atomically (an interrupted or failed export never leaves a partial artifact)."""

import os
from pathlib import Path

import keras
import numpy as np
import pytest

from export import formats as export_formats
from export import tflite as tflite_formats
from export.formats import FORMATS, export_model, read_metadata

INPUT_SHAPE = (12, 12, 1)
LABELS = ["dark", "mid", "bright"]


def tiny_classifier():
    """Raw 0..255 pixels in, preprocessing inside the model, three confident classes out."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(INPUT_SHAPE)
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="tiny_classifier")
    # Labels are what the model predicts, made decisive: the metric checks then measure the
    # artifacts' agreement with Keras, not a coin toss between near-equal classes.
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel * 40.0, bias])
    return model


def data(n, seed):
    """Noise images of varied brightness (raw pixel values 0..255)."""
    rng = np.random.default_rng(seed)
    brightness = rng.uniform(0.1, 1.0, size=(n, 1, 1, 1))
    return (255 * brightness * rng.uniform(0.3, 1.0, size=(n, *INPUT_SHAPE))).astype("float32")


@pytest.fixture(scope="module")
def model():
    return tiny_classifier()


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "export"
    x = data(96, seed=1)
    y = np.argmax(model.predict(x, verbose=0), axis=-1)
    metadata = {"task": "classification", "labels": LABELS, "source_run": "unit-test", "preprocessing": {"inside_model": "rescale 1/255"}}
    results = export_model(model, out, "all", sample_inputs=x, targets=y, metadata=metadata, calibration_inputs=data(64, seed=2), calibration_source="uniform noise")
    return out, {r.format: r for r in results}, x


def test_every_format_verifies_in_its_runtime(exported):
    out, results, _ = exported
    assert list(results) == list(FORMATS)
    failures = {name: r.error for name, r in results.items() if not r.verified}
    assert not failures, failures
    for name, result in results.items():
        assert Path(result.path) == out / FORMATS[name].filename and Path(result.path).is_file()
        assert result.size_bytes > 0
    assert (out / "variables").is_dir()
    assert {p.name for p in out.iterdir() if p.name.startswith(".")} == set()


def test_metadata_describes_every_artifact(exported):
    out, _, x = exported
    meta = read_metadata(out)
    assert meta["inputs"] == [{"name": "input", "shape": [-1, 12, 12, 1], "dtype": "float32"}]
    assert meta["outputs"] == [{"name": "output", "shape": [-1, 3], "dtype": "float32"}]
    assert meta["labels"] == LABELS and meta["task"] == "classification" and meta["source_run"] == "unit-test"
    assert meta["preprocessing"] == {"inside_model": "rescale 1/255"}
    assert meta["tool_versions"]["tensorflow"] and meta["tool_versions"]["tf2onnx"] and meta["tool_versions"]["ai_edge_litert"]
    assert meta["calibration"] == {"source": "uniform noise", "num_examples": 64}
    assert meta["verification"]["num_inputs"] == len(x)
    artifacts = meta["artifacts"]
    assert set(artifacts) == set(FORMATS)
    for name, info in artifacts.items():
        assert info["verified"] and info["path"] == FORMATS[name].filename and info["error"] is None
        metric = info["metric"]
        assert metric["name"] == "accuracy" and metric["keras"] == 1.0 and metric["targets"] == "ground truth"
        assert metric["within_tolerance"]
    assert artifacts["savedmodel"]["signatures"]["serving_default"]["status"] == "verified"
    assert artifacts["savedmodel"]["signatures"]["serving_xla"]["status"] in ("verified", "unavailable")
    assert artifacts["onnx"]["opset"] == export_formats.DEFAULT_OPSET and artifacts["onnx"]["provider"] == "CPUExecutionProvider"
    assert artifacts["tflite_int8"]["weights"] == "per-channel" and artifacts["tflite_int8"]["io_dtype"] == "float32"
    assert artifacts["tflite_int8"]["calibration_examples"] == 64
    # Quantised artifacts are smaller; element-wise parity of float formats is tight, fp16 looser.
    assert artifacts["tflite_int8"]["size_bytes"] < artifacts["tflite"]["size_bytes"]
    assert artifacts["tflite"]["max_abs_diff"] < 1e-4 and artifacts["tflite_fp16"]["max_abs_diff"] < 2e-2


def test_artifacts_serve_raw_inputs_at_any_batch_size(exported, model):
    out, _, _ = exported
    x = data(5, seed=9)
    expected = np.asarray(model(x))
    for name in ("savedmodel", "onnx", "tflite", "tflite_fp16"):
        predictor = export_formats.load_artifact(out, name)
        np.testing.assert_allclose(predictor(x)["output"], expected, atol=2e-2 if name == "tflite_fp16" else 1e-4)
        np.testing.assert_allclose(predictor({"input": x[:1]})["output"], expected[:1], atol=2e-2 if name == "tflite_fp16" else 1e-4)
    np.testing.assert_allclose(export_formats.load_savedmodel(out / "saved_model.pb", "serving_xla")(x)["output"], expected, atol=1e-4)


def test_onnx_is_checked_has_a_dynamic_batch_and_a_selectable_opset(model, tmp_path):
    import onnx

    results = export_model(model, tmp_path, ["onnx"], sample_inputs=data(8, 4), options={"opset": 13})
    assert results[0].verified, results[0].error
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [13]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_full_integer_with_int8_io_for_microcontrollers(model, tmp_path):
    x = data(64, seed=5)
    options = {"int8_io": True, "int8_per_tensor": True, "calibration_samples": 32}
    (result,) = export_model(model, tmp_path, ["tflite_int8"], sample_inputs=x, options=options, metadata={"task": "classification"})
    assert result.verified, result.error
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(tmp_path / "model_int8.tflite")).get_signature_runner("serving_default")
    assert runner.get_input_details()["input"]["dtype"] == np.int8
    assert runner.get_output_details()["output"]["dtype"] == np.int8
    info = read_metadata(tmp_path)["artifacts"]["tflite_int8"]
    assert info["io_dtype"] == "int8" and info["weights"] == "per-tensor" and info["calibration_examples"] == 32
    assert info["input_quantization"]["input"]["scale"] > 0 and "zero_point" in info["output_quantization"]["output"]
    # Without targets the Keras classes are the targets: the metric is agreement with Keras.
    assert info["metric"]["targets"] == "keras predictions" and info["metric"]["artifact"] >= 0.9


@pytest.mark.parametrize(
    "options, message",
    [({"opset": 99}, "opset must be an integer in"), ({"calibration_samples": 0}, "calibration_samples"), ({"opsett": 13}, "Unknown export option")],
)
def test_bad_options_fail_before_any_work(model, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        export_model(model, tmp_path / "out", ["onnx"], options=options)
    assert not (tmp_path / "out").exists()


def test_unknown_format_is_a_value_error(model, tmp_path):
    with pytest.raises(ValueError, match="Unknown export format 'onnxx'"):
        export_model(model, tmp_path, ["onnxx"])


def _broken(fmt, how):
    """`fmt` with a loader whose outputs are shifted (breaks element-wise parity) or whose classes
    are rotated (breaks the metric)."""
    import dataclasses

    def load(path, *args, **kwargs):
        predictor = fmt.load(path, *args, **kwargs)
        change = (lambda y: y + 0.05) if how == "shift" else (lambda y: np.roll(y, 1, axis=-1))
        return export_formats.Predictor(lambda feeds: {k: change(v) for k, v in predictor(feeds).items()}, predictor.info, inputs=predictor.inputs)

    return dataclasses.replace(fmt, load=load)


def test_a_mismatching_artifact_is_reported_and_not_published(model, tmp_path, monkeypatch):
    x = data(32, seed=6)
    first = export_model(model, tmp_path, ["tflite", "tflite_dynamic"], sample_inputs=x)
    assert all(r.verified for r in first)
    # Break both runtimes' outputs: the float check (element-wise) and the metric check both fire.
    monkeypatch.setitem(FORMATS, "tflite", _broken(FORMATS["tflite"], "shift"))
    monkeypatch.setitem(FORMATS, "tflite_dynamic", _broken(FORMATS["tflite_dynamic"], "rotate"))
    results = {r.format: r for r in export_model(model, tmp_path, ["tflite", "tflite_dynamic"], sample_inputs=x, metadata={"task": "classification"})}
    assert not results["tflite"].verified and "max |diff|" in results["tflite"].error
    assert not results["tflite_dynamic"].verified and "accuracy" in results["tflite_dynamic"].error
    # The folder and its metadata agree: no stale artifact of a format that failed.
    assert not (tmp_path / "model.tflite").exists() and not (tmp_path / "model_dynamic_int8.tflite").exists()
    meta = read_metadata(tmp_path)["artifacts"]
    assert meta["tflite"]["verified"] is False and meta["tflite"]["path"] is None


def test_strict_export_publishes_nothing_when_one_format_fails(model, tmp_path, monkeypatch):
    monkeypatch.setitem(FORMATS, "tflite", _broken(FORMATS["tflite"], "shift"))
    with pytest.raises(RuntimeError, match="tflite: outputs differ"):
        export_model(model, tmp_path / "version", ["onnx", "tflite"], sample_inputs=data(8, 7), strict=True)
    assert os.listdir(tmp_path) == []


def _interrupt_mid_write(path, *args, **kwargs):
    Path(path).write_bytes(b"half a flatbuffer")
    raise KeyboardInterrupt


def test_interrupted_export_keeps_the_previous_version_and_leaves_no_litter(model, tmp_path, monkeypatch):
    out = tmp_path / "export"
    x = data(8, seed=8)
    export_model(model, out, ["onnx", "tflite"], sample_inputs=x)
    before = {name: (out / name).read_bytes() for name in ("model.onnx", "model.tflite", "deepzoo.json")}

    def write_then_interrupt(context, out_dir, quantization):
        _interrupt_mid_write(Path(out_dir) / tflite_formats.FILENAMES[quantization])

    monkeypatch.setattr(tflite_formats, "write_tflite", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_model(model, out, ["onnx", "tflite"], sample_inputs=x)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(os.listdir(tmp_path)) == ["export"] and not [p for p in os.listdir(out) if p.startswith(".")]


def test_interrupted_first_export_leaves_no_export_directory(model, tmp_path, monkeypatch):
    monkeypatch.setattr(tflite_formats, "write_tflite", lambda context, out_dir, quantization: _interrupt_mid_write(Path(out_dir) / "model.tflite"))
    with pytest.raises(KeyboardInterrupt):
        export_model(model, tmp_path / "export", ["tflite"], sample_inputs=data(4, 1))
    assert os.listdir(tmp_path) == []


def test_interrupted_savedmodel_publish_never_pairs_old_and_new_files(model, tmp_path, monkeypatch):
    """Interrupted between moving the new variables in and the new saved_model.pb: no .pb at all."""
    from export import staging

    out = tmp_path / "export"
    export_model(model, out, ["savedmodel"], sample_inputs=data(4, 1))
    real_replace = os.replace

    def replace(source, target):
        if Path(target).name == "saved_model.pb":
            raise KeyboardInterrupt
        return real_replace(source, target)

    monkeypatch.setattr(staging.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        export_model(model, out, ["savedmodel"], sample_inputs=data(4, 1))
    assert not (out / "saved_model.pb").exists()  # absent, never half old and half new
    assert sorted(os.listdir(tmp_path)) == ["export"] and not [p for p in os.listdir(out) if p.startswith(".")]


def test_size_breakdown_accounts_for_every_byte_and_the_per_channel_parameters(model, exported, tmp_path):
    out, _, _ = exported
    kernels = sum(int(np.prod(layer.kernel.shape)) for layer in model.layers if hasattr(layer, "kernel"))
    biases = sum(int(np.prod(layer.bias.shape)) for layer in model.layers if getattr(layer, "bias", None) is not None)
    fp32 = tflite_formats.size_breakdown(out / "model.tflite")
    per_channel = tflite_formats.size_breakdown(out / "model_int8.tflite")
    # The microcontroller test's configuration (int8 I/O adds two tensors' parameters, nothing per channel).
    options = {"int8_io": True, "int8_per_tensor": True, "calibration_samples": 32}
    (result,) = export_model(model, tmp_path, ["tflite_int8"], sample_inputs=data(64, seed=5), options=options, metadata={"task": "classification"})
    assert result.verified, result.error
    per_tensor = tflite_formats.size_breakdown(tmp_path / "model_int8.tflite")
    for breakdown in (fp32, per_channel, per_tensor):
        assert sum(v for k, v in breakdown.items() if k != "total") == breakdown["total"] and breakdown["other"] > 0
    # The converter may fold constants (all-zero biases), so kernels bound it from below.
    assert 4 * kernels <= fp32["weights_float32"] < 4 * (kernels + biases) + 64
    # Full integer: int8 kernels, int32 biases, one scale and zero point per output channel or per tensor.
    assert per_channel["weights_int8"] == per_tensor["weights_int8"] == kernels
    assert 0 < per_channel["weights_int32"] <= 4 * biases + 64
    # 12 bytes (float32 scale, int64 zero point) per output channel of each of the 3 weight tensors,
    # where per-tensor pays 12 bytes per tensor.
    output_channels = sum(int(layer.kernel.shape[-1]) for layer in model.layers if hasattr(layer, "kernel"))
    assert per_channel["quantization_parameters"] - per_tensor["quantization_parameters"] >= 12 * (output_channels - 3)
