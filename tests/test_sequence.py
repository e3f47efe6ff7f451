"""Family H, sequence models: the translation corpus (spec §8.2 H), the text task's tokenisation,
decoding and score (tasks/text.py), and RNNsearch (seq2seq_bahdanau): attention, greedy vs beam
search, the .keras round trip and the exported endpoints."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.registry import constructor_arguments
from architectures.sequence.seq2seq_bahdanau import RNNSEARCH, paper_parameter_count
from pipelines import sources_text
from pipelines.datasets import load_dataset
from tasks import get_task, text

TASK = get_task("translation")
MODEL = "seq2seq_bahdanau"


def model_for(dataset, train=slice(0, 240), **overrides):
    """The tiny RNNsearch with vocabularies adapted on `dataset[train]` (the training pipeline's way)."""
    spec = architectures.get_spec(MODEL)
    vocabularies = TASK.model_overrides(dataset, dataset.x[train], constructor_arguments(spec), y_train=dataset.y[train])
    return architectures.create_model(MODEL, config="tiny", **vocabularies, **overrides)


@pytest.fixture
def corpus():
    return load_dataset("translation", seed=0, n_pairs=300)


# --- the corpus ---------------------------------------------------------------------------------


def test_corpus_is_deterministic_unique_and_seeded():
    first, again = load_dataset("translation", seed=5, n_pairs=400), load_dataset("translation", seed=5, n_pairs=400)
    assert first.x.tolist() == again.x.tolist() and first.y.tolist() == again.y.tolist()
    other = load_dataset("translation", seed=6, n_pairs=400)
    assert first.x.tolist() != other.x.tolist()
    assert len(set(first.x.tolist())) == len(first) == 400  # held-out sentences are new sentences
    # The lexicon is the language: the same word translates the same way under every seed.
    assert sources_text.target_lexicon() == sources_text.target_lexicon()
    assert len(set(sources_text.target_lexicon().values())) == len(sources_text.SOURCE_WORDS)


def test_corpus_reordering_rules():
    dataset = load_dataset("translation", seed=1, n_pairs=500)
    lexicon = sources_text.target_lexicon()
    verbs = set(sources_text.TRANSITIVE_VERBS + sources_text.INTRANSITIVE_VERBS)
    nouns, adjectives = set(sources_text.NOUNS), set(sources_text.ADJECTIVES)
    adverbs, prepositions = set(sources_text.ADVERBS), set(sources_text.PREPOSITIONS)
    swaps = moved_adverbs = postpositions = 0
    for source, target in zip(dataset.x, dataset.y):
        words, translated = source.split(), target.split()
        # Every word translated once: a reordering, not a word-by-word copy.
        assert sorted(translated) == sorted(lexicon[w] for w in words)
        # Verb-final.
        verb = next(w for w in words if w in verbs)
        assert translated[-1] == lexicon[verb]

        def target_position(i):
            """Where source word i went: noun phrases keep their order, so its k-th occurrence."""
            occurrence = words[: i + 1].count(words[i])
            return [j for j, w in enumerate(translated) if w == lexicon[words[i]]][occurrence - 1]

        for i, word in enumerate(words[:-1]):
            # One adjective before a noun in the source -> noun then adjective in the target.
            if word in adjectives and words[i + 1] in nouns and (i == 0 or words[i - 1] not in adjectives):
                j = target_position(i + 1)
                assert translated[j + 1] == lexicon[word], (source, target)
                swaps += 1
            # Two adjectives come in mirror order after the noun.
            if word in adjectives and words[i + 1] in adjectives:
                j = target_position(i + 2)
                assert translated[j + 1 : j + 3] == [lexicon[words[i + 1]], lexicon[word]], (source, target)
            # A preposition follows its noun phrase (the postposition comes before the verb).
            if word in prepositions:
                assert translated[-2] == lexicon[word], (source, target)
                postpositions += 1
        # The adverb ends the source clause and follows the subject noun phrase in the target.
        if words[-1] in adverbs:
            subject_length = words.index(verb)
            assert translated[subject_length] == lexicon[words[-1]], (source, target)
            moved_adverbs += 1
    assert min(swaps, moved_adverbs, postpositions) > 50  # every rule is exercised


# --- tokenisation -------------------------------------------------------------------------------


def test_vocabularies_come_from_the_training_split_and_round_trip(corpus):
    model = model_for(corpus)
    assert model.target_vocabulary[:4] == ["", "[UNK]", "[start]", "[end]"]
    assert model.source_vocabulary[:2] == ["", "[UNK]"]
    train_words = {w for s in corpus.x[:240] for w in s.split()}
    assert set(model.source_vocabulary[2:]) == train_words  # adapted on the training split only
    # Round trip of training targets: ids -> text gives the sentence back.
    decoder_ids, targets = text.teacher_forcing(model, corpus.y[:20])
    assert (decoder_ids[:, 0] == text.START_ID).all()
    assert text.detokenize(targets, model.target_vocabulary).tolist() == corpus.y[:20].tolist()
    # Standardisation, out-of-vocabulary words and reserved tokens.
    word = model.source_vocabulary[5]
    ids = text.tokenize([f"{word.upper()}, zebraword [start]!"], model.source_vocabulary)[0]
    assert ids.tolist() == [5, text.UNK_ID, text.UNK_ID]  # "[start]" standardises to "start": unknown
    unseen = sorted({w for s in corpus.x[240:] for w in s.split()} - train_words)
    if unseen:  # a word seen only outside the training split is [UNK]
        assert text.tokenize([unseen[0]], model.source_vocabulary)[0].tolist() == [text.UNK_ID]


def test_vocabularies_are_saved_with_the_model(corpus, tmp_path):
    model = model_for(corpus)
    batch = TASK.fit_inputs(model, corpus.x[:6], corpus.y[:6])
    path = tmp_path / "translator.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.source_vocabulary == model.source_vocabulary
    assert reloaded.target_vocabulary == model.target_vocabulary
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_allclose(np.asarray(reloaded(batch)), np.asarray(model(batch)), rtol=1e-6, atol=1e-6)
    assert TASK.predict(reloaded, corpus.x[:6])["translation"].tolist() == TASK.predict(model, corpus.x[:6])["translation"].tolist()


def test_vocabulary_arguments_are_checked():
    with pytest.raises(ValueError, match="must start with the reserved tokens"):
        architectures.create_model(MODEL, config="tiny", target_vocabulary=["", "[UNK]", "a", "b"], target_vocabulary_size=4)
    with pytest.raises(ValueError, match="must equal the length"):
        architectures.create_model(MODEL, config="tiny", source_vocabulary=["", "[UNK]", "a"], source_vocabulary_size=9)


# --- the model ----------------------------------------------------------------------------------


def test_parameter_count_formula_matches_the_build():
    """The paper's bias-free count (the registry's reference) is the built model minus its biases."""
    config = architectures.get_spec(MODEL).tiny_config
    model = architectures.create_model(MODEL, config="tiny")
    biases = sum(int(np.prod(w.shape)) for w in model.weights if "bias" in w.path)
    assert model.count_params() - biases == paper_parameter_count(**config)
    # RNNsearch-50: 80,401,000 from Appendix A; with biases 80,442,000.
    assert paper_parameter_count(**RNNSEARCH) == 80_401_000


def test_attention_weights_are_a_distribution_over_real_source_words(corpus):
    model = model_for(corpus)
    batch = TASK.fit_inputs(model, corpus.x[:8], corpus.y[:8])
    alignments = np.asarray(model.alignments(batch["source_ids"], batch["decoder_ids"]))
    padding = batch["source_ids"] == text.PAD_ID
    assert padding.any()  # the batch mixes sentence lengths
    assert alignments.shape == (*batch["decoder_ids"].shape, batch["source_ids"].shape[1])
    np.testing.assert_allclose(alignments.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(alignments >= 0)
    assert np.abs(alignments[np.broadcast_to(padding[:, None, :], alignments.shape)]).max() < 1e-6


def test_portable_encoder_and_teacher_forcing_agree_with_the_training_graph(corpus):
    model = model_for(corpus)
    source = text.source_ids(model, corpus.x[:8])
    (memory, state), (portable, portable_state) = model.encode(source), model.encode(source, portable=True)
    real = np.asarray(memory["mask"])
    np.testing.assert_allclose(np.asarray(portable["annotations"])[real], np.asarray(memory["annotations"])[real], atol=1e-6)
    np.testing.assert_allclose(np.asarray(portable_state), np.asarray(state), atol=1e-6)
    # decode_step, step by step, gives the logits of the teacher-forced training graph.
    batch = TASK.fit_inputs(model, corpus.x[:8], corpus.y[:8])
    logits = np.asarray(model(batch))
    for t in range(batch["decoder_ids"].shape[1]):
        step_logits, state, _ = model.decode_step(batch["decoder_ids"][:, t], state, memory)
        np.testing.assert_allclose(np.asarray(step_logits), logits[:, t], rtol=1e-4, atol=1e-4)


# --- decoding and score -------------------------------------------------------------------------


def test_beam_search_finds_what_greedy_misses_on_a_toy_chain():
    """A Markov chain where the greedy first word leads to a poor continuation: beam search must
    find the most probable sequence (checked by enumerating every sequence)."""
    vocabulary, length = 5, 3  # words 1 and 4; 2 = [start], 3 = [end]
    probabilities = np.full((vocabulary, vocabulary), 1e-6)
    probabilities[text.START_ID, [1, 4]] = [0.6, 0.4]  # greedy takes word 1 ...
    probabilities[1, [1, 3, 4]] = [0.34, 0.33, 0.33]  # ... which leads nowhere in particular,
    probabilities[4, [3, 1]] = [0.9, 0.1]  # while word 4 then [end] has p = 0.36
    table = np.log(probabilities)

    def step(previous, state, rows):
        return table[np.asarray(previous)], state

    def log_prob(sequence):
        previous, total = text.START_ID, 0.0
        for token in sequence:
            total += text._log_softmax(table[previous])[token]
            if token == text.END_ID:
                break
            previous = token
        return total

    greedy, greedy_score = text.beam_search(step, None, 1, 1, length)
    beam, beam_score = text.beam_search(step, None, 1, 8, length)
    best = max(itertools.product(range(vocabulary), repeat=length), key=log_prob)
    assert np.isclose(beam_score[0], log_prob(best)) and np.isclose(greedy_score[0], log_prob(greedy[0]))
    assert beam[0, :2].tolist() == [4, text.END_ID] and greedy[0].tolist() == [1, 1, 1]
    assert beam_score[0] > greedy_score[0] + 1.0


def test_greedy_and_beam_search_on_the_model(corpus):
    model = model_for(corpus)
    source = text.source_ids(model, corpus.x[:6])
    greedy = np.asarray(text.greedy_ids(model, source))
    one, _ = text.beam_search_ids(model, source, beam_size=1)
    np.testing.assert_array_equal(one, greedy)  # beam size 1 is greedy decoding
    beam, beam_scores = text.beam_search_ids(model, source, beam_size=4)
    # The reported scores are log p(y|x) of the returned sentences under teacher forcing ...
    np.testing.assert_allclose(beam_scores, text.sequence_log_probs(model, source, beam), rtol=1e-4, atol=1e-3)
    # ... and no lower than greedy's.
    assert np.all(beam_scores >= text.sequence_log_probs(model, source, greedy) - 1e-4)
    predicted = TASK.predict(model, corpus.x[:6], beam_size=4)
    assert predicted["translation"].tolist() == text.detokenize(beam, model.target_vocabulary).tolist()


def test_bleu_of_identical_strings_is_100_and_of_others_less():
    references = np.array(["lo kasa grande vide", "na gato duerme ahora", "re mute zabe lu zumeme"])
    assert TASK.score(references, {"translation": references.copy()})["bleu"] == pytest.approx(100.0)
    worse = TASK.score(references, {"translation": np.array(["lo kasa vide", "na gato", "zumeme re mute"])})
    assert worse["bleu"] < 60.0 and worse["exact_match"] == 0.0
    assert TASK.objective == ("bleu", "max")


def test_training_check_and_alignment_plot(corpus, tmp_path):
    model = model_for(corpus)
    x, y = TASK.example_batch(model, 8, seed=0)
    # A token batch is already what fit takes: the fit hooks pass it through.
    assert TASK.fit_inputs(model, x, y) is x and TASK.fit_targets(model, y).tolist() == y.tolist()
    outcome = TASK.check_training(model, x, y)
    assert outcome.ok, outcome.detail
    TASK.plots(tmp_path, model, corpus.x[:3], corpus.y[:3], {})
    assert (tmp_path / "alignments.png").stat().st_size > 5_000


# --- export -------------------------------------------------------------------------------------


def test_savedmodel_string_endpoint_translates_like_keras(corpus, tmp_path):
    model = model_for(corpus)
    sentences = np.array([*corpus.x[250:256], "", "The DOG, sees a zebraword!"])
    expected = TASK.predict(model, sentences)["translation"].tolist()
    endpoint = TASK.export_endpoint(model)
    assert [t.name for t in endpoint.inputs] == ["source"] and endpoint.inputs[0].dtype == "string"
    endpoint.export(str(tmp_path / "savedmodel"), format="tf_saved_model", verbose=False)
    serving = tf.saved_model.load(str(tmp_path / "savedmodel")).signatures["serving_default"]
    translated = serving(source=tf.constant(sentences.astype(object)))["translation"].numpy()
    assert [t.decode() for t in translated] == expected
    assert TASK.compare_outputs("translation", np.array(expected, dtype=object), translated, 0, 0).ok
    # The sweep's token batch becomes sentences for this endpoint, and they vectorise back.
    x, y = TASK.example_batch(model, 4, seed=0)
    inputs, targets = TASK.export_samples(endpoint, x, y)
    np.testing.assert_array_equal(text.source_ids(model, inputs["source"]), x["source_ids"])
    assert text.teacher_forcing(model, targets)[1].tolist() == y.tolist()


@pytest.mark.slow
def test_id_endpoint_converts_to_onnx_and_tflite_builtins(corpus, tmp_path):
    """The ONNX / TFLite endpoint: tf2onnx and the TFLite converter restricted to builtin ops both
    convert it, and both runtimes decode the same ids as Keras."""
    import onnxruntime
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    model = model_for(corpus)
    endpoint = TASK.export_endpoint(model, format="onnx")
    inputs, targets = TASK.export_samples(endpoint, corpus.x[250:258], corpus.y[250:258])
    expected = np.asarray(endpoint(inputs)["target_ids"])
    # The id endpoint is scored on ids: the reference ids, decoded like an output, score 100.
    reference_ids = text.teacher_forcing(model, corpus.y[250:258])[1]
    assert TASK.score(targets, {"target_ids": reference_ids})["bleu"] == pytest.approx(100.0)
    assert (expected == text.END_ID).any() or expected.shape == (8, model.max_output_length)

    function = tf.function(
        lambda source_ids: endpoint({"source_ids": source_ids}),
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids")],
    )
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=17)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {session.get_inputs()[0].name: inputs["source_ids"]})[0], expected)

    endpoint.export(str(tmp_path / "ids"), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "ids"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex
    runner = Interpreter(model_content=converter.convert()).get_signature_runner()
    np.testing.assert_array_equal(runner(**inputs)["target_ids"], expected)

    # The vocabularies travel beside the id artifacts: line number = id.
    assets = TASK.export_assets(model, format="onnx")
    assert assets["source_vocabulary.txt"].split("\n")[:-1] == model.source_vocabulary
    assert assets["target_vocabulary.txt"].split("\n")[:-1] == model.target_vocabulary
    assert TASK.export_assets(model, format="savedmodel") == {}


@pytest.mark.slow
def test_one_export_folder_holds_the_string_and_the_id_endpoints(corpus, tmp_path):
    """`Task.export_endpoints` groups formats by endpoint: the SavedModel takes strings, ONNX takes
    token ids with the vocabularies written beside it; deepzoo.json records each artifact's own
    signature, and `serve --runtime auto` picks the artifact of the default (string) endpoint."""
    from export.formats import export_model, load_artifact, read_metadata
    from serving.repository import _select_artifact

    model = model_for(corpus)
    groups = TASK.export_endpoints(model, ["savedmodel", "onnx"])
    assert [names for _, names in groups] == [["savedmodel"], ["onnx"]]
    out = tmp_path / "export"
    for endpoint, names in reversed(groups):  # as export_run does: the default endpoint last
        inputs, targets = TASK.export_samples(endpoint, corpus.x[250:254], corpus.y[250:254])
        results = export_model(endpoint, out, formats=names, sample_inputs=inputs, targets=targets, task=TASK,
                               assets=TASK.export_assets(model, format=names[0]))
        assert all(r.verified for r in results), [r.error for r in results]
    metadata = read_metadata(out)
    assert [t["name"] for t in metadata["inputs"]] == ["source"]
    assert [t["name"] for t in metadata["artifacts"]["savedmodel"]["signature"]["inputs"]] == ["source"]
    assert [(t["name"], t["dtype"]) for t in metadata["artifacts"]["onnx"]["signature"]["inputs"]] == [("source_ids", "int32")]
    assert metadata["artifacts"]["onnx"]["assets"] == ["source_vocabulary.txt", "target_vocabulary.txt"]
    assert (out / "target_vocabulary.txt").read_text().split("\n")[:-1] == model.target_vocabulary

    sentences = np.asarray(corpus.x[250:254]).astype(object)
    strings = load_artifact(out, "savedmodel")({"source": sentences})["translation"]
    ids = load_artifact(out, "onnx")({"source_ids": text.source_ids(model, sentences)})["target_ids"]
    vocabulary = (out / "target_vocabulary.txt").read_text().split("\n")[:-1]
    assert text.detokenize(ids, vocabulary).tolist() == [s.decode() if isinstance(s, bytes) else s for s in strings]
    assert _select_artifact(out, metadata, "auto")[0] == "savedmodel"
    assert _select_artifact(out, metadata, "onnx")[0] == "onnx"


def test_export_assets_must_be_plain_file_names(corpus, tmp_path):
    from export.formats import export_model

    model = model_for(corpus)
    for bad in ("../escape.txt", "deepzoo.json", "model.onnx", ".hidden"):
        with pytest.raises(ValueError, match="plain file name"):
            export_model(TASK.export_endpoint(model, format="onnx"), tmp_path / "x", formats="onnx", assets={bad: "x"})
    assert not (tmp_path / "x").exists()
