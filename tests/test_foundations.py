"""Family A, foundations: each row's own checks (spec §2 A), the family's datasets (§8.2 A), and
the rule-trained models under fit, .keras save/load and XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.foundations.cellular import reference_edges, saturation
from architectures.foundations.linear import multiclass_hinge
from architectures.spec_rows import SPEC_ROWS
from pipelines.datasets import load_dataset

# The family's rows come from the spec table, not a list here.
FAMILY_A = SPEC_ROWS["A"]
RULE_TRAINED = ("perceptron", "adaline", "hopfield_net", "kohonen_som", "oja_pca_net")


def compiled(model, optimizer="adam", loss=None, **kwargs):
    model.compile(optimizer=optimizer, loss=loss, jit_compile=kwargs.pop("jit_compile", False), **kwargs)
    return model


def gradient_descent(model, x, y, steps, learning_rate, loss="mse"):
    """Full-batch gradient descent for `steps` steps in one `fit` call."""
    compiled(model, keras.optimizers.SGD(learning_rate), loss)
    data = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    return model.fit(data, epochs=1, shuffle=False, verbose=0)


def minibatch_epochs(x, y, batch_size, epochs, seed=0):
    """Shuffled mini-batches for `epochs` passes as one dataset: one `fit` epoch, no per-epoch overhead."""
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(batch_size).repeat(epochs)


# --- registry and datasets --------------------------------------------------------------------------


def test_every_row_is_registered_in_the_family():
    assert sorted(FAMILY_A) == architectures.list_models(family="foundations")


def test_default_datasets_exist_and_match_the_task():
    for name in FAMILY_A:
        spec = architectures.get_spec(name)
        dataset = load_dataset(spec.default_dataset)
        assert spec.task == "unsupervised" or dataset.task == spec.task, name
        assert len(dataset) == len(dataset.y) > 0, name


def test_family_datasets():
    assert load_dataset("and").y.tolist() == [0, 0, 0, 1]
    assert load_dataset("or").y.tolist() == [0, 1, 1, 1]
    assert load_dataset("xor").y.tolist() == [0, 1, 1, 0]
    and_r = load_dataset("and_r", inputs=4)
    assert and_r.x.shape == (16, 4) and and_r.y.sum() == 1
    separable = load_dataset("blobs_separable", seed=3)
    margins = np.where(separable.y == 1, 1, -1) * separable.x.sum(axis=1) / np.sqrt(2)
    assert margins.min() >= 0.5
    house = load_dataset("house_prices")
    assert house.x[:, 0].tolist() == [2104, 1416, 1534, 852] and house.y[:, 0].tolist() == [460, 232, 315, 178]
    series = load_dataset("ar2_series")
    assert series.x.shape[1:] == (8, 1) and np.allclose(series.x[1, -1, 0], series.y[0, 0])
    assert load_dataset("correlated_gaussians", seed=1).x.shape == (2000, 5)
    patterns = load_dataset("bipolar_patterns")
    assert set(np.unique(patterns.x)) == {-1.0, 1.0}
    edges = load_dataset("edge_images", n_samples=5)
    assert np.array_equal(edges.y, reference_edges(edges.x))
    np.testing.assert_array_equal(load_dataset("credit_approval", seed=7).x, load_dataset("credit_approval", seed=7).x)


# --- perceptron -------------------------------------------------------------------------------------

WORKED_X = np.array([[1.0, 2.0], [-1.0, 2.0], [0.0, -1.0]], "float32")
WORKED_T = np.array([1, 0, 0])
WORKED_TRAJECTORY = [(2.0, 1.2), (3.0, -0.8), (3.0, 0.2)]


def _worked_perceptron():
    model = architectures.create_model("perceptron", use_bias=False, output="binary", learning_rate=1.0)
    model.get_layer("weights").set_weights([np.array([[1.0], [-0.8]], "float32")])
    return compiled(model)


def test_perceptron_reproduces_the_004_worked_trajectory():
    model = _worked_perceptron()
    for index, expected in enumerate(WORKED_TRAJECTORY):
        model.train_on_batch(WORKED_X[index : index + 1], WORKED_T[index : index + 1])
        np.testing.assert_allclose(model.folded_weights()[1:], expected, atol=1e-6)
    # The second pass finds every example right and changes nothing.
    history = model.fit(WORKED_X, WORKED_T, batch_size=3, epochs=2, shuffle=False, verbose=0).history
    assert history["loss"] == [0.0, 0.0]
    np.testing.assert_allclose(model.folded_weights()[1:], WORKED_TRAJECTORY[-1], atol=1e-6)


def test_perceptron_online_rule_within_one_batch_and_under_xla():
    model = _worked_perceptron()
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit(WORKED_X, WORKED_T, batch_size=3, epochs=1, shuffle=False, verbose=0).history
    # Measured before the pass: w = (1, −0.8) gets x_1 and x_3 wrong (x_2 only after the first update).
    np.testing.assert_allclose(history["loss"], [2 / 3])
    np.testing.assert_allclose(model.folded_weights()[1:], WORKED_TRAJECTORY[-1], atol=1e-6)
    assert model.trainable_weights == []  # the rule, not the optimizer, moves the weights


@pytest.mark.parametrize("gate", ["and", "or"])
def test_perceptron_learns_and_or_in_a_few_epochs(gate):
    data = load_dataset(gate)
    model = compiled(architectures.create_model("perceptron"), metrics=["accuracy"])
    history = model.fit(data.x, data.y, batch_size=1, epochs=6, shuffle=False, verbose=0).history
    assert history["loss"][-1] == 0.0
    np.testing.assert_array_equal(model.predict(data.x, verbose=0)[:, 0], data.y)


def test_perceptron_never_reaches_zero_error_on_xor():
    data = load_dataset("xor")
    model = compiled(architectures.create_model("perceptron"))
    history = model.fit(data.x, data.y, batch_size=1, epochs=30, shuffle=False, verbose=0).history
    assert min(history["loss"]) > 0
    assert np.any(model.predict(data.x, verbose=0)[:, 0] != data.y)


def test_perceptron_notes_gate_weights_and_bipolar_rule():
    x = load_dataset("and").x
    model = architectures.create_model("perceptron")
    for weights, truth in [((-0.5, 1, 1), [0, 1, 1, 1]), ((-1.5, 1, 1), [0, 0, 0, 1]), ((-2, 1.5, 1), [0, 0, 0, 1])]:
        model.set_folded_weights(weights)
        np.testing.assert_array_equal(model.predict(x, verbose=0)[:, 0], truth)
    bipolar = compiled(architectures.create_model("perceptron", output="bipolar"))
    bipolar.train_on_batch(np.array([[1.0, 2.0]]), np.array([0]))  # 0 ↦ −1; zero weights fire +1: wrong
    np.testing.assert_allclose(bipolar.folded_weights(), [-1.0, -1.0, -2.0])  # w ← w + η·t·x, t = −1


def test_perceptron_converges_on_separable_blobs():
    data = load_dataset("blobs_separable")
    model = compiled(architectures.create_model("perceptron"))
    history = model.fit(data.x, data.y, batch_size=32, epochs=20, shuffle=False, verbose=0).history
    assert history["loss"][-1] == 0.0


# --- McCulloch–Pitts neuron -------------------------------------------------------------------------


def test_mcculloch_pitts_threshold_logic_and_activations():
    x = load_dataset("and_r", inputs=3).x
    neuron = architectures.create_model("mcculloch_pitts_neuron", input_shape=(3,), activation="step")
    neuron.set_folded_weights([-(3 - 0.5), 1, 1, 1])  # R-input AND: w_0 = −(R − 0.5)
    np.testing.assert_array_equal(neuron.predict(x, verbose=0)[:, 0], x.all(axis=1))
    neuron.set_folded_weights([0.5, -1, 0, 0])  # one inhibitory input: NOT x_1
    np.testing.assert_array_equal(neuron.predict(x, verbose=0)[:, 0], 1 - x[:, 0])

    with tf.GradientTape() as tape:
        loss = keras.ops.sum(neuron(x))
    gradients = tape.gradient(loss, neuron.trainable_weights)  # None: the step cuts the gradient path
    assert all(g is None or float(tf.reduce_sum(tf.abs(g))) == 0.0 for g in gradients)

    u = np.array([[-2.0], [0.0], [0.5]], "float32")
    for activation, slope, expected in [
        ("sigmoid", 2.0, 1 / (1 + np.exp(-2 * u))),
        ("tanh", 1.0, np.tanh(u)),
        ("piecewise_linear", 1.0, np.clip(u + 0.5, 0, 1)),
        ("step", 1.0, (u >= 0).astype("float32")),
    ]:
        unit = architectures.create_model("mcculloch_pitts_neuron", input_shape=(1,), activation=activation, slope=slope)
        unit.set_folded_weights([0.0, 1.0])
        np.testing.assert_allclose(unit.predict(u, verbose=0), expected, rtol=1e-6, atol=1e-7)


# --- ADALINE ----------------------------------------------------------------------------------------


def test_adaline_lms_converges_to_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)).astype("float32")
    y = (x @ np.array([1.5, -2.0, 0.5]) + 0.7 + rng.normal(scale=0.1, size=400)).astype("float32")
    model = compiled(architectures.create_model("adaline", input_shape=(3,), quantizer=None, learning_rate=0.005))
    history = model.fit(x, y, batch_size=50, epochs=15, shuffle=False, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    design = np.hstack([np.ones((len(x), 1)), x])
    least_squares = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(model.folded_weights(), least_squares, atol=0.02)


def test_adaline_classifies_with_the_sign_quantiser():
    data = load_dataset("blobs_separable")
    model = compiled(architectures.create_model("adaline"), metrics=["accuracy"])
    history = model.fit(data.x, data.y, batch_size=32, epochs=10, verbose=0).history
    predictions = model.predict(data.x, verbose=0)[:, 0]
    assert set(np.unique(predictions)) <= {-1.0, 1.0}
    assert np.mean((predictions > 0) == data.y) == 1.0 and history["accuracy"][-1] > 0.95


# --- linear regression --------------------------------------------------------------------------------


def _design(x):
    return np.hstack([np.ones((len(x), 1)), x])


def test_linear_regression_gradient_descent_matches_lstsq():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype("float32")
    y = (x @ np.array([[2.0], [-1.0], [0.5]]) + 3.0 + rng.normal(scale=0.3, size=(200, 1))).astype("float32")
    model = architectures.create_model("linear_regression", input_shape=(3,))
    gradient_descent(model, x, y, steps=600, learning_rate=0.2)
    kernel, bias = model.get_layer("theta").get_weights()
    theta = np.linalg.lstsq(_design(x), y, rcond=None)[0][:, 0]
    np.testing.assert_allclose(np.concatenate([bias, kernel[:, 0]]), theta, atol=1e-4)


def test_linear_regression_on_the_house_price_table():
    house = load_dataset("house_prices")
    mean, std = float(house.x.mean()), float(house.x.std())
    model = architectures.create_model("linear_regression", preprocessing={"mean": [mean], "std": [std]})
    gradient_descent(model, house.x, house.y / 100.0, steps=400, learning_rate=0.5)
    expected = _design(house.x) @ np.linalg.lstsq(_design(house.x), house.y / 100.0, rcond=None)[0]
    np.testing.assert_allclose(model.predict(house.x, verbose=0), expected, atol=1e-4)


def test_ridge_penalty_excludes_the_bias():
    model = architectures.create_model("linear_regression", input_shape=(2,), l2=0.1)
    layer = model.get_layer("theta")
    layer.set_weights([np.zeros((2, 1), "float32"), np.array([5.0], "float32")])
    assert float(keras.ops.sum(model.losses)) == 0.0  # θ_0 alone costs nothing
    layer.set_weights([np.array([[1.0], [2.0]], "float32"), np.array([5.0], "float32")])
    np.testing.assert_allclose(float(keras.ops.sum(model.losses)), 0.1 * 5.0, rtol=1e-6)

    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 2)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0]]) + 4.0).astype("float32")
    gradient_descent(model, x, y, steps=600, learning_rate=0.2)
    # Minimiser of (1/m)‖Xθ + θ_0 − y‖² + l2·‖θ‖² with θ_0 unpenalised.
    penalty = np.diag([0.0, 1.0, 1.0]) * len(x) * 0.1
    theta = np.linalg.solve(_design(x).T @ _design(x) + penalty, _design(x).T @ y)[:, 0]
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(np.concatenate([bias, kernel[:, 0]]), theta, atol=1e-4)
    assert abs(bias[0] - 4.0) < 0.1  # the intercept is not shrunk


def test_polynomial_regression_fits_the_quadratic():
    data = load_dataset("quadratic")
    model = architectures.create_model("linear_regression", degree=2)
    gradient_descent(model, data.x, data.y, steps=1500, learning_rate=0.02)
    kernel, bias = model.get_layer("theta").get_weights()
    np.testing.assert_allclose(kernel[:, 0], [0.0, 1.0], atol=0.1)
    assert abs(bias[0]) < 0.2


# --- logistic regression ------------------------------------------------------------------------------


def test_logistic_bce_gradient_with_respect_to_the_logit_is_a_minus_y():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype("float32")
    y = np.array([[0], [1], [1], [0], [1], [0]], "float32")
    model = architectures.create_model("logistic_regression", config="tiny")
    logit = model.get_layer("logit")
    z = tf.Variable(logit(x))
    with tf.GradientTape() as tape:
        a = model.get_layer("probability")(z)
        loss = keras.losses.BinaryCrossentropy()(y, a) * len(x)  # summed over the examples
    dz = tape.gradient(loss, z).numpy()
    np.testing.assert_allclose(dz, keras.ops.sigmoid(z).numpy() - y, atol=1e-5)
    with tf.GradientTape() as tape:
        loss = keras.losses.BinaryCrossentropy()(y, model(x))
    dw, db = tape.gradient(loss, [logit.kernel, logit.bias])
    np.testing.assert_allclose(dw.numpy(), x.T @ dz / len(x), atol=1e-5)  # dw = (1/m)Σ x·dz
    np.testing.assert_allclose(db.numpy(), dz.mean(axis=0), atol=1e-5)


def test_logistic_worked_boundary():
    model = architectures.create_model("logistic_regression", input_shape=(2,))
    model.get_layer("logit").set_weights([np.array([[1.0], [1.0]], "float32"), np.array([-3.0], "float32")])
    points = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 0.5], [0.0, 2.9]], "float32")
    np.testing.assert_array_equal(model.predict(points, verbose=0)[:, 0] >= 0.5, points.sum(axis=1) >= 3)


def test_logistic_boundary_agrees_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    data = load_dataset("blobs_overlapping")
    model = architectures.create_model("logistic_regression", input_shape=(2,))
    gradient_descent(model, data.x, data.y, steps=3000, learning_rate=1.0, loss="binary_crossentropy")
    # C=inf is scikit-learn ≥ 1.8's spelling of penalty=None (no regularisation).
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(data.x, data.y)
    kernel, bias = model.get_layer("logit").get_weights()
    np.testing.assert_allclose(kernel[:, 0], reference.coef_[0], rtol=2e-3)
    np.testing.assert_allclose(bias, reference.intercept_, atol=2e-3)
    np.testing.assert_array_equal(model.predict(data.x, verbose=0)[:, 0] >= 0.5, reference.predict(data.x) == 1)


def test_logistic_regression_canonical_count_is_the_unrolled_image():
    assert architectures.create_model("logistic_regression").count_params() == 64 * 64 * 3 + 1


# --- one-vs-all ------------------------------------------------------------------------------------------


def test_ova_loss_is_the_mean_of_independent_binary_losses():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = np.arange(10) % 3
    model = architectures.create_model("logistic_ova")
    probabilities = model(x)
    expected = np.mean([keras.losses.BinaryCrossentropy()((y == k).astype("float32")[:, None], probabilities[:, k : k + 1]) for k in range(3)])
    np.testing.assert_allclose(float(model.compute_loss(x, y, probabilities)), expected, rtol=1e-5)
    one_hot = keras.utils.to_categorical(y, 3)
    np.testing.assert_allclose(float(model.compute_loss(x, one_hot, probabilities)), expected, rtol=1e-5)
    # Class k's weights get gradient from class k's binary problem only.
    layer = model.get_layer("one_vs_all")
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x))
    kernel_gradient = tape.gradient(loss, layer.kernel).numpy()
    with tf.GradientTape() as tape:
        binary = keras.losses.BinaryCrossentropy()((y == 1).astype("float32")[:, None], model(x)[:, 1:2])
    np.testing.assert_allclose(kernel_gradient[:, 1], tape.gradient(binary, layer.kernel).numpy()[:, 1] / 3, rtol=1e-4, atol=1e-7)


def test_ova_classifies_iris_by_argmax():
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    data = load_dataset("iris")
    mean, std = data.x.mean(axis=0), data.x.std(axis=0)
    model = architectures.create_model("logistic_ova", preprocessing={"mean": mean.tolist(), "std": std.tolist()})
    compiled(model, keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(tf.data.Dataset.from_tensors((data.x, data.y)).repeat(300), epochs=1, shuffle=False, verbose=0)
    predicted = np.argmax(model.predict(data.x, verbose=0), axis=1)
    reference = OneVsRestClassifier(LogisticRegression(C=np.inf, max_iter=5000)).fit((data.x - mean) / std, data.y)
    assert np.mean(predicted == data.y) > 0.9
    assert np.mean(predicted == reference.predict((data.x - mean) / std)) > 0.95


# --- linear classifier -----------------------------------------------------------------------------------


def test_linear_classifier_counts_and_templates():
    model = architectures.create_model("linear_classifier")
    assert model.count_params() == 30_730
    assert architectures.create_model("linear_classifier", hidden_units=[1536]).count_params() == 4_735_498
    templates = model.class_templates()
    assert templates.shape == (10, 32, 32, 3)
    kernel = model.get_layer("scores").kernel.numpy()
    np.testing.assert_array_equal(templates[3].reshape(-1), kernel[:, 3])


def test_weston_watkins_hinge_worked_example():
    # cs231n's three-example illustration: losses 2.9, 0 and 12.9.
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], "float32")
    losses = multiclass_hinge(np.array([0, 1, 2]), scores).numpy()
    np.testing.assert_allclose(losses, [2.9, 0.0, 12.9], atol=1e-5)


def test_linear_classifier_trains_with_the_hinge():
    data = load_dataset("digits", image_size=8)
    model = architectures.create_model(
        "linear_classifier", input_shape=(8, 8, 1), loss="hinge", preprocessing={"scale": 1 / 255.0}
    )
    compiled(model, keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(data.x, data.y, batch_size=128, epochs=8, verbose=0).history
    scores = model.predict(data.x, verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    assert not np.allclose(scores.sum(axis=1), 1.0)  # raw scores, not probabilities
    assert np.mean(np.argmax(scores, axis=1) == data.y) > 0.9


# --- MLP --------------------------------------------------------------------------------------------------


def test_mlp_parameter_counts():
    assert architectures.create_model("mlp").count_params() == 86_950
    three_three_one = architectures.create_model("mlp", input_shape=(3,), hidden_units=(3,), num_classes=1, head="sigmoid")
    assert three_three_one.count_params() == 16
    assert [w.shape for w in three_three_one.get_weights()] == [(3, 3), (3,), (3, 1), (1,)]  # Θ[1] 3×4, Θ[2] 1×4


def test_two_two_one_tanh_network_solves_xor():
    data = load_dataset("xor")
    targets = 2.0 * data.y[:, None] - 1.0
    for seed in range(5):  # a 2-2-1 net can stall in a local minimum from an unlucky start
        keras.utils.set_random_seed(seed)
        model = architectures.create_model("mlp", input_shape=(2,), hidden_units=(2,), num_classes=1, hidden_activation="tanh", head="tanh")
        compiled(model, keras.optimizers.Adam(0.05), "mse")
        model.fit(tf.data.Dataset.from_tensors((data.x, targets)).repeat(400), epochs=1, shuffle=False, verbose=0)
        if np.array_equal(np.sign(model.predict(data.x, verbose=0)), targets):
            return
    pytest.fail("no 2-2-1 tanh network solved XOR from 5 starts")


def test_backprop_gradients_match_finite_differences():
    keras.config.set_floatx("float64")
    try:
        model = architectures.create_model("mlp", input_shape=(3,), hidden_units=(4, 3), num_classes=2, hidden_activation=["tanh", "sigmoid"])
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        analytic = tape.gradient(loss, model.trainable_weights)
        epsilon = 1e-6
        for variable, gradient in zip(model.trainable_weights, analytic):
            values = variable.numpy()
            numeric = np.zeros_like(values)
            for index in np.ndindex(values.shape):
                for sign in (1, -1):
                    shifted = values.copy()
                    shifted[index] += sign * epsilon
                    variable.assign(shifted)
                    numeric[index] += sign * float(loss_fn(y, model(x))) / (2 * epsilon)
                variable.assign(values)
            np.testing.assert_allclose(gradient.numpy(), numeric, rtol=1e-6, atol=1e-8)
    finally:
        keras.config.set_floatx("float32")


def test_linear_activations_collapse_to_one_layer():
    model = architectures.create_model("mlp", input_shape=(4,), hidden_units=(5, 6), num_classes=2, hidden_activation="linear", head="linear")
    (w1, b1), (w2, b2), (w3, b3) = [model.get_layer(n).get_weights() for n in ("hidden_1", "hidden_2", "predictions")]
    x = np.random.default_rng(0).normal(size=(7, 4)).astype("float32")
    collapsed_w, collapsed_b = w1 @ w2 @ w3, (b1 @ w2 + b2) @ w3 + b3
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ collapsed_w + collapsed_b, rtol=1e-4, atol=1e-5)


# --- Blum–Li ------------------------------------------------------------------------------------------------


def _blum_li_rmse(dims, cells, function, rng):
    model = architectures.create_model("blum_li_constructive", input_shape=(dims,), cells=cells)
    model.synthesize(function)
    points = rng.uniform(0.0, 1.0, size=(2000, dims)).astype("float32")
    return float(np.sqrt(np.mean((model.predict(points, verbose=0)[:, 0] - function(points)) ** 2))), model


@pytest.mark.parametrize(
    "dims, function",
    [
        (1, lambda p: np.sin(2 * np.pi * p[:, 0])),
        (2, lambda p: np.exp(-8 * ((p[:, 0] - 0.5) ** 2 + (p[:, 1] - 0.4) ** 2))),
    ],
)
def test_blum_li_error_falls_as_the_grid_is_refined(dims, function):
    rng = np.random.default_rng(0)
    errors = [_blum_li_rmse(dims, cells, function, rng)[0] for cells in (2, 4, 8, 16)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.1


def test_blum_li_weights_are_synthesised_not_trained(tmp_path):
    _, model = _blum_li_rmse(2, 5, lambda p: p[:, 0] * p[:, 1], np.random.default_rng(0))
    assert model.trainable_weights == []
    assert model.num_neurons == 5 + 5 + 25 + 1
    inside = np.array([[0.1, 0.1], [0.55, 0.95], [0.99, 0.3]], "float32")
    cell_centres = (np.floor(inside * 5) + 0.5) / 5
    np.testing.assert_allclose(model.predict(inside, verbose=0)[:, 0], cell_centres[:, 0] * cell_centres[:, 1], rtol=1e-6)
    model.save(tmp_path / "blum_li.keras")
    reloaded = keras.saving.load_model(tmp_path / "blum_li.keras")
    np.testing.assert_array_equal(reloaded.predict(inside, verbose=0), model.predict(inside, verbose=0))


# --- time-window FFNN -----------------------------------------------------------------------------------------


def _window_mse(window, coefficients):
    data = load_dataset("ar2_series", coefficients=coefficients, history=8, length=1200)
    train, test = slice(0, 1000), slice(1000, None)
    model = architectures.create_model("time_window_ffnn", window=window, hidden_units=(16,))
    compiled(model, keras.optimizers.Adam(0.01), "mse")
    model.fit(minibatch_epochs(data.x[train], data.y[train], 64, 30), epochs=1, shuffle=False, verbose=0)
    mse = float(np.mean((model.predict(data.x[test], verbose=0) - data.y[test]) ** 2))
    mean_predictor = float(np.mean((data.y[train].mean() - data.y[test]) ** 2))
    return mse / mean_predictor


def test_time_window_beats_the_mean_predictor_on_ar2():
    assert _window_mse(window=2, coefficients=(0.75, -0.5)) < 0.85


def test_time_window_fails_when_the_lag_exceeds_the_window():
    lag_five = (0.0, 0.0, 0.0, 0.0, 0.8)  # x_t depends only on x_{t−5}
    assert _window_mse(window=3, coefficients=lag_five) > 0.9
    assert _window_mse(window=5, coefficients=lag_five) < 0.6


# --- Hopfield -------------------------------------------------------------------------------------------------


def test_hopfield_recalls_patterns_from_noisy_cues():
    units, count = 100, 10  # 0.1·N patterns
    patterns = load_dataset("bipolar_patterns", units=units, patterns=count, seed=1).x
    model = compiled(architectures.create_model("hopfield_net", input_shape=(units,)))
    history = model.fit(patterns, patterns, batch_size=count, epochs=1, verbose=0).history
    assert history["loss"] == [1.0]  # an empty memory: no bit is stable before storage

    weights = model.weight_matrix.numpy()
    np.testing.assert_allclose(weights, weights.T)
    np.testing.assert_array_equal(np.diag(weights), 0.0)
    np.testing.assert_allclose(weights, (patterns.T @ patterns - count * np.eye(units)) / units, atol=1e-6)

    rng = np.random.default_rng(0)
    cues = patterns.copy()
    for cue in cues:
        cue[rng.choice(units, units // 10, replace=False)] *= -1
    recalled = model.predict(cues, verbose=0)
    assert np.mean(np.all(recalled == patterns, axis=1)) >= 0.9
    assert np.mean(recalled == patterns) > 0.99
    assert np.all(model.energy(recalled) <= model.energy(cues))  # asynchronous updates never raise E
    assert model.evaluate(patterns, patterns, verbose=0) == 0.0  # every stored pattern is now stable


def test_hopfield_store_equals_one_epoch_of_fit():
    patterns = load_dataset("bipolar_patterns", units=32, patterns=3).x
    fitted = compiled(architectures.create_model("hopfield_net", input_shape=(32,)))
    fitted.fit(patterns, patterns, batch_size=2, epochs=1, verbose=0)
    stored = architectures.create_model("hopfield_net", input_shape=(32,)).store(patterns)
    np.testing.assert_allclose(fitted.weight_matrix.numpy(), stored.weight_matrix.numpy(), atol=1e-6)


# --- Kohonen SOM -----------------------------------------------------------------------------------------------


def test_som_is_topographically_ordered_on_uniform_data():
    data = load_dataset("uniform_2d")
    model = compiled(architectures.create_model("kohonen_som", decay_steps=8000))
    before = model.quantization_error(data.x)
    history = model.fit(data.x, data.x, batch_size=100, epochs=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert model.quantization_error(data.x) < before
    assert model.topographic_error(data.x) < 0.1
    grid = model.prototype_grid()
    neighbour_gaps = np.concatenate([np.linalg.norm(np.diff(grid, axis=0), axis=-1).ravel(), np.linalg.norm(np.diff(grid, axis=1), axis=-1).ravel()])
    assert neighbour_gaps.max() < 0.3  # neighbouring nodes hold nearby prototypes
    coordinates = model.predict(data.x[:5], verbose=0)
    assert coordinates.shape == (5, 2) and np.all((coordinates >= 0) & (coordinates <= 9))


# --- cellular NN ------------------------------------------------------------------------------------------------


def test_cellular_edge_template_gives_the_binary_edge_map():
    images = load_dataset("edge_images", n_samples=20, seed=4).x
    model = architectures.create_model("cellular_nn")
    output = model.predict(images, verbose=0)
    np.testing.assert_array_equal(output, reference_edges(images))
    # A filled square keeps its one-pixel outline only.
    square = -np.ones((1, 16, 16, 1), "float32")
    square[0, 4:10, 4:10] = 1.0
    outline = -np.ones_like(square)
    outline[0, 4:10, 4:10] = 1.0
    outline[0, 5:9, 5:9] = -1.0
    np.testing.assert_array_equal(model.predict(square, verbose=0), outline)


def test_cellular_output_nonlinearity_and_corner_template():
    x = np.array([-3.0, -1.0, -0.2, 0.0, 0.5, 1.0, 4.0], "float32")
    np.testing.assert_allclose(saturation(x), np.clip(x, -1, 1))
    square = -np.ones((1, 8, 8, 1), "float32")
    square[0, 2:6, 2:6] = 1.0
    corners = architectures.create_model("cellular_nn", input_shape=(8, 8, 1), template="corner").predict(square, verbose=0)
    assert sorted(zip(*np.nonzero(corners[0, :, :, 0] > 0))) == [(2, 2), (2, 5), (5, 2), (5, 5)]


# --- Oja / Sanger -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule, components", [("oja", 1), ("sanger", 3)])
def test_hebbian_pca_matches_numpy_eigenvectors(rule, components):
    data = load_dataset("correlated_gaussians")
    model = compiled(architectures.create_model("oja_pca_net", num_components=components, rule=rule, learning_rate=0.002))
    history = model.fit(data.x, data.x, batch_size=100, epochs=6, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(data.x, rowvar=False))
    top = eigenvectors[:, np.argsort(eigenvalues)[::-1][:components]].T
    learned = model.components()
    cosines = np.abs(np.sum(learned * top, axis=1)) / np.linalg.norm(learned, axis=1)
    assert np.all(cosines > 0.99), cosines


# --- rule-trained models: save/load after fit ------------------------------------------------------------------


@pytest.mark.parametrize("name", RULE_TRAINED)
def test_rule_trained_models_survive_keras_round_trip_after_fit(name, tmp_path):
    spec = architectures.get_spec(name)
    model = compiled(architectures.create_model(name, config="tiny"))
    x, y = spec.example_batch(architectures.resolved_config(name, "tiny"), 0)
    model.fit(x, y, batch_size=len(x), epochs=2, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # The reloaded model keeps training by its rule from where it stopped.
    compiled(reloaded).fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    compiled(model).fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
