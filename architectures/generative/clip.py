"""CLIP: contrastive language-image pre-training (Radford et al. 2021, ICML, arXiv 2103.00020).

Two towers map an image and a caption into one space: a Vision Transformer (ViT-B/32 in the
canonical config: 32×32 patches by a bias-free conv, a class token, learned positions, pre-LN,
12 pre-norm blocks of width 768 with 12 heads, LN on the class token, a bias-free projection to
512) and a Transformer text encoder (12 blocks of width 512, 8 heads, causal self-attention,
vocabulary 49,408, 77 positions; the feature of the end-of-text token, LN, a bias-free projection
to 512). Both embeddings are L2-normalised; logits = exp(t)·I_e·T_eᵀ with the learned temperature
t (log-parameterised, initialised to log(1/0.07), clipped so that exp(t) ≤ 100); the loss is the
symmetric cross-entropy over the N×N matrix (image→text and text→image, averaged).

`image_encoder="resnet"` swaps the image tower for the paper's modified ResNet (§2.4; the released
RN50 layout): a ResNet-D stem of three 3×3 convolutions (the first with stride 2) and a 2×2 average
pool instead of the max pool, bottleneck stages (expansion 4; the first stride 1, the others stride
2) whose strided convolutions are anti-aliased as in the released model (a 2×2 average pool before the
last 1×1 convolution and in the shortcut instead of a strided convolution), BatchNorm and ReLU, and
attention pooling instead of global average pooling: one multi-head attention layer over the
flattened feature map whose single query is the mean of the spatial features, with learned positions
added to the mean token and to every spatial feature, projected to `embed_dim` (`AttentionPool2D`).
`resnet_layers` gives the blocks per stage ((3, 4, 6, 3) = RN50), `resnet_width` the stem width (64),
`resnet_heads` the pooling heads (default width·32/64 as released). The ViT tower stays the default.

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


def _conv_bn(x, filters, kernel, name, relu=True, strides=1):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _bottleneck(x, planes, stride, name):
    """The released CLIP ResNet's bottleneck: 1×1, 3×3, [2×2 average pool when strided], 1×1 (×4),
    the shortcut average-pooled then projected by a 1×1 convolution + BN when its shape changes."""
    h = _conv_bn(x, planes, 1, f"{name}_a")
    h = _conv_bn(h, planes, 3, f"{name}_b")
    if stride > 1:
        h = keras.layers.AveragePooling2D(stride, name=f"{name}_blur")(h)
    h = _conv_bn(h, 4 * planes, 1, f"{name}_c", relu=False)
    shortcut = x
    if stride > 1 or x.shape[-1] != 4 * planes:
        if stride > 1:
            shortcut = keras.layers.AveragePooling2D(stride, name=f"{name}_down_pool")(shortcut)
        shortcut = _conv_bn(shortcut, 4 * planes, 1, f"{name}_down", relu=False)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([h, shortcut]))


def _modified_resnet(x, layers, width, heads, embed_dim):
    """CLIP's modified ResNet on pixels in [-1, 1] → [N, embed_dim] (before L2 normalisation)."""
    x = _conv_bn(x, width // 2, 3, "resnet_stem1", strides=2)
    x = _conv_bn(x, width // 2, 3, "resnet_stem2")
    x = _conv_bn(x, width, 3, "resnet_stem3")
    x = keras.layers.AveragePooling2D(2, name="resnet_stem_pool")(x)
    for stage, blocks in enumerate(layers):
        for block in range(int(blocks)):
            x = _bottleneck(x, width * 2**stage, 2 if stage > 0 and block == 0 else 1, f"resnet_stage{stage + 1}_block{block + 1}")
    return AttentionPool2D(int(x.shape[1]), heads, embed_dim, name="attention_pool")(x)


def _vision_transformer(x, image_size, patch_size, vision_width, vision_layers, vision_heads, embed_dim):
    """Vision tower (ViT) on pixels in [-1, 1]: patches, class token, pre-LN blocks, projection."""
    x = keras.layers.Conv2D(int(vision_width), int(patch_size), strides=int(patch_size), use_bias=False, name="patch_embedding")(x)
    patches = (int(image_size) // int(patch_size)) ** 2
    x = keras.layers.Reshape((patches, int(vision_width)))(x)
    x = ClassToken(vision_width, patches, name="class_token")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="vision_ln_pre")(x)
    for i in range(int(vision_layers)):
        x = _block(x, int(vision_width), int(vision_heads), False, f"vision_block{i}")
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="vision_ln_post")(x[:, 0, :])
    return keras.layers.Dense(int(embed_dim), use_bias=False, name="image_projection")(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class AttentionPool2D(keras.layers.Layer):
    """CLIP's attention pooling: tokens = [mean of the H·W features; the features] + learned positions;
    one multi-head attention whose only query is the mean token (keys and values: all H·W + 1
    tokens), then an output projection to `output_dim`. [N, H, W, C] → [N, output_dim]."""

    def __init__(self, spatial, heads, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.spatial, self.heads, self.output_dim = int(spatial), int(heads), int(output_dim)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.heads:
            raise ValueError(f"AttentionPool2D: {channels} channels are not divisible by heads={self.heads}.")
        self.channels = channels
        self.positions = self.add_weight(
            shape=(self.spatial * self.spatial + 1, channels), initializer=keras.initializers.RandomNormal(stddev=channels**-0.5), name="positions"
        )
        self.q_proj = keras.layers.Dense(channels, name="q_proj")
        self.k_proj = keras.layers.Dense(channels, name="k_proj")
        self.v_proj = keras.layers.Dense(channels, name="v_proj")
        self.c_proj = keras.layers.Dense(self.output_dim, name="c_proj")
        for layer in (self.q_proj, self.k_proj, self.v_proj):
            layer.build((None, None, channels))
        self.c_proj.build((None, channels))

    def _split(self, x, length):
        head_dim = self.channels // self.heads
        return ops.transpose(ops.reshape(x, (-1, length, self.heads, head_dim)), (0, 2, 1, 3))

    def call(self, features):
        length = self.spatial * self.spatial
        x = ops.reshape(features, (-1, length, self.channels))
        tokens = ops.concatenate([ops.mean(x, axis=1, keepdims=True), x], axis=1) + self.positions
        q = self._split(self.q_proj(tokens[:, :1, :]), 1) * (self.channels // self.heads) ** -0.5
        k = self._split(self.k_proj(tokens), length + 1)
        v = self._split(self.v_proj(tokens), length + 1)
        weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), axis=-1)
        pooled = ops.reshape(ops.matmul(weights, v), (-1, self.channels))
        return self.c_proj(pooled)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "spatial": self.spatial, "heads": self.heads, "output_dim": self.output_dim}


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
        image_encoder="vit",
        resnet_layers=(3, 4, 6, 3),
        resnet_width=64,
        resnet_heads=None,
        name="clip",
        **kwargs,
    ):
        if vocabulary is None:
            vocabulary = placeholder_vocabulary(int(vocabulary_size), TARGET_SPECIALS)
        vocabulary = check_vocabulary(vocabulary, TARGET_SPECIALS, "vocabulary")
        if len(vocabulary) != int(vocabulary_size):
            raise ValueError(f"vocabulary has {len(vocabulary)} tokens but vocabulary_size={vocabulary_size}.")
        if image_encoder not in ("vit", "resnet"):
            raise ValueError(f"image_encoder must be 'vit' or 'resnet'. Received: image_encoder={image_encoder!r}")
        if image_encoder == "vit" and int(image_size) % int(patch_size):
            raise ValueError(f"image_size must be a multiple of patch_size. Received: image_size={image_size}, patch_size={patch_size}")
        resnet_layers = tuple(int(n) for n in resnet_layers)
        if image_encoder == "resnet":
            stride = 4 * 2 ** (len(resnet_layers) - 1)
            if not resnet_layers or min(resnet_layers) < 1 or int(image_size) % stride:
                raise ValueError(f"resnet_layers needs >= 1 block per stage and image_size a multiple of {stride}. Received: {resnet_layers}, {image_size}")
        image = keras.Input((int(image_size), int(image_size), 3), name="image")
        ids = keras.Input((int(context_length),), dtype="int32", name="caption_ids")
        x = keras.layers.Rescaling(2.0 / 255.0, offset=-1.0, name="rescale")(image)
        if image_encoder == "resnet":
            heads = int(resnet_heads) if resnet_heads else int(resnet_width) * 32 // 64
            image_features = _modified_resnet(x, resnet_layers, int(resnet_width), heads, int(embed_dim))
        else:
            image_features = _vision_transformer(x, image_size, patch_size, vision_width, vision_layers, vision_heads, embed_dim)
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
