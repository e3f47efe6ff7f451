"""Data sources: embedded (offline) datasets, numpy files, image folders and TFDS, behind one call.

`load_dataset(name, **options)` returns an in-memory `Dataset` of raw values (pixels stay in
0..255; statistics are computed later from the training split only). Names:

    digits, wine, breast_cancer, iris, diabetes, ...   embedded (see `list_datasets()`)
    numpy:PATH.npz                                       arrays `x`, `y` (+ optional `class_names`)
    folder:PATH                                          one sub-folder per class of images
    tfds:NAME[:SPLIT]                                    TensorFlow Datasets by name

Embedded sources are registered with `register_dataset`; every generator takes a seed.
"""

import dataclasses
import difflib
from typing import Callable

import numpy as np

from tasks.base import length, take


@dataclasses.dataclass
class Dataset:
    """An in-memory dataset of raw inputs and targets."""

    name: str
    task: str
    x: np.ndarray | dict  # an array, or a dict of named arrays sliced together along axis 0
    y: np.ndarray | dict
    class_names: list | None = None
    description: str = ""
    value_range: tuple | None = None  # (low, high) of raw pixel values for image data
    # Optional per-example targets that geometric augmentation moves with the image
    # (`pipelines.augment.build_paired_augmentation`), in pixel coordinates of `x`:
    boxes: np.ndarray | None = None  # float32 [N, M, 4] (x_min, y_min, x_max, y_max), rows of -1 pad
    masks: np.ndarray | None = None  # uint8 [N, H, W] per-pixel labels (0 = background)
    keypoints: np.ndarray | None = None  # float32 [N, K, 2] (x, y), or [N, K, 3] with visibility

    @property
    def input_shape(self):
        """Shape of one example's `x` (batch excluded); a dict of shapes when `x` is a dict."""
        if isinstance(self.x, dict):
            return {key: tuple(value.shape[1:]) for key, value in self.x.items()}
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self):
        return len(self.class_names) if self.class_names else None

    def __len__(self):
        return length(self.x)

    def subset(self, indices):
        sliced = {
            field: take(getattr(self, field), indices)
            for field in ("x", "y", "boxes", "masks", "keypoints")
            if getattr(self, field) is not None
        }
        return dataclasses.replace(self, **sliced)


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    name: str
    task: str
    loader: Callable
    description: str


_SOURCES: dict[str, DatasetSource] = {}


def register_dataset(name, task, description):
    """Decorator registering an embedded dataset loader `fn(seed=0, **options) -> Dataset`."""

    def decorator(loader):
        if name in _SOURCES:
            raise ValueError(f"Dataset '{name}' is registered twice.")
        _SOURCES[name] = DatasetSource(name, task, loader, description)
        return loader

    return decorator


# Modules that register more embedded sources and prefixed loaders; imported on first use so that
# `import pipelines.datasets` stays light and the modules can import `register_dataset` from here.
SOURCE_MODULES = (
    "pipelines.sources_generated",
    "pipelines.sources_files",
    "pipelines.sources_foundations",
    "pipelines.sources_scenes",
    "pipelines.sources_text",
    "pipelines.sources_sequences",
    "pipelines.sources_identities",
    "pipelines.sources_video",
    "pipelines.sources_cells",
    "pipelines.sources_generative",
    "pipelines.sources_language",
    "pipelines.sources_interpretability",
    "pipelines.sources_pose",
    "pipelines.sources_points",
    "pipelines.sources_graphics",
    "pipelines.sources_multimodal",
    "pipelines.sources_motion",
    "pipelines.sources_algorithmic",
)
_loaded = False


def _load_source_modules():
    global _loaded
    if not _loaded:
        import importlib

        _loaded = True
        for module in SOURCE_MODULES:
            importlib.import_module(module)


def list_datasets():
    _load_source_modules()
    return {name: (source.task, source.description) for name, source in sorted(_SOURCES.items())}


def load_dataset(name, seed=0, **options):
    """Loads a dataset by name (see module docstring). Raises ValueError with suggestions."""
    _load_source_modules()
    kind, _, rest = name.partition(":")
    if rest and kind in _PREFIXED:
        _check_options(name, _PREFIXED[kind], options)
        return _PREFIXED[kind](rest, seed=seed, **options)
    source = _SOURCES.get(name)
    if source is None:
        close = difflib.get_close_matches(name, list(_SOURCES), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown dataset '{name}'.{hint} Expected an embedded name ({', '.join(sorted(_SOURCES))}) "
            "or numpy:PATH.npz, folder:PATH, tfds:NAME."
        )
    _check_options(name, source.loader, options)
    return source.loader(seed=seed, **options)


def _check_options(name, loader, options):
    """Unknown loader options are a one-line ValueError rather than a TypeError traceback."""
    import inspect

    parameters = inspect.signature(loader).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return  # the loader checks its own options
    known = sorted(p.name for p in parameters if p.default is not inspect.Parameter.empty and p.name != "seed")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for dataset '{name}'. Expected some of {known}.")


def resize_images(images, size):
    """Bilinear resize of a [N, H, W, C] array to `size` (int or (h, w)), keeping the value range."""
    import tensorflow as tf

    size = (size, size) if isinstance(size, int) else tuple(size)
    if images.shape[1:3] == size:
        return images.astype("float32")
    resized = tf.image.resize(images.astype("float32"), size, method="bilinear", antialias=True)
    return resized.numpy()


# --- embedded: scikit-learn bundled data --------------------------------------------------------


@register_dataset("digits", "classification", "scikit-learn's 1,797 handwritten digits, up-sampled to 32×32×1, pixels 0..255")
def load_digits(seed=0, image_size=32):
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = (bunch.images[..., None] * (255.0 / 16.0)).astype("float32")
    images = np.clip(resize_images(images, image_size), 0.0, 255.0)
    return Dataset(
        name="digits",
        task="classification",
        x=images.astype("float32"),
        y=bunch.target.astype("int32"),
        class_names=[str(d) for d in range(10)],
        description=f"scikit-learn digits up-sampled to {image_size}×{image_size}",
        value_range=(0.0, 255.0),
    )


def _tabular(loader_name, task, description):
    @register_dataset(loader_name, task, description)
    def load(seed=0):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{loader_name}")()
        if task == "classification":
            y = bunch.target.astype("int32")
            names = [str(n) for n in getattr(bunch, "target_names", range(int(y.max()) + 1))]
        else:
            y = bunch.target.astype("float32").reshape(-1, 1)
            names = None
        return Dataset(loader_name, task, bunch.data.astype("float32"), y, names, description)

    return load


_tabular("iris", "classification", "scikit-learn iris: 150 × 4 features, 3 classes")
_tabular("wine", "classification", "scikit-learn wine: 178 × 13 features, 3 classes")
_tabular("breast_cancer", "classification", "scikit-learn breast cancer: 569 × 30 features, binary")
_tabular("diabetes", "regression", "scikit-learn diabetes: 442 × 10 features, 1 target")


# --- files, folders and TFDS (prefixed names) ---------------------------------------------------


def _load_numpy(path, seed=0, task=None):
    from pathlib import Path

    if not Path(path).is_file():
        raise ValueError(f"numpy dataset file not found. Received: numpy:{path}")
    with np.load(path, allow_pickle=False) as arrays:
        if "x" not in arrays or "y" not in arrays:
            raise ValueError(f"numpy dataset needs arrays 'x' and 'y'. Received keys: {sorted(arrays.files)}")
        x, y = arrays["x"].astype("float32"), arrays["y"]
        class_names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    if task is None:
        task = "classification" if np.issubdtype(y.dtype, np.integer) else "regression"
    if task == "classification":
        y = y.astype("int32")
        class_names = class_names or [str(c) for c in range(int(y.max()) + 1)]
    else:
        y = y.astype("float32").reshape(len(y), -1)
    value_range = (0.0, 255.0) if x.ndim == 4 else None
    return Dataset(Path(path).stem, task, x, y, class_names, f"numpy arrays from {path}", value_range)


_PREFIXED = {"numpy": _load_numpy}


def register_prefixed_source(prefix, loader):
    """Registers a `prefix:REST` source such as folder:PATH or tfds:NAME."""
    _PREFIXED[prefix] = loader
