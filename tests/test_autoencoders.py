"""The autoencoder rows' own checks (spec §2 G): PCA subspace of the linear AE, the VAE's KL and
reparameterisation, the denoising AE's training-only corruption, the sparse AE's KL penalty,
greedy layer-wise pre-training, and the autoencoder generator's code Gaussian."""

import numpy as np
import pytest

import architectures
from architectures.generative import autoencoders as ae_module
from tasks.autoencoder import corrupt, gaussian_kl, reconstruction_loss, reparameterize, sparsity_kl


def _digits(n=256, size=16):
    from pipelines.datasets import load_digits

    return load_digits(image_size=size).x[:n]


# --- linear autoencoder = PCA ----------------------------------------------------------------------


def test_linear_autoencoder_decoder_spans_the_top_k_principal_subspace():
    import keras
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    import tensorflow as tf

    rng = np.random.default_rng(0)
    d, k = 8, 3
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.sqrt([9.0, 6.0, 4.0, 0.5, 0.3, 0.2, 0.1, 0.05])  # a clear gap after the 3rd component
    data = ((rng.normal(size=(2000, d)) * scales) @ rotation.T).astype("float32")  # a fixed Gaussian

    keras.utils.set_random_seed(0)
    model = architectures.create_model(
        "linear_autoencoder_pca", config="tiny", input_shape=(d,), code_dim=k, value_range=(0.0, 1.0)
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    # 300 full-batch steps in one epoch (Keras' per-epoch overhead would dominate 300 epochs)
    model.fit(tf.data.Dataset.from_tensors((data, data)).repeat(300), epochs=1, verbose=0, shuffle=False)

    decoder_columns = np.asarray(model.decoder.get_layer("logits").kernel).T  # [d, k]: x̂ = W z + b
    principal = PCA(n_components=k).fit(data).components_.T
    angles = subspace_angles(decoder_columns, principal)
    assert np.max(angles) < 0.01, np.degrees(angles)  # radians
    # and not any k-subspace: the bottom-k components are far from it
    bottom = PCA(n_components=d).fit(data).components_[-k:].T
    assert np.min(subspace_angles(decoder_columns, bottom)) > 1.0


# --- VAE ---------------------------------------------------------------------------------------------


def test_vae_kl_closed_form_matches_monte_carlo():
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    mean = rng.normal(size=(3, 4)).astype("float32")
    log_variance = rng.normal(scale=0.7, size=(3, 4)).astype("float32")
    closed = np.asarray(gaussian_kl(mean, log_variance))
    sigma = np.exp(0.5 * log_variance)
    z = mean + sigma * rng.standard_normal(size=(200_000, 3, 4))
    log_q = norm.logpdf(z, loc=mean, scale=sigma).sum(-1)
    log_p = norm.logpdf(z).sum(-1)
    monte_carlo = (log_q - log_p).mean(0)
    np.testing.assert_allclose(closed, monte_carlo, rtol=0.03, atol=0.01)
    # KL(N(0, I) ‖ N(0, I)) = 0 and positive otherwise
    assert float(np.asarray(gaussian_kl(np.zeros((1, 4), "float32"), np.zeros((1, 4), "float32")))[0]) == 0.0
    assert np.all(closed > 0)


def test_vae_reparameterisation_passes_gradients_to_mean_and_sigma():
    import keras
    import tensorflow as tf

    mean = tf.Variable(np.array([[0.5, -1.0, 2.0]], "float32"))
    log_variance = tf.Variable(np.array([[0.0, -0.5, 0.3]], "float32"))
    with tf.GradientTape() as tape:
        z = reparameterize(mean, log_variance, keras.random.SeedGenerator(3))
        total = tf.reduce_sum(z)
    grad_mean, grad_log_variance = tape.gradient(total, [mean, log_variance])
    # z = μ + exp(½ log σ²) ε: ∂Σz/∂μ = 1, ∂Σz/∂log σ² = ½ σ ε = ½ (z − μ)
    np.testing.assert_allclose(grad_mean.numpy(), np.ones((1, 3)), rtol=1e-6)
    np.testing.assert_allclose(grad_log_variance.numpy(), 0.5 * (z.numpy() - mean.numpy()), rtol=1e-5, atol=1e-7)

    model = architectures.create_model("vae", config="tiny")
    images = _digits(16)
    with tf.GradientTape() as tape:
        loss = model.objective_terms(images, training=True)["loss"]
    heads = [model.encoder.get_layer(name).kernel for name in ("mean", "log_variance")]
    for head, gradient in zip(("mean", "log_variance"), tape.gradient(loss, heads)):
        assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0, head


def test_vae_loss_is_bce_sum_plus_kl_and_elbo_improves_with_training():
    import keras

    keras.utils.set_random_seed(0)
    model = architectures.create_model("vae", config="tiny")
    images = _digits(256)
    terms = {k: float(v) for k, v in model.objective_terms(images[:32], training=False).items()}
    assert terms["loss"] == pytest.approx(terms["reconstruction"] + terms["kl"], rel=1e-5)
    before = model.elbo(images)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(images, batch_size=32, epochs=10, verbose=0)
    assert model.elbo(images) > before + 20.0, (before, model.elbo(images))


# --- denoising: corruption only in training ----------------------------------------------------------


def test_corruption_forms():
    import keras

    ones = np.ones((200, 500), "float32")
    masked = np.asarray(corrupt(ones, "masking", 0.25, keras.random.SeedGenerator(0)))
    assert set(np.unique(masked)) == {0.0, 1.0}
    assert abs(float((masked == 0).mean()) - 0.25) < 0.01
    noisy = np.asarray(corrupt(ones, "gaussian", 0.3, keras.random.SeedGenerator(0)))
    assert abs(float((noisy - 1).std()) - 0.3) < 0.01 and abs(float((noisy - 1).mean())) < 0.01
    assert corrupt(ones, None, 0.5, None) is ones


def test_denoising_autoencoder_corrupts_only_in_training(monkeypatch):
    import keras

    calls = []
    real_corrupt = ae_module.corrupt

    def spy(x, kind, level, seed):
        calls.append(kind)
        return real_corrupt(x, kind, level, seed)

    monkeypatch.setattr(ae_module, "corrupt", spy)
    model = architectures.create_model("denoising_autoencoder", config="tiny")
    images = _digits(32)
    # inference is deterministic and equals the clean encode-decode
    first = model(images, training=False)["reconstruction"]
    np.testing.assert_array_equal(np.asarray(first), np.asarray(model(images, training=False)["reconstruction"]))
    clean = model.to_unit(images)
    expected = model.output_layer(model.decoder(model.encoder(clean))) * 255.0
    np.testing.assert_allclose(np.asarray(first), np.asarray(expected), rtol=1e-5, atol=1e-4)
    model.predict(images, verbose=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.evaluate(images, images, verbose=0)
    assert calls == [], "corruption ran outside training"
    # the evaluation loss is the clean one; training losses vary with the corruption
    clean_terms = [float(model.objective_terms(images, training=False)["loss"]) for _ in range(2)]
    noisy_terms = [float(model.objective_terms(images, training=True)["loss"]) for _ in range(2)]
    assert clean_terms[0] == clean_terms[1] and noisy_terms[0] != noisy_terms[1]
    assert calls == ["masking", "masking"]
    model.fit(images, images, batch_size=16, epochs=1, verbose=0)
    assert calls[2:] and set(calls[2:]) == {"masking"}  # traced inside train_step


# --- sparse: the KL penalty --------------------------------------------------------------------------


def test_sparsity_kl_is_the_bernoulli_kl_of_mean_activations():
    from scipy.special import rel_entr

    rng = np.random.default_rng(2)
    code = rng.uniform(0.01, 0.99, size=(64, 10)).astype("float32")
    rho = 0.05
    rho_hat = code.mean(0)
    expected = np.sum(rel_entr(rho, rho_hat) + rel_entr(1 - rho, 1 - rho_hat))
    assert float(sparsity_kl(code, rho)) == pytest.approx(expected, rel=1e-5)
    at_target = np.full((8, 10), rho, "float32")
    assert abs(float(sparsity_kl(at_target, rho))) < 1e-6

    model = architectures.create_model("sparse_autoencoder", config="tiny")
    images = _digits(64)
    codes = np.asarray(model(images, training=False)["code"])
    terms = model.objective_terms(images, training=False)
    rho_hat = codes.mean(0)
    penalty = 3.0 * np.sum(rel_entr(0.05, rho_hat) + rel_entr(0.95, 1 - rho_hat))
    assert float(terms["sparsity"]) == pytest.approx(penalty, rel=1e-4)
    recon = np.asarray(model(images, training=False)["reconstruction"]) / 255.0
    half_sse = 0.5 * np.sum(np.square(recon - images / 255.0).reshape(len(images), -1), axis=1).mean()
    assert float(terms["reconstruction"]) == pytest.approx(half_sse, rel=1e-4)


def test_sparse_autoencoder_training_drives_mean_activation_towards_rho():
    import keras
    import tensorflow as tf

    images = _digits(512)
    means = {}
    for sparsity in ("kl", None):
        keras.utils.set_random_seed(0)
        model = architectures.create_model("sparse_autoencoder", config="tiny", sparsity=sparsity)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        batches = tf.data.Dataset.from_tensor_slices((images, images)).batch(64).repeat(15)
        model.fit(batches, epochs=1, verbose=0, shuffle=False)
        means[sparsity] = float(np.asarray(model(images, training=False)["code"]).mean())
    assert means["kl"] < 0.12 and means[None] > 2 * means["kl"], means


# --- reconstruction losses ---------------------------------------------------------------------------


def test_reconstruction_loss_forms_match_keras():
    import keras

    rng = np.random.default_rng(4)
    target = rng.uniform(size=(4, 6)).astype("float32")
    logits = rng.normal(size=(4, 6)).astype("float32")
    output = 1 / (1 + np.exp(-logits))
    bce = float(keras.losses.BinaryCrossentropy(from_logits=True)(target, logits))
    assert float(reconstruction_loss(target, logits, output, "bce")) == pytest.approx(bce, rel=1e-5)
    assert float(reconstruction_loss(target, logits, output, "bce_sum")) == pytest.approx(6 * bce, rel=1e-5)
    mse = float(np.mean((target - output) ** 2))
    assert float(reconstruction_loss(target, logits, output, "mse")) == pytest.approx(mse, rel=1e-5)
    assert float(reconstruction_loss(target, logits, output, "half_sse")) == pytest.approx(3 * mse, rel=1e-5)
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        reconstruction_loss(target, logits, output, "l2")


# --- greedy layer-wise pre-training ------------------------------------------------------------------


def test_greedy_pretraining_trains_one_layer_at_a_time_then_fine_tunes():
    import keras

    keras.utils.set_random_seed(0)
    model = architectures.create_model("ae_pretrained_classifier", config="tiny", num_classes=10, pretrain_epochs=0)
    images = _digits(256)
    batches = [images[i : i + 64] for i in range(0, 256, 64)]
    snapshot = lambda layer: [np.array(w) for w in layer.get_weights()]  # noqa: E731
    first_initial, second_initial = snapshot(model.stack[0]), snapshot(model.stack[1])
    classifier_initial = snapshot(model.get_layer("classifier"))

    losses = model.pretrain_layer(0, batches, epochs=6)
    first_trained = snapshot(model.stack[0])
    assert losses[-1] < 0.9 * losses[0], losses
    assert not np.allclose(first_trained[0], first_initial[0])
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(model.stack[1]), second_initial))

    losses = model.pretrain_layer(1, batches, epochs=6)
    assert losses[-1] < losses[0], losses
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(model.stack[0]), first_trained)), "layer 1 moved in layer 2's stage"
    assert not np.allclose(snapshot(model.stack[1])[0], second_initial[0])
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(model.get_layer("classifier")), classifier_initial))


def test_fit_pretrains_once_and_ignores_unlabelled_examples():
    import keras

    keras.utils.set_random_seed(0)
    model = architectures.create_model("ae_pretrained_classifier", config="tiny", num_classes=10, pretrain_epochs=2)
    images = _digits(64)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    unlabelled = np.full(len(images), -1, "int32")
    classifier_before = [np.array(w) for w in model.get_layer("classifier").get_weights()]
    model.fit(images, unlabelled, batch_size=16, epochs=1, verbose=0)
    assert model.pretrained and len(model.pretrain_history) == 2 and all(len(h) == 2 for h in model.pretrain_history)
    # no labels: zero supervised loss, the classifier does not move
    for before, after in zip(classifier_before, model.get_layer("classifier").get_weights()):
        np.testing.assert_array_equal(before, after)
    history = model.pretrain_history
    labels = np.arange(len(images), dtype="int32") % 10
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    assert model.pretrain_history is history  # pre-trained once
    assert not np.allclose(classifier_before[0], model.get_layer("classifier").get_weights()[0])


# --- the autoencoder as a generator ------------------------------------------------------------------


def test_ae_generator_decodes_samples_of_the_fitted_code_gaussian():
    import keras

    keras.utils.set_random_seed(0)
    model = architectures.create_model("ae_generator", config="tiny")
    images = _digits(256)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(images, batch_size=32, epochs=2, verbose=0)
    # the moving statistics followed the codes (they start at N(0, I))
    codes = model.encode(images)
    moving_mean = np.asarray(model.code_gaussian.mean)
    assert np.linalg.norm(moving_mean - codes.mean(0)) < np.linalg.norm(codes.mean(0))

    mean, covariance = model.fit_code_distribution(images)
    np.testing.assert_allclose(mean, codes.mean(0), rtol=1e-4, atol=1e-4)
    noise = np.random.default_rng(0).standard_normal((20_000, 4)).astype("float32")
    sampled = np.asarray(model.code_gaussian(noise))
    np.testing.assert_allclose(sampled.mean(0), mean, atol=0.05 * np.sqrt(np.diag(covariance)).max())
    np.testing.assert_allclose(np.cov(sampled, rowvar=False), covariance, atol=0.05 * np.abs(covariance).max())
    # the model (the exported generator) = decode(μ + L ε)
    np.testing.assert_allclose(np.asarray(model(noise[:8])), model.decode(sampled[:8]), rtol=1e-4, atol=1e-3)

    # perturbed codes: scale 0 reconstructs; larger perturbations move the images further
    reconstruction = model.decode(codes[:16])
    np.testing.assert_allclose(model.perturb(images[:16], 0.0), reconstruction, atol=1e-3)
    distances = [np.abs(model.perturb(images[:16], scale, seed=1) - reconstruction).mean() for scale in (0.1, 1.0, 5.0)]
    assert distances[0] < distances[1] < distances[2], distances


def test_bad_configurations_are_one_line_value_errors():
    with pytest.raises(ValueError, match="KL sparsity penalty needs a sigmoid code"):
        architectures.create_model("sparse_autoencoder", config="tiny", code_activation="relu")
    with pytest.raises(ValueError, match="multiples of"):
        architectures.create_model("conv_autoencoder", config="tiny", input_shape=(18, 18, 1))
    with pytest.raises(ValueError, match="cross-entropy reconstruction needs"):
        architectures.create_model("mlp_autoencoder", config="tiny", output_activation="linear")
    with pytest.raises(ValueError, match="log-likelihood summed"):
        architectures.create_model("vae", config="tiny", reconstruction="mse")


def test_generators_reload_with_their_optimiser_state(tmp_path):
    import keras

    images = _digits(32)
    for name in ("vae", "ae_generator"):
        model = architectures.create_model(name, config="tiny")
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(images, batch_size=16, epochs=1, verbose=0)
        model.save(tmp_path / f"{name}.keras")
        reloaded = keras.saving.load_model(tmp_path / f"{name}.keras")
        assert int(reloaded.optimizer.iterations) == 2, name
        assert len(reloaded.optimizer.variables) == len(model.optimizer.variables)
        for mine, theirs in zip(model.optimizer.variables, reloaded.optimizer.variables):
            np.testing.assert_array_equal(np.asarray(theirs), np.asarray(mine))
        reloaded.fit(images, batch_size=16, epochs=1, verbose=0)  # training continues
        assert int(reloaded.optimizer.iterations) == 4
