"""Word embeddings: word2vec (CBOW, skip-gram) with negative sampling, and GloVe.

References:
    Mikolov, Chen, Corrado & Dean 2013, "Efficient estimation of word representations in vector
        space", ICLR workshop (CBOW: the average of the context words' vectors predicts the centre
        word; skip-gram: the centre word predicts each context word; window sampled in 1..c).
    Mikolov, Sutskever, Chen, Corrado & Dean 2013, "Distributed representations of words and
        phrases and their compositionality", NIPS: negative sampling
        log σ(v′_oᵀv_i) + Σ_{k} log σ(−v′_kᵀv_i), noise ∝ U(w)^{3/4}; subsampling of frequent
        words, discarded with probability 1 − sqrt(t / f(w)).
    Pennington, Socher & Manning 2014, "GloVe: global vectors for word representation", EMNLP:
        J = Σ_ij f(X_ij)(w_iᵀw̃_j + b_i + b̃_j − log X_ij)², f(x) = (x/x_max)^α below x_max (100,
        α = 3/4), else 1; AdaGrad lr 0.05; the word vectors are w + w̃.

The models compute the scores; the task (tasks/language.py) builds their training examples from
sentences (windows, subsampling, negatives, co-occurrence counts), owns the losses and evaluates
analogies. Each model's export endpoint is the embedding lookup `lookup_endpoint()`:
token_ids int32 [N] → embedding float32 [N, m] (word2vec: the input vectors v; GloVe: w + w̃).

Fidelity notes: hierarchical softmax (the papers' other output layer) is not implemented; the
negative-sampling loss is averaged over the 1 + k sampled words (the paper sums: a constant
factor); negatives are drawn once when the task builds the examples of a training run (the C tool
draws new ones at every step).
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import language as language_task
from tasks import text as text_task

language_task.register_keras_objects()

# ICLR 2013 §4.2: models compared with the vocabulary restricted to the 30k most frequent words;
# 300-dimensional vectors (the NIPS paper's skip-gram). CBOW: window 4 + 4; skip-gram: c = 5.
WORD2VEC = dict(vocabulary_size=30_000, embedding_dim=300, negatives=5, subsample=1e-5)
# GloVe §4.2: the 400,000 most frequent words, 300-dimensional vectors, window 10, x_max 100, α 3/4.
GLOVE = dict(vocabulary_size=400_000, embedding_dim=300, window=10, x_max=100.0, alpha=0.75)


def _vocabulary(vocabulary, size):
    if vocabulary is None:
        return text_task.placeholder_vocabulary(int(size), language_task.EMBEDDING_SPECIALS)
    vocabulary = text_task.check_vocabulary(vocabulary, language_task.EMBEDDING_SPECIALS, "vocabulary")
    if size is not None and int(size) != len(vocabulary):
        raise ValueError(f"vocabulary_size must equal the length of vocabulary. Received: vocabulary_size={size}, {len(vocabulary)} tokens")
    return vocabulary


def _counts(word_counts, size):
    if word_counts is None:
        return [1] * size  # uniform noise for a model built without data
    if len(word_counts) != size:
        raise ValueError(f"word_counts needs one count per vocabulary entry. Received: {len(word_counts)} counts, {size} words")
    return [int(c) for c in word_counts]


@keras.saving.register_keras_serializable(package="deepzoo")
class MaskedMean(keras.layers.Layer):
    """Mean of the vectors [N, W, m] of the non-padding ids [N, W] (CBOW's projection h)."""

    def call(self, vectors, ids):
        real = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), vectors.dtype), -1)
        return ops.sum(vectors * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1.0)

    def compute_output_spec(self, vectors, ids):
        return keras.KerasTensor((vectors.shape[0], vectors.shape[-1]), dtype=vectors.dtype)


@keras.saving.register_keras_serializable(package="deepzoo")
class Word2Vec(ZooModel):
    """Scores v′_sᵀh of sampled words s for a projection h of input words (negative sampling).

    Inputs: `word_ids` int32 [N, W] (skip-gram: the centre word, W = 1; CBOW: the context words,
    W = 2c, 0 pads) and `sample_ids` int32 [N, 1 + k] (the true word, then k noise words).
    Output: logits [N, 1 + k]; labels 1, 0, .., 0 under sigmoid cross-entropy give the
    negative-sampling objective.

    Args:
        vocabulary, vocabulary_size: tokens ("", [UNK] first) or a placeholder of that size.
        word_counts: training-split counts per vocabulary entry (noise distribution, subsampling).
        architecture: "skipgram" or "cbow". embedding_dim: m. window: c (the maximum reach).
        negatives: k. subsample: t of the subsampling formula (0: none).
        tie_weights: the output vectors v′ are the input vectors v (the lecture notes' tied CBOW).
    """

    training_objective = "negative_sampling"

    def __init__(self, vocabulary=None, vocabulary_size=30_000, word_counts=None, architecture="skipgram",
                 embedding_dim=300, window=5, negatives=5, subsample=1e-5, tie_weights=False, name="word2vec", **kwargs):
        if architecture not in ("skipgram", "cbow"):
            raise ValueError(f"architecture must be 'skipgram' or 'cbow'. Received: architecture={architecture!r}")
        if int(window) < 1 or int(negatives) < 1:
            raise ValueError(f"window and negatives must be at least 1. Received: window={window}, negatives={negatives}")
        self.vocabulary = _vocabulary(vocabulary, vocabulary_size)
        self.word_counts = _counts(word_counts, len(self.vocabulary))
        self.architecture, self.window, self.negatives = architecture, int(window), int(negatives)
        self.subsample = float(subsample)
        size, m = len(self.vocabulary), int(embedding_dim)
        width = 2 * self.window if architecture == "cbow" else 1
        word_ids = keras.Input(shape=(width,), dtype="int32", name="word_ids")
        sample_ids = keras.Input(shape=(1 + self.negatives,), dtype="int32", name="sample_ids")
        input_vectors = keras.layers.Embedding(size, m, name="input_vectors")
        output_vectors = input_vectors if tie_weights else keras.layers.Embedding(size, m, name="output_vectors")
        h = MaskedMean(name="projection")(input_vectors(word_ids), word_ids)  # [N, m]
        logits = keras.layers.Dot(axes=(2, 1), name="scores")([output_vectors(sample_ids), h])  # [N, 1 + k]
        super().__init__(inputs={"word_ids": word_ids, "sample_ids": sample_ids}, outputs=logits, name=name, **kwargs)

    def lookup_endpoint(self):
        ids = keras.Input(shape=(), dtype="int32", name="token_ids")
        endpoint = keras.Model({"token_ids": ids}, {"embedding": self.get_layer("input_vectors")(ids)}, name=f"{self.name}_lookup")
        endpoint.vocabulary = self.vocabulary
        return endpoint


@keras.saving.register_keras_serializable(package="deepzoo")
class GloVe(ZooModel):
    """w_iᵀw̃_j + b_i + b̃_j for word pairs (row_ids, column_ids) int32 [N] → [N].

    Args:
        vocabulary, vocabulary_size: as `Word2Vec`. embedding_dim: d. window: the co-occurrence
        reach (each pair at distance k counts 1/k). x_max, alpha: the weighting f.
    """

    training_objective = "glove"

    def __init__(self, vocabulary=None, vocabulary_size=400_000, embedding_dim=300, window=10, x_max=100.0, alpha=0.75,
                 name="glove", **kwargs):
        if int(window) < 1 or not float(x_max) > 0 or not float(alpha) > 0:
            raise ValueError(f"window, x_max and alpha must be positive. Received: window={window}, x_max={x_max}, alpha={alpha}")
        self.vocabulary = _vocabulary(vocabulary, vocabulary_size)
        self.window, self.x_max, self.alpha = int(window), float(x_max), float(alpha)
        size, d = len(self.vocabulary), int(embedding_dim)
        rows = keras.Input(shape=(), dtype="int32", name="row_ids")
        columns = keras.Input(shape=(), dtype="int32", name="column_ids")
        w = keras.layers.Embedding(size, d, name="w")(rows)
        w_tilde = keras.layers.Embedding(size, d, name="w_tilde")(columns)
        b = keras.layers.Embedding(size, 1, name="b")(rows)
        b_tilde = keras.layers.Embedding(size, 1, name="b_tilde")(columns)
        dot = keras.layers.Dot(axes=1, name="dot")([w, w_tilde])  # [N, 1]
        score = keras.layers.Reshape((), name="score")(keras.layers.Add(name="biases")([dot, b, b_tilde]))
        super().__init__(inputs={"row_ids": rows, "column_ids": columns}, outputs=score, name=name, **kwargs)

    def lookup_endpoint(self):
        ids = keras.Input(shape=(), dtype="int32", name="token_ids")
        vectors = keras.layers.Add(name="w_plus_w_tilde")([self.get_layer("w")(ids), self.get_layer("w_tilde")(ids)])
        endpoint = keras.Model({"token_ids": ids}, {"embedding": vectors}, name=f"{self.name}_lookup")
        endpoint.vocabulary = self.vocabulary
        return endpoint


EMBEDDING_OUTPUTS = (TensorSpec("embedding", (None,), "float32"),)
EMBEDDING_ENDPOINT = "token_ids int32 [N] → embedding float32 [N, m] (the lookup); vocabulary.txt beside"
TINY_VOCABULARY = 48


def _word2vec_spec(name, architecture, window, paper, notes):
    canonical = dict(WORD2VEC, architecture=architecture, window=window, name=name)
    return ModelSpec(
        name=name,
        family="sequence",
        task="word_embedding",
        builder=Word2Vec,
        canonical_config=canonical,
        tiny_config=dict(vocabulary_size=TINY_VOCABULARY, architecture=architecture, embedding_dim=8, window=2, negatives=3, name=name),
        reference_params=2 * WORD2VEC["vocabulary_size"] * WORD2VEC["embedding_dim"],
        reference_source="B (2·V·m: input and output vectors, V = 30,000 (ICLR 2013 §4.2), m = 300)",
        paper=paper,
        seeds=("000", "003") if architecture == "cbow" else ("000",),
        default_dataset="country_capital",
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=256, epochs=8),
        inputs=(TensorSpec("word_ids", (None,), "int32"), TensorSpec("sample_ids", (None,), "int32")),
        outputs=EMBEDDING_OUTPUTS,
        export_endpoint=EMBEDDING_ENDPOINT,
        notes=notes,
    )


register(
    _word2vec_spec(
        "word2vec_cbow", "cbow", 4,
        "Mikolov, Chen, Corrado & Dean 2013, ICLR workshop (CBOW); Mikolov et al. 2013, NIPS (negative sampling)",
        "The lecture notes' tied decoder ('V×n', spec §9 #19) is tie_weights=True; canonical word2vec has "
        "separate input and output matrices (2·V·m). The ICLR paper trains CBOW with hierarchical softmax; "
        "here the NIPS paper's negative sampling (k = 5) and subsampling (t = 1e-5) serve both rows.",
    )
)
register(
    _word2vec_spec(
        "word2vec_skipgram", "skipgram", 5,
        "Mikolov, Sutskever, Chen, Corrado & Dean 2013, NIPS (skip-gram, negative sampling, subsampling)",
        "Window c = 5 (the reach is drawn in 1..c per centre word), k = 5 negatives from U(w)^{3/4}, "
        "subsampling t = 1e-5 on the paper's corpus (on the small embedded corpus a larger t keeps enough words: "
        "the benchmark sets it).",
    )
)
register(
    ModelSpec(
        name="glove",
        family="sequence",
        task="word_embedding",
        builder=GloVe,
        canonical_config=GLOVE,
        tiny_config=dict(vocabulary_size=TINY_VOCABULARY, embedding_dim=8, window=3),
        reference_params=2 * GLOVE["vocabulary_size"] * (GLOVE["embedding_dim"] + 1),
        reference_source="P (w, w̃ and the biases b, b̃: 2·V·(d + 1), V = 400,000, d = 300, GloVe §4.2)",
        paper="Pennington, Socher & Manning 2014, EMNLP (GloVe)",
        seeds=("000",),
        default_dataset="country_capital",
        train_recipe=dict(optimizer="adagrad", learning_rate=0.05, batch_size=512, epochs=50),
        inputs=(TensorSpec("row_ids", (), "int32"), TensorSpec("column_ids", (), "int32")),
        outputs=EMBEDDING_OUTPUTS,
        export_endpoint=EMBEDDING_ENDPOINT,
        notes=(
            "The loss is the paper's squared form Σ f(X_ij)(w_iᵀw̃_j + b_i + b̃_j − log X_ij)² (the notes drop "
            "the square, spec §9 #18), averaged over a batch's pairs. Co-occurrences within the window weighted "
            "1/distance, symmetric, as in the paper; the word vectors are w + w̃."
        ),
    )
)
