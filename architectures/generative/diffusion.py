"""Denoising diffusion probabilistic model (Ho, Jain & Abbeel 2020, NeurIPS, arXiv 2006.11239).

Forward process q(x_t | x_0) = N(√ᾱ_t·x_0, (1 − ᾱ_t)·I) with T = 1000 and β_t linear from 1e-4 to
0.02 (ᾱ_t = Π_{s≤t}(1 − β_s)), in closed form; an ε-predicting network ε_θ(x_t, t) with a
sinusoidal time embedding is trained on ‖ε − ε_θ(√ᾱ_t·x_0 + √(1 − ᾱ_t)·ε, t)‖² (the paper's
L_simple, t uniform); ancestral sampling x_{t−1} = (x_t − β_t/√(1 − ᾱ_t)·ε_θ)/√α_t + σ_t·z with
σ_t² = β_t (the paper's first choice) and no noise at the last step. For images the step writes
that mean through the predicted x̂_0 clipped to [-1, 1], as the paper's sampling code does.
A conditional model (unCLIP's decoder) can train with the condition dropped to zeros
(`condition_dropout`) and sample with classifier-free guidance (`sample(guidance_scale=s)`).

The network is an MLP of residual blocks for vector data (the 2-D toy data) and a small U-Net
(two resolutions, residual conv blocks with the time embedding added, skip concatenations) for
images. Timesteps are 0-based here (t = 0 .. T−1 ↔ the paper's 1 .. T).

The model's functional graph is one denoising step, the exported endpoint:
    {"x_t": float32 [N, *shape], "timestep": int32 [N], "z": float32 [N, *shape]
     (+ "condition": float32 [N, c] for a conditional model)}
    -> {"epsilon": ε_θ(x_t, t), "x_prev": x_{t−1}}
in the model's normalised space (images: the data range mapped to [-1, 1]). `sample()` runs the
T-step ancestral loop in Python over that step (the loop is not in any exported graph: a client
runs it over any format's step, e.g. one served request per step).
"""

import math

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec

PAPER = "Ho, Jain & Abbeel 2020 (NeurIPS), Denoising Diffusion Probabilistic Models, arXiv 2006.11239"


def linear_betas(timesteps=1000, beta_start=1e-4, beta_end=0.02):
    """β_1..β_T linear (the paper's schedule), float64 numpy."""
    return np.linspace(float(beta_start), float(beta_end), int(timesteps), dtype=np.float64)


def schedule(timesteps=1000, beta_start=1e-4, beta_end=0.02):
    """{"betas", "alphas", "alpha_bars"} float64 numpy arrays of length T."""
    betas = linear_betas(timesteps, beta_start, beta_end)
    alphas = 1.0 - betas
    return {"betas": betas, "alphas": alphas, "alpha_bars": np.cumprod(alphas)}


def q_sample(x0, timesteps, noise, alpha_bars):
    """x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε: the closed-form forward process (keras ops or numpy)."""
    a = ops.take(ops.convert_to_tensor(np.asarray(alpha_bars, np.float32)), ops.cast(timesteps, "int32"))
    a = ops.reshape(a, (-1,) + (1,) * (len(x0.shape) - 1))
    return ops.sqrt(a) * x0 + ops.sqrt(1.0 - a) * noise


@keras.saving.register_keras_serializable(package="deepzoo")
class SinusoidalEmbedding(keras.layers.Layer):
    """The Transformer's sinusoidal position encoding of the timestep (as DDPM uses it)."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)

    def call(self, timesteps):
        half = self.dim // 2
        frequencies = ops.exp(-math.log(10000.0) * ops.arange(half, dtype="float32") / max(half - 1, 1))
        angles = ops.cast(ops.reshape(timesteps, (-1, 1)), "float32") * ops.expand_dims(frequencies, 0)
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * (self.dim // 2))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="deepzoo")
class AncestralStep(keras.layers.Layer):
    """x_{t−1} = (x_t − β_t/√(1 − ᾱ_t)·ε)/√α_t + σ_t·z, σ_t = √β_t for t > 0 and 0 at t = 0.

    clip_denoised (data in [-1, 1], i.e. images): the same mean written through the predicted
    x̂_0 = (x_t − √(1 − ᾱ_t)·ε)/√ᾱ_t clipped to [-1, 1], μ = √ᾱ_{t−1}·β_t/(1 − ᾱ_t)·x̂_0 +
    √α_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t)·x_t, as Ho et al.'s sampling code does (clip_denoised=True): equal
    to the ε form while x̂_0 is in range, and it keeps a poorly trained ε_θ from driving the
    T-step chain far outside the data's range.
    """

    def __init__(self, timesteps, beta_start, beta_end, clip_denoised=False, **kwargs):
        super().__init__(**kwargs)
        self.timesteps, self.beta_start, self.beta_end = int(timesteps), float(beta_start), float(beta_end)
        self.clip_denoised = bool(clip_denoised)
        values = schedule(self.timesteps, self.beta_start, self.beta_end)
        betas, alphas, alpha_bars = values["betas"], values["alphas"], values["alpha_bars"]
        previous_alpha_bars = np.concatenate([[1.0], alpha_bars[:-1]])
        self.noise_coefficients = (betas / np.sqrt(1.0 - alpha_bars)).astype(np.float32)
        self.inverse_sqrt_alphas = (1.0 / np.sqrt(alphas)).astype(np.float32)
        self.sqrt_alpha_bars = np.sqrt(alpha_bars).astype(np.float32)
        self.sqrt_one_minus_alpha_bars = np.sqrt(1.0 - alpha_bars).astype(np.float32)
        self.x0_coefficients = (np.sqrt(previous_alpha_bars) * betas / (1.0 - alpha_bars)).astype(np.float32)
        self.xt_coefficients = (np.sqrt(alphas) * (1.0 - previous_alpha_bars) / (1.0 - alpha_bars)).astype(np.float32)
        self.sigmas = np.sqrt(betas).astype(np.float32)
        self.sigmas[0] = 0.0

    def call(self, x_t, epsilon, timesteps, z):
        t = ops.cast(timesteps, "int32")
        shape = (-1,) + (1,) * (len(x_t.shape) - 1)

        def gather(table):
            return ops.reshape(ops.take(ops.convert_to_tensor(table), t), shape)

        if self.clip_denoised:
            x0 = ops.clip((x_t - gather(self.sqrt_one_minus_alpha_bars) * epsilon) / gather(self.sqrt_alpha_bars), -1.0, 1.0)
            mean = gather(self.x0_coefficients) * x0 + gather(self.xt_coefficients) * x_t
        else:
            mean = (x_t - gather(self.noise_coefficients) * epsilon) * gather(self.inverse_sqrt_alphas)
        return mean + gather(self.sigmas) * z

    def compute_output_shape(self, x_shape, *_):
        return x_shape

    def get_config(self):
        return {
            **super().get_config(), "timesteps": self.timesteps, "beta_start": self.beta_start, "beta_end": self.beta_end,
            "clip_denoised": self.clip_denoised,
        }


def _vector_network(x, embedding, width, depth, name):
    h = keras.layers.Dense(width, name=f"{name}_in")(x)
    for i in range(depth):
        skip = h
        h = keras.layers.Activation("swish")(h)
        h = keras.layers.Dense(width, name=f"{name}_block{i}_dense1")(h)
        h = h + keras.layers.Dense(width, name=f"{name}_block{i}_time")(embedding)
        h = keras.layers.Activation("swish")(h)
        h = keras.layers.Dense(width, name=f"{name}_block{i}_dense2")(h)
        h = skip + h
    h = keras.layers.Activation("swish")(h)
    return keras.layers.Dense(x.shape[-1], name=f"{name}_out")(h)


def _residual_conv_block(x, embedding, filters, groups, name):
    """GroupNorm → swish → conv, + the time embedding, GroupNorm → swish → conv, + the skip (DDPM's ResNet block)."""
    h = keras.layers.GroupNormalization(groups=min(groups, x.shape[-1]), name=f"{name}_norm1")(x)
    h = keras.layers.Activation("swish")(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(h)
    h = h + keras.layers.Reshape((1, 1, filters))(keras.layers.Dense(filters, name=f"{name}_time")(embedding))
    h = keras.layers.GroupNormalization(groups=min(groups, filters), name=f"{name}_norm2")(h)
    h = keras.layers.Activation("swish")(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(h)
    skip = x if x.shape[-1] == filters else keras.layers.Conv2D(filters, 1, name=f"{name}_skip")(x)
    return skip + h


def _unet(x, embedding, width, multipliers, blocks, groups, name):
    h = keras.layers.Conv2D(width, 3, padding="same", name=f"{name}_in")(x)
    skips = [h]
    for level, multiplier in enumerate(multipliers):
        for b in range(blocks):
            h = _residual_conv_block(h, embedding, width * multiplier, groups, f"{name}_down{level}_{b}")
            skips.append(h)
        if level < len(multipliers) - 1:
            h = keras.layers.Conv2D(h.shape[-1], 3, strides=2, padding="same", name=f"{name}_downsample{level}")(h)
            skips.append(h)
    h = _residual_conv_block(h, embedding, h.shape[-1], groups, f"{name}_middle")
    for level, multiplier in reversed(list(enumerate(multipliers))):
        for b in range(blocks + 1):
            h = keras.layers.Concatenate()([h, skips.pop()])
            h = _residual_conv_block(h, embedding, width * multiplier, groups, f"{name}_up{level}_{b}")
        if level > 0:
            h = keras.layers.UpSampling2D(2, name=f"{name}_upsample{level}")(h)
            h = keras.layers.Conv2D(h.shape[-1], 3, padding="same", name=f"{name}_upconv{level}")(h)
    h = keras.layers.GroupNormalization(groups=min(groups, h.shape[-1]), name=f"{name}_out_norm")(h)
    h = keras.layers.Activation("swish")(h)
    return keras.layers.Conv2D(x.shape[-1], 3, padding="same", name=f"{name}_out")(h)


class DiffusionSteps:
    """`fit`'s steps and compile defaults of a model trained on one loss, `diffusion_loss(samples,
    condition, training)` over `_unpack(data)`, tracked by `loss_tracker` (DDPM, and unCLIP's joint loss)."""

    default_learning_rate = 2e-4

    def compile(self, optimizer=None, g_optimizer=None, jit_compile="auto", **kwargs):
        kwargs.pop("loss", None)
        kwargs.pop("metrics", None)
        optimizer = optimizer or g_optimizer or keras.optimizers.Adam(self.default_learning_rate)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        import tensorflow as tf

        samples, condition = self._unpack(data)
        with tf.GradientTape() as tape:
            loss = self.diffusion_loss(samples, condition, training=True)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        samples, condition = self._unpack(data)
        self.loss_tracker.update_state(self.diffusion_loss(samples, condition))
        return {"loss": self.loss_tracker.result()}


@keras.saving.register_keras_serializable(package="deepzoo")
class DDPM(DiffusionSteps, ZooModel):
    """DDPM: `fit(samples)` minimises L_simple; the graph is one ancestral denoising step.

    Args:
        data_shape: shape of one sample: (D,) vectors (MLP) or (H, W, C) images (U-Net, H and W
            divisible by 2**(len(channel_multipliers) − 1)).
        timesteps, beta_start, beta_end: the linear β schedule (the paper: 1000, 1e-4, 0.02).
        width: hidden units (MLP) or base channels (U-Net); time_dim: sinusoidal embedding size.
        depth: residual blocks (MLP) or blocks per resolution (U-Net).
        channel_multipliers: the U-Net's channels per resolution, × width.
        groups: GroupNormalization groups (the paper uses 32).
        condition_dim: size of an optional conditioning vector added to the time embedding (the
            unCLIP decoder's image embedding); 0 = unconditional.
        condition_dropout: training probability of replacing the condition by zeros (the null
            condition), which lets `sample(guidance_scale=s)` use classifier-free guidance
            (Ho & Salimans 2021; unCLIP's decoder drops the CLIP embedding 10 % of the time).
        value_range: (low, high) of image data, mapped to [-1, 1]; None keeps the data as it is
            (the 2-D toy points).
        seed: initialiser and training-noise seed.
    """

    def __init__(
        self,
        data_shape=(2,),
        timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        width=128,
        time_dim=64,
        depth=3,
        channel_multipliers=(1, 2),
        groups=8,
        condition_dim=0,
        condition_dropout=0.0,
        value_range=None,
        seed=None,
        name="diffusion_ddpm",
        **kwargs,
    ):
        data_shape = tuple(int(d) for d in data_shape)
        channel_multipliers = tuple(int(m) for m in channel_multipliers)
        if len(data_shape) not in (1, 3):
            raise ValueError(f"data_shape must be (D,) or (H, W, C). Received: data_shape={data_shape}")
        if int(timesteps) < 2 or not 0.0 < float(beta_start) < float(beta_end) < 1.0 or not 0.0 <= float(condition_dropout) < 1.0:
            raise ValueError(
                f"Expected timesteps >= 2, 0 < beta_start < beta_end < 1 and 0 <= condition_dropout < 1. Received: "
                f"timesteps={timesteps}, beta_start={beta_start}, beta_end={beta_end}, condition_dropout={condition_dropout}"
            )
        factor = 2 ** (len(channel_multipliers) - 1)
        if len(data_shape) == 3 and (data_shape[0] % factor or data_shape[1] % factor):
            raise ValueError(f"Image sides must be divisible by {factor} for {len(channel_multipliers)} U-Net levels. Received: data_shape={data_shape}")
        x_t = keras.Input(data_shape, name="x_t")
        timestep = keras.Input((), dtype="int32", name="timestep")
        z = keras.Input(data_shape, name="z")
        inputs = {"x_t": x_t, "timestep": timestep, "z": z}
        embedding = SinusoidalEmbedding(int(time_dim), name="time_sinusoid")(timestep)
        embedding = keras.layers.Dense(4 * int(time_dim), activation="swish", name="time_dense1")(embedding)
        embedding = keras.layers.Dense(4 * int(time_dim), name="time_dense2")(embedding)
        if int(condition_dim) > 0:
            condition = keras.Input((int(condition_dim),), name="condition")
            inputs["condition"] = condition
            embedding = embedding + keras.layers.Dense(4 * int(time_dim), name="condition_dense")(condition)
        if len(data_shape) == 1:
            epsilon = _vector_network(x_t, embedding, int(width), int(depth), "eps")
        else:
            epsilon = _unet(x_t, embedding, int(width), channel_multipliers, int(depth), int(groups), "eps")
        # Images live in [-1, 1] in the model's space: the step clips its x̂_0 there.
        clip_denoised = value_range is not None
        x_prev = AncestralStep(timesteps, beta_start, beta_end, clip_denoised, name="ancestral_step")(x_t, epsilon, timestep, z)
        super().__init__(inputs=inputs, outputs={"epsilon": epsilon, "x_prev": x_prev}, name=name, **kwargs)
        self.data_shape = data_shape
        self.timesteps = int(timesteps)
        self.condition_dim = int(condition_dim)
        self.condition_dropout = float(condition_dropout)
        self.value_range = None if value_range is None else tuple(float(v) for v in value_range)
        self.alpha_bars = schedule(timesteps, beta_start, beta_end)["alpha_bars"].astype(np.float32)
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._step_functions = {}  # guidance scale -> the traced denoising step

    # --- data space ---------------------------------------------------------------------------

    def to_model_space(self, samples):
        if self.value_range is None:
            return samples
        low, high = self.value_range
        return (samples - low) * (2.0 / (high - low)) - 1.0

    def to_data_space(self, values):
        if self.value_range is None:
            return values
        low, high = self.value_range
        return (values + 1.0) * ((high - low) / 2.0) + low

    # --- training -----------------------------------------------------------------------------

    def diffusion_loss(self, samples, condition=None, timesteps=None, noise=None, training=False):
        """L_simple = mean ‖ε − ε_θ(x_t, t)‖² over a batch of raw samples; t and ε drawn (or given)."""
        x0 = self.to_model_space(ops.cast(samples, "float32"))
        batch = ops.shape(x0)[0]
        if timesteps is None:
            timesteps = keras.random.randint((batch,), 0, self.timesteps, dtype="int32", seed=self.noise_seed)
        if noise is None:
            noise = keras.random.normal(ops.shape(x0), seed=self.noise_seed)
        x_t = q_sample(x0, timesteps, noise, self.alpha_bars)
        inputs = {"x_t": x_t, "timestep": ops.cast(timesteps, "int32"), "z": ops.zeros_like(x_t)}
        if self.condition_dim:
            condition = ops.cast(condition, "float32")
            if training and self.condition_dropout:  # the null condition, for classifier-free guidance
                kept = keras.random.uniform((batch, 1), seed=self.noise_seed) >= self.condition_dropout
                condition = condition * ops.cast(kept, "float32")
            inputs["condition"] = condition
        predicted = self(inputs, training=training)["epsilon"]
        return ops.mean(ops.square(noise - predicted))

    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            x = data[0]
        else:
            x = data
        if isinstance(x, dict):  # a conditional model: {"samples", "condition"}
            return x["samples"], x.get("condition")
        return x, None


    # --- sampling -----------------------------------------------------------------------------

    def _denoising_step(self, guidance_scale):
        """The traced step inputs -> x_{t−1}; with guidance_scale s ≠ 1 (a conditional model), the
        classifier-free guided ε = ε(∅) + s·(ε(c) − ε(∅)), ∅ the zero (null) condition."""
        import tensorflow as tf

        if guidance_scale not in self._step_functions:
            def step(inputs):
                outputs = self(inputs, training=False)
                if guidance_scale == 1.0 or not self.condition_dim:
                    return outputs["x_prev"]
                unconditional = self({**inputs, "condition": ops.zeros_like(inputs["condition"])}, training=False)["epsilon"]
                epsilon = unconditional + guidance_scale * (outputs["epsilon"] - unconditional)
                return self.get_layer("ancestral_step")(inputs["x_t"], epsilon, inputs["timestep"], inputs["z"])

            self._step_functions[guidance_scale] = tf.function(step, reduce_retracing=True)
        return self._step_functions[guidance_scale]

    def sample(self, n, seed=0, condition=None, guidance_scale=1.0, return_trajectory=False):
        """`n` samples by T ancestral steps from x_T ~ N(0, I), in the data's space (numpy).
        `condition`: float32 [n, condition_dim] for a conditional model; `guidance_scale`: the
        classifier-free guidance weight s (1 = the plain conditional model)."""
        import tensorflow as tf

        if self.condition_dim and condition is None:
            raise ValueError(f"This diffusion model is conditional: it needs condition [n, {self.condition_dim}]. Received: condition=None")
        step = self._denoising_step(float(guidance_scale))
        rng = np.random.default_rng(seed)
        x = tf.constant(rng.standard_normal((int(n), *self.data_shape)).astype(np.float32))
        extra = {} if not self.condition_dim else {"condition": tf.constant(np.asarray(condition, np.float32))}
        trajectory = []
        for t in reversed(range(self.timesteps)):
            z = tf.constant(rng.standard_normal((int(n), *self.data_shape)).astype(np.float32))
            x = step({"x_t": x, "timestep": tf.fill([int(n)], t), "z": z, **extra})
            if return_trajectory and t % max(1, self.timesteps // 8) == 0:
                trajectory.append(np.asarray(self.to_data_space(x)))
        samples = np.asarray(self.to_data_space(x))
        return (samples, trajectory) if return_trajectory else samples


CANONICAL = {  # Ho et al.'s CIFAR-10 U-Net widths (ch 128, multipliers 1, 2, 2, 2, 2 blocks); no attention at 16×16 here
    "data_shape": (32, 32, 3), "timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "width": 128, "time_dim": 128, "depth": 2,
    "channel_multipliers": (1, 2, 2, 2), "groups": 32, "value_range": (0.0, 255.0),
}
TINY = {"data_shape": (2,), "timesteps": 1000, "width": 16, "time_dim": 8, "depth": 1, "value_range": None}

register(
    ModelSpec(
        name="diffusion_ddpm",
        family="generative",
        task="diffusion",
        builder=DDPM,
        canonical_config=CANONICAL,
        tiny_config=TINY,
        paper=PAPER,
        seeds=("000",),
        default_dataset="ring8",
        limitations={
            "tflite_int8": (
                "full-integer int8 quantises the sinusoidal time embedding and the 1000-entry schedule tables: "
                "measured relative RMS error 0.33 of one denoising step (tflite_dynamic keeps float activations: 0.001)"
            )
        },
        inputs=(TensorSpec("x_t", (2,)), TensorSpec("timestep", (), "int32"), TensorSpec("z", (2,))),
        outputs=(TensorSpec("epsilon", (2,)), TensorSpec("x_prev", (2,))),
        export_endpoint=(
            "one ancestral denoising step {x_t, timestep, z} -> {epsilon, x_prev} in the model's space; the T-step "
            "sampling loop runs in Python over the step of any format (no exported graph carries the loop)"
        ),
        notes=(
            "Canonical: the paper's CIFAR-10 U-Net widths (128 channels, multipliers 1,2,2,2, 2 residual blocks per "
            "resolution, GroupNorm 32, T = 1000, linear betas 1e-4..0.02) without its 16×16 self-attention and dropout, "
            "so no reference parameter count is claimed (the paper's 35.7 M includes them). Timesteps are 0-based. "
            "Vector data (the 2-D toy ring) uses an MLP of residual blocks instead of the U-Net."
        ),
    )
)
