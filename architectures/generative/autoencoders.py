"""Autoencoders (spec §2 G): one family, the variants as data.

References:
    mlp_autoencoder         Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with
                            neural networks", Science 313: 784-1000-500-250-30 with logistic units
                            and a linear code, mirrored decoder, logistic output (cross-entropy).
    linear_autoencoder_pca  Baldi & Hornik 1989, Neural Networks 2: one linear hidden layer of k < d
                            units, linear output, squared error; at the optimum the decoder spans
                            the top-k principal subspace.
    conv_autoencoder        Masci, Meier, Cireşan & Schmidhuber 2011 (ICANN), convolutional AEs;
                            the spec's default Conv(32, /2)-Conv(64, /2) -> Dense code -> mirrored
                            Conv2DTranspose, logistic output.
    denoising_autoencoder   Vincent, Larochelle, Bengio & Manzagol 2008 (ICML): the input is
                            corrupted (masking noise: a fraction ν zeroed; or Gaussian) in training
                            only; the loss is on the clean input.
    sparse_autoencoder      Ng 2011 (CS294A notes): logistic hidden layer, ½‖x − x̂‖² plus
                            β Σ_j KL(ρ ‖ ρ̂_j) on the batch-mean activations (ρ = 0.05, β = 3), or
                            an L1 activity penalty λ‖z‖₁.
    ae_pretrained_classifier  Erhan et al. 2010 (JMLR), "Why does unsupervised pre-training help deep
                            learning?": greedy layer-wise (denoising) autoencoder pre-training of
                            each layer on the previous layer's codes, then supervised fine-tuning
                            of the whole stack with a softmax classifier.
    ae_generator            An autoencoder used as a generator (spec row): a Gaussian (mean and
                            covariance) fitted to the training codes is sampled and decoded.

Block tables: an encoder is `hidden_units` Dense layers ("mlp") or `conv_filters` stride-2 convs
("conv", then a flatten) followed by a Dense code of `code_dim`; the decoder mirrors it (Dense
layers in reverse; or a Dense projection to the last conv map and stride-2 transposed convs in
reverse, then a stride-1 transposed conv to the channels). The decoder outputs logits; the model
applies `output_activation`.

Pixels: the models take and return the data's range (`value_range`, 0..255 for the embedded
images): the input is mapped to [0, 1] inside the model and the reconstruction back (deterministic
rescaling lives in the model). Losses, corruption and sparsity are in `tasks.autoencoder`.
"""

import math

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.autoencoder import (
    CORRUPTIONS,
    RECONSTRUCTION_LOSSES,
    SPARSITY_FORMS,
    corrupt,
    reconstruction_loss,
    sparsity_penalty,
)

ARCHITECTURES = ("mlp", "conv")

# Hinton & Salakhutdinov 2006, the MNIST autoencoder's encoder (the decoder mirrors it).
HINTON_HIDDEN = (1000, 500, 250)
# Erhan et al. 2010: three pre-trained hidden layers of 1000 units on MNIST.
ERHAN_HIDDEN = (1000, 1000, 1000)


# --- blocks ----------------------------------------------------------------------------------------


def _init(seed, index):
    # A distinct seed per layer: one seeded initialiser reused would give equal tensors.
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + index)


def check_architecture(input_shape, architecture, conv_filters):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}. Received: architecture={architecture!r}")
    if architecture == "conv":
        scale = 2 ** len(conv_filters)
        if len(input_shape) != 3 or not conv_filters or input_shape[0] % scale or input_shape[1] % scale:
            raise ValueError(
                f"A conv autoencoder needs input_shape (height, width, channels) with height and width multiples of "
                f"2 ** len(conv_filters) = {scale}. Received: input_shape={input_shape}, conv_filters={conv_filters}"
            )


def check_value_range(value_range):
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low. Received: value_range={value_range}")
    return low, high


def build_encoder(
    input_shape, architecture, hidden_units, conv_filters, kernel_size, code_dim, hidden_activation, code_activation,
    seed, heads=("code",), name="encoder",
):
    """[0, 1] inputs -> the code (or one output per name in `heads`, e.g. a VAE's mean and log σ²)."""
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs
    if architecture == "mlp":
        if len(input_shape) > 1:
            x = keras.layers.Flatten(name="flatten")(x)
        for index, units in enumerate(hidden_units, start=1):
            x = keras.layers.Dense(units, activation=hidden_activation, kernel_initializer=_init(seed, index), name=f"dense{index}")(x)
    else:
        for index, filters in enumerate(conv_filters, start=1):
            x = keras.layers.Conv2D(
                filters, kernel_size, strides=2, padding="same", activation=hidden_activation,
                kernel_initializer=_init(seed, index), name=f"conv{index}",
            )(x)
        x = keras.layers.Flatten(name="flatten")(x)
    outputs = [
        keras.layers.Dense(code_dim, activation=code_activation if head == "code" else None, kernel_initializer=_init(seed, 50 + i), name=head)(x)
        for i, head in enumerate(heads)
    ]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)


def build_decoder(code_dim, output_shape, architecture, hidden_units, conv_filters, kernel_size, hidden_activation, seed, name="decoder"):
    """code -> logits of the [0, 1] output (the mirror of `build_encoder`)."""
    code = keras.Input((code_dim,), name="code")
    x = code
    offset = 100  # seeds distinct from the encoder's
    if architecture == "mlp":
        for index, units in enumerate(reversed(hidden_units), start=1):
            x = keras.layers.Dense(units, activation=hidden_activation, kernel_initializer=_init(seed, offset + index), name=f"dense{index}")(x)
        x = keras.layers.Dense(math.prod(output_shape), kernel_initializer=_init(seed, offset), name="logits")(x)
        if len(output_shape) > 1:
            x = keras.layers.Reshape(output_shape, name="reshape")(x)
    else:
        height, width, channels = output_shape
        scale = 2 ** len(conv_filters)
        base = (height // scale, width // scale, conv_filters[-1])
        x = keras.layers.Dense(math.prod(base), activation=hidden_activation, kernel_initializer=_init(seed, offset), name="project")(x)
        x = keras.layers.Reshape(base, name="reshape")(x)
        for index, filters in enumerate(reversed(conv_filters), start=1):
            x = keras.layers.Conv2DTranspose(
                filters, kernel_size, strides=2, padding="same", activation=hidden_activation,
                kernel_initializer=_init(seed, offset + index), name=f"up{index}",
            )(x)
        x = keras.layers.Conv2DTranspose(channels, kernel_size, padding="same", kernel_initializer=_init(seed, offset + 50), name="logits")(x)
    return keras.Model(code, x, name=name)


def unit_rescaling(low, high):
    """(data range -> [0, 1], [0, 1] -> data range) as Rescaling layers."""
    span = high - low
    return (
        keras.layers.Rescaling(1.0 / span, offset=-low / span, name="to_unit"),
        keras.layers.Rescaling(span, offset=low, name="to_pixels"),
    )


def regularization(layer):
    """Weight penalties added to the model's layers (e.g. by the trainer's l1/l2 options)."""
    return ops.sum(ops.stack(layer.losses)) if layer.losses else 0.0


def _input_images(data):
    return data[0] if isinstance(data, (tuple, list)) else data


def _as_array(x):
    return np.asarray(x, dtype="float32")


# --- the autoencoder -------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Autoencoder(ZooModel):
    """An autoencoder: `model(images)` -> {"reconstruction", "code"}; `fit(images)` trains it by
    its own reconstruction loss (+ sparsity), corrupting the inputs first when `corruption` is set.

    Args:
        input_shape: shape of one input, (H, W, C) images or (d,) vectors.
        architecture: "mlp" (Dense layers on the flattened input) or "conv" (stride-2 convs).
        hidden_units: Dense widths of the encoder before the code ("mlp"; () = one linear map).
        conv_filters: filters of the stride-2 convs ("conv").
        kernel_size: of the convs and transposed convs.
        code_dim: k, the code size (k < d: undercomplete).
        hidden_activation / code_activation / output_activation: activations of the hidden layers,
            of the code and of the reconstruction ("linear" for none).
        reconstruction: the loss form, one of `tasks.autoencoder.RECONSTRUCTION_LOSSES`; the BCE
            forms need output_activation="sigmoid".
        corruption, corruption_level: None, "masking" (ν = fraction zeroed) or "gaussian" (σ), in
            training only (a denoising autoencoder).
        sparsity, sparsity_target, sparsity_weight: None, "kl" (ρ, β; needs a sigmoid code) or
            "l1" (λ) penalty on the code.
        value_range: (low, high) of the data; mapped to [0, 1] inside the model.
        seed: initialiser and corruption seed (None: Keras' global RNG).
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        architecture="mlp",
        hidden_units=HINTON_HIDDEN,
        conv_filters=(32, 64),
        kernel_size=3,
        code_dim=30,
        hidden_activation="sigmoid",
        code_activation="linear",
        output_activation="sigmoid",
        reconstruction="bce",
        corruption=None,
        corruption_level=0.0,
        sparsity=None,
        sparsity_target=0.05,
        sparsity_weight=3.0,
        value_range=(0.0, 255.0),
        seed=None,
        name="autoencoder",
        **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        hidden_units = tuple(int(u) for u in hidden_units)
        conv_filters = tuple(int(f) for f in conv_filters)
        check_architecture(input_shape, architecture, conv_filters)
        for option, value, allowed in (
            ("reconstruction", reconstruction, RECONSTRUCTION_LOSSES),
            ("corruption", corruption, CORRUPTIONS),
            ("sparsity", sparsity, SPARSITY_FORMS),
        ):
            if value not in allowed:
                raise ValueError(f"{option} must be one of {allowed}. Received: {option}={value!r}")
        if reconstruction in ("bce", "bce_sum") and output_activation != "sigmoid":
            raise ValueError(f"A cross-entropy reconstruction needs output_activation='sigmoid'. Received: {output_activation!r}")
        if sparsity == "kl" and code_activation != "sigmoid":
            raise ValueError(f"The KL sparsity penalty needs a sigmoid code (activations in (0, 1)). Received: code_activation={code_activation!r}")
        if sparsity == "kl" and not 0.0 < float(sparsity_target) < 1.0:
            raise ValueError(f"sparsity_target ρ must lie in (0, 1). Received: {sparsity_target}")
        if corruption == "masking" and not 0.0 <= float(corruption_level) < 1.0:
            raise ValueError(f"The masking fraction ν must lie in [0, 1). Received: corruption_level={corruption_level}")
        if int(code_dim) < 1:
            raise ValueError(f"code_dim must be a positive integer. Received: code_dim={code_dim}")
        low, high = check_value_range(value_range)

        encoder = build_encoder(
            input_shape, architecture, hidden_units, conv_filters, kernel_size, int(code_dim), hidden_activation,
            code_activation, seed,
        )
        decoder = build_decoder(int(code_dim), input_shape, architecture, hidden_units, conv_filters, kernel_size, hidden_activation, seed)
        to_unit, to_pixels = unit_rescaling(low, high)
        output_layer = keras.layers.Activation(output_activation, name="output_activation")
        images = keras.Input(input_shape, name="images")
        code = encoder(to_unit(images))
        reconstruction_pixels = to_pixels(output_layer(decoder(code)))
        super().__init__(inputs=images, outputs={"reconstruction": reconstruction_pixels, "code": code}, name=name, **kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.to_unit, self.output_layer = to_unit, output_layer
        self.value_range = (low, high)
        self.reconstruction_form = reconstruction
        self.corruption, self.corruption_level = corruption, float(corruption_level)
        self.sparsity, self.sparsity_target, self.sparsity_weight = sparsity, float(sparsity_target), float(sparsity_weight)
        self.corruption_seed = keras.random.SeedGenerator(seed)
        names = ("loss", "reconstruction") + (("sparsity",) if sparsity else ())
        self.trackers = {key: keras.metrics.Mean(name=key) for key in names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def objective_terms(self, images, training=False):
        """{"loss", "reconstruction", "sparsity"} for raw `images`; training corrupts the input."""
        target = self.to_unit(ops.cast(images, self.compute_dtype))
        inputs = corrupt(target, self.corruption, self.corruption_level, self.corruption_seed) if training else target
        code = self.encoder(inputs, training=training)
        logits = self.decoder(code, training=training)
        reconstruction = reconstruction_loss(target, logits, self.output_layer(logits), self.reconstruction_form)
        sparsity = sparsity_penalty(code, self.sparsity, self.sparsity_target, self.sparsity_weight)
        return {"loss": reconstruction + sparsity, "reconstruction": reconstruction, "sparsity": sparsity}

    def train_step(self, data):
        import tensorflow as tf

        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            terms = self.objective_terms(_input_images(data), training=True)
            total = terms["loss"] + regularization(self)
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return self._update_trackers(terms)

    def test_step(self, data):
        return self._update_trackers(self.objective_terms(_input_images(data), training=False))

    def _update_trackers(self, terms):
        for key, tracker in self.trackers.items():
            tracker.update_state(terms[key])
        return {key: tracker.result() for key, tracker in self.trackers.items()}


# --- the autoencoder as a generator ----------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class CodeGaussian(keras.layers.Layer):
    """z = μ + L ε: a Gaussian N(μ, Σ = L Lᵀ) over codes, sampled from standard-normal ε.

    μ, Σ and the Cholesky factor L are non-trainable weights: updated by the model's train_step as
    moving averages of the batch codes (like BatchNorm's statistics) or set exactly from a dataset
    (`AutoencoderGenerator.fit_code_distribution`). Initially N(0, I)."""

    def __init__(self, code_dim, momentum=0.99, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.code_dim, self.momentum, self.epsilon = int(code_dim), float(momentum), float(epsilon)
        k = self.code_dim
        self.mean = self.add_weight(shape=(k,), initializer="zeros", trainable=False, name="mean")
        self.covariance = self.add_weight(shape=(k, k), initializer="identity", trainable=False, name="covariance")
        self.scale = self.add_weight(shape=(k, k), initializer="identity", trainable=False, name="scale")

    def call(self, noise):
        return self.mean + ops.matmul(noise, ops.transpose(self.scale))

    def update(self, codes):
        """One moving-average step towards the batch's mean and covariance (graph ops)."""
        import tensorflow as tf

        codes = ops.stop_gradient(codes)
        n = ops.cast(ops.shape(codes)[0], codes.dtype)
        batch_mean = ops.mean(codes, axis=0)
        centred = codes - batch_mean
        batch_covariance = ops.matmul(ops.transpose(centred), centred) / ops.maximum(n - 1.0, 1.0)
        m = self.momentum
        self.mean.assign(m * self.mean + (1.0 - m) * batch_mean)
        self.covariance.assign(m * self.covariance + (1.0 - m) * batch_covariance)
        jitter = self.epsilon * ops.eye(self.code_dim, dtype=codes.dtype)
        self.scale.assign(tf.linalg.cholesky(self.covariance + jitter))

    def set_statistics(self, mean, covariance):
        mean, covariance = np.asarray(mean, "float64"), np.asarray(covariance, "float64")
        self.mean.assign(mean.astype("float32"))
        self.covariance.assign(covariance.astype("float32"))
        self.scale.assign(np.linalg.cholesky(covariance + self.epsilon * np.eye(self.code_dim)).astype("float32"))

    def get_config(self):
        return {**super().get_config(), "code_dim": self.code_dim, "momentum": self.momentum, "epsilon": self.epsilon}


class OneOptimizerGenerator:
    """Compile plumbing shared by the generators trained with one optimiser (`ae_generator`, `vae`):
    the generative task passes `g_optimizer`, `keras.saving` restores it, `self.trackers` are the
    metrics. Mixed in before `ZooModel`."""

    def compile(self, g_optimizer=None, optimizer=None, jit_compile="auto", **kwargs):
        """One optimiser (`g_optimizer`, the generative task's name for it, or `optimizer`)."""
        if g_optimizer is not None and optimizer is not None:
            raise ValueError("Pass the optimiser once, as g_optimizer or optimizer, not both.")
        super().compile(optimizer=g_optimizer or optimizer or keras.optimizers.Adam(1e-3), jit_compile=jit_compile, **kwargs)

    def get_compile_config(self):
        return {"optimizer": keras.optimizers.serialize(self.optimizer)} if self.compiled else {}

    def compile_from_config(self, config):
        """Restores the optimiser on `keras.saving.load_model` (its slots are then loaded into it)."""
        self.compile(optimizer=keras.optimizers.deserialize(config["optimizer"]))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())


@keras.saving.register_keras_serializable(package="deepzoo")
class AutoencoderGenerator(OneOptimizerGenerator, ZooModel):
    """An autoencoder that generates: `model(noise)` -> images = decoder(μ + L ε), ε ~ N(0, I).

    `fit(images)` trains encoder and decoder by reconstruction and keeps a moving Gaussian of the
    training codes (`CodeGaussian`); `fit_code_distribution(images)` sets it exactly. The encoder
    is then discarded for generation (spec row `ae_generator`); `encode`, `decode` and `perturb`
    (decode codes moved by noise) remain for inspection. Arguments as `Autoencoder`'s, plus
    `code_momentum` of the moving statistics.
    """

    latent_prior = "normal"

    def __init__(
        self,
        input_shape=(28, 28, 1),
        architecture="mlp",
        hidden_units=(256,),
        conv_filters=(32, 64),
        kernel_size=3,
        code_dim=16,
        hidden_activation="relu",
        output_activation="sigmoid",
        reconstruction="bce",
        code_momentum=0.99,
        value_range=(0.0, 255.0),
        seed=None,
        name="ae_generator",
        **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        hidden_units = tuple(int(u) for u in hidden_units)
        conv_filters = tuple(int(f) for f in conv_filters)
        check_architecture(input_shape, architecture, conv_filters)
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTION_LOSSES}. Received: reconstruction={reconstruction!r}")
        if reconstruction in ("bce", "bce_sum") and output_activation != "sigmoid":
            raise ValueError(f"A cross-entropy reconstruction needs output_activation='sigmoid'. Received: {output_activation!r}")
        if not 0.0 <= float(code_momentum) < 1.0:
            raise ValueError(f"code_momentum must lie in [0, 1). Received: code_momentum={code_momentum}")
        low, high = check_value_range(value_range)
        code_dim = int(code_dim)

        encoder = build_encoder(input_shape, architecture, hidden_units, conv_filters, kernel_size, code_dim, hidden_activation, None, seed)
        decoder = build_decoder(code_dim, input_shape, architecture, hidden_units, conv_filters, kernel_size, hidden_activation, seed)
        to_unit, to_pixels = unit_rescaling(low, high)
        output_layer = keras.layers.Activation(output_activation, name="output_activation")
        code_gaussian = CodeGaussian(code_dim, momentum=code_momentum, name="code_gaussian")
        noise = keras.Input((code_dim,), name="noise")
        super().__init__(inputs=noise, outputs=to_pixels(output_layer(decoder(code_gaussian(noise)))), name=name, **kwargs)
        self.encoder, self.decoder, self.code_gaussian = encoder, decoder, code_gaussian
        self.to_unit, self.to_pixels, self.output_layer = to_unit, to_pixels, output_layer
        self.value_range = (low, high)
        self.code_dim = code_dim
        self.reconstruction_form = reconstruction
        self.trackers = {key: keras.metrics.Mean(name=key) for key in ("loss",)}

    def _loss(self, images, training):
        target = self.to_unit(ops.cast(images, self.compute_dtype))
        code = self.encoder(target, training=training)
        logits = self.decoder(code, training=training)
        return reconstruction_loss(target, logits, self.output_layer(logits), self.reconstruction_form), code

    def train_step(self, data):
        import tensorflow as tf

        variables = self.trainable_variables  # encoder and decoder, in the order compile_from_config builds
        with tf.GradientTape() as tape:
            loss, code = self._loss(_input_images(data), training=True)
            total = loss + regularization(self)
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        self.code_gaussian.update(code)
        self.trackers["loss"].update_state(loss)
        return {"loss": self.trackers["loss"].result()}

    def test_step(self, data):
        loss, _ = self._loss(_input_images(data), training=False)
        self.trackers["loss"].update_state(loss)
        return {"loss": self.trackers["loss"].result()}

    # --- inspection ---------------------------------------------------------------------------

    def encode(self, images, batch_size=256):
        images = _as_array(images)
        return np.concatenate(
            [np.asarray(self.encoder(self.to_unit(images[i : i + batch_size]), training=False)) for i in range(0, len(images), batch_size)]
        )

    def decode(self, codes, batch_size=256):
        codes = _as_array(codes)
        return np.concatenate(
            [
                np.asarray(self.to_pixels(self.output_layer(self.decoder(codes[i : i + batch_size], training=False))))
                for i in range(0, len(codes), batch_size)
            ]
        )

    def fit_code_distribution(self, images):
        """Sets the code Gaussian to the exact mean and covariance of `images`' codes; returns them."""
        codes = self.encode(images).astype("float64")
        mean, covariance = codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False))
        self.code_gaussian.set_statistics(mean, covariance)
        return mean, covariance

    def perturb(self, images, scale, seed=0):
        """Decodes the codes of `images` moved by N(0, scale²) noise per code dimension."""
        codes = self.encode(images)
        noise = np.random.default_rng(seed).standard_normal(codes.shape).astype("float32")
        return self.decode(codes + float(scale) * noise)


# --- greedy layer-wise pre-training, then a classifier ---------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class PretrainedClassifier(ZooModel):
    """A classifier whose hidden layers are first pre-trained, greedily one at a time, as
    (denoising) autoencoders on the inputs alone; then the whole stack is fine-tuned with labels.

    `fit(x, y)` runs the pre-training on `x` first (when the model has not been pre-trained and its
    optimiser has taken no step: a reloaded or resumed model is not pre-trained again), then
    ordinary supervised training. Labels < 0 mark unlabelled examples: they
    serve the pre-training but get zero weight in the supervised loss and metrics (many
    unlabelled images, few labels). `pretrain(x)` runs the pre-training alone.

    Args:
        input_shape, num_classes: of the data.
        architecture: "mlp" (hidden_units Dense layers) or "conv" (conv_filters stride-2 convs).
        hidden_activation: of the hidden layers (logistic in Erhan et al.).
        pretrain_epochs: epochs per layer of the greedy pre-training (0: none, i.e. random init).
        pretrain_corruption, pretrain_corruption_level: the denoising criterion of each layer's
            autoencoder ("masking" ν = 0.25 here; None for plain autoencoders).
        pretrain_learning_rate, pretrain_batch_size: Adam learning rate and batch of pre-training.
        value_range: (low, high) of the data; mapped to [0, 1] inside the model.
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        architecture="mlp",
        hidden_units=ERHAN_HIDDEN,
        conv_filters=(32, 64),
        kernel_size=3,
        hidden_activation="sigmoid",
        pretrain_epochs=10,
        pretrain_corruption="masking",
        pretrain_corruption_level=0.25,
        pretrain_learning_rate=1e-3,
        pretrain_batch_size=64,
        value_range=(0.0, 255.0),
        seed=None,
        name="ae_pretrained_classifier",
        **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        hidden_units = tuple(int(u) for u in hidden_units)
        conv_filters = tuple(int(f) for f in conv_filters)
        check_architecture(input_shape, architecture, conv_filters)
        if pretrain_corruption not in CORRUPTIONS:
            raise ValueError(f"pretrain_corruption must be one of {CORRUPTIONS}. Received: {pretrain_corruption!r}")
        if int(pretrain_epochs) < 0 or int(num_classes) < 2:
            raise ValueError(f"Expected pretrain_epochs >= 0 and num_classes >= 2. Received: {pretrain_epochs}, {num_classes}")
        widths = hidden_units if architecture == "mlp" else conv_filters
        if not widths:
            raise ValueError("The stack needs at least one hidden layer to pre-train (hidden_units or conv_filters).")
        low, high = check_value_range(value_range)

        images = keras.Input(input_shape, name="images")
        to_unit, _ = unit_rescaling(low, high)
        x = to_unit(images)
        if architecture == "mlp" and len(input_shape) > 1:
            x = keras.layers.Flatten(name="flatten_input")(x)
        stack = []
        for index, width in enumerate(widths, start=1):
            if architecture == "mlp":
                layer = keras.layers.Dense(width, activation=hidden_activation, kernel_initializer=_init(seed, index), name=f"encoder{index}")
            else:
                layer = keras.layers.Conv2D(
                    width, kernel_size, strides=2, padding="same", activation=hidden_activation,
                    kernel_initializer=_init(seed, index), name=f"encoder{index}",
                )
            stack.append(layer)
            x = layer(x)
        if architecture == "conv":
            x = keras.layers.Flatten(name="flatten")(x)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", kernel_initializer=_init(seed, 0), name="classifier")(x)
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)
        self.to_unit = to_unit
        self.stack = stack
        self.architecture, self.kernel_size = architecture, kernel_size
        self.value_range = (low, high)
        self.pretrain_settings = dict(
            epochs=int(pretrain_epochs), corruption=pretrain_corruption, level=float(pretrain_corruption_level),
            learning_rate=float(pretrain_learning_rate), batch_size=int(pretrain_batch_size),
        )
        self.pretrained = False
        self.pretrain_seed = keras.random.SeedGenerator(seed)
        self.pretrain_history = []

    # --- greedy pre-training ------------------------------------------------------------------

    def _features(self, images, depth):
        """The stack's output after `depth` layers (0: the [0, 1] input, flattened for "mlp")."""
        x = self.to_unit(ops.cast(images, self.compute_dtype))
        if self.architecture == "mlp":
            x = ops.reshape(x, (ops.shape(x)[0], -1))
        for layer in self.stack[:depth]:
            x = layer(x, training=False)
        return x

    def _layer_decoder(self, depth, feature_shape):
        """A fresh decoder for layer `depth`'s autoencoder, back to that layer's input."""
        if self.architecture == "mlp":
            return keras.layers.Dense(feature_shape[-1], name=f"pretrain_decoder{depth + 1}")
        return keras.layers.Conv2DTranspose(feature_shape[-1], self.kernel_size, strides=2, padding="same", name=f"pretrain_decoder{depth + 1}")

    def pretrain(self, x, epochs=None, batch_size=None):
        """Greedy layer-wise pre-training on the inputs `x` (an array, or a tf.data.Dataset of
        `(x, y)` or `x` batches): each layer in turn, bottom up (`pretrain_layer`). Returns
        [[loss per epoch] per layer]."""
        settings = self.pretrain_settings
        epochs = settings["epochs"] if epochs is None else int(epochs)
        batches = _input_batches(x, batch_size or settings["batch_size"])
        self.pretrain_history = [self.pretrain_layer(depth, batches, epochs) for depth in range(len(self.stack))]
        self.pretrained = True
        return self.pretrain_history

    def pretrain_layer(self, depth, batches, epochs):
        """Trains layer `depth` as the encoder of a (denoising) autoencoder that reconstructs the
        codes of layers 0..depth−1 (fixed) from a corrupted copy, with a fresh decoder that is then
        dropped. `batches`: a list of raw input arrays. Returns the mean squared error per epoch."""
        import tensorflow as tf

        settings = self.pretrain_settings
        layer = self.stack[depth]
        feature_shape = tuple(self._features(batches[0][:1], depth).shape[1:])
        decoder = self._layer_decoder(depth, feature_shape)
        optimizer = keras.optimizers.Adam(settings["learning_rate"])

        @tf.function
        def step(images):
            target = ops.stop_gradient(self._features(images, depth))
            noisy = corrupt(target, settings["corruption"], settings["level"], self.pretrain_seed)
            with tf.GradientTape() as tape:
                loss = ops.mean(ops.square(decoder(layer(noisy)) - target))
            variables = layer.trainable_variables + decoder.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        return [float(np.mean([float(step(tf.constant(batch))) for batch in batches])) for _ in range(int(epochs))]

    def fit(self, x=None, y=None, *args, **kwargs):
        """Pre-trains on `x` first (see the class docstring), then Keras' fit."""
        if self.pretrain_settings["epochs"] and not self.pretrained and int(self.optimizer.iterations) == 0:
            self.pretrain(x)
        return super().fit(x, y, *args, **kwargs)

    # --- supervised steps: labels < 0 are unlabelled ------------------------------------------

    @staticmethod
    def _mask_unlabelled(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None or "int" not in str(y.dtype) or len(y.shape) != 1:
            return data
        labelled = ops.cast(y >= 0, "float32")
        sample_weight = labelled if sample_weight is None else ops.cast(sample_weight, "float32") * labelled
        return x, ops.maximum(y, 0), sample_weight

    def train_step(self, data):
        return super().train_step(self._mask_unlabelled(data))

    def test_step(self, data):
        return super().test_step(self._mask_unlabelled(data))


def _input_batches(x, batch_size):
    """A list of input batches (numpy) from an array or a tf.data.Dataset of (x, ...) or x."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        return [np.asarray(element[0] if isinstance(element, (tuple, list)) else element, dtype="float32") for element in x]
    x = _as_array(x)
    if not len(x):
        raise ValueError("Pre-training needs at least one input. Received: an empty array.")
    return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]


# --- the variant table -----------------------------------------------------------------------------

MNIST = (28, 28, 1)
TINY_IMAGE = (16, 16, 1)

# name -> (task, builder, canonical config, tiny config, reference params, source, paper, seeds, notes)
VARIANTS = {
    "mlp_autoencoder": dict(
        task="autoencoder",
        builder=Autoencoder,
        canonical=dict(input_shape=MNIST, hidden_units=HINTON_HIDDEN, code_dim=30, hidden_activation="sigmoid", reconstruction="bce"),
        tiny=dict(input_shape=TINY_IMAGE, hidden_units=(32,), code_dim=8, hidden_activation="relu"),
        params=2_837_314,
        source="B (784-1000-500-250-30 and the mirrored decoder, Dense weights and biases)",
        paper="Hinton & Salakhutdinov 2006, Science 313(5786)",
        seeds=("000", "002", "003", "004"),
        notes=(
            "Canonical = the paper's 784-1000-500-250-30 with logistic hidden units, a linear code and a logistic "
            "output with cross-entropy. The paper initialised the weights by RBM pre-training before back-propagation; "
            "here the autoencoder is trained end to end from Glorot initialisation (layer-wise pre-training is the "
            "ae_pretrained_classifier row). The spec's default 784-256-k-256-784 (ReLU) is "
            "hidden_units=(256,), hidden_activation='relu'."
        ),
    ),
    "linear_autoencoder_pca": dict(
        task="autoencoder",
        builder=Autoencoder,
        canonical=dict(
            input_shape=MNIST, hidden_units=(), code_dim=30, code_activation="linear", output_activation="linear",
            reconstruction="mse",
        ),
        tiny=dict(input_shape=TINY_IMAGE, hidden_units=(), code_dim=4, code_activation="linear", output_activation="linear", reconstruction="mse"),
        params=None,
        source="",
        paper="Baldi & Hornik 1989, Neural Networks 2(1)",
        seeds=("004",),
        notes=(
            "One linear hidden layer of k units, linear output, squared error; with biases the model learns the data "
            "mean, so the decoder's column space is compared with the principal subspace of the centred data "
            "(tests/test_autoencoders.py). The paper has no network size: k = 30 on 28×28 inputs here."
        ),
    ),
    "conv_autoencoder": dict(
        task="autoencoder",
        builder=Autoencoder,
        canonical=dict(
            input_shape=MNIST, architecture="conv", conv_filters=(32, 64), kernel_size=3, code_dim=16,
            hidden_activation="relu", reconstruction="bce",
        ),
        tiny=dict(input_shape=TINY_IMAGE, architecture="conv", conv_filters=(4, 8), code_dim=8, hidden_activation="relu"),
        params=None,
        source="",
        paper="Masci, Meier, Cireşan & Schmidhuber 2011, ICANN (stacked convolutional autoencoders)",
        seeds=("000", "003"),
        notes=(
            "The spec's default network (Conv 32/2, Conv 64/2, Dense code, mirrored transposed convs, logistic output), "
            "code 16. Masci et al. used max-pooling CAEs stacked and pre-trained layer by layer; they give no single "
            "reference network or parameter count."
        ),
    ),
    "denoising_autoencoder": dict(
        task="autoencoder",
        builder=Autoencoder,
        canonical=dict(
            input_shape=MNIST, hidden_units=(), code_dim=500, code_activation="sigmoid", reconstruction="bce",
            corruption="masking", corruption_level=0.25,
        ),
        tiny=dict(
            input_shape=TINY_IMAGE, hidden_units=(), code_dim=16, code_activation="sigmoid", corruption="masking",
            corruption_level=0.25,
        ),
        params=None,
        source="",
        paper="Vincent, Larochelle, Bengio & Manzagol 2008, ICML",
        seeds=("003", "004"),
        notes=(
            "One logistic hidden layer, logistic output, cross-entropy on the clean input; masking noise ν = 0.25 "
            "(the paper sweeps 0–50 %; corruption='gaussian' with corruption_level=σ is the additive option). The paper "
            "allows tied weights W' = Wᵀ as an option; here W' is free. 500 hidden units is one of the paper's layer "
            "sizes, not a reference count."
        ),
    ),
    "sparse_autoencoder": dict(
        task="autoencoder",
        builder=Autoencoder,
        canonical=dict(
            input_shape=(8, 8, 1), hidden_units=(), code_dim=25, code_activation="sigmoid", reconstruction="half_sse",
            sparsity="kl", sparsity_target=0.05, sparsity_weight=3.0,
        ),
        tiny=dict(
            input_shape=TINY_IMAGE, hidden_units=(), code_dim=16, code_activation="sigmoid", reconstruction="half_sse",
            sparsity="kl", sparsity_target=0.05, sparsity_weight=3.0,
        ),
        params=3_289,
        source="B (Ng's 8×8 patches: 64-25-64 with biases)",
        paper="Ng 2011, CS294A lecture notes 'Sparse autoencoder'",
        seeds=("000",),
        notes=(
            "J = (1/m) Σ ½‖x̂ − x‖² + β Σ_j KL(ρ‖ρ̂_j), ρ = 0.05, β = 3, logistic units, on 8×8 patches with 25 hidden "
            "units (the notes' exercise). The notes' weight decay λ/2 ‖W‖² is the trainer's l2 option. "
            "sparsity='l1' with sparsity_weight=λ is the L1 activity option."
        ),
    ),
    "ae_pretrained_classifier": dict(
        task="classification",
        builder=PretrainedClassifier,
        canonical=dict(input_shape=MNIST, num_classes=10, hidden_units=ERHAN_HIDDEN, hidden_activation="sigmoid"),
        tiny=dict(
            input_shape=TINY_IMAGE, num_classes=4, hidden_units=(16, 8), hidden_activation="sigmoid", pretrain_epochs=1,
            pretrain_batch_size=8,
        ),
        params=2_797_010,
        source="B (784-1000-1000-1000-10 with biases)",
        paper="Erhan, Bengio, Courville, Manzagol, Vincent & Bengio 2010, JMLR 11; Hinton & Salakhutdinov 2006",
        seeds=("000", "002"),
        notes=(
            "Erhan et al.'s MNIST stack: 3 logistic layers of 1000 units, each pre-trained greedily as a denoising "
            "autoencoder (masking ν = 0.25, squared error on the previous layer's codes), then fine-tuned with a "
            "softmax layer. The notes' recipe with a CNN feature extractor is architecture='conv' (each stride-2 conv "
            "pre-trained with a transposed-conv decoder). benchmarks/bench_autoencoders.py compares it with random "
            "initialisation on 1 % of the labels. Pre-training runs at the start of fit, before checkpoints exist: "
            "a resumed run repeats it, then restores the checkpointed weights over it."
        ),
    ),
    "ae_generator": dict(
        task="generative",
        builder=AutoencoderGenerator,
        canonical=dict(input_shape=MNIST, hidden_units=(256,), code_dim=16, hidden_activation="relu"),
        tiny=dict(input_shape=TINY_IMAGE, hidden_units=(32,), code_dim=4, hidden_activation="relu"),
        params=None,
        source="",
        paper="Spec row ae_generator (lecture notes 000); the motivation of Kingma & Welling 2014",
        seeds=("000",),
        notes=(
            "The spec's default MLP autoencoder 784-256-k-256-784 (k = 16) trained by reconstruction; a Gaussian "
            "(mean and full covariance) fitted to the training codes is sampled and decoded. The endpoint takes "
            "standard-normal noise ε and decodes μ + Lε (L the Cholesky factor). count_params includes the "
            "Gaussian's non-trainable μ, Σ and L."
        ),
    ),
}


def _specs(name, variant):
    task = variant["task"]
    canonical = variant["canonical"]
    if task == "generative":
        inputs = (TensorSpec("noise", (canonical["code_dim"],)),)
        outputs = (TensorSpec("images", canonical["input_shape"]),)
        endpoint = "the decoder of a code Gaussian: noise [N, k] ~ N(0, I) -> images [N, H, W, C] in the data's range"
    elif task == "classification":
        inputs = (TensorSpec("images", canonical["input_shape"]),)
        outputs = (TensorSpec("output", (canonical["num_classes"],)),)
        endpoint = ""
    else:
        inputs = (TensorSpec("images", canonical["input_shape"]),)
        outputs = (TensorSpec("reconstruction", canonical["input_shape"]), TensorSpec("code", (canonical["code_dim"],)))
        endpoint = "the autoencoder and its encoder: images -> {reconstruction (same range), code [N, k]}"
    return inputs, outputs, endpoint


for _name, _variant in VARIANTS.items():
    _inputs, _outputs, _endpoint = _specs(_name, _variant)
    register(
        ModelSpec(
            name=_name,
            family="generative",
            task=_variant["task"],
            builder=_variant["builder"],
            canonical_config=_variant["canonical"],
            tiny_config={**_variant["tiny"], "seed": 0},
            reference_params=_variant["params"],
            reference_source=_variant["source"],
            paper=_variant["paper"],
            seeds=_variant["seeds"],
            default_dataset="digits",
            inputs=_inputs,
            outputs=_outputs,
            train_check="loss_falls",
            export_endpoint=_endpoint,
            notes=_variant["notes"],
        )
    )
