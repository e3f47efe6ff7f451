"""The Blum–Li constructive approximator: a threshold network whose weights are synthesised, not
trained.

Reference: Blum & Li, "Approximation theory and feedforward networks", Neural Networks 4, 1991.
Any F ∈ L² on a box is approximated by a step function F(x) ≈ Σ_i F(x_i)·I_i(x) over a grid of
cells. The network realising it has
    1. one threshold unit per cell boundary and input dimension, step(x_d − b_{d,k});
    2. one AND unit per cell, firing iff x lies in the cell: for each dimension, the unit of the
       cell's lower boundary is on and that of its upper boundary is off;
    3. a linear output whose weights are the target values F(x_i) at the cell centres.
The notes' 1000×1000 2-D example needs ~2 M neurons; the point of the construction is that it
exists (no dimension limit, tiles need not be equidistant), not that it is small.
"""

import itertools

import keras
import numpy as np

from architectures.base import ZooModel
from architectures.foundations.common import Step
from architectures.registry import ModelSpec, register


def _per_dimension(value, dims, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * dims
    if len(values) != dims:
        raise ValueError(f"Expected one {what} per input dimension ({dims}). Received: {value!r}")
    return values


@keras.saving.register_keras_serializable(package="deepzoo")
class BlumLiConstructive(ZooModel):
    """Blum–Li step-function network on the box [low, high)^n with `cells` cells per dimension.

    The two threshold layers are fixed by the grid when the model is built; the output weights
    are set by `synthesize(F)` (zero until then). No weight is trainable. Points outside the box
    on the low side fall in no cell (output 0); the last cell of each dimension is open to the
    right.

    Args:
        input_shape: (n,) input dimension.
        cells: cells per dimension (an int or one per dimension).
        low: lower corner of the box (a float or one per dimension).
        high: upper corner of the box (a float or one per dimension).
    """

    def __init__(self, input_shape=(2,), cells=10, low=0.0, high=1.0, name="blum_li_constructive", **kwargs):
        if len(input_shape) != 1:
            raise ValueError(f"input_shape must be (n,). Received: input_shape={tuple(input_shape)}")
        dims = int(input_shape[0])
        cells = [int(c) for c in _per_dimension(cells, dims, "cell count")]
        low = np.asarray(_per_dimension(low, dims, "lower bound"), dtype="float64")
        high = np.asarray(_per_dimension(high, dims, "upper bound"), dtype="float64")
        if min(cells) < 1 or np.any(high <= low):
            raise ValueError(f"Need cells >= 1 and high > low. Received: cells={cells}, low={low.tolist()}, high={high.tolist()}")
        boundaries = [low[d] + (high[d] - low[d]) * np.arange(cells[d]) / cells[d] for d in range(dims)]
        first_unit = np.cumsum([0] + cells[:-1])  # index of dimension d's first boundary unit

        boundary_kernel = np.zeros((dims, sum(cells)), "float32")
        boundary_bias = np.zeros(sum(cells), "float32")
        for d in range(dims):
            units = first_unit[d] + np.arange(cells[d])
            boundary_kernel[d, units] = 1.0
            boundary_bias[units] = -boundaries[d]

        grid = list(itertools.product(*[range(c) for c in cells]))  # row-major cell order
        cell_kernel = np.zeros((sum(cells), len(grid)), "float32")
        for cell, index in enumerate(grid):
            for d, i in enumerate(index):
                cell_kernel[first_unit[d] + i, cell] = 1.0  # above the cell's lower boundary
                if i + 1 < cells[d]:
                    cell_kernel[first_unit[d] + i + 1, cell] = -1.0  # and below its upper one
        cell_bias = np.full(len(grid), -(dims - 0.5), "float32")  # AND of the n dimensions

        inputs = keras.Input(shape=(dims,), name="input")
        boundary_layer = keras.layers.Dense(sum(cells), trainable=False, name="boundaries")
        cell_layer = keras.layers.Dense(len(grid), trainable=False, name="cells")
        value_layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", trainable=False, name="values")
        x = Step(0.0, 1.0, name="boundary_step")(boundary_layer(inputs))
        x = Step(0.0, 1.0, name="cell_and")(cell_layer(x))
        outputs = value_layer(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        boundary_layer.set_weights([boundary_kernel, boundary_bias])
        cell_layer.set_weights([cell_kernel, cell_bias])
        widths = (high - low) / np.asarray(cells)
        self._centres = np.asarray([[low[d] + (i + 0.5) * widths[d] for d, i in enumerate(index)] for index in grid])

    def cell_centres(self):
        """Centres x_i of the cells, [num_cells, n], in the order of the AND units."""
        return self._centres.copy()

    @property
    def num_neurons(self):
        """Threshold and AND units plus the output unit."""
        return self.get_layer("boundaries").units + self.get_layer("cells").units + 1

    def synthesize(self, function):
        """Sets the output weights to F(x_i) at the cell centres. `function` maps an array
        [num_cells, n] to [num_cells] (or [num_cells, 1]). Returns the model."""
        values = np.asarray(function(self.cell_centres()), dtype="float32").reshape(-1, 1)
        if values.shape[0] != len(self._centres):
            raise ValueError(f"function must return one value per cell ({len(self._centres)}). Received shape {values.shape}")
        self.get_layer("values").set_weights([values])
        return self


def _grid_batch(config, seed, n=8):
    rng = np.random.default_rng(seed)
    dims = int(config.get("input_shape", (2,))[0])
    x = rng.uniform(config.get("low", 0.0), config.get("high", 1.0), size=(n, dims)).astype("float32")
    return x, np.sin(2 * np.pi * x).sum(axis=1, keepdims=True).astype("float32")


register(
    ModelSpec(
        name="blum_li_constructive",
        family="foundations",
        task="regression",
        builder=BlumLiConstructive,
        canonical_config=dict(input_shape=(2,), cells=10),
        tiny_config=dict(input_shape=(2,), cells=3),
        paper="Blum & Li 1991, Neural Networks 4(4)",
        seeds=("004",),
        limitations={
            "train": "weights are synthesised analytically (Blum & Li 1991: synthesize(F) sets F at the cell "
            "centres); nothing is trained. Its own check: the error falls as the grid is refined (1-D and 2-D).",
        },
        default_dataset="quadratic",
        example_batch=_grid_batch,
        notes="Canonical = a 10×10 grid on the unit square (the notes' 1000×1000 example has ~10⁶ AND units, "
        "far from 'small'); the AND layer is stored dense although only 2n of its inputs are non-zero.",
    )
)
