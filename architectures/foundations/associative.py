"""Unsupervised networks with local learning rules: the Hopfield associative memory, Kohonen's
self-organising map and the Oja / Sanger PCA network. All three learn in `train_step` by their own
rule (see `RuleTrainedModel`); their weights are non-trainable for gradient optimizers.

References:
    Hopfield, "Neural networks and physical systems with emergent collective computational
        abilities", PNAS 79, 1982.
    Kohonen, "Self-organized formation of topologically correct feature maps", Biological
        Cybernetics 43, 1982.
    Oja, "A simplified neuron model as a principal component analyzer", J. Math. Biology 15, 1982.
    Sanger, "Optimal unsupervised learning in a single-layer linear feedforward neural network",
        Neural Networks 2, 1989 (the generalised Hebbian algorithm).
"""

import keras
import numpy as np
from keras import ops

from architectures.foundations.common import RuleTrainedModel, flat_input, input_features, online_loop
from architectures.registry import ModelSpec, register

# --- Hopfield network -------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class HopfieldRecall(keras.layers.Layer):
    """Asynchronous recall: `sweeps` passes over the units in index order, s_i ← sign(Σ_j W_ij s_j)
    (a unit whose local field is exactly 0 keeps its state). The cue is first mapped to sign(x).

    Holds the symmetric weight matrix W (non-trainable); the owning model writes it.
    """

    def __init__(self, sweeps=5, **kwargs):
        super().__init__(**kwargs)
        self.sweeps = int(sweeps)

    def build(self, input_shape):
        units = int(input_shape[-1])
        self.kernel = self.add_weight(shape=(units, units), initializer="zeros", trainable=False, name="kernel")

    def call(self, inputs):
        units = self.kernel.shape[0]
        weights = ops.convert_to_tensor(self.kernel)

        def update_unit(step, state):
            i = step % units
            field = ops.matmul(state, ops.take(weights, i, axis=1))  # [N]
            current = ops.take(state, i, axis=1)
            new = ops.where(field > 0, ops.ones_like(field), ops.where(field < 0, -ops.ones_like(field), current))
            return state + ops.expand_dims(ops.one_hot(i, units, dtype=state.dtype), 0) * ops.expand_dims(new - current, 1)

        return ops.fori_loop(0, units * self.sweeps, update_unit, ops.sign(inputs))

    def get_config(self):
        return {**super().get_config(), "sweeps": self.sweeps}


@keras.saving.register_keras_serializable(package="deepzoo")
class HopfieldNet(RuleTrainedModel):
    """Hopfield network of N bipolar units: Hebbian storage, asynchronous recall.

    `fit` on patterns ξ^μ ∈ {−1, +1}^N applies the Hebb rule W ← W + (1/N)Σ_μ ξ^μ ξ^μᵀ with the
    diagonal kept at zero, so one epoch over the set gives W = (1/N)Σ_μ ξ^μ ξ^μᵀ (further epochs
    only rescale W, which leaves the sign dynamics unchanged). The reported loss is the fraction
    of bits that are not stable under W before the update (ξ_i·h_i ≤ 0 with h = Wξ): 1 for an empty
    memory, 0 once every presented pattern is a fixed point. The forward pass recalls the attractor
    reached from a (noisy) cue. Capacity ≈ 0.138·N random patterns; ≤ 0.1·N recall reliably.

    Args:
        input_shape: (N,).
        sweeps: asynchronous passes over all units at recall.
    """

    def __init__(self, input_shape=(100,), sweeps=5, name="hopfield_net", **kwargs):
        if len(input_shape) != 1:
            raise ValueError(f"input_shape must be (N,). Received: input_shape={tuple(input_shape)}")
        inputs = keras.Input(shape=tuple(input_shape), name="input")
        outputs = HopfieldRecall(sweeps, name="recall")(inputs)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

    @property
    def weight_matrix(self):
        return self.get_layer("recall").kernel

    def _hebbian(self, patterns):
        units = patterns.shape[-1]
        outer = ops.matmul(ops.transpose(patterns), patterns) / units
        return outer * (1.0 - ops.eye(units, dtype=outer.dtype))

    def learning_objective(self, x, y):
        patterns = ops.sign(ops.cast(x, keras.config.floatx()))
        fields = ops.matmul(patterns, ops.convert_to_tensor(self.weight_matrix))
        return ops.mean(ops.cast(patterns * fields <= 0, keras.config.floatx()))

    def apply_learning_rule(self, x, y):
        patterns = ops.sign(ops.cast(x, keras.config.floatx()))
        self.weight_matrix.assign(self.weight_matrix + self._hebbian(patterns))

    def store(self, patterns):
        """One-shot storage: W = (1/N)Σ_μ ξ^μ ξ^μᵀ, zero diagonal (replaces what was stored)."""
        patterns = np.sign(np.asarray(patterns, dtype="float32"))
        self.weight_matrix.assign(np.asarray(self._hebbian(ops.convert_to_tensor(patterns))))
        return self

    def energy(self, states):
        """E(s) = −½ sᵀWs for each state in `states` [M, N]."""
        states = ops.convert_to_tensor(np.asarray(states, dtype="float32"))
        return np.asarray(-0.5 * ops.sum(ops.matmul(states, ops.convert_to_tensor(self.weight_matrix)) * states, axis=-1))


def _bipolar_batch(config, seed, patterns=3):
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=(patterns, int(config.get("input_shape", (100,))[0]))).astype("float32")
    return x, x


register(
    ModelSpec(
        name="hopfield_net",
        family="foundations",
        task="unsupervised",
        builder=HopfieldNet,
        canonical_config=dict(input_shape=(100,), sweeps=5),
        tiny_config=dict(input_shape=(32,), sweeps=2),
        paper="Hopfield 1982, PNAS 79(8)",
        seeds=("004",),
        default_dataset="bipolar_patterns",
        example_batch=_bipolar_batch,
        train_recipe=dict(batch_size=64, epochs=1),
        notes="Hebbian storage in train_step (the compiled optimizer is unused). Loss = fraction of unstable bits "
        "before the update. Recall = `sweeps` asynchronous passes in unit order (deterministic, exportable).",
    )
)


# --- Kohonen self-organising map --------------------------------------------------------------------


def exportable_argmin(values, axis=-1):
    """argmin as argmax over the indicator of the minimum. `keras.ops.argmin` on floats emits a
    Bitcast (its negative-zero fix) that neither tf2onnx nor the TFLite converter supports."""
    is_min = ops.equal(values, ops.min(values, axis=axis, keepdims=True))
    return ops.argmax(ops.cast(is_min, "int32"), axis=axis)


def _lattice(rows, cols):
    return np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), axis=-1).reshape(-1, 2).astype("float32")


@keras.saving.register_keras_serializable(package="deepzoo")
class SelfOrganizingMap(keras.layers.Layer):
    """A rows×cols lattice of prototypes m_j ∈ R^d; maps x to the lattice coordinates (row, col) of
    its best-matching unit c = argmin_j ‖x − m_j‖. Also holds the number of updates made so far."""

    def __init__(self, rows=10, cols=10, prototype_initializer="random_uniform", **kwargs):
        super().__init__(**kwargs)
        self.rows, self.cols = int(rows), int(cols)
        self.prototype_initializer = keras.initializers.get(prototype_initializer)

    def build(self, input_shape):
        self.prototypes = self.add_weight(
            shape=(self.rows * self.cols, int(input_shape[-1])),
            initializer=self.prototype_initializer,
            trainable=False,
            name="prototypes",
        )
        self.iterations = self.add_weight(shape=(), initializer="zeros", trainable=False, name="iterations")

    def squared_distances(self, x):
        prototypes = ops.convert_to_tensor(self.prototypes)
        return (
            ops.sum(ops.square(x), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(x, ops.transpose(prototypes))
            + ops.expand_dims(ops.sum(ops.square(prototypes), axis=-1), 0)
        )

    def call(self, inputs):
        winners = exportable_argmin(self.squared_distances(inputs))
        return ops.take(ops.convert_to_tensor(_lattice(self.rows, self.cols)), winners, axis=0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)

    def get_config(self):
        return {
            **super().get_config(),
            "rows": self.rows,
            "cols": self.cols,
            "prototype_initializer": keras.initializers.serialize(self.prototype_initializer),
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class KohonenSOM(RuleTrainedModel):
    """Kohonen's self-organising map trained by the online Kohonen rule.

    For each example in batch order: c = argmin_j ‖x − m_j‖, then every prototype moves
    m_j ← m_j + η(t)·h_cj(t)·(x − m_j) with the Gaussian neighbourhood
    h_cj = exp(−‖r_c − r_j‖² / 2σ(t)²) on the lattice. η and σ decay exponentially from their
    initial to their final values over `decay_steps` updates, then stay there. The reported loss
    is the batch's quantisation error (mean ‖x − m_c‖) before the batch's updates.

    Args:
        input_shape: (d,) (flattened if larger).
        rows, cols: lattice size.
        learning_rate, final_learning_rate: η(0) and η at `decay_steps`.
        radius, final_radius: σ(0) (None = max(rows, cols)/2) and σ at `decay_steps`.
        decay_steps: updates (examples seen) over which η and σ decay.
        prototype_initializer: initial prototypes (Kohonen: small random values).
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(2,),
        rows=10,
        cols=10,
        learning_rate=0.5,
        final_learning_rate=0.01,
        radius=None,
        final_radius=0.5,
        decay_steps=10_000,
        prototype_initializer="random_uniform",
        preprocessing=None,
        name="kohonen_som",
        **kwargs,
    ):
        inputs, x = flat_input(input_shape, preprocessing)
        outputs = SelfOrganizingMap(rows, cols, prototype_initializer, name="map")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.schedule = (
            float(learning_rate),
            float(final_learning_rate),
            float(radius if radius is not None else max(rows, cols) / 2.0),
            float(final_radius),
            float(decay_steps),
        )

    @property
    def som(self):
        return self.get_layer("map")

    def learning_objective(self, x, y):
        distances = self.som.squared_distances(input_features(self, x))
        return ops.mean(ops.sqrt(ops.maximum(ops.min(distances, axis=-1), 0.0)))

    def apply_learning_rule(self, x, y):
        eta0, eta1, sigma0, sigma1, decay_steps = self.schedule
        lattice = ops.convert_to_tensor(_lattice(self.som.rows, self.som.cols))

        def update(x_i, state):
            prototypes, step = state
            winner = exportable_argmin(ops.sum(ops.square(prototypes - x_i), axis=-1))
            lattice_distance = ops.sum(ops.square(lattice - ops.take(lattice, winner, axis=0)), axis=-1)
            progress = ops.minimum(step / decay_steps, 1.0)
            eta = eta0 * ops.power(eta1 / eta0, progress)
            sigma = sigma0 * ops.power(sigma1 / sigma0, progress)
            neighbourhood = ops.exp(-lattice_distance / (2.0 * sigma * sigma))
            return prototypes + eta * ops.expand_dims(neighbourhood, 1) * (x_i - prototypes), step + 1.0

        prototypes, step = online_loop(
            (input_features(self, x),), update, (ops.convert_to_tensor(self.som.prototypes), ops.convert_to_tensor(self.som.iterations))
        )
        self.som.prototypes.assign(prototypes)
        self.som.iterations.assign(step)

    def prototype_grid(self):
        """Prototypes as an array [rows, cols, d]."""
        return np.asarray(self.som.prototypes).reshape(self.som.rows, self.som.cols, -1)

    def _two_best(self, x):
        distances = np.asarray(self.som.squared_distances(input_features(self, ops.convert_to_tensor(x))))
        order = np.argsort(distances, axis=-1)[:, :2]
        return distances, order

    def quantization_error(self, x):
        distances, order = self._two_best(x)
        return float(np.mean(np.sqrt(np.maximum(np.take_along_axis(distances, order[:, :1], axis=-1), 0.0))))

    def topographic_error(self, x):
        """Fraction of examples whose best and second-best units are not lattice neighbours
        (4-neighbourhood: lattice distance 1)."""
        _, order = self._two_best(x)
        lattice = _lattice(self.som.rows, self.som.cols)
        steps = np.abs(lattice[order[:, 0]] - lattice[order[:, 1]]).sum(axis=-1)
        return float(np.mean(steps > 1))


def _uniform_batch(config, seed, n=8):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, *config.get("input_shape", (2,)))).astype("float32")
    return x, x


register(
    ModelSpec(
        name="kohonen_som",
        family="foundations",
        task="unsupervised",
        builder=KohonenSOM,
        canonical_config=dict(input_shape=(2,), rows=10, cols=10),
        tiny_config=dict(input_shape=(2,), rows=4, cols=4, decay_steps=64),
        paper="Kohonen 1982, Biological Cybernetics 43(1)",
        seeds=("004",),
        default_dataset="uniform_2d",
        example_batch=_uniform_batch,
        train_recipe=dict(batch_size=64, epochs=10),
        notes="Online Kohonen rule in train_step (the compiled optimizer is unused); loss = quantisation error before "
        "the step's updates. Output = BMU lattice coordinates (row, col).",
    )
)


# --- Oja / Sanger PCA network -------------------------------------------------------------------------

RULES = ("sanger", "oja")


@keras.saving.register_keras_serializable(package="deepzoo")
class OjaPCANet(RuleTrainedModel):
    """Linear network y = Wᵀx with k outputs that learns the top-k principal components of
    zero-mean inputs by a Hebbian rule, online in batch order.

    rule="sanger" (generalised Hebbian algorithm): ΔW = η(x yᵀ − W·triu(y yᵀ)), i.e. column j
    moves by η·y_j(x − Σ_{l≤j} y_l w_l); the columns converge to the eigenvectors in order of
    eigenvalue. For k = 1 this is Oja's rule Δw = η·y(x − y w). rule="oja" uses the full y yᵀ
    (Oja's subspace rule): the columns span the principal subspace but are not individually the
    eigenvectors. The reported loss is the batch's reconstruction error mean ‖x − W Wᵀx‖² before
    the updates. Centre the inputs (preprocessing `mean`) if the data are not zero-mean.

    Args:
        input_shape: (d,) (flattened if larger).
        num_components: k.
        rule: "sanger" or "oja".
        learning_rate: η.
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(5,),
        num_components=2,
        rule="sanger",
        learning_rate=0.005,
        preprocessing=None,
        name="oja_pca_net",
        **kwargs,
    ):
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}. Received: rule={rule!r}")
        inputs, x = flat_input(input_shape, preprocessing)
        outputs = keras.layers.Dense(
            num_components,
            use_bias=False,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.1),
            trainable=False,
            name="weights",
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.sanger = rule == "sanger"
        self.learning_rate = float(learning_rate)

    @property
    def kernel(self):
        return self.get_layer("weights").kernel  # [d, k], column j = w_j

    def components(self):
        """The learned weight vectors as rows, [k, d]."""
        return np.asarray(self.kernel).T

    def learning_objective(self, x, y):
        x = input_features(self, x)
        weights = ops.convert_to_tensor(self.kernel)
        reconstruction = ops.matmul(ops.matmul(x, weights), ops.transpose(weights))
        return ops.mean(ops.sum(ops.square(x - reconstruction), axis=-1))

    def apply_learning_rule(self, x, y):
        def update(x_i, weights):
            y_i = ops.matmul(x_i, weights)  # [k]
            correlation = ops.outer(y_i, y_i)
            if self.sanger:
                correlation = ops.triu(correlation)
            return weights + self.learning_rate * (ops.outer(x_i, y_i) - ops.matmul(weights, correlation))

        self.kernel.assign(online_loop((input_features(self, x),), update, ops.convert_to_tensor(self.kernel)))


def _gaussian_batch(config, seed, n=8):
    rng = np.random.default_rng(seed)
    dims = int(np.prod(config.get("input_shape", (5,))))
    scales = np.linspace(2.0, 0.3, dims)
    rotation, _ = np.linalg.qr(rng.normal(size=(dims, dims)))
    x = (rng.normal(size=(n, dims)) * scales) @ rotation.T
    x = x.astype("float32").reshape(n, *config.get("input_shape", (5,)))
    return x, x


register(
    ModelSpec(
        name="oja_pca_net",
        family="foundations",
        task="unsupervised",
        builder=OjaPCANet,
        canonical_config=dict(input_shape=(5,), num_components=2),
        tiny_config=dict(input_shape=(4,), num_components=2, learning_rate=0.05),
        paper="Oja 1982, J. Math. Biology 15; Sanger 1989, Neural Networks 2(6)",
        seeds=("004",),
        default_dataset="correlated_gaussians",
        example_batch=_gaussian_batch,
        train_recipe=dict(batch_size=64, epochs=20),
        notes="Hebbian rule in train_step (the compiled optimizer is unused); loss = reconstruction error before the "
        "step's updates. Canonical: 2 components of the 5-D correlated-Gaussian data set.",
    )
)
