"""Next-token language models: char-RNN, the RNN language model and Bengio's neural LM.

References:
    Karpathy 2015, "The unreasonable effectiveness of recurrent neural networks" (min-char-rnn;
        char-rnn: 2-layer LSTM, 512 units, one-hot characters, temperature sampling).
    Mikolov, Karafiát, Burget, Černocký & Khudanpur 2010, "Recurrent neural network based language
        model", Interspeech: s(t) = sigmoid(U·w(t) + W·s(t−1)), y(t) = softmax(V·s(t)).
    Bengio, Ducharme, Vincent & Jauvin 2003, "A neural probabilistic language model", JMLR 3:
        x = (C(w_{t−1}), .., C(w_{t−n+1})), y = b + W·x + U·tanh(d + H·x), softmax over V; the
        direct connections W are optional. Free parameters |V|(1 + nm + h) + h(1 + (n − 1)m) (§2).

Every model maps token ids [N, T] ([start] w_1 ..) to next-token logits [N, T, V]; position t
sees tokens 0..t only (causal), so right padding changes no earlier output. The task
(tasks/language.py) owns tokenisation, perplexity, sampling and the endpoint (logits after the
last real token). Bengio's model is written as a causal window over the sequence: position t
reads the n − 1 tokens t, t−1, .., t−n+2 (ids before the start are padding, id 0, whose C row is
learnt like any other), so one call scores every position of a sentence.

Export: the recurrent models' Keras RNN loops collect outputs in TensorLists, which the
builtins-only TFLite converter rejects (the same reason as tests/test_sequence_rnn.py's rows,
`recurrent.RNN_LIMITATIONS`); SavedModel and ONNX export them. Bengio's model has no loop and
exports to every format.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.sequence.recurrent import RNN_LIMITATIONS
from tasks import TensorSpec
from tasks import language as language_task
from tasks import text as text_task

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}

# Karpathy's char-rnn defaults (train.lua: rnn_size 512, num_layers 2) over tiny-shakespeare's 65 characters.
CHAR_RNN = dict(vocabulary_size=65, cell="lstm", units=512, num_layers=2)
# Mikolov et al. 2010: one sigmoid hidden layer; the paper trains 60..400 units on WSJ / NIST. The
# canonical row is 250 units over the 10k vocabulary of the Penn Treebank benchmark (Mikolov 2011).
RNNLM = dict(vocabulary_size=10_000, embedding_dim=250, cell="simple", units=250, num_layers=1, activation="sigmoid")
# Bengio et al. 2003, Table 1, MLP1 on the Brown corpus: n = 5, m = 60, h = 50, direct connections, |V| = 16,383.
NNLM = dict(vocabulary_size=16_383, context_size=4, embedding_dim=60, hidden_units=50, direct_connections=True)


def recurrent_parameter_count(vocabulary_size, units, num_layers, cell="lstm", embedding_dim=None, **_):
    """Parameters of the Keras build: embedding (or one-hot), the layers' kernels and biases, Dense(V)."""
    gates = {"lstm": 4, "gru": 3, "simple": 1}[cell]
    extra_bias = units * gates if cell == "gru" else 0  # Keras' GRU is reset_after: two bias vectors
    width = embedding_dim or vocabulary_size
    count = vocabulary_size * embedding_dim if embedding_dim else 0
    for _layer in range(num_layers):
        count += gates * units * (width + units + 1) + extra_bias
        width = units
    return count + units * vocabulary_size + vocabulary_size


def nnlm_parameter_count(vocabulary_size, context_size, embedding_dim, hidden_units, direct_connections=True, **_):
    """Bengio et al. (2003, §2): |V|(1 + nm + h) + h(1 + (n − 1)m), n − 1 = context_size; without
    the direct connections W, |V|(n − 1)m fewer."""
    v, n, m, h = vocabulary_size, context_size + 1, embedding_dim, hidden_units
    total = v * (1 + n * m + h) + h * (1 + (n - 1) * m)
    return total if direct_connections else total - v * (n - 1) * m


def _vocabulary(vocabulary, size):
    if vocabulary is None:
        return text_task.placeholder_vocabulary(int(size), language_task.LM_SPECIALS)
    vocabulary = text_task.check_vocabulary(vocabulary, language_task.LM_SPECIALS, "vocabulary")
    if size is not None and int(size) != len(vocabulary):
        raise ValueError(f"vocabulary_size must equal the length of vocabulary. Received: vocabulary_size={size}, {len(vocabulary)} tokens")
    return vocabulary


@keras.saving.register_keras_serializable(package="deepzoo")
class OneHot(keras.layers.Layer):
    """Token ids [N, T] -> one-hot float [N, T, depth] (char-rnn's input encoding)."""

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = int(depth)

    def call(self, ids):
        return ops.one_hot(ops.cast(ids, "int32"), self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


@keras.saving.register_keras_serializable(package="deepzoo")
class CausalContext(keras.layers.Layer):
    """Token ids [N, T] -> [N, T, n−1]: at position t the ids t, t−1, .., t−n+2 (0 before the start)."""

    def __init__(self, context_size, **kwargs):
        super().__init__(**kwargs)
        self.context_size = int(context_size)

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        steps = ops.shape(ids)[1]
        shifted = [ops.pad(ids, [[0, 0], [k, 0]])[:, :steps] for k in range(self.context_size)]
        return ops.stack(shifted, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.context_size)

    def compute_output_spec(self, ids):
        return keras.KerasTensor((*ids.shape, self.context_size), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "context_size": self.context_size}


@keras.saving.register_keras_serializable(package="deepzoo")
class RecurrentLanguageModel(ZooModel):
    """Embedding (or one-hot) → `num_layers` recurrent layers → Dense(V): next-token logits.

    Args:
        vocabulary: token list adapted on the training split (starts "", [UNK], [start], [end]);
            None builds a placeholder vocabulary of `vocabulary_size`.
        vocabulary_size: V.
        split: "whitespace" (words) or "character".
        embedding_dim: width of a trainable embedding, or None for one-hot inputs (char-rnn).
        cell: "lstm", "gru" or "simple" (Elman / Mikolov). units: h per layer. num_layers.
        activation: the recurrence's activation (Mikolov's RNNLM: sigmoid).
    """

    def __init__(self, vocabulary=None, vocabulary_size=10_000, split="whitespace", embedding_dim=250, cell="lstm",
                 units=250, num_layers=1, activation="tanh", name="rnn_lm", **kwargs):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}. Received: cell={cell!r}")
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be at least 1. Received: num_layers={num_layers}")
        self.vocabulary = _vocabulary(vocabulary, vocabulary_size)
        self.split = language_task._check_split(split)
        size = len(self.vocabulary)
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        if embedding_dim:
            h = keras.layers.Embedding(size, int(embedding_dim), name="embedding")(ids)
        else:
            h = OneHot(size, name="one_hot")(ids)
        for index in range(int(num_layers)):
            options = {"activation": activation} if activation != "tanh" else {}
            h = CELLS[cell](int(units), return_sequences=True, name=f"{cell}_{index + 1}", **options)(h)
        logits = keras.layers.Dense(size, name="next_token")(h)
        super().__init__(inputs=ids, outputs=logits, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class CharRNN(RecurrentLanguageModel):
    """char-rnn: one-hot characters → stacked LSTM → Dense(V) (Karpathy 2015).

    Args:
        characters: the character vocabulary adapted on the training split (starts "", [UNK],
            [start], [end]); None builds a placeholder of `vocabulary_size`.
    """

    def __init__(self, characters=None, vocabulary_size=65, cell="lstm", units=512, num_layers=2, name="char_rnn_lm", **kwargs):
        super().__init__(vocabulary=characters, vocabulary_size=vocabulary_size, split="character", embedding_dim=None,
                         cell=cell, units=units, num_layers=num_layers, name=name, **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class BengioNNLM(ZooModel):
    """y = b + W·x + U·tanh(d + H·x) with x the concatenated features of the n − 1 previous words.

    Args:
        vocabulary, vocabulary_size, split: as `RecurrentLanguageModel`.
        context_size: n − 1 words of context. embedding_dim: m (the rows of C). hidden_units: h.
        direct_connections: the optional word-features-to-output weights W (no bias: b is U's).
    """

    def __init__(self, vocabulary=None, vocabulary_size=16_383, split="whitespace", context_size=4, embedding_dim=60,
                 hidden_units=50, direct_connections=True, name="nnlm_bengio", **kwargs):
        if int(context_size) < 1:
            raise ValueError(f"context_size must be at least 1. Received: context_size={context_size}")
        self.vocabulary = _vocabulary(vocabulary, vocabulary_size)
        self.split = language_task._check_split(split)
        size, m = len(self.vocabulary), int(embedding_dim)
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        context = CausalContext(int(context_size), name="context")(ids)  # [N, T, n−1]
        features = keras.layers.Embedding(size, m, name="C")(context)  # [N, T, n−1, m]
        x = keras.layers.Reshape((-1, int(context_size) * m), name="x")(features)
        hidden = keras.layers.Dense(int(hidden_units), activation="tanh", name="H")(x)  # tanh(d + Hx)
        logits = keras.layers.Dense(size, name="U")(hidden)  # b + U·tanh(d + Hx)
        if direct_connections:
            logits = keras.layers.Add(name="y")([logits, keras.layers.Dense(size, use_bias=False, name="W")(x)])
        super().__init__(inputs=ids, outputs=logits, name=name, **kwargs)


LM_INPUTS = (TensorSpec("token_ids", (None,), "int32"),)
LM_OUTPUTS = (TensorSpec("next_token_logits", (None,), "float32"),)
LM_ENDPOINT = "token_ids int32 [N, T] → next_token_logits float32 [N, V] after each row's last real token; vocabulary.txt beside"
TINY_WORD_VOCABULARY = 48

register(
    ModelSpec(
        name="char_rnn_lm",
        family="sequence",
        task="language_model",
        builder=CharRNN,
        canonical_config=CHAR_RNN,
        tiny_config=dict(vocabulary_size=8, units=16, num_layers=1),
        reference_params=recurrent_parameter_count(**CHAR_RNN),
        reference_source="B (Keras build of char-rnn's defaults: one-hot 65 characters, 2 × LSTM(512), Dense(65))",
        paper="Karpathy 2015 (min-char-rnn; char-rnn: 2-layer LSTM 512, temperature sampling)",
        seeds=("004",),
        default_dataset="hello",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=16, epochs=60),
        limitations=RNN_LIMITATIONS,
        inputs=LM_INPUTS,
        outputs=LM_OUTPUTS,
        export_endpoint=LM_ENDPOINT,
        notes=(
            "65 characters = tiny-shakespeare's vocabulary; ours counts the 4 reserved ids (padding, [UNK], "
            "[start], [end]) in it. Torch char-rnn has two bias vectors per LSTM gate (4·512 per layer more) "
            "and dropout 0; Keras' LSTM has one. Truncated BPTT: sequences are cut at 64 tokens "
            "(tasks/language.py). Spec test: memorises 'hello' (tests/test_language.py)."
        ),
    )
)

register(
    ModelSpec(
        name="rnn_lm",
        family="sequence",
        task="language_model",
        builder=RecurrentLanguageModel,
        canonical_config=dict(RNNLM, name="rnn_lm"),
        tiny_config=dict(vocabulary_size=TINY_WORD_VOCABULARY, embedding_dim=16, cell="simple", units=16, activation="sigmoid"),
        reference_params=recurrent_parameter_count(**RNNLM),
        reference_source="B (Keras build: Embedding(V, h) → SimpleRNN(h, sigmoid) → Dense(V), V = 10,000, h = 250)",
        paper="Mikolov, Karafiát, Burget, Černocký & Khudanpur 2010, Interspeech (RNNLM)",
        seeds=("003", "000"),
        default_dataset="language",
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=20, clipnorm=5.0),
        limitations=RNN_LIMITATIONS,
        inputs=LM_INPUTS,
        outputs=LM_OUTPUTS,
        export_endpoint=LM_ENDPOINT,
        notes=(
            "Mikolov's s(t) = sigmoid(U·w(t) + W·s(t−1)) with a one-hot w(t): U·w(t) is an embedding lookup. "
            "Keras' SimpleRNN multiplies the embedding by one more input kernel (h² = 62,500 parameters, the "
            "same function class: a product of two linear maps). The paper trains with SGD and dynamic "
            "evaluation; neither is reproduced. cell='lstm' gives the spec's Embedding → LSTM → Dense(V); "
            "weight tying is not implemented."
        ),
    )
)

register(
    ModelSpec(
        name="nnlm_bengio",
        family="sequence",
        task="language_model",
        builder=BengioNNLM,
        canonical_config=NNLM,
        tiny_config=dict(vocabulary_size=TINY_WORD_VOCABULARY, context_size=3, embedding_dim=8, hidden_units=16),
        reference_params=nnlm_parameter_count(**NNLM),
        reference_source="P (Bengio et al. 2003 §2: |V|(1 + nm + h) + h(1 + (n−1)m) for MLP1 of Table 1: n = 5, m = 60, h = 50, |V| = 16,383)",
        paper="Bengio, Ducharme, Vincent & Jauvin 2003, JMLR 3 (A neural probabilistic language model)",
        seeds=("000",),
        default_dataset="language",
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=20),
        inputs=LM_INPUTS,
        outputs=LM_OUTPUTS,
        export_endpoint=LM_ENDPOINT,
        notes=(
            "Written as a causal window over the sentence so that one call scores every position (module "
            "docstring); positions before the start read padding ids. Not reproduced: the mixture with a "
            "trigram model, SGD with decaying rate and the parallel training of the paper."
        ),
    )
)
