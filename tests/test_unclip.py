"""Row checks of dalle2_unclip (spec §2 G): a tiny unCLIP composed of `clip` and `diffusion_ddpm`."""

import numpy as np
import pytest

import architectures
from architectures.generative.clip import CLIP
from architectures.generative.diffusion import DDPM
from tasks import get_task


@pytest.fixture(scope="module")
def model():
    return architectures.create_model("dalle2_unclip", config="tiny", seed=0)


def _step_inputs(model, n=2, seed=0):
    x, _ = get_task("diffusion").example_batch(model, n, seed)
    return x


def test_unclip_is_clip_text_tower_then_prior_then_conditional_ddpm(model):
    assert isinstance(model.clip, CLIP) and isinstance(model.decoder, DDPM)
    assert model.decoder.condition_dim == model.clip.get_layer("text_embedding").output.shape[-1] == 16
    x = _step_inputs(model)
    text = np.asarray(model.clip({"image": np.zeros((2, 24, 24, 3), np.float32), "caption_ids": x["caption_ids"]})["text_embedding"])
    np.testing.assert_allclose(np.asarray(model.text_encoder(x["caption_ids"])), text, rtol=1e-5, atol=1e-6)  # CLIP's own text tower
    embedding = model.image_embedding(x["caption_ids"])
    np.testing.assert_allclose(embedding, np.asarray(model.prior(text)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)  # a unit CLIP image embedding
    # The endpoint's denoising step is the decoder's step conditioned on the prior's output.
    step = model(x, training=False)
    decoder = model.decoder({"x_t": x["x_t"], "timestep": x["timestep"], "z": x["z"], "condition": embedding}, training=False)
    for key in ("epsilon", "x_prev"):
        assert step[key].shape == (2, 24, 24, 3)
        np.testing.assert_allclose(np.asarray(step[key]), np.asarray(decoder[key]), rtol=1e-4, atol=1e-5)


def test_caption_conditioning_changes_the_step_and_the_sample():
    model = architectures.create_model("dalle2_unclip", config="tiny", seed=0, timesteps=4)
    model.decoder.get_layer("condition_dense").set_weights(
        [w + np.random.default_rng(0).normal(0, 0.5, w.shape).astype(np.float32) for w in model.decoder.get_layer("condition_dense").get_weights()]
    )
    x = _step_inputs(model)
    other = dict(x, caption_ids=x["caption_ids"][::-1].copy())
    assert not np.allclose(np.asarray(model(x)["epsilon"]), np.asarray(model(other)["epsilon"]))
    same = np.repeat(x["caption_ids"][:1], 2, axis=0)
    different = np.concatenate([x["caption_ids"][:1], x["caption_ids"][1:]])
    a = model.sample(2, seed=3, condition={"caption_ids": same})
    b = model.sample(2, seed=3, condition={"caption_ids": different})
    assert a.shape == (2, 24, 24, 3) and np.isfinite(a).all()
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-3)  # same caption, same noise: same image
    assert np.abs(a[1] - b[1]).max() > 1e-2  # another caption, same noise: another image
    with pytest.raises(ValueError, match="caption_ids"):
        model.sample(2, seed=0)


def test_decoder_drops_the_embedding_in_training_and_samples_with_classifier_free_guidance():
    model = architectures.create_model("dalle2_unclip", config="tiny", seed=0, timesteps=4, condition_dropout=0.999)
    decoder = model.decoder
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, 24, 24, 3)).astype(np.float32)
    embedding = rng.standard_normal((4, 16)).astype(np.float32)
    t, noise = np.array([0, 1, 2, 3], np.int32), rng.standard_normal(images.shape).astype(np.float32)
    dropped = float(decoder.diffusion_loss(images, embedding, timesteps=t, noise=noise, training=True))
    null = float(decoder.diffusion_loss(images, np.zeros_like(embedding), timesteps=t, noise=noise))
    assert dropped == pytest.approx(null, rel=1e-5)  # training replaced the embedding by the null (zero) condition
    assert float(decoder.diffusion_loss(images, embedding, timesteps=t, noise=noise)) != pytest.approx(null, rel=1e-3)
    # Guidance: ε = ε(∅) + s·(ε(c) − ε(∅)), then the same ancestral step.
    x = {"x_t": noise, "timestep": t, "z": rng.standard_normal(images.shape).astype(np.float32), "condition": embedding}
    conditional = np.asarray(decoder(x)["epsilon"])
    unconditional = np.asarray(decoder(dict(x, condition=np.zeros_like(embedding)))["epsilon"])
    guided = unconditional + 3.0 * (conditional - unconditional)
    expected = decoder.get_layer("ancestral_step")(x["x_t"], guided, t, x["z"])
    np.testing.assert_allclose(np.asarray(decoder._denoising_step(3.0)(x)), np.asarray(expected), rtol=1e-4, atol=1e-5)
    # s = 0 is the unconditional model; s = 1 the plain conditional one.
    np.testing.assert_allclose(
        decoder.sample(4, seed=1, condition=embedding, guidance_scale=0.0), decoder.sample(4, seed=1, condition=np.zeros_like(embedding)), rtol=1e-4, atol=1e-2
    )


def test_training_loss_is_clip_plus_prior_plus_decoder(model):
    x = _step_inputs(model, 4)
    samples = np.random.default_rng(0).uniform(0, 255, (4, 24, 24, 3)).astype(np.float32)
    t = np.array([0, 10, 500, 999], np.int32)
    noise = np.random.default_rng(1).standard_normal(samples.shape).astype(np.float32)
    parts = {k: float(v) for k, v in model.losses_of(samples, {"caption_ids": x["caption_ids"]}, timesteps=t, noise=noise).items()}
    assert parts["loss"] == pytest.approx(parts["clip"] + parts["prior"] + parts["decoder"], rel=1e-5)
    image_embedding = np.asarray(model.clip({"image": samples, "caption_ids": x["caption_ids"]})["image_embedding"])
    decoder = float(model.decoder.diffusion_loss(samples, image_embedding, timesteps=t, noise=noise))
    assert parts["decoder"] == pytest.approx(decoder, rel=1e-5)  # trained on the true CLIP image embedding
    with pytest.raises(ValueError, match="square RGB"):
        architectures.create_model("dalle2_unclip", config="tiny", data_shape=(24, 16, 3))


def test_shapes_unclip_data_and_the_diffusion_task_read_it():
    from pipelines import sources_multimodal as data

    dataset = data.load_shapes_unclip(n=8)
    ids = dataset.x["caption_ids"]
    assert dataset.x["samples"].shape == (8, 24, 24, 3) and ids.shape == (8, 8)
    words = [" ".join(data.VOCABULARY[i] for i in row if i) for row in ids]
    assert all(data.SHAPE_NAMES[label] in caption.split() for caption, label in zip(words, dataset.y))
    overrides = get_task("diffusion").model_overrides(dataset, dataset.x, {"data_shape", "value_range"})
    assert overrides == {"data_shape": [24, 24, 3], "value_range": [0.0, 255.0]}
