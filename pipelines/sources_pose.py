"""Stick figures, one and several people, with keypoints, heat maps and part affinity fields (spec §8.2 J).

Each person is a 2-D skeleton (`tasks.pose.STICK14`, 14 joints in the LSP order, or COCO's 17
keypoints) with one random angle per limb around a rest pose, drawn as thick limbs (a colour per
body side: orange = right, blue = left, yellow = centre, so that a flip that swaps the sides is
visible) on a noisy background; joints are brighter dots. Keypoints are exact (the rendered
geometry), so heat-map and PAF targets are analytic (`tasks.pose.render_heatmaps`,
`tasks.pose.render_pafs`); models render them in the graph from the keypoints.

    stick_figures        x float32 [N, 64, 64, 3] pixels 0..255, one person centred;
                         y float32 [N, 1, K, 3] keypoints (x, y, visible) pixels.
    stick_figures_multi  x {"images": [N, 64, 64, 3], "boxes": [N, 4, 4] person boxes (x0, y0, x1, y1),
                         rows of -1 pad}; y float32 [N, 4, K, 3], 2-4 people side by side, padding
                         people all zero.
"""

from pipelines.datasets import Dataset, register_dataset
from tasks.pose import get_skeleton, render_stick_figures


def _check(image_size, num_examples):
    if image_size < 24:
        raise ValueError(f"stick figures need image_size >= 24. Received: image_size={image_size}")
    if num_examples < 1:
        raise ValueError(f"num_examples must be at least 1. Received: num_examples={num_examples}")


@register_dataset("stick_figures", "pose", "one stick figure per 64×64 image, 14 keypoints (x, y, visible): y [N, 1, 14, 3]")
def load_stick_figures(seed=0, image_size=64, num_examples=600, skeleton="stick14"):
    _check(image_size, num_examples)
    images, keypoints, boxes = render_stick_figures(num_examples, image_size, 1, get_skeleton(skeleton), seed)
    return Dataset(
        name="stick_figures", task="pose", x=images, y=keypoints, boxes=boxes,
        description=f"one stick figure ({skeleton}) per {image_size}×{image_size} image", value_range=(0.0, 255.0),
    )


@register_dataset("stick_figures_multi", "pose", "2-4 stick figures per 64×64 image with person boxes: x {images, boxes [N, 4, 4]}, y [N, 4, 14, 3]")
def load_stick_figures_multi(seed=0, image_size=64, num_examples=600, skeleton="stick14", min_people=2, max_people=4):
    _check(image_size, num_examples)
    if not 1 <= min_people <= max_people:
        raise ValueError(f"Expected 1 <= min_people <= max_people. Received: min_people={min_people}, max_people={max_people}")
    images, keypoints, boxes = render_stick_figures(num_examples, image_size, max_people, get_skeleton(skeleton), seed, min_people=min_people)
    return Dataset(
        name="stick_figures_multi", task="pose", x={"images": images, "boxes": boxes}, y=keypoints,
        description=f"{min_people}-{max_people} stick figures ({skeleton}) per {image_size}×{image_size} image", value_range=(0.0, 255.0),
    )
