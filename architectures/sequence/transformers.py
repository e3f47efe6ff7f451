"""Attention-only models: the Transformer, GPT, BERT and the Vision Transformer.

References:
    Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser & Polosukhin 2017, "Attention is all
        you need", NIPS. Base: N = 6, d_model = 512, h = 8, d_ff = 2048, dropout 0.1, post-LN
        residual blocks, sinusoidal positions, one weight matrix shared by both embeddings and the
        pre-softmax projection (embeddings multiplied by √d_model), label smoothing 0.1, Adam
        (0.9, 0.98, 1e-9), lr = d^−0.5·min(step^−0.5, step·4000^−1.5).
    Radford, Narasimhan, Salimans & Sutskever 2018, "Improving language understanding by
        generative pre-training" (GPT): 12 decoder-only blocks, d = 768, 12 heads, d_ff = 3072,
        context 512, learned positions, GELU, BPE 40,478 tokens, tied output embedding.
    Devlin, Chang, Lee & Toutanova 2019, "BERT", NAACL: base L = 12, H = 768, A = 12; large
        L = 24, H = 1024, A = 16; WordPiece 30,522, learned positions (512), 2 segment embeddings,
        embedding LayerNorm, GELU, tanh pooler on [CLS]; masked LM (15 % of tokens: 80 % [MASK],
        10 % random, 10 % unchanged) + next-sentence prediction.
    Dosovitskiy et al. 2021, "An image is worth 16x16 words", ICLR: patches → linear projection,
        [class] token, learned 1-D positions, pre-LN encoder, GELU MLP, LayerNorm then head.

    scaled dot-product attention   softmax(QKᵀ/√d_k + mask)·V, Q = XW^Q, K = XW^K, V = XW^V
    multi-head                     h heads of d/h, concatenated, ·W^O
    post-LN block (Transformer, GPT, BERT)   x = LN(x + Drop(Attn(x))); x = LN(x + Drop(FFN(x)))
    pre-LN block (ViT)                       x = x + Attn(LN(x));        x = x + FFN(LN(x))

Every model here is built from the same three pieces: `MultiHeadAttention` (ours: it exposes its
projections, so that GPT's generation can keep a key/value cache), `TransformerBlock` (self-
attention, optional cross-attention, feed-forward) and `TiedEmbedding` (an embedding whose
transpose is the output projection).

Fidelity notes:
- The Transformer's shared embedding: the paper uses one joint BPE vocabulary for source and
  target. The translation task adapts one vocabulary per side (tasks/text.py), so the model builds
  the joint vocabulary as the target vocabulary followed by the source words not in it, and maps
  source ids into it with a constant table: one weight matrix for both embeddings and the
  pre-softmax projection, as in the paper; logits cover the target words only.
- Decoding (tasks/text.py protocol): the decoder state is the fixed-size buffer of tokens emitted
  so far and the step; each step runs the decoder over the buffer under the causal mask and reads
  the logits at the step (no TensorList, so the greedy endpoint converts to ONNX and TFLite).
- GPT generation (`generate_ids`) keeps a per-layer key/value cache in fixed-size buffers updated
  with `slice_update` inside one XLA-compiled while loop; `use_cache=False` recomputes the whole
  prefix each step. Both give the same tokens (tests/test_transformers.py).
- BERT is registered as its fine-tuning form, a [CLS] classifier of the text-classification task
  (the model prepends [CLS] and appends [SEP]); pre-training (MLM 80/10/10 + NSP) is
  `BertPretrainer` over the same layers with `pretraining_batch` making the masked pairs.
"""

import math

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import language as language_task
from tasks import text as text_task

text_task.register_keras_objects()

# --- configurations (the papers' tables as data) ------------------------------------------------

TRANSFORMER_BASE = dict(num_layers=6, d_model=512, num_heads=8, d_ff=2048, dropout=0.1)
TRANSFORMER_BIG = dict(num_layers=6, d_model=1024, num_heads=16, d_ff=4096, dropout=0.3)
GPT1 = dict(vocabulary_size=40_478, max_length=512, num_layers=12, d_model=768, num_heads=12, d_ff=3072, dropout=0.1)
BERT_BASE = dict(vocabulary_size=30_519, max_length=512, num_layers=12, d_model=768, num_heads=12, d_ff=3072, dropout=0.1)
BERT_LARGE = dict(vocabulary_size=30_519, max_length=512, num_layers=24, d_model=1024, num_heads=16, d_ff=4096, dropout=0.1)
VIT_B16 = dict(input_shape=(224, 224, 3), patch_size=16, num_layers=12, d_model=768, num_heads=12, d_ff=3072,
               num_classes=1000, dropout=0.1)

NEG_INF = -1e9
BERT_SPECIALS = ("[CLS]", "[SEP]", "[MASK]")  # appended after the task's vocabulary


@keras.saving.register_keras_serializable(package="deepzoo")
def gelu_tanh(x):
    """GELU in the tanh form 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) that GPT, BERT's reference code
    and ViT (jax.nn.gelu's default) use; the exact erf form exports to ONNX as Erfc, which ONNX lacks."""
    return keras.activations.gelu(x, approximate=True)


def sinusoidal_encoding(length, d_model):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)) (numpy)."""
    positions = np.arange(length, dtype=np.float64)[:, None]
    rates = np.power(10000.0, -np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((length, d_model))
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: d_model // 2])
    return table.astype(np.float32)


def causal_mask(length):
    """bool [1, T, T]: position t attends to 0..t."""
    steps = ops.arange(length)
    return ops.expand_dims(steps[:, None] >= steps[None, :], 0)


def padding_mask(ids):
    """bool [N, 1, S]: keys that are real tokens (id ≠ 0)."""
    return ops.expand_dims(ops.not_equal(ids, 0), 1)


# --- blocks ------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class SinusoidalPositions(keras.layers.Layer):
    """Adds the sinusoidal encoding to [N, T, d], computed in the graph for any T (no weights)."""

    def call(self, x):
        length, d_model = ops.shape(x)[1], x.shape[-1]
        positions = ops.cast(ops.arange(length), "float32")[:, None]
        rates = ops.power(10000.0, -ops.cast(ops.arange(0, d_model, 2), "float32") / d_model)
        angles = positions * rates[None, :]
        # Interleave sin (even dims) and cos (odd dims).
        table = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (length, d_model))
        return x + ops.cast(table, x.dtype)[None]


@keras.saving.register_keras_serializable(package="deepzoo")
class TiedEmbedding(keras.layers.Layer):
    """Token embedding whose transpose is the output projection (`call(h, reverse=True)`).

    `scale` multiplies looked-up embeddings (the Transformer's √d_model); `output_bias` adds a bias
    to the reversed projection (BERT's MLM head)."""

    def __init__(self, vocabulary_size, d_model, scale=1.0, output_rows=None, initializer_stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.d_model = int(vocabulary_size), int(d_model)
        self.scale, self.output_rows = float(scale), output_rows
        self.initializer_stddev = float(initializer_stddev)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.vocabulary_size, self.d_model),
            initializer=keras.initializers.RandomNormal(stddev=self.initializer_stddev),
        )
        self.built = True

    def call(self, inputs, reverse=False):
        if reverse:
            table = self.embeddings if self.output_rows is None else self.embeddings[: self.output_rows]
            return ops.matmul(inputs, ops.transpose(ops.cast(table, inputs.dtype)))
        embedded = ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)
        return embedded * self.scale if self.scale != 1.0 else embedded

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            rows = self.vocabulary_size if self.output_rows is None else self.output_rows
            return keras.KerasTensor((*inputs.shape[:-1], rows), dtype=self.compute_dtype)
        return keras.KerasTensor((*inputs.shape, self.d_model), dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "d_model": self.d_model,
                "scale": self.scale, "output_rows": self.output_rows, "initializer_stddev": self.initializer_stddev}


@keras.saving.register_keras_serializable(package="deepzoo")
class MultiHeadAttention(keras.layers.Layer):
    """softmax(QKᵀ/√d_k + mask)·V over h heads, concatenated and projected by W^O.

    `call(query, value, mask=None, return_scores=False)`; mask is bool, broadcastable to
    [N, Tq, Tk] (True = may attend). `project_key_value` and `attend` are the halves used by the
    key/value cache."""

    def __init__(self, d_model, num_heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(d_model) % int(num_heads):
            raise ValueError(f"d_model must be a multiple of num_heads. Received: d_model={d_model}, num_heads={num_heads}")
        self.d_model, self.num_heads, self.dropout = int(d_model), int(num_heads), float(dropout)
        self.depth = self.d_model // self.num_heads
        self.query = keras.layers.Dense(self.d_model, name="query")
        self.key = keras.layers.Dense(self.d_model, name="key")
        self.value = keras.layers.Dense(self.d_model, name="value")
        self.output_projection = keras.layers.Dense(self.d_model, name="output")
        self.attention_dropout = keras.layers.Dropout(self.dropout)

    def build(self, query_shape=None, value_shape=None):
        for layer in (self.query, self.key, self.value, self.output_projection):
            layer.build((None, None, self.d_model))
        self.built = True

    def split_heads(self, x, batch):
        """[N, T, d] -> [N, h, T, d/h]. The batch size comes from the layer's input and T is
        inferred: tf2onnx may hand a Dense output over as [N·T, d], which this reshape still reads."""
        return ops.transpose(ops.reshape(x, (batch, -1, self.num_heads, self.depth)), (0, 2, 1, 3))

    def project_key_value(self, value):
        batch = ops.shape(value)[0]
        return self.split_heads(self.key(value), batch), self.split_heads(self.value(value), batch)

    def attend(self, query, keys, values, mask=None, training=None):
        """(output [N, Tq, d], scores [N, h, Tq, Tk]) from the query input and projected keys/values."""
        q = self.split_heads(self.query(query), ops.shape(query)[0]) * (1.0 / math.sqrt(self.depth))
        logits = ops.matmul(q, ops.transpose(keys, (0, 1, 3, 2)))
        if mask is not None:
            mask = ops.expand_dims(ops.cast(mask, "bool"), 1)  # broadcast over heads
            logits = ops.where(mask, logits, ops.cast(NEG_INF, logits.dtype))
        scores = ops.softmax(logits, axis=-1)
        context = ops.matmul(self.attention_dropout(scores, training=training), values)  # [N, h, Tq, d/h]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (ops.shape(query)[0], -1, self.d_model))
        return self.output_projection(context), scores

    def call(self, query, value, mask=None, return_scores=False, training=None):
        keys, values = self.project_key_value(value)
        output, scores = self.attend(query, keys, values, mask, training)
        return (output, scores) if return_scores else output

    def compute_output_spec(self, query, value, mask=None, return_scores=False, training=None):
        output = keras.KerasTensor(query.shape, dtype=self.compute_dtype)
        if return_scores:
            return output, keras.KerasTensor((query.shape[0], self.num_heads, query.shape[1], value.shape[1]), dtype=self.compute_dtype)
        return output

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="deepzoo")
class TransformerBlock(keras.layers.Layer):
    """Self-attention (+ cross-attention) + position-wise feed-forward, each with a residual.

    norm_first=False: post-LN (Vaswani, GPT-1, BERT); True: pre-LN (ViT)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, activation="relu", norm_first=False,
                 cross_attention=False, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.num_heads, self.d_ff = int(d_model), int(num_heads), int(d_ff)
        self.dropout, self.activation, self.norm_first = float(dropout), activation, bool(norm_first)
        self.cross_attention, self.epsilon = bool(cross_attention), float(epsilon)
        self.self_attention = MultiHeadAttention(self.d_model, self.num_heads, self.dropout, name="self_attention")
        self.self_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="self_attention_norm")
        if self.cross_attention:
            self.cross = MultiHeadAttention(self.d_model, self.num_heads, self.dropout, name="cross_attention")
            self.cross_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="cross_attention_norm")
        self.ffn_inner = keras.layers.Dense(self.d_ff, activation=activation, name="ffn_inner")
        self.ffn_outer = keras.layers.Dense(self.d_model, name="ffn_outer")
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="ffn_norm")
        self.residual_dropout = keras.layers.Dropout(self.dropout)

    def build(self, input_shape=None):
        shape = (None, None, self.d_model)
        self.self_attention.build(shape, shape)
        self.self_norm.build(shape)
        if self.cross_attention:
            self.cross.build(shape, shape)
            self.cross_norm.build(shape)
        self.ffn_inner.build(shape)
        self.ffn_outer.build((None, None, self.d_ff))
        self.ffn_norm.build(shape)
        self.built = True

    def _residual(self, x, norm, sublayer, training):
        if self.norm_first:
            return x + self.residual_dropout(sublayer(norm(x)), training=training)
        return norm(x + self.residual_dropout(sublayer(x), training=training))

    def feed_forward(self, x, training=None):
        return self._residual(x, self.ffn_norm, lambda h: self.ffn_outer(self.ffn_inner(h)), training)

    def call(self, x, mask=None, memory=None, memory_mask=None, training=None):
        x = self._residual(x, self.self_norm, lambda h: self.self_attention(h, h, mask, training=training), training)
        if self.cross_attention:
            x = self._residual(x, self.cross_norm, lambda h: self.cross(h, memory, memory_mask, training=training), training)
        return self.feed_forward(x, training)

    def cross_scores(self, x, mask, memory, memory_mask):
        """Cross-attention weights [N, h, T, S] of this block (alignment plots)."""
        x = self._residual(x, self.self_norm, lambda h: self.self_attention(h, h, mask), False)
        query = self.cross_norm(x) if self.norm_first else x
        return self.cross(query, memory, memory_mask, return_scores=True)[1]

    def cached_step(self, x, cache_keys, cache_values, position, training=None):
        """One new position [N, 1, d] (self-attention only, post- or pre-LN) with the key/value cache
        [N, h, L, d/h] of this block: writes the position's keys/values, attends to 0..position."""
        query = self.self_norm(x) if self.norm_first else x
        keys, values = self.self_attention.project_key_value(query)
        start = (0, 0, position, 0)
        cache_keys = ops.slice_update(cache_keys, start, ops.cast(keys, cache_keys.dtype))
        cache_values = ops.slice_update(cache_values, start, ops.cast(values, cache_values.dtype))
        visible = ops.reshape(ops.arange(ops.shape(cache_keys)[2]) <= position, (1, 1, -1))
        attended, _ = self.self_attention.attend(query, cache_keys, cache_values, visible, training)
        if self.norm_first:
            x = x + attended
        else:
            x = self.self_norm(x + attended)
        return self.feed_forward(x, training), cache_keys, cache_values

    def compute_output_spec(self, x, mask=None, memory=None, memory_mask=None, training=None):
        return keras.KerasTensor(x.shape, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads, "d_ff": self.d_ff,
            "dropout": self.dropout, "activation": self.activation, "norm_first": self.norm_first,
            "cross_attention": self.cross_attention, "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class AttentionMask(keras.layers.Layer):
    """Token ids [N, T] -> bool attention mask: [N, 1, T] padding (keys ≠ 0), [1, T, T] causal, or
    their conjunction [N, T, T]."""

    def __init__(self, causal=False, padding=True, **kwargs):
        super().__init__(**kwargs)
        self.causal, self.padding = bool(causal), bool(padding)

    def call(self, ids):
        mask = padding_mask(ids) if self.padding else None
        if self.causal:
            causal = causal_mask(ops.shape(ids)[1])
            mask = causal if mask is None else ops.logical_and(causal, mask)
        return mask

    def compute_output_spec(self, ids):
        if self.causal:
            return keras.KerasTensor((None if self.padding is False else ids.shape[0], ids.shape[1], ids.shape[1]), dtype="bool")
        return keras.KerasTensor((ids.shape[0], 1, ids.shape[1]), dtype="bool")

    def get_config(self):
        return {**super().get_config(), "causal": self.causal, "padding": self.padding}


@keras.saving.register_keras_serializable(package="deepzoo")
class ClassTokenOutput(keras.layers.Layer):
    """[N, T, d] -> [N, d]: the first ([class] / [CLS]) position."""

    def call(self, x):
        return x[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="deepzoo")
class TokenRemap(keras.layers.Layer):
    """Maps ids through a constant table (source ids → ids of the joint vocabulary)."""

    def __init__(self, table, **kwargs):
        super().__init__(**kwargs)
        self.table = [int(t) for t in table]

    def call(self, ids):
        return ops.take(ops.convert_to_tensor(self.table, "int32"), ops.cast(ids, "int32"), axis=0)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype="int32")

    def get_config(self):
        return {**super().get_config(), "table": self.table}


@keras.saving.register_keras_serializable(package="deepzoo")
class LearnedPositions(keras.layers.Layer):
    """Adds a learned position embedding (max_length rows) to [N, T, d], T ≤ max_length."""

    def __init__(self, max_length, d_model, **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.d_model = int(max_length), int(d_model)

    def build(self, input_shape=None):
        self.positions = self.add_weight(name="positions", shape=(self.max_length, self.d_model),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.built = True

    def call(self, x, start=0):
        length = ops.shape(x)[1]
        return x + ops.cast(ops.slice(self.positions, (start, 0), (length, self.d_model)), x.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "d_model": self.d_model}


@keras.saving.register_keras_serializable(package="deepzoo")
class ClassToken(keras.layers.Layer):
    """Prepends a learned [class] token to [N, T, d]."""

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer="zeros")
        self.built = True

    def call(self, x):
        return ops.concatenate([ops.tile(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, 1)), x], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] + 1, input_shape[2])


def _vocabulary(vocabulary, size, specials, name):
    if vocabulary is None:
        return text_task.placeholder_vocabulary(int(size), specials)
    vocabulary = text_task.check_vocabulary(vocabulary, specials, name)
    if size is not None and int(size) != len(vocabulary):
        raise ValueError(f"{name}_size must equal the length of {name}. Received: {name}_size={size}, {len(vocabulary)} tokens")
    return vocabulary


# --- the Transformer ---------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Transformer(ZooModel):
    """Encoder–decoder Transformer (Vaswani et al. 2017): token ids in, next-token logits out.

    Inputs `source_ids` int32 [N, S] and `decoder_ids` int32 [N, T] ([start] y_1 ..), 0 = padding.
    Output: logits [N, T, target vocabulary]. Translation, the endpoints and the alignment plots
    are the translation task's (tasks/text.py) through `encode` / `decode_step` / `alignments`.

    Args:
        source_vocabulary, target_vocabulary, *_size: as `Seq2SeqBahdanau` (task-adapted lists).
        num_layers: N. d_model, num_heads: h, d_ff, dropout: P_drop.
        label_smoothing: ε_ls of the training loss (0.1 in the paper).
        shared_embeddings: one matrix for both embeddings and the pre-softmax projection.
        max_output_length: decoding limit in tokens, [end] included.
    """

    has_attention = True

    def __init__(self, source_vocabulary=None, target_vocabulary=None, source_vocabulary_size=37_000,
                 target_vocabulary_size=37_000, num_layers=6, d_model=512, num_heads=8, d_ff=2048, dropout=0.1,
                 label_smoothing=0.1, shared_embeddings=True, max_output_length=50, name="transformer", **kwargs):
        self.target_vocabulary = _vocabulary(target_vocabulary, target_vocabulary_size, text_task.TARGET_SPECIALS, "target_vocabulary")
        if source_vocabulary is None and shared_embeddings:
            # Placeholder words named like the target's (tok4, tok5, ..), so that they share rows.
            words = len(text_task.TARGET_SPECIALS)
            source_vocabulary = [*text_task.SOURCE_SPECIALS, *(f"tok{i}" for i in range(words, words + int(source_vocabulary_size) - 2))]
        self.source_vocabulary = _vocabulary(source_vocabulary, source_vocabulary_size, text_task.SOURCE_SPECIALS, "source_vocabulary")
        if int(max_output_length) < 1:
            raise ValueError(f"max_output_length must be at least 1. Received: max_output_length={max_output_length}")
        self.max_output_length, self.label_smoothing = int(max_output_length), float(label_smoothing)
        target_size = len(self.target_vocabulary)
        scale = math.sqrt(d_model)
        if shared_embeddings:
            # The joint vocabulary: target words, then source words the target lacks.
            index = {word: i for i, word in enumerate(self.target_vocabulary)}
            joint, table = list(self.target_vocabulary), []
            for word in self.source_vocabulary:
                if word not in index:
                    index[word] = len(joint)
                    joint.append(word)
                table.append(index[word])
            table[0], table[1] = text_task.PAD_ID, text_task.UNK_ID
            embedding = TiedEmbedding(len(joint), d_model, scale=scale, output_rows=target_size,
                                      initializer_stddev=d_model**-0.5, name="shared_embedding")
            source_embedding, target_embedding = embedding, embedding
        else:
            table = None
            source_embedding = TiedEmbedding(len(self.source_vocabulary), d_model, scale=scale, initializer_stddev=d_model**-0.5, name="source_embedding")
            target_embedding = TiedEmbedding(target_size, d_model, scale=scale, initializer_stddev=d_model**-0.5, name="shared_embedding")

        source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
        decoder_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_ids")
        remapped = TokenRemap(table, name="source_to_joint")(source_ids) if table is not None else source_ids
        source_mask = AttentionMask(name="source_mask")(source_ids)
        memory = self._encoder_stack(source_embedding(remapped), source_mask, num_layers, d_model, num_heads, d_ff, dropout)
        h = target_embedding(decoder_ids)
        h = keras.layers.Dropout(dropout, name="decoder_input_dropout")(SinusoidalPositions(name="decoder_positions")(h))
        self_mask = AttentionMask(causal=True, name="decoder_mask")(decoder_ids)
        for index_ in range(int(num_layers)):
            h = TransformerBlock(d_model, num_heads, d_ff, dropout, cross_attention=True, name=f"decoder_block_{index_ + 1}")(
                h, self_mask, memory, source_mask)
        logits = target_embedding(h, reverse=True)
        super().__init__(inputs={"source_ids": source_ids, "decoder_ids": decoder_ids}, outputs=logits, name=name, **kwargs)
        self.num_decoder_layers = int(num_layers)

    @staticmethod
    def _encoder_stack(embedded, mask, num_layers, d_model, num_heads, d_ff, dropout):
        h = keras.layers.Dropout(dropout, name="encoder_input_dropout")(SinusoidalPositions(name="encoder_positions")(embedded))
        for index in range(int(num_layers)):
            h = TransformerBlock(d_model, num_heads, d_ff, dropout, name=f"encoder_block_{index + 1}")(h, mask)
        return h

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Label-smoothed cross-entropy over the real target tokens (padding excluded): targets
        (1 − ε)·one_hot + ε/V, as `keras.losses.CategoricalCrossentropy(label_smoothing=ε)`."""
        if self.label_smoothing <= 0 or y is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        y = ops.cast(y, "int32")
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        vocabulary = ops.shape(log_probs)[-1]
        nll = -ops.sum(ops.one_hot(y, vocabulary) * log_probs, axis=-1)
        uniform = -ops.mean(log_probs, axis=-1)
        per_token = (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform
        real = ops.cast(ops.not_equal(y, text_task.PAD_ID), "float32")
        loss = ops.sum(per_token * real) / ops.maximum(ops.sum(real), 1.0)
        extra = self.losses
        return loss + ops.sum(extra) if extra else loss

    # --- the decoding protocol of tasks/text.py -------------------------------------------------

    def _source_embedding(self, source_ids):
        layer = self.get_layer("shared_embedding") if self._has_layer("source_to_joint") else self.get_layer("source_embedding")
        if self._has_layer("source_to_joint"):
            source_ids = self.get_layer("source_to_joint")(source_ids)
        return layer(source_ids)

    def _has_layer(self, name):
        return any(layer.name == name for layer in self.layers)

    def encode(self, source_ids, portable=False):
        """(memory, state): the encoder output and source mask; the state is the emitted-token
        buffer [N, max_output_length] and the step [N]."""
        source_ids = ops.cast(source_ids, "int32")
        h = self.get_layer("encoder_positions")(self._source_embedding(source_ids))
        mask = padding_mask(source_ids)
        index = 1
        while self._has_layer(f"encoder_block_{index}"):
            h = self.get_layer(f"encoder_block_{index}")(h, mask)
            index += 1
        batch = ops.shape(source_ids)[0]
        state = {"tokens": ops.zeros((batch, self.max_output_length), "int32"), "step": ops.zeros((batch,), "int32")}
        return {"memory": h, "mask": ops.cast(mask, "int32")}, state

    def _decode(self, decoder_ids, memory, scores=False):
        h = self.get_layer("decoder_positions")(self.get_layer("shared_embedding")(decoder_ids))
        self_mask = ops.logical_and(causal_mask(ops.shape(decoder_ids)[1]), padding_mask(decoder_ids))
        memory_mask = ops.cast(memory["mask"], "bool")
        for index in range(1, self.num_decoder_layers + 1):
            block = self.get_layer(f"decoder_block_{index}")
            if scores and index == self.num_decoder_layers:
                return ops.mean(block.cross_scores(h, self_mask, memory["memory"], memory_mask), axis=1)
            h = block(h, self_mask, memory["memory"], memory_mask)
        return self.get_layer("shared_embedding")(h, reverse=True)

    def decode_step(self, previous_ids, state, memory):
        """(logits [N, V], state, cross-attention [N, S]) of the next position, the decoder run over
        the fixed-size buffer of emitted tokens under the causal mask."""
        step = state["step"]
        positions = ops.arange(self.max_output_length, dtype="int32")[None, :]
        at = ops.equal(positions, step[:, None])
        tokens = ops.where(at, ops.cast(previous_ids, "int32")[:, None], state["tokens"])
        # Positions after the step are hidden by the causal mask: they never reach the step's output.
        logits = self._decode(tokens, memory)
        step_logits = ops.sum(logits * ops.cast(at, logits.dtype)[..., None], axis=1)
        # The per-step attention is not needed by greedy or beam decoding; `alignments` gives it.
        attention = ops.zeros((ops.shape(tokens)[0], ops.shape(memory["memory"])[1]), logits.dtype)
        return step_logits, {"tokens": tokens, "step": step + 1}, attention

    def alignments(self, source_ids, decoder_ids):
        """Cross-attention of the last decoder block, averaged over heads: [N, T, S]."""
        memory, _ = self.encode(source_ids)
        return self._decode(ops.cast(decoder_ids, "int32"), memory, scores=True)


def transformer_parameter_count(source_vocabulary_size, target_vocabulary_size, num_layers, d_model, d_ff,
                                shared_embeddings=True, **_):
    """Parameters of the base model as written in the paper (biases and LayerNorms included)."""
    attention = 4 * (d_model * d_model + d_model)
    ffn = 2 * d_model * d_ff + d_ff + d_model
    encoder = num_layers * (attention + ffn + 2 * 2 * d_model)
    decoder = num_layers * (2 * attention + ffn + 3 * 2 * d_model)
    vocabulary = max(source_vocabulary_size + 2, target_vocabulary_size)  # the source lacks [start], [end]
    embeddings = vocabulary * d_model if shared_embeddings else (source_vocabulary_size + target_vocabulary_size) * d_model
    return embeddings + encoder + decoder


# --- GPT ---------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class GPT(ZooModel):
    """Decoder-only Transformer language model (GPT-1): token ids [N, T] -> next-token logits.

    Learned positions (max_length), post-LN blocks with GELU, causal self-attention, the output
    projection tied to the token embedding. The language-model task (tasks/language.py) owns
    tokenisation, perplexity and sampling; `generate_ids` is the key/value-cached generator.
    """

    def __init__(self, vocabulary=None, vocabulary_size=40_478, split="whitespace", max_length=512, num_layers=12,
                 d_model=768, num_heads=12, d_ff=3072, dropout=0.1, name="gpt", **kwargs):
        self.vocabulary = _vocabulary(vocabulary, vocabulary_size, language_task.LM_SPECIALS, "vocabulary")
        self.split = language_task._check_split(split)
        self.max_length, self.num_layers = int(max_length), int(num_layers)
        self.d_model, self.num_heads = int(d_model), int(num_heads)
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = TiedEmbedding(len(self.vocabulary), d_model, name="token_embedding")
        h = LearnedPositions(max_length, d_model, name="positions")(embedding(ids))
        h = keras.layers.Dropout(dropout, name="embedding_dropout")(h)
        mask = AttentionMask(causal=True, padding=False, name="causal_mask")(ids)
        for index in range(self.num_layers):
            h = TransformerBlock(d_model, num_heads, d_ff, dropout, activation=gelu_tanh, epsilon=1e-5, name=f"block_{index + 1}")(h, mask)
        logits = embedding(h, reverse=True)
        super().__init__(inputs=ids, outputs=logits, name=name, **kwargs)

    def cached_logits(self, token, position, caches):
        """Logits [N, V] of one token [N] at `position` with the per-layer caches (list of (k, v))."""
        h = self.get_layer("token_embedding")(token[:, None])
        h = self.get_layer("positions")(h, start=position)
        new_caches = []
        for index in range(self.num_layers):
            h, keys, values = self.get_layer(f"block_{index + 1}").cached_step(h, *caches[index], position)
            new_caches.append((keys, values))
        return self.get_layer("token_embedding")(h, reverse=True)[:, 0], new_caches


def generate_ids(model, prompt_ids, max_new_tokens, use_cache=True, jit_compile=True):
    """Greedy continuation of every row of `prompt_ids` int32 [N, P] (no padding): int32
    [N, max_new_tokens], one compiled while loop.

    use_cache=True: each step feeds one token through `cached_logits` (keys/values of the earlier
    positions kept in [N, h, P + max_new_tokens, d/h] buffers per layer); False: the whole prefix
    is recomputed each step (the model's call over a fixed-size buffer, causal mask)."""
    import tensorflow as tf

    prompt_ids = np.asarray(prompt_ids, np.int32)
    batch, prompt_length = prompt_ids.shape
    total = prompt_length + int(max_new_tokens)
    if total > model.max_length:
        raise ValueError(f"prompt + new tokens must fit the context of {model.max_length}. Received: {prompt_length} + {max_new_tokens}")
    key = (batch, prompt_length, int(max_new_tokens), bool(use_cache), bool(jit_compile))
    functions = model.__dict__.setdefault("_generate_functions", {})
    if key not in functions:
        depth = model.d_model // model.num_heads

        def run(prompt):
            buffer = tf.concat([prompt, tf.zeros((batch, total - prompt_length), tf.int32)], axis=1)
            positions = tf.range(total)[None, :]
            if use_cache:
                caches = [(tf.zeros((batch, model.num_heads, total, depth)), tf.zeros((batch, model.num_heads, total, depth)))
                          for _ in range(model.num_layers)]

                def body(t, buffer, caches):
                    logits, caches = model.cached_logits(buffer[:, t], t, caches)
                    chosen = tf.cast(tf.argmax(logits, axis=-1), tf.int32)
                    write = tf.logical_and(positions == t + 1, t + 1 >= prompt_length)
                    return t + 1, tf.where(write, chosen[:, None], buffer), caches

                _, buffer, _ = tf.while_loop(lambda t, *_: t < total - 1, body, (tf.constant(0), buffer, caches))
            else:
                def body(t, buffer):
                    logits = model(buffer, training=False)
                    chosen = tf.cast(tf.argmax(tf.gather(logits, t, axis=1), axis=-1), tf.int32)
                    return t + 1, tf.where(positions == t + 1, chosen[:, None], buffer)

                _, buffer = tf.while_loop(lambda t, *_: t < total - 1, body, (tf.constant(prompt_length - 1), buffer))
            return buffer[:, prompt_length:]

        functions[key] = tf.function(run, jit_compile=jit_compile)
    return np.asarray(functions[key](tf.constant(prompt_ids)))


def gpt_parameter_count(vocabulary_size, max_length, num_layers, d_model, d_ff, **_):
    block = 4 * (d_model * d_model + d_model) + 2 * d_model * d_ff + d_ff + d_model + 2 * 2 * d_model
    return vocabulary_size * d_model + max_length * d_model + num_layers * block


# --- BERT --------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class BertEmbeddings(keras.layers.Layer):
    """Token + learned position + segment embeddings, LayerNorm, dropout."""

    def __init__(self, vocabulary_size, max_length, d_model, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.max_length, self.d_model, self.dropout = int(vocabulary_size), int(max_length), int(d_model), float(dropout)
        self.tokens = TiedEmbedding(self.vocabulary_size, self.d_model, name="token_embedding")
        self.positions = LearnedPositions(self.max_length, self.d_model, name="position_embedding")
        self.segments = keras.layers.Embedding(2, self.d_model, name="segment_embedding")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-12, name="embedding_norm")
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape=None):
        self.tokens.build()
        self.positions.build()
        self.segments.build((None, None))
        self.norm.build((None, None, self.d_model))
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        h = self.positions(self.tokens(token_ids)) + self.segments(segment_ids)
        return self.drop(self.norm(h), training=training)

    def compute_output_spec(self, token_ids, segment_ids, training=None):
        return keras.KerasTensor((*token_ids.shape, self.d_model), dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "max_length": self.max_length,
                "d_model": self.d_model, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="deepzoo")
class BertEncoder(keras.layers.Layer):
    """BERT's body: embeddings → L post-LN GELU blocks (padding masked) → (sequence, pooled [CLS])."""

    def __init__(self, vocabulary_size, max_length, num_layers, d_model, num_heads, d_ff, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.max_length, self.num_layers = int(vocabulary_size), int(max_length), int(num_layers)
        self.d_model, self.num_heads, self.d_ff, self.dropout = int(d_model), int(num_heads), int(d_ff), float(dropout)
        self.embeddings = BertEmbeddings(vocabulary_size, max_length, d_model, dropout, name="embeddings")
        self.blocks = [TransformerBlock(d_model, num_heads, d_ff, dropout, activation=gelu_tanh, epsilon=1e-12, name=f"block_{i + 1}")
                       for i in range(self.num_layers)]
        self.pooler = keras.layers.Dense(d_model, activation="tanh", name="pooler")

    def build(self, input_shape=None):
        self.embeddings.build()
        for block in self.blocks:
            block.build()
        self.pooler.build((None, self.d_model))
        self.built = True

    def call(self, token_ids, segment_ids=None, training=None):
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        h = self.embeddings(token_ids, segment_ids, training=training)
        mask = padding_mask(token_ids)
        for block in self.blocks:
            h = block(h, mask, training=training)
        return h, self.pooler(h[:, 0])

    def compute_output_spec(self, token_ids, segment_ids=None, training=None):
        return (keras.KerasTensor((*token_ids.shape, self.d_model), dtype=self.compute_dtype),
                keras.KerasTensor((token_ids.shape[0], self.d_model), dtype=self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "max_length": self.max_length,
                "num_layers": self.num_layers, "d_model": self.d_model, "num_heads": self.num_heads,
                "d_ff": self.d_ff, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="deepzoo")
class WrapSentence(keras.layers.Layer):
    """token ids [N, L] (0 pads at the end) -> [CLS] ids [SEP] 0.. [N, L + 2]."""

    def __init__(self, cls_id, sep_id, max_length=None, **kwargs):
        super().__init__(**kwargs)
        self.cls_id, self.sep_id = int(cls_id), int(sep_id)
        self.max_length = None if max_length is None else int(max_length)

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        if self.max_length is not None:  # longer sentences are cut to fit the learned positions
            ids = ids[:, : self.max_length - 2]
        batch, length = ops.shape(ids)[0], ops.shape(ids)[1]
        real = ops.sum(ops.cast(ops.not_equal(ids, 0), "int32"), axis=1)
        padded = ops.concatenate([ids, ops.zeros((batch, 1), "int32")], axis=1)
        at_end = ops.equal(ops.arange(length + 1)[None, :], real[:, None])
        padded = ops.where(at_end, self.sep_id, padded)
        return ops.concatenate([ops.full((batch, 1), self.cls_id, "int32"), padded], axis=1)

    def compute_output_spec(self, ids):
        length = None if ids.shape[1] is None else min(ids.shape[1], (self.max_length or 10**9) - 2) + 2
        return keras.KerasTensor((ids.shape[0], length), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "cls_id": self.cls_id, "sep_id": self.sep_id, "max_length": self.max_length}


@keras.saving.register_keras_serializable(package="deepzoo")
class BERT(ZooModel):
    """BERT fine-tuned as a sentence classifier: token ids [N, L] -> class probabilities [N, K].

    The model wraps each sentence as [CLS] w.. [SEP] (ids appended after the task's vocabulary:
    [CLS], [SEP], [MASK]), runs the encoder with segment 0, and classifies the pooled [CLS].

    Args:
        vocabulary: the task-adapted word list ("", [UNK], ...); None: a placeholder list of
            `vocabulary_size` − 3 words (the size counts [CLS], [SEP], [MASK]).
        vocabulary_size: words in `vocabulary`; the embedding has 3 more rows ([CLS], [SEP],
            [MASK]): 30,519 + 3 = the paper's 30,522 WordPiece rows.
        max_length: learned positions (512). num_layers: L; d_model: H; num_heads: A; d_ff: 4H.
        num_classes, dropout.
    """

    def __init__(self, vocabulary=None, vocabulary_size=30_519, max_length=512, num_layers=12, d_model=768, num_heads=12,
                 d_ff=3072, num_classes=2, dropout=0.1, name="bert", **kwargs):
        words = _vocabulary(vocabulary, vocabulary_size, text_task.SOURCE_SPECIALS, "vocabulary")
        self.vocabulary, self.sequence_length = words, None
        self.cls_id, self.sep_id, self.mask_id = len(words), len(words) + 1, len(words) + 2
        self.max_length = int(max_length)
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        wrapped = WrapSentence(self.cls_id, self.sep_id, self.max_length, name="wrap_sentence")(ids)
        _, pooled = BertEncoder(len(words) + len(BERT_SPECIALS), max_length, num_layers, d_model, num_heads, d_ff, dropout,
                                name="bert_encoder")(wrapped)
        pooled = keras.layers.Dropout(dropout, name="classifier_dropout")(pooled)
        probabilities = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(pooled)
        super().__init__(inputs=ids, outputs=probabilities, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class MaskedLMHead(keras.layers.Layer):
    """BERT's MLM head: Dense(H, GELU) → LayerNorm → tied output embedding + bias."""

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.transform = keras.layers.Dense(embedding.d_model, activation=gelu_tanh, name="transform")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-12, name="transform_norm")

    def build(self, input_shape=None):
        self.transform.build((None, None, self.embedding.d_model))
        self.norm.build((None, None, self.embedding.d_model))
        self.bias = self.add_weight(name="output_bias", shape=(self.embedding.vocabulary_size,), initializer="zeros")
        self.built = True

    def call(self, h):
        return self.embedding(self.norm(self.transform(h)), reverse=True) + self.bias


class BertPretrainer(keras.Model):
    """Masked LM + next-sentence prediction over the layers of a `BERT` model (shared weights).

    Inputs {"token_ids", "segment_ids"} int32 [N, L] (pairs made by `pretraining_batch`); outputs
    {"mlm": logits [N, L, V], "nsp": logits [N, 2]}. Targets {"mlm": original id at masked
    positions, 0 elsewhere (ignored), "nsp": 1 if B follows A}."""

    def __init__(self, bert, **kwargs):
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        encoder = bert.get_layer("bert_encoder")
        sequence, pooled = encoder(token_ids, segment_ids)
        mlm = MaskedLMHead(encoder.embeddings.tokens, name="mlm_head")(sequence)
        nsp = keras.layers.Dense(2, name="nsp_head")(pooled)
        super().__init__(inputs={"token_ids": token_ids, "segment_ids": segment_ids}, outputs={"mlm": mlm, "nsp": nsp}, **kwargs)

    def compile_pretraining(self, optimizer, jit_compile=False):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        self.compile(optimizer=optimizer, loss={"mlm": loss, "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
                     jit_compile=jit_compile)


def mask_tokens(ids, rng, mask_id, vocabulary_low, vocabulary_high, protected, rate=0.15):
    """BERT's masking (Devlin et al. 2019 §3.1): of the maskable tokens (not padding, not in
    `protected`), 15 % are chosen; a chosen token becomes [MASK] 80 % of the time, a random word
    id in [vocabulary_low, vocabulary_high) 10 %, itself 10 %. Returns (inputs, labels): labels hold
    the original id at chosen positions and 0 elsewhere."""
    ids = np.asarray(ids, np.int32)
    maskable = (ids != 0) & ~np.isin(ids, np.asarray(protected, np.int32))
    chosen = maskable & (rng.random(ids.shape) < rate)
    labels = np.where(chosen, ids, 0).astype(np.int32)
    action = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (action < 0.8)] = mask_id
    replace = chosen & (action >= 0.8) & (action < 0.9)
    inputs[replace] = rng.integers(vocabulary_low, vocabulary_high, size=int(replace.sum()))
    return inputs, labels


def pretraining_batch(bert, sentences, seed=0, max_length=None):
    """Masked sentence pairs for `BertPretrainer` from consecutive `sentences` (strings): B is the
    next sentence 50 % of the time, a random one otherwise. Returns (x, y) as described there."""
    rng = np.random.default_rng(seed)
    rows = text_task.tokenize(sentences, bert.vocabulary)
    pairs, segments, is_next = [], [], []
    for i in range(len(rows) - 1):
        follows = bool(rng.random() < 0.5)
        other = rows[i + 1] if follows else rows[int(rng.integers(len(rows)))]
        a, b = rows[i], other
        pairs.append(np.concatenate([[bert.cls_id], a, [bert.sep_id], b, [bert.sep_id]]).astype(np.int32))
        segments.append(np.concatenate([np.zeros(len(a) + 2), np.ones(len(b) + 1)]).astype(np.int32))
        is_next.append(int(follows))
    token_ids, segment_ids = text_task.pad(pairs, width=max_length), text_task.pad(segments, width=max_length)
    inputs, labels = mask_tokens(token_ids, rng, bert.mask_id, 2, bert.cls_id, (bert.cls_id, bert.sep_id))
    return {"token_ids": inputs, "segment_ids": segment_ids}, {"mlm": labels, "nsp": np.asarray(is_next, np.int32)}


def bert_parameter_count(vocabulary_size, max_length, num_layers, d_model, d_ff, num_classes=2, **_):
    block = 4 * (d_model * d_model + d_model) + 2 * d_model * d_ff + d_ff + d_model + 2 * 2 * d_model
    embeddings = (vocabulary_size + len(BERT_SPECIALS) + max_length + 2) * d_model + 2 * d_model
    return embeddings + num_layers * block + d_model * d_model + d_model + d_model * num_classes + num_classes


# --- ViT ---------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class VisionTransformer(ZooModel):
    """ViT: P×P patches → linear projection → [class] token + learned positions → pre-LN encoder →
    LayerNorm → head on the [class] token. Pixels 0..255 are rescaled to [0, 1] inside the model.

    Args: input_shape (H, W, C) divisible by patch_size; num_layers, d_model, num_heads, d_ff,
    num_classes, dropout."""

    def __init__(self, input_shape=(224, 224, 3), patch_size=16, num_layers=12, d_model=768, num_heads=12, d_ff=3072,
                 num_classes=1000, dropout=0.1, name="vit", **kwargs):
        height, width, _ = (int(v) for v in input_shape)
        if height % int(patch_size) or width % int(patch_size):
            raise ValueError(f"input_shape must be divisible by patch_size. Received: input_shape={tuple(input_shape)}, patch_size={patch_size}")
        patches = (height // int(patch_size)) * (width // int(patch_size))
        images = keras.Input(shape=tuple(int(v) for v in input_shape), name="images")
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(images)
        # A strided P×P convolution is the linear projection of flattened patches.
        x = keras.layers.Conv2D(d_model, patch_size, strides=patch_size, name="patch_projection")(x)
        x = keras.layers.Reshape((patches, int(d_model)), name="patch_sequence")(x)
        x = ClassToken(name="class_token")(x)
        x = LearnedPositions(patches + 1, d_model, name="positions")(x)
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
        for index in range(int(num_layers)):
            x = TransformerBlock(d_model, num_heads, d_ff, dropout, activation=gelu_tanh, norm_first=True, name=f"block_{index + 1}")(x)
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
        x = ClassTokenOutput(name="class_token_output")(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)


def vit_parameter_count(input_shape, patch_size, num_layers, d_model, d_ff, num_classes, **_):
    patches = (input_shape[0] // patch_size) * (input_shape[1] // patch_size)
    block = 4 * (d_model * d_model + d_model) + 2 * d_model * d_ff + d_ff + d_model + 2 * 2 * d_model
    return (patch_size * patch_size * input_shape[2] * d_model + d_model + d_model + (patches + 1) * d_model
            + num_layers * block + 2 * d_model + d_model * num_classes + num_classes)


# --- registry ----------------------------------------------------------------------------------------

TOKEN_INPUTS = (TensorSpec("token_ids", (None,), "int32"),)

register(
    ModelSpec(
        name="transformer",
        family="sequence",
        task="translation",
        builder=Transformer,
        canonical_config=dict(TRANSFORMER_BASE, source_vocabulary_size=36_998, target_vocabulary_size=37_000, max_output_length=50),
        tiny_config=dict(source_vocabulary_size=32, target_vocabulary_size=32, num_layers=1, d_model=16, num_heads=2, d_ff=32,
                         dropout=0.0, max_output_length=12),
        reference_params=transformer_parameter_count(36_998, 37_000, **TRANSFORMER_BASE),
        reference_source=(
            "B (the base model's stated sizes with the shared 37,000-token vocabulary of WMT'14 En–De: 63,082,496; "
            "the paper's Table 3 prints 65 M, 3 % more, which no reading of its sizes reproduces)"
        ),
        paper="Vaswani et al. 2017, NIPS (Attention is all you need)",
        seeds=("003",),
        default_dataset="translation",
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=20, clipnorm=1.0),
        limitations={
            "tflite_int8": (
                "full-integer int8 quantisation of the attention softmax, LayerNorm and tied logits flips the "
                "greedy argmax at every step (measured: BLEU 0.26 -> 0.00 after one epoch); the fp32, fp16 and "
                "dynamic-range TFLite exports verify"
            ),
        },
        inputs=(TensorSpec("source_ids", (None,), "int32"), TensorSpec("decoder_ids", (None,), "int32")),
        outputs=(TensorSpec("translation", (), "string"),),
        export_endpoint=(
            "SavedModel: source string [N] → translation string [N] (greedy, vocabularies in the graph). "
            "ONNX / TFLite: source_ids int32 [N, S] → target_ids int32 [N, max_output_length], vocabularies beside."
        ),
        notes=(
            "Base model as written (post-LN, sinusoidal positions, √d_model-scaled embeddings shared with the "
            "pre-softmax projection over a joint vocabulary, label smoothing 0.1 in `compute_loss`). The paper's "
            "Adam (0.9, 0.98, 1e-9) with the warm-up schedule is `pipelines.optim.TransformerSchedule` "
            "(--schedule warmup); the tiny recipe uses Adam 3e-3, which converges in a few CPU epochs. The "
            "parameter count is 63.08 M against the 65 M of Table 3 (see reference_source)."
        ),
    )
)

register(
    ModelSpec(
        name="gpt",
        family="sequence",
        task="language_model",
        builder=GPT,
        canonical_config=GPT1,
        tiny_config=dict(vocabulary_size=48, max_length=64, num_layers=1, d_model=16, num_heads=2, d_ff=32, dropout=0.0),
        reference_params=117_000_000,
        reference_source="P (Radford et al. 2018: 117 M; our build 116,534,784 with the 40,478-token BPE and tied output)",
        paper="Radford, Narasimhan, Salimans & Sutskever 2018 (Improving language understanding by generative pre-training)",
        seeds=("003",),
        default_dataset="language",
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=15),
        limitations={
            "tflite_int8": (
                "full-integer int8 quantisation of the attention softmax, LayerNorm and tied logits loses the "
                "logits (measured: relative RMSE 0.997 vs Keras after 2 epochs); fp32, fp16 and dynamic-range TFLite verify"
            ),
        },
        inputs=TOKEN_INPUTS,
        outputs=(TensorSpec("next_token_logits", (None,), "float32"),),
        export_endpoint="token_ids int32 [N, T] → next_token_logits float32 [N, V] after each row's last real token; vocabulary.txt beside",
        notes=(
            "GPT-1's architecture at its size (post-LN blocks as in the original Transformer decoder, GELU, learned "
            "positions, tied output embedding). Sequences longer than max_length are cut by the task at 64 tokens. "
            "Not reproduced: BPE, BooksCorpus pre-training, fine-tuning heads. `generate_ids` keeps a key/value cache."
        ),
    )
)

register(
    ModelSpec(
        name="bert",
        family="sequence",
        task="text_classification",
        builder=BERT,
        canonical_config=BERT_BASE,
        tiny_config=dict(vocabulary_size=48, max_length=32, num_layers=1, d_model=16, num_heads=2, d_ff=32, dropout=0.0),
        reference_params=110_000_000,
        reference_source="P (Devlin et al. 2019: BERT-base 110 M; our build 109,483,778 with the 2-class head)",
        paper="Devlin, Chang, Lee & Toutanova 2019, NAACL (BERT)",
        seeds=("003",),
        default_dataset="sentiment",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=10),
        limitations={
            "tflite_int8": (
                "full-integer int8 quantisation of the attention softmax and post-LN LayerNorms costs accuracy "
                "(measured on sentiment after 2 epochs: 0.84 -> 0.58); fp32, fp16 and dynamic-range TFLite verify"
            ),
        },
        inputs=TOKEN_INPUTS,
        outputs=(TensorSpec("probabilities", (None,), "float32"),),
        notes=(
            "Registered in its fine-tuning form (a [CLS] sentence classifier); pre-training with masked LM "
            "(15 %: 80 % [MASK] / 10 % random / 10 % kept) and next-sentence prediction is `BertPretrainer` + "
            "`pretraining_batch` on the same layers (benchmarks/bench_transformers.py). BERT-large (L 24, H 1024, "
            "A 16) is `create_model('bert', **BERT_LARGE)`: 335 M by our count vs the paper's rounded 340 M. "
            "Words come from the task's TextVectorization vocabulary, not WordPiece."
        ),
    )
)

register(
    ModelSpec(
        name="vit",
        family="sequence",
        task="classification",
        builder=VisionTransformer,
        canonical_config=VIT_B16,
        tiny_config=dict(input_shape=(16, 16, 3), patch_size=4, num_layers=1, d_model=16, num_heads=2, d_ff=32, num_classes=4, dropout=0.0),
        reference_params=86_000_000,
        reference_source="P (Dosovitskiy et al. 2021 Table 1: ViT-Base 86 M; our ViT-B/16 at 224 with 1,000 classes: 86,567,656)",
        paper="Dosovitskiy et al. 2021, ICLR (An image is worth 16x16 words)",
        seeds=("003",),
        default_dataset="shapes10",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=15),
        inputs=(TensorSpec("images", (16, 16, 3), "float32"),),
        notes=(
            "ViT-B/16 as in the paper (pre-LN, GELU MLP, [class] token, learned 1-D positions, final LayerNorm, "
            "linear head as used for fine-tuning). The tiny config uses 4×4 patches. Not reproduced: JFT/ImageNet-21k "
            "pre-training, which the paper needs for ViT to beat CNNs; on small data from scratch it trails them."
        ),
    )
)
