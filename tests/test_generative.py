"""Family G, generative task and DCGAN: the Fréchet distance, the adversarial loss forms, the
two-optimiser train_step, the .keras round trip with both optimisers' states, the generator endpoint,
and the parameter counts of the reference code and of the spec's PyTorch variant."""

import numpy as np
import pytest

import architectures
from tasks import generative
from tasks.generative import Generative, discriminator_loss, frechet_distance, generator_loss

TASK = Generative()


def tiny(**overrides):
    return architectures.create_model("dcgan", config="tiny", **overrides)


def trainable_count(network):
    return int(sum(np.prod(w.shape) for w in network.trainable_weights))


def weights(network):
    return [np.array(w) for w in network.trainable_weights]


def max_change(before, network):
    return max(float(np.max(np.abs(np.asarray(w) - b))) for w, b in zip(network.trainable_weights, before))


@pytest.fixture
def stub_feature_network(monkeypatch):
    """A fixed random CNN in place of the cached digits classifier (whose first training takes ~20 s):
    the task's plumbing is tested here; the classifier's quality is shown by the benchmark."""
    import keras

    def network(image_shape, *args, **kwargs):
        inputs = keras.Input(image_shape)
        x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
        x = keras.layers.Conv2D(8, 3, strides=2, kernel_initializer=keras.initializers.GlorotUniform(seed=1))(x)
        x = keras.layers.Flatten()(x)
        features = keras.layers.Dense(16, kernel_initializer=keras.initializers.GlorotUniform(seed=2))(x)
        return keras.Model(inputs, features)

    monkeypatch.setattr(generative, "feature_network", network)


# --- Fréchet distance ---------------------------------------------------------------------------


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    features = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    # Equal covariances: the distance is exactly the squared norm of the mean shift, d·s².
    distances = [frechet_distance(features, features + shift) for shift in (0.5, 1.0, 2.0)]
    assert distances == pytest.approx([16 * 0.25, 16 * 1.0, 16 * 4.0], rel=1e-6)


def test_frechet_distance_matches_the_closed_form_for_a_scale_change():
    # N(0, I) vs N(0, 4I) in d dimensions: Tr(I + 4I − 2·2I) = d.
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20_000, 4)), 2.0 * rng.normal(size=(20_000, 4))
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


def test_frechet_distance_survives_singular_covariances():
    rng = np.random.default_rng(2)
    a = np.concatenate([rng.normal(size=(50, 3)), np.zeros((50, 5))], axis=1)  # 5 constant features
    b = np.concatenate([rng.normal(size=(50, 3)) + 1.0, np.zeros((50, 5))], axis=1)
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance == pytest.approx(3.0, abs=1.5)


def test_frechet_distance_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="same width"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


# --- losses ---------------------------------------------------------------------------------------


def test_loss_forms_are_the_standard_ones():
    from keras import ops

    real, fake = np.array([[2.0], [-1.0]], "float32"), np.array([[-3.0], [0.5]], "float32")
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    expected_d = -np.mean(np.log(sigmoid(real))) - np.mean(np.log(1.0 - sigmoid(fake)))
    assert float(discriminator_loss(ops.convert_to_tensor(real), ops.convert_to_tensor(fake))) == pytest.approx(expected_d, rel=1e-5)
    # Non-saturating: −E log D(G(z)); minimax: E log(1 − D(G(z))). Both minimised by G.
    assert float(generator_loss(ops.convert_to_tensor(fake))) == pytest.approx(-np.mean(np.log(sigmoid(fake))), rel=1e-5)
    assert float(generator_loss(ops.convert_to_tensor(fake), "minimax")) == pytest.approx(np.mean(np.log(1.0 - sigmoid(fake))), rel=1e-5)
    with pytest.raises(ValueError, match="non_saturating"):
        generator_loss(ops.convert_to_tensor(fake), "wasserstein")


def test_both_generator_losses_push_d_of_g_up_and_only_the_non_saturating_one_is_strong_early():
    import tensorflow as tf

    # Early in training D rejects the samples: D(G(z)) = sigmoid(−6) ≈ 0.0025.
    logits = tf.Variable([[-6.0]])
    gradients = {}
    for form in ("non_saturating", "minimax"):
        with tf.GradientTape() as tape:
            loss = generator_loss(logits, form)
        gradients[form] = float(tape.gradient(loss, logits)[0, 0])
    # Descending either loss raises the logit (sign), but the minimax gradient has saturated.
    assert gradients["non_saturating"] < 0 and gradients["minimax"] < 0
    assert abs(gradients["non_saturating"]) > 100 * abs(gradients["minimax"])


# --- the model ------------------------------------------------------------------------------------


def test_tiny_model_maps_noise_to_images_in_the_data_range():
    model = tiny()
    noise = generative.latent_noise(4, 32, "uniform", seed=0)
    images = np.asarray(model(noise))
    assert images.shape == (4, 32, 32, 1)
    tanh = np.asarray(model.generator(noise, training=False))
    np.testing.assert_allclose(images, (tanh + 1.0) * 127.5, rtol=1e-5, atol=1e-4)
    assert model.count_params() == trainable_count(model.generator) + trainable_count(model.discriminator) + sum(
        int(np.prod(w.shape)) for net in (model.generator, model.discriminator) for w in net.non_trainable_weights
    )


def test_discriminator_has_no_batchnorm_on_its_input_layer_and_one_logit():
    import keras

    model = tiny()
    names = [layer.name for layer in model.discriminator.layers]
    assert "down1_bn" not in names and "down2_bn" in names and "down3_bn" in names
    assert model.discriminator.output.shape[1:] == (1,)
    activations = [layer for layer in model.discriminator.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert activations and all(layer.negative_slope == pytest.approx(0.2) for layer in activations)
    assert isinstance(model.generator.layers[-1], keras.layers.Activation) and model.generator.layers[-1].name == "tanh"


def test_bad_shapes_and_options_are_one_line_errors():
    with pytest.raises(ValueError, match="multiples of 2"):
        tiny(input_shape=(30, 30, 1))
    with pytest.raises(ValueError, match="latent_prior"):
        tiny(latent_prior="cauchy")
    model = tiny()
    with pytest.raises(ValueError, match="own adversarial losses"):
        model.compile(optimizer="adam", loss="mse")


def test_train_step_updates_each_network_with_its_own_optimizer():
    import keras

    images = TASK.example_batch(tiny(), 8, seed=0)[1]
    # A zero learning rate for one network: only the other one may move.
    for frozen in ("generator", "discriminator"):
        model = tiny()
        rates = {"generator": 2e-4, "discriminator": 2e-4, frozen: 0.0}
        model.compile(
            g_optimizer=keras.optimizers.Adam(rates["generator"], beta_1=0.5),
            d_optimizer=keras.optimizers.Adam(rates["discriminator"], beta_1=0.5),
        )
        g_before, d_before = weights(model.generator), weights(model.discriminator)
        history = model.fit(images, batch_size=8, epochs=2, verbose=0).history
        assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}
        changes = {"generator": max_change(g_before, model.generator), "discriminator": max_change(d_before, model.discriminator)}
        assert changes[frozen] == 0.0
        assert changes[({"generator", "discriminator"} - {frozen}).pop()] > 0.0
    # Each optimiser holds slots for its own network only, and took one step per batch.
    assert int(model.optimizer.iterations) == 2 and int(model.d_optimizer.iterations) == 2
    g_ids = {id(v) for v in model.generator.trainable_variables}
    d_ids = {id(v) for v in model.discriminator.trainable_variables}
    assert [id(v) for v in model.optimizer._trainable_variables] and {id(v) for v in model.optimizer._trainable_variables} == g_ids
    assert {id(v) for v in model.d_optimizer._trainable_variables} == d_ids


def test_task_compile_takes_one_optimizer_and_clones_it_for_the_discriminator():
    import keras

    model = tiny()
    handed = keras.optimizers.Adam(3e-4, beta_1=0.5)
    TASK.compile(model, handed, jit_compile=False)
    assert model.optimizer is handed
    assert model.d_optimizer is not handed and model.extra_optimizers == (model.d_optimizer,)
    assert type(model.d_optimizer) is keras.optimizers.Adam
    assert float(model.d_optimizer.learning_rate) == pytest.approx(3e-4) and model.d_optimizer.beta_1 == pytest.approx(0.5)


def test_check_training_passes_and_fails_when_a_network_cannot_learn():
    model = tiny()
    x, y = TASK.example_batch(model, 8, seed=0)
    assert x.shape == (8, 32) and y.shape == (8, 32, 32, 1)
    outcome = TASK.check_training(model, x, y)
    assert outcome.ok, outcome.detail
    frozen = tiny()
    frozen.generator.trainable = False
    outcome = TASK.check_training(frozen, x, y)
    assert not outcome.ok and "did not move" in outcome.detail


def test_fit_takes_images_with_labels_or_alone_and_compiles_with_xla():
    import keras

    images = np.random.default_rng(0).uniform(0, 255, size=(16, 32, 32, 1)).astype("float32")
    labels = np.arange(16, dtype="int32") % 10
    for y, jit_compile in ((labels, True), (None, False)):  # one XLA compilation: ~10 s on 2 cores
        model = tiny()
        TASK.compile(model, keras.optimizers.Adam(2e-4, beta_1=0.5), jit_compile=jit_compile)
        dataset = TASK.make_dataset(images, y, batch_size=8, shuffle=True)
        history = model.fit(dataset, epochs=1, shuffle=False, verbose=0).history
        assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
        assert int(model.optimizer.iterations) == 2 and int(model.d_optimizer.iterations) == 2


def test_keras_round_trip_restores_generator_outputs_and_both_optimizers(tmp_path):
    import keras

    model = tiny()
    x, y = TASK.example_batch(model, 8, seed=0)
    TASK.compile(model, keras.optimizers.Adam(2e-4, beta_1=0.5))
    model.fit(y, batch_size=8, epochs=3, verbose=0)
    model.save(tmp_path / "dcgan.keras")
    reloaded = keras.saving.load_model(tmp_path / "dcgan.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(model(x)))
    assert reloaded.get_config() == model.get_config()
    for original, restored in ((model.optimizer, reloaded.optimizer), (model.d_optimizer, reloaded.d_optimizer)):
        assert int(restored.iterations) == 3
        assert len(restored.variables) == len(original.variables)
        for a, b in zip(original.variables, restored.variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    # Training goes on from the restored state.
    reloaded.fit(y, batch_size=8, epochs=1, verbose=0)
    assert int(reloaded.optimizer.iterations) == 4 and int(reloaded.d_optimizer.iterations) == 4


def test_weights_file_restores_both_optimizers_as_backup_and_restore_does(tmp_path):
    import keras

    model = tiny()
    images = TASK.example_batch(model, 8, seed=0)[1]
    TASK.compile(model, keras.optimizers.Adam(2e-4, beta_1=0.5))
    model.fit(images, batch_size=8, epochs=2, verbose=0)
    model.save_weights(tmp_path / "backup.weights.h5")
    resumed = tiny()
    TASK.compile(resumed, keras.optimizers.Adam(2e-4, beta_1=0.5))
    resumed.load_weights(tmp_path / "backup.weights.h5")
    for original, restored in ((model.optimizer, resumed.optimizer), (model.d_optimizer, resumed.d_optimizer)):
        assert int(restored.iterations) == 2
        for a, b in zip(original.variables, restored.variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


def test_backup_and_restore_resumes_a_killed_run(tmp_path):
    import keras

    images = np.random.default_rng(0).uniform(0, 255, size=(16, 32, 32, 1)).astype("float32")

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    model = tiny()
    TASK.compile(model, keras.optimizers.Adam(2e-4, beta_1=0.5))
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="killed"):
        model.fit(images, batch_size=8, epochs=4, callbacks=[backup, Kill()], verbose=0)
    resumed = tiny()
    TASK.compile(resumed, keras.optimizers.Adam(2e-4, beta_1=0.5))
    history = resumed.fit(images, batch_size=8, epochs=4, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))], verbose=0)
    assert len(history.history["d_loss"]) == 2  # epochs 3 and 4 only
    assert int(resumed.optimizer.iterations) == 8 and int(resumed.d_optimizer.iterations) == 8


# --- endpoint, evaluation, plots ------------------------------------------------------------------


def test_export_endpoint_is_the_generator_from_noise_to_images_in_pixel_range():
    model = tiny()
    endpoint = TASK.export_endpoint(model)
    assert [t.name for t in endpoint.inputs] == ["noise"] and tuple(endpoint.inputs[0].shape) == (None, 32)
    assert str(endpoint.inputs[0].dtype) == "float32"
    assert len(endpoint.weights) == len(model.generator.weights)  # the discriminator is not exported
    noise = generative.latent_noise(5, 32, "uniform", seed=3)
    outputs = endpoint(noise)
    assert set(outputs) == {"images"}
    images = np.asarray(outputs["images"])
    assert images.shape == (5, 32, 32, 1) and images.dtype == np.float32
    # tanh's range [-1, 1] lands exactly on the data's [0, 255]: saturate the output layer both ways.
    # (ReLU inputs are >= 0, so an all-positive or all-negative kernel drives tanh to +1 or -1.)
    last = model.generator.get_layer("up3")
    for sign in (1.0, -1.0):
        last.kernel.assign(np.full(last.kernel.shape, sign * 1e3, "float32"))
        saturated = np.asarray(endpoint(noise)["images"])
        assert np.all((saturated >= 0.0) & (saturated <= 255.0))
        assert (saturated.max() if sign > 0 else 255.0 - saturated.min()) == pytest.approx(255.0, abs=1e-3)


def test_value_range_follows_the_dataset():
    from types import SimpleNamespace

    overrides = TASK.model_overrides(SimpleNamespace(value_range=(0.0, 1.0)), None, ["input_shape", "value_range"])
    assert overrides == {"value_range": [0.0, 1.0]}
    model = tiny(**overrides)
    images = np.asarray(TASK.export_endpoint(model)(np.zeros((2, 32), "float32"))["images"])
    assert np.all((images >= 0.0) & (images <= 1.0))
    real = np.full((2, 32, 32, 1), 1.0, "float32")
    np.testing.assert_allclose(np.asarray(model.from_pixels(real)), 1.0, atol=1e-6)


def test_evaluate_reports_trained_untrained_and_real_distances(stub_feature_network):
    model = tiny()
    real = np.random.default_rng(0).uniform(0, 255, size=(40, 32, 32, 1)).astype("float32")
    report = TASK.evaluate(model, real, None)
    for key in ("frechet_distance", "frechet_distance_untrained", "frechet_distance_real"):
        assert np.isfinite(report[key]) and report[key] >= 0.0
    assert report["real_reference"].startswith("two halves")
    # An untrained copy is a copy: the same architecture from the same config gives the same score.
    assert report["frechet_distance_untrained"] == pytest.approx(TASK.evaluate(model, real, None)["frechet_distance_untrained"])
    with_reference = TASK.evaluate(model, real, None, x_reference=real)
    assert with_reference["frechet_distance_real"] == pytest.approx(0.0, abs=1e-6)
    assert with_reference["real_reference"] == "training images"
    # score() is what quantised exports use: a set of images against itself is at distance 0.
    assert TASK.score(real, {"images": real})["frechet_distance"] == pytest.approx(0.0, abs=1e-6)


def test_callbacks_log_the_validation_distance_and_write_a_grid_per_epoch(tmp_path, stub_feature_network):
    import csv

    import keras

    images = np.random.default_rng(0).uniform(0, 255, size=(16, 32, 32, 1)).astype("float32")
    model = tiny()
    TASK.compile(model, keras.optimizers.Adam(2e-4, beta_1=0.5))
    callbacks = [*TASK.callbacks(tmp_path, model, x_val=images[:8]), keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))]
    model.fit(images, batch_size=8, epochs=2, callbacks=callbacks, verbose=0)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert len(rows) == 2 and all(float(row["val_frechet_distance"]) > 0.0 for row in rows)
    report = {"frechet_distance": 1.0}
    TASK.plots(tmp_path, model, images, None, report)
    assert (tmp_path / "samples.png").stat().st_size > 1000


def test_export_samples_are_noise_with_the_models_prior_and_the_real_images():
    model = tiny(latent_prior="uniform")
    real = np.zeros((6, 32, 32, 1), "float32")
    inputs, targets = TASK.export_samples(TASK.export_endpoint(model), real, None)
    assert inputs.shape == (6, 32) and np.all(np.abs(inputs) <= 1.0)
    assert targets is not None and targets.shape == real.shape


# --- parameter counts -----------------------------------------------------------------------------


def test_pytorch_variant_matches_the_spec_counts():
    # Spec §2 G, dcgan: "the 4×4-kernel variant with 64 base filters has 3,576,704 (G) and
    # 2,765,568 (D) trainable params (B)".
    model = architectures.create_model(
        "dcgan",
        kernel_size=4,
        generator_filters=(512, 256, 128, 64),
        discriminator_filters=(64, 128, 256, 512),
        projection_norm="channels",
    )
    assert trainable_count(model.generator) == 3_576_704
    assert trainable_count(model.discriminator) == 2_765_568


@pytest.mark.large
def test_canonical_config_matches_the_reference_code():
    # Newmu/dcgan_code, 64×64 with ngf = ndf = 128 and 5×5 kernels (gen_params, discrim_params).
    model = architectures.create_model("dcgan")
    assert trainable_count(model.generator) == 18_885_760
    assert trainable_count(model.discriminator) == 17_232_768
    assert tuple(model.outputs[0].shape[1:]) == (64, 64, 3) and tuple(model.inputs[0].shape[1:]) == (100,)
