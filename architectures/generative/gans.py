"""The GAN family (spec §2 G): one adversarial model, the game as data.

References:
    gan                 Goodfellow et al. 2014, "Generative adversarial nets", NIPS (minimax value
                        function, Algorithm 1 with k discriminator steps per generator step).
    gan_nonsaturating   the same paper, §3: G minimises −log D(G(z)) (spec §9 row 28).
    lsgan               Mao et al. 2017, "Least squares generative adversarial networks", ICCV.
    wgan                Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", ICML (critic, weight
                        clipping, n_critic); Gulrajani et al. 2017, "Improved training of Wasserstein
                        GANs", NIPS (gradient penalty option, WGAN-GP).
    ebgan               Zhao, Mathieu & LeCun 2017, "Energy-based generative adversarial network",
                        ICLR (autoencoder discriminator, margin loss, pulling-away term).
    cgan                Mirza & Osindero 2014, "Conditional generative adversarial nets", arXiv 1411.1784.
    controllable_gan    Chen et al. 2016, "InfoGAN", NIPS (categorical + continuous codes, Q head on
                        D's trunk, L = L_GAN − λ·I); Radford et al. 2016 (latent interpolation and
                        attribute vectors: `interpolate_latents`, `attribute_vector`).
    bigan_anomaly       Donahue, Krähenbühl & Darrell 2017, "Adversarial feature learning", ICLR
                        (encoder E, D on joint pairs (x, E(x)) vs (G(z), z); spec §9 row 16: the
                        standard min_{G,E} max_D form); anomaly score of Zenati et al. 2018
                        (arXiv 1802.06222): A(x) = α‖x − G(E(x))‖ + (1 − α)‖f_D(x, E(x)) − f_D(G(E(x)), E(x))‖₁.

The networks are multilayer perceptrons, as in Goodfellow et al. and Mirza & Osindero (ReLU
generator; maxout discriminator with dropout): one hidden-layer table per network, the losses from
`tasks.generative.ADVERSARIAL_LOSSES` by name. Samples are images [H, W, C] or points [D] (a
one-dimensional `input_shape`, e.g. the 2-D ring of Gaussians); the generator ends in tanh, mapped
onto the data's `value_range` inside the model, and real data is mapped to [-1, 1] before D.

Every model trains through `fit` with its own `train_step`: k = `discriminator_steps` updates of D
(fresh noise each, on the batch's real samples) then one of G, each network by its own optimiser
(`compile(g_optimizer, d_optimizer)` as in DCGAN; `extra_optimizers` lets checkpoints and
BackupAndRestore keep both). The model's own call is its export endpoint: named inputs ("noise";
"labels" for cGAN; "category" and "codes" for InfoGAN; "query" for BiGAN's scorer) to a dict of
named outputs ("images" or "points"; BiGAN adds "codes", "reconstructions", "anomaly_scores").
"""

import math

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.generative.dcgan import _clone_optimizer, _regularization
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.generative import (
    ADVERSARIAL_LOSSES,
    LATENT_PRIORS,
    anomaly_score,
    discriminator_loss,
    energy_discriminator_loss,
    generator_loss,
    gradient_penalty,
    information_loss,
    latent_noise,
    pullaway_term,
)

GAN_LOSSES = tuple(ADVERSARIAL_LOSSES)
ANOMALY_NORMS = ("l1", "l2")

# Hidden layers of the reference MNIST networks (Goodfellow et al.'s code, adversarial/mnist.yaml):
# G 1200-1200 ReLU; D maxout 240 units × 5 pieces, twice, dropout 0.5.
GOODFELLOW_GENERATOR_UNITS = (1200, 1200)
GOODFELLOW_DISCRIMINATOR_UNITS = (240, 240)


# --- blocks ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Maxout(keras.layers.Layer):
    """max over `pieces` groups of the last axis (Goodfellow et al. 2013): [..., units·pieces] -> [..., units]."""

    def __init__(self, pieces, **kwargs):
        super().__init__(**kwargs)
        self.pieces = int(pieces)

    def call(self, inputs):
        units = inputs.shape[-1] // self.pieces
        return ops.max(ops.reshape(inputs, (-1, units, self.pieces)), axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


@keras.saving.register_keras_serializable(package="deepzoo")
class OneHot(keras.layers.Layer):
    """Class ids int [N] -> one-hot float [N, num_classes] (cGAN's y, InfoGAN's categorical code)."""

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def call(self, inputs):
        return ops.one_hot(ops.cast(ops.reshape(inputs, (-1,)), "int32"), self.num_classes, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def _init(seed, index):
    # A distinct seed per layer: one seeded initialiser reused would give equal tensors.
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + index)


def _hidden(x, units, pieces, dropout, name, seed, index, activation="relu"):
    """One hidden layer: maxout (pieces > 1) or `activation`, then dropout."""
    if pieces > 1:
        x = keras.layers.Dense(units * pieces, kernel_initializer=_init(seed, index), name=f"{name}_dense")(x)
        x = Maxout(pieces, name=f"{name}_maxout")(x)
    else:
        x = keras.layers.Dense(units, kernel_initializer=_init(seed, index), name=f"{name}_dense")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x) if activation == "leaky_relu" else keras.layers.ReLU(name=f"{name}_relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def _pieces(pieces, count):
    pieces = (pieces,) * count if isinstance(pieces, int) else tuple(int(p) for p in pieces)
    if len(pieces) != count:
        raise ValueError(f"Give one maxout piece count per hidden layer ({count}). Received: {pieces}")
    return pieces


def _branch_then_joint(inputs, side, units, side_units, pieces, side_pieces, dropout, activation, name, seed, offset):
    """The two-input MLP of Mirza & Osindero: the main input's first hidden layer and the side
    input's own layer (`side_units`; none = the side input itself) are concatenated, then the
    remaining layers are joint. Without a side input: a plain MLP."""
    x = keras.layers.Flatten(name=f"{name}_flatten")(inputs) if len(inputs.shape) > 2 else inputs
    layers = list(units)
    if side is None:
        for index, width in enumerate(layers):
            x = _hidden(x, width, pieces[index], dropout, f"{name}{index + 1}", seed, offset + index, activation)
        return x
    if side_units:
        side = _hidden(side, side_units, side_pieces, dropout, f"{name}_side", seed, offset + 50, activation)
    if layers:
        x = _hidden(x, layers[0], pieces[0], dropout, f"{name}1", seed, offset, activation)
    x = keras.layers.Concatenate(name=f"{name}_join")([x, side])
    for index, width in enumerate(layers[1:], start=1):
        x = _hidden(x, width, pieces[index], dropout, f"{name}{index + 1}", seed, offset + index, activation)
    return x


def _to_sample(x, sample_shape, name, seed, index):
    x = keras.layers.Dense(int(np.prod(sample_shape)), kernel_initializer=_init(seed, index), name=f"{name}_out")(x)
    x = keras.layers.Activation("tanh", name=f"{name}_tanh")(x)
    return keras.layers.Reshape(sample_shape, name=f"{name}_reshape")(x) if len(sample_shape) > 1 else x


def interpolate_latents(z_start, z_end, steps):
    """Latent interpolation z = α·z_end + (1 − α)·z_start for α = 0 … 1 in `steps` steps: [steps, z]
    (the generator's samples along it should all look real; Radford et al. 2016)."""
    alphas = np.linspace(0.0, 1.0, int(steps), dtype="float32")[:, None]
    return (1.0 - alphas) * np.asarray(z_start, "float32")[None] + alphas * np.asarray(z_end, "float32")[None]


def attribute_vector(latents, has_attribute):
    """An attribute direction v_att = mean z of samples with the attribute − mean z of those without
    (latent arithmetic with mean codes: z + α·v_att adds the attribute)."""
    latents, has_attribute = np.asarray(latents, "float32"), np.asarray(has_attribute, bool)
    if has_attribute.all() or not has_attribute.any():
        raise ValueError("An attribute vector needs samples with and without the attribute. Received: all the same")
    return latents[has_attribute].mean(axis=0) - latents[~has_attribute].mean(axis=0)


# --- the model ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class GAN(ZooModel):
    """An MLP GAN whose game is `loss`: `model(noise)` → samples (`ConditionalGAN` adds a class input).

    Args:
        input_shape: shape of one sample: (H, W, C) images or (D,) points.
        latent_dim: size of z.
        loss: "minimax" (Goodfellow's value function), "non_saturating" (G minimises −log D(G(z))),
            "least_squares" (LSGAN, linear D), "wasserstein" (a critic, linear output), "energy"
            (EBGAN: D is an autoencoder, its energy the reconstruction MSE).
        generator_units: hidden ReLU layers of G (the first is the noise branch when conditional).
        discriminator_units: hidden layers of D (EBGAN: the encoder's, mirrored by the decoder).
        discriminator_pieces: maxout pieces per D hidden layer (an int for all); 1 = LeakyReLU 0.2.
        discriminator_dropout: dropout after each D hidden layer.
        discriminator_steps: k, D updates per G update (WGAN's n_critic).
        clip_value: WGAN weight clipping to [−c, c] after every critic update (None or 0: off).
        gradient_penalty_weight: WGAN-GP λ (0: off).
        margin: EBGAN's margin m on the fake energy.
        pullaway_weight: EBGAN's λ_PT for the pulling-away term on the codes of fake batches.
        minimax_after_step: with loss="non_saturating", switch G back to the minimax loss from this
            generator step on (the notes' option); None keeps the non-saturating loss throughout.
        latent_prior: "uniform" in [-1, 1] or "normal".
        value_range: (low, high) of the data; tanh's [-1, 1] maps onto it.
        seed: initialiser and noise seed (None: Keras' global RNG).
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim=100,
        loss="non_saturating",
        generator_units=GOODFELLOW_GENERATOR_UNITS,
        discriminator_units=GOODFELLOW_DISCRIMINATOR_UNITS,
        discriminator_pieces=5,
        discriminator_dropout=0.5,
        discriminator_steps=1,
        clip_value=None,
        gradient_penalty_weight=0.0,
        margin=1.0,
        pullaway_weight=0.0,
        minimax_after_step=None,
        latent_prior="uniform",
        value_range=(0.0, 255.0),
        seed=None,
        name="gan",
        **kwargs,
    ):
        self._init_game(
            input_shape=input_shape, latent_dim=latent_dim, loss=loss, generator_units=generator_units,
            discriminator_units=discriminator_units, discriminator_pieces=discriminator_pieces,
            discriminator_dropout=discriminator_dropout, discriminator_steps=discriminator_steps, clip_value=clip_value,
            gradient_penalty_weight=gradient_penalty_weight, margin=margin, pullaway_weight=pullaway_weight,
            minimax_after_step=minimax_after_step, latent_prior=latent_prior, value_range=value_range, seed=seed, name=name,
            num_classes=0, generator_label_units=0, discriminator_label_units=0, discriminator_label_pieces=1, **kwargs,
        )

    def _init_game(
        self, input_shape, latent_dim, loss, generator_units, discriminator_units, discriminator_pieces, discriminator_dropout,
        discriminator_steps, clip_value, gradient_penalty_weight, margin, pullaway_weight, minimax_after_step, num_classes,
        generator_label_units, discriminator_label_units, discriminator_label_pieces, latent_prior, value_range, seed, name, **kwargs,
    ):
        # The constructors' shared body (GAN's and ConditionalGAN's signatures differ: only the
        # conditional one takes num_classes, which the trainer fills from the dataset).
        self._check_options(input_shape, loss, latent_prior, value_range, discriminator_steps, num_classes)
        sample_shape = tuple(int(d) for d in input_shape)
        generator_units = tuple(int(u) for u in generator_units)
        discriminator_units = tuple(int(u) for u in discriminator_units)
        low, high = (float(v) for v in value_range)
        self.num_classes = int(num_classes)
        inputs, generator, discriminator, outputs = self._build_networks(
            sample_shape, int(latent_dim), loss, generator_units, discriminator_units,
            _pieces(discriminator_pieces, len(discriminator_units)), float(discriminator_dropout),
            int(generator_label_units), int(discriminator_label_units), int(discriminator_label_pieces), seed,
        )
        to_pixels = keras.layers.Rescaling((high - low) / 2.0, offset=(high + low) / 2.0, name="to_pixels")
        key = "images" if len(sample_shape) > 1 else "points"
        super(GAN, self).__init__(inputs=inputs, outputs={key: to_pixels(outputs), **self._extra_outputs(inputs, generator, discriminator, to_pixels)}, name=name, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.from_pixels = keras.layers.Rescaling(2.0 / (high - low), offset=-(high + low) / (high - low), name="from_pixels")
        self.sample_shape = sample_shape
        self.latent_dim = int(latent_dim)
        self.latent_prior = latent_prior
        self.value_range = (low, high)
        self.loss_form = loss
        self.discriminator_steps = int(discriminator_steps)
        self.clip_value = float(clip_value) if clip_value else None  # None or 0: no clipping
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.margin = float(margin)
        self.pullaway_weight = float(pullaway_weight)
        self.minimax_after_step = minimax_after_step
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.d_optimizer = None
        self.trackers = {key: keras.metrics.Mean(name=key) for key in self._tracked_metric_names()}

    # --- construction (overridden by InfoGAN and BiGAN) ----------------------------------------

    @staticmethod
    def _check_options(input_shape, loss, latent_prior, value_range, discriminator_steps, num_classes):
        for option, value, allowed in (("loss", loss, GAN_LOSSES), ("latent_prior", latent_prior, LATENT_PRIORS)):
            if value not in allowed:
                raise ValueError(f"{option} must be one of {allowed}. Received: {option}={value!r}")
        if len(tuple(input_shape)) not in (1, 3):
            raise ValueError(f"input_shape must be (height, width, channels) or (dimensions,). Received: input_shape={input_shape}")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low. Received: value_range={value_range}")
        if int(discriminator_steps) < 1 or int(num_classes) < 0:
            raise ValueError(
                f"discriminator_steps must be >= 1 and num_classes >= 0. Received: discriminator_steps={discriminator_steps}, num_classes={num_classes}"
            )

    def _build_networks(self, sample_shape, latent_dim, loss, g_units, d_units, d_pieces, d_dropout, g_label_units, d_label_units, d_label_pieces, seed):
        conditional = self.num_classes > 0
        noise = keras.Input((latent_dim,), name="noise")
        labels = keras.Input((), dtype="int32", name="labels") if conditional else None

        # G: z (and y) -> hidden ReLU layers -> tanh sample.
        g_noise = keras.Input((latent_dim,), name="noise")
        g_labels = keras.Input((), dtype="int32", name="labels") if conditional else None
        side = OneHot(self.num_classes, name="g_onehot")(g_labels) if conditional else None
        hidden = _branch_then_joint(g_noise, side, g_units, g_label_units, (1,) * len(g_units), 1, 0.0, "relu", "g", seed, 0)
        sample = _to_sample(hidden, sample_shape, "g", seed, 90)
        generator = keras.Model([g_noise, g_labels] if conditional else g_noise, sample, name="generator")

        # D: x (and y) -> hidden layers -> one output (logit, critic score) or an autoencoder.
        d_samples = keras.Input(sample_shape, name="samples")
        d_labels = keras.Input((), dtype="int32", name="labels") if conditional else None
        side = OneHot(self.num_classes, name="d_onehot")(d_labels) if conditional else None
        if ADVERSARIAL_LOSSES[loss][2] == "energy":
            if conditional:
                raise ValueError("The energy-based (autoencoder) discriminator is unconditional here. Received: loss='energy' with num_classes > 0")
            code = _branch_then_joint(d_samples, None, d_units, 0, d_pieces, 1, 0.0, "leaky_relu", "d_enc", seed, 100)
            x = code
            for index, width in enumerate(reversed(d_units[:-1])):
                x = _hidden(x, width, 1, 0.0, f"d_dec{index + 1}", seed, 150 + index, "leaky_relu")
            reconstruction = _to_sample(x, sample_shape, "d_dec", seed, 190)
            discriminator = keras.Model(d_samples, [reconstruction, code], name="discriminator")
        else:
            x = _branch_then_joint(d_samples, side, d_units, d_label_units, d_pieces, d_label_pieces, d_dropout, "leaky_relu", "d", seed, 100)
            output = keras.layers.Dense(1, kernel_initializer=_init(seed, 199), name="d_out")(x)
            discriminator = keras.Model([d_samples, d_labels] if conditional else d_samples, output, name="discriminator")
        inputs = {"noise": noise, "labels": labels} if conditional else noise
        return inputs, generator, discriminator, generator([noise, labels] if conditional else noise)

    def _extra_outputs(self, inputs, generator, discriminator, to_pixels):
        return {}

    def _tracked_metric_names(self):
        return ("d_loss", "g_loss", "d_real", "d_fake")

    # --- sampling -------------------------------------------------------------------------------

    def sample_noise(self, batch_size):
        shape = (batch_size, self.latent_dim)
        if self.latent_prior == "uniform":
            return keras.random.uniform(shape, -1.0, 1.0, seed=self.noise_seed)
        return keras.random.normal(shape, seed=self.noise_seed)

    def latent_inputs(self, n, seed=0, labels=None):
        """Numpy generator inputs for `n` samples: noise, and for a conditional GAN `labels`
        (default: the classes in turn)."""
        inputs = {"noise": latent_noise(n, self.latent_dim, self.latent_prior, seed)}
        if self.num_classes:
            inputs["labels"] = (np.arange(n) % self.num_classes).astype("int32") if labels is None else np.asarray(labels, "int32")
        return inputs

    # --- compile ------------------------------------------------------------------------------

    def compile(self, g_optimizer=None, d_optimizer=None, optimizer=None, loss=None, metrics=None, jit_compile="auto", **kwargs):
        """Two optimisers: `g_optimizer` (also `model.optimizer`, what LR callbacks see) and
        `d_optimizer` (default: a fresh copy of `g_optimizer`'s config). Default: Adam(2e-4, β1 = 0.5)."""
        if loss is not None or metrics:
            raise ValueError(f"{type(self).__name__} trains with its own adversarial losses and metrics. Received: loss={loss!r}, metrics={metrics!r}")
        if optimizer is not None and g_optimizer is not None:
            raise ValueError("Pass the generator's optimiser once, as g_optimizer or optimizer, not both.")
        g_optimizer = keras.optimizers.get(g_optimizer or optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        if d_optimizer is None:
            d_optimizer = _clone_optimizer(g_optimizer, f"{g_optimizer.name}_discriminator")
        d_optimizer = keras.optimizers.get(d_optimizer)
        if d_optimizer is g_optimizer:
            raise ValueError("g_optimizer and d_optimizer must be two instances: each keeps its own moments.")
        super().compile(optimizer=g_optimizer, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = d_optimizer
        # Built now, each on its own networks, so fit never builds model.optimizer on D's weights
        # and BackupAndRestore / load_model restore the slots into existing variables.
        if not g_optimizer.built:
            g_optimizer.build(self._generator_side_variables())
        if not d_optimizer.built:
            d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def extra_optimizers(self):
        """Optimisers besides `model.optimizer` whose state belongs to a training run."""
        return (self.d_optimizer,) if self.d_optimizer is not None else ()

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {"g_optimizer": keras.optimizers.serialize(self.optimizer), "d_optimizer": keras.optimizers.serialize(self.d_optimizer)}

    def compile_from_config(self, config):
        self.compile(
            g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
            d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
        )

    def _generator_side_variables(self):
        return self.generator.trainable_variables

    # --- training -----------------------------------------------------------------------------

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            images, labels = data[0], (data[1] if len(data) > 1 else None)
        else:
            images, labels = data, None
        if self.num_classes and labels is None:
            raise ValueError(f"A conditional GAN learns from labelled data: fit(images, labels). Received: images alone")
        real = self.from_pixels(ops.cast(images, self.compute_dtype))
        return real, (ops.cast(ops.reshape(labels, (-1,)), "int32") if self.num_classes else None)

    def _generate(self, batch_size, labels, training=True):
        noise = self.sample_noise(batch_size)
        return self.generator([noise, labels] if self.num_classes else noise, training=training)

    def _discriminate(self, samples, labels, training=True):
        return self.discriminator([samples, labels] if self.num_classes else samples, training=training)

    def _energy(self, samples, training=True):
        """EBGAN's D(x): the per-example mean squared reconstruction error, and the codes."""
        reconstruction, code = self.discriminator(samples, training=training)
        n = ops.shape(samples)[0]
        energy = ops.mean(ops.reshape(ops.square(reconstruction - samples), (n, -1)), axis=1)
        return energy, code

    def _discriminator_objective(self, real, fake, labels, training=True):
        """(L_D, mean D output on real, on fake) for this model's game."""
        d_loss_fn, _, output = ADVERSARIAL_LOSSES[self.loss_form]
        if output == "energy":
            real_energy, _ = self._energy(real, training)
            fake_energy, _ = self._energy(fake, training)
            return energy_discriminator_loss(real_energy, fake_energy, self.margin), ops.mean(real_energy), ops.mean(fake_energy)
        real_out = self._discriminate(real, labels, training)
        fake_out = self._discriminate(fake, labels, training)
        d_loss = d_loss_fn(real_out, fake_out)
        if self.gradient_penalty_weight and training:
            d_loss = d_loss + self.gradient_penalty_weight * gradient_penalty(
                lambda x, training=True: self._discriminate(x, labels, training), real, fake, seed=self.noise_seed
            )
        squash = ops.sigmoid if output == "logit" else (lambda v: v)
        return d_loss, ops.mean(squash(real_out)), ops.mean(squash(fake_out))

    def _generator_objective(self, fake, labels, training=True):
        _, g_loss_fn, output = ADVERSARIAL_LOSSES[self.loss_form]
        if output == "energy":
            energy, code = self._energy(fake, training)
            g_loss = ops.mean(energy)
            if self.pullaway_weight:
                g_loss = g_loss + self.pullaway_weight * pullaway_term(code)
            return g_loss
        fake_out = self._discriminate(fake, labels, training)
        if self.loss_form == "non_saturating" and self.minimax_after_step is not None:
            switched = ops.greater_equal(self.optimizer.iterations, int(self.minimax_after_step))
            return ops.where(switched, generator_loss(fake_out, "minimax"), generator_loss(fake_out, "non_saturating"))
        return g_loss_fn(fake_out)

    def train_step(self, data):
        import tensorflow as tf

        real, labels = self._unpack(data)
        batch_size = ops.shape(real)[0]
        d_variables = self.discriminator.trainable_variables
        g_variables = self._generator_side_variables()
        # 1. k discriminator (critic) steps, each on fresh noise; generated samples are inputs here.
        for _ in range(self.discriminator_steps):
            fake = ops.stop_gradient(self._generate(batch_size, labels))
            with tf.GradientTape() as tape:
                d_loss, d_real, d_fake = self._discriminator_objective(real, fake, labels)
                d_total = d_loss + _regularization(self.discriminator)
            if d_variables:  # a frozen network (trainable = False) is not updated
                self.d_optimizer.apply_gradients(zip(tape.gradient(d_total, d_variables), d_variables))
                if self.clip_value is not None:  # WGAN: keep the critic K-Lipschitz by clipping
                    for variable in d_variables:
                        variable.assign(ops.clip(variable, -self.clip_value, self.clip_value))
        # 2. One generator step against the updated discriminator, on a fresh noise batch.
        with tf.GradientTape() as tape:
            g_loss = self._generator_objective(self._generate(batch_size, labels), labels)
            g_total = g_loss + _regularization(self.generator)
        if g_variables:
            self.optimizer.apply_gradients(zip(tape.gradient(g_total, g_variables), g_variables))
        return self._update_trackers(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def test_step(self, data):
        real, labels = self._unpack(data)
        fake = self._generate(ops.shape(real)[0], labels, training=False)
        d_loss, d_real, d_fake = self._discriminator_objective(real, fake, labels, training=False)
        g_loss = self._generator_objective(fake, labels, training=False)
        return self._update_trackers(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def _update_trackers(self, **values):
        for key, value in values.items():
            self.trackers[key].update_state(value)
        return {key: tracker.result() for key, tracker in self.trackers.items()}


@keras.saving.register_keras_serializable(package="deepzoo")
class ConditionalGAN(GAN):
    """A conditional GAN (Mirza & Osindero 2014): `model({"noise", "labels"})` → samples of those
    classes; D judges (sample, class) pairs. Learns from labelled data: fit(images, labels).

    Args (besides GAN's):
        num_classes: classes of the "labels" input (class ids, one-hot inside).
        generator_label_units / discriminator_label_units: the label branch's hidden width (0: the
            one-hot is concatenated directly, to z in G and to x in D).
        discriminator_label_pieces: maxout pieces of D's label branch.
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim=100,
        num_classes=10,
        loss="non_saturating",
        generator_units=(200, 1200),
        generator_label_units=1000,
        discriminator_units=GOODFELLOW_DISCRIMINATOR_UNITS,
        discriminator_pieces=(5, 4),
        discriminator_label_units=50,
        discriminator_label_pieces=5,
        discriminator_dropout=0.5,
        discriminator_steps=1,
        clip_value=None,
        gradient_penalty_weight=0.0,
        margin=1.0,
        pullaway_weight=0.0,
        minimax_after_step=None,
        latent_prior="uniform",
        value_range=(0.0, 255.0),
        seed=None,
        name="cgan",
        **kwargs,
    ):
        if int(num_classes) < 1:
            raise ValueError(f"A conditional GAN needs num_classes >= 1. Received: num_classes={num_classes}")
        self._init_game(
            input_shape=input_shape, latent_dim=latent_dim, loss=loss, generator_units=generator_units,
            discriminator_units=discriminator_units, discriminator_pieces=discriminator_pieces,
            discriminator_dropout=discriminator_dropout, discriminator_steps=discriminator_steps, clip_value=clip_value,
            gradient_penalty_weight=gradient_penalty_weight, margin=margin, pullaway_weight=pullaway_weight,
            minimax_after_step=minimax_after_step, latent_prior=latent_prior, value_range=value_range, seed=seed, name=name,
            num_classes=num_classes, generator_label_units=generator_label_units,
            discriminator_label_units=discriminator_label_units, discriminator_label_pieces=discriminator_label_pieces, **kwargs,
        )


@keras.saving.register_keras_serializable(package="deepzoo")
class InfoGAN(GAN):
    """A controllable GAN (InfoGAN): G(z, c) with a categorical code ("category", ids) and
    continuous codes ("codes", uniform in [-1, 1]); a Q head on D's trunk predicts c from a sample,
    and both players minimise λ·L_I besides the non-saturating game (Chen et al. 2016, λ = 1).

    Args (besides GAN's):
        num_categories: size of the categorical code (10 for MNIST).
        num_continuous_codes: continuous codes (2 for MNIST).
        info_weight: λ.
        q_units: the Q head's hidden layer on D's trunk.
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim=62,
        num_categories=10,
        num_continuous_codes=2,
        info_weight=1.0,
        q_units=128,
        generator_units=(1024, 1024),
        discriminator_units=(1024, 1024),
        discriminator_pieces=1,
        discriminator_dropout=0.0,
        latent_prior="uniform",
        value_range=(0.0, 255.0),
        seed=None,
        name="infogan",
        **kwargs,
    ):
        self.num_categories = int(num_categories)
        self.num_continuous_codes = int(num_continuous_codes)
        self.q_units = int(q_units)
        if self.num_categories < 2 or self.num_continuous_codes < 0:
            raise ValueError(f"num_categories must be >= 2 and num_continuous_codes >= 0. Received: {num_categories}, {num_continuous_codes}")
        super().__init__(
            input_shape=input_shape, latent_dim=latent_dim, loss="non_saturating", generator_units=generator_units,
            discriminator_units=discriminator_units, discriminator_pieces=discriminator_pieces,
            discriminator_dropout=discriminator_dropout, latent_prior=latent_prior, value_range=value_range, seed=seed, name=name, **kwargs,
        )
        self.info_weight = float(info_weight)

    def _build_networks(self, sample_shape, latent_dim, loss, g_units, d_units, d_pieces, d_dropout, g_label_units, d_label_units, d_label_pieces, seed):
        def latent_tensors():
            return (
                keras.Input((latent_dim,), name="noise"),
                keras.Input((), dtype="int32", name="category"),
                keras.Input((self.num_continuous_codes,), name="codes"),
            )

        g_noise, g_category, g_codes = latent_tensors()
        joined = keras.layers.Concatenate(name="g_latent")([g_noise, OneHot(self.num_categories, name="g_onehot")(g_category), g_codes])
        hidden = _branch_then_joint(joined, None, g_units, 0, (1,) * len(g_units), 1, 0.0, "relu", "g", seed, 0)
        generator = keras.Model([g_noise, g_category, g_codes], _to_sample(hidden, sample_shape, "g", seed, 90), name="generator")

        samples = keras.Input(sample_shape, name="samples")
        trunk = _branch_then_joint(samples, None, d_units, 0, d_pieces, 1, d_dropout, "leaky_relu", "d", seed, 100)
        logit = keras.layers.Dense(1, kernel_initializer=_init(seed, 199), name="d_out")(trunk)
        q = _hidden(trunk, self.q_units, 1, 0.0, "q", seed, 170, "leaky_relu")
        category_logits = keras.layers.Dense(self.num_categories, kernel_initializer=_init(seed, 180), name="q_category")(q)
        code_means = keras.layers.Dense(max(self.num_continuous_codes, 1), kernel_initializer=_init(seed, 181), name="q_codes")(q)
        discriminator = keras.Model(samples, [logit, category_logits, code_means], name="discriminator")

        noise, category, codes = latent_tensors()
        inputs = {"noise": noise, "category": category, "codes": codes}
        return inputs, generator, discriminator, generator([noise, category, codes])

    def _tracked_metric_names(self):
        return ("d_loss", "g_loss", "d_real", "d_fake", "info_loss", "q_accuracy")

    def latent_inputs(self, n, seed=0, labels=None):
        rng = np.random.default_rng(seed + 7919)
        return {
            "noise": latent_noise(n, self.latent_dim, self.latent_prior, seed),
            "category": (np.arange(n) % self.num_categories).astype("int32"),
            "codes": rng.uniform(-1.0, 1.0, size=(n, self.num_continuous_codes)).astype("float32"),
        }

    def _sample_codes(self, batch_size):
        category = keras.random.randint((batch_size,), 0, self.num_categories, seed=self.noise_seed)
        codes = keras.random.uniform((batch_size, self.num_continuous_codes), -1.0, 1.0, seed=self.noise_seed)
        return category, codes

    def _info(self, fake, category, codes, training=True):
        logit, category_logits, code_means = self.discriminator(fake, training=training)
        loss = information_loss(category, category_logits, codes if self.num_continuous_codes else None, code_means[:, : self.num_continuous_codes])
        accuracy = ops.mean(ops.cast(ops.equal(ops.argmax(category_logits, axis=-1), ops.cast(category, "int64")), "float32"))
        return logit, loss, accuracy

    def train_step(self, data):
        import tensorflow as tf

        real, _ = self._unpack(data)
        batch_size = ops.shape(real)[0]
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables
        for _ in range(self.discriminator_steps):
            category, codes = self._sample_codes(batch_size)
            fake = ops.stop_gradient(self.generator([self.sample_noise(batch_size), category, codes], training=True))
            with tf.GradientTape() as tape:
                real_logit = self.discriminator(real, training=True)[0]
                fake_logit, info, _ = self._info(fake, category, codes)
                d_loss = discriminator_loss(real_logit, fake_logit)
                d_total = d_loss + self.info_weight * info + _regularization(self.discriminator)
            if d_variables:
                self.d_optimizer.apply_gradients(zip(tape.gradient(d_total, d_variables), d_variables))
        category, codes = self._sample_codes(batch_size)
        with tf.GradientTape() as tape:
            fake = self.generator([self.sample_noise(batch_size), category, codes], training=True)
            fake_logit, info, accuracy = self._info(fake, category, codes)
            g_loss = generator_loss(fake_logit, "non_saturating")
            g_total = g_loss + self.info_weight * info + _regularization(self.generator)
        if g_variables:
            self.optimizer.apply_gradients(zip(tape.gradient(g_total, g_variables), g_variables))
        return self._update_trackers(
            d_loss=d_loss, g_loss=g_loss, d_real=ops.mean(ops.sigmoid(real_logit)), d_fake=ops.mean(ops.sigmoid(fake_logit)),
            info_loss=info, q_accuracy=accuracy,
        )

    def test_step(self, data):
        real, _ = self._unpack(data)
        batch_size = ops.shape(real)[0]
        category, codes = self._sample_codes(batch_size)
        fake = self.generator([self.sample_noise(batch_size), category, codes], training=False)
        real_logit = self.discriminator(real, training=False)[0]
        fake_logit, info, accuracy = self._info(fake, category, codes, training=False)
        return self._update_trackers(
            d_loss=discriminator_loss(real_logit, fake_logit), g_loss=generator_loss(fake_logit, "non_saturating"),
            d_real=ops.mean(ops.sigmoid(real_logit)), d_fake=ops.mean(ops.sigmoid(fake_logit)), info_loss=info, q_accuracy=accuracy,
        )


@keras.saving.register_keras_serializable(package="deepzoo")
class BiGAN(GAN):
    """BiGAN with an anomaly scorer: G (z → x), E (x → z), D on joint pairs (x, z).

    D maximises E_x[log D(x, E(x))] + E_z[log(1 − D(G(z), z))]; G and E minimise it (spec §9 row
    16), trained here with the non-saturating flip (labels swapped) by one optimiser over G and E.
    The model's call also scores its "query" input: codes E(x), reconstructions G(E(x)) in the
    data's range (their difference from x localises an anomaly) and A(x) (Zenati et al. 2018).

    Args (besides GAN's):
        encoder_units: hidden layers of E.
        latent_units: the hidden layer of D's z branch (D's x branch is `discriminator_units[0]`).
        anomaly_weight: α of A(x) (0.9).
        anomaly_norm: "l1" or "l2" for the reconstruction term.
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim=50,
        generator_units=(1024, 1024),
        encoder_units=(1024, 1024),
        discriminator_units=(1024, 1024),
        latent_units=512,
        discriminator_pieces=1,
        discriminator_dropout=0.2,
        anomaly_weight=0.9,
        anomaly_norm="l1",
        latent_prior="uniform",
        value_range=(0.0, 255.0),
        seed=None,
        name="bigan",
        **kwargs,
    ):
        if anomaly_norm not in ANOMALY_NORMS or not 0.0 <= float(anomaly_weight) <= 1.0:
            raise ValueError(
                f"anomaly_norm must be one of {ANOMALY_NORMS} and anomaly_weight in [0, 1]. Received: {anomaly_norm!r}, {anomaly_weight}"
            )
        self.encoder_units = tuple(int(u) for u in encoder_units)
        self.latent_units = int(latent_units)
        self.anomaly_weight = float(anomaly_weight)
        self.anomaly_norm = anomaly_norm
        super().__init__(
            input_shape=input_shape, latent_dim=latent_dim, loss="non_saturating", generator_units=generator_units,
            discriminator_units=discriminator_units, discriminator_pieces=discriminator_pieces,
            discriminator_dropout=discriminator_dropout, latent_prior=latent_prior, value_range=value_range, seed=seed, name=name, **kwargs,
        )

    def _build_networks(self, sample_shape, latent_dim, loss, g_units, d_units, d_pieces, d_dropout, g_label_units, d_label_units, d_label_pieces, seed):
        g_noise = keras.Input((latent_dim,), name="noise")
        hidden = _branch_then_joint(g_noise, None, g_units, 0, (1,) * len(g_units), 1, 0.0, "relu", "g", seed, 0)
        generator = keras.Model(g_noise, _to_sample(hidden, sample_shape, "g", seed, 90), name="generator")

        e_samples = keras.Input(sample_shape, name="samples")
        hidden = _branch_then_joint(e_samples, None, self.encoder_units, 0, (1,) * len(self.encoder_units), 1, 0.0, "leaky_relu", "e", seed, 200)
        codes = keras.layers.Dense(latent_dim, kernel_initializer=_init(seed, 290), name="e_out")(hidden)
        self.encoder = keras.Model(e_samples, codes, name="encoder")

        d_samples = keras.Input(sample_shape, name="samples")
        d_codes = keras.Input((latent_dim,), name="codes")
        features = _branch_then_joint(d_samples, d_codes, d_units, self.latent_units, d_pieces, 1, d_dropout, "leaky_relu", "d", seed, 100)
        logit = keras.layers.Dense(1, kernel_initializer=_init(seed, 199), name="d_out")(features)
        discriminator = keras.Model([d_samples, d_codes], [logit, features], name="discriminator")

        noise = keras.Input((latent_dim,), name="noise")
        query = keras.Input(sample_shape, name="query")
        return {"noise": noise, "query": query}, generator, discriminator, generator(noise)

    def _extra_outputs(self, inputs, generator, discriminator, to_pixels):
        """E(x), G(E(x)) and A(x) for the "query" samples (pixels in, D's [-1, 1] scale inside)."""
        low, high = (float(v) for v in self._zoo_config["value_range"])
        scaled = keras.layers.Rescaling(2.0 / (high - low), offset=-(high + low) / (high - low), name="query_scale")(inputs["query"])
        codes = self.encoder(scaled)
        reconstructed = generator(codes)
        real_features = discriminator([scaled, codes])[1]
        reconstructed_features = discriminator([reconstructed, codes])[1]
        scores = AnomalyScore(self.anomaly_weight, self.anomaly_norm, name="anomaly_score")(
            [scaled, reconstructed, real_features, reconstructed_features]
        )
        return {"codes": codes, "reconstructions": to_pixels(reconstructed), "anomaly_scores": scores}

    def _tracked_metric_names(self):
        return ("d_loss", "g_loss", "d_real", "d_fake")

    def latent_inputs(self, n, seed=0, labels=None):
        return {"noise": latent_noise(n, self.latent_dim, self.latent_prior, seed)}

    def _generator_side_variables(self):
        return self.generator.trainable_variables + self.encoder.trainable_variables

    def _pairs(self, real, batch_size, training=True):
        noise = self.sample_noise(batch_size)
        fake = self.generator(noise, training=training)
        real_logit = self.discriminator([real, self.encoder(real, training=training)], training=training)[0]
        fake_logit = self.discriminator([fake, noise], training=training)[0]
        return real_logit, fake_logit

    def train_step(self, data):
        import tensorflow as tf

        real, _ = self._unpack(data)
        batch_size = ops.shape(real)[0]
        d_variables = self.discriminator.trainable_variables
        ge_variables = self._generator_side_variables()
        for _ in range(self.discriminator_steps):
            with tf.GradientTape() as tape:
                real_logit, fake_logit = self._pairs(real, batch_size)
                d_loss = discriminator_loss(real_logit, fake_logit)
                d_total = d_loss + _regularization(self.discriminator)
            if d_variables:
                self.d_optimizer.apply_gradients(zip(tape.gradient(d_total, d_variables), d_variables))
        with tf.GradientTape() as tape:
            real_logit, fake_logit = self._pairs(real, batch_size)
            # Non-saturating for both G and E: the labels of the two kinds of pair swapped.
            g_loss = discriminator_loss(fake_logit, real_logit)
            g_total = g_loss + _regularization(self.generator) + _regularization(self.encoder)
        if ge_variables:
            self.optimizer.apply_gradients(zip(tape.gradient(g_total, ge_variables), ge_variables))
        return self._update_trackers(d_loss=d_loss, g_loss=g_loss, d_real=ops.mean(ops.sigmoid(real_logit)), d_fake=ops.mean(ops.sigmoid(fake_logit)))

    def test_step(self, data):
        real, _ = self._unpack(data)
        real_logit, fake_logit = self._pairs(real, ops.shape(real)[0], training=False)
        return self._update_trackers(
            d_loss=discriminator_loss(real_logit, fake_logit), g_loss=discriminator_loss(fake_logit, real_logit),
            d_real=ops.mean(ops.sigmoid(real_logit)), d_fake=ops.mean(ops.sigmoid(fake_logit)),
        )


@keras.saving.register_keras_serializable(package="deepzoo")
class AnomalyScore(keras.layers.Layer):
    """A(x) of `tasks.generative.anomaly_score` as a layer: [x, G(E(x)), f(x, E(x)), f(G(E(x)), E(x))] -> [N]."""

    def __init__(self, alpha=0.9, norm="l1", **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.norm = float(alpha), norm

    def call(self, inputs):
        return anomaly_score(*inputs, alpha=self.alpha, norm=self.norm)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "norm": self.norm}


# --- the variant table ----------------------------------------------------------------------------

_TINY_MLP = dict(input_shape=(8, 8, 1), latent_dim=8, generator_units=(16,), discriminator_units=(16,), discriminator_pieces=2, discriminator_dropout=0.0)
_GOODFELLOW = dict(input_shape=(28, 28, 1), latent_dim=100, generator_units=GOODFELLOW_GENERATOR_UNITS, discriminator_units=GOODFELLOW_DISCRIMINATOR_UNITS, discriminator_pieces=5, discriminator_dropout=0.5)
_GOODFELLOW_SOURCE = (
    "P (Goodfellow et al.'s code, adversarial/mnist.yaml: G 100-1200-1200-784, 2,503,984; D maxout 240×5, 240×5, 1 "
    "logit, 1,231,441)"
)
_ENDPOINT = "the generator: noise [N, z] -> images [N, H, W, C] in the data's pixel range (points [N, D] for vector data)"
_MLP_NOTE = (
    "Networks are MLPs, as in Goodfellow et al.'s MNIST model (ReLU G; maxout D with dropout); G ends in tanh mapped "
    "onto the data's range (sigmoid in the paper: same parameters). Each batch makes k D steps (fresh noise each, the "
    "batch's real samples) then one G step."
)
_GAN_PAPER = "Goodfellow et al. 2014, NIPS (arXiv 1406.2661)"

GAN_VARIANTS = (
    dict(
        name="gan",
        builder=GAN,
        canonical=dict(_GOODFELLOW, loss="minimax"),
        tiny=dict(_TINY_MLP, loss="minimax"),
        reference=(3_735_425, _GOODFELLOW_SOURCE),
        paper=_GAN_PAPER,
        seeds=("000", "003"),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=100, epochs=50),
        notes="The minimax game as written: G minimises E log(1 − D(G(z))) (saturates early; `gan_nonsaturating` is the "
        "practical form). One sigmoid D output (spec §9 row 27). discriminator_steps = k (1 in the paper's runs). " + _MLP_NOTE,
    ),
    dict(
        name="gan_nonsaturating",
        builder=GAN,
        canonical=dict(_GOODFELLOW, loss="non_saturating"),
        tiny=dict(_TINY_MLP, loss="non_saturating"),
        reference=(3_735_425, _GOODFELLOW_SOURCE),
        paper=_GAN_PAPER + " §3",
        seeds=("000", "003"),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=100, epochs=50),
        notes="G minimises −E log D(G(z)) for the whole run (spec §9 row 28); the notes' switch back to the minimax loss is "
        "the option minimax_after_step=N. " + _MLP_NOTE,
    ),
    dict(
        name="lsgan",
        builder=GAN,
        canonical=dict(_GOODFELLOW, loss="least_squares", discriminator_dropout=0.0),
        tiny=dict(_TINY_MLP, loss="least_squares"),
        reference=None,
        paper="Mao et al. 2017, ICCV (arXiv 1611.04076)",
        seeds=("003",),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=64, epochs=50),
        notes="Losses with a = 0, b = c = 1 and the ½ factors, on D's linear output: D ½E(D(x) − 1)² + ½E D(G(z))², G "
        "½E(D(G(z)) − 1)². The paper's networks are large conv nets for 112×112 LSUN scenes; this row keeps the loss on "
        "the family's MNIST-size MLPs (Goodfellow's sizes), so there is no paper parameter count. " + _MLP_NOTE,
    ),
    dict(
        name="wgan",
        builder=GAN,
        canonical=dict(
            input_shape=(64, 64, 3), latent_dim=100, loss="wasserstein", generator_units=(512, 512, 512, 512),
            discriminator_units=(512, 512, 512, 512), discriminator_pieces=1, discriminator_dropout=0.0,
            discriminator_steps=5, clip_value=0.01, latent_prior="normal",
        ),
        tiny=dict(_TINY_MLP, loss="wasserstein", discriminator_pieces=1, discriminator_steps=2, clip_value=0.01),
        reference=(14_223_873, "B (the paper's MLP experiment, §4.3: G and critic with 4 hidden layers of 512 units at 64×64×3; G 7,143,424 + critic 7,080,449)"),
        paper="Arjovsky, Chintala & Bottou 2017, ICML (arXiv 1701.07875); WGAN-GP: Gulrajani et al. 2017, NIPS (arXiv 1704.00028)",
        seeds=("003",),
        recipe=dict(optimizer="rmsprop", learning_rate=5e-5, batch_size=64, epochs=50),
        notes="The critic has a linear output and maximises E f(x) − E f(G(z)); weights clipped to ±0.01 after every critic "
        "step; n_critic = discriminator_steps = 5; RMSProp 5e-5. WGAN-GP: clip_value=0 (off), gradient_penalty_weight=10 "
        "(unit-norm gradients on x̂ = εx + (1 − ε)G(z)), with Adam 1e-4, β = (0, 0.9) and discriminator_pieces=1 "
        "(no batch norm in the critic). Hidden activations: ReLU in G, LeakyReLU 0.2 in the critic (the paper's MLP "
        "used ReLU). " + _MLP_NOTE,
    ),
    dict(
        name="ebgan",
        builder=GAN,
        canonical=dict(
            input_shape=(28, 28, 1), latent_dim=100, loss="energy", generator_units=(800, 800),
            discriminator_units=(512, 256), discriminator_pieces=1, discriminator_dropout=0.0, margin=1.0, pullaway_weight=0.1,
        ),
        tiny=dict(_TINY_MLP, loss="energy", discriminator_pieces=1, pullaway_weight=0.1),
        reference=None,
        paper="Zhao, Mathieu & LeCun 2017, ICLR (arXiv 1609.03126)",
        seeds=("003",),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=64, epochs=50),
        notes="D is an autoencoder (encoder discriminator_units, mirrored decoder); its energy D(x) is the per-example mean "
        "squared reconstruction error in the [-1, 1] scale. L_D = D(x) + max(0, m − D(G(z))), L_G = D(G(z)) + λ_PT·f_PT "
        "(pulling-away term on the encoder's codes of the fake batch, λ_PT = 0.1). The paper's MNIST MLPs come from a grid "
        "(G 2–5 layers of 400–3200 units, D 2–5 layers of 128–1024): this row takes one point of it, so no paper "
        "count; the margin is for this mean-per-dimension energy (the paper's energies are on another scale). " + _MLP_NOTE,
    ),
    dict(
        name="cgan",
        builder=ConditionalGAN,
        canonical=dict(
            input_shape=(28, 28, 1), latent_dim=100, loss="non_saturating", num_classes=10, generator_units=(200, 1200),
            generator_label_units=1000, discriminator_units=(240, 240), discriminator_pieces=(5, 4),
            discriminator_label_units=50, discriminator_label_pieces=5, discriminator_dropout=0.5,
        ),
        tiny=dict(_TINY_MLP, loss="non_saturating", num_classes=3, generator_units=(16, 16), generator_label_units=8,
                  discriminator_units=(16, 16), discriminator_label_units=4, discriminator_label_pieces=2),
        reference=(3_638_335, "P (Mirza & Osindero §4.1, MNIST: G z→200, y→1000, joint 1200 ReLU → 784, 2,413,984; D x→maxout 240×5, y→maxout 50×5, joint maxout 240×4 → 1, 1,224,351)"),
        paper="Mirza & Osindero 2014, arXiv 1411.1784",
        seeds=("003",),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=100, epochs=50),
        notes="The class enters as ids (\"labels\", int32) one-hot encoded inside the model, in its own hidden branch in "
        "G and D, concatenated with the noise's / the sample's first hidden layer (the paper's MNIST MLPs; label_units=0 "
        "concatenates the one-hot directly). Non-saturating G loss; the paper used SGD with momentum. " + _MLP_NOTE,
        inputs=(TensorSpec("noise", (100,)), TensorSpec("labels", (), "int32")),
    ),
    dict(
        name="controllable_gan",
        builder=InfoGAN,
        canonical=dict(input_shape=(28, 28, 1), latent_dim=62, num_categories=10, num_continuous_codes=2, info_weight=1.0),
        tiny=dict(input_shape=(8, 8, 1), latent_dim=8, num_categories=3, num_continuous_codes=2, q_units=8,
                  generator_units=(16,), discriminator_units=(16,)),
        reference=None,
        paper="Chen et al. 2016, NIPS (InfoGAN, arXiv 1606.03657); Radford, Metz & Chintala 2016 (latent arithmetic)",
        seeds=("000", "003"),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=64, epochs=50),
        notes="InfoGAN: z (62) + a 10-way categorical code + 2 continuous codes in [-1, 1]; Q shares D's trunk (a 128-unit "
        "hidden layer, category logits and code means); both players minimise λ·L_I (λ = 1) beside the non-saturating "
        "game. Control: choose the category / codes; `interpolate_latents` and `attribute_vector` give latent "
        "interpolation and mean-code attribute vectors for any generator. The paper's MNIST nets are convolutional; "
        "these are the family's MLPs (1024-1024), so no paper count. " + _MLP_NOTE,
        inputs=(TensorSpec("noise", (62,)), TensorSpec("category", (), "int32"), TensorSpec("codes", (2,))),
    ),
    dict(
        name="bigan_anomaly",
        builder=BiGAN,
        canonical=dict(input_shape=(28, 28, 1), latent_dim=50),
        tiny=dict(input_shape=(8, 8, 1), latent_dim=4, generator_units=(16,), encoder_units=(16,), discriminator_units=(16,),
                  latent_units=8, discriminator_dropout=0.0),
        reference=None,
        paper="Donahue, Krähenbühl & Darrell 2017, ICLR (arXiv 1605.09782); score: Zenati et al. 2018 (arXiv 1802.06222)",
        seeds=("000",),
        recipe=dict(optimizer="adam", learning_rate=2e-4, optimizer_options={"beta_1": 0.5}, batch_size=64, epochs=50),
        notes="V = E_x log D(x, E(x)) + E_z log(1 − D(G(z), z)), min over G and E, max over D (the standard form; spec §9 "
        "row 16), G and E trained with swapped labels by one optimiser. Anomaly score A(x) = α‖x − G(E(x))‖₁ + (1 − α)"
        "‖f(x, E(x)) − f(G(E(x)), E(x))‖₁ with f D's last hidden layer (feature matching), α = 0.9, norm 'l1' or 'l2'; "
        "the reconstructions output localises the anomaly. The endpoint takes noise and query samples at once. MLPs of "
        "our choosing (1024-1024, z 50 uniform as in the paper's MNIST runs), so no paper count. " + _MLP_NOTE,
        inputs=(TensorSpec("noise", (50,)), TensorSpec("query", (28, 28, 1))),
        outputs=(TensorSpec("images", (28, 28, 1)), TensorSpec("codes", (50,)), TensorSpec("reconstructions", (28, 28, 1)), TensorSpec("anomaly_scores", ())),
        endpoint="generator and scorer: noise [N, z] -> images; query [N, H, W, C] -> codes E(x), reconstructions G(E(x)), anomaly_scores A(x)",
    ),
)

for _row in GAN_VARIANTS:
    _reference = _row["reference"]
    register(
        ModelSpec(
            name=_row["name"],
            family="generative",
            task="generative",
            builder=_row["builder"],
            canonical_config=dict(_row["canonical"], name=_row["name"]),
            tiny_config=dict(_row["tiny"], name=_row["name"]),
            reference_params=_reference[0] if _reference else None,
            reference_source=_reference[1] if _reference else "",
            paper=_row["paper"],
            seeds=_row["seeds"],
            default_dataset="digits",
            inputs=_row.get("inputs", (TensorSpec("noise", (_row["canonical"]["latent_dim"],)),)),
            outputs=_row.get("outputs", (TensorSpec("images", tuple(_row["canonical"]["input_shape"])),)),
            train_check="gan_steps",
            export_endpoint=_row.get("endpoint", _ENDPOINT),
            train_recipe=_row["recipe"],
            notes=_row["notes"],
        )
    )
