"""Shapes scenes with captions, questions and answers, and image-text pairs (spec §8.2 G, H).

The scene geometry (shape classes, places, scales, rotations, occlusion, the visible instance
masks and their boxes) comes from `pipelines.sources_scenes.generate_scenes`; this module repaints
each scene with named colours (so that words can describe it), a plain grey background and pixel
noise, down-samples it by 2×2 averaging to `image_size` and writes the text from the annotations:

    caption   "a red circle above a blue square" (two shapes: the first painted, its relation to
              the second from the boxes' centres: above / below / left of / right of)
    questions count     "how many shapes are there"                       -> one | two | three
              colour    "what colour is the circle"  (a shape seen once)  -> red | green | ...
              shape     "what shape is the red object" (a colour seen once) -> circle | ...
              position  "where is the red circle relative to the blue square" -> above | below | left | right
    clip      one shape; "a red circle", "a photo of a red circle", "a circle in red" (templates
              chosen at random); the zero-shot prompt is "a photo of a {shape}"

Datasets (deterministic given `seed`):

    shapes_captions (captioning)      x float32 [N, S, S, 3] pixels 0..255, y string [N] captions
    shapes_vqa      (classification)  x {"image": float32 [N, S, S, 3], "question_ids": int32 [N, 12]},
                                      y int32 [N] answer ids, class_names = ANSWERS; question ids under
                                      the fixed `VOCABULARY` (templated text: the vocabulary is closed)
    shapes_clip     (contrastive)     x {"image": float32 [N, S, S, 3], "caption": string [N]},
                                      y int32 [N] the shape's class (zero-shot ground truth)
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset
from pipelines.sources_scenes import SCENE_CLASSES, generate_scenes

SHAPE_NAMES = SCENE_CLASSES[:4]  # circle, square, triangle, star
COLOURS = {"red": (215, 40, 40), "green": (40, 170, 60), "blue": (45, 75, 215), "yellow": (225, 205, 40)}
COLOUR_NAMES = tuple(COLOURS)
COUNT_WORDS = ("one", "two", "three")
RELATIONS = ("above", "below", "left", "right")
ANSWERS = (*COUNT_WORDS, *COLOUR_NAMES, *SHAPE_NAMES, *RELATIONS)
QUESTION_TYPES = ("count", "colour", "shape", "position")
QUESTION_LENGTH = 12
CLIP_TEMPLATES = ("a {colour} {shape}", "a photo of a {colour} {shape}", "a {shape} in {colour}")
ZERO_SHOT_TEMPLATE = "a photo of a {shape}"
# Every word the templates use: the closed vocabulary of the question ids (0 pads, 1 unknown).
VOCABULARY = (
    "",
    "[UNK]",
    *["a", "photo", "of", "in", "above", "below", "left", "right", "relative", "to", "how", "many", "shapes", "are", "there", "what", "colour", "is", "the", "shape", "object", "where"],
    *COLOUR_NAMES,
    *SHAPE_NAMES,
)


def _relation(box_a, box_b):
    """Where shape a is relative to shape b, from their box centres (the larger offset wins)."""
    ax, ay = (box_a[0] + box_a[2]) / 2, (box_a[1] + box_a[3]) / 2
    bx, by = (box_b[0] + box_b[2]) / 2, (box_b[1] + box_b[3]) / 2
    if abs(ay - by) >= abs(ax - bx):
        return "above" if ay < by else "below"
    return "left" if ax < bx else "right"


def _caption_relation(relation):
    return f"{relation} of" if relation in ("left", "right") else relation


def colour_scenes(seed, n, image_size=32, objects=(2, 2)):
    """`n` scenes with between objects[0] and objects[1] shapes, each in a named colour.

    Returns {"images": float32 [N, S, S, 3] 0..255, "shapes": list of int arrays (class per shape,
    painting order), "colours": list of int arrays (COLOUR_NAMES index), "boxes": list of [k, 4]}.
    Scenes are drawn at twice `image_size` and averaged 2×2 (generate_scenes needs ≥ 48 pixels).
    """
    if image_size < 24:
        raise ValueError(f"shapes scene image_size must be at least 24. Received: image_size={image_size}")
    low, high = objects
    rng = np.random.default_rng(seed + 7919)
    images, shapes, colours, boxes = [], [], [], []
    batch_seed = seed
    while len(images) < n:
        scenes = generate_scenes(seed=batch_seed, n=max(32, 2 * (n - len(images))), image_size=2 * image_size,
                                 num_classes=len(SHAPE_NAMES), max_objects=high, noise=0.0)
        batch_seed += 100_003
        for index in range(len(scenes["images"])):
            classes = scenes["classes"][index]
            count = int((classes >= 0).sum())
            if not low <= count <= high or len(images) >= n:
                continue
            masks = scenes["instance_masks"][index, :count].astype(bool)
            # Distinct colours per scene, so that "the red object" names one shape.
            colour_ids = rng.permutation(len(COLOUR_NAMES))[:count]
            grey = rng.uniform(90.0, 170.0)
            image = np.full((2 * image_size, 2 * image_size, 3), grey, "float32")
            for mask, colour in zip(masks, colour_ids):
                image[mask] = np.asarray(COLOURS[COLOUR_NAMES[colour]], "float32") + rng.uniform(-20, 20, size=3)
            image += rng.normal(0.0, 6.0, size=image.shape)
            image = image.reshape(image_size, 2, image_size, 2, 3).mean(axis=(1, 3))
            images.append(np.clip(image, 0.0, 255.0).astype("float32"))
            shapes.append(classes[:count].astype(int))
            colours.append(colour_ids.astype(int))
            boxes.append(scenes["boxes"][index, :count] / 2.0)
    return {"images": np.stack(images), "shapes": shapes, "colours": colours, "boxes": boxes}


def caption_of(shapes, colours, boxes):
    """The templated caption of a scene: one shape, or the first shape relative to the second."""
    first = f"a {COLOUR_NAMES[colours[0]]} {SHAPE_NAMES[shapes[0]]}"
    if len(shapes) == 1:
        return first
    relation = _caption_relation(_relation(boxes[0], boxes[1]))
    return f"{first} {relation} a {COLOUR_NAMES[colours[1]]} {SHAPE_NAMES[shapes[1]]}"


def question_ids(questions):
    """int32 [N, QUESTION_LENGTH] ids of questions under the closed `VOCABULARY`."""
    from tasks.text import pad, tokenize

    return pad(tokenize(questions, list(VOCABULARY)), width=QUESTION_LENGTH)


def scene_questions(scenes, seed):
    """One question per scene, its type in turn (a type the scene cannot ask falls back to count).
    Returns (questions list of str, answers int32 [N] into ANSWERS, types int32 [N])."""
    rng = np.random.default_rng(seed + 31)
    questions, answers, types = [], [], []
    for index, (shapes, colours, boxes) in enumerate(zip(scenes["shapes"], scenes["colours"], scenes["boxes"])):
        wanted = QUESTION_TYPES[index % len(QUESTION_TYPES)]
        unique_shapes = [i for i, s in enumerate(shapes) if list(shapes).count(s) == 1]
        if wanted == "colour" and unique_shapes:
            i = int(rng.choice(unique_shapes))
            question, answer = f"what colour is the {SHAPE_NAMES[shapes[i]]}", COLOUR_NAMES[colours[i]]
        elif wanted == "shape":
            i = int(rng.integers(len(shapes)))  # colours are distinct within a scene
            question, answer = f"what shape is the {COLOUR_NAMES[colours[i]]} object", SHAPE_NAMES[shapes[i]]
        elif wanted == "position" and len(shapes) >= 2:
            i, j = (int(v) for v in rng.permutation(len(shapes))[:2])
            question = (
                f"where is the {COLOUR_NAMES[colours[i]]} {SHAPE_NAMES[shapes[i]]} relative to the "
                f"{COLOUR_NAMES[colours[j]]} {SHAPE_NAMES[shapes[j]]}"
            )
            answer = _relation(boxes[i], boxes[j])
        else:
            wanted = "count"
            question, answer = "how many shapes are there", COUNT_WORDS[len(shapes) - 1]
        questions.append(question)
        answers.append(ANSWERS.index(answer))
        types.append(QUESTION_TYPES.index(wanted))
    return questions, np.asarray(answers, "int32"), np.asarray(types, "int32")


def vqa_examples(seed=0, n=1200, image_size=32):
    """(images, questions, answers, question types) of 1–3-shape scenes (see `scene_questions`)."""
    scenes = colour_scenes(seed, n, image_size, objects=(1, 3))
    questions, answers, types = scene_questions(scenes, seed)
    return scenes["images"], questions, answers, types


@register_dataset("shapes_captions", "captioning", "32×32 two-shape scenes with captions 'a red circle above a blue square' (spec §8.2 H)")
def load_shapes_captions(seed=0, n=1200, image_size=32):
    scenes = colour_scenes(seed, n, image_size, objects=(2, 2))
    captions = [caption_of(*parts) for parts in zip(scenes["shapes"], scenes["colours"], scenes["boxes"])]
    return Dataset(
        name="shapes_captions",
        task="captioning",
        x=scenes["images"],
        y=np.array(captions, dtype=object),
        description=f"shapes captions: {n} scenes of two coloured shapes, {image_size}×{image_size}",
        value_range=(0.0, 255.0),
    )


@register_dataset("shapes_vqa", "classification", "32×32 scenes of 1–3 shapes with count/colour/shape/position questions (spec §8.2 H)")
def load_shapes_vqa(seed=0, n=1200, image_size=32):
    images, questions, answers, _ = vqa_examples(seed, n, image_size)
    return Dataset(
        name="shapes_vqa",
        task="classification",
        x={"image": images, "question_ids": question_ids(questions)},
        y=answers,
        class_names=list(ANSWERS),
        description=f"shapes VQA: {n} scenes, one templated question each, {len(ANSWERS)} answers",
        value_range=(0.0, 255.0),
    )


def clip_examples(seed=0, n=1200, image_size=32):
    """(images, captions, shape classes) of one-shape scenes with templated captions."""
    scenes = colour_scenes(seed, n, image_size, objects=(1, 1))
    rng = np.random.default_rng(seed + 17)
    captions = [
        CLIP_TEMPLATES[int(rng.integers(len(CLIP_TEMPLATES)))].format(colour=COLOUR_NAMES[c[0]], shape=SHAPE_NAMES[s[0]])
        for s, c in zip(scenes["shapes"], scenes["colours"])
    ]
    labels = np.asarray([s[0] for s in scenes["shapes"]], "int32")
    return scenes["images"], np.array(captions, dtype=object), labels


@register_dataset("shapes_clip", "contrastive", "32×32 one-shape scenes with templated captions 'a photo of a red circle' (spec §8.2 G)")
def load_shapes_clip(seed=0, n=1200, image_size=32):
    images, captions, labels = clip_examples(seed, n, image_size)
    return Dataset(
        name="shapes_clip",
        task="contrastive",
        x={"image": images, "caption": captions},
        y=labels,
        class_names=list(SHAPE_NAMES),
        description=f"shapes image-caption pairs: {n} one-shape scenes, {image_size}×{image_size}",
        value_range=(0.0, 255.0),
    )


UNCLIP_CAPTION_LENGTH = 8


def unclip_caption_ids(captions):
    """int32 [N, 8] ids of captions under the closed `VOCABULARY` (0 pads; no start/end token: the
    unCLIP text tower reads the feature of the last word)."""
    from tasks.text import pad, tokenize

    return pad(tokenize(captions, list(VOCABULARY)), width=UNCLIP_CAPTION_LENGTH)


@register_dataset("shapes_unclip", "diffusion", "24×24 one-shape scenes with caption ids 'a photo of a red circle' for text-to-image (spec §8.2 G)")
def load_shapes_unclip(seed=0, n=800, image_size=24):
    """x {"samples": float32 [N, S, S, 3] pixels 0..255, "caption_ids": int32 [N, 8]}, y int32 [N] shape class."""
    images, captions, labels = clip_examples(seed, n, image_size)
    return Dataset(
        name="shapes_unclip",
        task="diffusion",
        x={"samples": images, "caption_ids": unclip_caption_ids(list(captions))},
        y=labels,
        class_names=list(SHAPE_NAMES),
        description=f"shapes text-to-image pairs: {n} one-shape scenes, {image_size}×{image_size}, captions as ids",
        value_range=(0.0, 255.0),
    )
