"""Token-sequence classification and per-step tagging (family H: lstm_classifier, conv1d_sequence,
sequence_tagger, stacked_rnn, bidirectional_rnn).

Element structures:
    text_classification
        dataset:  (x string [N] sentences, y int32 [N] class ids)
        fit:      (int32 [N, L] token ids, 0 pads at the end, y int32 [N])
        endpoint: {"token_ids": int32 [N, L]} -> {"probabilities": float32 [N, K]}
    sequence_tagging
        dataset:  (x string [N] sentences, y int32 [N, T] one tag per word, -1 after the last word),
                  or (x float32 [N, T, F] feature sequences, y int32 [N, T])
        fit:      (int32 [N, L] token ids or float32 [N, T, F], y int32 [N, L] with -1 pads)
        endpoint: {"token_ids": int32 [N, L]} or {"sequence": float32 [N, T, F]}
                  -> {"probabilities": float32 [N, L, K]}

Text is tokenised the way the translation task does it (tasks/text.py): a
`keras.layers.TextVectorization` vocabulary adapted on the training split only (`model_overrides`)
and handed to the model as its `vocabulary` constructor argument, so `get_config` and the `.keras`
file carry it. Ids 0 (padding) and 1 ([UNK]) are reserved. The text classifier's SavedModel
endpoint takes sentences (`{"text"}`, the vocabulary as a TextVectorization layer in the graph);
its ONNX and TFLite endpoints take token ids (`Task.endpoint_variant`), with `export_assets`
writing the vocabulary (one token per line, line number = id) beside them: tf2onnx leaves
StaticRegexReplace and StringSplitV2 unconverted and TFLite builtins lack them (measured for the
translation endpoint). The tagger's endpoint takes token ids in every format.

A model of these tasks exposes `vocabulary` (token list, or None for feature inputs) and
`sequence_length` (the fixed input length, or None for any length). Padding is masked inside the
model (Embedding(mask_zero=True) → masked recurrence), and the tagging loss and metrics ignore -1.
"""

import functools

import numpy as np

from tasks.base import CheckOutcome, Task, as_structure, concatenate, length, take  # noqa: F401
from tasks.classification import Classification, predicted_classes
from tasks.text import PAD_ID, SOURCE_SPECIALS, STANDARDIZE, adapt_vocabulary, pad, tokenize

IGNORED_TAG = -1  # tag of a padding position: no loss, no metric
TEXT_SPECIALS = SOURCE_SPECIALS  # ("", "[UNK]"): 0 padding, 1 out of vocabulary
MAX_TEXT_VOCABULARY = 20_000


def token_ids(model, texts, width=None):
    """int32 [N, L] token ids of sentences `texts` under `model.vocabulary`, right-padded with 0 to
    `model.sequence_length` (longer sentences are cut); for a model of any length, to `width` or
    else the longest sentence."""
    rows = tokenize(texts, model.vocabulary)
    width = getattr(model, "sequence_length", None) or width
    return pad(rows, width=width if width else max([1, *(len(r) for r in rows)]))


def _is_text(x):
    return not isinstance(x, dict) and np.asarray(x).dtype.kind in "OSU"


def _named_inputs(model, x):
    """`x` (sentences, or the model's input array) as {input name: array} for the endpoint."""
    if isinstance(x, dict):
        return x
    return {model.inputs[0].name.split(":")[0]: token_ids(model, x) if _is_text(x) else np.asarray(x)}


def _text_model_overrides(x_train, accepted):
    if "vocabulary" not in accepted or not _is_text(x_train):
        return {}
    vocabulary = adapt_vocabulary(x_train, TEXT_SPECIALS, max_tokens=MAX_TEXT_VOCABULARY)
    overrides = {"vocabulary": vocabulary, "vocabulary_size": len(vocabulary)}
    return {key: value for key, value in overrides.items() if key in accepted}


def _probabilities_endpoint(model):
    """The model with its output named "probabilities"; it keeps the model's vocabulary and length,
    so that `export_samples` can tokenise held-out sentences for it."""
    import keras

    endpoint = keras.Model(model.inputs, {"probabilities": model.outputs[0]}, name=f"{model.name}_endpoint")
    endpoint.vocabulary = getattr(model, "vocabulary", None)
    endpoint.sequence_length = getattr(model, "sequence_length", None)
    return endpoint


def _string_probabilities_endpoint(model):
    """{"text": string [N]} -> {"probabilities"}: the SavedModel endpoint. The model's vocabulary
    (adapted on the training split) is a TextVectorization layer in the graph, with the
    standardisation `token_ids` uses, so a client sends sentences."""
    import keras

    text = keras.Input(shape=(), dtype="string", name="text")
    width = getattr(model, "sequence_length", None)
    vectorizer = keras.layers.TextVectorization(
        vocabulary=list(model.vocabulary), standardize=STANDARDIZE, output_sequence_length=width, name="text_vectorizer"
    )
    ids = keras.ops.cast(vectorizer(text), "int32")
    if width is None:  # an all-empty batch vectorises to width 0; one padding column keeps it valid
        ids = keras.layers.Lambda(lambda t: keras.ops.pad(t, [[0, 0], [0, 1]]), name="pad_text")(ids)
    endpoint = keras.Model({"text": text}, {"probabilities": model(ids)}, name=f"{model.name}_text")
    endpoint.vocabulary, endpoint.sequence_length = model.vocabulary, width
    return endpoint


def _sentences(vocabulary, ids):
    """Token-id rows back to sentences (padding dropped): what the string endpoint takes."""
    return np.array([" ".join(vocabulary[t] for t in row if t != PAD_ID) for row in np.asarray(ids)], dtype=object)


def _text_export_samples(endpoint, x, y, width=None):
    """Held-out sentences as the endpoint takes them: {"text": string [N]} for the string
    endpoint, {"token_ids": int32 [N, L]} for the id endpoint."""
    name = endpoint.inputs[0].name.split(":")[0]
    if name == "text":
        return {"text": np.asarray(x).astype(str).astype(object)}, y
    return {name: token_ids(endpoint, x, width)}, y


def _vocabulary_assets(model, format):
    vocabulary = getattr(model, "vocabulary", None)
    return {"vocabulary.txt": "\n".join(vocabulary) + "\n"} if vocabulary else {}


def _random_token_batch(model, n, seed):
    """Token ids [n, L]: 3..L real words (ids 2..V−1), then padding."""
    rng = np.random.default_rng(seed)
    width = getattr(model, "sequence_length", None) or 12
    size = len(model.vocabulary)
    rows = [rng.integers(2, size, size=int(rng.integers(3, width + 1))).astype(np.int32) for _ in range(n)]
    return pad(rows, width=width)


class TextClassification(Classification):
    """Classification of token sequences (sentences): the classification report, text inputs."""

    name = "text_classification"
    element = "(x string [N] sentences, y int32 [N] class ids); fit: (int32 [N, L] token ids, y)"
    default_dataset = "sentiment"
    export_outputs = (
        "class probabilities [N, K]: from sentences (SavedModel, vocabulary in the graph), or from token ids "
        "[N, L] (ONNX, TFLite; vocabulary.txt beside the artifact)"
    )
    augmentation = None  # image augmentation does not apply to token ids

    def stratify_labels(self, y):
        y = np.asarray(y)
        return y if y.ndim == 1 else None

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        return _text_model_overrides(x_train, accepted)

    def fit_inputs(self, model, x, y, **_):
        return token_ids(model, x) if _is_text(x) else x

    def predict(self, model, x, batch_size=64):
        # On the id endpoint: sentences are tokenised here, as for fit (the served SavedModel
        # endpoint does the same in its graph).
        endpoint, inputs = _probabilities_endpoint(model), _named_inputs(model, x)
        parts = [as_structure(endpoint(take(inputs, slice(start, start + batch_size)), training=False)) for start in range(0, length(inputs), batch_size)]
        return concatenate(parts) if parts else {}

    def example_batch(self, model, n, seed):
        x = _random_token_batch(model, n, seed)
        y = (np.arange(n) % max(2, int(model.outputs[0].shape[-1]))).astype("int32")
        return x, y

    def endpoint_variant(self, format):
        # SavedModel serves sentences; ONNX and TFLite have no string ops: token ids + vocabulary.txt.
        return "strings" if format in (None, "savedmodel", "keras") else "token_ids"

    def export_endpoint(self, model, format=None):
        if self.endpoint_variant(format) == "strings" and getattr(model, "vocabulary", None):
            return _string_probabilities_endpoint(model)
        return _probabilities_endpoint(model)

    def export_samples(self, endpoint, x, y):
        if not _is_text(x) and endpoint.inputs[0].name.split(":")[0] == "text":
            x = _sentences(endpoint.vocabulary, x)  # the sweep's token batch, as sentences
        return _text_export_samples(endpoint, x, y) if _is_text(x) else super().export_samples(endpoint, x, y)

    def export_assets(self, model, format=None):
        return {} if self.endpoint_variant(format) == "strings" else _vocabulary_assets(model, format)


def masked_tag_accuracy(y_true, y_pred):
    """Per-step hits [N, T] (1 where the argmax is the tag). Keras averages them weighted by the
    model's padding mask (Embedding(mask_zero=True)), so padded steps (tag -1) do not count."""
    from keras import ops

    y_true = ops.cast(y_true, "int32")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    return ops.cast(predicted == y_true, "float32")


@functools.cache
def register_keras_objects():
    """Registers the tagging metric once, so that a saved model's compile config deserialises."""
    import keras

    keras.saving.register_keras_serializable(package="deepzoo")(masked_tag_accuracy)
    return masked_tag_accuracy


def fit_tags(y, width):
    """Tags [N, width]: cut or padded with -1 to the model's input length."""
    y = np.asarray(y, np.int32)
    out = np.full((len(y), width), IGNORED_TAG, np.int32)
    keep = min(width, y.shape[1])
    out[:, :keep] = y[:, :keep]
    return out


class SequenceTagging(Task):
    """One class per step (NER tags of words, per-frame labels of a signal)."""

    name = "sequence_tagging"
    element = (
        "(x string [N] sentences or float32 [N, T, F], y int32 [N, T] tags, -1 = padding); "
        "fit: (int32 [N, L] token ids or float32 [N, T, F], y int32 [N, L])"
    )
    default_dataset = "ner"
    monitor = ("val_loss", "min")
    objective = ("token_accuracy", "max")
    objectives = (("token_accuracy", "max"), ("macro_f1", "max"))
    export_outputs = "per-step class probabilities [N, T, K]"

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        return _text_model_overrides(x_train, accepted)

    def fit_inputs(self, model, x, y, **_):
        """Token ids of sentences, as wide as their tag rows (a model of any length) or the model's
        length; feature sequences pass through."""
        if not _is_text(x):
            return x
        return token_ids(model, x, width=None if y is None else np.asarray(y).shape[1])

    def fit_targets(self, model, y, **_):
        width = model.inputs[0].shape[1]
        return np.asarray(y, np.int32) if width is None else fit_tags(y, int(width))

    def loss(self, model, **_):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(ignore_class=IGNORED_TAG)

    def metrics(self, model, **_):
        return [register_keras_objects()]

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, loss=self.loss(model), metrics=self.metrics(model), jit_compile=jit_compile)

    def predict(self, model, x, batch_size=64):
        return super().predict(model, _named_inputs(model, x), batch_size)

    def score(self, y_true, outputs, class_names=None):
        from sklearn.metrics import f1_score

        probabilities = outputs["probabilities"] if isinstance(outputs, dict) else np.asarray(outputs)
        predicted = np.argmax(np.asarray(probabilities), axis=-1)
        y_true = fit_tags(y_true, predicted.shape[1])
        real = y_true != IGNORED_TAG
        truth, guess = y_true[real], predicted[real]
        num_classes = len(class_names) if class_names else int(np.asarray(probabilities).shape[-1])
        labels = list(range(num_classes))
        return {
            "token_accuracy": float(np.mean(truth == guess)) if truth.size else 0.0,
            "macro_f1": float(f1_score(truth, guess, labels=labels, average="macro", zero_division=0)),
            "sequence_accuracy": float(np.mean([np.all(p[r] == t[r]) for p, t, r in zip(predicted, y_true, real)])),
            "num_examples": int(len(y_true)),
            "num_tokens": int(real.sum()),
        }

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        num_tags = int(model.outputs[0].shape[-1])
        spec = model.inputs[0]
        if "int" in str(spec.dtype):
            x = _random_token_batch(model, n, seed)
            y = np.where(x != PAD_ID, rng.integers(0, num_tags, size=x.shape), IGNORED_TAG).astype(np.int32)
            return x, y
        x = rng.uniform(0.0, 1.0, size=(n, *spec.shape[1:])).astype("float32")
        return x, rng.integers(0, num_tags, size=(n, spec.shape[1])).astype(np.int32)

    def export_endpoint(self, model, format=None):
        return _probabilities_endpoint(model)

    def export_samples(self, endpoint, x, y):
        if not _is_text(x):
            return super().export_samples(endpoint, x, y)
        return _text_export_samples(endpoint, x, y, width=None if y is None else np.asarray(y).shape[1])

    def export_assets(self, model, format="savedmodel"):
        return _vocabulary_assets(model, format)

    def quantized_reference(self, reference_outputs):
        """Targets for a quantised export's token accuracy when no ground truth is given: Keras' tags."""
        probabilities = reference_outputs["probabilities"] if isinstance(reference_outputs, dict) else reference_outputs
        return np.argmax(np.asarray(probabilities), axis=-1).astype(np.int32)


__all__ = ["TextClassification", "SequenceTagging", "token_ids", "predicted_classes"]
