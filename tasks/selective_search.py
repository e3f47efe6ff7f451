"""Selective Search (Uijlings, van de Sande, Gevers & Smeulders, IJCV 2013): R-CNN's and Fast R-CNN's
region proposals.

1. An initial over-segmentation by Felzenszwalb & Huttenlocher's graph method
   (`skimage.segmentation.felzenszwalb`).
2. Hierarchical grouping: the two most similar *adjacent* regions are merged, the similarities of
   the new region to its neighbours computed, until one region remains. Every region ever formed
   (initial and merged) gives a box.
3. Similarity (§3.2) is the sum of four measures in [0, 1]:
   colour   Σ_k min(c_i^k, c_j^k), 25-bin histograms per channel, L1-normalised;
   texture  Σ_k min(t_i^k, t_j^k), Gaussian derivatives (σ = 1) in 8 orientations per channel,
            10-bin histograms, L1-normalised (SIFT-like);
   size     1 − (size_i + size_j) / size_image (small regions merge first);
   fill     1 − (size(BB_ij) − size_i − size_j) / size_image (regions that fill each other's gaps).
   A merged region's histograms are the size-weighted mean of its parts' (propagated, not recomputed).
4. Diversification (§3.3): several strategies, each a colour space and a Felzenszwalb scale k
   (the "fast" mode: RGB and HSV, k = 50 and 100); each strategy's regions are ranked by hierarchy
   level (the last merge first) multiplied by a random number in (0, 1) (§3.4), the strategies'
   lists joined, duplicates removed, boxes sorted by that rank.

All numpy / scipy / scikit-image, outside any graph: Selective Search is not a tensor program and
does not export (rcnn and fast_rcnn endpoints take its proposals as an input).
"""

import numpy as np

COLOUR_BINS = 25
TEXTURE_BINS = 10
ORIENTATIONS = 8
DEFAULT_STRATEGIES = (("rgb", 50), ("hsv", 50), ("rgb", 100), ("hsv", 100))


def _colour_space(image, space):
    from skimage import color

    image = np.clip(np.asarray(image, np.float64), 0, 255) / 255.0
    if space == "rgb":
        return image
    if space == "hsv":
        return color.rgb2hsv(image)
    if space == "lab":
        lab = color.rgb2lab(image)
        return (lab - np.array([0.0, -128.0, -128.0])) / np.array([100.0, 255.0, 255.0])
    raise ValueError(f"colour space must be 'rgb', 'hsv' or 'lab'. Received: {space!r}")


def _texture_bins(channels):
    """[H, W, 3 · ORIENTATIONS] bin index of each pixel's oriented Gaussian derivative (σ = 1)."""
    from scipy import ndimage

    bins = []
    for c in range(channels.shape[-1]):
        gy = ndimage.gaussian_filter(channels[..., c], 1.0, order=(1, 0))
        gx = ndimage.gaussian_filter(channels[..., c], 1.0, order=(0, 1))
        for k in range(ORIENTATIONS):
            angle = np.pi * k / (ORIENTATIONS / 2)  # 8 directions over the full circle
            response = np.maximum(np.cos(angle) * gx + np.sin(angle) * gy, 0.0)
            scale = response.max()
            normalised = response / scale if scale > 0 else response
            bins.append(np.minimum((normalised * TEXTURE_BINS).astype(int), TEXTURE_BINS - 1))
    return np.stack(bins, axis=-1)


def _histograms(labels, count, values, bins):
    """[count, D · bins] L1-normalised histograms of `values` [H, W, D] (integer bins) per label."""
    flat_labels = labels.reshape(-1)
    values = values.reshape(len(flat_labels), -1)
    out = np.zeros((count, values.shape[1] * bins))
    for d in range(values.shape[1]):
        index = flat_labels * bins + values[:, d]
        out[:, d * bins : (d + 1) * bins] = np.bincount(index, minlength=count * bins).reshape(count, bins)
    total = out.sum(axis=1, keepdims=True)
    return out / np.maximum(total, 1e-12)


def _initial_regions(labels, channels):
    count = int(labels.max()) + 1
    height, width = labels.shape
    ys, xs = np.mgrid[0:height, 0:width]
    flat = labels.reshape(-1)
    sizes = np.bincount(flat, minlength=count).astype(np.float64)
    boxes = np.zeros((count, 4))
    boxes[:, 0] = np.full(count, width)
    boxes[:, 1] = np.full(count, height)
    np.minimum.at(boxes[:, 0], flat, xs.reshape(-1))
    np.minimum.at(boxes[:, 1], flat, ys.reshape(-1))
    np.maximum.at(boxes[:, 2], flat, xs.reshape(-1) + 1)
    np.maximum.at(boxes[:, 3], flat, ys.reshape(-1) + 1)
    colour = _histograms(labels, count, np.minimum((channels * COLOUR_BINS).astype(int), COLOUR_BINS - 1), COLOUR_BINS)
    texture = _histograms(labels, count, _texture_bins(channels), TEXTURE_BINS)
    return sizes, boxes, colour, texture


def _adjacent_pairs(labels):
    pairs = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        differ = a != b
        lo, hi = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
        pairs.update(zip(lo.tolist(), hi.tolist()))
    return pairs


def hierarchical_grouping(labels, channels, measures=("colour", "texture", "size", "fill")):
    """Greedy merging of adjacent regions (§3.1). Returns (boxes [R, 4] xyxy, level [R]): every
    region ever formed, `level` its merge step (0 for the initial regions)."""
    sizes, boxes, colour, texture = _initial_regions(labels, channels)
    image_size = float(labels.size)
    sizes, boxes, colour, texture = list(sizes), list(boxes), list(colour), list(texture)
    levels = [0] * len(sizes)
    neighbours = {i: set() for i in range(len(sizes))}
    for a, b in _adjacent_pairs(labels):
        neighbours[a].add(b)
        neighbours[b].add(a)

    def similarity(i, j):
        total = 0.0
        if "colour" in measures:
            total += np.minimum(colour[i], colour[j]).sum()
        if "texture" in measures:
            total += np.minimum(texture[i], texture[j]).sum()
        if "size" in measures:
            total += 1.0 - (sizes[i] + sizes[j]) / image_size
        if "fill" in measures:
            union = np.concatenate([np.minimum(boxes[i][:2], boxes[j][:2]), np.maximum(boxes[i][2:], boxes[j][2:])])
            total += 1.0 - (np.prod(union[2:] - union[:2]) - sizes[i] - sizes[j]) / image_size
        return total

    scores = {(a, b): similarity(a, b) for a in neighbours for b in neighbours[a] if a < b}
    step = 0
    while scores:
        i, j = max(scores, key=scores.get)
        step += 1
        new = len(sizes)
        total = sizes[i] + sizes[j]
        sizes.append(total)
        boxes.append(np.concatenate([np.minimum(boxes[i][:2], boxes[j][:2]), np.maximum(boxes[i][2:], boxes[j][2:])]))
        colour.append((colour[i] * sizes[i] + colour[j] * sizes[j]) / total)
        texture.append((texture[i] * sizes[i] + texture[j] * sizes[j]) / total)
        levels.append(step)
        merged_neighbours = (neighbours.pop(i) | neighbours.pop(j)) - {i, j}
        scores = {pair: value for pair, value in scores.items() if i not in pair and j not in pair}
        neighbours[new] = merged_neighbours
        for k in merged_neighbours:
            neighbours[k] -= {i, j}
            neighbours[k].add(new)
            scores[(k, new)] = similarity(k, new)
    return np.asarray(boxes, np.float32), np.asarray(levels)


def selective_search(image, strategies=DEFAULT_STRATEGIES, sigma=0.8, min_size=None, min_box=2.0, max_boxes=None, seed=0):
    """Selective Search boxes of one image [H, W, 3] (0..255), float32 [B, 4] xyxy pixels, best
    ranked first (§3.4), duplicates removed.

    Args:
        strategies: (colour space, Felzenszwalb scale k) pairs, each a separate hierarchy.
        sigma: Felzenszwalb's pre-smoothing (0.8 in the paper).
        min_size: Felzenszwalb's minimum component size (default k, as in the paper's code).
        min_box: boxes narrower or lower than this (pixels) are dropped.
        max_boxes: keep at most this many.
        seed: the ranking's random numbers.
    """
    from skimage.segmentation import felzenszwalb

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"selective_search expects one [H, W, 3] image. Received shape {image.shape}")
    rng = np.random.default_rng(seed)
    ranked = []
    for space, scale in strategies:
        channels = _colour_space(image, space)
        labels = felzenszwalb(np.clip(image, 0, 255).astype(np.uint8), scale=float(scale), sigma=sigma,
                              min_size=int(min_size or scale))
        boxes, levels = hierarchical_grouping(labels, channels)
        # §3.4: position in the hierarchy (1 = the last, whole-image region) × a random number
        position = (levels.max() - levels + 1).astype(np.float64)
        ranked.append((position * rng.random(len(position)), boxes))
    order_keys = np.concatenate([keys for keys, _ in ranked])
    boxes = np.concatenate([b for _, b in ranked])
    boxes = boxes[np.argsort(order_keys, kind="stable")]
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_box) & ((boxes[:, 3] - boxes[:, 1]) >= min_box)
    boxes = boxes[keep]
    _, first = np.unique(boxes, axis=0, return_index=True)
    boxes = boxes[np.sort(first)]
    return boxes[:max_boxes] if max_boxes else boxes


def recall(proposals, ground_truth, iou=0.5):
    """Fraction of ground-truth boxes [M, 4] covered by a proposal [B, 4] at IoU ≥ `iou`."""
    from tasks.detection import numpy_iou

    ground_truth = np.asarray(ground_truth).reshape(-1, 4)
    if not len(ground_truth):
        return 1.0
    if not len(proposals):
        return 0.0
    return float(np.mean(numpy_iou(ground_truth, proposals).max(axis=1) >= iou))
