"""Contrastive image-text learning (CLIP): paired towers, zero-shot classification from prompts.

Element structures:
    dataset:   (x {"image": float32 [N, S, S, 3] pixels 0..255, "caption": string [N]},
                y int32 [N] class ids, used only for the zero-shot report)
    fit:       ({"image", "caption_ids": int32 [N, L] = [start] words [end], 0 pads}, y ignored):
               the model's own train_step minimises the symmetric InfoNCE loss over the batch
    endpoint:  {"image", "caption_ids"} -> {"image_embedding", "text_embedding"} float32 [N, E],
               unit length; the caption vocabulary is written beside the artifact

The caption vocabulary is adapted on the training captions with `keras.layers.TextVectorization`
(`tasks.text.adapt_vocabulary`, the translation task's specials: 0 pad, 1 [UNK], 2 [start],
3 [end]) and handed to the model as its `vocabulary` argument. Zero-shot classification embeds
one prompt per class (`PROMPT`, "a photo of a {class}") and predicts the class whose prompt
embedding has the largest cosine similarity with the image embedding (Radford et al. §3.1.2).
"""

import numpy as np

from tasks.base import CheckOutcome, Task, length, prebuild_training_state, take  # noqa: F401
from tasks.text import (
    END_ID,
    START_ID,
    TARGET_SPECIALS,
    adapt_vocabulary,
    pad,
    tokenize,
)

PROMPT = "a photo of a {}"


def caption_ids(model, captions):
    """int32 [N, context_length]: [start] words [end], cut to the model's context, 0 pads."""
    width = int(model.context_length)
    rows = [row[: width - 2] for row in tokenize(captions, model.vocabulary)]
    return pad(rows, width=width, prefix=[START_ID], suffix=[END_ID])


def _image_shape(model):
    for tensor in model.inputs:
        if tensor.name.split(":")[0] == "image":
            return tuple(int(d) for d in tensor.shape[1:])
    raise ValueError(f"Model '{model.name}' has no input named 'image'.")


def embed_images(model, images, batch_size=256):
    width = int(model.context_length)
    parts = []
    for start in range(0, len(images), batch_size):
        chunk = np.asarray(images[start : start + batch_size], np.float32)
        dummy = np.zeros((len(chunk), width), np.int32)
        parts.append(np.asarray(model({"image": chunk, "caption_ids": dummy}, training=False)["image_embedding"]))
    return np.concatenate(parts)


def embed_texts(model, texts):
    ids = caption_ids(model, np.asarray(texts).astype(str))
    dummy = np.zeros((len(ids), *_image_shape(model)), np.float32)
    return np.asarray(model({"image": dummy, "caption_ids": ids}, training=False)["text_embedding"])


def zero_shot_logits(model, images, class_names, template=PROMPT):
    """Cosine similarity × the learned scale between each image and each class prompt: [N, K]."""
    if not class_names:
        raise ValueError("Zero-shot classification needs class names. Received: class_names=None")
    prompts = [template.format(name) for name in class_names]
    scale = float(model.logit_scale())
    return scale * embed_images(model, images) @ embed_texts(model, prompts).T


class Contrastive(Task):
    name = "contrastive"
    element = (
        "(x {'image': float32 [N, S, S, 3] 0..255, 'caption': string [N]}, y int32 [N] class ids for zero-shot); "
        "fit: ({'image', 'caption_ids' int32 [N, L]}, y ignored)"
    )
    default_dataset = "shapes_clip"
    monitor = ("val_loss", "min")
    objective = ("zero_shot_accuracy", "max")
    export_outputs = "image_embedding and text_embedding float32 [N, E] (unit length) from image and caption_ids"
    stratify = True

    def stratify_labels(self, y):
        y = np.asarray(y)
        return y if y.ndim == 1 and y.dtype.kind in "iu" else None

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        if "vocabulary" not in accepted or not isinstance(x_train, dict) or "caption" not in x_train:
            return {}
        vocabulary = adapt_vocabulary(x_train["caption"], TARGET_SPECIALS)
        if dataset is not None and dataset.class_names:  # the zero-shot prompts' words must be known
            extra = adapt_vocabulary([PROMPT.format(n) for n in dataset.class_names], TARGET_SPECIALS)
            vocabulary += [w for w in extra[len(TARGET_SPECIALS):] if w not in vocabulary]
        overrides = {"vocabulary": vocabulary, "vocabulary_size": len(vocabulary)}
        image = np.asarray(x_train["image"])
        if "image_size" in accepted:
            overrides["image_size"] = int(image.shape[1])
        return {key: value for key, value in overrides.items() if key in accepted}

    def fit_inputs(self, model, x, y, **_):
        if "caption_ids" in x:
            return {"image": x["image"], "caption_ids": x["caption_ids"]}
        return {"image": np.asarray(x["image"], np.float32), "caption_ids": caption_ids(model, x["caption"])}

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
        inputs = self.fit_inputs(model, x, y)
        return model.fit(inputs, batch_size=length(inputs), epochs=epochs, shuffle=False, verbose=0).history

    check_learning_rate = 1e-2

    # --- evaluation ---------------------------------------------------------------------------

    def predict(self, model, x, batch_size=256):
        inputs = self.fit_inputs(model, x, None)
        parts = [model(take(inputs, slice(s, s + batch_size)), training=False) for s in range(0, length(inputs), batch_size)]
        return {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in ("image_embedding", "text_embedding")}

    def score(self, y_true, outputs, class_names=None):
        """Retrieval among the given pairs: image→text and text→image recall@1."""
        images, texts = np.asarray(outputs["image_embedding"]), np.asarray(outputs["text_embedding"])
        similarity = images @ texts.T
        truth = np.arange(len(images))
        return {
            "image_to_text_recall_at_1": float(np.mean(similarity.argmax(axis=1) == truth)),
            "text_to_image_recall_at_1": float(np.mean(similarity.argmax(axis=0) == truth)),
            "num_examples": len(images),
        }

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """Zero-shot accuracy and confusion matrix from the class prompts, plus in-batch retrieval
        recall@1 over batches of 64 pairs, and the learned temperature."""
        from sklearn.metrics import confusion_matrix

        images = np.asarray(x["image"], np.float32)
        y = np.asarray(y).reshape(-1)
        logits = zero_shot_logits(model, images, class_names)
        predicted = logits.argmax(axis=1)
        recalls = [self.score(None, self.predict(model, take(x, slice(s, s + 64)))) for s in range(0, length(x) - 63, 64)]
        report = {
            "zero_shot_accuracy": float(np.mean(predicted == y)),
            "confusion_matrix": confusion_matrix(y, predicted, labels=list(range(len(class_names)))).tolist(),
            "prompt": PROMPT,
            "temperature": float(model.temperature()),
            "num_examples": len(y),
        }
        for key in ("image_to_text_recall_at_1", "text_to_image_recall_at_1"):
            if recalls:
                report[f"{key}_of_64"] = float(np.mean([r[key] for r in recalls]))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        from pathlib import Path

        from tasks import plots

        if "confusion_matrix" in report:
            plots.confusion_matrix(report["confusion_matrix"], class_names, Path(run_dir) / "zero_shot_confusion_matrix.png")

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        rng = np.random.default_rng(seed)
        images = rng.uniform(0.0, 255.0, size=(n, *_image_shape(model))).astype("float32")
        rows = [rng.integers(4, len(model.vocabulary), size=int(rng.integers(2, model.context_length - 1))).astype(np.int32) for _ in range(n)]
        ids = pad(rows, width=int(model.context_length), prefix=[START_ID], suffix=[END_ID])
        return {"image": images, "caption_ids": ids}, np.arange(n, dtype=np.int32)

    def check_training(self, model, x, y, epochs=8, learning_rate=None, jit_compile=False):
        learning_rate = self.check_learning_rate if learning_rate is None else learning_rate
        losses = self.fit_example(model, x, y, epochs, learning_rate, jit_compile=jit_compile)["loss"]
        if not all(np.isfinite(losses)):
            return CheckOutcome(False, f"non-finite loss {losses}")
        if losses[-1] < losses[0]:
            return CheckOutcome(True, f"symmetric InfoNCE {losses[0]:.4g} -> {losses[-1]:.4g} in {epochs} steps")
        return CheckOutcome(False, f"symmetric InfoNCE did not fall: {losses[0]:.4g} -> {losses[-1]:.4g}")

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        return model

    def export_assets(self, model, format=None):
        return {"vocabulary.txt": "\n".join(model.vocabulary) + "\n"}

    def export_samples(self, endpoint, x, y):
        if isinstance(x, dict) and "caption" in x:
            return {"image": np.asarray(x["image"], np.float32), "caption_ids": caption_ids(endpoint, x["caption"])}, None
        return {k: v for k, v in x.items() if k in ("image", "caption_ids")}, None

    def quantized_reference(self, reference_outputs):
        return reference_outputs
