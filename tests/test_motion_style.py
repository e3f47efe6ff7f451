"""Motion style transfer (Aberman et al. 2020): AdaIN, the content encoder's instance norm, the
multi-head discriminator, the two-optimiser training step, the walk-cycle style pairs."""

import numpy as np
import pytest

import architectures
from architectures.three_d.motion_style import (
    AdaIN,
    MotionStyleTransfer,
    TemporalInstanceNorm,
)
from tasks import get_task


@pytest.fixture(scope="module")
def model():
    return architectures.create_model("motion_style_transfer", config="tiny")


def _clips(n=4, seed=0):
    from pipelines.sources_motion import walk_style_pairs

    return walk_style_pairs(n, frames=32, seed=seed)


def test_adain_output_has_the_style_mean_and_std():
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, 5.0, size=(2, 40, 6)).astype("float32")
    gamma = rng.uniform(0.5, 2.0, size=(2, 6)).astype("float32")
    beta = rng.normal(0.0, 3.0, size=(2, 6)).astype("float32")
    out = np.asarray(AdaIN(epsilon=1e-8)([features, gamma, beta]))
    np.testing.assert_allclose(out.mean(axis=1), beta, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=1), gamma, rtol=1e-3)


def test_instance_norm_removes_style_statistics(model):
    rng = np.random.default_rng(1)
    h = rng.normal(size=(2, 16, 5)).astype("float32")
    scale, shift = rng.uniform(0.5, 3.0, size=(1, 1, 5)), rng.normal(0.0, 4.0, size=(1, 1, 5))
    norm = TemporalInstanceNorm(epsilon=1e-8)
    np.testing.assert_allclose(np.asarray(norm(h * scale + shift)), np.asarray(norm(h)), atol=1e-4)
    # A constant posture offset of every channel (a lean, a raised arm) does not reach the content
    # code: the first conv maps it to a constant per output channel, which the instance norm removes.
    content = _clips()[0]
    offset = rng.normal(0.0, 0.2, size=(1, 1, content.shape[-1])).astype("float32")
    code = np.asarray(model.content_encoder(content))
    np.testing.assert_allclose(np.asarray(model.content_encoder(content + offset)), code, atol=1e-4)
    assert not np.allclose(np.asarray(model.style_encoder(content + offset)), np.asarray(model.style_encoder(content)), atol=1e-3)


def test_discriminator_has_one_output_per_style(model):
    content = _clips()[0]
    scores = np.asarray(model.discriminator(content))
    assert scores.shape[-1] == model.num_styles == 4
    for style in range(model.num_styles):
        picked = np.asarray(model.style_scores(content, np.full(len(content), style)))
        np.testing.assert_allclose(picked, scores.mean(axis=1)[:, style], rtol=1e-5, atol=1e-6)


def test_a_training_step_moves_both_networks():
    import keras

    model = MotionStyleTransfer(frames=32, features=30, num_styles=4, content_filters=(8,), style_filters=(8,), decoder_filters=(),
                                mlp_units=8, discriminator_filters=(8,))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    assert model.d_optimizer is not model.optimizer
    content, style, _, content_label, style_label = _clips(8)
    networks = (model.content_encoder, model.style_encoder, model.decoder, model.discriminator)
    before = [[np.array(w) for w in n.trainable_weights] for n in networks]
    logs = model.train_on_batch({"content": content, "style": style}, {"content_label": content_label, "style_label": style_label}, return_dict=True)
    assert {"loss", "d_loss", "reconstruction", "joint", "cycle", "g_adversarial"} <= set(logs)
    for network, weights in zip(networks, before):
        moved = [not np.allclose(a, np.array(b)) for a, b in zip(weights, network.trainable_weights)]
        assert all(moved), (network.name, moved)


def test_endpoint_and_data(model):
    content, style, target, content_label, style_label = _clips(16)
    from pipelines.sources_motion import STYLES, walk_cycle

    # The scoring target is the content gait walked in the style clip's style: same style → near the content.
    same = style_label == content_label
    assert same.any() and np.abs(target - content).mean(axis=(1, 2))[same].max() < 0.01
    assert target.shape == content.shape == style.shape == (16, 32, 30)
    assert walk_cycle(32, list(STYLES)[style_label[0]]).shape == (32, 15, 2)
    outputs = get_task("image_to_image").predict(model, {"content": content, "style": style})
    assert outputs["generated"].shape == content.shape
    other = get_task("image_to_image").predict(model, {"content": content, "style": style[::-1]})
    assert not np.allclose(outputs["generated"], other["generated"])
    with pytest.raises(ValueError, match="frames"):
        MotionStyleTransfer(frames=30, content_filters=(8, 8), decoder_filters=(8,))
    with pytest.raises(ValueError, match="content_label"):
        model._labels({"style_label": style_label})
    from pipelines.datasets import load_dataset

    with pytest.raises(ValueError, match="frames"):
        load_dataset("walk_cycle_styles", frames=30)
