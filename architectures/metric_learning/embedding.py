"""Family F: face embeddings for verification and recognition, and the per-identity classifier.

Papers:
- Siamese network (Bromley, Guyon, LeCun, Säckinger & Shah 1993, NIPS) with the contrastive loss
  of Hadsell, Chopra & LeCun 2006 (CVPR, "Dimensionality reduction by learning an invariant
  mapping"): L = (1 − y)·½d² + y·½·max(0, m − d)², y = 1 for dissimilar pairs.
- FaceNet (Schroff, Kalenichenko & Philbin 2015, CVPR): a CNN → 128-D → L2 normalisation, trained
  by the triplet loss Σ max(0, ‖f(a) − f(p)‖² − ‖f(a) − f(n)‖² + α), α = 0.2, with online
  semi-hard negatives. Canonical network: NN1 (Table 1, after Zeiler & Fergus), 220×220×3, 140 M
  parameters; conv layers with 1×1 reductions, local response normalisation, max-pooling, two
  maxout (p = 2) fully connected layers of 1×32×128, fc7128, L2.
- DeepFace (Taigman, Yang, Ranzato & Wolf 2014, CVPR): C1 32@11×11 → M2 max-pool 3/2 → C3
  16@9×9 → locally connected L4 16@9×9, L5 16@7×7 (stride 2), L6 16@5×5 → F7 4096 → F8 softmax
  over 4,030 identities; ≈120 M parameters. Verification compares L2-normalised F7 features.
- Template matching and k-NN on neural codes (lecture notes 000; Babenko, Slesarev, Chigorin &
  Lempitsky 2014, ECCV): a CNN trained to classify the training identities; its penultimate layer,
  L2-normalised, is the embedding; new identities are enrolled as templates, never trained on.

Every embedding model here is one `EmbeddingNetwork`: `model(images)` is the L2-normalised
embedding (the export endpoint); `model.trunk` maps images to the features before normalisation;
a softmax objective adds `model.head` (identity logits on the features, used only in training).
Its `train_step` takes the batches of `tasks.metric_learning.identity_batches` (images with
sampled pair and triplet rows) and minimises the row's objective. `verification_threshold` (τ on
d², set from the validation ROC by the task) is a weight, so it travels in model.keras.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.classification.simple import LocallyConnected2D
from architectures.layers.lrn import LocalResponseNormalization
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks.metric_learning import (
    MINING,
    OBJECTIVES,
    RECOGNITION_RULES,
    contrastive_loss,
    semi_hard_triplet_loss,
    triplet_loss,
)

# --- block tables ------------------------------------------------------------------------------------
# Rows: ("conv", name, filters, kernel, stride, padding), ("local", name, filters, kernel, stride),
# ("maxpool", name, size, stride, padding), ("lrn", name), ("flatten", name), ("gap", name),
# ("dense", name, units), ("maxout", name, units, pieces). Convs, local and dense layers use ReLU.

# FaceNet NN1 (Schroff et al. 2015, Table 1): 220×220×3 → 7×7×256 → maxout FC layers.
FACENET_NN1 = (
    ("conv", "conv1", 64, 7, 2, "same"),
    ("maxpool", "pool1", 3, 2, "same"),
    ("lrn", "rnorm1"),
    ("conv", "conv2a", 64, 1, 1, "same"),
    ("conv", "conv2", 192, 3, 1, "same"),
    ("lrn", "rnorm2"),
    ("maxpool", "pool2", 3, 2, "same"),
    ("conv", "conv3a", 192, 1, 1, "same"),
    ("conv", "conv3", 384, 3, 1, "same"),
    ("maxpool", "pool3", 3, 2, "same"),
    ("conv", "conv4a", 384, 1, 1, "same"),
    ("conv", "conv4", 256, 3, 1, "same"),
    ("conv", "conv5a", 256, 1, 1, "same"),
    ("conv", "conv5", 256, 3, 1, "same"),
    ("conv", "conv6a", 256, 1, 1, "same"),
    ("conv", "conv6", 256, 3, 1, "same"),
    ("maxpool", "pool4", 3, 2, "same"),
    ("flatten", "concat"),
    ("maxout", "fc1", 4096, 2),
    ("maxout", "fc2", 4096, 2),
)

# The same block types, one of each per stage, at 32×32.
FACENET_TINY = (
    ("conv", "conv1", 8, 3, 1, "same"),
    ("maxpool", "pool1", 3, 2, "same"),
    ("lrn", "rnorm1"),
    ("conv", "conv2a", 8, 1, 1, "same"),
    ("conv", "conv2", 16, 3, 1, "same"),
    ("maxpool", "pool2", 3, 2, "same"),
    ("flatten", "concat"),
    ("maxout", "fc1", 32, 2),
)

# DeepFace C1–F7 (Taigman et al. 2014, Fig. 2); F8 is the softmax head.
DEEPFACE = (
    ("conv", "c1", 32, 11, 1, "valid"),
    ("maxpool", "m2", 3, 2, "same"),
    ("conv", "c3", 16, 9, 1, "valid"),
    ("local", "l4", 16, 9, 1),
    ("local", "l5", 16, 7, 2),
    ("local", "l6", 16, 5, 1),
    ("flatten", "flatten"),
    ("dense", "f7", 4096),
)

# Small maps (a stride-2 C1): the unshared layers' cost grows with their positions (6×6 → 2×2).
DEEPFACE_TINY = (
    ("conv", "c1", 8, 3, 2, "valid"),
    ("maxpool", "m2", 3, 2, "same"),
    ("conv", "c3", 8, 3, 1, "valid"),
    ("local", "l4", 8, 3, 1),
    ("local", "l5", 8, 2, 2),
    ("local", "l6", 8, 1, 1),
    ("flatten", "flatten"),
    ("dense", "f7", 32),
)

# A plain convnet: the notes' generic "feature CNN" (no paper fixes its layers).
CONVNET = (
    ("conv", "conv1", 32, 3, 1, "same"),
    ("maxpool", "pool1", 2, 2, "valid"),
    ("conv", "conv2", 64, 3, 1, "same"),
    ("maxpool", "pool2", 2, 2, "valid"),
    ("conv", "conv3", 128, 3, 1, "same"),
    ("maxpool", "pool3", 2, 2, "valid"),
    ("flatten", "flatten"),
    ("dense", "fc1", 256),
)

CONVNET_TINY = (
    ("conv", "conv1", 8, 3, 1, "same"),
    ("maxpool", "pool1", 2, 2, "valid"),
    ("conv", "conv2", 16, 3, 1, "same"),
    ("maxpool", "pool2", 2, 2, "valid"),
    ("flatten", "flatten"),
    ("dense", "fc1", 32),
)


# --- private blocks ----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Maxout(keras.layers.Layer):
    """Maxout (Goodfellow et al. 2013): the maximum over `pieces` linear pieces per unit.

    Input [..., units · pieces] (a Dense layer's output) → [..., units]."""

    def __init__(self, pieces=2, **kwargs):
        super().__init__(**kwargs)
        self.pieces = int(pieces)

    def call(self, inputs):
        units = inputs.shape[-1] // self.pieces
        return ops.max(ops.reshape(inputs, (-1, units, self.pieces)), axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


def _initializer(seed, index):
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + index)


def apply_block_table(x, layers, seed=None):
    """Applies a block table (see the tables above) to the tensor `x`."""
    for index, row in enumerate(layers):
        kind, name, *arguments = row
        init = _initializer(seed, index)
        if kind == "conv":
            filters, kernel, stride, padding = arguments
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, activation="relu", kernel_initializer=init, name=name)(x)
        elif kind == "local":
            filters, kernel, stride = arguments
            x = LocallyConnected2D(filters, kernel, strides=stride, activation="relu", name=name)(x)
        elif kind == "maxpool":
            size, stride, padding = arguments
            x = keras.layers.MaxPooling2D(size, strides=stride, padding=padding, name=name)(x)
        elif kind == "lrn":
            x = LocalResponseNormalization(name=name)(x)
        elif kind == "flatten":
            x = keras.layers.Flatten(name=name)(x)
        elif kind == "gap":
            x = keras.layers.GlobalAveragePooling2D(name=name)(x)
        elif kind == "dense":
            (units,) = arguments
            x = keras.layers.Dense(units, activation="relu", kernel_initializer=init, name=name)(x)
        elif kind == "maxout":
            units, pieces = arguments
            x = keras.layers.Dense(units * pieces, kernel_initializer=init, name=f"{name}_pieces")(x)
            x = Maxout(pieces, name=name)(x)
        else:
            raise ValueError(f"Block kind must be conv, local, maxpool, lrn, flatten, gap, dense or maxout. Received: {row}")
    return x


def _trunk(input_shape, layers, embedding_dim, seed):
    """images (0..255) → features: rescale, the block table, then a linear projection to
    `embedding_dim` (none when None: the last block's output is the feature, DeepFace's F7)."""
    images = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(images)
    x = apply_block_table(x, layers, seed)
    if embedding_dim:
        x = keras.layers.Dense(int(embedding_dim), kernel_initializer=_initializer(seed, 1000), name="embedding_projection")(x)
    return keras.Model(images, x, name="trunk")


# --- the models ----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class EmbeddingNetwork(ZooModel):
    """An image → unit-norm embedding network with its own metric-learning `train_step`.

    Args:
        input_shape: (height, width, channels) of the images, pixels 0..255.
        layers: block table of the trunk (see the module's tables).
        embedding_dim: width of the linear projection after the trunk (FaceNet's 128), or None to
            use the trunk's last layer (DeepFace's F7).
        objective: "contrastive" (Siamese pairs, Hadsell 2006), "triplet" (FaceNet) or "softmax"
            (classify the training identities; the embedding is the normalised feature layer).
        margin: m of the contrastive loss (on d) or α of the triplet loss (on d²).
        mining: triplets: "semi_hard" (online, over every anchor-positive pair of the batch) or
            "random" (the triplet rows sampled in tf.data).
        num_classes: training identities of the softmax head (ignored by the metric losses).
        head_dropout: dropout on the features before the softmax head (DeepFace's F7: 0.5).
        recognition: 1:K rule: "nearest", "mean_template" or "knn" (`tasks.metric_learning.Gallery`).
        k_neighbors: k of the "knn" rule.
        seed: initialiser seed.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        layers=CONVNET,
        embedding_dim=128,
        objective="triplet",
        margin=0.2,
        mining="semi_hard",
        num_classes=100,
        head_dropout=0.0,
        recognition="nearest",
        k_neighbors=5,
        seed=None,
        name="embedding_network",
        **kwargs,
    ):
        input_shape = tuple(int(d) for d in input_shape)
        for option, value, allowed in (("objective", objective, OBJECTIVES), ("mining", mining, MINING), ("recognition", recognition, RECOGNITION_RULES)):
            if value not in allowed:
                raise ValueError(f"{option} must be one of {allowed}. Received: {option}={value!r}")
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels). Received: input_shape={input_shape}")
        if objective == "softmax" and (num_classes is None or int(num_classes) < 2):
            raise ValueError(f"A softmax objective needs num_classes >= 2 training identities. Received: num_classes={num_classes}")
        trunk = _trunk(input_shape, [tuple(row) for row in layers], embedding_dim, seed)
        images = keras.Input(input_shape, name="images")
        embedding = keras.layers.UnitNormalization(name="l2_normalize")(trunk(images))
        super().__init__(inputs=images, outputs=embedding, name=name, **kwargs)
        self.trunk = trunk
        self.objective = objective
        self.margin = float(margin)
        self.mining = mining
        self.recognition = recognition
        self.k_neighbors = int(k_neighbors)
        self.head = None
        self.head_dropout = keras.layers.Dropout(float(head_dropout), name="head_dropout") if head_dropout else None
        if objective == "softmax":
            self.head = keras.layers.Dense(int(num_classes), kernel_initializer=_initializer(seed, 2000), name="identity_logits")
            self.head.build(trunk.outputs[0].shape)
        # τ on d² (0 = not chosen yet); set from the validation ROC by the task.
        self.verification_threshold = self.add_weight(shape=(), initializer="zeros", trainable=False, name="verification_threshold")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def objective_loss(self, images, targets, training=False):
        """The row's loss on one batch: `targets` as `tasks.metric_learning.identity_batches` yields."""
        features = self.trunk(images, training=training)
        if self.objective == "softmax":
            if self.head_dropout is not None:
                features = self.head_dropout(features, training=training)
            logits = self.head(features)
            return ops.mean(keras.losses.sparse_categorical_crossentropy(targets["identity"], logits, from_logits=True))
        embeddings = ops.normalize(features, axis=-1)
        if self.objective == "contrastive":
            pairs = ops.cast(targets["pair_index"], "int32")
            difference = ops.take(embeddings, pairs[:, 0], axis=0) - ops.take(embeddings, pairs[:, 1], axis=0)
            return contrastive_loss(ops.sum(ops.square(difference), axis=-1), targets["pair_dissimilar"], self.margin)
        if self.mining == "semi_hard":
            return semi_hard_triplet_loss(targets["identity"], embeddings, self.margin)
        rows = ops.cast(targets["triplet_index"], "int32")
        anchor, positive, negative = (ops.take(embeddings, rows[:, i], axis=0) for i in range(3))
        d_ap = ops.sum(ops.square(anchor - positive), axis=-1)
        d_an = ops.sum(ops.square(anchor - negative), axis=-1)
        return triplet_loss(d_ap, d_an, self.margin, weights=targets["triplet_valid"])

    def _total_loss(self, images, targets, training):
        loss = self.objective_loss(images, targets, training)
        if self.losses:  # weight penalties added by the trainer's l1/l2 options
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    def train_step(self, data):
        import tensorflow as tf

        images, targets = data[0], data[1]
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._total_loss(ops.cast(images, self.compute_dtype), targets, training=True)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        images, targets = data[0], data[1]
        self.loss_tracker.update_state(self._total_loss(ops.cast(images, self.compute_dtype), targets, training=False))
        return {"loss": self.loss_tracker.result()}


@keras.saving.register_keras_serializable(package="deepzoo")
class IdentityClassifier(ZooModel):
    """The face-access baseline: one softmax class per enrolled person (adding one means retraining).

    Args:
        input_shape: (height, width, channels), pixels 0..255.
        num_classes: identities.
        layers: block table of the feature CNN.
        preprocessing: deterministic preprocessing as every classifier takes it
            (`architectures.layers.preprocessing.model_input`; training fills the per-channel
            mean and std of its training split).
        seed: initialiser seed.
    """

    def __init__(
        self, input_shape=(32, 32, 3), num_classes=100, layers=CONVNET, preprocessing=None, seed=None, name="per_identity_classifier", **kwargs
    ):
        images, x = model_input(tuple(int(d) for d in input_shape), preprocessing, name="images")
        x = apply_block_table(x, [tuple(row) for row in layers], seed)
        outputs = keras.layers.Dense(int(num_classes), activation="softmax", kernel_initializer=_initializer(seed, 2000), name="predictions")(x)
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)


# --- variants ------------------------------------------------------------------------------------

_EMBEDDING_OUT = (TensorSpec("embedding", (None,)),)
_ENDPOINT = "the embedding network: images [N, H, W, 3] pixels 0..255 -> L2-normalised embedding [N, D]"


def _images(size):
    return (TensorSpec("images", (size, size, 3)),)


register(
    ModelSpec(
        name="per_identity_classifier",
        family="metric_learning",
        task="classification",
        builder=IdentityClassifier,
        canonical_config=dict(input_shape=(32, 32, 3), num_classes=100, layers=CONVNET),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=8, layers=CONVNET_TINY, seed=1),
        paper="Lecture notes 000 (face-access baseline: one softmax class per person; no paper)",
        seeds=("000",),
        default_dataset="identity_classes",
        inputs=_images(32),
        outputs=(TensorSpec("output", (None,)),),
        notes=(
            "The baseline family F is measured against: its output width is the number of people, so "
            "a new person needs a new head and retraining (tests/test_metric_learning.py), unlike the "
            "embedding models that enroll a template. Default data: identity_classes, split by image "
            "so that every identity is seen in training. No reference count: the notes fix no layers."
        ),
    )
)

register(
    ModelSpec(
        name="embedding_template_matcher",
        family="metric_learning",
        task="metric_learning",
        builder=EmbeddingNetwork,
        canonical_config=dict(input_shape=(32, 32, 3), layers=CONVNET, embedding_dim=128, objective="softmax", num_classes=100, recognition="mean_template", name="embedding_template_matcher"),
        tiny_config=dict(input_shape=(32, 32, 3), layers=CONVNET_TINY, embedding_dim=16, objective="softmax", num_classes=8, recognition="mean_template", seed=1, name="embedding_template_matcher"),
        paper="Lecture notes 000; generic embedding verification (cf. Taigman et al. 2014; Schroff et al. 2015)",
        seeds=("000",),
        default_dataset="identities",
        inputs=_images(32),
        outputs=_EMBEDDING_OUT,
        export_endpoint=_ENDPOINT,
        notes=(
            "The feature CNN f is trained to classify the training identities (softmax head, dropped at "
            "export); f's normalised projection is the embedding. Recognition: the identity whose "
            "templates have the smallest mean distance, accepted if ≤ γ; γ (verification_threshold) is "
            "chosen on the validation ROC. Enrolling adds templates (pipelines.gallery), no retraining."
        ),
    )
)

register(
    ModelSpec(
        name="embedding_knn",
        family="metric_learning",
        task="metric_learning",
        builder=EmbeddingNetwork,
        canonical_config=dict(input_shape=(32, 32, 3), layers=CONVNET, embedding_dim=128, objective="softmax", num_classes=100, recognition="knn", k_neighbors=5, name="embedding_knn"),
        tiny_config=dict(input_shape=(32, 32, 3), layers=CONVNET_TINY, embedding_dim=16, objective="softmax", num_classes=8, recognition="knn", k_neighbors=3, seed=2, name="embedding_knn"),
        paper="Babenko, Slesarev, Chigorin & Lempitsky 2014, ECCV (neural codes for image retrieval)",
        seeds=("000", "001", "004"),
        default_dataset="identities",
        inputs=_images(32),
        outputs=_EMBEDDING_OUT,
        export_endpoint=_ENDPOINT,
        notes=(
            "Neural codes: the L2-normalised last feature layer before the logits of a CNN trained to "
            "classify; retrieval returns the nearest stored images and recognition is a k-NN majority "
            "vote (rejected beyond γ). The hold-out report adds precision@k and recall@k."
        ),
    )
)

register(
    ModelSpec(
        name="siamese_contrastive",
        family="metric_learning",
        task="metric_learning",
        builder=EmbeddingNetwork,
        canonical_config=dict(input_shape=(32, 32, 3), layers=CONVNET, embedding_dim=128, objective="contrastive", margin=1.0, recognition="mean_template", name="siamese_contrastive"),
        tiny_config=dict(input_shape=(32, 32, 3), layers=CONVNET_TINY, embedding_dim=16, objective="contrastive", margin=1.0, recognition="mean_template", seed=3, name="siamese_contrastive"),
        paper="Bromley et al. 1993, NIPS; Hadsell, Chopra & LeCun 2006, CVPR",
        seeds=("000", "003"),
        default_dataset="identities",
        inputs=_images(32),
        outputs=_EMBEDDING_OUT,
        export_endpoint=_ENDPOINT,
        notes=(
            "One branch, called on both images of each pair (shared weights by construction). Pairs are "
            "balanced same/different rows sampled in tf.data; loss (1 − y)·½d² + y·½·max(0, m − d)² on "
            "d = ‖f(x_i) − f(x_j)‖₂ (spec §9 row 15: squared, not the notes' plain d; the plain form is "
            "tasks.metric_learning.contrastive_loss(squared=False)). m = 1 on unit-norm embeddings "
            "(d ∈ [0, 2]). Inference: one branch; minimum mean template distance, accepted if ≤ γ. "
            "No reference count: neither paper fixes a face network."
        ),
    )
)

register(
    ModelSpec(
        name="facenet_triplet",
        family="metric_learning",
        task="metric_learning",
        builder=EmbeddingNetwork,
        canonical_config=dict(input_shape=(220, 220, 3), layers=FACENET_NN1, embedding_dim=128, objective="triplet", margin=0.2, mining="semi_hard", recognition="nearest", name="facenet_triplet"),
        tiny_config=dict(input_shape=(32, 32, 3), layers=FACENET_TINY, embedding_dim=16, objective="triplet", margin=0.2, mining="semi_hard", recognition="nearest", seed=4, name="facenet_triplet"),
        reference_params=140_000_000,
        reference_source="P (Schroff et al. 2015, Table 1: NN1, 140M)",
        paper="Schroff, Kalenichenko & Philbin 2015, CVPR",
        seeds=("000", "003"),
        default_dataset="identities",
        inputs=_images(220),
        outputs=(TensorSpec("embedding", (128,)),),
        export_endpoint=_ENDPOINT,
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=30),
        notes=(
            "NN1 of Table 1 (Zeiler & Fergus-style convs with 1×1 reductions, LRN, maxout FC layers "
            "p = 2) → fc7128 → L2. Loss max(0, ‖f(a) − f(p)‖² − ‖f(a) − f(n)‖² + α), α = 0.2 (spec §9 "
            "rows 13-14: squared distances, hinge, the 128-D normalised output trained directly, no "
            "softmax). Online semi-hard negatives in P×K batches (4 images per identity: the paper's "
            "≈40 need larger batches than a CPU run); mining='random' uses the tf.data triplet rows. "
            "The paper trains with AdaGrad and lr 0.05; Adam is the default here."
        ),
    )
)
