"""Metric learning (family F): embeddings, verification (1:1) and recognition (1:K).

Element structure (batched):
    (images float32 [N, H, W, C] pixels 0..255, identity int32 [N])
The model maps an image to an L2-normalised embedding; its own `train_step` learns from batches
of images and the targets `make_dataset` samples for them in tf.data:

    {"identity":        int32 [B]     identity ids (softmax heads, online triplet mining),
     "pair_index":      int32 [B, 2]  (i, j) rows of the batch: a balanced same/different pair per row,
     "pair_dissimilar": float32 [B]   1 where the pair's identities differ (Hadsell's y),
     "triplet_index":   int32 [B, 3]  (anchor, positive, negative) rows of the batch,
     "triplet_valid":   float32 [B]   1 where the row has both a positive and a negative}

Batches hold `IMAGES_PER_IDENTITY` images of each of P identities (FaceNet's sampling: several
faces per identity per batch, so that every anchor has positives and semi-hard negatives).

Losses (spec §4.2 and §9 rows 13-15, standard forms; d = ‖f(a) − f(b)‖₂ on unit-norm embeddings):
    contrastive  L = (1 − y)·½d² + y·½·max(0, m − d)²          y = 1 for dissimilar pairs (Hadsell 2006)
    triplet      L = max(0, ‖f(a) − f(p)‖² − ‖f(a) − f(n)‖² + α), α = 0.2 (Schroff 2015)
    semi-hard    the triplet loss over every (anchor, positive) pair of the batch, each with the
                 closest negative that is farther than the positive (FaceNet §3.2), or the farthest
                 negative when none is.

Verification (1:1): d² = ‖f(x₁) − f(x₂)‖²; "same" when d² ≤ τ. τ is chosen on the validation ROC
(scikit-learn `roc_curve`, Youden's J = max TPR − FPR) after every epoch and kept in the model
(`verification_threshold`, a weight saved in model.keras). Recognition (1:K): a `Gallery` of
enrolled embeddings; the nearest identity (minimum distance, mean template distance or k-NN vote),
rejected when its distance exceeds τ. Enrolling adds embeddings; the network is not retrained.

The hold-out report (`score`) on identities never seen in training: ROC AUC over every pair,
verification accuracy at τ on a balanced pair set (every same pair and as many different pairs),
TAR at FAR 1 %, rank-1 recognition (first image of each identity enrolled, the rest probes) and
retrieval precision@k / recall@k.
"""

from pathlib import Path

import numpy as np

from tasks.base import CheckOutcome, Task, as_structure, length  # noqa: F401

IMAGES_PER_IDENTITY = 4  # K of the P×K batches
RECOGNITION_RULES = ("nearest", "mean_template", "knn")
OBJECTIVES = ("softmax", "contrastive", "triplet")
MINING = ("semi_hard", "random")


# --- distances and losses (keras.ops) --------------------------------------------------------------


def pairwise_squared_distances(embeddings):
    """‖e_i − e_j‖² [B, B] for embeddings [B, D], clipped at 0 (rounding)."""
    from keras import ops

    squared = ops.sum(ops.square(embeddings), axis=-1)
    gram = ops.matmul(embeddings, ops.transpose(embeddings))
    return ops.maximum(squared[:, None] - 2.0 * gram + squared[None, :], 0.0)


def contrastive_loss(squared_distance, dissimilar, margin=1.0, squared=True):
    """Hadsell, Chopra & LeCun 2006: (1 − y)·½d² + y·½·max(0, m − d)², y = 1 for dissimilar pairs.

    `squared=False` is the notes' variant (spec §9 row 15): (1 − y)·d + y·max(0, m − d), kept only
    as an option. Mean over the pairs."""
    from keras import ops

    y = ops.cast(dissimilar, squared_distance.dtype)
    distance = ops.sqrt(ops.maximum(squared_distance, 1e-12))
    if squared:
        per_pair = (1.0 - y) * 0.5 * squared_distance + y * 0.5 * ops.square(ops.relu(margin - distance))
    else:
        per_pair = (1.0 - y) * distance + y * ops.relu(margin - distance)
    return ops.mean(per_pair)


def triplet_loss(anchor_positive, anchor_negative, margin=0.2, weights=None):
    """Schroff et al. 2015: mean of max(0, ‖f(a) − f(p)‖² − ‖f(a) − f(n)‖² + α) over triplets
    (squared distances in). `weights` [T] masks triplets out (0) of the mean."""
    from keras import ops

    per_triplet = ops.relu(anchor_positive - anchor_negative + margin)
    if weights is None:
        return ops.mean(per_triplet)
    weights = ops.cast(weights, per_triplet.dtype)
    return ops.sum(per_triplet * weights) / ops.maximum(ops.sum(weights), 1.0)


def semi_hard_triplet_loss(labels, embeddings, margin=0.2):
    """FaceNet's online semi-hard mining over one batch (Schroff et al. 2015, §3.2).

    Every (anchor, positive) pair of the batch is a triplet; its negative is the closest one with
    ‖f(a) − f(n)‖² > ‖f(a) − f(p)‖² (semi-hard: farther than the positive, possibly inside the
    margin), or, when no negative is farther, the farthest negative. Returns the mean triplet loss
    over the pairs that have a negative at all."""
    from keras import ops

    labels = ops.reshape(labels, (-1,))
    distances = pairwise_squared_distances(embeddings)
    batch = ops.shape(labels)[0]
    same = ops.equal(labels[:, None], labels[None, :])
    not_self = ops.logical_not(ops.cast(ops.eye(batch), "bool"))
    positive = ops.logical_and(same, not_self)  # [a, p]
    negative = ops.logical_not(same)  # [a, n]
    d_ap = distances[:, :, None]  # [a, p, 1]
    d_an = distances[:, None, :]  # [a, 1, n]
    semi_hard = ops.logical_and(negative[:, None, :], ops.greater(d_an, d_ap))  # [a, p, n]
    large = ops.max(distances) + 1.0
    closest_farther = ops.min(ops.where(semi_hard, d_an, large), axis=-1)  # [a, p]
    farthest = ops.max(ops.where(negative, distances, -1.0), axis=-1, keepdims=True)  # [a, 1]
    chosen = ops.where(ops.any(semi_hard, axis=-1), closest_farther, farthest)
    valid = ops.logical_and(positive, ops.any(negative, axis=-1, keepdims=True))
    return triplet_loss(distances, chosen, margin, weights=valid)


# --- sampling in tf.data ---------------------------------------------------------------------------


def sample_pairs_and_triplets(labels, seed):
    """Pair and triplet rows for one batch of identity `labels` [B] (TensorFlow ops, stateless
    random with `seed` [2]): each row i gets a positive (another row of its identity), a negative
    (a row of another identity) and a pair partner that is the positive or the negative with
    probability ½ each (balanced same/different pairs)."""
    import tensorflow as tf

    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    batch = tf.shape(labels)[0]
    rows = tf.range(batch)
    same = tf.equal(labels[:, None], labels[None, :])
    positive = tf.logical_and(same, tf.logical_not(tf.eye(batch, dtype=tf.bool)))
    negative = tf.logical_not(same)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)

    def pick(mask, seed_pair):
        scores = tf.where(mask, tf.random.stateless_uniform([batch, batch], seed_pair), -1.0)
        return tf.cast(tf.argmax(scores, axis=1), tf.int32), tf.reduce_any(mask, axis=1)

    positive_row, has_positive = pick(positive, seeds[0])
    negative_row, has_negative = pick(negative, seeds[1])
    positive_row = tf.where(has_positive, positive_row, rows)
    negative_row = tf.where(has_negative, negative_row, rows)
    want_same = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
    partner = tf.where(tf.logical_or(tf.logical_and(want_same, has_positive), tf.logical_not(has_negative)), positive_row, negative_row)
    return {
        "identity": labels,
        "pair_index": tf.stack([rows, partner], axis=1),
        "pair_dissimilar": tf.cast(tf.not_equal(labels, tf.gather(labels, partner)), tf.float32),
        "triplet_index": tf.stack([rows, positive_row, negative_row], axis=1),
        "triplet_valid": tf.cast(tf.logical_and(has_positive, has_negative), tf.float32),
    }


def identity_batches(x, y, batch_size, shuffle=False, seed=0, images_per_identity=IMAGES_PER_IDENTITY):
    """A `tf.data.Dataset` of `(images, targets)`: P×K batches (P = batch_size // K identities, K
    images of each, drawn without replacement where an identity has enough), with the pair and
    triplet rows of `sample_pairs_and_triplets`. One epoch draws about len(x) images. Without
    `shuffle` the batches are the same every epoch (validation)."""
    import tensorflow as tf

    labels = np.asarray(y).reshape(-1).astype("int32")
    identities, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=len(identities))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype("int32")
    k = int(max(1, min(images_per_identity, batch_size)))
    per_batch = max(1, batch_size // k)
    # A batch of one identity has no negatives: every triplet would be invalid and every pair
    # "same", so the loss would be silently zero.
    if per_batch < 2:
        raise ValueError(
            f"A batch of {batch_size} images holds one identity ({k} images each); pairs and triplets need at "
            f"least two identities per batch. Use a batch size of at least {2 * k}."
        )
    if shuffle and len(identities) < 2:
        raise ValueError(f"Pairs and triplets need at least two identities. Received: {len(identities)} identity in {len(labels)} training images")
    repeats = max(1, int(np.ceil(len(labels) / (len(identities) * k))))
    images = tf.constant(np.asarray(x, dtype="float32"))
    label_table = tf.constant(labels)
    order_table, count_table, start_table = tf.constant(order.astype("int32")), tf.constant(counts.astype("int32")), tf.constant(starts)

    draws = tf.data.Dataset.from_tensor_slices(np.tile(np.arange(len(identities), dtype="int32"), repeats))
    if shuffle:
        draws = draws.shuffle(len(identities) * repeats, seed=seed, reshuffle_each_iteration=True)
    # A seed per identity draw and per batch: stateless, so an epoch is reproducible from `seed`.
    draws = tf.data.Dataset.zip((draws, tf.data.Dataset.random(seed=seed).batch(2)))

    def members(identity, random_pair):
        count = count_table[identity]
        ranks = tf.argsort(tf.random.stateless_uniform([count], tf.cast(random_pair, tf.int64)))
        ranks = tf.gather(ranks, tf.math.floormod(tf.range(k), count))  # repeats only when count < k
        return tf.gather(order_table, start_table[identity] + tf.cast(ranks, tf.int32))

    dataset = draws.map(members, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(per_batch)
    dataset = tf.data.Dataset.zip((dataset, tf.data.Dataset.random(seed=seed + 1).batch(2)))

    def gather(indices, random_pair):
        indices = tf.reshape(indices, [-1])
        batch_labels = tf.gather(label_table, indices)
        return tf.gather(images, indices), sample_pairs_and_triplets(batch_labels, random_pair)

    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if not shuffle:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


def batch_targets(y, seed=0):
    """The targets dict of one fixed batch (numpy), as `identity_batches` samples them."""
    import tensorflow as tf

    targets = sample_pairs_and_triplets(tf.constant(np.asarray(y).reshape(-1).astype("int32")), tf.constant([seed, 0], tf.int64))
    return {key: value.numpy() for key, value in targets.items()}


# --- verification and recognition (numpy, scikit-learn) --------------------------------------------


def squared_distances(a, b):
    """‖a_i − b_j‖² [len(a), len(b)] in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.maximum((a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :], 0.0)


def all_pairs(labels):
    """(squared-distance row i, column j, same) over every unordered pair i < j."""
    labels = np.asarray(labels).reshape(-1)
    i, j = np.triu_indices(len(labels), k=1)
    return i, j, labels[i] == labels[j]


def roc_threshold(distances, same):
    """τ on d² from the ROC of "same" scored by −d²: Youden's J (max TPR − FPR). Returns (τ, auc)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    same = np.asarray(same, bool)
    scores = -np.asarray(distances, np.float64)
    if same.all() or not same.any():
        raise ValueError(f"A ROC needs same and different pairs. Received: {int(same.sum())} same of {len(same)}")
    fpr, tpr, thresholds = roc_curve(same, scores)
    best = int(np.argmax(tpr - fpr))
    threshold = float(-thresholds[best]) if np.isfinite(thresholds[best]) else float(np.max(distances))
    return threshold, float(roc_auc_score(same, scores))


def balanced_pairs(same, seed=0):
    """Indices of every same pair and as many different pairs drawn at random (seeded)."""
    same = np.asarray(same, bool)
    positives, negatives = np.flatnonzero(same), np.flatnonzero(~same)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(negatives, size=min(len(positives), len(negatives)), replace=False)
    return np.sort(np.concatenate([positives, chosen]))


def verification_report(embeddings, labels, threshold=None, far=0.01):
    """ROC AUC over every pair, accuracy at τ on balanced pairs, TAR at `far`, and τ itself.
    Without `threshold` τ is chosen on these very pairs (an optimistic figure, said so)."""
    from sklearn.metrics import roc_curve

    distances = squared_distances(embeddings, embeddings)
    i, j, same = all_pairs(labels)
    if same.all() or not same.any():  # a tiny hold-out (one image per identity): no ROC to draw
        return {"num_pairs": len(same), "num_same_pairs": int(same.sum())}
    pair_distances = distances[i, j]
    chosen, auc = roc_threshold(pair_distances, same)
    source = "validation ROC"
    if threshold is None or not np.isfinite(threshold) or threshold <= 0:
        threshold, source = chosen, "these pairs' ROC (no validation threshold)"
    balanced = balanced_pairs(same)
    accepted = pair_distances[balanced] <= threshold
    fpr, tpr, _ = roc_curve(same, -pair_distances)
    return {
        "roc_auc": auc,
        "verification_accuracy": float(np.mean(accepted == same[balanced])),
        "threshold": float(threshold),
        "threshold_source": source,
        f"tar_at_far_{far:g}": float(np.max(tpr[fpr <= far], initial=0.0)),
        "num_pairs": len(same),
        "num_same_pairs": int(same.sum()),
    }


class Gallery:
    """Enrolled identities: embeddings [M, D] with their identity names. Recognition never touches
    the network's weights: enrolling a person adds rows here.

    Rules: "nearest" (the identity of the closest enrolled embedding, FaceNet's 1:K), "mean_template"
    (the identity with the smallest mean distance to its templates, the notes' rule), "knn" (a
    majority vote of the k nearest, ties to the closer). A match farther than `threshold` (d²) is
    rejected (None)."""

    def __init__(self, names=(), embeddings=None):
        self.names = [str(n) for n in names]
        self.embeddings = np.zeros((0, 0), "float32") if embeddings is None else np.asarray(embeddings, "float32")

    def __len__(self):
        return len(self.names)

    @property
    def identities(self):
        return sorted(set(self.names))

    def add(self, name, embeddings):
        embeddings = np.asarray(embeddings, "float32").reshape(len(embeddings), -1)
        if not str(name).strip():
            raise ValueError(f"An identity needs a non-empty name. Received: {name!r}")
        if len(self) and embeddings.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"Embedding width {embeddings.shape[1]} differs from the gallery's {self.embeddings.shape[1]}.")
        self.embeddings = embeddings if not len(self) else np.concatenate([self.embeddings, embeddings])
        self.names += [str(name)] * len(embeddings)
        return self

    def recognize(self, embeddings, threshold, rule="nearest", k=5):
        """[(name or None, distance)] per query embedding."""
        if rule not in RECOGNITION_RULES:
            raise ValueError(f"rule must be one of {RECOGNITION_RULES}. Received: rule={rule!r}")
        if not len(self):
            raise ValueError("The gallery is empty: enroll at least one identity first.")
        distances = squared_distances(embeddings, self.embeddings)
        names = np.asarray(self.names)
        results = []
        for row in distances:
            if rule == "mean_template":
                means = {name: float(row[names == name].mean()) for name in self.identities}
                name = min(means, key=means.get)
                distance = means[name]
            elif rule == "knn":
                nearest = np.argsort(row, kind="stable")[: max(1, int(k))]
                votes = {}
                for index in nearest:
                    count, closest = votes.get(names[index], (0, np.inf))
                    votes[names[index]] = (count + 1, min(closest, row[index]))
                name = max(votes, key=lambda n: (votes[n][0], -votes[n][1]))
                distance = float(votes[name][1])
            else:
                index = int(np.argmin(row))
                name, distance = str(names[index]), float(row[index])
            results.append((str(name) if distance <= threshold else None, distance))
        return results

    def save(self, path):
        from common.io import atomic_path

        with atomic_path(Path(path), suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, names=np.asarray(self.names, dtype=str), embeddings=self.embeddings)
        return Path(path)

    @classmethod
    def load(cls, path):
        path = Path(path)
        if not path.is_file():
            return cls()
        with np.load(path, allow_pickle=False) as arrays:
            return cls(arrays["names"].tolist(), arrays["embeddings"])


def recognition_report(embeddings, labels, rule="nearest", k=5, ks=(1, 5)):
    """Rank-1 recognition with the first image of each identity enrolled and the others as probes
    (closed set: no rejection), and retrieval precision@k / recall@k among the held-out images."""
    labels = np.asarray(labels).reshape(-1)
    embeddings = np.asarray(embeddings, "float32")
    first = np.array([np.flatnonzero(labels == identity)[0] for identity in np.unique(labels)])
    probes = np.setdiff1d(np.arange(len(labels)), first)
    gallery = Gallery([str(v) for v in labels[first]], embeddings[first])
    report = {}
    if len(probes):
        predicted = [name for name, _ in gallery.recognize(embeddings[probes], np.inf, rule if rule != "knn" else "nearest", k)]
        report["rank1_accuracy"] = float(np.mean(np.asarray(predicted) == labels[probes].astype(str)))
    distances = squared_distances(embeddings, embeddings)
    np.fill_diagonal(distances, np.inf)
    ranked = np.argsort(distances, axis=1, kind="stable")
    for top in ks:
        top = min(top, len(labels) - 1)
        hits = labels[ranked[:, :top]] == labels[:, None]
        report[f"precision_at_{top}"] = float(hits.mean())
        report[f"recall_at_{top}"] = float(hits.any(axis=1).mean())
    return report


# --- the task --------------------------------------------------------------------------------------


class MetricLearning(Task):
    name = "metric_learning"
    element = "(images float32 [N, H, W, C] pixels 0..255, identity int32 [N])"
    default_dataset = "identities"
    monitor = ("val_roc_auc", "max")
    objective = ("roc_auc", "max")
    objectives = (("roc_auc", "max"), ("verification_accuracy", "max"), ("rank1_accuracy", "max"))
    train_check = "loss_falls"
    export_outputs = "embedding float32 [N, D], L2-normalised (d² = ‖a − b‖² ≤ τ: same identity)"
    stratify = False
    augmentation = "own"  # no image-label presets: the targets are sampled rows of the batch
    enrolls_identities = True  # `pipelines.gallery` may enroll and recognise with this task's models

    def split_groups(self, y):
        """Identities: the held-out identities are never seen in training (nor in validation)."""
        return np.asarray(y).reshape(-1)

    # --- data ---------------------------------------------------------------------------------

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        dataset = identity_batches(x, y, batch_size, shuffle=shuffle, seed=seed)
        if augment is not None:
            import tensorflow as tf

            dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset

    def build_augmentation(self, config, dataset, seed):
        """None: no augmentation is offered yet (the pose, lighting and noise of the synthetic
        identities are the variation); asking for one is an error rather than silently ignored."""
        if config in (None, "none", {}):
            return
        raise ValueError(f"The metric_learning task offers no --augment yet (the identities dataset renders its own pose, lighting and noise). Received: {config!r}")

    def callbacks(self, run_dir, model, x_val=None, y_val=None):
        """`val_roc_auc` in the logs and τ chosen on the validation ROC after every epoch."""
        if x_val is None or length(x_val) < 2 or len(np.unique(y_val)) < 2:
            return []
        return [validation_roc_callback(self, x_val, y_val)]

    # --- training -----------------------------------------------------------------------------

    def compile(self, model, optimizer, jit_compile=False, **options):
        """The model trains with its own loss (`objective`); task options do not apply."""
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    # --- evaluation ---------------------------------------------------------------------------

    def embed(self, model, x, batch_size=256):
        return self.predict(model, x, batch_size)["embedding"]

    def score(self, y_true, outputs, class_names=None, threshold=None, rule="nearest", k=5):
        y_true = np.asarray(y_true) if not isinstance(y_true, dict) else None
        embeddings = outputs["embedding"] if isinstance(outputs, dict) else np.asarray(outputs)
        report = {"num_examples": len(embeddings)}
        # Without identity labels (a quantised export checked against Keras' own embeddings) there
        # is nothing to verify: the exporter then compares the outputs themselves.
        if y_true is None or y_true.ndim != 1 or y_true.dtype.kind not in "iu" or len(np.unique(y_true)) < 2:
            return report
        report.update(verification_report(embeddings, y_true, threshold))
        report.update(recognition_report(embeddings, y_true, rule, k))
        report["num_identities"] = len(np.unique(y_true))
        return report

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        threshold = model_threshold(model)
        report = self.score(y, self.predict(model, x), class_names, threshold, getattr(model, "recognition", "nearest"), getattr(model, "k_neighbors", 5))
        if "roc_auc" not in report:
            report.update(roc_auc=float("nan"), note="no same-identity pair among the held-out images: no ROC")
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """roc.png: the verification ROC on the held-out identities, τ marked."""
        if np.isfinite(report.get("roc_auc", np.nan)):
            save_roc(self.embed(model, x), y, Path(run_dir) / "roc.png", report.get("threshold"))

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """Random images, identities 0, 0, 1, 1, ... (two images each: every row has a positive)."""
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 255.0, size=(n, *model.inputs[0].shape[1:])).astype("float32")
        y = (np.arange(n) // 2).astype("int32")
        return x, y

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        """Fits the fixed batch with fixed sampled pairs and triplets (one batch per step)."""
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
        model.optimizer.build(model.trainable_variables)
        targets = batch_targets(y)
        return model.fit(x, targets, batch_size=length(x), epochs=epochs, shuffle=False, verbose=0).history

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """The embedding network: {"images": float32 [N, H, W, C]} -> {"embedding": float32 [N, D]}."""
        import keras

        if isinstance(model.output, dict):
            return model
        return keras.Model(model.input, {"embedding": model.output}, name=f"{model.name}_embedding")


def model_threshold(model):
    """τ kept in the model (None when no validation ROC has set it yet)."""
    variable = getattr(model, "verification_threshold", None)
    if variable is None:
        return None
    value = float(np.asarray(variable))
    return value if value > 0 else None


def validation_roc_callback(task, x_val, y_val):
    """A Keras callback: after each epoch, embeds the validation images, adds `val_roc_auc` to the
    logs and sets the model's τ from the validation ROC (Youden's J)."""
    import keras

    labels = np.asarray(y_val).reshape(-1)

    class ValidationROC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            i, j, same = all_pairs(labels)
            if same.all() or not same.any():
                return  # no same-identity pair among the validation images: nothing to choose τ on
            embeddings = task.embed(self.model, x_val)
            threshold, auc = roc_threshold(squared_distances(embeddings, embeddings)[i, j], same)
            if getattr(self.model, "verification_threshold", None) is not None:
                self.model.verification_threshold.assign(threshold)
            if logs is not None:
                logs["val_roc_auc"] = auc
                logs["val_threshold"] = threshold

    return ValidationROC()


def save_roc(embeddings, labels, path, threshold=None, title=""):
    """The verification ROC of every pair as a PNG; τ's operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    from common.io import atomic_path

    i, j, same = all_pairs(labels)
    distances = squared_distances(embeddings, embeddings)[i, j]
    fpr, tpr, _ = roc_curve(same, -distances)
    figure, axis = plt.subplots(figsize=(5, 4.2))
    axis.plot(fpr, tpr, label=f"AUC {roc_auc_score(same, -distances):.4f}")
    if threshold is not None:
        accept = distances <= threshold
        axis.plot([accept[~same].mean()], [accept[same].mean()], "o", label=f"τ = {threshold:.3f}")
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set_xlabel("false accept rate")
    axis.set_ylabel("true accept rate")
    axis.set_title(title or f"verification ROC, {len(np.unique(labels))} held-out identities")
    axis.legend(loc="lower right")
    with atomic_path(Path(path), suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return Path(path)
