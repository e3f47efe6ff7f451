"""CLIP: contrastive language-image pre-training (Radford et al. 2021, ICML, arXiv 2103.00020).

Two towers map an image and a caption into one space: a Vision Transformer (ViT-B/32 in the
canonical config: 32×32 patches by a bias-free conv, a class token, learned positions, pre-LN,
12 pre-norm blocks of width 768 with 12 heads, LN on the class token, a bias-free projection to
512) and a Transformer text encoder (12 blocks of width 512, 8 heads, causal self-attention,
vocabulary 49,408, 77 positions; the feature of the end-of-text token, LN, a bias-free projection
to 512). Both embeddings are L2-normalised; logits = exp(t)·I_e·T_eᵀ with the learned temperature
t (log-parameterised, initialised to log(1/0.07), clipped so that exp(t) ≤ 100); the loss is the
symmetric cross-entropy over the N×N matrix (image→text and text→image, averaged).

The MLPs use the released model's QuickGELU x·σ(1.702·x). Zero-shot
classification embeds one prompt per class ("a photo of a {class}") and picks the class whose
text embedding is closest to the image's (`tasks/contrastive.py`).

Inputs {"image": float32 [N, S, S, 3] pixels 0..255, "caption_ids": int32 [N, L] ([start] words
[end], 0 pads)} → {"image_embedding", "text_embedding"} float32 [N, E], unit length. The caption
vocabulary is a constructor argument (adapted on the training captions by the task).
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.text import TARGET_SPECIALS, check_vocabulary, placeholder_vocabulary

PAPER = "Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger & Sutskever 2021 (ICML), CLIP"
MAX_LOGIT_SCALE = 100.0


@keras.saving.register_keras_serializable(package="deepzoo")
def quick_gelu(x):
    """The released CLIP's activation x·σ(1.702·x) (exact GELU needs Erfc, which ONNX lacks)."""
    return x * ops.sigmoid(1.702 * x)


def _block(x, width, heads, causal, name):
    """Pre-LN Transformer block: x + MHA(LN(x)), then x + MLP(LN(x)) with a 4× QuickGELU MLP."""
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln1")(x)
    h = keras.layers.MultiHeadAttention(heads, width // heads, name=f"{name}_attention")(h, h, use_causal_mask=causal)
    x = keras.layers.Add()([x, h])
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln2")(x)
    h = keras.layers.Dense(4 * width, activation=quick_gelu, name=f"{name}_fc")(h)
    h = keras.layers.Dense(width, name=f"{name}_proj")(h)
    return keras.layers.Add()([x, h])


@keras.saving.register_keras_serializable(package="deepzoo")
class ClassToken(keras.layers.Layer):
    """Prepends a learned class embedding and adds learned position embeddings."""

    def __init__(self, width, length, **kwargs):
        super().__init__(**kwargs)
        self.width, self.length = int(width), int(length)

    def build(self, input_shape):
        self.class_embedding = self.add_weight(shape=(self.width,), initializer=keras.initializers.RandomNormal(stddev=0.02), name="class_embedding")
        self.positions = self.add_weight(shape=(self.length + 1, self.width), initializer=keras.initializers.RandomNormal(stddev=0.01), name="positions")

    def call(self, patches):
        token = ops.zeros_like(patches[:, :1, :]) + self.class_embedding
        return ops.concatenate([token, patches], axis=1) + self.positions

    def get_config(self):
        return {**super().get_config(), "width": self.width, "length": self.length}


@keras.saving.register_keras_serializable(package="deepzoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds learned positions [length, width] to a [N, length, width] sequence."""

    def __init__(self, length, width, **kwargs):
        super().__init__(**kwargs)
        self.length, self.width = int(length), int(width)

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(self.length, self.width), initializer=keras.initializers.RandomNormal(stddev=0.01), name="positions")

    def call(self, x):
        return x + self.positions

    def get_config(self):
        return {**super().get_config(), "length": self.length, "width": self.width}


@keras.saving.register_keras_serializable(package="deepzoo")
class EndTokenFeature(keras.layers.Layer):
    """The feature at each caption's last non-padding position (its end-of-text token), by a one-hot
    sum rather than a gather, so that every export format converts it."""

    def call(self, features, ids):
        last = ops.sum(ops.cast(ops.not_equal(ids, 0), "int32"), axis=1) - 1
        pick = ops.one_hot(ops.maximum(last, 0), ops.shape(ids)[1], dtype=features.dtype)
        return ops.sum(features * ops.expand_dims(pick, -1), axis=1)

    def compute_output_shape(self, features_shape, ids_shape):
        return (features_shape[0], features_shape[2])


@keras.saving.register_keras_serializable(package="deepzoo")
class LogitScale(keras.layers.Layer):
    """The learned temperature t (log-parameterised); `call` returns exp(t) clipped at 100."""

    def __init__(self, initial=1.0 / 0.07, **kwargs):
        super().__init__(**kwargs)
        self.initial = float(initial)

    def build(self, input_shape=None):
        self.log_scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(math.log(self.initial)), name="log_scale")

    def call(self, inputs=None):
        return ops.exp(ops.minimum(self.log_scale, math.log(MAX_LOGIT_SCALE)))

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


def symmetric_infonce(image_embedding, text_embedding, scale):
    """CLIP's loss: (CE(logits, arange) + CE(logitsᵀ, arange)) / 2, logits = scale·I·Tᵀ."""
    logits = scale * ops.matmul(image_embedding, ops.transpose(text_embedding))
    labels = ops.arange(ops.shape(logits)[0])
    image_to_text = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_to_image = keras.losses.sparse_categorical_crossentropy(labels, ops.transpose(logits), from_logits=True)
    return (ops.mean(image_to_text) + ops.mean(text_to_image)) / 2.0


@keras.saving.register_keras_serializable(package="deepzoo")
class CLIP(ZooModel):
    """CLIP's two towers; `fit({"image", "caption_ids"})` minimises the symmetric InfoNCE loss."""

    def __init__(
        self,
        image_size=224,
        patch_size=32,
        vision_width=768,
        vision_layers=12,
        vision_heads=12,
        text_width=512,
        text_layers=12,
        text_heads=8,
        context_length=77,
        vocabulary=None,
        vocabulary_size=49_408,
        embed_dim=512,
        initial_temperature=0.07,
        name="clip",
        **kwargs,
    ):
        if vocabulary is None:
            vocabulary = placeholder_vocabulary(int(vocabulary_size), TARGET_SPECIALS)
        vocabulary = check_vocabulary(vocabulary, TARGET_SPECIALS, "vocabulary")
        if len(vocabulary) != int(vocabulary_size):
            raise ValueError(f"vocabulary has {len(vocabulary)} tokens but vocabulary_size={vocabulary_size}.")
        if int(image_size) % int(patch_size):
            raise ValueError(f"image_size must be a multiple of patch_size. Received: image_size={image_size}, patch_size={patch_size}")
        image = keras.Input((int(image_size), int(image_size), 3), name="image")
        ids = keras.Input((int(context_length),), dtype="int32", name="caption_ids")
        # Vision tower (ViT): pixels 0..255 → [-1, 1], patches, class token, pre-LN blocks.
        x = keras.layers.Rescaling(2.0 / 255.0, offset=-1.0, name="rescale")(image)
        x = keras.layers.Conv2D(int(vision_width), int(patch_size), strides=int(patch_size), use_bias=False, name="patch_embedding")(x)
        patches = (int(image_size) // int(patch_size)) ** 2
        x = keras.layers.Reshape((patches, int(vision_width)))(x)
        x = ClassToken(vision_width, patches, name="class_token")(x)
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="vision_ln_pre")(x)
        for i in range(int(vision_layers)):
            x = _block(x, int(vision_width), int(vision_heads), False, f"vision_block{i}")
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="vision_ln_post")(x[:, 0, :])
        image_features = keras.layers.Dense(int(embed_dim), use_bias=False, name="image_projection")(x)
        # Text tower: causal Transformer; the end-of-text token's feature.
        t = keras.layers.Embedding(int(vocabulary_size), int(text_width), name="token_embedding")(ids)
        t = PositionEmbedding(context_length, text_width, name="text_positions")(t)
        for i in range(int(text_layers)):
            t = _block(t, int(text_width), int(text_heads), True, f"text_block{i}")
        t = keras.layers.LayerNormalization(epsilon=1e-5, name="text_ln_final")(t)
        t = EndTokenFeature(name="end_token")(t, ids)
        text_features = keras.layers.Dense(int(embed_dim), use_bias=False, name="text_projection")(t)
        outputs = {
            "image_embedding": keras.layers.UnitNormalization(name="image_embedding")(image_features),
            "text_embedding": keras.layers.UnitNormalization(name="text_embedding")(text_features),
        }
        super().__init__(inputs={"image": image, "caption_ids": ids}, outputs=outputs, name=name, **kwargs)
        self.logit_scale = LogitScale(1.0 / float(initial_temperature), name="logit_scale")
        self.logit_scale.build()
        self.vocabulary = vocabulary
        self.context_length = int(context_length)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def compile(self, optimizer=None, jit_compile="auto", **kwargs):
        kwargs.pop("loss", None)
        kwargs.pop("metrics", None)
        super().compile(optimizer=optimizer or keras.optimizers.Adam(5e-4), jit_compile=jit_compile, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def contrastive_loss(self, inputs, training=False):
        outputs = self(inputs, training=training)
        return symmetric_infonce(outputs["image_embedding"], outputs["text_embedding"], self.logit_scale())

    def train_step(self, data):
        import tensorflow as tf

        inputs = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            loss = self.contrastive_loss(inputs, training=True)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        self.loss_tracker.update_state(self.contrastive_loss(inputs))
        return {"loss": self.loss_tracker.result()}

    def temperature(self):
        return 1.0 / float(self.logit_scale())


CANONICAL = {  # ViT-B/32 CLIP as released (OpenAI): 151,277,313 parameters with the logit scale
    "image_size": 224, "patch_size": 32, "vision_width": 768, "vision_layers": 12, "vision_heads": 12, "text_width": 512, "text_layers": 12,
    "text_heads": 8, "context_length": 77, "vocabulary_size": 49_408, "embed_dim": 512,
}
TINY = {
    "image_size": 32, "patch_size": 8, "vision_width": 16, "vision_layers": 1, "vision_heads": 2, "text_width": 16, "text_layers": 1,
    "text_heads": 2, "context_length": 8, "vocabulary_size": 32, "embed_dim": 16,
}

register(
    ModelSpec(
        name="clip",
        family="generative",
        task="contrastive",
        builder=CLIP,
        canonical_config=CANONICAL,
        tiny_config=TINY,
        reference_params=151_277_313,
        reference_source="P: OpenAI's released ViT-B/32 CLIP (sum of its state_dict, logit_scale included)",
        paper=PAPER,
        seeds=("000",),
        default_dataset="shapes_clip",
        inputs=(TensorSpec("image", (32, 32, 3)), TensorSpec("caption_ids", (8,), "int32")),
        outputs=(TensorSpec("image_embedding", (16,)), TensorSpec("text_embedding", (16,))),
        export_endpoint="both towers: {image, caption_ids} -> unit image and text embeddings (zero-shot = nearest prompt embedding)",
        notes=(
            "ViT-B/32 image tower and the 12-layer text Transformer at the released sizes, QuickGELU MLPs. "
            "The spec's BPE vocabulary of 49,152 merges is 49,408 tokens with bytes and specials; here captions are "
            "words under a TextVectorization vocabulary adapted on the training captions ([start]/[end] as SOT/EOT). "
            "Trained from random weights on the shapes captions (spec §1: no downloads)."
        ),
    )
)
