"""Moving-sprite videos for action recognition (spec §8.2 I).

One sprite (a triangle, cross, star or square from the shapes-10 vocabulary) moves over a static
textured background; the action is its motion pattern, 9 classes (`MOTIONS`):

    left, right, up, down   translation at 0.9–1.6 px/frame (at 32 px; scaled with the canvas)
    rotate                  turning at 8–15°/frame, either way
    zoom_in, zoom_out       scale × e^(±0.06..0.09) per frame
    bounce                  vertical motion that reverses in the middle of each clip
    static                  no motion

Sprite, colour, size, place and background carry no class information. Every pixel's motion is
known analytically, so the optical flow is exact: at a pixel p covered by the sprite in frame t,
flow = p' − p with p' = c(t+1) + (r(t+1)/r(t))·R(θ(t+1) − θ(t))·(p − c(t)) (c centre, r scale,
θ angle); the static background has zero flow. `flow="farneback"` replaces it with OpenCV's
Farnebäck estimate from the rendered frames (what a real pipeline would have).

Datasets (deterministic given `seed`; the defaults build in about a second):

    moving_shapes            x float32 [N, T, S, S, 3] clip pixels 0..255, y int32 [N] motion class.
                             `clips_per_video = k > 1` renders videos of T + 2(k − 1) frames and cuts
                             k overlapping clips (stride 2) from each, consecutively: clip i belongs
                             to video i // k (`video_ids`), for clip → video averaging.
    moving_shapes_flow       x {"rgb": [N, T, S, S, 3] 0..255, "flow": [N, T, S, S, 2] (dx, dy)
                             pixels/frame from frame t to t + 1}, y as above: two-stream inputs.
    moving_shapes_untrimmed  x float32 [N, C, T, S, S, 3]: C consecutive clips of one untrimmed
                             sequence in which actions (1–2 clips long) alternate with background
                             (an empty scene); y int32 [N, C] per-clip class, 0 = background,
                             k = MOTIONS[k − 1]. For C3D + RNN temporal detection.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset
from pipelines.sources_generated import SHAPES, _random_colours

MOTIONS = ("left", "right", "up", "down", "rotate", "zoom_in", "zoom_out", "bounce", "static")
SPRITES = ("triangle", "cross", "star", "square")
CLIP_STRIDE = 2  # frames between consecutive clips of one video (clips_per_video > 1)
FLOW_METHODS = ("analytic", "farneback")


def _check(frames, image_size, num_per_class):
    if frames < 2:
        raise ValueError(f"a clip needs at least 2 frames. Received: frames={frames}")
    if image_size < 24:
        raise ValueError(f"moving shapes need image_size >= 24. Received: image_size={image_size}")
    if num_per_class < 1:
        raise ValueError(f"num_per_class must be at least 1. Received: num_per_class={num_per_class}")


def _motion_law(rng, motion, n_frames, size, period):
    """Per-frame centre [F, 2] (x, y), scale [F] and angle [F] of one sprite, kept on the canvas.

    The law is evaluated at t = 0..F so that frame F − 1 has a successor for its flow."""
    t = np.arange(n_frames + 1, dtype="float64")
    unit = size / 32.0
    radius0 = rng.uniform(0.14, 0.2) * size
    growth = {"zoom_in": rng.uniform(0.06, 0.09), "zoom_out": -rng.uniform(0.06, 0.09)}.get(motion, 0.0)
    if motion == "zoom_in":
        radius0 = rng.uniform(0.1, 0.13) * size
    radius = radius0 * np.exp(growth * t)
    spin = np.deg2rad(rng.uniform(8.0, 15.0)) * rng.choice([-1.0, 1.0]) if motion == "rotate" else 0.0
    angle = rng.uniform(0.0, 2.0 * np.pi) + spin * t
    speed = rng.uniform(0.9, 1.6) * unit
    margin = radius.max() * 1.1 + 1.0
    # Never faster than the canvas allows for the whole sequence.
    speed = min(speed, max(0.0, (size - 2.0 * margin) / max(1.0, n_frames)))
    offset = np.zeros((n_frames + 1, 2))
    direction = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}.get(motion)
    if direction is not None:
        offset = np.outer(t, direction) * speed
    elif motion == "bounce":
        half = period / 2.0
        triangle = half - np.abs(np.mod(t, period) - half)  # 0 → half → 0 within each period
        speed = min(speed, max(0.0, (size - 2.0 * margin) / half))
        offset[:, 1] = rng.choice([-1.0, 1.0]) * speed * triangle
    low = margin - offset.min(axis=0)
    high = size - margin - offset.max(axis=0)
    centre0 = rng.uniform(low, np.maximum(low, high))
    return centre0 + offset, radius, angle


def _coverage(inside, centre, radius, angle, size, supersample=2):
    """Fraction of each pixel covered by the sprite, per frame: float32 [F, S, S]."""
    grid = (np.arange(size * supersample) + 0.5) / supersample
    dx = grid[None, None, :] - centre[:, 0, None, None]
    dy = grid[None, :, None] - centre[:, 1, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (cos * dx + sin * dy) / radius[:, None, None]
    v = (-sin * dx + cos * dy) / radius[:, None, None]
    covered = inside(u, v).astype("float32")
    return covered.reshape(len(centre), size, supersample, size, supersample).mean(axis=(2, 4))


def _analytic_flow(coverage, centre, radius, angle, size):
    """Exact flow [F, S, S, 2] from frame t to t + 1 at the sprite's pixels (zero elsewhere)."""
    grid = np.arange(size) + 0.5
    px, py = np.meshgrid(grid, grid)  # [S, S]
    frames = len(coverage)
    ratio = radius[1:] / radius[:-1]
    turn = angle[1:] - angle[:-1]
    rx, ry = px[None] - centre[:frames, 0, None, None], py[None] - centre[:frames, 1, None, None]
    cos, sin = np.cos(turn)[:, None, None], np.sin(turn)[:, None, None]
    new_x = centre[1:, 0, None, None] + ratio[:, None, None] * (cos * rx - sin * ry)
    new_y = centre[1:, 1, None, None] + ratio[:, None, None] * (sin * rx + cos * ry)
    present = (coverage >= 0.5).astype("float32")
    return np.stack([(new_x - px[None]) * present, (new_y - py[None]) * present], axis=-1).astype("float32")


def _background(rng, size):
    """A static textured background [S, S, 3]: a colour, a linear gradient and smooth blotches."""
    colour = rng.uniform(0.0, 255.0, size=3)
    ramp = np.linspace(-0.5, 0.5, size)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    gradient = np.cos(direction) * ramp[None, :] + np.sin(direction) * ramp[:, None]
    coarse = rng.normal(size=(4, 4))
    blotches = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1)))[:size, :size]
    texture = gradient * rng.uniform(0.0, 50.0) + blotches * rng.uniform(0.0, 12.0)
    return colour[None, None, :] + texture[..., None], colour


def render_sequence(rng, motions, frames_each, size, noise=6.0, period=None):
    """One continuous sequence of segments (motion name or None = empty background), each
    `frames_each[i]` frames long, over one background: (frames float32 [F, S, S, 3] in 0..255,
    flow float32 [F, S, S, 2])."""
    background, background_colour = _background(rng, size)
    all_frames, all_flow = [], []
    for motion, count in zip(motions, frames_each):
        if motion is None:
            frames = np.repeat(background[None], count, axis=0)
            flow = np.zeros((count, size, size, 2), "float32")
        else:
            inside, _ = SHAPES[SPRITES[rng.integers(len(SPRITES))]]
            centre, radius, angle = _motion_law(rng, motion, count, size, period or count)
            coverage = _coverage(inside, centre, radius, angle, size)
            flow = _analytic_flow(coverage[:count], centre, radius, angle, size)
            colour = _random_colours(rng, 1, background_colour[None])[0]
            alpha = coverage[:count, ..., None]
            frames = (1.0 - alpha) * background[None] + alpha * colour[None, None, None, :]
        all_frames.append(frames)
        all_flow.append(flow)
    frames = np.concatenate(all_frames)
    frames = frames + rng.normal(size=frames.shape) * noise
    return np.clip(frames, 0.0, 255.0).astype("float32"), np.concatenate(all_flow)


def farneback_flow(frames):
    """OpenCV Farnebäck flow [F, S, S, 2] of frames [F, S, S, 3] (0..255) from t to t + 1; the last
    frame repeats the previous flow."""
    import cv2

    gray = [cv2.cvtColor(np.clip(frame, 0, 255).astype("uint8"), cv2.COLOR_RGB2GRAY) for frame in frames]
    flow = [
        cv2.calcOpticalFlowFarneback(gray[i], gray[i + 1], None, 0.5, 2, 7, 3, 5, 1.1, 0)
        for i in range(len(gray) - 1)
    ]
    flow.append(flow[-1])
    return np.stack(flow).astype("float32")


def generate_moving_shapes(seed=0, frames=8, image_size=32, num_per_class=40, clips_per_video=1, flow="analytic", noise=6.0):
    """(clips [N, T, S, S, 3], flow [N, T, S, S, 2], labels int32 [N], video_ids int32 [N]).

    Videos are shuffled; the clips of one video stay consecutive."""
    _check(frames, image_size, num_per_class)
    if clips_per_video < 1:
        raise ValueError(f"clips_per_video must be at least 1. Received: clips_per_video={clips_per_video}")
    if flow not in FLOW_METHODS:
        raise ValueError(f"flow must be one of {FLOW_METHODS}. Received: flow={flow!r}")
    rng = np.random.default_rng(seed)
    video_frames = frames + CLIP_STRIDE * (clips_per_video - 1)
    labels = np.repeat(np.arange(len(MOTIONS)), num_per_class)[rng.permutation(len(MOTIONS) * num_per_class)]
    clips, flows = [], []
    for label in labels:
        video, video_flow = render_sequence(rng, [MOTIONS[label]], [video_frames], image_size, noise, period=frames)
        if flow == "farneback":
            video_flow = farneback_flow(video)
        for k in range(clips_per_video):
            start = k * CLIP_STRIDE
            clips.append(video[start : start + frames])
            flows.append(video_flow[start : start + frames])
    video_ids = np.repeat(np.arange(len(labels)), clips_per_video).astype("int32")
    return np.stack(clips), np.stack(flows), np.repeat(labels, clips_per_video).astype("int32"), video_ids


@register_dataset("moving_shapes", "video", "moving-sprite clips [N, 8, 32, 32, 3], 9 motion classes (left, right, up, down, rotate, zoom in/out, bounce, static)")
def load_moving_shapes(seed=0, frames=8, image_size=32, num_per_class=40, clips_per_video=1, noise=6.0):
    clips, _, labels, _ = generate_moving_shapes(seed, frames, image_size, num_per_class, clips_per_video, noise=noise)
    return Dataset(
        name="moving_shapes",
        task="video",
        x=clips,
        y=labels,
        class_names=list(MOTIONS),
        description=f"moving sprites, {frames}-frame clips at {image_size}×{image_size}, {clips_per_video} clip(s) per video",
        value_range=(0.0, 255.0),
    )


@register_dataset("moving_shapes_flow", "video", "moving_shapes with exact optical flow: x = {rgb [N, 8, 32, 32, 3], flow [N, 8, 32, 32, 2]} (two-stream inputs)")
def load_moving_shapes_flow(seed=0, frames=8, image_size=32, num_per_class=40, clips_per_video=1, flow="analytic", noise=6.0):
    clips, flows, labels, _ = generate_moving_shapes(seed, frames, image_size, num_per_class, clips_per_video, flow, noise)
    return Dataset(
        name="moving_shapes_flow",
        task="video",
        x={"rgb": clips, "flow": flows},
        y=labels,
        class_names=list(MOTIONS),
        description=f"moving sprites with {flow} optical flow, {frames}-frame clips at {image_size}×{image_size}",
        value_range=(0.0, 255.0),
    )


def generate_untrimmed(seed=0, num_sequences=120, clips=6, frames=8, image_size=32, noise=6.0):
    """(x [N, C, T, S, S, 3], per-clip labels int32 [N, C]; 0 = background, k = MOTIONS[k − 1])."""
    _check(frames, image_size, 1)
    if clips < 2:
        raise ValueError(f"an untrimmed sequence needs at least 2 clips. Received: clips={clips}")
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for _ in range(num_sequences):
        segments, lengths, clip_labels = [], [], []
        action_next = bool(rng.integers(2))
        while len(clip_labels) < clips:
            count = int(min(rng.integers(1, 3), clips - len(clip_labels)))
            label = int(rng.integers(1, len(MOTIONS) + 1)) if action_next else 0
            segments.append(MOTIONS[label - 1] if label else None)
            lengths.append(count * frames)
            clip_labels += [label] * count
            action_next = not action_next
        video, _ = render_sequence(rng, segments, lengths, image_size, noise, period=frames)
        sequences.append(video.reshape(clips, frames, image_size, image_size, 3))
        labels.append(clip_labels)
    return np.stack(sequences), np.asarray(labels, "int32")


@register_dataset("moving_shapes_untrimmed", "video", "untrimmed moving-sprite sequences [N, 6 clips, 8, 32, 32, 3], per-clip labels (0 = background + 9 motions)")
def load_moving_shapes_untrimmed(seed=0, num_sequences=120, clips=6, frames=8, image_size=32, noise=6.0):
    x, y = generate_untrimmed(seed, num_sequences, clips, frames, image_size, noise)
    return Dataset(
        name="moving_shapes_untrimmed",
        task="video",
        x=x,
        y=y,
        class_names=["background", *MOTIONS],
        description=f"untrimmed sequences of {clips} clips × {frames} frames at {image_size}×{image_size}",
        value_range=(0.0, 255.0),
    )
