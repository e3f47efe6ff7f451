"""RNNsearch: encoder–decoder with additive (Bahdanau) attention.

Reference: Bahdanau, Cho & Bengio, "Neural machine translation by jointly learning to align and
translate", ICLR 2015 (arXiv 1409.0473), §3 and Appendix A.

    encoder   E·x_j (embedding m, shared by both directions) → bidirectional GRU (n per direction);
              annotation h_j = [h→_j; h←_j]
    init      s_0 = tanh(W_s·h←_1)
    attention e_ij = v_aᵀ tanh(W_a·s_{i−1} + U_a·h_j),  α_ij = softmax_j(e_ij),  c_i = Σ_j α_ij·h_j
    decoder   s_i = GRU(s_{i−1}, [E·y_{i−1}; c_i])                       (n units)
    output    t̃_i = U_o·s_{i−1} + V_o·E·y_{i−1} + C_o·c_i,  t_i = maxout pairs of t̃_i (l units),
              p(y_i | y_<i, x) = softmax(W_o·t_i)

RNNsearch-50 (Appendix A.2, §4.2): n = 1000, m = 620, n′ = 1000 (alignment), l = 500, 30,000-word
shortlists. U_a·h_j does not depend on i, so it is computed once per sentence (Appendix A.1.2).
The paper's GRU applies the reset gate before the recurrent product: `reset_after=False`.

Fidelity notes:
- The paper's equations omit biases ("bias terms are omitted"); this implementation has them in
  the GRUs, s_0, the readout and the output layer (41,000 at full size, 0.05 %). The alignment
  model has none, as written (W_a, U_a, v_a).
- The readout uses s_{i−1}, as Appendix A.2.2 writes it.
- Attention is `keras.layers.AdditiveAttention(use_scale=True)`: its score Σ scale·tanh(q + k) is
  v_aᵀ tanh(W_a·s + U_a·h) once the query and keys are projected by W_a and U_a.
- Recurrence: Keras GRUCells with `reset_after=False` (the paper's GRU) inside two
  `keras.layers.RNN` loops with our own cells: the encoder steps both directions in one loop
  (instead of the two of `Bidirectional(GRU)`: half the graph to trace and differentiate), the
  decoder steps the attention and the GRU, carrying the annotations as constant states (Keras 3's
  RNN takes no `constants`). Keras' RNN bounds its while loop (`maximum_iterations`), so the
  training step also compiles with XLA. No cuDNN kernel is ever selected (cuDNN's GRU is the
  reset-after variant and a cell in a generic RNN is never fused), so training, SavedModel and
  tf2onnx see the same loop on CPU and GPU; nothing depends on `use_cudnn` (keras #21533).
- Export: Keras' RNN loop collects its outputs in TensorLists. tf2onnx converts that (one ONNX
  Loop), the TFLite converter restricted to builtins does not ("'tf.TensorListReserve' op requires
  element_shape to be static", it asks for Select TF ops). `encode(portable=True)` runs the same
  cells in a while loop that fills fixed-shape buffers with `where`, and greedy decoding does the
  same (tasks/text.py); the id endpoint that ONNX and TFLite both export is built from those, so
  both run one graph (WHILE / Loop and plain tensor ops).
- Training runs the readout and output layers once over all steps, outside the recurrence.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import text as text_task

text_task.register_keras_objects()

# RNNsearch-50 (Appendix A.2): vocabulary, embedding m, encoder/decoder n, alignment n′, maxout l.
RNNSEARCH = dict(
    source_vocabulary_size=30_000,
    target_vocabulary_size=30_000,
    embedding_dim=620,
    encoder_units=1000,
    decoder_units=1000,
    attention_units=1000,
    maxout_units=500,
    maxout_pieces=2,
)


def paper_parameter_count(source_vocabulary_size, target_vocabulary_size, embedding_dim, encoder_units,
                          decoder_units, attention_units, maxout_units, maxout_pieces=2, **_):
    """Trainable parameters of the paper's equations (Appendix A), biases omitted as there."""
    m, n, d, a, l = embedding_dim, encoder_units, decoder_units, attention_units, maxout_units
    encoder = source_vocabulary_size * m + 2 * 3 * (n * m + n * n)  # E shared; W, W_z, W_r, U, U_z, U_r per direction
    initial = n * d  # W_s
    alignment = a + a * d + a * 2 * n  # v_a, W_a, U_a
    decoder = target_vocabulary_size * m + 3 * (d * m + d * d + d * 2 * n)  # E; W, U, C per gate
    output = maxout_pieces * l * (d + m + 2 * n) + target_vocabulary_size * l  # U_o, V_o, C_o; W_o
    return encoder + initial + alignment + decoder + output


class _StepCell(keras.layers.Layer):
    """An RNN cell that runs `step(inputs, states) -> (output, states)` of the layer owning it.

    The owner keeps the weights; the cell holds only its bound method (a Layer attribute would
    make owner → RNN → cell → owner a tracking cycle).
    """

    def __init__(self, step, state_size, output_size, **kwargs):
        super().__init__(**kwargs)
        self.step = step
        self.state_size = list(state_size)
        self.output_size = int(output_size)

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, states):
        return self.step(inputs, states)


@keras.saving.register_keras_serializable(package="deepzoo")
class BidirectionalGRUEncoder(keras.layers.Layer):
    """The RNNsearch encoder: a forward and a backward GRU (Keras GRUCells, `reset_after=False`)
    over the embedded source, run together in one `keras.layers.RNN` loop; returns the annotations
    [h→_j; h←_j] [N, S, 2n] and h←_1 (the backward state after the whole sentence).

    Padded positions (mask False) keep each direction's state, so the backward GRU starts at the
    last real word. `portable=True` runs the same cells in a `while_loop` that fills fixed-shape
    buffers with `where` (no TensorList): ops that the TFLite builtins and tf2onnx convert.
    """

    def __init__(self, units, input_dim, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_dim = int(input_dim)
        self.forward_cell = keras.layers.GRUCell(self.units, reset_after=False, name="forward_gru")
        self.backward_cell = keras.layers.GRUCell(self.units, reset_after=False, name="backward_gru")
        # One step advances the forward GRU at position j and the backward GRU at S−1−j.
        cell = _StepCell(self.paired_step, [self.units, self.units], 2 * self.units, name="paired_step")
        self.rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True, name="rnn")

    def build(self, input_shape=None):
        self.forward_cell.build((None, self.input_dim))
        self.backward_cell.build((None, self.input_dim))
        self.rnn.build((None, None, 2 * self.input_dim + 2))
        self.built = True

    @staticmethod
    def advance(cell, x, keep, state):
        """One GRU step; a masked position (keep False) keeps the state, as Keras' masked RNN does."""
        new_state, _ = cell(x, [state])
        return ops.where(ops.expand_dims(keep, 1), new_state, state)

    def paired_step(self, inputs, states):
        """Input [x_j; x_{S−1−j}; mask_j; mask_{S−1−j}] -> ([h→_j; h←_{S−1−j}], states)."""
        width = self.input_dim
        forward = self.advance(self.forward_cell, inputs[:, :width], inputs[:, 2 * width] > 0.5, states[0])
        backward = self.advance(self.backward_cell, inputs[:, width : 2 * width], inputs[:, 2 * width + 1] > 0.5, states[1])
        return ops.concatenate([forward, backward], axis=-1), [forward, backward]

    def call(self, embedded, mask, portable=False):
        batch, length = ops.shape(embedded)[0], ops.shape(embedded)[1]
        zeros = ops.zeros((batch, self.units), embedded.dtype)
        if portable:
            return self._portable_call(embedded, ops.cast(mask, "bool"), zeros, length)
        keep = ops.expand_dims(ops.cast(mask, embedded.dtype), -1)
        paired = ops.concatenate([embedded, ops.flip(embedded, 1), keep, ops.flip(keep, 1)], axis=-1)
        outputs, _, backward_final = self.rnn(paired, initial_state=[zeros, zeros])
        annotations = ops.concatenate([outputs[..., : self.units], ops.flip(outputs[..., self.units :], 1)], axis=-1)
        return annotations, backward_final

    def _portable_call(self, embedded, mask, zeros, length):
        positions = ops.arange(length, dtype="int32")
        buffer = ops.zeros((ops.shape(embedded)[0], length, self.units), embedded.dtype)

        def write(outputs, position, state):
            at = ops.reshape(positions == position, (1, -1, 1))
            return ops.where(at, ops.expand_dims(state, 1), outputs)

        def body(t, forward, backward, forward_outputs, backward_outputs):
            r = length - 1 - t
            forward = self.advance(self.forward_cell, ops.take(embedded, t, axis=1), ops.take(mask, t, axis=1), forward)
            backward = self.advance(self.backward_cell, ops.take(embedded, r, axis=1), ops.take(mask, r, axis=1), backward)
            return t + 1, forward, backward, write(forward_outputs, t, forward), write(backward_outputs, r, backward)

        start = (ops.convert_to_tensor(0, "int32"), zeros, zeros, buffer, buffer)
        _, _, backward, forward_outputs, backward_outputs = ops.while_loop(lambda t, *_: t < length, body, start)
        return ops.concatenate([forward_outputs, backward_outputs], axis=-1), backward

    def compute_output_spec(self, embedded, mask, portable=False):
        batch, length = embedded.shape[0], embedded.shape[1]
        return (
            keras.KerasTensor((batch, length, 2 * self.units), dtype=self.compute_dtype),
            keras.KerasTensor((batch, self.units), dtype=self.compute_dtype),
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units, "input_dim": self.input_dim}


@keras.saving.register_keras_serializable(package="deepzoo")
class BahdanauDecoder(keras.layers.Layer):
    """The RNNsearch decoder: target embedding, alignment model, GRU and maxout readout.

    `call(decoder_ids, annotations, initial_state, source_mask)` is teacher forcing and returns the
    logits [N, T, V]: the attention–GRU recurrence in a `keras.layers.RNN`, then the readout and
    output layers once over all steps. `step(previous_ids, state, memory)` is one decoding step
    (greedy, beam search, alignments); both go through `recurrence` and `output_logits`.
    """

    def __init__(self, vocabulary_size, embedding_dim, units, attention_units, annotation_dim,
                 maxout_units, maxout_pieces=2, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.attention_units = int(attention_units)
        self.annotation_dim = int(annotation_dim)
        self.maxout_units = int(maxout_units)
        self.maxout_pieces = int(maxout_pieces)
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim, name="target_embedding")
        self.query_projection = keras.layers.Dense(self.attention_units, use_bias=False, name="W_a")
        self.key_projection = keras.layers.Dense(self.attention_units, use_bias=False, name="U_a")
        self.attention = keras.layers.AdditiveAttention(use_scale=True, name="v_a")
        self.cell = keras.layers.GRUCell(self.units, reset_after=False, name="gru")
        self.readout = keras.layers.Dense(self.maxout_units * self.maxout_pieces, name="readout")
        self.output_projection = keras.layers.Dense(self.vocabulary_size, name="W_o")
        # The memory (annotations, U_a·h_j, source mask) rides along as constant states: Keras 3's
        # RNN takes no `constants`. Each step outputs [s_{i−1}; c_i] for the readout after the loop.
        cell = _StepCell(
            self.attention_step, [self.units, self.annotation_dim, self.attention_units, 1],
            self.units + self.annotation_dim, name="attention_step",
        )
        self.rnn = keras.layers.RNN(cell, return_sequences=True, name="rnn")

    def build(self, input_shape=None):
        # Every width is a constructor argument, so the layer builds the same whatever it is called on.
        self.embedding.build((None,))
        self.query_projection.build((None, self.units))
        self.key_projection.build((None, None, self.annotation_dim))
        self.attention.build([(None, 1, self.attention_units), (None, None, self.annotation_dim), (None, None, self.attention_units)])
        self.cell.build((None, self.embedding_dim + self.annotation_dim))
        self.readout.build((None, self.units + self.embedding_dim + self.annotation_dim))
        self.output_projection.build((None, self.maxout_units))
        self.rnn.build((None, None, self.embedding_dim))
        self.built = True

    def memory(self, annotations, source_mask):
        """What every step reads: the annotations, their projections U_a·h_j and the source mask."""
        return {"annotations": annotations, "keys": self.key_projection(annotations), "mask": source_mask}

    def recurrence(self, embedded_previous, state, memory):
        """c_i and α_i from s_{i−1}, then s_i = GRU(s_{i−1}, [E·y_{i−1}; c_i])."""
        query = ops.expand_dims(self.query_projection(state), 1)
        context, alignment = self.attention(
            [query, memory["annotations"], memory["keys"]], mask=[None, memory["mask"]], return_attention_scores=True
        )
        context, alignment = context[:, 0], alignment[:, 0]
        new_state, _ = self.cell(ops.concatenate([embedded_previous, context], axis=-1), [state])
        return context, alignment, new_state

    def attention_step(self, embedded_previous, states):
        state, annotations, keys, mask = states
        memory = {"annotations": annotations, "keys": keys, "mask": mask[..., 0] > 0.5}
        context, _, new_state = self.recurrence(embedded_previous, state, memory)
        return ops.concatenate([state, context], axis=-1), [new_state, annotations, keys, mask]

    def output_logits(self, previous_state, embedded_previous, context):
        """Maxout readout of (s_{i−1}, E·y_{i−1}, c_i), then W_o: logits over the target words."""
        t = self.readout(ops.concatenate([previous_state, embedded_previous, context], axis=-1))
        t = ops.reshape(t, (*ops.shape(t)[:-1], self.maxout_units, self.maxout_pieces))
        return self.output_projection(ops.max(t, axis=-1))

    def step(self, previous_ids, state, memory):
        embedded = self.embedding(previous_ids)
        context, alignment, new_state = self.recurrence(embedded, state, memory)
        return self.output_logits(state, embedded, context), new_state, alignment

    def call(self, decoder_ids, annotations, initial_state, source_mask):
        memory = self.memory(annotations, source_mask)
        embedded = self.embedding(decoder_ids)  # [N, T, m]
        mask = ops.expand_dims(ops.cast(source_mask, annotations.dtype), -1)
        steps = self.rnn(embedded, initial_state=[initial_state, annotations, memory["keys"], mask])
        previous_states, contexts = steps[..., : self.units], steps[..., self.units :]
        return self.output_logits(previous_states, embedded, contexts)

    def compute_output_spec(self, decoder_ids, annotations, initial_state, source_mask):
        return keras.KerasTensor((*decoder_ids.shape, self.vocabulary_size), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention_units": self.attention_units,
            "annotation_dim": self.annotation_dim,
            "maxout_units": self.maxout_units,
            "maxout_pieces": self.maxout_pieces,
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class Seq2SeqBahdanau(ZooModel):
    """RNNsearch (Bahdanau et al. 2015): token ids in, next-token logits out (teacher forcing).

    Inputs: `source_ids` int32 [N, S] and `decoder_ids` int32 [N, T] ([start] y_1 .. y_{T−1}),
    0 = padding. Output: logits [N, T, target vocabulary]. Translation (greedy, beam search), the
    string endpoint and the alignment plots are the task's (tasks/text.py), through `encode` and
    `decode_step`.

    Args:
        source_vocabulary, target_vocabulary: token lists (index = id) adapted on the training
            split (`tasks.text.Seq2Seq.model_overrides`); None builds placeholder vocabularies of
            the given sizes. The source list starts with "", "[UNK]"; the target list with
            "", "[UNK]", "[start]", "[end]".
        source_vocabulary_size, target_vocabulary_size: sizes; must equal the lists' lengths when
            lists are given.
        embedding_dim: m (620). encoder_units: n per direction (1000). decoder_units (1000).
        attention_units: n′ of the alignment model (1000). maxout_units: l (500), maxout_pieces: 2.
        max_output_length: the decoding limit in tokens, [end] included.
    """

    def __init__(
        self,
        source_vocabulary=None,
        target_vocabulary=None,
        source_vocabulary_size=30_000,
        target_vocabulary_size=30_000,
        embedding_dim=620,
        encoder_units=1000,
        decoder_units=1000,
        attention_units=1000,
        maxout_units=500,
        maxout_pieces=2,
        max_output_length=50,
        name="seq2seq_bahdanau",
        **kwargs,
    ):
        self.source_vocabulary = self._vocabulary(source_vocabulary, source_vocabulary_size, text_task.SOURCE_SPECIALS, "source")
        self.target_vocabulary = self._vocabulary(target_vocabulary, target_vocabulary_size, text_task.TARGET_SPECIALS, "target")
        if int(max_output_length) < 1:
            raise ValueError(f"max_output_length must be at least 1. Received: max_output_length={max_output_length}")
        self.max_output_length = int(max_output_length)

        source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
        decoder_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_ids")
        source_embedding = keras.layers.Embedding(len(self.source_vocabulary), embedding_dim, name="source_embedding")
        encoder = BidirectionalGRUEncoder(encoder_units, embedding_dim, name="encoder")
        initial_state = keras.layers.Dense(decoder_units, activation="tanh", name="W_s")
        decoder = BahdanauDecoder(
            len(self.target_vocabulary), embedding_dim, decoder_units, attention_units, 2 * encoder_units,
            maxout_units, maxout_pieces, name="decoder",
        )
        source_mask = ops.not_equal(source_ids, 0)
        annotations, backward_state = encoder(source_embedding(source_ids), source_mask)
        logits = decoder(decoder_ids, annotations, initial_state(backward_state), source_mask)
        super().__init__(inputs={"source_ids": source_ids, "decoder_ids": decoder_ids}, outputs=logits, name=name, **kwargs)

    @staticmethod
    def _vocabulary(vocabulary, size, specials, side):
        if vocabulary is None:
            return text_task.placeholder_vocabulary(int(size), specials)
        vocabulary = text_task.check_vocabulary(vocabulary, specials, f"{side}_vocabulary")
        if size is not None and int(size) != len(vocabulary):
            raise ValueError(
                f"{side}_vocabulary_size must equal the length of {side}_vocabulary. "
                f"Received: {side}_vocabulary_size={size}, {len(vocabulary)} tokens"
            )
        return vocabulary

    # --- the decoding protocol of tasks/text.py -------------------------------------------------

    def encode(self, source_ids, portable=False):
        """(memory, s_0) of a batch of source ids; `portable` avoids TensorList ops (see module doc)."""
        source_ids = ops.cast(source_ids, "int32")
        mask = ops.not_equal(source_ids, 0)
        embedded = self.get_layer("source_embedding")(source_ids)
        annotations, backward_state = self.get_layer("encoder")(embedded, mask, portable=portable)
        decoder = self.get_layer("decoder")
        return decoder.memory(annotations, mask), self.get_layer("W_s")(backward_state)

    def decode_step(self, previous_ids, state, memory):
        """(logits [N, V], s_i, α_i [N, S]) of one step from y_{i−1} and s_{i−1}."""
        return self.get_layer("decoder").step(ops.cast(previous_ids, "int32"), state, memory)

    def alignments(self, source_ids, decoder_ids):
        """α [N, T, S] under teacher forcing with `decoder_ids` (one decode_step per position)."""
        memory, state = self.encode(source_ids)
        decoder_ids = ops.cast(decoder_ids, "int32")
        alignments = []
        for t in range(int(ops.shape(decoder_ids)[1])):
            _, state, alignment = self.decode_step(decoder_ids[:, t], state, memory)
            alignments.append(alignment)
        return ops.stack(alignments, axis=1)


register(
    ModelSpec(
        name="seq2seq_bahdanau",
        family="sequence",
        task="translation",
        builder=Seq2SeqBahdanau,
        canonical_config=dict(RNNSEARCH, max_output_length=50),
        tiny_config=dict(
            source_vocabulary_size=48, target_vocabulary_size=48, embedding_dim=32, encoder_units=64,
            decoder_units=64, attention_units=64, maxout_units=64, max_output_length=24,
        ),
        reference_params=paper_parameter_count(**RNNSEARCH),
        reference_source="P (counted from the matrices of Appendix A for RNNsearch-50; the paper prints no total and omits biases)",
        paper="Bahdanau, Cho & Bengio 2015, ICLR (arXiv 1409.0473)",
        seeds=("000", "003"),
        default_dataset="translation",
        # The paper: Adadelta (ε = 1e-6, ρ = 0.95), minibatches of 80, gradient norm clipped at 1.
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=15, clipnorm=1.0),
        inputs=(TensorSpec("source_ids", (None,), "int32"), TensorSpec("decoder_ids", (None,), "int32")),
        outputs=(TensorSpec("translation", (), "string"),),
        export_endpoint=(
            "SavedModel: source string [N] → translation string [N] (TextVectorization, greedy loop up to "
            "max_output_length, StringLookup in the graph). ONNX / TFLite: source_ids int32 [N, S] → "
            "target_ids int32 [N, max_output_length], source_vocabulary.txt / target_vocabulary.txt beside "
            "the artifact: tf2onnx 1.17 does not convert StaticRegexReplace / StringSplitV2 / "
            "UnsortedSegmentJoin, and TFLite builtins lack StringLower, StaticRegexReplace, StringSplitV2, "
            "RaggedTensorToTensor and UnsortedSegmentJoin (Select TF ops only)."
        ),
        notes=(
            "Reproduces RNNsearch-50's architecture at the paper's size (BiGRU 2×1000, embeddings 620, "
            "alignment 1000, maxout 500, 30k vocabularies; 80,442,000 parameters with biases vs 80,401,000 "
            "from the paper's bias-free equations). Not reproduced: the WMT'14 En–Fr data, Adadelta, the 5-day "
            "training, the beam size 12 used in the paper's tables (beam size is a predict() option). "
            "The readout takes s_{i−1} as Appendix A.2.2 writes it. See the module docstring for the "
            "recurrence and export notes (no cuDNN kernel; a TensorList-free encoder for the id endpoint)."
        ),
    )
)
