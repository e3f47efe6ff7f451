"""Family H, recurrent and 1-D convolutional rows: every cell against a hand-unrolled numpy
recurrence, the spec's parameter formulas, the notes' worked LSTM example (004), padding masks of
the text classifier and the tagger, the text task's vocabulary handling, the embedded sequence
corpora, TFLite with unroll=True, and the canonical ECG ResNet's structure."""

import keras
import numpy as np
import pytest

import architectures
from architectures.registry import constructor_arguments
from architectures.sequence import cells
from architectures.sequence.conv1d import HANNUN_SUBSAMPLE
from pipelines import sources_sequences
from pipelines.datasets import load_dataset
from tasks import get_task
from tasks.sequence import IGNORED_TAG, token_ids

STEPS, FEATURES, UNITS = 5, 3, 4


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def run_cell(cell, x, seed=0):
    """The cell's outputs [N, T, n] over `x` in a Keras RNN, after drawing every weight at random
    (peepholes start at zero, so they would otherwise test nothing); returns outputs and weights."""
    rnn = keras.layers.RNN(cell, return_sequences=True)
    rnn.build(x.shape)
    rng = np.random.default_rng(seed)
    for weight in rnn.weights:
        weight.assign(rng.normal(0.0, 0.5, size=weight.shape).astype("float32"))
    return np.asarray(rnn(x)), cell


@pytest.fixture
def sequence():
    return np.random.default_rng(7).normal(size=(2, STEPS, FEATURES)).astype("float32")


def unrolled(x, step, state):
    outputs = []
    for t in range(x.shape[1]):
        output, state = step(x[:, t], state)
        outputs.append(output)
    return np.stack(outputs, axis=1)


def test_elman_cell_is_the_numpy_recurrence(sequence):
    actual, cell = run_cell(cells.make_cell("simple", UNITS), sequence)
    w, u, b = (np.asarray(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))

    def step(x, h):
        h = np.tanh(x @ w + h @ u + b)  # h_t = tanh(W_hx·x_t + W_hh·h_{t−1} + b_h), h_0 = 0
        return h, h

    np.testing.assert_allclose(actual, unrolled(sequence, step, np.zeros((2, UNITS))), atol=1e-5)


def test_lstm_cell_is_the_numpy_recurrence(sequence):
    actual, cell = run_cell(cells.make_cell("lstm", UNITS), sequence)
    w, u, b = (np.asarray(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))

    def step(x, state):
        h, c = state
        i, f, g, o = np.split(x @ w + h @ u + b, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        return h, (h, c)

    zeros = np.zeros((2, UNITS))
    np.testing.assert_allclose(actual, unrolled(sequence, step, (zeros, zeros)), atol=1e-5)


def variant_step(cell, peephole=None, coupled=False, forget_gate=True):
    """The numpy step of LSTMVariantCell's equations (cells.py docstring), independent of its code."""
    w, u, b = (np.asarray(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    p = {gate: np.asarray(v) for gate, v in getattr(cell, "peephole_weights", {}).items()}

    def peek(gate, c):
        if peephole is None:
            return 0.0
        return c * p[gate] if peephole == "diagonal" else c @ p[gate]

    blocks = ("f", "c", "o") if coupled else (("i", "f", "c", "o") if forget_gate else ("i", "c", "o"))

    def step(x, state):
        h, c = state
        z = dict(zip(blocks, np.split(x @ w + h @ u + b, len(blocks), axis=-1)))
        f = sigmoid(z["f"] + peek("f", c)) if forget_gate else 1.0
        i = 1.0 - f if coupled else sigmoid(z["i"] + peek("i", c))
        c = f * c + i * np.tanh(z["c"])
        o = sigmoid(z["o"] + peek("o", c))  # the output gate peeks at the new C_t
        h = o * np.tanh(c)
        return h, (h, c)

    return step


@pytest.mark.parametrize(
    "options",
    [dict(peephole="diagonal"), dict(peephole="full"), dict(coupled=True), dict(forget_gate=False), dict(coupled=True, peephole="diagonal")],
    ids=["peephole_diagonal", "peephole_full", "cifg", "cec_1997", "cifg_peephole"],
)
def test_lstm_variant_cells_are_the_numpy_recurrence(sequence, options):
    actual, cell = run_cell(cells.LSTMVariantCell(UNITS, **options), sequence)
    zeros = np.zeros((2, UNITS))
    np.testing.assert_allclose(actual, unrolled(sequence, variant_step(cell, **options), (zeros, zeros)), atol=1e-5)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_cell_is_the_numpy_recurrence_in_both_reset_conventions(sequence, reset_after):
    actual, cell = run_cell(cells.make_cell("gru", UNITS, reset_after=reset_after), sequence)
    w, u, b = (np.asarray(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    input_bias, recurrent_bias = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))

    def step(x, h):
        xz, xr, xh = np.split(x @ w + input_bias, 3, axis=-1)
        uz, ur, uh = np.split(u, 3, axis=-1)
        bz, br, bh = np.split(recurrent_bias, 3)
        z = sigmoid(xz + h @ uz + bz)
        r = sigmoid(xr + h @ ur + br)
        # Cho et al.: the reset gate before the product; cuDNN form: after it.
        candidate = np.tanh(xh + r * (h @ uh + bh)) if reset_after else np.tanh(xh + (r * h) @ uh)
        h = z * h + (1.0 - z) * candidate  # the notes' 004 form is this with z ↔ 1 − z
        return h, h

    np.testing.assert_allclose(actual, unrolled(sequence, step, np.zeros((2, UNITS))), atol=1e-5)


def test_the_notes_worked_lstm_example():
    # 004: C_{t−1} = [−0.5, 0.2], f = [0.1, 1], C̃ = [0.9, −0.75], i = [0.8, 0] → C_t = [0.67, 0.2].
    c = cells.lstm_cell_update(np.array([-0.5, 0.2]), np.array([0.1, 1.0]), np.array([0.8, 0.0]), np.array([0.9, -0.75]))
    np.testing.assert_allclose(c, [0.67, 0.2], atol=1e-12)


@pytest.mark.parametrize(
    "kind, options, formula",
    [
        ("simple", {}, lambda n, m: n * (n + m + 1)),
        ("lstm", {}, lambda n, m: 4 * (n * (n + m) + n)),
        ("peephole", {}, lambda n, m: 4 * (n * (n + m) + n) + 3 * n),
        ("peephole", {"peephole": "full"}, lambda n, m: 4 * (n * (n + m) + n) + 3 * n * n),
        ("cifg", {}, lambda n, m: 3 * (n * (n + m) + n)),
        ("cec", {}, lambda n, m: 3 * (n * (n + m) + n)),
        ("lstm", {"forget_gate": False}, lambda n, m: 3 * (n * (n + m) + n)),
        ("gru", {"reset_after": False}, lambda n, m: 3 * (n * (n + m) + n)),
        ("gru", {"reset_after": True}, lambda n, m: 3 * (n * (n + m) + n) + 3 * n),
    ],
)
def test_cell_parameter_counts_are_the_spec_formulas(kind, options, formula):
    n, m = 6, 5
    rnn = keras.layers.RNN(cells.make_cell(kind, n, **options))
    rnn.build((None, 7, m))
    assert rnn.count_params() == formula(n, m) == cells.cell_parameter_count(kind, n, m, **options)


def test_forget_gate_bias_starts_at_one():
    cell = cells.LSTMVariantCell(3, peephole="diagonal")
    cell.build((None, 2))
    np.testing.assert_array_equal(np.asarray(cell.bias).reshape(4, 3)[1], 1.0)  # blocks i, f, c, o
    with pytest.raises(ValueError, match="peephole"):
        cells.LSTMVariantCell(3, peephole="sparse")
    # The lstm row's forget_gate=False option is the 1997 CEC cell: C_t = C_{t−1} + i ⊙ C̃_t.
    model = architectures.create_model("lstm", config="tiny", cell_options={"forget_gate": False})
    assert isinstance(model.get_layer("recurrent").cell, cells.LSTMVariantCell) and not model.get_layer("recurrent").cell.forget_gate


# --- masking ----------------------------------------------------------------------------------------


def _variable_length(name):
    return architectures.create_model(name, config="tiny")  # the tiny configs take any length


def test_padding_does_not_change_the_classifier_output():
    model = _variable_length("lstm_classifier")
    sentence = np.array([[5, 9, 2, 17, 33]], np.int32)
    padded = np.pad(sentence, [[0, 0], [0, 7]])
    alone = np.asarray(model(sentence))
    np.testing.assert_allclose(np.asarray(model(padded)), alone, atol=1e-6)
    # In a batch with a longer sentence, the short one is padded and still gives the same output.
    batch = np.concatenate([padded, np.arange(2, 14, dtype=np.int32)[None]], axis=0)
    np.testing.assert_allclose(np.asarray(model(batch))[:1], alone, atol=1e-6)
    # unroll=True (the TFLite form) with a fixed length computes the same function.
    unrolled_model = architectures.create_model("lstm_classifier", config="tiny", sequence_length=12, unroll=True)
    unrolled_model.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(unrolled_model(padded)), alone, atol=1e-6)


def test_padding_does_not_change_the_tags_of_real_words():
    model = _variable_length("sequence_tagger")
    sentence = np.array([[5, 9, 2, 17, 33]], np.int32)
    alone = np.asarray(model(sentence))
    padded = np.asarray(model(np.pad(sentence, [[0, 0], [0, 7]])))
    # The backward LSTM starts at the last real word, not at the padding.
    np.testing.assert_allclose(padded[:, :5], alone, atol=1e-6)


# --- the text tasks -----------------------------------------------------------------------------------


def test_vocabulary_comes_from_the_training_split_and_is_saved_with_the_model(tmp_path):
    dataset = load_dataset("sentiment", n=300)
    task, spec = get_task("text_classification"), architectures.get_spec("lstm_classifier")
    overrides = task.model_overrides(dataset, dataset.x[:200], constructor_arguments(spec), y_train=dataset.y[:200])
    assert overrides["vocabulary"][:2] == ["", "[UNK]"] and overrides["vocabulary_size"] == len(overrides["vocabulary"])
    training_words = {w for s in dataset.x[:200] for w in s.split()}
    assert set(overrides["vocabulary"][2:]) == training_words
    model = architectures.create_model("lstm_classifier", config="tiny", **overrides)
    ids = task.fit_inputs(model, dataset.x[:4], dataset.y[:4])
    assert ids.shape == (4, max(len(s.split()) for s in dataset.x[:4])) and ids.dtype == np.int32
    words = dataset.x[0].split()
    assert [model.vocabulary[i] for i in ids[0, : len(words)]] == words and not ids[0, len(words):].any()
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert list(reloaded.vocabulary) == overrides["vocabulary"]
    np.testing.assert_allclose(task.predict(reloaded, dataset.x[:4])["probabilities"], task.predict(model, dataset.x[:4])["probabilities"], atol=1e-6)
    assert task.export_assets(model, format="onnx")["vocabulary.txt"].splitlines()[2] == overrides["vocabulary"][2]


def test_tagging_score_ignores_padding():
    task = get_task("sequence_tagging")
    y = np.array([[1, 0, 2, IGNORED_TAG], [0, 0, IGNORED_TAG, IGNORED_TAG]])
    probabilities = np.eye(3)[[[1, 0, 2, 1], [0, 1, 1, 1]]]  # wrong only at [1, 1] among real words
    report = task.score(y, {"probabilities": probabilities}, ["O", "PER", "LOC"])
    assert report["token_accuracy"] == pytest.approx(4 / 5) and report["num_tokens"] == 5
    assert report["sequence_accuracy"] == pytest.approx(0.5)


# --- corpora --------------------------------------------------------------------------------------------


def test_sentiment_negation_and_contrast_decide_the_label():
    dataset = load_dataset("sentiment", seed=3, n=600)
    assert load_dataset("sentiment", seed=3, n=600).x.tolist() == dataset.x.tolist()
    for text, label in zip(dataset.x, dataset.y):
        clause = text.split(" but ")[-1].split()
        adjective = clause[-1]
        polarity = int(adjective in sources_sequences.POSITIVE)
        assert adjective in sources_sequences.POSITIVE + sources_sequences.NEGATIVE
        assert label == polarity ^ int("not" in clause), text


def test_ner_tags_one_per_word_and_ambiguous_names_take_both_tags():
    dataset = load_dataset("ner", seed=1, n=800)
    tags_of = {}
    for text, tags in zip(dataset.x, dataset.y):
        words = text.split()
        assert len(words) == int((tags != IGNORED_TAG).sum()) and np.all(tags[len(words):] == IGNORED_TAG)
        for word, tag in zip(words, tags):
            tags_of.setdefault(word, set()).add(int(tag))
    assert tags_of["london"] == {2} and tags_of["potter"] == {1} and tags_of["visited"] == {0}
    assert any(tags_of.get(word) == {1, 2} for word in sources_sequences.AMBIGUOUS)
    model = architectures.create_model("sequence_tagger", config="tiny",
                                       **get_task("sequence_tagging").model_overrides(dataset, dataset.x, ["vocabulary", "vocabulary_size"]))
    assert token_ids(model, dataset.x[:3]).shape[1] == max(len(s.split()) for s in dataset.x[:3])


def test_synthetic_sequences_follow_their_rules():
    echo = load_dataset("delayed_echo", n=50, steps=10, lag=4)
    np.testing.assert_array_equal(echo.y, echo.x[:, 10 - 1 - 4].argmax(-1))
    ahead = load_dataset("lookahead_steps", n=20, lag=2)
    np.testing.assert_array_equal(ahead.y[:, :-2], ahead.x.argmax(-1)[:, 2:])
    assert not ahead.y[:, -2:].any()
    delayed = load_dataset("delayed_sum_steps", n=20, lag=2)
    s = delayed.x.argmax(-1)
    np.testing.assert_array_equal(delayed.y[:, 2:], (s[:, 2:] + s[:, :-2]) % 4)


def test_synthetic_ecg_rhythms_differ_as_described():
    from scipy.signal import find_peaks

    rng = np.random.default_rng(0)
    variability = {}
    for rhythm in (0, 1):
        spreads = []
        for _ in range(6):
            signal = sources_sequences.ecg_record(rng, rhythm, seconds=10.0)
            peaks, _ = find_peaks(signal, height=0.5, distance=60)
            rr = np.diff(peaks)
            spreads.append(rr.std() / rr.mean())
        variability[rhythm] = np.mean(spreads)
    assert variability[1] > 4 * variability[0]  # AF: irregularly irregular RR
    noisy = [np.std(np.diff(sources_sequences.ecg_record(rng, 3, 4.0))) for _ in range(4)]
    normal = [np.std(np.diff(sources_sequences.ecg_record(rng, 0, 4.0))) for _ in range(4)]
    assert min(noisy) > 3 * max(normal)
    dataset = load_dataset("ecg_rhythm", n=40)
    assert dataset.x.shape == (40, 800, 1) and np.bincount(dataset.y).tolist() == [10] * 4


# --- export and structure -------------------------------------------------------------------------------


def test_unrolled_text_classifier_converts_to_tflite_builtins(tmp_path):
    from export import export_model

    task = get_task("text_classification")
    model = architectures.create_model("lstm_classifier", config="tiny", unroll=True, sequence_length=12)
    x, _ = task.example_batch(model, 4, seed=0)
    results = export_model(task.export_endpoint(model, format="tflite"), tmp_path, formats=["tflite"], sample_inputs={"token_ids": x}, task=task)
    assert results[0].verified, results[0].error


def test_kim_cnn_layers():
    model = architectures.create_model("conv1d_sequence", config="tiny")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [c.kernel_size[0] for c in convs] == [3, 4, 5]
    assert isinstance(model.get_layer("predictions").kernel_constraint, keras.constraints.MaxNorm)
    # Sentences shorter than the widest filter still classify (zero vectors pad both ends).
    short = architectures.create_model("conv1d_sequence", config="tiny", sequence_length=None)
    assert np.asarray(short(np.array([[4, 7]], np.int32))).shape == (1, 2)
    # The registered configs pad to a fixed length (Kim's code: 56 for MR): a sentence's scores do
    # not depend on the other sentences of its batch.
    task = get_task("text_classification")
    model.vocabulary = ["", "[UNK]", *(f"w{i}" for i in range(2, 64))]
    alone = task.predict(model, np.array(["w2 w3"]))["probabilities"]
    batched = task.predict(model, np.array(["w2 w3", " ".join(f"w{i}" for i in range(2, 16))]))["probabilities"][:1]
    np.testing.assert_allclose(alone, batched, atol=1e-6)


@pytest.mark.large
def test_canonical_ecg_resnet_is_hannuns_34_layers():
    model = architectures.create_model("ecg_1d_cnn")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs) == 33 and len(dense) == 1 and len(HANNUN_SUBSAMPLE) == 16
    assert {c.kernel_size[0] for c in convs} == {16}
    assert [c.filters for c in convs[1::8]] == [32, 64, 128, 256]
    steps = keras.Model(model.inputs, model.get_layer("step_predictions").output)
    assert steps(np.zeros((1, 256 * 10, 1), "float32")).shape == (1, 10, 4)  # one output per 256 samples


def test_tagger_endpoint_takes_held_out_sentences_as_token_ids():
    dataset = load_dataset("ner", n=60)
    task = get_task("sequence_tagging")
    overrides = task.model_overrides(dataset, dataset.x[:40], constructor_arguments(architectures.get_spec("sequence_tagger")))
    model = architectures.create_model("sequence_tagger", config="tiny", **overrides)
    endpoint = task.export_endpoint(model)
    inputs, targets = task.export_samples(endpoint, dataset.x[40:], dataset.y[40:])
    assert list(inputs) == ["token_ids"] and inputs["token_ids"].shape == dataset.y[40:].shape
    np.testing.assert_array_equal(inputs["token_ids"] != 0, dataset.y[40:] != IGNORED_TAG)
    outputs = endpoint(inputs)
    assert tuple(outputs["probabilities"].shape) == (*dataset.y[40:].shape, 3)
    report = task.score(targets, {"probabilities": np.asarray(outputs["probabilities"])}, list(sources_sequences.TAGS))
    assert report["num_tokens"] == int((dataset.y[40:] != IGNORED_TAG).sum())


def test_text_classifier_serves_sentences_from_savedmodel_and_token_ids_elsewhere(tmp_path):
    """SavedModel takes sentences (vocabulary in the graph), ONNX takes token ids with
    vocabulary.txt beside it; both give Keras' probabilities for the same held-out sentences."""
    from export.formats import export_model, load_artifact, read_metadata
    from tasks import get_task

    task = get_task("text_classification")
    dataset = load_dataset("sentiment", seed=0)
    spec = architectures.get_spec("lstm_classifier")
    overrides = task.model_overrides(dataset, dataset.x[:200], constructor_arguments(spec))
    model = architectures.create_model("lstm_classifier", config="tiny", **overrides)
    sentences = np.asarray(dataset.x[200:206])
    expected = task.predict(model, sentences)["probabilities"]
    for endpoint, names in reversed(task.export_endpoints(model, ["savedmodel", "onnx"])):
        inputs, _ = task.export_samples(endpoint, sentences, None)
        results = export_model(endpoint, tmp_path, formats=names, sample_inputs=inputs, task=task,
                               assets=task.export_assets(model, format=names[0]))
        assert all(r.verified for r in results), [r.error for r in results]
    metadata = read_metadata(tmp_path)
    assert [(t["name"], t["dtype"]) for t in metadata["inputs"]] == [("text", "string")]
    assert metadata["artifacts"]["onnx"]["assets"] == ["vocabulary.txt"]
    served = load_artifact(tmp_path, "savedmodel")({"text": sentences.astype(object)})["probabilities"]
    np.testing.assert_allclose(served, expected, atol=1e-5)
    vocabulary = (tmp_path / "vocabulary.txt").read_text().split("\n")[:-1]
    ids = task.export_samples(task.export_endpoint(model, format="onnx"), sentences, None)[0]
    assert vocabulary == list(model.vocabulary)
    np.testing.assert_allclose(load_artifact(tmp_path, "onnx")(ids)["probabilities"], expected, atol=1e-5)
