"""VAE: variational autoencoder.

Reference: Kingma & Welling, "Auto-encoding variational Bayes", ICLR 2014 (arXiv 1312.6114).

Encoder q(z|x): an MLP (500 tanh hidden units on MNIST in the paper's experiments, appendix C) with
two linear heads, μ and log σ² of a diagonal Gaussian over z (latent 2–20; 20 here). Decoder
p(x|z): the mirrored MLP with a logistic (Bernoulli) output. Training maximises the ELBO, i.e.
minimises (spec §4.2, §9 row 30; `tasks.autoencoder`)
    L = −E_q[log p(x|z)] + KL(q(z|x) ‖ N(0, I)),  KL = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²),
with one sample z = μ + σ ⊙ ε, ε ~ N(0, I) (the reparameterisation), and the Bernoulli
log-likelihood summed over pixels (so L is the negative ELBO in nats per image). `beta` weights the
KL term (1 = the ELBO; β-VAE otherwise). `architecture="conv"` swaps in the conv encoder/decoder
of the autoencoder family.

Generation: the model itself is the decoder from the prior, `model(noise)` -> images with noise
~ N(0, I) (`latent_prior = "normal"`), in the data's pixel range, which is what the "generative"
task samples, scores by the Fréchet distance and exports. `encode`, `decode` and `reconstruct` work
on numpy arrays; `elbo(images)` is the hold-out ELBO per image.
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.generative.autoencoders import (
    OneOptimizerGenerator,
    build_decoder,
    build_encoder,
    check_architecture,
    check_value_range,
    regularization,
    unit_rescaling,
)
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.autoencoder import RECONSTRUCTION_LOSSES, gaussian_kl, reconstruction_loss, reparameterize

# Kingma & Welling 2014, appendix C: one hidden layer of 500 units (MNIST), latent 20.
KINGMA_HIDDEN = (500,)


@keras.saving.register_keras_serializable(package="deepzoo")
class VAE(OneOptimizerGenerator, ZooModel):
    """A VAE: `model(noise)` -> images (the decoder from the prior); `fit(images)` maximises the ELBO.

    Args:
        input_shape: (H, W, C) of the images (or (d,) vectors).
        latent_dim: size of z.
        architecture, hidden_units, conv_filters, kernel_size, hidden_activation: the encoder (and
            the mirrored decoder) as in `architectures.generative.autoencoders.Autoencoder`.
        reconstruction: "bce_sum" (Bernoulli, the paper's MNIST likelihood) or "half_sse"
            (a unit-variance Gaussian up to a constant), summed over pixels.
        beta: weight of the KL term (1 = the ELBO).
        value_range: (low, high) of the data; mapped to [0, 1] inside the model.
        seed: initialiser and sampling seed.
    """

    latent_prior = "normal"

    def __init__(
        self,
        input_shape=(28, 28, 1),
        latent_dim=20,
        architecture="mlp",
        hidden_units=KINGMA_HIDDEN,
        conv_filters=(32, 64),
        kernel_size=3,
        hidden_activation="tanh",
        reconstruction="bce_sum",
        beta=1.0,
        value_range=(0.0, 255.0),
        seed=None,
        name="vae",
        **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        hidden_units = tuple(int(u) for u in hidden_units)
        conv_filters = tuple(int(f) for f in conv_filters)
        check_architecture(input_shape, architecture, conv_filters)
        if reconstruction not in ("bce_sum", "half_sse"):
            raise ValueError(
                f"A VAE's reconstruction term is a log-likelihood summed over pixels: 'bce_sum' or 'half_sse' "
                f"(of {RECONSTRUCTION_LOSSES}). Received: reconstruction={reconstruction!r}"
            )
        if int(latent_dim) < 1 or float(beta) < 0:
            raise ValueError(f"Expected latent_dim >= 1 and beta >= 0. Received: latent_dim={latent_dim}, beta={beta}")
        low, high = check_value_range(value_range)
        latent_dim = int(latent_dim)

        encoder = build_encoder(
            input_shape, architecture, hidden_units, conv_filters, kernel_size, latent_dim, hidden_activation, None,
            seed, heads=("mean", "log_variance"),
        )
        decoder = build_decoder(latent_dim, input_shape, architecture, hidden_units, conv_filters, kernel_size, hidden_activation, seed)
        to_unit, to_pixels = unit_rescaling(low, high)
        output_layer = keras.layers.Activation("sigmoid" if reconstruction == "bce_sum" else "linear", name="output_activation")
        noise = keras.Input((latent_dim,), name="noise")
        super().__init__(inputs=noise, outputs=to_pixels(output_layer(decoder(noise))), name=name, **kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.to_unit, self.to_pixels, self.output_layer = to_unit, to_pixels, output_layer
        self.value_range = (low, high)
        self.latent_dim = latent_dim
        self.reconstruction_form = reconstruction
        self.beta = float(beta)
        self.sampling_seed = keras.random.SeedGenerator(seed)
        self.trackers = {key: keras.metrics.Mean(name=key) for key in ("loss", "reconstruction", "kl")}

    def objective_terms(self, images, training=False):
        """{"loss" = −ELBO (with β), "reconstruction", "kl"}, batch means, one z sample each."""
        target = self.to_unit(ops.cast(images, self.compute_dtype))
        mean, log_variance = self.encoder(target, training=training)
        z = reparameterize(mean, log_variance, self.sampling_seed)
        logits = self.decoder(z, training=training)
        reconstruction = reconstruction_loss(target, logits, self.output_layer(logits), self.reconstruction_form)
        kl = ops.mean(gaussian_kl(mean, log_variance))
        return {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}

    def train_step(self, data):
        import tensorflow as tf

        images = data[0] if isinstance(data, (tuple, list)) else data
        variables = self.trainable_variables  # encoder and decoder, in the order compile_from_config builds
        with tf.GradientTape() as tape:
            terms = self.objective_terms(images, training=True)
            total = terms["loss"] + regularization(self)
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return self._update_trackers(terms)

    def test_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        return self._update_trackers(self.objective_terms(images, training=False))

    def _update_trackers(self, terms):
        for key, tracker in self.trackers.items():
            tracker.update_state(terms[key])
        return {key: tracker.result() for key, tracker in self.trackers.items()}

    # --- numpy helpers ------------------------------------------------------------------------

    def encode(self, images):
        """(μ, log σ²) of q(z|x) for raw `images`."""
        mean, log_variance = self.encoder(self.to_unit(np.asarray(images, "float32")), training=False)
        return np.asarray(mean), np.asarray(log_variance)

    def decode(self, z):
        return np.asarray(self(np.asarray(z, "float32"), training=False))

    def reconstruct(self, images):
        """Decoded posterior means: the deterministic reconstruction of `images`."""
        return self.decode(self.encode(images)[0])

    def elbo(self, images, batch_size=256, samples=1, seed=0):
        """Mean ELBO per image (nats, β = 1; higher is better) over `images`, `samples` z per image."""
        import tensorflow as tf

        images = np.asarray(images, "float32")
        generator = keras.random.SeedGenerator(seed)
        totals = []
        for _ in range(samples):
            for start in range(0, len(images), batch_size):
                batch = tf.constant(images[start : start + batch_size])
                target = self.to_unit(batch)
                mean, log_variance = self.encoder(target, training=False)
                logits = self.decoder(reparameterize(mean, log_variance, generator), training=False)
                reconstruction = reconstruction_loss(target, logits, self.output_layer(logits), self.reconstruction_form)
                kl = ops.mean(gaussian_kl(mean, log_variance))
                totals.append((float(reconstruction + kl), len(batch)))
        return -float(sum(value * n for value, n in totals) / sum(n for _, n in totals))


register(
    ModelSpec(
        name="vae",
        family="generative",
        task="generative",
        builder=VAE,
        canonical_config=dict(input_shape=(28, 28, 1), latent_dim=20, hidden_units=KINGMA_HIDDEN, hidden_activation="tanh"),
        tiny_config=dict(input_shape=(16, 16, 1), latent_dim=4, hidden_units=(32,), seed=0),
        reference_params=815_824,
        reference_source="B (784-500 tanh, μ and log σ² heads of 20, 20-500-784 logistic: Dense weights and biases)",
        paper="Kingma & Welling 2014, ICLR (arXiv 1312.6114)",
        seeds=("003",),
        default_dataset="digits",
        inputs=(TensorSpec("noise", (20,)),),
        outputs=(TensorSpec("images", (28, 28, 1)),),
        train_check="loss_falls",
        export_endpoint="the decoder from the prior: noise [N, z] ~ N(0, I) -> images [N, H, W, C] in the data's range",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=100, epochs=30),
        notes=(
            "Spec §9 row 30: the notes give no loss; the standard one is used, reconstruction (Bernoulli log-likelihood "
            "summed over pixels) + KL = −½Σ(1 + log σ² − μ² − σ²), one reparameterised sample per example. The paper "
            "trained with Adagrad and weight decay on minibatches of 100; Adam 1e-3 is the recipe here. "
            "architecture='conv' gives the conv encoder/decoder of the autoencoder family."
        ),
    )
)
