"""Recurrent networks of family H: the cell rows, stacked and bidirectional RNNs, the many-to-one
text classifier and the BiLSTM tagger.

References:
    elman_rnn          Elman 1990, Cognitive Science 14: h_t = tanh(W_hx·x_t + W_hh·h_{t−1} + b_h)
                       (the context units hold h_{t−1}); Keras SimpleRNNCell.
    lstm               Hochreiter & Schmidhuber 1997 + Gers, Schmidhuber & Cummins 2000 (forget
                       gate, bias 1); Keras LSTMCell. forget_gate=False: the 1997 CEC cell (cells.py).
    lstm_peephole      Gers & Schmidhuber 2000, IJCNN: diagonal peepholes; the notes' full-matrix
                       form with cell_options={"peephole": "full"} (cells.py).
    lstm_coupled       Greff et al. 2017, IEEE TNNLS: CIFG, i = 1 − f (cells.py).
    gru                Cho et al. 2014, EMNLP: h_t = z ⊙ h_{t−1} + (1 − z) ⊙ h̃_t (Keras/Cho form;
                       the notes' 004 form (1 − z) ⊙ h_{t−1} + z ⊙ h̃_t is the same cell with
                       z ↔ 1 − z, spec §9 #69). cell_options={"reset_after": False} applies the
                       reset gate before the recurrent product (the paper); True (default) after it
                       (the cuDNN form, +3n biases).
    stacked_rnn        Graves, Mohamed & Hinton 2013, ICASSP: depth × recurrent layers with
                       return_sequences between them, a softmax at every step.
    bidirectional_rnn  Schuster & Paliwal 1997, IEEE TSP: forward and backward stacks over the same
                       input, concatenated (Keras Bidirectional(merge_mode="concat")).
    lstm_classifier    many-to-one: Embedding(mask_zero) → (Bi)LSTM → last state → Dense softmax.
    sequence_tagger    Huang, Xu & Yu 2015 (arXiv 1508.01991): Embedding → BiLSTM → per-token softmax
                       (the CRF layer is optional there and not built here).

Cell rows (elman_rnn .. gru) are many-to-one classifiers of a feature sequence [T, F]: the
recurrence's last state → Dense softmax. The token models (lstm_classifier, sequence_tagger) mask
padding: Embedding(mask_zero=True) feeds the mask to the recurrence, which keeps its state over
padded steps, so padding never changes an output.

Export: Keras' RNN loop collects its outputs in TensorLists; tf2onnx converts them, the TFLite
converter restricted to builtins does not ("'tf.TensorListReserve' op requires element_shape to
be static", measured with Keras 3.15 / TF 2.21). `unroll=True` (fixed sequence length) builds the
steps as plain ops, which every format converts; the registered configs loop (an unrolled graph
costs 2.5x the XLA compile time) and declare the TFLite formats as limitations with that reason.
"""

import keras

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.sequence.cells import cell_parameter_count, make_cell
from tasks import TensorSpec
from tasks import sequence as sequence_task
from tasks.text import check_vocabulary, placeholder_vocabulary

sequence_task.register_keras_objects()


def _rnn(cell, units, options, return_sequences, unroll, name):
    return keras.layers.RNN(
        make_cell(cell, units, name=f"{name}_cell", **(options or {})),
        return_sequences=return_sequences, unroll=bool(unroll), name=name,
    )


def _vocabulary(vocabulary, vocabulary_size):
    if vocabulary is None:
        return placeholder_vocabulary(int(vocabulary_size), sequence_task.TEXT_SPECIALS)
    vocabulary = check_vocabulary(vocabulary, sequence_task.TEXT_SPECIALS, "vocabulary")
    if vocabulary_size is not None and int(vocabulary_size) != len(vocabulary):
        raise ValueError(f"vocabulary_size must equal len(vocabulary). Received: vocabulary_size={vocabulary_size}, len(vocabulary)={len(vocabulary)}")
    return vocabulary


# --- feature sequences --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class RecurrentClassifier(ZooModel):
    """Many-to-one: sequence [T, F] → one recurrent layer of `cell` → last state → Dense softmax.

    Args:
        input_shape: (T, F); T may be None (any length) unless `unroll`.
        num_classes: output classes.
        cell: a kind of `cells.CELL_KINDS` ("simple", "lstm", "peephole", "cifg", "cec", "gru").
        units: n, the state size.
        cell_options: constructor options of the cell (e.g. {"peephole": "full"}, {"reset_after": False}).
        unroll: build the T steps as plain ops (fixed T), for TFLite builtins.
    """

    def __init__(self, input_shape=(None, 31), num_classes=31, cell="simple", units=150, cell_options=None,
                 unroll=False, name=None, **kwargs):
        inputs = keras.Input(shape=tuple(input_shape), name="sequence")
        state = _rnn(cell, units, cell_options, False, unroll, "recurrent")(inputs)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(state)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"{cell}_rnn_classifier", **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class StackedRNN(ZooModel):
    """Many-to-many: `depth` recurrent layers (return_sequences) → Dense softmax at every step.

    `bidirectional=True` runs each layer forwards and backwards and concatenates them (Schuster &
    Paliwal); `units` is per direction.
    """

    def __init__(self, input_shape=(None, 123), num_classes=62, cell="peephole", units=421, depth=3,
                 bidirectional=False, cell_options=None, unroll=False, name=None, **kwargs):
        if int(depth) < 1:
            raise ValueError(f"depth must be at least 1. Received: depth={depth}")
        inputs = keras.Input(shape=tuple(input_shape), name="sequence")
        x = inputs
        for index in range(int(depth)):
            layer = _rnn(cell, units, cell_options, True, unroll, f"recurrent_{index + 1}")
            if bidirectional:
                layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=f"bidirectional_{index + 1}")
            x = layer(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or ("bidirectional_rnn" if bidirectional else "stacked_rnn"), **kwargs)
        self.vocabulary = None
        self.sequence_length = input_shape[0]


# --- token sequences ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class TextRNNClassifier(ZooModel):
    """Many-to-one text classifier: token ids → Embedding(mask_zero) → (Bi)LSTM → last state →
    Dense softmax. The vocabulary (a TextVectorization vocabulary, ids 0 pad and 1 [UNK]) is a
    constructor argument, so the `.keras` file carries it."""

    def __init__(self, vocabulary_size=20_000, num_classes=2, embedding_dim=128, units=128, cell="lstm",
                 bidirectional=False, sequence_length=None, vocabulary=None, cell_options=None, unroll=False,
                 name=None, **kwargs):
        vocabulary = _vocabulary(vocabulary, vocabulary_size)
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(len(vocabulary), embedding_dim, mask_zero=True, name="embedding")(inputs)
        layer = _rnn(cell, units, cell_options, False, unroll, "recurrent")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", name="bidirectional")
        x = layer(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "lstm_classifier", **kwargs)
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length


@keras.saving.register_keras_serializable(package="deepzoo")
class SequenceTagger(ZooModel):
    """BiLSTM tagger (Huang, Xu & Yu 2015): token ids → Embedding(mask_zero) → `depth` ×
    Bidirectional(LSTM, return_sequences) → per-token Dense softmax over `num_classes` tags."""

    def __init__(self, vocabulary_size=130_000, num_classes=9, embedding_dim=50, units=300, depth=1, cell="lstm",
                 sequence_length=None, vocabulary=None, cell_options=None, unroll=False, name=None, **kwargs):
        vocabulary = _vocabulary(vocabulary, vocabulary_size)
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(len(vocabulary), embedding_dim, mask_zero=True, name="embedding")(inputs)
        for index in range(int(depth)):
            layer = _rnn(cell, units, cell_options, True, unroll, f"recurrent_{index + 1}")
            x = keras.layers.Bidirectional(layer, merge_mode="concat", name=f"bidirectional_{index + 1}")(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="tags")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "sequence_tagger", **kwargs)
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length


# --- parameter counts (the spec's formulas) -----------------------------------------------------


def classifier_parameter_count(input_shape, num_classes, cell, units, cell_options=None, **_):
    return cell_parameter_count(cell, units, input_shape[-1], **(cell_options or {})) + (units + 1) * num_classes


def stacked_parameter_count(input_shape, num_classes, cell, units, depth, bidirectional=False, cell_options=None, **_):
    directions = 2 if bidirectional else 1
    total, width = 0, input_shape[-1]
    for _ in range(depth):
        total += directions * cell_parameter_count(cell, units, width, **(cell_options or {}))
        width = directions * units
    return total + (width + 1) * num_classes


# --- registry -----------------------------------------------------------------------------------

# Tiny: 12 steps of 4 features, 8 units, 4 classes.
TINY_SEQUENCE = dict(input_shape=(12, 4), num_classes=4, units=8)
SEQUENCE_INPUT = (TensorSpec("sequence", (None, None), "float32"),)
TOKEN_INPUT = (TensorSpec("token_ids", (None,), "int32"),)
TFLITE_REASON = (
    "Keras' RNN loop collects its outputs in TensorLists, which the builtins-only TFLite converter rejects "
    "('tf.TensorListReserve' op requires element_shape to be static; Keras 3.15, TF 2.21). Built with unroll=True and "
    "a fixed length the same model converts with builtins only (tests/test_sequence_rnn.py); the registered configs "
    "loop, because an unrolled graph costs 2.5x the XLA compile time and grows with the length."
)
# Every TFLite variant (fp32, fp16, dynamic-range, full-integer int8) has the same reason.
RNN_LIMITATIONS = {variant: TFLITE_REASON for variant in ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8")}
UNROLL_NOTE = "TFLite builtins need unroll=True and a fixed sequence length (see limitations)."

# Elman 1990 §"Discovering the notion of word": 31-bit word vectors in and out, 150 hidden units.
ELMAN = dict(input_shape=(None, 31), num_classes=31, cell="simple", units=150)
# The gated cells' papers train many sizes and fix none; the canonical size is the one Graves et
# al. 2013 use per layer in the unidirectional stack (421 units) over 123 filter-bank features.
GATED = dict(input_shape=(None, 123), num_classes=62, units=421)

CELL_ROWS = {
    "elman_rnn": dict(
        canonical=ELMAN, tiny=dict(TINY_SEQUENCE, cell="simple"),
        paper="Elman 1990, Cognitive Science 14(2)", seeds=("000", "002", "003", "004"),
        source="B (n(n + m + 1) + (n + 1)K of the spec for Elman's 31-150-31 word-prediction network; the paper prints no total)",
        notes="Keras SimpleRNNCell is Elman's network (context units = h_{t−1}); 'Hellman networks' in 000 is a slip (spec §9 #52).",
    ),
    "lstm": dict(
        canonical=dict(GATED, cell="lstm"), tiny=dict(TINY_SEQUENCE, cell="lstm"),
        paper="Hochreiter & Schmidhuber 1997, Neural Computation 9(8); Gers, Schmidhuber & Cummins 2000 (forget gate)",
        seeds=("000", "002", "003", "004"),
        source="B (4(n(n + m) + n) + (n + 1)K of the spec at n = 421, m = 123, K = 62; no paper prints a total)",
        notes=(
            "Keras LSTMCell, forget-gate bias 1. cell_options={'forget_gate': False} (or cell='cec') is the 1997 cell "
            "without a forget gate (3(n(n + m) + n))."
        ),
    ),
    "lstm_peephole": dict(
        canonical=dict(GATED, cell="peephole"), tiny=dict(TINY_SEQUENCE, cell="peephole"),
        paper="Gers & Schmidhuber 2000, IJCNN", seeds=("004",),
        source="B (4(n(n + m) + n) + 3n + (n + 1)K at n = 421, m = 123, K = 62; the paper prints no total)",
        notes="Diagonal peepholes (the paper); cell_options={'peephole': 'full'} is the notes' [C, h, x] matrix form (+3n² instead of 3n).",
    ),
    "lstm_coupled": dict(
        canonical=dict(GATED, cell="cifg"), tiny=dict(TINY_SEQUENCE, cell="cifg"),
        paper="Greff, Srivastava, Koutník, Steunebrink & Schmidhuber 2017, IEEE TNNLS 28(10)", seeds=("004",),
        source="B (3(n(n + m) + n) + (n + 1)K at n = 421, m = 123, K = 62; the paper prints no total)",
        notes="CIFG without peepholes, as the spec counts it (Greff's CIFG keeps the vanilla peepholes: cell_options={'peephole': 'diagonal'}).",
    ),
    "gru": dict(
        canonical=dict(GATED, cell="gru", cell_options={"reset_after": False}),
        tiny=dict(TINY_SEQUENCE, cell="gru", cell_options={"reset_after": False}),
        paper="Cho et al. 2014, EMNLP", seeds=("000", "003", "004"),
        source="B (3(n(n + m) + n) + (n + 1)K at n = 421, m = 123, K = 62, reset_after=False as in the paper)",
        notes=(
            "Keras GRUCell. reset_after=False applies r before the recurrent product (Cho et al.); True is the cuDNN "
            "form (+3n). h = z ⊙ h_{t−1} + (1 − z) ⊙ h̃ (Keras/Cho); the notes' 004 form swaps z and 1 − z (spec §9 #69)."
        ),
    ),
}

for _name, _row in CELL_ROWS.items():
    register(
        ModelSpec(
            name=_name,
            family="sequence",
            task="classification",
            builder=RecurrentClassifier,
            canonical_config=_row["canonical"],
            tiny_config=_row["tiny"],
            reference_params=classifier_parameter_count(**_row["canonical"]),
            reference_source=_row["source"],
            paper=_row["paper"],
            seeds=_row["seeds"],
            default_dataset="delayed_echo",
            train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=64, epochs=20, clipnorm=5.0),
            inputs=SEQUENCE_INPUT,
        limitations=RNN_LIMITATIONS,
            outputs=(TensorSpec("output", (None,), "float32"),),
            notes=_row["notes"] + " " + UNROLL_NOTE,
        )
    )

# Graves, Mohamed & Hinton 2013, Table 1: CTC-3L-421H-UNI (3 unidirectional layers of 421 peephole
# LSTM units) and CTC-3L-250H (3 bidirectional layers of 250), both "3.8 M" weights, over 123
# filter-bank inputs (40 + energy, Δ, ΔΔ) and 62 outputs (61 phones + blank).
GRAVES_UNI = dict(input_shape=(None, 123), num_classes=62, cell="peephole", units=421, depth=3)
GRAVES_BI = dict(input_shape=(None, 123), num_classes=62, cell="peephole", units=250, depth=3, bidirectional=True)
TINY_STACKED = dict(TINY_SEQUENCE, cell="lstm", depth=2)

register(
    ModelSpec(
        name="stacked_rnn",
        family="sequence",
        task="sequence_tagging",
        builder=StackedRNN,
        canonical_config=GRAVES_UNI,
        tiny_config=TINY_STACKED,
        reference_params=3_800_000,
        reference_source="P (Graves et al. 2013 Table 1, CTC-3L-421H-UNI: 3.8 M weights, printed rounded)",
        paper="Graves, Mohamed & Hinton 2013, ICASSP", seeds=("000", "003"),
        default_dataset="delayed_sum_steps",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=64, epochs=20, clipnorm=5.0),
        inputs=SEQUENCE_INPUT,
        limitations=RNN_LIMITATIONS,
        outputs=(TensorSpec("probabilities", (None, None), "float32"),),
        notes=(
            "Peephole LSTM layers as in the paper; the framewise softmax stands for the CTC/transducer output (62 = "
            "61 phones + blank). cell, depth and units are constructor arguments. " + UNROLL_NOTE
        ),
    )
)

register(
    ModelSpec(
        name="bidirectional_rnn",
        family="sequence",
        task="sequence_tagging",
        builder=StackedRNN,
        canonical_config=GRAVES_BI,
        tiny_config=dict(TINY_STACKED, depth=1, bidirectional=True),
        reference_params=3_800_000,
        reference_source="P (Graves et al. 2013 Table 1, CTC-3L-250H: 3.8 M weights, printed rounded)",
        paper="Schuster & Paliwal 1997, IEEE TSP 45(11); size from Graves, Mohamed & Hinton 2013", seeds=("000", "003"),
        default_dataset="lookahead_steps",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=64, epochs=20, clipnorm=5.0),
        inputs=SEQUENCE_INPUT,
        limitations=RNN_LIMITATIONS,
        outputs=(TensorSpec("probabilities", (None, None), "float32"),),
        notes=(
            "Keras Bidirectional(merge_mode='concat') around each layer. Schuster & Paliwal give no reusable layer table; "
            "the canonical size is Graves et al.'s bidirectional 3 × 250 peephole-LSTM network. " + UNROLL_NOTE
        ),
    )
)

# Keras' IMDB LSTM example sizes: 20,000 words, 128-d embeddings, 128 LSTM units, 2 classes.
TEXT_CLASSIFIER = dict(vocabulary_size=20_000, num_classes=2, embedding_dim=128, units=128)

register(
    ModelSpec(
        name="lstm_classifier",
        family="sequence",
        task="text_classification",
        builder=TextRNNClassifier,
        canonical_config=TEXT_CLASSIFIER,
        tiny_config=dict(vocabulary_size=64, num_classes=2, embedding_dim=8, units=8),
        reference_params=20_000 * 128 + 4 * (128 * (128 + 128) + 128) + 129 * 2,
        reference_source="B (V·m + 4(n(n + m) + n) + (n + 1)K of the spec's Embedding → LSTM → Dense; no paper count)",
        paper="Many-to-one LSTM classifier (spec §2 H; Hochreiter & Schmidhuber 1997 cell)", seeds=("000", "003"),
        default_dataset="sentiment",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=32, epochs=15, clipnorm=5.0),
        inputs=TOKEN_INPUT,
        limitations=RNN_LIMITATIONS,
        outputs=(TensorSpec("probabilities", (None,), "float32"),),
        notes=(
            "Softmax output (the notes' score in [−1, 1] is a tanh head on the same state). bidirectional=True gives the "
            "BiLSTM form. The vocabulary is adapted on the training split and saved in the model's config. " + UNROLL_NOTE
        ),
    )
)

# Huang, Xu & Yu 2015: Senna embeddings (130 K words, 50-d), one BiLSTM layer, CoNLL-2003 NER's 9 IOB tags.
HUANG_TAGGER = dict(vocabulary_size=130_000, num_classes=9, embedding_dim=50, units=300)

register(
    ModelSpec(
        name="sequence_tagger",
        family="sequence",
        task="sequence_tagging",
        builder=SequenceTagger,
        canonical_config=HUANG_TAGGER,
        tiny_config=dict(vocabulary_size=64, num_classes=3, embedding_dim=8, units=8),
        reference_params=130_000 * 50 + 2 * 4 * (300 * (300 + 50) + 300) + (600 + 1) * 9,
        reference_source="B (V·m + 2·4(n(n + m) + n) + (2n + 1)K at Senna's 130 K × 50 embeddings, n = 300, 9 tags; the paper prints no total)",
        paper="Huang, Xu & Yu 2015, arXiv 1508.01991", seeds=("003",),
        default_dataset="ner",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=32, epochs=15, clipnorm=5.0),
        inputs=TOKEN_INPUT,
        limitations=RNN_LIMITATIONS,
        outputs=(TensorSpec("probabilities", (None, None), "float32"),),
        notes="BiLSTM without the optional CRF layer; per-token softmax with padding masked. " + UNROLL_NOTE,
    )
)
