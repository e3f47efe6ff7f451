"""Language modelling and word embeddings (family H: char_rnn_lm, rnn_lm, nnlm_bengio,
word2vec_cbow, word2vec_skipgram, glove).

Element structures:
    language_model
        dataset:  (x string [N] sentences, y string [N] the same sentences)
        fit:      (int32 [N, T] [start] w_1 .. w_m, int32 [N, T] w_1 .. w_m [end]), 0 pads
        endpoint: {"token_ids": int32 [N, T]} -> {"next_token_logits": float32 [N, V]}, the logits
                  after the last real (non-padding) token; vocabulary.txt beside every artifact
    word_embedding
        dataset:  (x string [N] sentences, y {"sentences": string [N], "analogy_pair": string [N]})
        fit:      negative sampling: ({"word_ids": int32 [P, W], "sample_ids": int32 [P, 1 + k]},
                  float32 [P, 1 + k] labels 1, 0, .., 0); GloVe: ({"row_ids": int32 [P],
                  "column_ids": int32 [P]}, float32 [P, 2] (log X_ij, f(X_ij)))
        endpoint: {"token_ids": int32 [N]} -> {"embedding": float32 [N, m]} (the lookup)

Tokenisation is `keras.layers.TextVectorization`, adapted on the training split only
(`model_overrides`), split on whitespace or into characters (`model.split`). Ids 0..3 of a language
model's vocabulary are "" (padding), [UNK] (out of vocabulary), [start], [end]; an embedding
vocabulary has "" and [UNK] only.

A language model exposes `vocabulary` and `split`; its call maps token ids [N, T] to next-token
logits [N, T, V], position t seeing tokens 0..t only (causal), so right padding never changes an
earlier output. Perplexity = exp(mean NLL over the real target tokens, [end] included) (spec §12);
the report sets it beside a unigram model's (add-one smoothed counts of the training split).
Sampling (`generate`): greedy, or temperature and top-k, one token at a time, fed back.

An embedding model exposes `vocabulary`, `word_counts` (training-split counts: the noise
distribution and the subsampling), `training_objective` ("negative_sampling" or "glove") and its
hyper-parameters; the task turns sentences into its training examples:
    word2vec (Mikolov et al. 2013): frequent words are discarded with probability
        1 − sqrt(t / f(w)) (f = relative frequency), the window is drawn in 1..c per centre word,
        k negatives per example from the unigram distribution raised to 3/4; CBOW predicts the
        centre from its context words, skip-gram one context word from the centre.
    GloVe (Pennington et al. 2014): symmetric co-occurrence counts X_ij within the window, each
        weighted 1/distance; the loss is Σ f(X_ij)(w_iᵀw̃_j + b_i + b̃_j − log X_ij)² with
        f(x) = (x/x_max)^α below x_max, 1 above (the standard squared form, spec §9 #18).
Analogy accuracy: for pairs (a, a*), (b, b*) the nearest word (cosine, query words excluded) to
a* − a + b must be b* (Mikolov et al. 2013's vector offset method).
"""

import functools
import math

import numpy as np

from tasks.base import CheckOutcome, Task, length, take  # noqa: F401
from tasks.text import (
    END_ID,
    PAD_ID,
    SOURCE_SPECIALS,
    STANDARDIZE,
    START_ID,
    TARGET_SPECIALS,
    UNK_ID,
    pad,
)

LM_SPECIALS = TARGET_SPECIALS  # "", [UNK], [start], [end]
EMBEDDING_SPECIALS = SOURCE_SPECIALS  # "", [UNK]
SPLITS = ("whitespace", "character")
MAX_LM_VOCABULARY = 30_000
MAX_SEQUENCE_LENGTH = 64  # tokens per training sequence ([start] or [end] included)


# --- vocabularies and tokenisation ----------------------------------------------------------------


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    return split


def adapt_vocabulary(texts, specials, split="whitespace", max_tokens=MAX_LM_VOCABULARY):
    """`specials` then the tokens TextVectorization adapts on `texts` (most frequent first)."""
    import keras

    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens - (len(specials) - 2), standardize=STANDARDIZE, split=_check_split(split)
    )
    vectorizer.adapt(np.asarray(texts).astype(str).reshape(-1))
    return [*specials, *(str(token) for token in vectorizer.get_vocabulary()[2:])]


@functools.lru_cache(maxsize=8)
def _vectorizer(vocabulary, split):
    import keras

    return keras.layers.TextVectorization(vocabulary=list(vocabulary), standardize=STANDARDIZE, split=split, ragged=True)


def tokenize(texts, vocabulary, split="whitespace"):
    """Token ids of each text (a list of int32 arrays); unknown tokens -> 1 ([UNK])."""
    texts = np.asarray(texts).astype(str).reshape(-1)
    if not len(texts):
        return []
    ragged = _vectorizer(tuple(vocabulary), _check_split(split))(texts)
    return [np.asarray(row, np.int32) for row in ragged.to_list()]


def join_tokens(tokens, split):
    return ("" if split == "character" else " ").join(tokens)


# --- language models ------------------------------------------------------------------------------


def lm_sequences(model, texts, max_length=MAX_SEQUENCE_LENGTH):
    """(inputs, targets) int32 [N, T]: [start] w_1 .. w_m and w_1 .. w_m [end], 0 pads."""
    rows = [row[: max_length - 1] for row in tokenize(texts, model.vocabulary, model.split)]
    return pad(rows, prefix=[START_ID]), pad(rows, suffix=[END_ID])


def prompt_ids(model, prompt):
    """int32 [1, L] of [start] + the prompt's tokens (out-of-vocabulary words become [UNK])."""
    text = str(prompt)
    if not text.strip():
        raise ValueError(f"The prompt must contain at least one token. Received: prompt={prompt!r}")
    return pad(tokenize([text], model.vocabulary, model.split), prefix=[START_ID])


def log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def token_nll(logits, targets):
    """(sum of −log p(target), number of real targets) over the non-padding targets."""
    targets = np.asarray(targets, np.int64)
    picked = np.take_along_axis(log_softmax(logits), targets[..., None], axis=-1)[..., 0]
    real = targets != PAD_ID
    return float(-(picked * real).sum()), int(real.sum())


def perplexity(logits, targets):
    """exp(mean NLL) over the non-padding targets of next-token `logits` [N, T, V]."""
    total, count = token_nll(logits, targets)
    if count == 0:
        raise ValueError("Perplexity needs at least one real target token. Received: only padding")
    return math.exp(total / count)


def unigram_perplexity(train_targets, test_targets, vocabulary_size):
    """Perplexity of the add-one smoothed unigram model of `train_targets` on `test_targets`
    (padding excluded; [start] is never a target, so it gets no mass)."""
    train, test = np.asarray(train_targets).reshape(-1), np.asarray(test_targets).reshape(-1)
    counts = np.bincount(train[train != PAD_ID], minlength=vocabulary_size).astype(np.float64) + 1.0
    counts[[PAD_ID, START_ID]] = 0.0
    probabilities = counts / counts.sum()
    test = test[test != PAD_ID]
    return math.exp(-float(np.mean(np.log(probabilities[test]))))


def next_token_logits(model, ids):
    """float [N, V] logits after the last real token of each row of `ids` [N, T]."""
    ids = np.asarray(ids, np.int32)
    logits = np.asarray(model(ids, training=False))
    last = np.maximum((ids != PAD_ID).sum(axis=1) - 1, 0)
    return logits[np.arange(len(ids)), last]


def sample_token(logits, temperature=1.0, top_k=None, rng=None):
    """One token id from next-token `logits` [V]: temperature scaling, then the top_k most likely
    (None: all), then a draw (top_k=1 is greedy). Uses keras ops for softmax and top-k."""
    from keras import ops

    if not temperature > 0:
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")
    logits = np.asarray(logits, np.float32).reshape(-1)
    size = logits.shape[0]
    k = size if top_k is None else int(top_k)
    if not 1 <= k:
        raise ValueError(f"top_k must be at least 1. Received: top_k={top_k}")
    values, indices = ops.top_k(ops.convert_to_tensor(logits / float(temperature)), min(k, size))
    if min(k, size) == 1:
        return int(np.asarray(indices)[0])
    probabilities = np.asarray(ops.softmax(values), np.float64)
    rng = rng or np.random.default_rng()
    return int(np.asarray(indices)[rng.choice(len(probabilities), p=probabilities / probabilities.sum())])


def generate(model, prompt, max_tokens=20, temperature=1.0, top_k=None, greedy=False, seed=None):
    """Continues `prompt`: one token at a time fed back, until [end] or `max_tokens`.

    Returns {"prompt_tokens", "tokens", "text", "unknown"}: the prompt as the model reads it
    (out-of-vocabulary words as [UNK]), the generated tokens and their text, and the prompt's
    out-of-vocabulary words."""
    if int(max_tokens) < 1:
        raise ValueError(f"max_tokens must be at least 1. Received: max_tokens={max_tokens}")
    if not greedy and not temperature > 0:
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")
    vocabulary, split = model.vocabulary, model.split
    ids = prompt_ids(model, prompt)
    words = str(prompt).lower().split() if split == "whitespace" else list(str(prompt).lower())
    rng = np.random.default_rng(seed)
    generated = []
    for _ in range(int(max_tokens)):
        logits = next_token_logits(model, ids)[0]
        logits[[PAD_ID, START_ID]] = -np.inf  # never padding or a second [start]
        token = int(np.argmax(logits)) if greedy else sample_token(logits, temperature, top_k, rng)
        if token == END_ID:
            break
        generated.append(token)
        ids = np.concatenate([ids, [[token]]], axis=1).astype(np.int32)
    prompt_tokens = [vocabulary[t] for t in ids[0, 1 : ids.shape[1] - len(generated)]]
    tokens = [vocabulary[t] for t in generated]
    return {
        "prompt_tokens": prompt_tokens,
        "tokens": tokens,
        "text": join_tokens(tokens, split),
        "unknown": [w for w, t in zip(words, prompt_tokens) if t == vocabulary[UNK_ID]] if split == "whitespace" else [],
    }


def next_token_endpoint(model):
    """{"token_ids": int32 [N, T]} -> {"next_token_logits": [N, V]}: the logits after each row's
    last real token, gathered with a one-hot mask (ops every format converts)."""
    import keras
    from keras import ops

    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    logits = model(ids)

    class LastRealPosition(keras.layers.Layer):
        def call(self, ids, logits):
            last = ops.maximum(ops.sum(ops.cast(ops.not_equal(ids, PAD_ID), "int32"), axis=1) - 1, 0)
            weights = ops.one_hot(last, ops.shape(ids)[1], dtype=logits.dtype)
            return ops.sum(logits * ops.expand_dims(weights, -1), axis=1)

        def compute_output_spec(self, ids, logits):
            return keras.KerasTensor((logits.shape[0], logits.shape[-1]), dtype=logits.dtype)

    endpoint = keras.Model({"token_ids": ids}, {"next_token_logits": LastRealPosition(name="last_real_position")(ids, logits)},
                           name=f"{model.name}_next_token")
    endpoint.vocabulary, endpoint.split = model.vocabulary, model.split
    return endpoint


class LanguageModel(Task):
    name = "language_model"
    element = "(x string [N] sentences, y the same); fit: (int32 [N, T] [start] w.., int32 [N, T] w.. [end])"
    default_dataset = "language"
    monitor = ("val_loss", "min")
    objective = ("perplexity", "min")
    train_check = "loss_falls"
    export_outputs = "next_token_logits float32 [N, V] after the last real token of token_ids int32 [N, T]; vocabulary.txt beside"

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """The vocabulary adapted on the training split: a character model takes it as `characters`
        (split into characters), a word model as `vocabulary` (split on whitespace)."""
        if isinstance(x_train, dict) or np.asarray(x_train).dtype.kind not in "OSU":
            return {}
        key, split = ("characters", "character") if "characters" in accepted else ("vocabulary", "whitespace")
        if key not in accepted:
            return {}
        vocabulary = adapt_vocabulary(x_train, LM_SPECIALS, split)
        return {key: vocabulary, "vocabulary_size": len(vocabulary)}

    def fit_inputs(self, model, x, y, **_):
        return x if np.asarray(x).dtype.kind in "iu" else lm_sequences(model, x)[0]

    def fit_targets(self, model, y, **_):
        return np.asarray(y, np.int32) if np.asarray(y).dtype.kind in "iu" else lm_sequences(model, y)[1]

    def loss(self, model, **_):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)

    def metrics(self, model, **_):
        return []

    def predict(self, model, x, batch_size=64):
        ids = x if np.asarray(x).dtype.kind in "iu" else lm_sequences(model, x)[0]
        return super().predict(model, {"token_ids": np.asarray(ids, np.int32)}, batch_size)

    def score(self, y_true, outputs, class_names=None):
        """Next-token accuracy of the endpoint's outputs against `y_true` (int32 [N] next ids)."""
        logits = np.asarray(outputs["next_token_logits"] if isinstance(outputs, dict) else outputs)
        y_true = np.asarray(y_true)
        if y_true.dtype.kind not in "iu" or y_true.shape != logits.shape[:1]:
            return {"num_examples": len(logits)}
        return {"next_token_accuracy": float(np.mean(np.argmax(logits, -1) == y_true)), "num_examples": len(y_true)}

    def evaluate(self, model, x, y, class_names=None, x_reference=None, batch_size=64):
        """Perplexity on the hold-out sentences, and the unigram model's (trained on `x_reference`)."""
        inputs, targets = lm_sequences(model, x)
        total, count = 0.0, 0
        for start in range(0, len(inputs), batch_size):
            logits = np.asarray(model(inputs[start : start + batch_size], training=False))
            part, n = token_nll(logits, targets[start : start + batch_size])
            total, count = total + part, count + n
        report = {"perplexity": math.exp(total / max(count, 1)), "mean_nll": total / max(count, 1), "num_tokens": count,
                  "num_examples": len(inputs)}
        if x_reference is not None and length(x_reference):
            report["unigram_perplexity"] = unigram_perplexity(lm_sequences(model, x_reference)[1], targets, len(model.vocabulary))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """samples.txt (not a picture): greedy and sampled continuations of held-out prefixes."""
        from pathlib import Path

        from common.io import write_text_atomic

        lines = []
        for sentence in np.asarray(x).astype(str).reshape(-1)[:4]:
            tokens = sentence.split() if model.split == "whitespace" else list(sentence)
            prefix = join_tokens(tokens[: max(1, len(tokens) // 3)], model.split)
            greedy = generate(model, prefix, max_tokens=20, greedy=True)["text"]
            sampled = generate(model, prefix, max_tokens=20, temperature=0.8, seed=0)["text"]
            lines.append(f"{prefix!r} -> greedy: {greedy!r} | T=0.8: {sampled!r}")
        write_text_atomic(Path(run_dir) / "samples.txt", "\n".join(lines) + "\n")

    def example_batch(self, model, n, seed):
        """Random sentences of 3..10 word ids (4..V−1) as [start] w.. / w.. [end] pairs."""
        rng = np.random.default_rng(seed)
        size = len(model.vocabulary)
        rows = [rng.integers(4, size, size=int(rng.integers(3, 11))).astype(np.int32) for _ in range(n)]
        return pad(rows, prefix=[START_ID]), pad(rows, suffix=[END_ID])

    check_learning_rate = 1e-2  # the default check at Adam 1e-2: eight steps must lower the loss

    def export_endpoint(self, model, format=None):
        return next_token_endpoint(model)

    def export_assets(self, model, format=None):
        return {"vocabulary.txt": "\n".join(model.vocabulary) + "\n"}

    def export_samples(self, endpoint, x, y):
        if isinstance(x, dict):
            return {"token_ids": np.asarray(x["token_ids"], np.int32)}, None
        if np.asarray(x).dtype.kind in "iu":
            return {"token_ids": np.asarray(x, np.int32)}, None
        return {"token_ids": lm_sequences(endpoint, x)[0]}, None


# --- word embeddings ------------------------------------------------------------------------------


def keep_probabilities(word_counts, threshold):
    """Mikolov et al. (2013, §2.3) subsampling: word w is kept with probability
    min(1, sqrt(t / f(w))), f(w) = count / total (discarded with 1 − sqrt(t / f(w)))."""
    counts = np.asarray(word_counts, np.float64)
    if threshold is None or threshold <= 0:
        return np.ones_like(counts)
    frequencies = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore"):
        keep = np.sqrt(threshold / frequencies)
    return np.minimum(1.0, np.where(frequencies > 0, keep, 1.0))


def noise_distribution(word_counts, power=0.75):
    """The negative-sampling noise distribution ∝ U(w)^{3/4}, specials (ids 0, 1) excluded."""
    counts = np.asarray(word_counts, np.float64).copy()
    counts[: len(EMBEDDING_SPECIALS)] = 0.0
    weights = counts**power
    if weights.sum() <= 0:
        raise ValueError("The noise distribution needs at least one counted word. Received: all counts 0")
    return weights / weights.sum()


def glove_weight(x, x_max=100.0, alpha=0.75):
    """GloVe's weighting f(x) = (x / x_max)^α for x < x_max, else 1."""
    x = np.asarray(x, np.float64)
    return np.where(x < x_max, (x / x_max) ** alpha, 1.0)


def word2vec_examples(model, sentences, seed=0):
    """Negative-sampling examples of `sentences`: ({"word_ids", "sample_ids"}, labels)."""
    rng = np.random.default_rng(seed)
    keep = keep_probabilities(model.word_counts, model.subsample)
    noise = noise_distribution(model.word_counts)
    cbow, window, negatives = model.architecture == "cbow", int(model.window), int(model.negatives)
    words, positives = [], []
    for row in tokenize(sentences, model.vocabulary):
        row = row[row > UNK_ID]
        row = row[rng.random(len(row)) < keep[row]]
        for i, centre in enumerate(row):
            reach = int(rng.integers(1, window + 1))  # the window is sampled in 1..c (§3 of the ICLR paper)
            context = np.concatenate([row[max(0, i - reach) : i], row[i + 1 : i + 1 + reach]])
            if not len(context):
                continue
            if cbow:
                words.append(np.pad(context, (0, 2 * window - len(context))))
                positives.append(centre)
            else:
                words.extend([[centre]] * len(context))
                positives.extend(context.tolist())
    if not positives:
        raise ValueError("No training pair: every sentence has fewer than two kept words. Received: "
                         f"{len(np.asarray(sentences).reshape(-1))} sentences")
    noise_ids = rng.choice(len(noise), size=(len(positives), negatives), p=noise)
    sample_ids = np.concatenate([np.asarray(positives, np.int32)[:, None], noise_ids.astype(np.int32)], axis=1)
    labels = np.zeros(sample_ids.shape, np.float32)
    labels[:, 0] = 1.0
    return {"word_ids": np.asarray(words, np.int32), "sample_ids": sample_ids}, labels


def cooccurrence(rows, vocabulary_size, window):
    """Symmetric co-occurrence counts {(i, j): X_ij}, each pair at distance d adding 1/d."""
    counts = {}
    for row in rows:
        row = row[row > UNK_ID]
        for i, word in enumerate(row):
            for d in range(1, window + 1):
                if i + d >= len(row):
                    break
                other = int(row[i + d])
                for key in ((int(word), other), (other, int(word))):
                    counts[key] = counts.get(key, 0.0) + 1.0 / d
    return counts


def glove_examples(model, sentences, seed=0):
    """GloVe examples: every non-zero X_ij as ({"row_ids", "column_ids"}, [log X_ij, f(X_ij)])."""
    counts = cooccurrence(tokenize(sentences, model.vocabulary), len(model.vocabulary), int(model.window))
    if not counts:
        raise ValueError("No co-occurrence: every sentence has fewer than two known words.")
    keys = sorted(counts)
    values = np.array([counts[k] for k in keys])
    x = {"row_ids": np.array([k[0] for k in keys], np.int32), "column_ids": np.array([k[1] for k in keys], np.int32)}
    targets = np.stack([np.log(values), glove_weight(values, model.x_max, model.alpha)], axis=1).astype(np.float32)
    return x, targets


def glove_loss(y_true, y_pred):
    """Σ f(X_ij)(w_iᵀw̃_j + b_i + b̃_j − log X_ij)² averaged over the batch's pairs; `y_true`
    holds (log X_ij, f(X_ij)) per pair, `y_pred` the model's w_iᵀw̃_j + b_i + b̃_j."""
    from keras import ops

    y_true = ops.cast(y_true, y_pred.dtype)
    prediction = ops.reshape(y_pred, (-1,))
    return ops.mean(y_true[:, 1] * ops.square(prediction - y_true[:, 0]))


@functools.cache
def register_keras_objects():
    import keras

    keras.saving.register_keras_serializable(package="deepzoo")(glove_loss)
    return glove_loss


def embedding_matrix(model, batch_size=4096):
    """float [V, m]: the export endpoint (the lookup) applied to every id."""
    endpoint = model.lookup_endpoint()
    ids = np.arange(len(model.vocabulary), dtype=np.int32)
    return np.concatenate([np.asarray(endpoint({"token_ids": ids[s : s + batch_size]})["embedding"]) for s in range(0, len(ids), batch_size)])


def _unit_rows(vectors):
    vectors = np.asarray(vectors, np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def nearest_neighbours(vectors, vocabulary, word, k=5):
    """The k words closest to `word` by cosine (the word itself and the specials excluded)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    if word not in index:
        raise ValueError(f"Word {word!r} is not in the vocabulary ({len(vocabulary)} words).")
    unit = _unit_rows(vectors)
    similarity = unit @ unit[index[word]]
    similarity[[index[word], *range(len(EMBEDDING_SPECIALS))]] = -np.inf
    order = np.argsort(-similarity)[:k]
    return [(vocabulary[i], float(similarity[i])) for i in order]


def analogy_questions(pairs):
    """Every ordered (a, a*, b, b*) from distinct pairs (a, a*), (b, b*)."""
    pairs = sorted(set(pairs))
    return [(a, a_star, b, b_star) for a, a_star in pairs for b, b_star in pairs if a != b]


def analogy_accuracy(vectors, vocabulary, pairs):
    """(accuracy, questions answered): b* must be the nearest word to a* − a + b (cosine, the three
    query words and the specials excluded); questions with a word outside the vocabulary are skipped."""
    index = {w: i for i, w in enumerate(vocabulary)}
    questions = [q for q in analogy_questions(pairs) if all(w in index for w in q)]
    if not questions:
        return 0.0, 0
    unit = _unit_rows(vectors)
    ids = np.array([[index[w] for w in q] for q in questions])
    queries = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
    similarity = queries @ unit.T
    similarity[:, : len(EMBEDDING_SPECIALS)] = -np.inf
    rows = np.arange(len(questions))
    for column in range(3):
        similarity[rows, ids[:, column]] = -np.inf
    return float(np.mean(np.argmax(similarity, axis=1) == ids[:, 3])), len(questions)


def _analogy_pairs(y):
    labels = y["analogy_pair"] if isinstance(y, dict) else y
    return [tuple(str(p).split()) for p in np.asarray(labels).astype(str).reshape(-1) if len(str(p).split()) == 2]


class WordEmbedding(Task):
    name = "word_embedding"
    element = "(x string [N] sentences, y {'sentences', 'analogy_pair'}); fit: the model's pairs (module doc)"
    default_dataset = "country_capital"
    monitor = ("val_loss", "min")
    objective = ("analogy_accuracy", "max")
    train_check = "loss_falls"
    export_outputs = "embedding float32 [N, m] of token_ids int32 [N] (the lookup); vocabulary.txt beside"
    neighbour_words = 3  # words whose nearest neighbours the report lists

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if "vocabulary" not in accepted or isinstance(x_train, dict):
            return {}
        vocabulary = adapt_vocabulary(x_train, EMBEDDING_SPECIALS)
        counts = np.zeros(len(vocabulary), np.int64)
        for row in tokenize(x_train, vocabulary):
            counts += np.bincount(row, minlength=len(vocabulary))
        overrides = {"vocabulary": vocabulary, "vocabulary_size": len(vocabulary), "word_counts": counts.tolist()}
        return {key: value for key, value in overrides.items() if key in accepted}

    def _examples(self, model, sentences):
        """The model's training examples of `sentences` (cached: inputs and targets are built once)."""
        sentences = np.asarray(sentences).astype(str).reshape(-1)
        key = (id(model), hash(sentences.tobytes()))
        cache = self.__dict__.setdefault("_example_cache", {})
        if key not in cache:
            build = glove_examples if model.training_objective == "glove" else word2vec_examples
            cache.clear()
            cache[key] = build(model, sentences)
        return cache[key]

    def fit_inputs(self, model, x, y, **_):
        if isinstance(x, dict):
            return x
        return self._examples(model, y["sentences"] if isinstance(y, dict) else x)[0]

    def fit_targets(self, model, y, **_):
        if not isinstance(y, dict) and np.asarray(y).dtype.kind == "f":
            return np.asarray(y, np.float32)
        return self._examples(model, y["sentences"] if isinstance(y, dict) else y)[1]

    def loss(self, model, **_):
        import keras

        if model.training_objective == "glove":
            return register_keras_objects()
        # log σ(v'_oᵀh) + Σ_k log σ(−v'_kᵀh), as a mean over the 1 + k sampled words
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def metrics(self, model, **_):
        return []

    def predict(self, model, x, batch_size=4096):
        ids = np.asarray(x, np.int32) if np.asarray(x).dtype.kind in "iu" else np.concatenate(tokenize(x, model.vocabulary))
        return super().predict(model, {"token_ids": ids.reshape(-1)}, batch_size)

    def score(self, y_true, outputs, class_names=None):
        return {"num_examples": int(length(y_true))}

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """Analogy accuracy over the pairs named in `y` and a few words' nearest neighbours."""
        vectors = embedding_matrix(model)
        pairs = _analogy_pairs(y)
        accuracy, count = analogy_accuracy(vectors, model.vocabulary, pairs)
        report = {"analogy_accuracy": accuracy, "analogy_questions": count, "num_examples": int(length(x))}
        words = sorted({w for pair in pairs for w in pair if w in model.vocabulary})[: self.neighbour_words]
        report["nearest_neighbours"] = {w: [n for n, _ in nearest_neighbours(vectors, model.vocabulary, w)] for w in words}
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from pathlib import Path

        pairs = [p for p in sorted(set(_analogy_pairs(y))) if all(w in model.vocabulary for w in p)]
        if pairs:
            offset_plot(embedding_matrix(model), model.vocabulary, pairs, Path(run_dir) / "analogy_offsets.png")

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        size = len(model.vocabulary)
        if model.training_objective == "glove":
            x = {"row_ids": rng.integers(2, size, n).astype(np.int32), "column_ids": rng.integers(2, size, n).astype(np.int32)}
            counts = rng.uniform(1.0, 20.0, n)
            return x, np.stack([np.log(counts), glove_weight(counts, model.x_max, model.alpha)], 1).astype(np.float32)
        width = 2 * int(model.window) if model.architecture == "cbow" else 1
        x = {"word_ids": rng.integers(2, size, (n, width)).astype(np.int32),
             "sample_ids": rng.integers(2, size, (n, 1 + int(model.negatives))).astype(np.int32)}
        labels = np.zeros(x["sample_ids"].shape, np.float32)
        labels[:, 0] = 1.0
        return x, labels

    check_learning_rate = 1e-2

    def export_endpoint(self, model, format=None):
        return model.lookup_endpoint()

    def export_assets(self, model, format=None):
        return {"vocabulary.txt": "\n".join(model.vocabulary) + "\n"}

    def export_samples(self, endpoint, x, y):
        if isinstance(x, dict):
            ids = next(np.asarray(x[k]) for k in ("word_ids", "row_ids", "token_ids") if k in x)
            return {"token_ids": ids.reshape(-1).astype(np.int32)}, None
        if np.asarray(x).dtype.kind in "OSU":  # held-out sentences: every word of them
            rows = tokenize(x, endpoint.vocabulary)
            return {"token_ids": np.concatenate(rows).astype(np.int32) if rows else np.zeros((0,), np.int32)}, None
        return {"token_ids": np.asarray(x, np.int32).reshape(-1)}, None


def offset_plot(vectors, vocabulary, pairs, out_path):
    """Countries and capitals projected on their first two principal components (scikit-learn
    PCA), an arrow from each country to its capital: parallel arrows = a constant offset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    from common.io import atomic_path

    index = {w: i for i, w in enumerate(vocabulary)}
    words = [w for pair in pairs for w in pair]
    points = PCA(n_components=2).fit_transform(_unit_rows(vectors)[[index[w] for w in words]])
    figure, axis = plt.subplots(figsize=(8, 7))
    for k, (country, capital) in enumerate(pairs):
        a, b = points[2 * k], points[2 * k + 1]
        axis.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color="tab:gray", lw=0.8))
        axis.scatter(*a, color="tab:blue", s=12)
        axis.scatter(*b, color="tab:red", s=12)
        axis.text(*a, country, fontsize=7, color="tab:blue")
        axis.text(*b, capital, fontsize=7, color="tab:red")
    axis.set_title("country → capital offsets (PCA of unit word vectors)")
    with atomic_path(out_path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return out_path
