"""Linear models as single layers of neurons: linear (and polynomial) regression, logistic
regression, one-vs-all logistic regression and the linear classifier on flattened images.

References:
    Legendre 1805 / Gauss 1809: least squares. h_θ(x) = θᵀx with x_0 = 1 (θ_0 is the bias).
    Cox, "The regression analysis of binary sequences", JRSS B 20, 1958: logistic regression.
    Rifkin & Klautau, "In defense of one-vs-all classification", JMLR 5, 2004.
    Weston & Watkins, "Support vector machines for multi-class pattern recognition", ESANN 1999:
        the multi-class hinge Σ_{j≠y} max(0, s_j − s_y + 1) (cs231n's SVM loss).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.foundations.common import check_binary, flat_input
from architectures.registry import ModelSpec, register


@keras.saving.register_keras_serializable(package="deepzoo")
class PolynomialFeatures(keras.layers.Layer):
    """Fixed polynomial features without cross terms: [x, x², ..., x^degree] per input feature
    (the notes' size, size², size³). Holds no weights."""

    def __init__(self, degree=2, **kwargs):
        super().__init__(**kwargs)
        if int(degree) < 1:
            raise ValueError(f"degree must be >= 1. Received: degree={degree}")
        self.degree = int(degree)

    def call(self, inputs):
        return ops.concatenate([inputs**power for power in range(1, self.degree + 1)], axis=-1)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] * self.degree
        return (*input_shape[:-1], last)

    def get_config(self):
        return {**super().get_config(), "degree": self.degree}


def _features(input_shape, preprocessing, degree):
    inputs, x = flat_input(input_shape, preprocessing)
    if degree > 1:
        x = PolynomialFeatures(degree, name="polynomial_features")(x)
    return inputs, x


def _ridge(l2):
    # On the kernel only: the bias θ_0 is never penalised.
    return keras.regularizers.L2(l2) if l2 else None


# --- linear regression ------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class LinearRegression(ZooModel):
    """Linear regression as one linear neuron: Dense(num_outputs) trained with MSE.

    With `degree > 1` a fixed polynomial-feature layer (applied after preprocessing) makes it
    polynomial regression. `l2` is the ridge penalty l2·Σ_{j≥1} θ_j² on the kernel only (θ_0, the
    bias, is excluded). With Keras' MSE (1/m)Σ(h − y)², l2 = λ/m gives the same minimiser as the
    notes' J = (1/2m)Σ(h − y)² + (λ/2m)Σ_{j≥1} θ_j².

    Args:
        input_shape: shape of one input (flattened).
        num_outputs: number of regression targets.
        degree: polynomial degree of the fixed feature expansion (1 = plain linear regression).
        l2: ridge coefficient on the kernel.
        preprocessing: deterministic input preprocessing (see `model_input`); feature scaling
            matters for gradient descent.
    """

    def __init__(self, input_shape=(1,), num_outputs=1, degree=1, l2=0.0, preprocessing=None, name="linear_regression", **kwargs):
        inputs, x = _features(input_shape, preprocessing, degree)
        outputs = keras.layers.Dense(num_outputs, kernel_regularizer=_ridge(l2), name="theta")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="linear_regression",
        family="foundations",
        task="regression",
        builder=LinearRegression,
        canonical_config=dict(input_shape=(1,), num_outputs=1),
        tiny_config=dict(input_shape=(3,), num_outputs=1, degree=2),
        paper="Legendre 1805; Gauss 1809 (least squares)",
        seeds=("000", "002", "003"),
        default_dataset="diabetes",
        train_recipe=dict(optimizer="sgd", learning_rate=0.1, batch_size=32, epochs=100),
        search_space=dict(
            degree=dict(kind="int", min_value=1, max_value=3),
            l2=dict(kind="float", min_value=1e-5, max_value=1.0, sampling="log"),
        ),
        notes="Closed form by the normal equations is the test oracle (numpy.linalg.lstsq); the model is fitted by "
        "gradient descent like every other model. Polynomial features are per-feature powers (no cross terms).",
    )
)


# --- logistic regression ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class LogisticRegression(ZooModel):
    """Logistic regression as one sigmoid neuron: ŷ = σ(wᵀx + b), trained with binary
    cross-entropy (the Bernoulli MLE); predicts 1 iff wᵀx + b ≥ 0.

    Args:
        input_shape: shape of one input, flattened (64×64×3 images unroll to 12,288 features).
        num_classes: 2 (one sigmoid output).
        degree: polynomial degree of a fixed feature expansion for non-linear boundaries.
        l2: L2 penalty on the weights (the bias excluded).
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(64, 64, 3),
        num_classes=2,
        degree=1,
        l2=0.0,
        preprocessing=None,
        name="logistic_regression",
        **kwargs,
    ):
        check_binary(num_classes, "Logistic regression")
        inputs, x = _features(input_shape, preprocessing, degree)
        logit = keras.layers.Dense(1, kernel_regularizer=_ridge(l2), name="logit")(x)
        outputs = keras.layers.Activation("sigmoid", name="probability")(logit)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="logistic_regression",
        family="foundations",
        task="classification",
        builder=LogisticRegression,
        canonical_config=dict(input_shape=(64, 64, 3), num_classes=2),
        tiny_config=dict(input_shape=(4,), num_classes=2),
        reference_params=12_289,
        reference_source="N (003: 64×64×3 images unrolled to 12,288 features, plus the bias)",
        paper="Cox 1958, JRSS B 20(2)",
        seeds=("002", "003"),
        default_dataset="credit_approval",
        train_recipe=dict(optimizer="sgd", learning_rate=0.1, batch_size=32, epochs=50),
    )
)


# --- one-vs-all logistic regression -----------------------------------------------------------------


def one_hot_targets(y, num_classes):
    """Class ids [N] or [N, 1] to one-hot [N, K]; targets already [N, K] pass through."""
    if len(y.shape) == 2 and y.shape[-1] == num_classes and num_classes > 1:
        return ops.cast(y, keras.config.floatx())
    return ops.one_hot(ops.reshape(ops.cast(y, "int32"), (-1,)), num_classes, dtype=keras.config.floatx())


def _mean_loss(per_example, sample_weight, model):
    if sample_weight is not None:
        weights = ops.cast(ops.reshape(sample_weight, (-1,)), per_example.dtype)
        loss = ops.sum(per_example * weights) / ops.maximum(ops.sum(weights), 1e-12)
    else:
        loss = ops.mean(per_example)
    if model.losses:
        loss = loss + ops.sum(model.losses)
    return loss


@keras.saving.register_keras_serializable(package="deepzoo")
class LogisticOVA(ZooModel):
    """One-vs-all multiclass logistic regression: K independent sigmoid units, h^(k)(x) = P(y = k | x),
    each trained by binary cross-entropy on its own one-hot column; predict argmax_k h^(k)(x).

    The model always trains with this per-class BCE (the compiled loss is not used): class ids are
    one-hot encoded inside `compute_loss`, so the task's ordinary (x, class id) data works.

    Args:
        input_shape: shape of one input (flattened).
        num_classes: K, one binary classifier per class.
        l2: L2 penalty on the weights (biases excluded).
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(self, input_shape=(4,), num_classes=3, l2=0.0, preprocessing=None, name="logistic_ova", **kwargs):
        inputs, x = flat_input(input_shape, preprocessing)
        outputs = keras.layers.Dense(num_classes, activation="sigmoid", kernel_regularizer=_ridge(l2), name="one_vs_all")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.num_classes = int(num_classes)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        targets = one_hot_targets(y, self.num_classes)
        per_example = keras.losses.binary_crossentropy(targets, y_pred)  # mean over the K classifiers
        return _mean_loss(per_example, sample_weight, self)


register(
    ModelSpec(
        name="logistic_ova",
        family="foundations",
        task="classification",
        builder=LogisticOVA,
        canonical_config=dict(input_shape=(4,), num_classes=3),
        tiny_config=dict(input_shape=(4,), num_classes=3),
        paper="Rifkin & Klautau 2004, JMLR 5",
        seeds=("003",),
        default_dataset="iris",
        train_recipe=dict(optimizer="adam", learning_rate=0.05, batch_size=32, epochs=100),
        notes="Canonical: 3 classes (the notes' SPAM/WORK/FRIENDS example) on iris-sized inputs. "
        "compute_loss always uses the per-class BCE on one-hot targets.",
    )
)


# --- linear classifier ----------------------------------------------------------------------------


def multiclass_hinge(y, scores, margin=1.0):
    """Weston–Watkins multi-class hinge per example: Σ_{j≠y} max(0, s_j − s_y + margin).

    y: class ids [N] or [N, 1] (or one-hot [N, K]); scores: raw class scores [N, K].
    """
    num_classes = scores.shape[-1]
    targets = one_hot_targets(y, num_classes)
    correct = ops.sum(scores * targets, axis=-1, keepdims=True)
    margins = ops.maximum(0.0, scores - correct + margin) * (1.0 - targets)
    return ops.sum(margins, axis=-1)


@keras.saving.register_keras_serializable(package="deepzoo")
class MulticlassHinge(keras.losses.Loss):
    """`multiclass_hinge` as a Keras loss on class ids and raw scores."""

    def __init__(self, margin=1.0, name="multiclass_hinge", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        return multiclass_hinge(y_true, y_pred, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


LOSSES = ("softmax", "hinge")


@keras.saving.register_keras_serializable(package="deepzoo")
class LinearClassifier(ZooModel):
    """The linear classifier on flattened images: scores K(x) = Wx + b, prediction argmax.

    Each row of W is a class template with the input's shape (`class_templates()`).

    Args:
        input_shape: image shape; flattened to d = H·W·C.
        num_classes: K.
        loss: "softmax" (outputs softmax probabilities; trains with the compiled cross-entropy)
            or "hinge" (outputs raw scores; always trains with the Weston–Watkins multi-class
            hinge, margin 1). Prediction is argmax either way.
        hidden_units: optional hidden widths, only to reproduce the notes' comparison (one hidden
            layer of 1,536 units gives 4,735,498 parameters); the model is then no longer linear.
        hidden_activation: activation of those hidden layers.
        l2: the regulariser R(W) = l2·‖W‖² on every kernel (biases excluded).
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        loss="softmax",
        hidden_units=(),
        hidden_activation="relu",
        l2=0.0,
        preprocessing=None,
        name="linear_classifier",
        **kwargs,
    ):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}. Received: loss={loss!r}")
        inputs, x = flat_input(input_shape, preprocessing)
        for index, units in enumerate(hidden_units or ()):
            x = keras.layers.Dense(units, activation=hidden_activation, kernel_regularizer=_ridge(l2), name=f"hidden_{index + 1}")(x)
        activation = "softmax" if loss == "softmax" else None
        outputs = keras.layers.Dense(num_classes, activation=activation, kernel_regularizer=_ridge(l2), name="scores")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.hinge = loss == "hinge"
        self.linear = not hidden_units

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self.hinge:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        return _mean_loss(multiclass_hinge(y, y_pred), sample_weight, self)

    def class_templates(self):
        """The rows of W reshaped to the image: an array [K, H, W, C] (one template per class)."""
        if not self.linear:
            raise ValueError("Class templates exist only for the linear model (hidden_units=()).")
        kernel = np.asarray(self.get_layer("scores").kernel)  # [d, K]
        try:
            image_shape = tuple(self.get_layer("flatten").input.shape[1:])
        except ValueError:  # already flat input
            image_shape = (kernel.shape[0],)
        return kernel.T.reshape(kernel.shape[1], *image_shape)


register(
    ModelSpec(
        name="linear_classifier",
        family="foundations",
        task="classification",
        builder=LinearClassifier,
        canonical_config=dict(input_shape=(32, 32, 3), num_classes=10),
        tiny_config=dict(input_shape=(8, 8, 1), num_classes=4),
        reference_params=30_730,
        reference_source="N (000/001: 32×32×3 → 10 classes)",
        paper="cs231n linear classifier; Weston & Watkins 1999 (multi-class hinge)",
        seeds=("000", "001", "002"),
        default_dataset="digits",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=20),
        search_space=dict(l2=dict(kind="float", min_value=1e-6, max_value=1e-2, sampling="log")),
    )
)
