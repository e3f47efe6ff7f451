"""Image captioning: image in, sentence out (Show and Tell, Show Attend and Tell).

Element structures:
    dataset:   (x float32 [N, S, S, C] pixels 0..255, y string [N] captions)
    fit:       ({"image": float32 [N, S, S, C], "decoder_ids": int32 [N, L]}, int32 [N, L])
               teacher forcing as in translation: decoder_ids = [start] w_1 .. w_m, targets =
               w_1 .. w_m [end], 0 pads, L = the model's caption_length
    endpoint:  SavedModel: {"image"} -> {"caption": string [N]} (greedy loop and the vocabulary in
               the graph); ONNX / TFLite: {"image"} -> {"caption_ids": int32 [N, L]} with the
               vocabulary written beside the artifact (string ops do not convert; see tasks/text.py)

The target vocabulary is adapted on the training captions with `keras.layers.TextVectorization`
(`tasks.text.adapt_vocabulary`) and handed to the model as a constructor argument. A model of this
task implements `encode(image) -> (memory, state)` and `decode_step(previous_ids, state, memory)
-> (logits, state, attention or None)` (the protocol of `tasks/text.py` with an image as source),
`target_vocabulary`, `caption_length`, `has_attention` and, with attention, `alignments(image,
decoder_ids)` and `grid_shape`. Hold-out report: sacreBLEU BLEU-1..4 of greedy and beam-3 captions.
"""

import numpy as np

from tasks.base import CheckOutcome, length, take  # noqa: F401
from tasks.text import (
    END_ID,
    PAD_ID,
    START_ID,
    TARGET_SPECIALS,
    Seq2Seq,
    _as_text,
    _detokenizer_layer,
    adapt_vocabulary,
    beam_search,
    detokenize,
    greedy_loop,
    pad,
    tokenize,
)

BEAM_SIZE = 3  # Vinyals et al.


def caption_targets(model, captions):
    """(decoder_ids, target_ids) int32 [N, caption_length] of caption strings."""
    rows = tokenize(captions, model.target_vocabulary)
    width = int(model.caption_length)
    return pad(rows, width=width, prefix=[START_ID]), pad(rows, width=width, suffix=[END_ID])


def greedy_caption_ids(model, image, max_length=None):
    """Greedy decoding (tasks.text.greedy_loop: one while_loop with fixed-shape carries)."""
    from keras import ops

    memory, state = model.encode(image)
    return greedy_loop(model, memory, state, ops.shape(image)[0], max_length)


def beam_caption_ids(model, image, beam_size=BEAM_SIZE):
    """Beam search (tasks.text.beam_search): numpy (ids [N, L], log-probs [N])."""
    import keras

    image = np.asarray(image, np.float32)
    batch = len(image)
    memory, state = model.encode(image)
    repeat = np.repeat(np.arange(batch), beam_size)
    memory = keras.tree.map_structure(lambda m: keras.ops.take(m, repeat, axis=0), memory)
    state = keras.tree.map_structure(lambda s: keras.ops.take(s, repeat, axis=0), state)

    def step(previous, state, rows):
        state = keras.tree.map_structure(lambda s: keras.ops.take(s, rows, axis=0), state)
        logits, state, _ = model.decode_step(keras.ops.convert_to_tensor(previous), state, memory)
        return keras.ops.convert_to_numpy(logits), state

    return beam_search(step, state, batch, beam_size, int(model.max_output_length))


def _greedy_layer(model):
    import keras

    class GreedyCaption(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.captioner = model

        def call(self, image):
            return greedy_caption_ids(self.captioner, image)

        def compute_output_spec(self, image):
            return keras.KerasTensor((image.shape[0], int(model.max_output_length)), dtype="int32")

    return GreedyCaption(name="greedy_caption")


def caption_endpoint(model, strings):
    import keras

    image = keras.Input(_image_shape(model), name="image")
    ids = _greedy_layer(model)(image)
    if strings:
        caption = _detokenizer_layer(model.target_vocabulary)(ids)
        return keras.Model({"image": image}, {"caption": caption}, name=f"{model.name}_caption")
    return keras.Model({"image": image}, {"caption_ids": ids}, name=f"{model.name}_caption_ids")


def _image_shape(model):
    for tensor in model.inputs:
        if tensor.name.split(":")[0] == "image":
            return tuple(int(d) for d in tensor.shape[1:])
    raise ValueError(f"Model '{model.name}' has no input named 'image'.")


def _captions(outputs, vocabulary=None):
    """Caption strings of endpoint outputs: its strings, or its ids (as words, or as id text)."""
    if "caption" in outputs:
        return _as_text(outputs["caption"])
    ids = np.asarray(outputs["caption_ids"])
    if vocabulary is not None:
        return detokenize(ids, vocabulary)
    texts = []
    for row in ids:
        ended = np.flatnonzero(row == END_ID)
        row = row[: ended[0]] if ended.size else row
        texts.append(" ".join(str(int(t)) for t in row if t not in (PAD_ID, START_ID)))
    return np.array(texts, dtype=object)


def bleu_scores(hypotheses, references):
    """sacreBLEU corpus BLEU-1..4 (max n-gram order n, uniform weights) on detokenised strings."""
    import sacrebleu

    hypotheses = [str(h) for h in hypotheses]
    references = [str(r) for r in references]
    report = {}
    for order in (1, 2, 3, 4):
        bleu = sacrebleu.BLEU(max_ngram_order=order, effective_order=True)
        report[f"bleu{order}"] = float(bleu.corpus_score(hypotheses, [references]).score)
    report["bleu"] = report["bleu4"]
    report["exact_match"] = float(np.mean([h == r for h, r in zip(hypotheses, references)])) if references else 0.0
    return report


class Captioning(Seq2Seq):
    name = "captioning"
    element = (
        "(x float32 [N, S, S, C] pixels 0..255, y string [N] captions); fit: ({'image', 'decoder_ids' int32 [N, L]}, "
        "int32 [N, L] next tokens)"
    )
    default_dataset = "shapes_captions"
    objective = ("bleu", "max")
    objectives = (("bleu", "max"), ("bleu1", "max"), ("exact_match", "max"))
    export_outputs = (
        "SavedModel: caption string [N] (greedy, vocabulary in the graph); ONNX/TFLite: caption_ids int32 [N, L] "
        "with the vocabulary beside the artifact"
    )
    evaluation_beam_size = BEAM_SIZE
    check_learning_rate = 1e-2

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if "target_vocabulary" not in accepted:
            return {}
        if y_train is None:
            raise ValueError("A captioner's vocabulary is adapted on the training captions. Received: y_train=None")
        vocabulary = adapt_vocabulary(y_train, TARGET_SPECIALS)
        overrides = {"target_vocabulary": vocabulary, "target_vocabulary_size": len(vocabulary)}
        image_shape = tuple(np.asarray(x_train).shape[1:])
        if "image_size" in accepted and len(image_shape) == 3:
            overrides.update(image_size=int(image_shape[0]), channels=int(image_shape[2]))
        return {key: value for key, value in overrides.items() if key in accepted}

    def fit_inputs(self, model, x, y, **_):
        if isinstance(x, dict):
            return x
        return {"image": np.asarray(x, np.float32), "decoder_ids": caption_targets(model, y)[0]}

    def fit_targets(self, model, y, **_):
        if np.asarray(y).dtype.kind in "iu":
            return np.asarray(y, np.int32)
        return caption_targets(model, y)[1]

    # --- evaluation ---------------------------------------------------------------------------

    def predict(self, model, x, batch_size=64, beam_size=1):
        """Captions of images `x`: {"caption": str [N], "caption_ids": int32 [N, L]}."""
        images = np.asarray(x["image"] if isinstance(x, dict) else x, np.float32)
        parts = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            ids = greedy_caption_ids(model, chunk) if beam_size == 1 else beam_caption_ids(model, chunk, beam_size)[0]
            parts.append(np.asarray(ids))
        ids = np.concatenate(parts) if parts else np.zeros((0, int(model.max_output_length)), np.int32)
        return {"caption": detokenize(ids, model.target_vocabulary), "caption_ids": ids}

    def score(self, y_true, outputs, class_names=None):
        hypotheses = _captions(outputs)
        references = _as_text(y_true).reshape(-1)
        if len(hypotheses) != len(references):
            raise ValueError(f"Expected one caption per reference. Received: {len(hypotheses)} captions, {len(references)} references")
        return {**bleu_scores(hypotheses, references), "num_examples": len(references)}

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        report = self.score(y, self.predict(model, x))
        if length(x):
            beam = self.score(y, self.predict(model, x, beam_size=self.evaluation_beam_size))
            report.update({f"{key}_beam{self.evaluation_beam_size}": beam[key] for key in ("bleu1", "bleu2", "bleu3", "bleu4")})
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from pathlib import Path

        if getattr(model, "has_attention", False) and length(x):
            attention_maps(model, np.asarray(x, np.float32)[:4], Path(run_dir) / "attention_maps.png")

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """Random images whose caption is a fixed word sequence per image brightness class."""
        rng = np.random.default_rng(seed)
        shape = _image_shape(model)
        images = rng.uniform(0.0, 255.0, size=(n, *shape)).astype("float32")
        size = len(model.target_vocabulary)
        length_ = int(model.caption_length)
        rows = [(rng.integers(4, size, size=int(rng.integers(2, length_)))).astype(np.int32) for _ in range(n)]
        x = {"image": images, "decoder_ids": pad(rows, width=length_, prefix=[START_ID])}
        return x, pad(rows, width=length_, suffix=[END_ID])

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        return caption_endpoint(model, strings=self.endpoint_variant(format) == "strings")

    def export_assets(self, model, format=None):
        if self.endpoint_variant(format) == "strings":
            return {}
        return {"target_vocabulary.txt": "\n".join(model.target_vocabulary) + "\n"}

    def export_samples(self, endpoint, x, y):
        images = np.asarray(x["image"] if isinstance(x, dict) else x, np.float32)
        captioner = endpoint.get_layer("greedy_caption").captioner
        if y is None:
            return {"image": images}, None
        references = _as_text(y).reshape(-1) if np.asarray(y).dtype.kind in "OSU" else detokenize(y, captioner.target_vocabulary)
        if "caption" in endpoint.output:
            return {"image": images}, references
        ids = caption_targets(captioner, references)[1]
        return {"image": images}, _captions({"caption_ids": ids})

    def quantized_reference(self, reference_outputs):
        return _captions(reference_outputs)


def attention_maps(model, images, out_path):
    """Per-word soft-attention maps α_t over the image (Xu et al., Fig. 2), one row per image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    ids = np.asarray(greedy_caption_ids(model, images))
    decoder_ids = np.concatenate([np.full((len(ids), 1), START_ID, np.int32), ids[:, :-1]], axis=1)
    alphas = np.asarray(model.alignments(images, decoder_ids))
    grid_h, grid_w = model.grid_shape
    words_per_row = []
    for row in ids:
        ended = np.flatnonzero(row == END_ID)
        steps = int(ended[0]) + 1 if ended.size else len(row)
        words_per_row.append([model.target_vocabulary[t] for t in row[:steps]])
    columns = 1 + max(len(w) for w in words_per_row)
    figure, axes = plt.subplots(len(images), columns, figsize=(1.6 * columns, 1.8 * len(images)), squeeze=False)
    for i, image in enumerate(images):
        axes[i, 0].imshow(np.clip(image, 0, 255).astype(np.uint8))
        axes[i, 0].set_title("image", fontsize=8)
        for j in range(1, columns):
            axis = axes[i, j]
            axis.axis("off")
            if j - 1 < len(words_per_row[i]):
                alpha = alphas[i, j - 1].reshape(grid_h, grid_w)
                axis.imshow(np.clip(image, 0, 255).astype(np.uint8))
                axis.imshow(alpha, cmap="gray", alpha=0.6, extent=(0, image.shape[1], image.shape[0], 0), interpolation="bilinear")
                axis.set_title(words_per_row[i][j - 1], fontsize=8)
        axes[i, 0].axis("off")
    figure.suptitle("Soft attention α_t per generated word")
    figure.tight_layout()
    with atomic_path(out_path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(figure)
    return out_path

