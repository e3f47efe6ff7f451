"""Row checks of the Transformer, GPT, BERT, ViT (spec §2 H) and the motion autoencoder (§2 K)."""

import math

import keras
import numpy as np
import pytest

import architectures
from architectures.sequence import transformers as tf_models
from tasks import text as text_task


def _tiny(name, **overrides):
    return architectures.create_model(name, config="tiny", **overrides)


# --- Transformer ---------------------------------------------------------------------------------


def test_transformer_masks_padding_and_future_tokens():
    model = _tiny("transformer")
    rng = np.random.default_rng(0)
    source = rng.integers(2, 30, size=(2, 6)).astype(np.int32)
    source[:, 4:] = 0
    decoder = rng.integers(4, 30, size=(2, 5)).astype(np.int32)
    base = np.asarray(model({"source_ids": source, "decoder_ids": decoder}))
    # Padding: a longer run of padding changes no output.
    padded = np.asarray(model({"source_ids": np.pad(source, [[0, 0], [0, 3]]), "decoder_ids": decoder}))
    np.testing.assert_allclose(padded, base, atol=1e-5)
    # Causal: changing the last decoder token leaves every earlier position's logits unchanged.
    changed = decoder.copy()
    changed[:, -1] = (changed[:, -1] + 7) % 26 + 4
    after = np.asarray(model({"source_ids": source, "decoder_ids": changed}))
    np.testing.assert_allclose(after[:, :-1], base[:, :-1], atol=1e-5)
    assert np.abs(after[:, -1] - base[:, -1]).max() > 1e-4


def test_sinusoidal_encoding_matches_the_formula():
    table = tf_models.sinusoidal_encoding(10, 8)
    pos, i = 7, 2
    assert table[pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / 8)), abs=1e-6)
    assert table[pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / 8)), abs=1e-6)
    in_graph = np.asarray(tf_models.SinusoidalPositions()(np.zeros((1, 10, 8), np.float32)))[0]
    np.testing.assert_allclose(in_graph, table, atol=1e-5)


def test_transformer_shares_one_scaled_embedding_with_the_output_projection():
    model = _tiny("transformer")
    embeddings = [w for w in model.weights if "embeddings" in w.path]
    assert len(embeddings) == 1  # source, target and pre-softmax: one matrix
    layer = model.get_layer("shared_embedding")
    table = np.asarray(layer.embeddings)
    np.testing.assert_allclose(np.asarray(layer(np.array([[5]]))), table[5][None, None] * math.sqrt(16), rtol=1e-6)
    hidden = np.random.default_rng(1).normal(size=(1, 2, 16)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(hidden, reverse=True)), hidden @ table[: len(model.target_vocabulary)].T, rtol=1e-4, atol=1e-5)


def test_transformer_loss_is_label_smoothed_over_real_tokens():
    model = _tiny("transformer")
    assert model.label_smoothing == 0.1
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 32)).astype(np.float32)
    targets = np.array([[5, 6, 3, 0], [7, 3, 0, 0]], np.int32)
    ours = float(model.compute_loss(y=targets, y_pred=logits))
    real = targets != 0
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction=None)(
        np.eye(32, dtype=np.float32)[targets], logits)
    assert ours == pytest.approx(float(np.asarray(reference)[real].mean()), rel=1e-5)


def test_warmup_schedule_is_the_papers():
    from pipelines.optim import TransformerSchedule

    schedule = TransformerSchedule(512, 4000)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    for step in (1, 100, 4000, 20000):
        expected = 512**-0.5 * min(step**-0.5, step * 4000**-1.5)
        assert float(schedule(step - 1)) == pytest.approx(expected, rel=1e-5)  # Keras counts steps from 0


def test_transformer_greedy_decoding_matches_teacher_forced_argmax():
    model = _tiny("transformer")
    source = np.array([[5, 6, 7, 0]], np.int32)
    ids = np.asarray(text_task.greedy_ids(model, source))[0]
    decoder = np.concatenate([[text_task.START_ID], ids[:-1]])[None].astype(np.int32)
    logits = np.asarray(model({"source_ids": source, "decoder_ids": decoder}))[0]
    stop = int(np.flatnonzero(ids == text_task.END_ID)[0]) + 1 if (ids == text_task.END_ID).any() else len(ids)
    np.testing.assert_array_equal(np.argmax(logits, -1)[:stop], ids[:stop])


# --- GPT -----------------------------------------------------------------------------------------


def test_gpt_is_causal():
    model = _tiny("gpt")
    ids = np.random.default_rng(3).integers(4, 48, size=(2, 9)).astype(np.int32)
    base = np.asarray(model(ids))
    changed = ids.copy()
    changed[:, 5:] = (changed[:, 5:] + 11) % 44 + 4
    after = np.asarray(model(changed))
    np.testing.assert_allclose(after[:, :5], base[:, :5], atol=1e-5)
    assert np.abs(after[:, 5:] - base[:, 5:]).max() > 1e-4


def test_gpt_key_value_cache_generates_the_same_tokens():
    model = _tiny("gpt")
    prompt = np.random.default_rng(4).integers(4, 48, size=(2, 3)).astype(np.int32)
    cached = tf_models.generate_ids(model, prompt, 10, use_cache=True, jit_compile=False)
    recomputed = tf_models.generate_ids(model, prompt, 10, use_cache=False, jit_compile=False)
    np.testing.assert_array_equal(cached, recomputed)
    # And the first generated token is the argmax of the plain forward pass.
    np.testing.assert_array_equal(cached[:, 0], np.argmax(np.asarray(model(prompt))[:, -1], -1))


# --- BERT ----------------------------------------------------------------------------------------


def test_bert_masking_is_15_percent_with_80_10_10():
    rng = np.random.default_rng(5)
    ids = rng.integers(2, 100, size=(400, 50)).astype(np.int32)
    ids[:, 45:] = 0  # padding is never chosen
    inputs, labels = tf_models.mask_tokens(ids, rng, mask_id=103, vocabulary_low=2, vocabulary_high=100, protected=(101, 102))
    chosen = labels != 0
    assert not chosen[:, 45:].any()
    assert chosen[:, :45].mean() == pytest.approx(0.15, abs=0.01)
    np.testing.assert_array_equal(labels[chosen], ids[chosen])
    masked = (inputs == 103)[chosen].mean()
    kept = (inputs == ids)[chosen].mean()  # includes random draws that hit the same id (1/98 of 10 %)
    assert masked == pytest.approx(0.8, abs=0.02)
    assert kept == pytest.approx(0.1 + 0.1 / 98, abs=0.02)
    np.testing.assert_array_equal(inputs[~chosen], ids[~chosen])


def test_bert_pretraining_pairs_and_loss_fall():
    vocabulary = ["", "[UNK]", *[f"w{i}" for i in range(20)]]
    bert = _tiny("bert", vocabulary=vocabulary, vocabulary_size=len(vocabulary))
    sentences = [" ".join(f"w{(i + j) % 20}" for j in range(5)) for i in range(40)]
    x, y = tf_models.pretraining_batch(bert, sentences, seed=0)
    assert (x["token_ids"][:, 0] == bert.cls_id).all()
    assert set(np.unique(x["segment_ids"])) == {0, 1}
    assert 0.3 < y["nsp"].mean() < 0.7
    pretrainer = tf_models.BertPretrainer(bert)
    # [MASK] is a row of the tied embedding, and the MLM logits cover every row.
    assert bert.mask_id == len(vocabulary) + 2 == pretrainer.output["mlm"].shape[-1] - 1
    pretrainer.compile_pretraining(keras.optimizers.Adam(1e-2))
    losses = pretrainer.fit(x, y, batch_size=len(y["nsp"]), epochs=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    # The pre-trainer shares the classifier's encoder weights.
    assert pretrainer.get_layer("bert_encoder") is bert.get_layer("bert_encoder")


# --- ViT and the motion autoencoder --------------------------------------------------------------


def test_vit_tiny_uses_4x4_patches():
    model = _tiny("vit")
    assert model.get_layer("patch_projection").kernel_size == (4, 4)
    assert model.get_layer("positions").max_length == (16 // 4) ** 2 + 1  # patches + [class]


def test_vit_patch_tokens_are_contiguous_4x4_blocks_in_row_major_order():
    model = _tiny("vit")
    images = np.random.default_rng(6).uniform(0, 255, size=(2, 16, 16, 3)).astype(np.float32)
    tokens = np.asarray(keras.Model(model.input, model.get_layer("patch_sequence").output)(images))
    kernel, bias = (np.asarray(w) for w in model.get_layer("patch_projection").weights)
    # numpy reference: cut the image into 4×4 blocks, row by row, flatten each, project.
    blocks = images.reshape(2, 4, 4, 4, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 16, 48) / 255.0
    np.testing.assert_allclose(tokens, blocks @ kernel.reshape(48, -1) + bias, rtol=1e-4, atol=1e-5)


def test_vit_class_token_and_positions_train_and_the_head_reads_the_class_token():
    model = _tiny("vit")
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert {"class_token", "positions"} <= trainable
    features = keras.Model(model.input, model.get_layer("encoder_norm").output)
    images = np.random.default_rng(7).uniform(0, 255, size=(2, 16, 16, 3)).astype(np.float32)
    head = model.get_layer("predictions")
    np.testing.assert_allclose(np.asarray(head(np.asarray(features(images))[:, 0])), np.asarray(model(images)), rtol=1e-5, atol=1e-6)


def test_motion_autoencoder_halves_time_and_reconstructs_in_input_units():
    from pipelines.sources_motion import load_walk_cycles

    data = load_walk_cycles(n_clips=8, frames=32)
    model = _tiny("motion_autoencoder", value_range=data.value_range)
    out = model(data.x)
    assert tuple(out["code"].shape) == (8, 16, 16)
    assert tuple(out["reconstruction"].shape) == data.x.shape
    # The styles differ in amplitude: the tired walk moves less than the energetic one.
    styles = list(data.class_names)
    spread = {s: data.x[data.y == styles.index(s)].std(axis=1).mean() for s in ("tired", "energetic")}
    assert spread["tired"] < spread["energetic"]


# --- canonical sizes -----------------------------------------------------------------------------


@pytest.mark.large
def test_canonical_sizes():
    counts = {}
    for name, config in (("bert", tf_models.BERT_LARGE), ("gpt", {}), ("vit", {})):
        # Shapes only: the variables never run their initialisers (as deepzoo.conformance counts).
        with keras.StatelessScope(initialize_variables=False):
            counts[name] = architectures.create_model(name, **config).count_params()
        keras.backend.clear_session()
    assert counts["bert"] == tf_models.bert_parameter_count(**tf_models.BERT_LARGE)
    assert abs(counts["bert"] - 340e6) / 340e6 < 0.015  # 335.1 M vs the paper's rounded 340 M
    assert abs(counts["gpt"] - 117e6) / 117e6 < 0.01
    assert abs(counts["vit"] - 86e6) / 86e6 < 0.01
    model = architectures.create_model("motion_autoencoder")
    assert model.get_layer("encoder_conv").kernel_size == (25,) and model.get_layer("encoder_conv").filters == 256
    assert tuple(model.output["code"].shape[1:]) == (120, 256)
