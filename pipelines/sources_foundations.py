"""Embedded data sources of family A, foundations (spec §8.2 A). All are generated from a seed.

    and, or, xor, and_r     truth tables (0/1 inputs, class 0/1); and_r has R inputs
    blobs_separable         2-D two-class blobs with a guaranteed margin (linearly separable)
    blobs_overlapping       2-D two-class blobs that overlap (not linearly separable)
    quadratic               y = x² + ε, 1-D regression
    house_prices            the notes' 4-row table: size (ft²) → price (k$)
    credit_approval         a synthetic credit-approval table (5 features, approved or not)
    ar2_series, sine_series windows of a series: history [N, T, 1] → next value [N, 1]
    bipolar_patterns        random ±1 patterns for the Hopfield network (x = y = patterns)
    uniform_2d              uniform points in the unit square for the SOM (x = y)
    correlated_gaussians    zero-mean Gaussian with a fixed covariance for Oja/Sanger (x = y)
    edge_images             ±1 (black = +1) images of rectangles and their EDGE maps (cellular NN)
"""

import itertools

import numpy as np

from pipelines.datasets import Dataset, register_dataset

BINARY = ["0", "1"]

# --- truth tables ------------------------------------------------------------------------------

GATES = {"and": np.all, "or": np.any, "xor": lambda bits, axis: np.sum(bits, axis=axis) % 2 == 1}


def _truth_table(name, inputs=2):
    x = np.array(list(itertools.product([0, 1], repeat=inputs)), dtype="float32")
    y = GATES[name](x > 0, axis=1).astype("int32")
    return Dataset(name, "classification", x, y, BINARY, f"{name.upper()} truth table, {inputs} inputs, {len(x)} rows")


def _register_gate(name):
    @register_dataset(name, "classification", f"{name.upper()} truth table (4 rows, inputs 0/1)")
    def load(seed=0):
        return _truth_table(name)

    return load


for _gate in ("and", "or", "xor"):
    _register_gate(_gate)


@register_dataset("and_r", "classification", "R-input AND truth table (2^R rows)")
def load_and_r(seed=0, inputs=3):
    if int(inputs) < 1:
        raise ValueError(f"inputs must be >= 1. Received: inputs={inputs}")
    dataset = _truth_table("and", int(inputs))
    dataset.name = "and_r"
    return dataset


# --- 2-D blobs -----------------------------------------------------------------------------------


@register_dataset("blobs_separable", "classification", "2-D two-class Gaussian blobs with a margin (linearly separable)")
def load_blobs_separable(seed=0, n_samples=200, margin=0.5):
    """Blobs around (−1.5, −1.5) and (1.5, 1.5); points within `margin` of the boundary x₁ + x₂ = 0
    (or on its wrong side) are redrawn, so the classes are separable with that margin."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n_samples) % 2).astype("int32")
    x = np.empty((n_samples, 2), "float32")
    sign = np.where(y == 1, 1.0, -1.0)
    pending = np.arange(n_samples)
    while pending.size:
        x[pending] = rng.normal(scale=0.8, size=(pending.size, 2)) + 1.5 * sign[pending, None]
        distance = sign * (x[:, 0] + x[:, 1]) / np.sqrt(2.0)
        pending = np.flatnonzero(distance < margin)
    return Dataset("blobs_separable", "classification", x, y, BINARY, "linearly separable 2-D blobs")


@register_dataset("blobs_overlapping", "classification", "2-D two-class Gaussian blobs that overlap (not separable)")
def load_blobs_overlapping(seed=0, n_samples=200, cluster_std=1.5):
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=n_samples, centers=[(-1.0, -1.0), (1.0, 1.0)], cluster_std=cluster_std, random_state=seed)
    return Dataset("blobs_overlapping", "classification", x.astype("float32"), y.astype("int32"), BINARY, "overlapping 2-D blobs")


# --- regression tables ---------------------------------------------------------------------------


@register_dataset("quadratic", "regression", "y = x² + ε on x ∈ [−3, 3] (1-D)")
def load_quadratic(seed=0, n_samples=200, noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, size=(n_samples, 1)).astype("float32")
    y = (x**2 + rng.normal(scale=noise, size=x.shape)).astype("float32")
    return Dataset("quadratic", "regression", x, y, None, f"y = x² + N(0, {noise}²)")


HOUSE_PRICES = np.array([[2104, 460], [1416, 232], [1534, 315], [852, 178]], dtype="float32")


@register_dataset("house_prices", "regression", "the notes' 4-row house-price table: size (ft²) → price (k$)")
def load_house_prices(seed=0):
    return Dataset("house_prices", "regression", HOUSE_PRICES[:, :1].copy(), HOUSE_PRICES[:, 1:].copy(), None, "003's house-price rows")


CREDIT_FEATURES = ("income_k", "debt_ratio", "years_employed", "credit_history_years", "late_payments")


@register_dataset("credit_approval", "classification", "synthetic credit approval: 5 applicant features → approved")
def load_credit_approval(seed=0, n_samples=500):
    """Applicants with income, debt ratio, employment and credit-history years and late payments;
    approval is drawn from a logistic model of those features (so it is learnable, not separable)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=np.log(45.0), sigma=0.4, size=n_samples)
    debt_ratio = rng.beta(2.0, 5.0, size=n_samples)
    years_employed = rng.gamma(2.0, 3.0, size=n_samples)
    history = np.clip(years_employed + rng.normal(2.0, 3.0, size=n_samples), 0.0, None)
    late = rng.poisson(0.8, size=n_samples).astype("float64")
    logit = 0.04 * (income - 45.0) - 6.0 * (debt_ratio - 0.3) + 0.1 * years_employed + 0.1 * history - 0.9 * late + 0.3
    approved = (rng.uniform(size=n_samples) < 1.0 / (1.0 + np.exp(-logit))).astype("int32")
    x = np.stack([income, debt_ratio, years_employed, history, late], axis=1).astype("float32")
    return Dataset("credit_approval", "classification", x, approved, ["declined", "approved"], "features: " + ", ".join(CREDIT_FEATURES))


# --- time series windows -------------------------------------------------------------------------


def series_windows(series, history):
    """All (x_{t−T..t−1}, x_t) pairs of a 1-D series: x [N, T, 1], y [N, 1]."""
    series = np.asarray(series, dtype="float32")
    windows = np.lib.stride_tricks.sliding_window_view(series[:-1], history)
    return windows[..., None].copy(), series[history:, None].copy()


def autoregressive_series(coefficients, length, noise, rng, burn_in=200):
    """x_t = Σ_k coefficients[k−1]·x_{t−k} + ε_t, ε ~ N(0, noise²)."""
    order = len(coefficients)
    values = np.zeros(length + burn_in + order)
    shocks = rng.normal(scale=noise, size=values.shape)
    for t in range(order, len(values)):
        values[t] = np.dot(coefficients, values[t - order : t][::-1]) + shocks[t]
    return values[-length:]


@register_dataset("ar2_series", "regression", "AR(2) series windows: 8 past values → the next (φ = 0.75, −0.5)")
def load_ar2_series(seed=0, length=1000, history=8, coefficients=(0.75, -0.5), noise=0.5):
    """Windows of an autoregressive series; `coefficients` are φ_1..φ_p (AR(2) by default; a longer
    list with zeros gives a series whose only dependence is at a long lag)."""
    series = autoregressive_series(list(coefficients), length + history, noise, np.random.default_rng(seed))
    x, y = series_windows(series, history)
    return Dataset("ar2_series", "regression", x, y, None, f"AR({len(coefficients)}) φ={list(coefficients)}, history {history}")


@register_dataset("sine_series", "regression", "noisy sine windows: 8 past values → the next")
def load_sine_series(seed=0, length=1000, history=8, period=25.0, noise=0.05):
    rng = np.random.default_rng(seed)
    t = np.arange(length + history)
    series = np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + rng.normal(scale=noise, size=t.shape)
    x, y = series_windows(series, history)
    return Dataset("sine_series", "regression", x, y, None, f"sin(2πt/{period}) + N(0, {noise}²), history {history}")


# --- unsupervised ------------------------------------------------------------------------------


@register_dataset("bipolar_patterns", "unsupervised", "random ±1 patterns (Hopfield): 10 patterns of 100 bits")
def load_bipolar_patterns(seed=0, units=100, patterns=10):
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1.0, 1.0], "float32"), size=(patterns, units))
    return Dataset("bipolar_patterns", "unsupervised", x, x.copy(), None, f"{patterns} random bipolar patterns of {units} bits")


@register_dataset("uniform_2d", "unsupervised", "uniform points in the unit square (SOM)")
def load_uniform_2d(seed=0, n_samples=1000):
    x = np.random.default_rng(seed).uniform(0.0, 1.0, size=(n_samples, 2)).astype("float32")
    return Dataset("uniform_2d", "unsupervised", x, x.copy(), None, "uniform on [0, 1]²")


CORRELATED_VARIANCES = (5.0, 2.0, 1.0, 0.5, 0.2)


def correlated_covariance(dims=5):
    """The data set's fixed covariance: eigenvalues `CORRELATED_VARIANCES` (extended geometrically
    for more dimensions) along a rotation drawn once from seed 1234, so every seed shares it."""
    variances = np.array([CORRELATED_VARIANCES[i] if i < len(CORRELATED_VARIANCES) else 0.2 * 0.5 ** (i - 4) for i in range(dims)])
    rotation, _ = np.linalg.qr(np.random.default_rng(1234).normal(size=(dims, dims)))
    return (rotation * variances) @ rotation.T


@register_dataset("correlated_gaussians", "unsupervised", "zero-mean 5-D Gaussian with a fixed covariance (Oja/Sanger PCA)")
def load_correlated_gaussians(seed=0, n_samples=2000, dims=5):
    covariance = correlated_covariance(dims)
    x = np.random.default_rng(seed).multivariate_normal(np.zeros(dims), covariance, size=n_samples).astype("float32")
    return Dataset("correlated_gaussians", "unsupervised", x, x.copy(), None, f"N(0, Σ), eigenvalues {np.linalg.eigvalsh(covariance)[::-1].round(3).tolist()}")


def edge_map(images, boundary_value=-1.0):
    """The EDGE template's expected output: +1 where a black (+1) pixel has a white 8-neighbour
    (pixels outside the image count as `boundary_value`), else −1. The same rule as
    `architectures.foundations.cellular.reference_edges`, kept here so that loading data does not
    import Keras; tests/test_foundations.py checks that the two agree."""
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=boundary_value)
    height, width = images.shape[1:3]
    shifted = [padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    white_neighbour = np.any(np.stack(shifted) < 0, axis=0)
    return np.where((images > 0) & white_neighbour, 1.0, -1.0).astype("float32")


@register_dataset("edge_images", "regression", "±1 images of 1–3 rectangles (black = +1) → their EDGE maps (cellular NN)")
def load_edge_images(seed=0, n_samples=200, size=16):
    rng = np.random.default_rng(seed)
    x = -np.ones((n_samples, size, size, 1), "float32")
    for image in x:
        for _ in range(rng.integers(1, 4)):
            top, left = rng.integers(0, size - 3, size=2)
            height, width = rng.integers(3, size // 2 + 1, size=2)
            image[top : top + height, left : left + width] = 1.0
    return Dataset("edge_images", "regression", x, edge_map(x), None, f"{size}×{size} rectangles and their edge maps")
