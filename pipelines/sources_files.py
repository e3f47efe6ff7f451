"""File sources: `folder:PATH` (one sub-folder per class) and `tfds:NAME[:SPLIT]` (TensorFlow Datasets).

    load_dataset("folder:data/pets", image_size=64)             # PATH/<class>/<image>.png|jpg|bmp|gif
    load_dataset("tfds:mnist")                                   # split "train"
    load_dataset("tfds:cifar10:test[:10%]", max_examples=500)    # any TFDS split expression

Both return the same in-memory `Dataset` as the embedded sources: images float32 in 0..255,
labels int32 class ids with the class names. Folder images are decoded by Keras
(`keras.utils.image_dataset_from_directory`, tf.io/tf.image underneath) and resized to one size;
TFDS datasets are read with `tfds.load(..., as_supervised=True)` where the dataset names its
(input, label) pair, otherwise by the image and label keys. `tfds.load` downloads and prepares a
dataset it does not have yet (pass `download=False` to forbid it); tests use
`tfds.testing.mock_data` and never download.
"""

import difflib
from pathlib import Path

import numpy as np

from pipelines.datasets import Dataset, register_prefixed_source

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras decodes
_COLOR_MODES = {"rgb": 3, "grayscale": 1, "rgba": 4}


def _pair(size):
    return (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)


def _to_numpy(dataset, batch_size=512):
    """Stacks a tf.data.Dataset of (image, label) pairs into two numpy arrays."""
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(batch_size).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        return None, None
    return np.concatenate(images), np.concatenate(labels)


# --- folder:PATH -------------------------------------------------------------------------------


def load_folder(path, seed=0, image_size=None, color_mode="rgb"):
    """Images under PATH/<class_name>/, resized to `image_size` (default: the first image's size)."""
    import keras
    import tensorflow as tf

    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"Image folder not found. Received: folder:{path}")
    if color_mode not in _COLOR_MODES:
        raise ValueError(f"color_mode must be one of {sorted(_COLOR_MODES)}. Received: color_mode={color_mode!r}")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    if not class_dirs:
        raise ValueError(f"Image folder has no class sub-folders (expected PATH/<class>/<image>). Received: folder:{path}")
    files = {d.name: sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS) for d in class_dirs}
    empty = [name for name, found in files.items() if not found]
    if len(empty) == len(files):
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in the class sub-folders of folder:{path}")
    if empty:
        raise ValueError(f"Class sub-folder(s) without images: {empty}. Received: folder:{path}")
    if image_size is None:
        first = next(iter(files.values()))[0]
        image_size = tuple(tf.io.decode_image(tf.io.read_file(str(first)), expand_animations=False).shape[:2])

    dataset = keras.utils.image_dataset_from_directory(
        root,
        labels="inferred",
        label_mode="int",
        color_mode=color_mode,
        batch_size=None,
        image_size=_pair(image_size),
        shuffle=False,
        verbose=False,
    )
    class_names = list(dataset.class_names)
    x, y = _to_numpy(dataset)
    return Dataset(
        name=root.name,
        task="classification",
        x=x.astype("float32"),
        y=y.astype("int32"),
        class_names=class_names,
        description=f"{len(y)} images in {len(class_names)} classes from {root}",
        value_range=(0.0, 255.0),
    )


# --- tfds:NAME[:SPLIT] ------------------------------------------------------------------------

_IMAGE_KEYS = ("image", "images", "img", "features", "x")
_LABEL_KEYS = ("label", "labels", "target", "y")


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(name, tfds.list_builders(), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown TFDS dataset '{name}'.{hint} See tfds.list_builders(). Received: tfds:{name}") from None


def _pick_key(keys, candidates, what, given):
    if given is not None:
        if given not in keys:
            raise ValueError(f"TFDS feature '{given}' not found for the {what}. Available: {sorted(keys)}")
        return given
    for key in candidates:
        if key in keys:
            return key
    raise ValueError(f"Cannot tell which TFDS feature is the {what}; pass {what}_key=... . Available: {sorted(keys)}")


def load_tfds(spec, seed=0, max_examples=None, image_size=None, data_dir=None, download=True, image_key=None, label_key=None):
    """A TFDS split as numpy arrays, at most `max_examples` of them, images resized if asked."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    name, _, split = spec.partition(":")
    split = split or "train"
    builder = _builder(name, data_dir)
    info = builder.info
    supervised = info.supervised_keys is not None and image_key is None and label_key is None
    if supervised:
        input_key, target_key = info.supervised_keys[:2]
    else:
        input_key = _pick_key(info.features.keys(), _IMAGE_KEYS, "image", image_key)
        target_key = _pick_key(info.features.keys(), _LABEL_KEYS, "label", label_key)
    try:
        dataset = tfds.load(
            name, split=split, as_supervised=supervised, data_dir=data_dir, download=download, shuffle_files=False
        )
    except (tfds.core.registered.DatasetNotFoundError, AssertionError) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"TFDS dataset '{name}' is not available here ({reason}). Received: tfds:{spec}") from None
    if not supervised:
        dataset = dataset.map(lambda example: (example[input_key], example[target_key]))
    if max_examples is not None:
        dataset = dataset.take(int(max_examples))

    image_spec = dataset.element_spec[0]
    is_image = image_spec.shape.rank == 3
    if image_size is not None:
        if not is_image:
            raise ValueError(f"image_size applies to image datasets only. Received: {input_key} of shape {image_spec.shape}")
        size = _pair(image_size)
        dataset = dataset.map(lambda x, y: (tf.image.resize(x, size, antialias=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    elif not image_spec.shape.is_fully_defined():
        raise ValueError(f"TFDS '{name}' has inputs of varying shape {image_spec.shape}; pass image_size=... to resize them.")
    x, y = _to_numpy(dataset)
    if x is None:
        raise ValueError(f"TFDS split is empty. Received: tfds:{spec}")

    label_feature = info.features[target_key]
    class_names = list(label_feature.names) if isinstance(label_feature, tfds.features.ClassLabel) else None
    if class_names is not None or np.issubdtype(y.dtype, np.integer):
        task, y = "classification", y.astype("int32")
        class_names = class_names or [str(c) for c in range(int(y.max()) + 1)]
    else:
        task, y = "regression", y.astype("float32").reshape(len(y), -1)
    value_range = (0.0, 255.0) if is_image and image_spec.dtype == tf.uint8 else None
    return Dataset(
        name=name,
        task=task,
        x=x.astype("float32"),
        y=y,
        class_names=class_names,
        description=f"TFDS {name} split {split!r}: {len(y)} examples",
        value_range=value_range,
    )


register_prefixed_source("folder", load_folder)
register_prefixed_source("tfds", load_tfds)
