"""DALL-E 2 / unCLIP (Ramesh, Dhariwal, Nichol, Chu & Chen 2022, arXiv 2204.06125), as a tiny pipeline.

unCLIP generates an image from a caption in two stages over CLIP's joint space: a prior maps the
CLIP text embedding z_t of the caption to a CLIP image embedding z_i, and a diffusion decoder
(GLIDE-like, 64×64, followed by two diffusion up-samplers to 256 and 1024) turns z_i into pixels.
The paper's priors are autoregressive or diffusion models over z_i; its CLIP is pre-trained and frozen.

Here (spec §2 G: "a tiny pipeline composed of `clip` and `diffusion_ddpm`"):
  * CLIP = `architectures.generative.clip.CLIP` (ViT image tower, causal text tower, symmetric InfoNCE),
    trained jointly from random weights on the shapes captions (no downloads, spec §1);
  * prior = a deterministic residual MLP z_t → ẑ_i (unit length) trained on ‖ẑ_i − sg(z_i)‖²: a
    regression prior, simpler than either of the paper's (it predicts the conditional mean embedding,
    so all the sample diversity comes from the decoder);
  * decoder = `architectures.generative.diffusion.DDPM` with `condition_dim` = the embedding size,
    trained on L_simple conditioned on the true image embedding sg(z_i) (as the paper's decoder),
    zeroed 10 % of the time (the paper's classifier-free guidance training), and sampled
    conditioned on the prior's ẑ_i with guidance scale s; no up-samplers (the images are already tiny).
The training loss is InfoNCE + prior MSE + decoder L_simple; sg = stop-gradient, so the prior and
decoder losses do not move CLIP.

The functional graph (the exported endpoint) is one conditioned denoising step with the text tower
and the prior inside:
    {"x_t": float32 [N, H, W, 3], "timestep": int32 [N], "z": float32 [N, H, W, 3],
     "caption_ids": int32 [N, L]} -> {"epsilon", "x_prev"} (model space [-1, 1]).
`sample(n, seed, condition={"caption_ids": ...})` runs the T-step ancestral loop in Python (over the
decoder with the prior's embedding computed once); a client runs the same loop over any format's step.
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.generative.clip import CLIP, symmetric_infonce
from architectures.generative.diffusion import DDPM, DiffusionSteps
from architectures.registry import ModelSpec, register
from tasks import TensorSpec

PAPER = "Ramesh, Dhariwal, Nichol, Chu & Chen 2022 (arXiv 2204.06125), Hierarchical Text-Conditional Image Generation with CLIP Latents"


def _prior_network(embed_dim, width, depth, name):
    """Residual MLP from the unit text embedding to a unit image embedding."""
    text = keras.Input((int(embed_dim),), name="text_embedding")
    h = keras.layers.Dense(int(width), name="prior_in")(text)
    for i in range(int(depth)):
        skip = h
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"prior_block{i}_ln")(h)
        h = keras.layers.Dense(int(width), activation="swish", name=f"prior_block{i}_dense1")(h)
        h = keras.layers.Dense(int(width), name=f"prior_block{i}_dense2")(h)
        h = keras.layers.Add()([skip, h])
    h = keras.layers.Dense(int(embed_dim), name="prior_out")(h)
    return keras.Model(text, keras.layers.UnitNormalization(name="prior_image_embedding")(h), name=name)


@keras.saving.register_keras_serializable(package="deepzoo")
class UnCLIP(DiffusionSteps, ZooModel):
    """CLIP + regression prior + conditional DDPM decoder; the graph is one text-conditioned step.

    Args:
        data_shape: (S, S, 3) images (square, 3 channels: CLIP's image tower), S divisible by
            patch_size and by 2**(len(channel_multipliers) − 1).
        timesteps, beta_start, beta_end, width, time_dim, depth, channel_multipliers, groups,
            value_range: the decoder DDPM's arguments.
        condition_dropout: the decoder's training probability of a zero (null) image embedding, for
            classifier-free guidance at sampling (the paper: 10 %).
        patch_size, vision_width, vision_layers, vision_heads, text_width, text_layers, text_heads,
            context_length, vocabulary_size, embed_dim: the CLIP's arguments.
        prior_width, prior_depth: the prior MLP.
        seed: the decoder's training-noise seed.
    """

    default_learning_rate = 5e-4

    def __init__(
        self,
        data_shape=(64, 64, 3),
        timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        width=64,
        time_dim=64,
        depth=2,
        channel_multipliers=(1, 2, 3, 4),
        groups=32,
        value_range=(0.0, 255.0),
        condition_dropout=0.1,
        patch_size=32,
        vision_width=768,
        vision_layers=12,
        vision_heads=12,
        text_width=512,
        text_layers=12,
        text_heads=8,
        context_length=77,
        vocabulary_size=49_408,
        embed_dim=512,
        prior_width=1024,
        prior_depth=4,
        seed=None,
        name="dalle2_unclip",
        **kwargs,
    ):
        data_shape = tuple(int(d) for d in data_shape)
        if len(data_shape) != 3 or data_shape[0] != data_shape[1] or data_shape[2] != 3:
            raise ValueError(f"unCLIP images must be square RGB (S, S, 3). Received: data_shape={data_shape}")
        clip = CLIP(
            image_size=data_shape[0], patch_size=patch_size, vision_width=vision_width, vision_layers=vision_layers,
            vision_heads=vision_heads, text_width=text_width, text_layers=text_layers, text_heads=text_heads,
            context_length=context_length, vocabulary_size=vocabulary_size, embed_dim=embed_dim, name="clip",
        )
        clip_inputs = {tensor.name.split(":")[0]: tensor for tensor in clip.inputs}
        text_encoder = keras.Model(clip_inputs["caption_ids"], clip.get_layer("text_embedding").output, name="text_encoder")
        prior = _prior_network(embed_dim, prior_width, prior_depth, "prior")
        decoder = DDPM(
            data_shape=data_shape, timesteps=timesteps, beta_start=beta_start, beta_end=beta_end, width=width,
            time_dim=time_dim, depth=depth, channel_multipliers=channel_multipliers, groups=groups,
            condition_dim=embed_dim, condition_dropout=condition_dropout, value_range=value_range, seed=seed, name="decoder",
        )
        x_t = keras.Input(data_shape, name="x_t")
        timestep = keras.Input((), dtype="int32", name="timestep")
        z = keras.Input(data_shape, name="z")
        ids = keras.Input((int(context_length),), dtype="int32", name="caption_ids")
        image_embedding = prior(text_encoder(ids))
        step = decoder({"x_t": x_t, "timestep": timestep, "z": z, "condition": image_embedding})
        super().__init__(
            inputs={"x_t": x_t, "timestep": timestep, "z": z, "caption_ids": ids},
            outputs={"epsilon": keras.layers.Identity(name="epsilon")(step["epsilon"]), "x_prev": keras.layers.Identity(name="x_prev")(step["x_prev"])},
            name=name,
            **kwargs,
        )
        self.clip, self.text_encoder, self.prior, self.decoder = clip, text_encoder, prior, decoder
        self.data_shape = data_shape
        self.timesteps = decoder.timesteps
        self.value_range = decoder.value_range
        self.alpha_bars = decoder.alpha_bars
        self.context_length = int(context_length)
        self.vocabulary_size = int(vocabulary_size)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    # --- data space (the decoder's) --------------------------------------------------------------

    def to_model_space(self, samples):
        return self.decoder.to_model_space(samples)

    def to_data_space(self, values):
        return self.decoder.to_data_space(values)

    def random_conditioning(self, n, rng):
        """Random caption ids (the sweep's conditioning inputs): 2..L−1 words, 0 pads."""
        ids = np.zeros((int(n), self.context_length), np.int32)
        for row in ids:
            words = int(rng.integers(2, self.context_length))
            row[:words] = rng.integers(2, self.vocabulary_size, size=words)
        return {"caption_ids": ids}

    def _caption_ids(self, condition):
        ids = condition.get("caption_ids") if isinstance(condition, dict) else condition
        if ids is None:
            raise ValueError(f"dalle2_unclip is text-conditional: it needs caption_ids int32 [n, {self.context_length}]. Received: condition={condition!r}")
        ids = ops.convert_to_tensor(ids)
        if len(ids.shape) != 2 or int(ids.shape[1]) != self.context_length:
            raise ValueError(f"caption_ids must be [n, {self.context_length}]. Received shape {tuple(ids.shape)}")
        return ops.cast(ids, "int32")

    # --- training -----------------------------------------------------------------------------

    def losses_of(self, samples, condition, timesteps=None, noise=None, training=False):
        """{"clip", "prior", "decoder", "loss"}: InfoNCE, ‖prior(z_t) − sg(z_i)‖², the decoder's
        L_simple conditioned on sg(z_i), and their sum."""
        images = ops.cast(samples, "float32")
        ids = self._caption_ids(condition)
        embeddings = self.clip({"image": images, "caption_ids": ids}, training=training)
        clip_loss = symmetric_infonce(embeddings["image_embedding"], embeddings["text_embedding"], self.clip.logit_scale())
        target = ops.stop_gradient(embeddings["image_embedding"])
        predicted = self.prior(ops.stop_gradient(embeddings["text_embedding"]), training=training)
        prior_loss = ops.mean(ops.sum(ops.square(predicted - target), axis=-1))
        decoder_loss = self.decoder.diffusion_loss(images, target, timesteps=timesteps, noise=noise, training=training)
        return {"clip": clip_loss, "prior": prior_loss, "decoder": decoder_loss, "loss": clip_loss + prior_loss + decoder_loss}

    def diffusion_loss(self, samples, condition=None, timesteps=None, noise=None, training=False):
        """The training objective (the diffusion task's fixed-(t, ε) loss): the sum of `losses_of`."""
        return self.losses_of(samples, condition, timesteps, noise, training)["loss"]

    def _unpack(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        if not isinstance(x, dict) or "samples" not in x or "caption_ids" not in x:
            raise ValueError("dalle2_unclip trains on x = {'samples': images, 'caption_ids': ids}.")
        return x["samples"], x


    # --- sampling -----------------------------------------------------------------------------

    def image_embedding(self, condition):
        """The prior's unit image embedding ẑ_i [n, E] of the captions (numpy)."""
        return np.asarray(self.prior(self.text_encoder(self._caption_ids(condition), training=False), training=False))

    def sample(self, n, seed=0, condition=None, guidance_scale=1.0, return_trajectory=False):
        """`n` images for the captions `condition` ({"caption_ids": int32 [n, L]} or the array):
        text tower → prior → T ancestral decoder steps conditioned on ẑ_i (classifier-free guided
        with weight `guidance_scale`, 1 = none), in the data's space."""
        embedding = self.image_embedding(condition)
        if len(embedding) != int(n):
            raise ValueError(f"Expected {n} captions for {n} samples. Received: {len(embedding)} captions")
        return self.decoder.sample(n, seed, condition=embedding, guidance_scale=guidance_scale, return_trajectory=return_trajectory)


CANONICAL = {  # the paper's 64×64 decoder stage at GLIDE-like widths (no attention) over a ViT-B/32 CLIP
    "data_shape": (64, 64, 3), "timesteps": 1000, "width": 64, "time_dim": 64, "depth": 2, "channel_multipliers": (1, 2, 3, 4),
    "groups": 32, "patch_size": 32, "vision_width": 768, "vision_layers": 12, "vision_heads": 12, "text_width": 512, "text_layers": 12,
    "text_heads": 8, "context_length": 77, "vocabulary_size": 49_408, "embed_dim": 512, "prior_width": 1024, "prior_depth": 4,
}
TINY = {
    "data_shape": (24, 24, 3), "timesteps": 1000, "width": 8, "time_dim": 8, "depth": 1, "channel_multipliers": (1,), "groups": 4,
    "patch_size": 8, "vision_width": 16, "vision_layers": 1, "vision_heads": 2, "text_width": 16, "text_layers": 1, "text_heads": 2,
    "context_length": 8, "vocabulary_size": 32, "embed_dim": 16, "prior_width": 32, "prior_depth": 1,
}

register(
    ModelSpec(
        name="dalle2_unclip",
        family="generative",
        task="diffusion",
        builder=UnCLIP,
        canonical_config=CANONICAL,
        tiny_config=TINY,
        paper=PAPER,
        seeds=("000",),
        default_dataset="shapes_unclip",
        limitations={
            "tflite_int8": "full-integer int8 quantises the decoder's sinusoidal time embedding and 1000-entry schedule tables: measured on this row's tiny endpoint (one denoising step, 4 inputs) at relative RMS error 0.127 against Keras, tolerance 0.05; tflite_dynamic keeps float activations and verifies (0.007)",
        },
        inputs=(
            TensorSpec("x_t", (24, 24, 3)), TensorSpec("timestep", (), "int32"), TensorSpec("z", (24, 24, 3)),
            TensorSpec("caption_ids", (8,), "int32"),
        ),
        outputs=(TensorSpec("epsilon", (24, 24, 3)), TensorSpec("x_prev", (24, 24, 3))),
        export_endpoint=(
            "one text-conditioned ancestral step {x_t, timestep, z, caption_ids} -> {epsilon, x_prev} with the CLIP text "
            "tower and the prior inside; the T-step sampling loop runs in Python over the step of any format"
        ),
        notes=(
            "Prior: a deterministic residual-MLP regression prior (text embedding -> unit image embedding, squared-error "
            "loss), simpler than the paper's autoregressive and diffusion priors. CLIP is trained jointly from random "
            "weights (stop-gradients keep the prior and decoder losses off it) instead of pre-trained and frozen. One "
            "64x64-style decoder stage without attention and GLIDE's text-caption tokens, and no up-samplers, so no reference "
            "parameter count is claimed. The decoder keeps the paper's classifier-free guidance: the image embedding is zeroed "
            "10% of the time in training (condition_dropout) and sample(guidance_scale=s) mixes the two predictions. "
            "Captions are word ids under a closed vocabulary."
        ),
    )
)
