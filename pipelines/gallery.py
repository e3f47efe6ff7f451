"""Enrolment and recognition on a trained embedding run: new identities without retraining.

    from pipelines.gallery import enroll, identify
    enroll("runs/facenet_triplet-identities-1a2b3c4d", "alice", ["alice1.png", "alice2.png"])
    identify("runs/facenet_triplet-identities-1a2b3c4d", ["who.png"])   # [{"identity": "alice", ...}]

A run's gallery is RUN/gallery.npz (identity names and their embeddings, written atomically).
Enrolling embeds the images with the run's model (its export endpoint: the embedding network)
and adds them; the model's weights are never touched. Identification embeds the query, finds the
nearest enrolled identity by the model's recognition rule ("nearest", "mean_template" or "knn") and
rejects it when its distance d² exceeds τ, the threshold chosen on the run's validation ROC.
"""

from pathlib import Path

import numpy as np

GALLERY_FILE = "gallery.npz"


def _run_and_task(run_dir):
    import architectures  # noqa: F401 (registers the model classes that load_model rebuilds)
    from pipelines.runs import Run
    from tasks import get_task

    run = Run.load(run_dir)
    task = get_task(run.config["task"])
    if not getattr(task, "enrolls_identities", False):
        raise ValueError(
            f"The run's model is a {run.config['task']} model; enrolling needs an embedding model (a metric_learning run). "
            f"Received: {run_dir}"
        )
    return run, task


def load_images(paths, image_shape):
    """Image files (PNG, JPEG, BMP, GIF) as float32 [N, H, W, C] pixels 0..255 at the model's size."""
    import keras

    height, width, channels = (int(d) for d in image_shape)
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("No images given. Expected one or more image files.")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"Image file(s) not found: {', '.join(missing)}")
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(channels)
    if color_mode is None:
        raise ValueError(f"The model takes {channels} channels; image files give 1, 3 or 4. Received: input shape {image_shape}")
    images = []
    for path in paths:
        try:
            image = keras.utils.load_img(path, color_mode=color_mode, target_size=(height, width), interpolation="bilinear")
        except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
            raise ValueError(f"Not a readable image: {path} ({type(exc).__name__})") from None
        images.append(keras.utils.img_to_array(image, dtype="float32"))
    return np.stack(images)


def _as_images(images, model):
    image_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if isinstance(images, np.ndarray):
        if images.shape[1:] != image_shape:
            raise ValueError(f"Images must be [N, {', '.join(map(str, image_shape))}]. Received: {list(images.shape)}")
        return images.astype("float32")
    return load_images(images, image_shape)


def enroll(run_dir, identity, images):
    """Adds `identity` (a name) with the embeddings of `images` (files, or an array [N, H, W, C]
    of pixels 0..255) to RUN/gallery.npz. Returns {"identity", "images", "gallery_identities",
    "gallery_size", "path"}."""
    from tasks.metric_learning import Gallery

    run, task = _run_and_task(run_dir)
    name = str(identity).strip()
    if not name:
        raise ValueError(f"An identity needs a non-empty name. Received: {identity!r}")
    model = run.load_model()
    embeddings = task.embed(model, _as_images(images, model))
    path = Path(run_dir) / GALLERY_FILE
    gallery = Gallery.load(path).add(name, embeddings)
    gallery.save(path)
    return {"identity": name, "images": len(embeddings), "gallery_identities": gallery.identities, "gallery_size": len(gallery), "path": str(path)}


def identify(run_dir, images, threshold=None):
    """[{"identity": name or None (rejected), "distance": d², "threshold": τ}] per image, against
    RUN/gallery.npz by the run model's recognition rule. `threshold` overrides the model's τ."""
    from tasks.metric_learning import Gallery, model_threshold

    run, task = _run_and_task(run_dir)
    gallery = Gallery.load(Path(run_dir) / GALLERY_FILE)
    if not len(gallery):
        raise ValueError(f"No identity is enrolled in this run yet (deepzoo enroll RUN --identity NAME IMAGES...). Received: {run_dir}")
    model = run.load_model()
    tau = threshold if threshold is not None else model_threshold(model)
    if tau is None:
        raise ValueError("The run's model has no verification threshold (it was trained without a validation split); pass threshold=.")
    embeddings = task.embed(model, _as_images(images, model))
    matches = gallery.recognize(embeddings, tau, getattr(model, "recognition", "nearest"), getattr(model, "k_neighbors", 5))
    return [{"identity": name, "distance": distance, "threshold": float(tau)} for name, distance in matches]
