"""Synthetic "cells" (spec §8.2 E): touching random ellipses with textured interiors and thin
borders, the U-Net setting (Ronneberger et al. 2015, §3: separating touching objects of the same
class, with the border weight map w(x) and elastic deformation).

Each image holds a jittered grid of cells. A cell is an ellipse (random axes and orientation)
grown until it meets its neighbours: a pixel belongs to the cell of smallest elliptical distance
if that distance is below 1, so neighbouring cells touch, and the one-pixel line where two cells
meet is a dark membrane labelled background, as in the ISBI EM stacks. Interiors carry a per-cell
brightness, a smooth texture and noise; one grey channel, values in 0..255.

Targets: y uint8 [N, H, W], 0 = background (and membranes), 1 = cell. `instance_masks` keeps the
cell ids for the weight map (`tasks.segmentation.unet_weight_map`) and for checks.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset


def _draw_cells(rng, size, grid, noise):
    spacing = size / grid
    centres = []
    for row in range(grid):
        for col in range(grid):
            if rng.random() < 0.85:  # some gaps of background between groups of cells
                centres.append(((row + 0.5 + rng.uniform(-0.3, 0.3)) * spacing, (col + 0.5 + rng.uniform(-0.3, 0.3)) * spacing))
    rows, cols = np.mgrid[0:size, 0:size].astype("float32")
    best = np.full((size, size), np.inf, dtype="float32")
    owner = np.zeros((size, size), dtype="int32")
    for index, (cy, cx) in enumerate(centres, start=1):
        angle = rng.uniform(0, np.pi)
        semi_a, semi_b = spacing * rng.uniform(0.55, 0.8), spacing * rng.uniform(0.45, 0.7)
        dy, dx = rows - cy, cols - cx
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / semi_a
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / semi_b
        distance = np.sqrt(u * u + v * v)
        closer = distance < best
        best[closer], owner[closer] = distance[closer], index
    instances = np.where(best < 1.0, owner, 0)
    # Membranes: a cell pixel whose right or lower neighbour belongs to another cell.
    membrane = np.zeros_like(instances, dtype=bool)
    different_right = (instances[:, :-1] > 0) & (instances[:, 1:] > 0) & (instances[:, :-1] != instances[:, 1:])
    different_down = (instances[:-1, :] > 0) & (instances[1:, :] > 0) & (instances[:-1, :] != instances[1:, :])
    membrane[:, :-1] |= different_right
    membrane[:-1, :] |= different_down
    instances[membrane] = 0

    brightness = rng.uniform(150, 220, size=len(centres) + 1)
    brightness[0] = 70.0
    texture = np.sin(rows / rng.uniform(2.0, 4.0) + rng.uniform(0, 6.3)) * np.cos(cols / rng.uniform(2.0, 4.0))
    image = brightness[instances] + 12.0 * texture * (instances > 0)
    image[membrane] = 30.0
    image = image + rng.normal(0.0, noise, size=image.shape)
    return np.clip(image, 0, 255).astype("float32")[..., None], instances


def generate_cells(seed=0, n=60, image_size=128, grid=6, noise=10.0):
    """Images float32 [N, S, S, 1], semantic masks uint8 [N, S, S] and instance ids int32."""
    if n < 1 or image_size < 16 or grid < 2:
        raise ValueError(f"Cells need n >= 1, image_size >= 16 and grid >= 2. Received: n={n}, image_size={image_size}, grid={grid}")
    rng = np.random.default_rng(seed)
    images, instances = zip(*(_draw_cells(rng, image_size, grid, noise) for _ in range(n)))
    instances = np.stack(instances)
    return np.stack(images), (instances > 0).astype("uint8"), instances


@register_dataset(
    "cells",
    "segmentation",
    "synthetic touching cells with thin membranes (U-Net's setting): 0 background/membrane, 1 cell (spec §8.2 E)",
)
def load_cells(seed=0, n=60, image_size=128, grid=6, noise=10.0):
    images, masks, instances = generate_cells(seed, n, image_size, grid, noise)
    return Dataset(
        name="cells",
        task="segmentation",
        x=images,
        y=masks,
        class_names=["background", "cell"],
        description=f"cells: {n} synthetic {image_size}×{image_size} grey images of touching cells with membranes",
        value_range=(0.0, 255.0),
    )
