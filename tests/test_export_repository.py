"""Model repository export: the TF Serving layout (`NAME/N/saved_model.pb` + variables/) served by
tf.saved_model.load, the Triton layout (`NAME/N/model.onnx` + `NAME/config.pbtxt`, parsed strictly
with Triton's own ModelConfig proto from the `tritonclient` package), immutable numbered versions,
and a version folder that appears complete or not at all."""

import os

import numpy as np
import pytest
from google.protobuf import text_format

from export import formats as export_formats
from export.formats import FORMATS, read_metadata
from export.repository import export_to_repository, triton_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from pipelines.train import train

    out = tmp_path_factory.mktemp("run") / "lenet5-digits"
    train(
        "lenet5", "digits", run_dir=out, model_config="tiny", epochs=4, batch_size=32, learning_rate=3e-3,
        max_examples=300, jit="off", early_stopping_patience=0, progress=None,
    )
    return out


def parse_triton_config(text):
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())  # unknown fields raise ParseError


def test_repository_layout_serves_in_tf_serving_and_triton_shapes(run_dir, tmp_path):
    import tensorflow as tf

    from pipelines.train import Run

    report = export_to_repository(run_dir, tmp_path, name="digits", formats="all")
    version = tmp_path / "digits" / "1"
    assert report["version_dir"] == version and all(r.verified for r in report["results"])
    expected = {"saved_model.pb", "variables", "model.onnx", "model.tflite", "model_fp16.tflite", "model_dynamic_int8.tflite", "model_int8.tflite", "deepzoo.json"}
    assert expected <= set(os.listdir(version))
    assert (version / "variables" / "variables.index").is_file()
    assert sorted(os.listdir(tmp_path / "digits")) == ["1", "config.pbtxt"]  # no staging litter

    config = parse_triton_config((tmp_path / "digits" / "config.pbtxt").read_text())
    assert config.name == "digits" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 64
    assert [(t.name, list(t.dims), t.data_type) for t in config.input] == [("input", [32, 32, 1], 11)]  # 11 = TYPE_FP32
    assert [(t.name, list(t.dims)) for t in config.output] == [("output", [10])]
    assert config.HasField("dynamic_batching")

    # TF Serving reads NAME/N as a SavedModel and calls its serving_default signature.
    run = Run.load(run_dir)
    x, _ = run.arrays("test")
    served = tf.saved_model.load(str(version)).signatures["serving_default"](input=tf.constant(x[:3]))["output"].numpy()
    np.testing.assert_allclose(served, run.load_model().predict(x[:3], verbose=0), atol=1e-5)
    meta = read_metadata(version)
    assert meta["source_run"] == str(run_dir.resolve()) and meta["labels"] == [str(i) for i in range(10)]


def test_versions_are_numbered_and_immutable(run_dir, tmp_path):
    assert export_to_repository(run_dir, tmp_path, name="m", formats=["onnx"])["version_dir"] == tmp_path / "m" / "1"
    assert export_to_repository(run_dir, tmp_path, name="m", formats=["onnx"])["version_dir"] == tmp_path / "m" / "2"
    with pytest.raises(ValueError, match="already exists"):
        export_to_repository(run_dir, tmp_path, name="m", version=2, formats=["onnx"])
    for bad in ({"version": 0}, {"version": "3"}, {"name": "../escape"}, {"name": ".hidden"}):
        with pytest.raises(ValueError):
            export_to_repository(run_dir, tmp_path, **{"name": "m", **bad}, formats=["onnx"])
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2", "config.pbtxt"]


def test_a_failed_verification_creates_no_version(run_dir, tmp_path, monkeypatch):
    import dataclasses

    def broken_load(path, *args, **kwargs):
        predictor = export_formats.load_onnx(path)
        return export_formats.Predictor(lambda feeds: {k: v + 1.0 for k, v in predictor(feeds).items()}, predictor.info, inputs=predictor.inputs)

    monkeypatch.setitem(FORMATS, "onnx", dataclasses.replace(FORMATS["onnx"], load=broken_load))
    with pytest.raises(RuntimeError, match="onnx: outputs differ"):
        export_to_repository(run_dir, tmp_path, name="m", formats=["tflite", "onnx"])
    assert os.listdir(tmp_path / "m") == []


def test_an_interrupted_export_creates_no_version(run_dir, tmp_path, monkeypatch):
    from export import tflite as tflite_formats

    def interrupt(context, out_dir, quantization):
        (out_dir / "model.tflite").write_bytes(b"partial")
        raise KeyboardInterrupt

    export_to_repository(run_dir, tmp_path, name="m", formats=["onnx"])
    monkeypatch.setattr(tflite_formats, "write_tflite", interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_to_repository(run_dir, tmp_path, name="m", formats=["onnx", "tflite"])
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "config.pbtxt"]


def test_triton_config_for_a_tabular_model_parses():
    metadata = {
        "inputs": [{"name": "input", "shape": [-1, 4], "dtype": "float32"}],
        "outputs": [{"name": "output", "shape": [-1, 3], "dtype": "float32"}],
    }
    config = parse_triton_config(triton_config("iris", metadata, max_batch_size=8, queue_delay_us=250))
    assert config.max_batch_size == 8 and list(config.input[0].dims) == [4]
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
