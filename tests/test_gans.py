"""Family G, the GAN rows (architectures/generative/gans.py): each row's own checks from the spec.

k discriminator steps per generator step; minimax vs non-saturating G loss (spec §9 row 28); LSGAN's
least-squares losses; the WGAN critic's weight clipping and the gradient penalty (unit-norm gradients
on interpolates); EBGAN's autoencoder discriminator with the margin loss; cGAN conditioning;
InfoGAN's Q recovering its code, latent interpolation and attribute vectors; BiGAN's encoder and
anomaly score; the ring of 8 Gaussians and mode coverage; `deepzoo sample`. Quality numbers (Fréchet
distances, mode counts, class accuracy, ROC AUC) are in benchmarks/bench_gans.py.
"""

import json

import keras
import numpy as np
import pytest
from keras import ops

import architectures
from architectures.generative.gans import attribute_vector, interpolate_latents
from tasks import generative
from tasks.generative import Generative, generate_samples, latent_noise

TASK = Generative()
RING_CENTRES = np.array([[-1.5, -1.5], [1.5, 1.5]], "float32")


def tiny(name, **overrides):
    return architectures.create_model(name, config="tiny", **overrides)


def tensor(values):
    return ops.convert_to_tensor(np.asarray(values, "float32"))


def two_blobs(n=2048, seed=0):
    """Points of two labelled blobs (class 0 at (−1.5, −1.5), class 1 at (1.5, 1.5)), σ 0.1."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype("int32")
    return RING_CENTRES[labels] + rng.normal(0.0, 0.1, (n, 2)).astype("float32"), labels


# --- the losses -----------------------------------------------------------------------------------


def test_least_squares_wasserstein_and_energy_losses_are_the_standard_forms():
    real, fake = np.array([[2.0], [0.5]], "float32"), np.array([[-1.0], [0.25]], "float32")
    # LSGAN, a = 0, b = c = 1, with the ½ factors.
    assert float(generative.least_squares_discriminator_loss(tensor(real), tensor(fake))) == pytest.approx(
        0.5 * np.mean((real - 1.0) ** 2) + 0.5 * np.mean(fake**2)
    )
    assert float(generative.least_squares_generator_loss(tensor(fake))) == pytest.approx(0.5 * np.mean((fake - 1.0) ** 2))
    # WGAN: the critic maximises E f(x) − E f(G(z)) (minimises the negative); G minimises −E f(G(z)).
    assert float(generative.wasserstein_critic_loss(tensor(real), tensor(fake))) == pytest.approx(np.mean(fake) - np.mean(real))
    assert float(generative.wasserstein_generator_loss(tensor(fake))) == pytest.approx(-np.mean(fake))
    # EBGAN: D(x) + [m − D(G(z))]⁺, the hinge only acting on fake energies below the margin.
    real_energy, fake_energy = np.array([0.2, 0.4], "float32"), np.array([0.5, 3.0], "float32")
    expected = np.mean(real_energy) + np.mean(np.maximum(0.0, 1.0 - fake_energy))
    assert float(generative.energy_discriminator_loss(tensor(real_energy), tensor(fake_energy), 1.0)) == pytest.approx(expected)
    # The pulling-away term: 0 for orthogonal codes, 1 for parallel ones.
    assert float(generative.pullaway_term(tensor(np.eye(3)))) == pytest.approx(0.0, abs=1e-6)
    assert float(generative.pullaway_term(tensor([[1.0, 0.0], [2.0, 0.0], [-3.0, 0.0]]))) == pytest.approx(1.0, rel=1e-5)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_squared_excess_otherwise():
    real = np.random.default_rng(0).normal(size=(16, 4, 4, 1)).astype("float32")
    fake = np.random.default_rng(1).normal(size=(16, 4, 4, 1)).astype("float32")
    direction = np.random.default_rng(2).normal(size=(16,)).astype("float32")
    direction /= np.linalg.norm(direction)
    for slope, expected in ((1.0, 0.0), (3.0, 4.0), (0.5, 0.25)):
        weights = tensor(slope * direction)

        def critic(x, training=True, weights=weights):
            return ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)) * weights, axis=1, keepdims=True)

        # A linear critic has the same gradient w at every interpolate: penalty (‖w‖ − 1)².
        assert float(generative.gradient_penalty(critic, tensor(real), tensor(fake))) == pytest.approx(expected, abs=1e-4)


def test_gan_row_plays_minimax_and_gan_nonsaturating_the_non_saturating_loss():
    fake = np.random.default_rng(0).uniform(0, 255, size=(6, 8, 8, 1)).astype("float32")
    for name, form in (("gan", "minimax"), ("gan_nonsaturating", "non_saturating")):
        model = tiny(name, seed=0)
        scaled = model.from_pixels(tensor(fake))
        logits = model.discriminator(scaled, training=False)
        loss = float(model._generator_objective(scaled, None, training=False))
        assert loss == pytest.approx(float(generative.generator_loss(logits, form)), rel=1e-5)
    # The notes' switch-back option: from step 0 the non-saturating row plays the minimax loss.
    model = tiny("gan_nonsaturating", seed=0, minimax_after_step=0)
    TASK.compile(model, keras.optimizers.Adam(1e-3))
    scaled = model.from_pixels(tensor(fake))
    logits = model.discriminator(scaled, training=False)
    assert float(model._generator_objective(scaled, None, training=False)) == pytest.approx(float(generative.generator_loss(logits, "minimax")), rel=1e-5)


# --- the training step ----------------------------------------------------------------------------


def test_k_discriminator_steps_per_generator_step_each_with_its_own_optimizer():
    model = tiny("gan_nonsaturating", discriminator_steps=3)
    x, y = TASK.example_batch(model, 8, 0)
    TASK.fit_example(model, x, y, epochs=2)
    assert int(model.optimizer.iterations) == 2 and int(model.d_optimizer.iterations) == 6
    assert TASK.check_training(tiny("wgan", discriminator_steps=3), x, y, epochs=2).ok  # expects k·epochs D steps


def test_wgan_clips_every_critic_weight_and_the_gp_option_trains_without_clipping():
    model = tiny("wgan", clip_value=0.01)
    x, y = TASK.example_batch(model, 8, 0)
    model.compile(keras.optimizers.RMSprop(0.5))  # a huge step: clipping must still hold
    model.fit(np.asarray(y), batch_size=8, epochs=2, verbose=0)
    largest = max(float(np.max(np.abs(np.asarray(w)))) for w in model.discriminator.trainable_weights)
    assert largest == pytest.approx(0.01)
    gp = tiny("wgan", clip_value=None, gradient_penalty_weight=10.0)
    gp.compile(keras.optimizers.Adam(1e-2, beta_1=0.0, beta_2=0.9))
    history = gp.fit(np.asarray(y), batch_size=8, epochs=2, verbose=0).history
    assert all(np.isfinite(history["d_loss"]))
    assert max(float(np.max(np.abs(np.asarray(w)))) for w in gp.discriminator.trainable_weights) > 0.05
    # The critic's loss includes λ·GP: with the penalty on, the loss of the same pair is larger.
    real, fake = gp.from_pixels(tensor(y)), gp.from_pixels(tensor(y[::-1]))
    with_gp = float(gp._discriminator_objective(real, fake, None)[0])
    without = float(generative.wasserstein_critic_loss(gp.discriminator(real), gp.discriminator(fake)))
    assert with_gp > without


def test_ebgan_discriminator_is_an_autoencoder_and_its_loss_uses_the_margin():
    model = tiny("ebgan", margin=2.0, seed=0)
    real = np.random.default_rng(0).uniform(0, 255, size=(5, 8, 8, 1)).astype("float32")
    scaled = model.from_pixels(tensor(real))
    reconstruction, code = model.discriminator(scaled, training=False)
    assert tuple(reconstruction.shape) == (5, 8, 8, 1) and tuple(code.shape) == (5, 16)
    energy = np.mean((np.asarray(reconstruction) - np.asarray(scaled)) ** 2, axis=(1, 2, 3))
    loss, d_real, d_fake = model._discriminator_objective(scaled, scaled[::-1], None, training=False)
    assert float(loss) == pytest.approx(energy.mean() + np.mean(np.maximum(0.0, 2.0 - energy[::-1])), rel=1e-5)


def test_cgan_conditioning_puts_samples_in_the_requested_class():
    model = tiny("cgan", input_shape=(2,), num_classes=2, value_range=(-2.5, 2.5), seed=0)
    noise = latent_noise(4, 8, "uniform", 0)
    outputs = [np.asarray(model({"noise": noise, "labels": np.full(4, c, "int32")})["points"]) for c in (0, 1)]
    assert not np.allclose(outputs[0], outputs[1])  # the class reaches the generator
    with pytest.raises(ValueError, match="labelled data"):
        model.compile()
        model.fit(np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    points, labels = two_blobs()
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(2e-3, beta_1=0.5))
    model.fit(points, labels, batch_size=128, epochs=4, verbose=0)
    for requested in (0, 1):
        samples = generate_samples(model, 200, seed=1, labels=np.full(200, requested, "int32"))
        nearest = np.linalg.norm(samples[:, None] - RING_CENTRES[None], axis=-1).argmin(axis=1)
        assert np.mean(nearest == requested) > 0.9


def test_infogan_q_head_learns_to_recover_the_categorical_code():
    keras.utils.set_random_seed(0)
    model = tiny("controllable_gan", input_shape=(2,), value_range=(-2.5, 2.5), seed=0)
    assert {t.name.split(":")[0] for t in model.inputs} == {"noise", "category", "codes"}
    model.compile(keras.optimizers.Adam(2e-3, beta_1=0.5))
    history = model.fit(two_blobs()[0], batch_size=128, epochs=4, verbose=0).history
    # Chance is 1/3: G and Q cooperate to make the code recoverable from the sample (max I(c; G(z, c))).
    assert history["q_accuracy"][-1] > 0.7 and history["info_loss"][-1] < history["info_loss"][0]


def test_latent_interpolation_and_attribute_vectors():
    model = tiny("gan", seed=1)
    z_start, z_end = latent_noise(2, 8, "uniform", 3)
    path = interpolate_latents(z_start, z_end, 5)
    np.testing.assert_allclose(path[0], z_start) and np.testing.assert_allclose(path[-1], z_end)
    np.testing.assert_allclose(path[2], 0.5 * (z_start + z_end), rtol=1e-6)
    images = np.asarray(model(path)["images"])
    np.testing.assert_allclose(images[-1], np.asarray(model(z_end[None])["images"])[0], rtol=1e-5, atol=1e-4)
    # Mean-code arithmetic: v = mean z of bright samples − mean z of dark ones brightens z + v.
    z = latent_noise(512, 8, "uniform", 0)
    brightness = np.asarray(model(z)["images"]).mean(axis=(1, 2, 3))
    v = attribute_vector(z, brightness > np.median(brightness))
    brighter = np.asarray(model(z + v)["images"]).mean(axis=(1, 2, 3))
    assert np.mean(brighter > brightness) > 0.9
    with pytest.raises(ValueError, match="with and without"):
        attribute_vector(z, np.ones(len(z), bool))


def test_bigan_scores_with_the_encoder_reconstruction_and_discriminator_features():
    model = tiny("bigan_anomaly", seed=0, anomaly_weight=0.9)
    query = np.random.default_rng(0).uniform(0, 255, size=(4, 8, 8, 1)).astype("float32")
    outputs = model({"noise": latent_noise(4, 4, "uniform", 0), "query": query})
    scaled = np.asarray(model.from_pixels(tensor(query)))
    codes = np.asarray(model.encoder(scaled))
    reconstructed = np.asarray(model.generator(codes))
    features = np.asarray(model.discriminator([scaled, codes])[1])
    features_reconstructed = np.asarray(model.discriminator([reconstructed, codes])[1])
    expected = 0.9 * np.abs(scaled - reconstructed).sum(axis=(1, 2, 3)) + 0.1 * np.abs(features - features_reconstructed).sum(axis=1)
    np.testing.assert_allclose(np.asarray(outputs["codes"]), codes, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(outputs["anomaly_scores"]), expected, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(outputs["reconstructions"]), (reconstructed + 1.0) * 127.5, rtol=1e-4, atol=1e-3)
    # Training moves G and E with one optimiser, D with the other.
    x, y = TASK.example_batch(model, 8, 0)
    encoder_before = [np.array(w) for w in model.encoder.trainable_weights]
    assert TASK.check_training(model, x, y, epochs=2).ok
    assert any(not np.allclose(b, w) for b, w in zip(encoder_before, model.encoder.trainable_weights))
    assert int(model.optimizer.iterations) == 2
    # The task's report: ROC AUC of A(x) against 0/1 flags (sklearn).
    report = generative.anomaly_report(model, np.concatenate([query, query]), np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    assert report["anomaly_roc_auc"] == pytest.approx(0.5)  # the same images on both sides: no signal


# --- data, mode coverage, the task on point data ---------------------------------------------------


def test_ring8_modes_and_mode_coverage():
    from pipelines.datasets import load_dataset
    from pipelines.sources_generative import ring_centres

    ring = load_dataset("ring8", seed=0)
    assert ring.x.shape == (4000, 2) and sorted(np.unique(ring.y).tolist()) == list(range(8))
    centres, scale = generative.labelled_modes(ring.x, ring.y)
    np.testing.assert_allclose(centres, ring_centres(), atol=0.01)
    assert scale == pytest.approx(0.05, rel=0.05)
    covered = generative.mode_coverage(ring.x, centres, scale)
    assert covered["modes_covered"] == 8 and covered["high_quality_fraction"] > 0.98
    collapsed = generative.mode_coverage(np.repeat(centres[:1], 500, axis=0), centres, scale)
    assert collapsed["modes_covered"] == 1 and collapsed["mode_counts"][0] == 500
    np.testing.assert_array_equal(load_dataset("ring8", seed=0).x, ring.x)  # deterministic


def test_anomaly_split_trains_on_normal_digits_only():
    from pipelines.datasets import load_dataset
    from pipelines.sources_generative import anomaly_split

    data = load_dataset("digits_anomaly", anomalous_class=3, image_size=8)
    train, test, flags = anomaly_split(data, test_fraction=0.3, seed=0)
    assert flags.sum() == int(data.y.sum()) and len(train) + int((flags == 0).sum()) == int((data.y == 0).sum())
    train_set = {image.tobytes() for image in train}
    assert not any(image.tobytes() in train_set for image in test[flags == 1])
    with pytest.raises(ValueError, match="anomalous_class"):
        load_dataset("digits_anomaly", anomalous_class=12)


def test_task_evaluates_and_plots_point_generators(tmp_path):
    from pipelines.datasets import load_dataset

    ring = load_dataset("ring8", seed=0, num_points=400)
    model = tiny("gan", input_shape=(2,), value_range=ring.value_range, seed=0)
    report = TASK.evaluate(model, ring.x, ring.y)
    assert report["num_modes"] == 8 and 0 <= report["modes_covered"] <= 8 and sum(report["mode_counts"]) <= 2000
    assert report["feature_network"] == "the points themselves" and np.isfinite(report["frechet_distance"])
    TASK.plots(tmp_path, model, ring.x, ring.y, report)
    assert (tmp_path / "samples.png").stat().st_size > 5000
    inputs, targets = TASK.export_samples(TASK.export_endpoint(model), ring.x[:5], ring.y[:5])
    assert inputs.shape == (5, 8) and targets.shape == (5, 2)


def test_export_samples_fill_the_class_and_query_inputs():
    cgan = tiny("cgan")
    inputs, _ = TASK.export_samples(TASK.export_endpoint(cgan), np.zeros((4, 8, 8, 1), "float32"), np.array([2, 1, 0, 2], "int32"))
    assert sorted(inputs) == ["labels", "noise"] and inputs["labels"].tolist() == [2, 1, 0, 2]
    bigan = tiny("bigan_anomaly")
    real = np.full((3, 8, 8, 1), 7.0, "float32")
    inputs, targets = TASK.export_samples(TASK.export_endpoint(bigan), real, None)
    assert sorted(inputs) == ["noise", "query"] and np.array_equal(inputs["query"], real) and targets.shape == real.shape
    with pytest.raises(ValueError, match="not conditional"):
        generative.generator_inputs(tiny("gan"), 2, labels=np.zeros(2, "int32"))


# --- deepzoo sample -------------------------------------------------------------------------------


def _fake_run(path, model, task="generative", class_names=None):
    path.mkdir()
    model.save(path / "model.keras")
    (path / "config.json").write_text(json.dumps({"task": task, "model": model.name, "class_names": class_names}))
    return path


def test_cli_sample_writes_grids_and_scatter_plots_and_rejects_bad_input(tmp_path, capsys):
    from deepzoo.cli import main

    conditional = _fake_run(tmp_path / "cgan", tiny("cgan"), class_names=["a", "b", "c"])
    points = _fake_run(tmp_path / "ring", tiny("gan", input_shape=(2,), value_range=(-2.5, 2.5)))
    assert main(["sample", str(conditional), "--n", "9", "--class", "b"]) == 0
    assert (conditional / "samples_seed0_class1.png").stat().st_size > 100
    assert main(["sample", str(points), "--n", "300", "--out", str(tmp_path / "out" / "ring.png")]) == 0
    assert (tmp_path / "out" / "ring.png").stat().st_size > 5000
    capsys.readouterr()
    for argv, message in (
        ([str(conditional), "--class", "7"], "Class must be in 0..2"),
        ([str(conditional), "--class", "zebra"], "class names"),
        ([str(points), "--class", "0"], "not a conditional generator"),
        ([str(points), "--out", str(tmp_path / "x.jpg")], ".png"),
        ([str(_fake_run(tmp_path / "clf", tiny("gan"), task="classification"))], "not a generator"),
    ):
        assert main(["sample", *argv]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1
