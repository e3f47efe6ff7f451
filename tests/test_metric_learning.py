"""Family F (metric learning): the spec's row checks.

The losses in their standard forms (spec §9 rows 13-15), FaceNet's online semi-hard mining against
a brute-force reference, pair and triplet sampling in tf.data, identity-disjoint splits, τ from the
validation ROC, enrolment without retraining (enroll, then recognise held-out images of the new
person; an unknown face is rejected), unit-norm embeddings at the export endpoint, and DeepFace's
and FaceNet NN1's parameter counts (large)."""

import numpy as np
import pytest

import architectures
from tasks import get_task
from tasks.metric_learning import (
    Gallery,
    contrastive_loss,
    identity_batches,
    roc_threshold,
    semi_hard_triplet_loss,
    triplet_loss,
    verification_report,
)

TASK = get_task("metric_learning")
SMALL_DATA = {"n_identities": 30, "images_per_identity": 8}


# --- losses --------------------------------------------------------------------------------------


def test_contrastive_loss_is_hadsells_squared_form():
    # d = 0.5: similar pair ½d² = 0.125; dissimilar ½max(0, m − d)² = 0.125; d = 1.5 > m: 0.
    squared = np.array([0.25, 0.25, 2.25], "float32")
    dissimilar = np.array([0.0, 1.0, 1.0], "float32")
    per_pair = [float(contrastive_loss(squared[i : i + 1], dissimilar[i : i + 1], margin=1.0)) for i in range(3)]
    np.testing.assert_allclose(per_pair, [0.125, 0.125, 0.0], atol=1e-6)
    # The notes' non-squared variant is an option and differs: (1 − y)·d + y·max(0, m − d).
    np.testing.assert_allclose(float(contrastive_loss(squared[:1], dissimilar[:1], 1.0, squared=False)), 0.5, atol=1e-6)


def test_triplet_loss_has_facenets_sign_and_hinge():
    # max(0, d_ap − d_an + α) on squared distances: an easy triplet costs 0 (the notes' inverted
    # sign would charge it), a violating one costs d_ap − d_an + α (without the hinge the easy one
    # would be negative).
    d_ap = np.array([0.1, 0.5], "float32")
    d_an = np.array([0.5, 0.4], "float32")
    np.testing.assert_allclose([float(triplet_loss(d_ap[i : i + 1], d_an[i : i + 1], 0.2)) for i in range(2)], [0.0, 0.3], atol=1e-6)


def _semi_hard_reference(labels, embeddings, margin):
    distances = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1)
    losses = []
    for a in range(len(labels)):
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        for p in range(len(labels)):
            if p == a or labels[p] != labels[a] or not negatives:
                continue
            farther = [distances[a, n] for n in negatives if distances[a, n] > distances[a, p]]
            chosen = min(farther) if farther else max(distances[a, n] for n in negatives)
            losses.append(max(0.0, distances[a, p] - chosen + margin))
    return float(np.mean(losses))


def test_semi_hard_mining_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3], "int32")
    embeddings = rng.normal(size=(10, 4)).astype("float32")
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    mined = float(semi_hard_triplet_loss(labels, embeddings, margin=0.2))
    assert mined == pytest.approx(_semi_hard_reference(labels, embeddings, 0.2), rel=1e-5)
    # A semi-hard negative (farther than the positive, inside the margin) is preferred to a harder one.
    line = np.array([[0.0], [0.1], [0.05], [0.25]], "float32")  # anchor, positive, hard negative, semi-hard negative
    assert float(semi_hard_triplet_loss(np.array([0, 0, 1, 2]), line, 0.2)) == pytest.approx(
        _semi_hard_reference(np.array([0, 0, 1, 2]), line, 0.2), rel=1e-5
    )


# --- data ----------------------------------------------------------------------------------------


def test_identities_are_deterministic_and_split_by_identity():
    from pipelines.datasets import load_dataset
    from pipelines.train import TrainConfig, prepare_data

    a, b = load_dataset("identities", seed=3, **SMALL_DATA), load_dataset("identities", seed=3, **SMALL_DATA)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, load_dataset("identities", seed=4, **SMALL_DATA).x)
    assert a.x.shape == (240, 32, 32, 3) and a.x.min() >= 0 and a.x.max() <= 255 and len(a.class_names) == 30
    prepared = prepare_data(TrainConfig(model="facenet_triplet", data="identities", data_options=SMALL_DATA))
    parts = [set(prepared.dataset.y[idx]) for idx in (prepared.train_idx, prepared.val_idx, prepared.test_idx)]
    assert parts[0].isdisjoint(parts[2]) and parts[0].isdisjoint(parts[1]) and parts[1].isdisjoint(parts[2])
    assert all(parts) and len(parts[2]) == 6  # 20 % of the identities held out


def test_tf_data_samples_balanced_pairs_and_valid_triplets():
    labels = np.repeat(np.arange(12), 5).astype("int32")
    x = np.arange(60, dtype="float32").reshape(60, 1, 1, 1) * np.ones((1, 4, 4, 3), "float32")
    batches = list(identity_batches(x, labels, batch_size=16, shuffle=True, seed=7))
    assert sum(len(images) for images, _ in batches) >= 60
    dissimilar_share = []
    for images, targets in batches:
        identity = targets["identity"].numpy()
        assert np.array_equal(images.numpy()[:, 0, 0, 0].astype(int) // 5, identity)  # images match their labels
        assert all(np.sum(identity == i) >= 4 for i in np.unique(identity))  # K = 4 images per identity
        pairs, triplets = targets["pair_index"].numpy(), targets["triplet_index"].numpy()
        assert np.array_equal(targets["pair_dissimilar"].numpy(), (identity[pairs[:, 0]] != identity[pairs[:, 1]]).astype("float32"))
        assert np.all(identity[triplets[:, 0]] == identity[triplets[:, 1]]) and np.all(triplets[:, 0] != triplets[:, 1])
        assert np.all(identity[triplets[:, 0]] != identity[triplets[:, 2]])
        dissimilar_share.append(targets["pair_dissimilar"].numpy().mean())
    assert 0.3 < np.mean(dissimilar_share) < 0.7  # balanced same/different pairs
    again = list(identity_batches(x, labels, batch_size=16, shuffle=True, seed=7))
    assert all(np.array_equal(a[1]["pair_index"], b[1]["pair_index"]) for a, b in zip(batches, again))


# --- verification and recognition ----------------------------------------------------------------


def test_a_batch_or_a_training_set_of_one_identity_is_refused():
    x = np.zeros((16, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="holds one identity .* at least 8"):
        identity_batches(x, np.repeat(np.arange(4), 4), batch_size=4, shuffle=True)
    with pytest.raises(ValueError, match="at least two identities. Received: 1 identity"):
        identity_batches(x, np.zeros(16, "int32"), batch_size=8, shuffle=True)


def test_threshold_comes_from_the_roc_and_separates_the_pairs():
    same = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    distances = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9, 1.0])
    threshold, auc = roc_threshold(distances, same)
    assert auc == 1.0 and 0.3 <= threshold < 0.35
    embeddings = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], "float32")
    report = verification_report(embeddings, np.array([0, 0, 1, 1]), threshold=0.1)
    assert report["roc_auc"] == 1.0 and report["verification_accuracy"] == 1.0 and report["threshold_source"] == "validation ROC"


def test_gallery_rules_and_rejection():
    gallery = Gallery().add("ann", [[1.0, 0.0], [0.9, 0.1]]).add("bob", [[0.0, 1.0]])
    query = np.array([[0.95, 0.05], [0.1, 0.9], [-1.0, 0.0]], "float32")
    for rule in ("nearest", "mean_template", "knn"):
        names = [name for name, _ in gallery.recognize(query, threshold=0.5, rule=rule, k=1)]
        assert names == ["ann", "bob", None], rule  # the third face is far from everyone: rejected


def test_per_identity_classifier_needs_a_new_head_for_a_new_person():
    model = architectures.create_model("per_identity_classifier", config="tiny")
    assert model.outputs[0].shape[-1] == 8  # one softmax unit per known person, no unit for a ninth
    with pytest.raises(ValueError):
        model.get_layer("predictions").set_weights([np.zeros((32, 9), "float32"), np.zeros(9, "float32")])


def test_endpoint_gives_unit_norm_embeddings_and_tau_travels_in_the_model(tmp_path):
    import keras

    model = architectures.create_model("siamese_contrastive", config="tiny")
    x, _ = TASK.example_batch(model, 4, seed=0)
    embeddings = TASK.predict(model, x)["embedding"]
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    model.verification_threshold.assign(0.37)
    model.save(tmp_path / "m.keras")
    assert float(keras.saving.load_model(tmp_path / "m.keras").verification_threshold) == pytest.approx(0.37)


def test_enrolling_a_new_identity_needs_no_retraining(tmp_path, capsys):
    from deepzoo.cli import main
    from pipelines.gallery import identify
    from pipelines.runs import Run
    from pipelines.train import train

    result = train(
        "facenet_triplet", "identities", run_dir=tmp_path / "run", progress=None, model_config="tiny", epochs=5,
        early_stopping_patience=None,
    )
    assert result.metrics["roc_auc"] > 0.9 and result.metrics["threshold_source"] == "validation ROC"
    run = Run.load(result.run_dir)
    weights_before = [np.array(w) for w in run.load_model().weights]
    x_test, y_test = run.arrays("test")
    train_identities = set(run.arrays("train")[1])
    people = np.unique(y_test)[:4]
    assert not train_identities & set(people)  # held-out people: never seen in training
    import keras

    def files(person, rows):
        paths = []
        for row in rows:
            path = tmp_path / f"p{person}_{row}.png"
            keras.utils.save_img(path, x_test[np.flatnonzero(y_test == person)[row]], scale=False)
            paths.append(str(path))
        return paths

    for person in people[:3]:  # the fourth stays unknown
        assert main(["enroll", str(result.run_dir), "--identity", f"person{person}", *files(person, (0, 1, 2))]) == 0
    assert "gallery: 3 identities, 9 embeddings" in capsys.readouterr().out
    weights_after = [np.array(w) for w in run.load_model().weights]
    assert all(np.array_equal(a, b) for a, b in zip(weights_before, weights_after))  # nothing retrained

    probes = [(person, path) for person in people[:3] for path in files(person, (3, 4, 5))]
    matches = identify(result.run_dir, [path for _, path in probes])
    correct = [match["identity"] == f"person{person}" for (person, _), match in zip(probes, matches)]
    assert np.mean(correct) >= 0.75, matches
    unknown = identify(result.run_dir, files(people[3], (0, 1, 2, 3, 4, 5)))
    assert sum(match["identity"] is None for match in unknown) >= 3, unknown  # mostly rejected, not forced onto someone
    assert main(["identify", str(result.run_dir), files(people[0], (5,))[0]]) == 0
    assert f"person{people[0]}" in capsys.readouterr().out


# --- canonical sizes -----------------------------------------------------------------------------


@pytest.mark.large
def test_deepface_layers_have_the_papers_sizes():
    model = architectures.create_model("deepface")
    counts = {layer.name: layer.count_params() for layer in model.trunk.layers}
    assert counts["l4"] == 55 * 55 * (9 * 9 * 16 + 1) * 16  # unshared: one kernel per position
    assert counts["l5"] == 25 * 25 * (7 * 7 * 16 + 1) * 16 and counts["l6"] == 21 * 21 * (5 * 5 * 16 + 1) * 16
    assert model.trunk.output.shape[-1] == 4096 and model.head.units == 4030
    assert abs(model.count_params() - 120_000_000) / 120_000_000 < 0.01


@pytest.mark.large
def test_facenet_nn1_has_table_1s_size():
    model = architectures.create_model("facenet_triplet")
    assert model.trunk.get_layer("concat").output.shape[1:] == (7 * 7 * 256,)
    assert model.trunk.get_layer("fc1_pieces").count_params() == 7 * 7 * 256 * 8192 + 8192  # maxout p = 2, 1×32×128
    assert model.output.shape[-1] == 128
    assert abs(model.count_params() - 140_000_000) / 140_000_000 < 0.01
