"""The cellular neural network of Chua & Yang, integrated by explicit Euler as a recurrent
convolution.

References:
    Chua & Yang, "Cellular neural networks: theory", IEEE Trans. Circuits and Systems 35, 1988.
    Roska & Chua, "The CNN universal machine: an analogic array computer", IEEE TCAS II 40, 1993.

One cell per pixel with state x, input u and output y = ½(|x + 1| − |x − 1|) (saturation to
[−1, 1]). The dynamics dx/dt = −x + A∗y + B∗u + z use 3×3 feedback (A) and control (B) templates
and a bias z shared by all cells. Pixels follow the CNN convention: black = +1, white = −1; the
virtual cells outside the image hold the fixed `boundary_value` (Dirichlet; −1 = white).

The template library rows come from the CNN template library (Roska, Kék, Nemes, Zarándy et al.):
EDGE keeps the black pixels with at least one white 8-neighbour; CORNER keeps the black pixels
with at least five white 8-neighbours (convex corners).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register

_CENTRE = [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
TEMPLATES = {
    "edge": dict(a=_CENTRE, b=[[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]], z=-1.0),
    "corner": dict(a=_CENTRE, b=[[-1.0, -1.0, -1.0], [-1.0, 4.0, -1.0], [-1.0, -1.0, -1.0]], z=-5.0),
    "none": dict(a=[[0.0] * 3] * 3, b=[[0.0] * 3] * 3, z=0.0),  # all zero: templates to be learned
}


def saturation(x):
    """The CNN output y = ½(|x + 1| − |x − 1|)."""
    return 0.5 * (ops.abs(x + 1.0) - ops.abs(x - 1.0))


@keras.saving.register_keras_serializable(package="deepzoo")
class CellularDynamics(keras.layers.Layer):
    """`steps` explicit-Euler steps x ← x + h(−x + A∗y + B∗u + z) from x(0), returning y.

    The templates A, B and the bias z are the layer's weights, initialised from `template` and
    trainable (template learning by back-propagation through the unrolled dynamics).
    """

    def __init__(self, template="edge", steps=40, step_size=0.2, boundary_value=-1.0, initial_state="zero", **kwargs):
        super().__init__(**kwargs)
        if template not in TEMPLATES:
            raise ValueError(f"template must be one of {sorted(TEMPLATES)}. Received: template={template!r}")
        if initial_state not in ("zero", "input"):
            raise ValueError(f"initial_state must be 'zero' or 'input'. Received: initial_state={initial_state!r}")
        self.template, self.steps, self.step_size = template, int(steps), float(step_size)
        self.boundary_value, self.initial_state = float(boundary_value), initial_state

    def build(self, input_shape):
        values = TEMPLATES[self.template]
        kernel = lambda name, value: self.add_weight(  # noqa: E731
            shape=(3, 3, 1, 1), initializer=keras.initializers.Constant(np.asarray(value, "float32").reshape(3, 3, 1, 1)), name=name
        )
        self.feedback = kernel("feedback_template", values["a"])
        self.control = kernel("control_template", values["b"])
        self.bias = self.add_weight(shape=(1,), initializer=keras.initializers.Constant(values["z"]), name="bias")

    def _neighbourhood_sum(self, image, template):
        padded = ops.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=self.boundary_value)
        return ops.conv(padded, template, padding="valid")

    def call(self, inputs):
        drive = self._neighbourhood_sum(inputs, self.control) + self.bias  # B∗u + z is constant in time
        state = inputs if self.initial_state == "input" else ops.zeros_like(inputs)
        for _ in range(self.steps):
            output = saturation(state)
            state = state + self.step_size * (-state + self._neighbourhood_sum(output, self.feedback) + drive)
        return saturation(state)

    def get_config(self):
        return {
            **super().get_config(),
            "template": self.template,
            "steps": self.steps,
            "step_size": self.step_size,
            "boundary_value": self.boundary_value,
            "initial_state": self.initial_state,
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class CellularNN(ZooModel):
    """Chua–Yang cellular neural network: a ±1 image in, the settled output image out.

    Args:
        input_shape: (H, W, 1) image in the CNN convention (black +1, white −1).
        template: initial templates, a key of `TEMPLATES` ("edge", "corner", or "none" = zeros).
        steps: explicit-Euler steps (unrolled).
        step_size: Euler step h (in units of the cell time constant).
        boundary_value: the fixed output/input of the virtual cells around the image.
        initial_state: "zero" (x(0) = 0) or "input" (x(0) = u).
    """

    def __init__(
        self,
        input_shape=(16, 16, 1),
        template="edge",
        steps=40,
        step_size=0.2,
        boundary_value=-1.0,
        initial_state="zero",
        name="cellular_nn",
        **kwargs,
    ):
        if len(input_shape) != 3 or input_shape[-1] != 1:
            raise ValueError(f"input_shape must be (H, W, 1). Received: input_shape={tuple(input_shape)}")
        inputs = keras.Input(shape=tuple(input_shape), name="input")
        outputs = CellularDynamics(template, steps, step_size, boundary_value, initial_state, name="dynamics")(inputs)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


def reference_edges(images, boundary_value=-1.0):
    """EDGE's expected output: +1 where a black pixel has a white (or boundary) 8-neighbour, else −1."""
    images = np.asarray(images)
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=boundary_value)
    height, width = images.shape[1:3]
    white_neighbour = np.zeros(images.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                white_neighbour |= padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] < 0
    return np.where((images > 0) & white_neighbour, 1.0, -1.0).astype("float32")


def _edge_batch(config, seed, n=4):
    rng = np.random.default_rng(seed)
    height, width, _ = config.get("input_shape", (16, 16, 1))
    x = -np.ones((n, height, width, 1), "float32")
    for image in x:
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        image[top : top + height // 2, left : left + width // 2] = 1.0
    return x, reference_edges(x)


register(
    ModelSpec(
        name="cellular_nn",
        family="foundations",
        task="regression",
        builder=CellularNN,
        canonical_config=dict(input_shape=(16, 16, 1), template="edge"),
        tiny_config=dict(input_shape=(8, 8, 1), template="none", steps=5, step_size=0.5),
        paper="Chua & Yang 1988, IEEE TCAS 35(10); Roska & Chua 1993, IEEE TCAS II 40(3)",
        seeds=("004",),
        default_dataset="edge_images",
        example_batch=_edge_batch,
        train_recipe=dict(optimizer="adam", learning_rate=0.05, batch_size=16, epochs=30),
        notes="Image → image (regression task: MSE against the target map). Canonical = the EDGE template; "
        "the tiny config starts from zero templates so the sweep's training check learns them by "
        "back-propagation through the unrolled Euler steps.",
    )
)
