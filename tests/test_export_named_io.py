"""Named, typed, multiple inputs and outputs through every export format: a two-input (float image +
int32 token ids) two-output endpoint in SavedModel, ONNX and TFLite; a string-in string-out
SavedModel endpoint (StringLookup inside) that ONNX and TFLite refuse with one line; verification
of every output by the task's own comparison and objective; and stale staging folders of killed
exports, which the next export removes."""

import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from export import formats as export_formats
from export.formats import FORMATS, export_model, load_artifact, read_metadata
from tasks import Task
from tasks.base import CheckOutcome

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = 20
WORDS = ["cat", "dog", "bird"]


def two_input_model():
    """image [8, 8, 1] float32 + token_ids [6] int32 -> {"scores": [3] softmax, "embedding": [2]}."""
    keras.utils.set_random_seed(5)
    image = keras.Input((8, 8, 1), name="image")
    token_ids = keras.Input((6,), dtype="int32", name="token_ids")
    pixels = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="relu")(image))
    tokens = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCABULARY, 4, name="token_embedding")(token_ids))
    hidden = keras.layers.Concatenate()([pixels, tokens])
    scores = keras.layers.Dense(3, activation="softmax", name="scores_head")(hidden)
    embedding = keras.layers.Dense(2, name="embedding_head")(hidden)
    model = keras.Model({"image": image, "token_ids": token_ids}, {"scores": scores, "embedding": embedding}, name="pair")
    kernel, bias = model.get_layer("scores_head").get_weights()
    model.get_layer("scores_head").set_weights([kernel * 20.0, bias])  # decisive classes: the metric measures agreement
    return model


def two_input_data(n, seed):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.uniform(0, 1, size=(n, 8, 8, 1)).astype("float32"),
        "token_ids": rng.integers(0, VOCABULARY, size=(n, 6)).astype("int32"),
    }


def string_model():
    """text [] string -> {"label": [] string (the word, or [UNK]), "index": [] int64}."""
    text = keras.Input((), dtype="string", name="text")
    index = keras.layers.StringLookup(vocabulary=WORDS, name="lookup")(text)
    label = keras.layers.StringLookup(vocabulary=WORDS, invert=True, name="invert")(index)
    return keras.Model(text, {"label": label, "index": index}, name="words")


@pytest.fixture(scope="module")
def pair():
    return two_input_model()


@pytest.fixture(scope="module")
def pair_export(pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("pair") / "export"
    results = export_model(pair, out, ["savedmodel", "onnx", "tflite", "tflite_int8"], sample_inputs=two_input_data(32, 1))
    return out, {r.format: r for r in results}


def test_two_inputs_two_outputs_verify_in_every_runtime(pair_export):
    out, results = pair_export
    failures = {name: r.error for name, r in results.items() if not r.verified}
    assert not failures, failures
    meta = read_metadata(out)
    assert meta["inputs"] == [
        {"name": "image", "shape": [-1, 8, 8, 1], "dtype": "float32"},
        {"name": "token_ids", "shape": [-1, 6], "dtype": "int32"},
    ]
    assert meta["outputs"] == [
        {"name": "scores", "shape": [-1, 3], "dtype": "float32"},
        {"name": "embedding", "shape": [-1, 2], "dtype": "float32"},
    ]
    for name in ("savedmodel", "onnx", "tflite"):
        assert set(meta["artifacts"][name]["outputs"]) == {"scores", "embedding"}  # each output compared
    # int32 token ids pass through the full-integer model unquantised; only float tensors are scaled.
    assert meta["artifacts"]["tflite_int8"]["metric"]["name"] == "relative_rmse_vs_keras"


def test_artifacts_take_named_inputs_and_return_every_output(pair, pair_export):
    out, _ = pair_export
    x = two_input_data(5, seed=9)
    expected = {name: np.asarray(value) for name, value in pair(x).items()}
    for name in ("savedmodel", "onnx", "tflite"):
        predictor = load_artifact(out, name)
        for rows in (5, 1):
            outputs = predictor({key: value[:rows] for key, value in x.items()})
            assert set(outputs) == {"scores", "embedding"}, name
            for key in outputs:
                np.testing.assert_allclose(outputs[key], expected[key][:rows], atol=1e-4, err_msg=f"{name} {key}")
        with pytest.raises(ValueError, match="pass a dict of named arrays"):
            predictor(x["image"])
        with pytest.raises(ValueError, match="Inputs must be exactly"):
            predictor({"image": x["image"]})


def test_onnx_and_tflite_carry_the_names_and_a_shared_dynamic_batch(pair_export):
    import onnx
    from ai_edge_litert.interpreter import Interpreter

    out, _ = pair_export
    graph = onnx.load(str(out / "model.onnx")).graph
    assert sorted(value.name for value in graph.input) == ["image", "token_ids"]
    assert sorted(value.name for value in graph.output) == ["embedding", "scores"]
    for value in (*graph.input, *graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch", value.name
    int32 = onnx.TensorProto.INT32
    assert {v.name: v.type.tensor_type.elem_type for v in graph.input}["token_ids"] == int32
    runner = Interpreter(model_path=str(out / "model.tflite")).get_signature_runner("serving_default")
    assert sorted(runner.get_input_details()) == ["image", "token_ids"]
    assert sorted(runner.get_output_details()) == ["embedding", "scores"]
    assert runner.get_input_details()["token_ids"]["dtype"] == np.int32


def _break_output(fmt, output):
    """`fmt` whose loader shifts one output: verification must catch it on that output alone."""
    import dataclasses

    def load(path, *args, **kwargs):
        predictor = fmt.load(path, *args, **kwargs)

        def run(feeds):
            outputs = predictor(feeds)
            outputs[output] = outputs[output] + 0.5
            return outputs

        return export_formats.Predictor(run, predictor.info, inputs=predictor.inputs)

    return dataclasses.replace(fmt, load=load)


def test_every_output_is_verified(pair, tmp_path, monkeypatch):
    monkeypatch.setitem(FORMATS, "onnx", _break_output(FORMATS["onnx"], "embedding"))
    (result,) = export_model(pair, tmp_path, ["onnx"], sample_inputs=two_input_data(8, 2))
    assert not result.verified
    assert "outputs differ from Keras: embedding: max |diff| 0.5" in result.error and "scores:" not in result.error


class AgreementTask(Task):
    """A task whose comparison and objective are its own: the export must use them, by name."""

    name = "agreement_probe"
    objective = ("agreement", "max")

    def __init__(self):
        self.compared = []

    def compare_outputs(self, name, reference, actual, atol, rtol):
        self.compared.append(name)
        return CheckOutcome(True, f"{name}: accepted by the task")

    def quantized_reference(self, reference_outputs):
        return np.argmax(reference_outputs["scores"], axis=-1)

    def score(self, y_true, outputs, class_names=None):
        return {"agreement": float(np.mean(np.argmax(outputs["scores"], axis=-1) == y_true))}


def test_verification_uses_the_tasks_comparison_and_objective(pair, tmp_path, monkeypatch):
    task = AgreementTask()
    monkeypatch.setitem(FORMATS, "onnx", _break_output(FORMATS["onnx"], "embedding"))  # the task accepts it
    results = {r.format: r for r in export_model(pair, tmp_path, ["onnx", "tflite_dynamic"], sample_inputs=two_input_data(16, 3), task=task)}
    assert results["onnx"].verified, results["onnx"].error
    assert sorted(set(task.compared)) == ["embedding", "scores"] and len(task.compared) == 4  # whole batch, then batch 1
    metric = results["tflite_dynamic"].metric
    assert results["tflite_dynamic"].verified and metric["name"] == "agreement" and metric["targets"] == "keras predictions"
    assert metric["keras"] == 1.0 and metric["higher_is_better"]
    assert read_metadata(tmp_path)["task"] == "agreement_probe"


def test_string_endpoint_exports_as_savedmodel_and_other_formats_say_why_not(tmp_path):
    model = string_model()
    text = np.array([b"cat", b"zebra", b"bird", b"dog"], dtype=object)
    results = {r.format: r for r in export_model(model, tmp_path, ["savedmodel", "onnx", "tflite"], sample_inputs={"text": text})}
    assert results["savedmodel"].verified, results["savedmodel"].error
    for name, format_name in (("onnx", "ONNX"), ("tflite", "TFLite")):
        error = results[name].error
        assert not results[name].verified and "\n" not in error
        assert f"{format_name} cannot carry string tensors (input 'text', output 'label')" in error, error
    meta = read_metadata(tmp_path)
    assert meta["inputs"] == [{"name": "text", "shape": [-1], "dtype": "string"}]
    assert {o["name"]: o["dtype"] for o in meta["outputs"]} == {"label": "string", "index": "int64"}
    outputs = load_artifact(tmp_path, "savedmodel")({"text": ["dog", "fish"]})
    assert outputs["label"].tolist() == [b"dog", b"[UNK]"] and outputs["index"].tolist() == [2, 0]
    assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "model.tflite").exists()


def test_a_one_input_one_output_model_keeps_the_names_input_and_output(tmp_path):
    inputs = keras.Input((4,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    (result,) = export_model(model, tmp_path, ["onnx"], sample_inputs=np.ones((3, 4), np.float32))
    assert result.verified, result.error
    meta = read_metadata(tmp_path)
    assert [t["name"] for t in meta["inputs"]] == ["input"] and [t["name"] for t in meta["outputs"]] == ["output"]
    # The keras.Input name is accepted as well.
    assert load_artifact(tmp_path, "onnx")({"input": np.ones((2, 4), np.float32)})["output"].shape == (2, 2)
    assert export_model(model, tmp_path, ["onnx"], sample_inputs={"features": np.ones((3, 4), np.float32)})[0].verified


# --- staging folders of killed exports ----------------------------------------------------------


_KILLED_EXPORT = """
import os, sys
from export.staging import ExportStaging
staging = ExportStaging(sys.argv[1]).__enter__()
(staging.workdir / "model.onnx").write_bytes(b"half an artifact")
os.kill(os.getpid(), 9)
"""


def test_a_killed_export_leaves_staging_that_the_next_export_removes(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    models = tmp_path / "repository" / "digits"
    killed = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, str(models / "2")], cwd=ROOT, capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    (stale,) = [p.name for p in models.iterdir()]
    assert stale.startswith(".2.staging-")
    unowned = models / ".1.staging-q1w2e3"  # named before staging folders named their owner
    unowned.mkdir()
    os.utime(unowned, (time.time() - 3600, time.time() - 3600))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        time.sleep(0.5)
        live = models / f".3.staging-{sleeper.pid}-a1b2c3"  # an export still running in another process
        live.mkdir()
        (result,) = export_model(model, models / "3", ["onnx"], sample_inputs=np.ones((2, 4), np.float32))
        assert result.verified, result.error
        assert sorted(p.name for p in models.iterdir()) == sorted(["3", live.name])
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its owner is gone now: the next export removes it too.
    export_model(model, models / "4", ["onnx"], sample_inputs=np.ones((2, 4), np.float32))
    assert sorted(p.name for p in models.iterdir()) == ["3", "4"]
