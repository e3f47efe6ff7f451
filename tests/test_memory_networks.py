"""Row checks of the memory-augmented networks (spec §2 H: ntm, neural_gpu, rl_ntm, neural_ram,
stack_queue_rnn) and the Elman net on the adding problem. Each NTM addressing step and the
stack/queue step is compared with a hand-computed numpy step."""

import numpy as np
import pytest

import architectures
from architectures.sequence import memory
from tasks import algorithmic


def _np(t):
    return np.asarray(t, dtype=np.float64)


# --- NTM addressing, one step each against numpy ---------------------------------------------------

MEMORY = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]], np.float32)  # N = 4 rows, M = 2


def test_content_addressing_is_softmax_of_beta_times_cosine():
    key, beta = np.array([[1.0, 0.0]], np.float32), np.array([2.0], np.float32)
    cosine = np.array([1.0, 0.0, 1 / np.sqrt(2), -1.0])  # by hand
    expected = np.exp(2 * cosine) / np.exp(2 * cosine).sum()
    np.testing.assert_allclose(_np(memory.content_weights(MEMORY, key, beta))[0], expected, rtol=1e-5)


def test_interpolation_with_the_previous_weighting():
    content = np.array([[0.7, 0.1, 0.1, 0.1]], np.float32)
    previous = np.array([[0.0, 0.0, 1.0, 0.0]], np.float32)
    got = _np(memory.interpolate(content, previous, np.array([0.25], np.float32)))[0]
    np.testing.assert_allclose(got, [0.175, 0.025, 0.775, 0.025], rtol=1e-6)


def test_circular_convolution_shift_wraps_around():
    w = np.array([[0.5, 0.3, 0.0, 0.2]], np.float32)
    # All mass on +1: every weight moves one row down, the last wraps to the first.
    np.testing.assert_allclose(_np(memory.circular_shift(w, np.array([[0, 0, 1]], np.float32)))[0], [0.2, 0.5, 0.3, 0.0])
    np.testing.assert_allclose(_np(memory.circular_shift(w, np.array([[1, 0, 0]], np.float32)))[0], [0.3, 0.0, 0.2, 0.5])
    # w̃_i = Σ_j w_j s(i − j) with s(−1) = 0.1, s(0) = 0.6, s(+1) = 0.3, by hand for i = 0:
    # w_1·s(−1) + w_0·s(0) + w_3·s(+1) = 0.03 + 0.3 + 0.06.
    got = _np(memory.circular_shift(w, np.array([[0.1, 0.6, 0.3]], np.float32)))[0]
    np.testing.assert_allclose(got[0], 0.39, rtol=1e-6)
    np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-6)


def test_sharpening_raises_to_gamma_and_renormalises():
    w = np.array([[0.5, 0.3, 0.0, 0.2]], np.float32)
    got = _np(memory.sharpen(w, np.array([2.0], np.float32)))[0]
    np.testing.assert_allclose(got, np.array([0.25, 0.09, 0.0, 0.04]) / 0.38, rtol=1e-5, atol=1e-7)


def test_write_erases_then_adds():
    w = np.array([[0.0, 1.0, 0.5, 0.0]], np.float32)
    erase, add = np.array([[1.0, 0.0]], np.float32), np.array([[0.5, 0.5]], np.float32)
    got = _np(memory.erase_add(MEMORY, w, erase, add))[0]
    # Row 1: (0, 1)·(1 − (1, 0)) + (0.5, 0.5) = (0.5, 1.5); row 2: (1, 1)·(0.5, 1) + 0.5·(0.5, 0.5).
    np.testing.assert_allclose(got, [[1, 0], [0.5, 1.5], [0.75, 1.25], [-1, 0]], rtol=1e-6)
    np.testing.assert_allclose(_np(memory.read(MEMORY, w))[0], [0.5, 1.5])


def test_ntm_runs_on_any_length_with_one_set_of_weights():
    model = architectures.create_model("ntm", config="tiny")
    assert model.inputs[0].shape[1] is None  # dynamic time dimension
    short = np.asarray(model(algorithmic_copy(20)))  # trained lengths are ≤ 20
    assert short.shape == (2, 41, 8)
    long = algorithmic_copy(40)  # the test length
    reads, writes = memory.ntm_weightings(model, long)
    assert reads.shape == (2, 81, 1, 16) and writes.shape == (2, 81, 16)
    np.testing.assert_allclose(reads.sum(-1), 1.0, atol=1e-4)  # every weighting a distribution
    np.testing.assert_allclose(writes.sum(-1), 1.0, atol=1e-4)


def algorithmic_copy(length, n=2):
    from pipelines.sources_algorithmic import load_copy

    return load_copy(seed=1, n=n, min_length=length, max_length=length).x


# --- data ------------------------------------------------------------------------------------------


def test_copy_reverse_and_addition_targets():
    from pipelines.sources_algorithmic import load_binary_addition, load_copy, load_reverse

    copy, reverse = load_copy(n=3, min_length=2, max_length=5), load_reverse(n=3, min_length=2, max_length=5)
    for data, flip in ((copy, False), (reverse, True)):
        for x, y in zip(data.x, data.y):
            length = int(np.argmax(x[:, -1]))  # the delimiter step
            pattern = x[:length, :-1]
            np.testing.assert_array_equal(y[length + 1 : 2 * length + 1], pattern[::-1] if flip else pattern)
            assert np.all(y[: length + 1] == algorithmic.NO_TARGET) and np.all(y[2 * length + 1 :] == algorithmic.NO_TARGET)
    addition = load_binary_addition(n=20, bits=12)
    weights = 2 ** np.arange(13)
    a, b = addition.x[..., 0] @ weights, addition.x[..., 1] @ weights
    np.testing.assert_array_equal(addition.y[..., 0] @ weights, a + b)


def test_bit_scores_count_only_target_bits():
    y = np.array([[[-1, -1], [1, 0], [0, 1]], [[-1, -1], [1, 1], [0, 0]]], np.float32)
    p = np.array([[[0.9, 0.9], [0.8, 0.1], [0.2, 0.7]], [[0, 0], [0.9, 0.2], [0.1, 0.1]]], np.float32)
    report = algorithmic.bit_scores(y, p)
    assert report["bit_accuracy"] == pytest.approx(7 / 8) and report["sequence_accuracy"] == 0.5 and report["num_bits"] == 8


# --- Neural GPU ------------------------------------------------------------------------------------


def test_neural_gpu_applies_its_cgru_once_per_input_position():
    import keras

    model = architectures.create_model("neural_gpu", config="tiny")
    steps = model.get_layer("cgru_steps")
    x = np.random.default_rng(0).integers(0, 2, size=(2, 5, 2)).astype("float32")
    state = np.asarray(keras.Model(model.inputs, model.get_layer("first_row").output)(x))
    expected = state
    for _ in range(5):  # n = 5 steps of the (depth-1) CGRU
        expected = np.asarray(steps.cgru(expected, 0))
    np.testing.assert_allclose(np.asarray(steps(state)), expected, rtol=1e-4, atol=1e-5)
    long = np.zeros((1, 201, 2), "float32")  # 200-bit operands: the same weights, 201 steps
    assert np.asarray(model(long)).shape == (1, 201, 1)


# --- stack / queue (Grefenstette et al. 2015, Fig. 1's example) ------------------------------------


def _stack_run(kind, pushes, pops, values):
    capacity = len(pushes)
    vals, strengths = np.zeros((1, capacity, 1), np.float32), np.zeros((1, capacity), np.float32)
    cursor = np.eye(capacity, dtype=np.float32)[:1]
    reads = []
    for t, (d, u, v) in enumerate(zip(pushes, pops, values)):
        vals, strengths, r = memory.neural_stack_step(vals, strengths, cursor, np.array([d], np.float32),
                                                      np.array([u], np.float32), np.array([[v]], np.float32), kind)
        cursor = np.eye(capacity, dtype=np.float32)[t + 1 : t + 2] if t + 1 < capacity else np.zeros_like(cursor)
        reads.append(float(np.asarray(r)[0, 0]))
    return _np(strengths)[0], reads


def test_continuous_stack_matches_the_papers_example():
    # v1 = 1, v2 = 10, v3 = 100: t1 push 0.8; t2 pop 0.1, push 0.5; t3 pop 0.9, push 0.9.
    strengths, reads = _stack_run("stack", [0.8, 0.5, 0.9], [0.0, 0.1, 0.9], [1.0, 10.0, 100.0])
    np.testing.assert_allclose(strengths, [0.3, 0.0, 0.9], atol=1e-6)
    np.testing.assert_allclose(reads, [0.8, 0.5 * 10 + 0.5 * 1, 0.9 * 100 + 0.1 * 1], rtol=1e-5)


def test_continuous_queue_pops_from_the_front():
    strengths, reads = _stack_run("queue", [0.8, 0.5, 0.9], [0.0, 0.1, 0.9], [1.0, 10.0, 100.0])
    # t2: the front unit loses 0.1 (0.7 left), read 0.7·v1 + 0.3·v2; t3: pop 0.9 empties v1 and
    # takes 0.2 of v2 (0.3 left), read 0.3·v2 + 0.7·v3.
    np.testing.assert_allclose(strengths, [0.0, 0.3, 0.9], atol=1e-6)
    np.testing.assert_allclose(reads, [0.8, 0.7 + 3.0, 3.0 + 70.0], rtol=1e-5)


def test_stack_queue_rnn_builds_both_kinds():
    for kind in ("stack", "queue"):
        model = architectures.create_model("stack_queue_rnn", config="tiny", kind=kind)
        assert np.asarray(model(algorithmic_copy(6))).shape == (2, 13, 8)


# --- RL-NTM: REINFORCE with a baseline --------------------------------------------------------------


def test_rl_ntm_samples_moves_in_training_and_is_greedy_at_inference():
    import keras

    model = architectures.create_model("rl_ntm", config="tiny")
    x = algorithmic_copy(5)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), np.asarray(model(x, training=False)))
    noise = model.get_layer("move_noise")
    assert np.all(np.asarray(noise(x, training=False)) == 0) and np.std(np.asarray(noise(x, training=True))) > 0.5
    positions = memory.rl_ntm_head_positions(model, x)  # the head starts on cell 0 and moves −1, 0 or +1
    moves = np.diff(np.concatenate([np.zeros((2, 1), int), positions], axis=1), axis=1) % 48
    assert positions.shape == (2, 11) and set(np.unique(moves)) <= {0, 1, 47}

    from pipelines.sources_algorithmic import load_reverse
    from tasks import get_task

    data = load_reverse(n=16, min_length=3, max_length=3)
    get_task("bit_sequence").compile(model, keras.optimizers.Adam(1e-2))
    before = model.reinforce_terms(data.x, data.y)
    assert float(before["surrogate"]) != 0.0 and float(before["reward"]) < 0  # reward: −(cross-entropy)
    assert 0 < float(before["entropy"]) <= np.log(3) + 1e-6
    model.fit(data.x, data.y, batch_size=16, epochs=4, verbose=0)
    after = model.reinforce_terms(data.x, data.y)
    assert float(after["baseline_loss"]) < float(before["baseline_loss"])  # the baseline learns the returns


def test_reinforce_credits_each_move_with_the_rewards_after_it():
    rewards = np.array([[-1.0, -2.0, -3.0, 0.0]], np.float32)
    np.testing.assert_allclose(_np(memory.returns_after_each_step(rewards)), [[-5.0, -3.0, 0.0, 0.0]])
    y = np.full((1, 5, 2), algorithmic.NO_TARGET, np.float32)
    y[0, 2:4] = 1.0  # targets at steps 2 and 3: only the moves of steps 0, 1 and 2 change a reward
    np.testing.assert_array_equal(_np(memory.later_target_mask(y)), [[1, 1, 1, 0, 0]])


def test_reinforce_baseline_lowers_the_gradient_variance():
    # The score-function estimate (R − b)·∇log π on a 3-way softmax: same mean, smaller variance.
    rng = np.random.default_rng(0)
    logits = np.array([0.2, 0.0, -0.3])
    probs = np.exp(logits) / np.exp(logits).sum()
    rewards = np.array([1.0, 0.2, -0.5]) - 5.0  # rewards far from 0, as −(cross-entropy) is
    actions = rng.choice(3, size=20_000, p=probs)
    scores = np.eye(3)[actions] - probs  # ∇ log π(a) w.r.t. the logits
    plain = rewards[actions][:, None] * scores
    baseline = (rewards[actions] - rewards[actions].mean())[:, None] * scores
    np.testing.assert_allclose(plain.mean(0), baseline.mean(0), atol=0.05)
    assert baseline.var(0).sum() < 0.1 * plain.var(0).sum()


# --- NRAM -----------------------------------------------------------------------------------------


def test_nram_modules_act_on_fuzzy_values():
    size = 6
    a = np.array([0, 0.5, 0.5, 0, 0, 0])  # 1 or 2, half each
    b = np.eye(size)[3]
    np.testing.assert_allclose(a @ memory._module_table("inc", size), [0, 0, 0.5, 0.5, 0, 0])
    added = np.einsum("i,j,ijk->k", a, b, memory._module_table("add", size))
    np.testing.assert_allclose(added, [0, 0, 0, 0, 0.5, 0.5])
    less = np.einsum("i,j,ijk->k", a, b, memory._module_table("less_than", size))
    np.testing.assert_allclose(less, np.eye(size)[1])  # 1 < 3 and 2 < 3: true for sure
    np.testing.assert_allclose(np.eye(size)[5] @ memory._module_table("inc", size), np.eye(size)[0])  # mod M


def test_nram_final_memory_is_a_distribution_per_cell():
    from pipelines.sources_algorithmic import load_memory_access

    data = load_memory_access(n=4, memory_size=8)
    assert np.all(data.y[:, 0] == np.argmax(data.x, -1)[np.arange(4), np.argmax(data.x[:, 0], -1)])
    model = architectures.create_model("neural_ram", config="tiny")
    out = np.asarray(model(data.x))
    assert out.shape == (4, 8, 8)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)


# --- Elman net on the adding problem -----------------------------------------------------------------


def test_elman_net_learns_the_adding_problem():
    import keras

    from architectures.sequence.cells import make_cell
    from pipelines.sources_algorithmic import load_adding_problem

    keras.utils.set_random_seed(0)
    data = load_adding_problem(n=1000, steps=10)
    inputs = keras.Input((None, 2))
    state = keras.layers.RNN(make_cell("simple", 16))(inputs)  # Elman: h_t = tanh(W x_t + U h_{t−1} + b)
    model = keras.Model(inputs, keras.layers.Dense(1)(state))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(data.x[:800], data.y[:800], batch_size=50, epochs=30, verbose=0)
    mse = float(np.mean((np.asarray(model(data.x[800:])) - data.y[800:]) ** 2))
    assert mse < 0.05, mse  # predicting the mean sum (1.0) gives 1/6
