"""Text to text (translation): sequence-to-sequence models over word vocabularies.

Element structures:
    dataset:   (x string [N] source sentences, y string [N] target sentences)
    fit:       ({"source_ids": int32 [N, S], "decoder_ids": int32 [N, T]}, int32 [N, T])
               teacher forcing: decoder_ids = [start] y_1 .. y_m, targets = y_1 .. y_m [end], 0 pads
    endpoint:  SavedModel: {"source": string [N]} -> {"translation": string [N]}, the vocabularies
               (TextVectorization, StringLookup) and the greedy decoding loop inside the graph;
               ONNX / TFLite: {"source_ids": int32 [N, S]} -> {"target_ids": int32 [N, L]}, the
               vocabularies written beside the artifact (`export_assets`). Measured with the
               string endpoint: tf2onnx 1.17 leaves StaticRegexReplace, StringSplitV2,
               UnsortedSegmentJoin (and LookupTableFindV2) unconverted, so ONNX Runtime rejects
               the graph; the TFLite converter (builtins only) asks for Select TF ops for
               StringLower, StaticRegexReplace, StringSplitV2, RaggedTensorToTensor, SelectV2 on
               strings and UnsortedSegmentJoin.

Vocabularies are `keras.layers.TextVectorization` vocabularies adapted on the training split only
(`model_overrides`) and handed to the model as constructor arguments, so `get_config` and the
`.keras` file carry them. Ids 0..3 are reserved: 0 padding, 1 [UNK] (out of vocabulary), and for
the target 2 [start], 3 [end]. Standardisation lower-cases and strips punctuation, so no text can
spell a reserved token.

A model of this task implements the decoding protocol used by greedy decoding, beam search, the
export endpoints and the alignment plots:

    model.source_vocabulary, model.target_vocabulary     token lists (index = id)
    model.max_output_length                              decoding limit (tokens, [end] included)
    model.encode(source_ids, portable=False) -> (memory, state)
        memory: dict of tensors read at every step, batch on axis 0; state: the recurrent state.
        portable=True: built from ops that tf2onnx and the TFLite builtins convert (no TensorList).
    model.decode_step(previous_ids, state, memory) -> (logits [N, V], state, attention [N, S])

The hold-out report is sacreBLEU on detokenised strings (`score`).
"""

import functools
import math

import numpy as np

from tasks.base import CheckOutcome, NumberSetting, Task, length, take

PAD, UNK, START, END = "", "[UNK]", "[start]", "[end]"
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
SOURCE_SPECIALS = (PAD, UNK)
TARGET_SPECIALS = (PAD, UNK, START, END)
STANDARDIZE = "lower_and_strip_punctuation"
MAX_VOCABULARY = 30_000  # the paper's shortlist (Bahdanau et al. 2015, §4.1), specials included


# --- vocabularies and tokenisation -------------------------------------------------------------


def placeholder_vocabulary(size, specials):
    """A vocabulary of `size` tokens for a model built without data: the specials, then tok<i>."""
    if size < len(specials) + 1:
        raise ValueError(f"A vocabulary needs at least {len(specials) + 1} entries. Received: size={size}")
    return [*specials, *(f"tok{i}" for i in range(len(specials), size))]


def check_vocabulary(vocabulary, specials, name):
    vocabulary = [str(token) for token in vocabulary]
    if tuple(vocabulary[: len(specials)]) != tuple(specials):
        raise ValueError(f"{name} must start with the reserved tokens {list(specials)}. Received: {vocabulary[:len(specials)]}")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"{name} has repeated tokens. Received: {len(vocabulary)} tokens, {len(set(vocabulary))} distinct")
    return vocabulary


def adapt_vocabulary(texts, specials, max_tokens=MAX_VOCABULARY):
    """The vocabulary `keras.layers.TextVectorization` adapts on `texts` (most frequent first),
    with this task's reserved tokens in front; at most `max_tokens` entries in all."""
    import keras

    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens - (len(specials) - 2), standardize=STANDARDIZE)
    vectorizer.adapt(np.asarray(texts).astype(str))
    words = [str(token) for token in vectorizer.get_vocabulary()[2:]]  # after "" and [UNK]
    return [*specials, *words]


@functools.lru_cache(maxsize=8)
def _vectorizer(vocabulary):
    import keras

    return keras.layers.TextVectorization(vocabulary=list(vocabulary), standardize=STANDARDIZE, ragged=True)


def tokenize(texts, vocabulary):
    """Ragged token ids (list of int32 arrays) of `texts` under `vocabulary` (unknown words -> 1)."""
    ragged = _vectorizer(tuple(vocabulary))(np.asarray(texts).astype(str).reshape(-1))
    return [np.asarray(row, np.int32) for row in ragged.to_list()]


def pad(rows, width=None, prefix=(), suffix=()):
    """Right-padded int32 [N, width] of `prefix + row + suffix` for each row (0 pads)."""
    rows = [np.concatenate([np.asarray(prefix, np.int32), row, np.asarray(suffix, np.int32)]) for row in rows]
    width = max([1, *(len(r) for r in rows)]) if width is None else width
    out = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        out[i, : min(width, len(row))] = row[:width]
    return out


def detokenize(ids, vocabulary):
    """Strings of the tokens before the first [end] (padding and [start] dropped)."""
    texts = []
    for row in np.asarray(ids):
        words = []
        for token in row:
            token = int(token)
            if token == END_ID:
                break
            if token not in (PAD_ID, START_ID):
                words.append(vocabulary[token])
        texts.append(" ".join(words))
    return np.array(texts, dtype=object)


def source_ids(model, x):
    return pad(tokenize(x, model.source_vocabulary))


def teacher_forcing(model, y):
    """(decoder_ids, target_ids) int32 [N, T] of target sentences `y`."""
    rows = tokenize(y, model.target_vocabulary)
    return pad(rows, prefix=[START_ID]), pad(rows, suffix=[END_ID])


# --- decoding ----------------------------------------------------------------------------------


def greedy_ids(model, source, max_length=None, portable=False):
    """Greedy decoding with keras ops: int32 [N, max_length], [end] included, 0 after it."""
    from keras import ops

    source = ops.cast(source, "int32")
    memory, state = model.encode(source, portable=portable)
    return greedy_loop(model, memory, state, ops.shape(source)[0], max_length)


def greedy_loop(model, memory, state, batch, max_length=None):
    """The greedy loop of any encoder–decoder with `model.decode_step(previous, state, memory)`
    (translation, captioning): int32 [batch, max_length], [end] included, 0 after it.

    One `while_loop` whose carried tensors keep their shapes: the output is a preallocated
    [N, max_length] tensor filled with `where(position == t, ...)`, not a TensorArray, so the same
    graph converts to ONNX (Loop) and to TFLite builtins (WHILE). The loop stops early once every
    sentence has produced [end].
    """
    from keras import ops

    max_length = int(max_length or model.max_output_length)
    positions = ops.arange(max_length, dtype="int32")

    def condition(step, previous, state, outputs, finished):
        return ops.logical_and(step < max_length, ops.logical_not(ops.all(finished)))

    def body(step, previous, state, outputs, finished):
        logits, state, _ = model.decode_step(previous, state, memory)
        # top_k, not argmax: Keras' TensorFlow argmax adds Bitcast/BitwiseAnd (to order −0.0 below
        # +0.0), which neither tf2onnx nor the TFLite builtins convert. Both take the first maximum.
        token = ops.cast(ops.top_k(logits, 1)[1][:, 0], "int32")
        token = ops.where(finished, ops.zeros_like(token), token)
        outputs = ops.where(ops.expand_dims(positions == step, 0), ops.expand_dims(token, 1), outputs)
        return step + 1, token, state, outputs, ops.logical_or(finished, token == END_ID)

    loop_vars = (
        ops.convert_to_tensor(0, "int32"),
        ops.full((batch,), START_ID, "int32"),
        state,
        ops.zeros((batch, max_length), "int32"),
        ops.zeros((batch,), "bool"),
    )
    outputs = ops.while_loop(condition, body, loop_vars, maximum_iterations=max_length)
    return outputs[3]


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def beam_search(step, state, batch, beam_size, max_length, start_id=START_ID, end_id=END_ID):
    """Beam search over a step function; returns (tokens int32 [N, max_length], log-probs [N]).

    `step(previous_ids [M], state, rows [M]) -> (logits [M, V], state)` where `rows` says which
    beam row continues which previous row (the caller gathers its state with it). Hypotheses are
    ranked by their total log-probability (the paper maximises log p(y|x)); a sentence stops once
    its best finished hypothesis beats every live one (more tokens only lower a score) or at
    `max_length`. Each step expands the `beam_size` live hypotheses into their 2·beam_size best
    continuations, so that `beam_size` live ones remain after the finished ones are set aside; an
    [end] finishes a hypothesis only among the beam_size best, so beam_size=1 is greedy decoding.
    """
    beam_size = int(beam_size)
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1. Received: beam_size={beam_size}")
    scores = np.full((batch, beam_size), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis at first, so the beam does not hold copies of it
    tokens = np.zeros((batch, beam_size, 0), np.int32)
    previous = np.full(batch * beam_size, start_id, np.int32)
    rows = np.arange(batch * beam_size)  # the caller's state already holds beam_size rows per sentence
    finished = [[] for _ in range(batch)]  # (score, tokens)
    done = np.zeros(batch, bool)
    for t in range(max_length):
        logits, state = step(previous, state, rows)
        log_probs = _log_softmax(logits).reshape(batch, beam_size, -1)
        vocabulary = log_probs.shape[-1]
        candidates = (scores[:, :, None] + log_probs).reshape(batch, -1)
        width = min(2 * beam_size, candidates.shape[1])
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :width]
        new_scores = np.full((batch, beam_size), -np.inf)
        new_tokens = np.zeros((batch, beam_size, t + 1), np.int32)
        new_rows = np.repeat(np.arange(batch) * beam_size, beam_size)  # dead rows: any valid row
        new_previous = np.zeros(batch * beam_size, np.int32)
        for i in range(batch):
            if done[i]:
                continue
            live = 0
            for rank, flat in enumerate(best[i]):
                score = candidates[i, flat]
                if not np.isfinite(score):
                    break
                beam, token = divmod(int(flat), vocabulary)
                sequence = np.append(tokens[i, beam], token).astype(np.int32)
                if token == end_id:
                    # Only an [end] among the beam_size best candidates finishes a hypothesis (as
                    # in fairseq), so that beam_size=1 is exactly greedy decoding.
                    if rank < beam_size:
                        finished[i].append((float(score), sequence))
                elif live < beam_size:
                    new_scores[i, live] = score
                    new_tokens[i, live] = sequence
                    new_rows[i * beam_size + live] = i * beam_size + beam
                    new_previous[i * beam_size + live] = token
                    live += 1
            best_finished = max((s for s, _ in finished[i]), default=-np.inf)
            if live == 0 or best_finished >= new_scores[i].max():
                done[i] = True
        scores, tokens, previous, rows = new_scores, new_tokens, new_previous, new_rows
        if done.all():
            break
    out = np.zeros((batch, max_length), np.int32)
    out_scores = np.zeros(batch)
    for i in range(batch):
        candidates = finished[i] or [(float(scores[i, 0]), tokens[i, 0])]  # none finished: best live
        score, sequence = max(candidates, key=lambda item: item[0])
        out[i, : len(sequence)] = sequence[:max_length]
        out_scores[i] = score
    return out, out_scores


def beam_search_ids(model, source, beam_size, max_length=None):
    """Beam search of a model of this task (see `beam_search`); numpy (tokens, log-probs)."""
    import keras

    source = np.asarray(source, np.int32)
    max_length = int(max_length or model.max_output_length)
    batch = len(source)
    memory, state = model.encode(source)
    repeat = np.repeat(np.arange(batch), beam_size)
    memory = keras.tree.map_structure(lambda m: keras.ops.take(m, repeat, axis=0), memory)
    state = keras.tree.map_structure(lambda s: keras.ops.take(s, repeat, axis=0), state)

    def step(previous, state, rows):
        state = keras.tree.map_structure(lambda s: keras.ops.take(s, rows, axis=0), state)
        logits, state, _ = model.decode_step(keras.ops.convert_to_tensor(previous), state, memory)
        return keras.ops.convert_to_numpy(logits), state

    return beam_search(step, state, batch, beam_size, max_length)


def sequence_log_probs(model, source, target_ids):
    """log p(target | source) under teacher forcing: the sum over tokens up to and with [end]."""
    target_ids = np.asarray(target_ids, np.int32)
    decoder_ids = np.concatenate([np.full((len(target_ids), 1), START_ID, np.int32), target_ids[:, :-1]], axis=1)
    logits = np.asarray(model({"source_ids": np.asarray(source, np.int32), "decoder_ids": decoder_ids}, training=False))
    log_probs = _log_softmax(logits)
    picked = np.take_along_axis(log_probs, target_ids[..., None], axis=-1)[..., 0]
    # Tokens after the first [end] (padding) do not count.
    counted = np.cumsum(target_ids == END_ID, axis=1) - (target_ids == END_ID) == 0
    return (picked * counted).sum(axis=1)


# --- export endpoints --------------------------------------------------------------------------


def _greedy_layer(model, portable):
    import keras

    class GreedyDecoding(keras.layers.Layer):
        """Greedy decoding of `model` (its layers and weights, shared) up to its output limit."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.translator = model

        def call(self, source):
            return greedy_ids(self.translator, source, portable=portable)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], int(model.max_output_length))

        def compute_output_spec(self, source):
            return keras.KerasTensor((source.shape[0], int(model.max_output_length)), dtype="int32")

    return GreedyDecoding(name="greedy_decoding")


def _detokenizer_layer(vocabulary):
    import keras

    class Detokenize(keras.layers.Layer):
        """Target ids -> sentences: StringLookup(invert=True), tokens before [end], joined by spaces.
        String joins exist only in TensorFlow, so this layer is TensorFlow-only (like TextVectorization)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.lookup = keras.layers.StringLookup(vocabulary=list(vocabulary[2:]), mask_token=PAD, oov_token=UNK, invert=True)

        def call(self, ids):
            import tensorflow as tf

            ids = tf.cast(ids, tf.int64)
            before_end = tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=1, exclusive=True) == 0
            keep = before_end & (ids != END_ID) & (ids != PAD_ID) & (ids != START_ID)
            words = tf.ragged.boolean_mask(self.lookup(ids), keep)
            return tf.strings.reduce_join(words, axis=1, separator=" ")

        def compute_output_spec(self, ids):
            return keras.KerasTensor((ids.shape[0],), dtype="string")

    return Detokenize(name="detokenize")


def string_endpoint(model):
    """{"source": string [N]} -> {"translation": string [N]}: TextVectorization, greedy decoding
    and StringLookup in one Keras model (TensorFlow backend; SavedModel)."""
    import keras

    text = keras.Input(shape=(), dtype="string", name="source")
    vectorizer = keras.layers.TextVectorization(
        vocabulary=list(model.source_vocabulary), standardize=STANDARDIZE, name="source_vectorizer"
    )
    ids = keras.ops.cast(vectorizer(text), "int32")
    # An all-empty batch vectorises to width 0; one padding column keeps the encoder's loop valid.
    ids = keras.layers.Lambda(lambda t: keras.ops.pad(t, [[0, 0], [0, 1]]), name="pad_source")(ids)
    target = _greedy_layer(model, portable=False)(ids)
    translation = _detokenizer_layer(model.target_vocabulary)(target)
    return keras.Model({"source": text}, {"translation": translation}, name=f"{model.name}_translate")


def token_endpoint(model):
    """{"source_ids": int32 [N, S]} -> {"target_ids": int32 [N, max_output_length]} from ops every
    format converts (no strings, no TensorList): the ONNX and TFLite endpoint."""
    import keras

    source = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    target = _greedy_layer(model, portable=True)(source)
    return keras.Model({"source_ids": source}, {"target_ids": target}, name=f"{model.name}_greedy_ids")


# --- the task ----------------------------------------------------------------------------------


def masked_token_accuracy(y_true, y_pred):
    """Accuracy over real target tokens ([end] included), padding excluded."""
    from keras import ops

    y_true = ops.cast(y_true, "int32")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    real = ops.cast(y_true != PAD_ID, "float32")
    hits = ops.cast(predicted == y_true, "float32") * real
    return ops.sum(hits) / ops.maximum(ops.sum(real), 1.0)


@functools.cache
def register_keras_objects():
    """Registers this task's Keras objects (the metric), once, so that a saved model's compile
    config deserialises. Model modules of this task call it at import (keras is imported there)."""
    import keras

    keras.saving.register_keras_serializable(package="deepzoo")(masked_token_accuracy)
    return masked_token_accuracy


class Seq2Seq(Task):
    name = "translation"
    element = (
        "(x string [N] source sentences, y string [N] target sentences); fit: "
        "({'source_ids': int32 [N, S], 'decoder_ids': int32 [N, T]}, int32 [N, T] next tokens)"
    )
    default_dataset = "translation"
    monitor = ("val_loss", "min")
    objective = ("bleu", "max")
    objectives = (("bleu", "max"), ("chrf", "max"), ("exact_match", "max"))
    train_check = "loss_falls"
    export_outputs = (
        "SavedModel: translation string [N] (greedy, vocabulary in the graph); ONNX/TFLite: target_ids "
        "int32 [N, L] with the vocabularies beside the artifact"
    )
    # Relative BLEU a quantised export may lose against the Keras model's.
    quantized_tolerance = 0.05
    evaluation_beam_size = 4  # evaluate() also reports beam-search BLEU with this beam
    settings = {"evaluation_beam_size": NumberSetting(int, minimum=1)}
    plot_examples = 4

    # --- data ---------------------------------------------------------------------------------

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """Vocabularies adapted on the training split (TextVectorization), as constructor arguments."""
        if not {"source_vocabulary", "target_vocabulary"} <= set(accepted):
            return {}
        if y_train is None:
            raise ValueError(
                "A translation model's target vocabulary is adapted on the training targets. "
                "Received: y_train=None (pass the training split's y)."
            )
        source = adapt_vocabulary(x_train, SOURCE_SPECIALS)
        target = adapt_vocabulary(y_train, TARGET_SPECIALS)
        overrides = {
            "source_vocabulary": source,
            "target_vocabulary": target,
            "source_vocabulary_size": len(source),
            "target_vocabulary_size": len(target),
        }
        return {key: value for key, value in overrides.items() if key in accepted}

    def fit_inputs(self, model, x, y, **_):
        """Model inputs for teacher forcing: source ids and [start]-shifted target ids. Inputs that
        are already token ids (the sweep's `example_batch`) pass through."""
        if isinstance(x, dict):
            return x
        decoder_ids, _ = teacher_forcing(model, y)
        return {"source_ids": source_ids(model, x), "decoder_ids": decoder_ids}

    def fit_targets(self, model, y, **_):
        """The next target token at every decoder step ([end] last, 0 pads). Targets that are
        already ids (integers, as `example_batch` gives them) pass through."""
        if np.asarray(y).dtype.kind in "iu":
            return np.asarray(y, np.int32)
        return teacher_forcing(model, y)[1]

    # --- training -----------------------------------------------------------------------------

    def loss(self, model, **_):
        import keras

        # Masked: padding (id 0) contributes nothing; the mean is over real tokens.
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)

    def metrics(self, model, **_):
        return [register_keras_objects()]

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, loss=self.loss(model), metrics=self.metrics(model), jit_compile=jit_compile)

    # --- evaluation and decoding --------------------------------------------------------------

    def predict(self, model, x, batch_size=64, beam_size=1):
        """Translations of source sentences `x` (strings): greedy through the export endpoint, or
        beam search. Returns {"translation": str [N], "target_ids": int32 [N, L]}."""
        x = np.asarray(x).astype(str).reshape(-1)
        if beam_size == 1:
            ids = [
                np.asarray(greedy_ids(model, source_ids(model, x[start : start + batch_size])))
                for start in range(0, len(x), batch_size)
            ]
        else:
            ids = [
                beam_search_ids(model, source_ids(model, x[start : start + batch_size]), beam_size)[0]
                for start in range(0, len(x), batch_size)
            ]
        ids = np.concatenate(ids) if ids else np.zeros((0, int(model.max_output_length)), np.int32)
        return {"translation": detokenize(ids, model.target_vocabulary), "target_ids": ids}

    def score(self, y_true, outputs, class_names=None):
        import sacrebleu

        hypotheses = [str(h) for h in _translations(outputs)]
        references = [str(r) for r in _as_text(y_true).reshape(-1)]
        if len(hypotheses) != len(references):
            raise ValueError(f"Expected one translation per reference. Received: {len(hypotheses)} translations, {len(references)} references")
        bleu = sacrebleu.BLEU()
        return {
            "bleu": float(bleu.corpus_score(hypotheses, [references]).score),
            "chrf": float(sacrebleu.CHRF().corpus_score(hypotheses, [references]).score),
            "exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)])) if references else 0.0,
            "bleu_signature": str(bleu.get_signature()),
            "num_examples": len(references),
        }

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """sacreBLEU of greedy decoding (what the endpoint serves) and of beam search."""
        report = self.score(y, self.predict(model, x))
        if self.evaluation_beam_size > 1 and length(x):
            beam = self.score(y, self.predict(model, x, beam_size=self.evaluation_beam_size))
            report[f"bleu_beam{self.evaluation_beam_size}"] = beam["bleu"]
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from pathlib import Path

        count = min(self.plot_examples, length(x))
        if count and getattr(model, "has_attention", True):  # a model without attention has no alignments
            alignment_plot(model, take(x, slice(0, count)), Path(run_dir) / "alignments.png")

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """A fixed token batch: random source sentences (3..6 words) whose target is the source in
        reverse order, through the same teacher forcing as real data."""
        rng = np.random.default_rng(seed)
        source_size, target_size = len(model.source_vocabulary), len(model.target_vocabulary)
        rows = [rng.integers(2, source_size, size=int(rng.integers(3, 7))) for _ in range(n)]
        target_words = [(row[::-1] % (target_size - 4) + 4).astype(np.int32) for row in rows]
        x = {
            "source_ids": pad([r.astype(np.int32) for r in rows]),
            "decoder_ids": pad(target_words, prefix=[START_ID]),
        }
        return x, pad(target_words, suffix=[END_ID])

    # The default check (the masked loss falls in eight steps on a fixed batch) at Adam 1e-2,
    # where eight steps take the tiny model's loss from 3.87 to 2.58 rather than to 3.78 at 1e-3:
    # a margin, not a near tie.
    check_learning_rate = 1e-2

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """SavedModel (and Keras): strings in, strings out. Formats without string ops (ONNX,
        TFLite): token ids in and out, with `export_assets` written beside the artifact."""
        return string_endpoint(model) if self.endpoint_variant(format) == "strings" else token_endpoint(model)

    def endpoint_variant(self, format):
        return "strings" if format in (None, "savedmodel", "keras") else "token_ids"

    def export_assets(self, model, format=None):
        """Files to write beside an artifact: {file name: text}. The id endpoints need the
        vocabularies (one token per line, line number = id) to turn text into ids and back."""
        if self.endpoint_variant(format) == "strings":
            return {}
        return {
            "source_vocabulary.txt": "\n".join(model.source_vocabulary) + "\n",
            "target_vocabulary.txt": "\n".join(model.target_vocabulary) + "\n",
        }

    def export_samples(self, endpoint, x, y):
        """(endpoint inputs, targets) to verify an export of `endpoint`.

        `x`, `y`: source and reference sentences (a dataset split), or the sweep's token batch
        (`example_batch`: a dict with "source_ids", next-token ids). The string endpoint takes
        sentences and is scored against reference sentences; the id endpoint takes source ids and
        its targets are the reference ids written as text ("12 7 40"), which `score` compares with
        its decoded ids (BLEU on ids equals BLEU on words: the mapping is one to one).
        """
        translator = endpoint.get_layer("greedy_decoding").translator
        if isinstance(x, dict):
            ids = np.asarray(x["source_ids"], np.int32)
            sentences = np.array(
                [" ".join(translator.source_vocabulary[t] for t in row if t != PAD_ID) for row in ids], dtype=object
            )
            reference_ids = None if y is None else np.asarray(y, np.int32)
        else:
            sentences = np.asarray(x).astype(str).reshape(-1).astype(object)
            ids = source_ids(translator, sentences)
            reference_ids = None if y is None else teacher_forcing(translator, y)[1]
        if "source" in [t.name.split(":")[0] for t in endpoint.inputs]:
            targets = None if reference_ids is None else detokenize(reference_ids, translator.target_vocabulary)
            return {"source": sentences}, targets
        targets = None if reference_ids is None else _translations({"target_ids": reference_ids})
        return {"source_ids": ids}, targets

    def compare_outputs(self, name, reference, actual, atol, rtol):
        reference, actual = np.asarray(reference), np.asarray(actual)
        if reference.dtype.kind in "OSU" or actual.dtype.kind in "OSU":
            reference, actual = _as_text(reference), _as_text(actual)
            if reference.shape != actual.shape:
                return CheckOutcome(False, f"{name}: shape {actual.shape} differs from Keras {reference.shape}")
            agree = float(np.mean(reference == actual)) if reference.size else 1.0
            return CheckOutcome(agree == 1.0, f"{name}: {agree:.2%} of strings equal")
        return super().compare_outputs(name, reference, actual, atol, rtol)

    def quantized_reference(self, reference_outputs):
        """Targets for a quantised artifact's BLEU when no ground truth is given: Keras' translations."""
        return _translations(reference_outputs)


def _as_text(values):
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)], dtype=object).reshape(np.shape(values))


def _translations(outputs):
    """Hypotheses of an endpoint's outputs: its strings, or its ids as text up to [end]."""
    if isinstance(outputs, dict) and "translation" not in outputs and "target_ids" in outputs:
        ids = np.asarray(outputs["target_ids"])
        texts = []
        for row in ids:
            ended = np.flatnonzero(row == END_ID)
            row = row[: ended[0]] if ended.size else row
            texts.append(" ".join(str(int(t)) for t in row if t not in (PAD_ID, START_ID)))
        return np.array(texts, dtype=object)
    values = outputs["translation"] if isinstance(outputs, dict) else outputs
    return _as_text(values)


# --- plots -------------------------------------------------------------------------------------


def alignment_plot(model, sentences, out_path):
    """Attention heat maps α_ij (target word i, source word j) of the greedy translations of
    `sentences` (the paper's Figure 3), one panel each, written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    sentences = np.asarray(sentences).astype(str).reshape(-1)
    source = source_ids(model, sentences)
    target = np.asarray(greedy_ids(model, source))
    decoder_ids = np.concatenate([np.full((len(target), 1), START_ID, np.int32), target[:, :-1]], axis=1)
    alignments = np.asarray(model.alignments(source, decoder_ids))
    columns = min(2, len(sentences))
    rows = math.ceil(len(sentences) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.0 * columns, 5.0 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index >= len(sentences):
            axis.axis("off")
            continue
        source_words = [model.source_vocabulary[t] for t in source[index] if t != PAD_ID]
        ended = np.flatnonzero(target[index] == END_ID)
        steps = int(ended[0]) + 1 if ended.size else int(np.count_nonzero(target[index]))
        target_words = [model.target_vocabulary[t] for t in target[index, :steps]]
        matrix = alignments[index, :steps, : len(source_words)]
        axis.imshow(matrix, cmap="gray", vmin=0.0, vmax=1.0)  # white = weight 1, as in the paper
        axis.set_xticks(range(len(source_words)), source_words, rotation=60, ha="right")
        axis.set_yticks(range(len(target_words)), target_words)
        axis.set_xlabel("source")
        axis.set_ylabel("translation (greedy)")
    figure.suptitle("Attention alignments α_ij")
    figure.tight_layout()
    with atomic_path(out_path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return out_path
