"""Data sources: every registered embedded dataset, shapes-10, numpy, folder and TFDS loaders."""

import numpy as np
import pytest

from pipelines.datasets import Dataset, list_datasets, load_dataset
from tasks.base import length

# Smaller than the defaults where a source takes a size, to keep the sweep fast.
_FAST_OPTIONS = {
    "shapes10": {"num_per_class": 20},
    "shapes10_area": {"num_per_class": 20},
    "shapes_scenes": {"n": 40},
    "shapes_masks": {"n": 40},
    "shapes_captions": {"n": 40},
    "shapes_vqa": {"n": 40},
    "shapes_clip": {"n": 40},
}


def _assert_same_structure(first, second):
    """Equal arrays, or dicts of equal arrays under the same keys (targets may be dicts)."""
    if isinstance(first, dict):
        assert isinstance(second, dict) and sorted(first) == sorted(second)
        for key in first:
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    else:
        np.testing.assert_array_equal(first, second)


def _check_contract(dataset, task):
    assert isinstance(dataset, Dataset)
    assert dataset.task == task
    assert length(dataset.x) == length(dataset.y) > 0
    # x is one array or a dict of named arrays (two-stream video: rgb and flow), each of N rows.
    for values in (dataset.x.values() if isinstance(dataset.x, dict) else [dataset.x]):
        assert len(values) == length(dataset.x)
        if values.dtype.kind in "OUS":  # text: non-empty sentences
            assert all(isinstance(s, str) and s.strip() for s in values.tolist())
        elif values.dtype.kind in "iu":  # token ids of a closed vocabulary (VQA questions)
            assert values.dtype == np.int32 and values.min() >= 0
        else:
            assert values.dtype == np.float32 and np.isfinite(values).all()
    if task == "classification":
        assert dataset.y.dtype == np.int32 and dataset.y.ndim == 1
        assert dataset.num_classes and 0 <= dataset.y.min() and dataset.y.max() < dataset.num_classes
    elif task == "regression":
        assert dataset.y.dtype == np.float32 and dataset.y.ndim >= 2  # [N, T], or dense [N, H, W, C]
    if dataset.value_range is not None:  # the range of the images (the `rgb` or `image` entry of a dict)
        low, high = dataset.value_range
        images = next((dataset.x[k] for k in ("rgb", "image") if k in dataset.x), None) if isinstance(dataset.x, dict) else dataset.x
        if images is not None:
            assert low <= images.min() and images.max() <= high
    for field in ("boxes", "masks", "keypoints"):
        values = getattr(dataset, field)
        if values is not None:
            assert len(values) == length(dataset.x)
    if dataset.masks is not None:
        assert dataset.masks.shape == dataset.x.shape[:3]


@pytest.mark.parametrize("name", sorted(list_datasets()))
def test_every_embedded_dataset_loads_and_is_reproducible(name):
    task, description = list_datasets()[name]
    assert description
    options = _FAST_OPTIONS.get(name, {})
    first = load_dataset(name, seed=3, **options)
    _check_contract(first, task)
    again = load_dataset(name, seed=3, **options)
    _assert_same_structure(first.x, again.x)
    _assert_same_structure(first.y, again.y)


def test_generated_datasets_change_with_the_seed():
    for name in ("moons", "circles", "blobs", "classification", "regression", "swiss_roll", "s_curve", "shapes10"):
        options = _FAST_OPTIONS.get(name, {})
        assert not np.array_equal(load_dataset(name, seed=0, **options).x, load_dataset(name, seed=1, **options).x), name


def test_generator_shapes_and_options():
    moons = load_dataset("moons", n_samples=64, noise=0.0)
    assert moons.x.shape == (64, 2) and sorted(np.unique(moons.y)) == [0, 1]
    assert load_dataset("blobs", centers=4, n_samples=40).num_classes == 4
    assert load_dataset("regression", n_features=3, n_samples=30).x.shape == (30, 3)
    swiss = load_dataset("swiss_roll", n_samples=50)
    assert swiss.x.shape == (50, 3) and swiss.y.shape == (50, 1)
    with pytest.raises(ValueError, match="Unknown option.*'bogus'"):
        load_dataset("moons", bogus=1)


def test_shapes10_is_balanced_and_carries_boxes_and_masks():
    data = load_dataset("shapes10", seed=0, num_per_class=30)
    assert data.x.shape == (300, 32, 32, 3) and data.value_range == (0.0, 255.0)
    assert data.class_names[:3] == ["circle", "square", "triangle"] and len(data.class_names) == 10
    np.testing.assert_array_equal(np.bincount(data.y, minlength=10), np.full(10, 30))
    assert 0.0 <= data.x.min() and data.x.max() <= 255.0 and data.x.std() > 30
    # Classes are not sorted in the array, so batches and splits see them mixed.
    assert len(np.unique(data.y[:20])) > 3
    assert data.masks.dtype == np.uint8 and set(np.unique(data.masks)) == {0, 1}
    assert data.boxes.shape == (300, 1, 4)
    ys, xs = np.nonzero(data.masks[0])
    np.testing.assert_array_equal(data.boxes[0, 0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    # Drawn shapes contrast with their background: inside and outside the mask differ in colour.
    inside = (data.x[0] * data.masks[0][..., None]).sum((0, 1)) / data.masks[0].sum()
    outside = (data.x[0] * (1 - data.masks[0][..., None])).sum((0, 1)) / (1 - data.masks[0]).sum()
    assert np.linalg.norm(inside - outside) > 40


def test_shapes10_options_and_subset():
    data = load_dataset("shapes10", seed=1, image_size=48, num_per_class=3)
    assert data.x.shape == (30, 48, 48, 3) and data.masks.shape == (30, 48, 48)
    part = data.subset(np.array([0, 5]))
    assert part.x.shape[0] == part.boxes.shape[0] == part.masks.shape[0] == 2
    np.testing.assert_array_equal(part.masks[1], data.masks[5])
    area = load_dataset("shapes10_area", seed=1, num_per_class=3)
    np.testing.assert_allclose(area.y[:, 0], area.masks.mean(axis=(1, 2)), rtol=1e-6)
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("shapes10", image_size=8)


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean: moons"):
        load_dataset("moon")


# --- numpy:PATH -------------------------------------------------------------------------------


def test_numpy_loader(tmp_path):
    path = tmp_path / "arrays.npz"
    x = np.arange(24, dtype="float64").reshape(6, 4)
    np.savez(path, x=x, y=np.array([0, 1, 2, 0, 1, 2]), class_names=np.array(["a", "b", "c"]))
    data = load_dataset(f"numpy:{path}")
    assert data.task == "classification" and data.class_names == ["a", "b", "c"]
    assert data.x.dtype == np.float32 and data.y.dtype == np.int32
    np.testing.assert_array_equal(data.x, x)

    np.savez(tmp_path / "bad.npz", features=x)
    with pytest.raises(ValueError, match="needs arrays 'x' and 'y'"):
        load_dataset(f"numpy:{tmp_path / 'bad.npz'}")
    with pytest.raises(ValueError, match="not found"):
        load_dataset(f"numpy:{tmp_path / 'missing.npz'}")


# --- folder:PATH ------------------------------------------------------------------------------


def _write_png(path, array):
    import tensorflow as tf

    tf.io.write_file(str(path), tf.io.encode_png(array.astype("uint8")))


def test_folder_loader_reads_classes_and_resizes(tmp_path):
    rng = np.random.default_rng(0)
    for class_name, count in (("cat", 3), ("dog", 2)):
        (tmp_path / class_name).mkdir()
        for i in range(count):
            _write_png(tmp_path / class_name / f"{i}.png", rng.integers(0, 256, size=(12 + i, 10, 3)))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")

    data = load_dataset(f"folder:{tmp_path}", image_size=8)
    assert data.x.shape == (5, 8, 8, 3) and data.x.dtype == np.float32
    assert data.class_names == ["cat", "dog"] and data.y.tolist() == [0, 0, 0, 1, 1]
    assert data.value_range == (0.0, 255.0) and 0 <= data.x.min() and data.x.max() <= 255

    # Without image_size every image takes the first one's size; one exact image round-trips.
    native = load_dataset(f"folder:{tmp_path}")
    assert native.x.shape == (5, 12, 10, 3)
    expected = np.random.default_rng(0).integers(0, 256, size=(12, 10, 3))
    np.testing.assert_array_equal(native.x[0], expected)

    grey = load_dataset(f"folder:{tmp_path}", image_size=(6, 4), color_mode="grayscale")
    assert grey.x.shape == (5, 6, 4, 1)


def test_folder_loader_errors(tmp_path):
    with pytest.raises(ValueError, match="Image folder not found"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_dataset(f"folder:{tmp_path}")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="No images"):
        load_dataset(f"folder:{tmp_path}")
    _write_png(tmp_path / "a" / "0.png", np.zeros((4, 4, 3)))
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=r"without images: \['b'\]"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(ValueError, match="color_mode"):
        load_dataset(f"folder:{tmp_path}", color_mode="cmyk")


# --- tfds:NAME[:SPLIT] ------------------------------------------------------------------------


def test_tfds_loader_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        data = load_dataset("tfds:mnist", max_examples=10)
        assert data.x.shape == (10, 28, 28, 1) and data.x.dtype == np.float32
        assert data.task == "classification" and data.y.dtype == np.int32
        assert data.class_names == [str(d) for d in range(10)] and data.value_range == (0.0, 255.0)

        cifar = load_dataset("tfds:cifar10:test", image_size=16)
        assert cifar.x.shape == (12, 16, 16, 3) and cifar.num_classes == 10

        with pytest.raises(ValueError, match="Unknown TFDS dataset 'mnistt'.*Did you mean: mnist"):
            load_dataset("tfds:mnistt")
        with pytest.raises(ValueError, match="Unknown option"):
            load_dataset("tfds:mnist", batch=3)
