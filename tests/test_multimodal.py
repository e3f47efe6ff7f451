"""Row checks of the multimodal rows (spec §2 G and H): CLIP, DDPM, captioning, VQA, and their data."""

import math

import numpy as np
import pytest

import architectures
from architectures.generative import clip as clip_module
from architectures.generative import diffusion as ddpm_module
from pipelines import sources_multimodal as data
from tasks import get_task
from tasks.captioning import beam_caption_ids, caption_targets, greedy_caption_ids
from tasks.contrastive import PROMPT, caption_ids, zero_shot_logits

# --- data -------------------------------------------------------------------------------------------


def test_captions_and_questions_describe_the_scene():
    boxes = np.array([[0, 0, 4, 4], [0, 10, 4, 14]], np.float32)  # the first shape is above the second
    assert data.caption_of([0, 1], [0, 2], boxes) == "a red circle above a blue square"
    assert data.caption_of([2, 3], [1, 3], boxes[::-1]) == "a green triangle below a yellow star"
    side = np.array([[10, 0, 14, 4], [0, 0, 4, 4]], np.float32)
    assert data.caption_of([0, 1], [0, 1], side) == "a red circle right of a green square"
    scenes = data.colour_scenes(seed=3, n=24, image_size=32, objects=(1, 3))
    questions, answers, types = data.scene_questions(scenes, seed=3)
    for shapes, colours, question, answer, kind in zip(scenes["shapes"], scenes["colours"], questions, answers, types):
        word = data.ANSWERS[answer]
        if data.QUESTION_TYPES[kind] == "count":
            assert word == data.COUNT_WORDS[len(shapes) - 1]
        elif data.QUESTION_TYPES[kind] == "shape":
            colour = question.split()[-2]
            assert word == data.SHAPE_NAMES[shapes[list(colours).index(data.COLOUR_NAMES.index(colour))]]
    assert {data.QUESTION_TYPES[k] for k in types} == set(data.QUESTION_TYPES)
    ids = data.question_ids(questions)
    assert ids.shape == (24, data.QUESTION_LENGTH) and (ids != 1).all()  # every template word is in the vocabulary


# --- CLIP -------------------------------------------------------------------------------------------


def _tiny_clip(**overrides):
    vocabulary = ["", "[UNK]", "[start]", "[end]", "a", "photo", "of", "circle", "square", "red"]
    return architectures.create_model("clip", config="tiny", vocabulary=vocabulary, vocabulary_size=len(vocabulary), **overrides)


def test_clip_symmetric_infonce_and_learned_temperature():
    from keras import ops

    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, 8)).astype(np.float32)
    texts = rng.normal(size=(5, 8)).astype(np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    scale = 1 / 0.07
    logits = scale * images @ texts.T

    def cross_entropy(matrix):
        matrix = matrix - matrix.max(axis=1, keepdims=True)
        return -np.mean(np.diag(matrix) - np.log(np.exp(matrix).sum(axis=1)))

    expected = (cross_entropy(logits) + cross_entropy(logits.T)) / 2
    loss = float(clip_module.symmetric_infonce(ops.convert_to_tensor(images), ops.convert_to_tensor(texts), scale))
    assert loss == pytest.approx(expected, rel=1e-5)

    model = _tiny_clip()
    assert float(model.logit_scale()) == pytest.approx(1 / 0.07, rel=1e-5)  # initialised at 1/0.07 ...
    assert model.logit_scale.log_scale.trainable  # ... as a learned, log-parameterised scalar
    model.logit_scale.log_scale.assign(10.0)
    assert float(model.logit_scale()) == pytest.approx(100.0, rel=1e-5)  # clipped at 100


def test_clip_zero_shot_classifies_by_the_nearest_prompt():
    model = _tiny_clip()
    images = np.random.default_rng(1).uniform(0, 255, size=(6, 32, 32, 3)).astype(np.float32)
    logits = zero_shot_logits(model, images, ["circle", "square"])
    prompts = caption_ids(model, [PROMPT.format("circle"), PROMPT.format("square")])
    assert prompts[0].tolist()[:7] == [2, 4, 5, 6, 4, 7, 3]  # [start] a photo of a circle [end]
    outputs = model({"image": np.repeat(images[:1], 2, 0), "caption_ids": prompts}, training=False)
    image_embedding = np.asarray(outputs["image_embedding"])[0]
    texts = np.asarray(outputs["text_embedding"])
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(logits[0], float(model.logit_scale()) * texts @ image_embedding, rtol=1e-4, atol=1e-5)


def test_clip_resnet_image_encoder_builds_round_trips_and_pools_by_attention(tmp_path):
    import keras

    model = _tiny_clip(image_encoder="resnet", resnet_layers=(1, 1), resnet_width=8)
    assert model.get_config()["image_encoder"] == "resnet" and list(model.get_config()["resnet_layers"]) == [1, 1]
    names = [layer.name for layer in model.layers]
    assert "attention_pool" in names and "patch_embedding" not in names  # the ResNet replaced the ViT
    assert "resnet_stem3_conv" in names and "resnet_stage2_block1_blur" in names  # ResNet-D stem, anti-aliased stride
    rng = np.random.default_rng(0)
    inputs = {"image": rng.uniform(0, 255, size=(3, 32, 32, 3)).astype(np.float32), "caption_ids": np.array([[2, 4, 7, 3, 0, 0, 0, 0]] * 3, np.int32)}
    outputs = model(inputs, training=False)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(outputs["image_embedding"]), axis=1), 1.0, rtol=1e-5)
    path = tmp_path / "clip_resnet.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(np.asarray(loaded(inputs)["image_embedding"]), np.asarray(outputs["image_embedding"]), rtol=1e-5, atol=1e-6)

    # Attention pooling: one query (the mean token) over a set of positioned features, so permuting the
    # spatial positions together with their position embeddings leaves the output unchanged.
    pool = clip_module.AttentionPool2D(spatial=3, heads=2, output_dim=5)
    features = rng.normal(size=(2, 3, 3, 8)).astype(np.float32)
    expected = np.asarray(pool(features))
    order = rng.permutation(9)
    positions = np.asarray(pool.positions)
    pool.positions.assign(np.concatenate([positions[:1], positions[1:][order]]))
    permuted = features.reshape(2, 9, 8)[:, order].reshape(2, 3, 3, 8)
    np.testing.assert_allclose(np.asarray(pool(permuted)), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(pool(features)), expected, atol=1e-4)  # the positions do matter
    with pytest.raises(ValueError, match="image_encoder"):
        _tiny_clip(image_encoder="convnext")


# --- DDPM -------------------------------------------------------------------------------------------


def test_ddpm_schedule_and_closed_form_forward_process():
    values = ddpm_module.schedule()
    assert len(values["betas"]) == 1000
    assert values["betas"][0] == pytest.approx(1e-4) and values["betas"][-1] == pytest.approx(0.02)
    assert np.allclose(np.diff(values["betas"]), (0.02 - 1e-4) / 999)
    alpha_bar = values["alpha_bars"]
    assert alpha_bar[-1] < 1e-4  # x_T is (almost) pure noise
    x0 = np.full((20_000, 2), 1.5, np.float32)
    t = np.full(20_000, 300, np.int32)
    noise = np.random.default_rng(0).standard_normal(x0.shape).astype(np.float32)
    x_t = np.asarray(ddpm_module.q_sample(x0, t, noise, alpha_bar.astype(np.float32)))
    assert x_t.mean() == pytest.approx(math.sqrt(alpha_bar[300]) * 1.5, abs=0.02)
    assert x_t.var() == pytest.approx(1 - alpha_bar[300], rel=0.05)


def test_ddpm_epsilon_loss_and_ancestral_step():
    model = architectures.create_model("diffusion_ddpm", config="tiny", seed=0)
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(6, 2)).astype(np.float32)
    t = np.array([0, 1, 10, 500, 998, 999], np.int32)
    eps = rng.standard_normal((6, 2)).astype(np.float32)
    a = model.alpha_bars[t][:, None]
    x_t = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
    z = rng.standard_normal((6, 2)).astype(np.float32)
    out = model({"x_t": x_t, "timestep": t, "z": z}, training=False)
    predicted = np.asarray(out["epsilon"])
    loss = float(model.diffusion_loss(x0, timesteps=t, noise=eps))
    assert loss == pytest.approx(np.mean((eps - predicted) ** 2), rel=1e-4)
    betas = ddpm_module.linear_betas()[t][:, None]
    sigma = np.where(t[:, None] > 0, np.sqrt(betas), 0.0)  # no noise at the last step
    expected = (x_t - betas / np.sqrt(1 - a) * predicted) / np.sqrt(1 - betas) + sigma * z
    np.testing.assert_allclose(np.asarray(out["x_prev"]), expected, rtol=1e-4, atol=1e-5)


def test_ddpm_samples_digits_shape_through_the_unet():
    model = architectures.create_model(
        "diffusion_ddpm", config="tiny", data_shape=(8, 8, 1), value_range=(0.0, 255.0), width=8, timesteps=4
    )
    samples = model.sample(3, seed=0)
    assert samples.shape == (3, 8, 8, 1) and np.isfinite(samples).all()


def test_ddpm_image_step_clips_the_predicted_x0_and_equals_the_epsilon_form_inside_the_range():
    step = ddpm_module.AncestralStep(1000, 1e-4, 0.02, clip_denoised=True)
    plain = ddpm_module.AncestralStep(1000, 1e-4, 0.02)
    rng = np.random.default_rng(0)
    t = np.array([0, 1, 10, 500, 999], np.int32)
    a = ddpm_module.schedule()["alpha_bars"][t][:, None].astype(np.float32)
    x0 = rng.uniform(-0.9, 0.9, (5, 3)).astype(np.float32)
    eps = rng.standard_normal((5, 3)).astype(np.float32)
    x_t = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
    z = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(step(x_t, eps, t, z)), np.asarray(plain(x_t, eps, t, z)), rtol=1e-4, atol=1e-4)
    # An ε that puts x̂_0 far outside [-1, 1]: the last step (no noise) returns the clipped x̂_0.
    wild = -500.0 * np.sign(x_t)
    np.testing.assert_allclose(np.asarray(step(x_t, wild, t, z))[0], np.sign(x_t[0]), atol=1e-6)
    assert np.abs(np.asarray(plain(x_t, wild, t, z))[0]).min() > 4.0
    image_model = architectures.create_model("diffusion_ddpm", config="tiny", data_shape=(8, 8, 1), value_range=(0.0, 255.0), width=8, timesteps=4)
    assert image_model.get_layer("ancestral_step").clip_denoised  # images clip; the 2-D points (no range) do not
    assert not architectures.create_model("diffusion_ddpm", config="tiny").get_layer("ancestral_step").clip_denoised


# --- captioning -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["image_captioning", "image_captioning_attention"])
def test_captioner_step_decoding_matches_teacher_forcing_and_beam1_is_greedy(name):
    model = architectures.create_model(name, config="tiny", dropout=0.0)
    task = get_task("captioning")
    x, _ = task.example_batch(model, 3, 0)
    logits = np.asarray(model(x, training=False))
    memory, state = model.encode(x["image"])
    for t in range(4):  # the step protocol equals the training graph, position by position
        step_logits, state, _ = model.decode_step(x["decoder_ids"][:, t], state, memory)
        np.testing.assert_allclose(np.asarray(step_logits), logits[:, t], rtol=1e-4, atol=1e-5)
    greedy = np.asarray(greedy_caption_ids(model, x["image"]))
    beam, _ = beam_caption_ids(model, x["image"], beam_size=1)
    np.testing.assert_array_equal(beam, greedy)


def test_show_attend_tell_attention_is_a_distribution_with_the_doubly_stochastic_penalty():
    model = architectures.create_model("image_captioning_attention", config="tiny", doubly_stochastic_weight=1.0)
    x, _ = get_task("captioning").example_batch(model, 2, 0)
    alphas = np.asarray(model.alignments(x["image"], x["decoder_ids"]))
    assert alphas.shape == (2, model.caption_length, model.grid_shape[0] * model.grid_shape[1])
    np.testing.assert_allclose(alphas.sum(axis=-1), 1.0, rtol=1e-5)
    model(x, training=True)
    expected = np.mean(np.sum((1 - alphas.sum(axis=1)) ** 2, axis=-1))
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def test_caption_targets_are_teacher_forcing_pairs():
    model = architectures.create_model(
        "image_captioning", config="tiny",
        target_vocabulary=["", "[UNK]", "[start]", "[end]", "a", "red", "circle"], target_vocabulary_size=7,
    )
    decoder, target = caption_targets(model, ["a red circle"])
    assert decoder[0, :5].tolist() == [2, 4, 5, 6, 0] and target[0, :5].tolist() == [4, 5, 6, 3, 0]
    report = get_task("captioning").score(np.array(["a red circle"]), {"caption": np.array(["a red circle"])})
    assert report["bleu1"] == pytest.approx(100.0) and set(report) >= {"bleu1", "bleu2", "bleu3", "bleu4"}


# --- VQA --------------------------------------------------------------------------------------------


def test_vqa_fuses_a_normalised_image_and_the_lstm_question_state_elementwise():
    import keras

    model = architectures.create_model("vqa", config="tiny")
    x, _ = architectures.get_spec("vqa").example_batch(architectures.resolved_config("vqa", "tiny"), 0)
    probe = keras.Model(model.inputs, [model.get_layer("norm_i").output, model.get_layer("fusion").output,
                                       model.get_layer("image_projection").output, model.get_layer("question_projection").output])
    normalised, fused, image, question = (np.asarray(v) for v in probe(x, training=False))
    np.testing.assert_allclose(np.linalg.norm(normalised, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(fused, image * question, rtol=1e-5, atol=1e-6)
    assert model.get_layer("question_state").output.shape[-1] == 2 * 2 * 16  # [c1; h1; c2; h2]
    probabilities = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
