"""Stick-figure walk cycles with styles (amplitude, frequency, posture offsets) for the motion rows (spec §8.2 K).

A side-view stick figure of 15 joints walks in place: hip, knee, shoulder and elbow angles are
sinusoids of the gait phase (the legs and the arms in antiphase), the torso bobs twice per cycle,
and forward kinematics gives each joint's (x, y) relative to the pelvis. A clip is t frames of the
J × 2 root-relative coordinates, flattened to t × 2J features (x, y of joint 0, x, y of joint 1, ...),
the representation Holden et al. (2016) call root-relative joint positions.

Styles change the gait's parameters, never its skeleton:
    neutral    amplitude 1.0, 1.0 cycles per second, upright
    proud      amplitude 1.2, 0.9 Hz, torso leaning back, chest out (shoulders back)
    tired      amplitude 0.6, 0.7 Hz, torso leaning forward, head down
    energetic  amplitude 1.4, 1.5 Hz, knees lifted higher
Each clip draws a random phase, ±10 % speed and amplitude jitter and small per-joint noise.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

JOINTS = ("pelvis", "spine", "neck", "head", "shoulder", "left_elbow", "left_hand", "right_elbow", "right_hand",
          "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle")
# (parent, length) of each joint, in the order of JOINTS; the pelvis is the root.
BONES = {
    "spine": ("pelvis", 0.25), "neck": ("spine", 0.25), "head": ("neck", 0.12), "shoulder": ("neck", 0.04),
    "left_elbow": ("shoulder", 0.17), "left_hand": ("left_elbow", 0.16),
    "right_elbow": ("shoulder", 0.17), "right_hand": ("right_elbow", 0.16),
    "left_hip": ("pelvis", 0.05), "left_knee": ("left_hip", 0.24), "left_ankle": ("left_knee", 0.24),
    "right_hip": ("pelvis", 0.05), "right_knee": ("right_hip", 0.24), "right_ankle": ("right_knee", 0.24),
}
STYLES = {
    # amplitude, frequency (Hz), torso lean (rad, + = forward), head tilt, knee lift, shoulder offset (rad)
    "neutral": (1.0, 1.0, 0.0, 0.0, 1.0, 0.0),
    "proud": (1.2, 0.9, -0.15, -0.15, 1.0, -0.3),
    "tired": (0.6, 0.7, 0.35, 0.45, 0.7, 0.2),
    "energetic": (1.4, 1.5, 0.1, 0.0, 1.8, 0.0),
}
FRAME_RATE = 30.0


def walk_cycle(frames, style, phase=0.0, speed=1.0, amplitude=1.0):
    """float32 [frames, len(JOINTS), 2]: root-relative (x, y) of every joint (forward = +x)."""
    style_amplitude, frequency, lean, head_tilt, knee_lift, shoulder = STYLES[style]
    a = style_amplitude * amplitude
    t = np.arange(frames) / FRAME_RATE
    gait = 2 * np.pi * frequency * speed * t + phase
    angles = {  # absolute angle of each bone from straight down (0) or straight up (spine chain)
        "spine": lean + 0.04 * a * np.sin(2 * gait),
        "neck": lean + 0.02 * a * np.sin(2 * gait),
        "head": lean + head_tilt,
        "shoulder": shoulder + 0.0 * gait,
        "left_hip": np.full_like(gait, np.pi / 2),
        "right_hip": np.full_like(gait, -np.pi / 2),
    }
    thigh = 0.35 * a
    angles["left_knee"] = thigh * np.sin(gait)
    angles["right_knee"] = thigh * np.sin(gait + np.pi)
    # The shin bends back (knee flexion) during the swing, more with knee lift.
    angles["left_ankle"] = angles["left_knee"] - 0.4 * knee_lift * a * np.clip(np.sin(gait + 0.5 * np.pi), 0, None)
    angles["right_ankle"] = angles["right_knee"] - 0.4 * knee_lift * a * np.clip(np.sin(gait + 1.5 * np.pi), 0, None)
    arm = 0.3 * a
    angles["left_elbow"] = shoulder + arm * np.sin(gait + np.pi)
    angles["right_elbow"] = shoulder + arm * np.sin(gait)
    angles["left_hand"] = angles["left_elbow"] + 0.3 + 0.2 * a * np.clip(np.sin(gait + np.pi), 0, None)
    angles["right_hand"] = angles["right_elbow"] + 0.3 + 0.2 * a * np.clip(np.sin(gait), 0, None)
    up_chain = {"spine", "neck", "head"}
    positions = {"pelvis": np.stack([np.zeros(frames), 0.02 * a * np.cos(2 * gait)], axis=-1)}
    for joint in JOINTS[1:]:
        parent, length = BONES[joint]
        angle = angles[joint]
        if joint in up_chain:
            offset = np.stack([np.sin(angle), np.cos(angle)], axis=-1) * length
        elif joint in ("left_hip", "right_hip"):
            offset = np.tile([[0.0, -length]], (frames, 1))  # hips sit just below the pelvis
        else:
            offset = np.stack([np.sin(angle), -np.cos(angle)], axis=-1) * length
        positions[joint] = positions[parent] + offset
    return np.stack([positions[j] for j in JOINTS], axis=1).astype(np.float32)


def walk_cycles(n, frames=32, seed=0, noise=0.005):
    """(x float32 [n, frames, 2J], y int32 [n] style ids), styles balanced."""
    rng = np.random.default_rng(seed)
    names = list(STYLES)
    styles = np.arange(n) % len(names)
    rng.shuffle(styles)
    clips = []
    for style in styles:
        clip = walk_cycle(frames, names[style], phase=rng.uniform(0, 2 * np.pi), speed=rng.uniform(0.9, 1.1),
                          amplitude=rng.uniform(0.9, 1.1))
        clip = clip + rng.normal(0.0, noise, clip.shape).astype(np.float32)
        clips.append(clip.reshape(frames, -1))
    return np.stack(clips).astype(np.float32), styles.astype(np.int32)


@register_dataset(
    "walk_cycles",
    "autoencoder",
    "stick-figure walk cycles [N, 32 frames, 30] (15 joints × root-relative x, y); y = style "
    "(neutral, proud, tired, energetic: amplitude/frequency/posture offsets)",
)
def load_walk_cycles(seed=0, n_clips=800, frames=32):
    if int(n_clips) < len(STYLES):
        raise ValueError(f"n_clips must be at least {len(STYLES)}. Received: n_clips={n_clips}")
    if int(frames) < 4 or int(frames) % 2:
        raise ValueError(f"frames must be an even number ≥ 4. Received: frames={frames}")
    x, y = walk_cycles(int(n_clips), int(frames), seed)
    return Dataset(
        name="walk_cycles", task="autoencoder", x=x, y=y, class_names=list(STYLES),
        description=f"{len(x)} walk cycles of {frames} frames at {FRAME_RATE:g} fps, {len(JOINTS)} joints, seed {seed}",
        value_range=(float(x.min()), float(x.max())),
    )


# --- motion style transfer (motion_style helper's block) ------------------------------------------


def walk_style_pairs(n, frames=32, seed=0, noise=0.005):
    """Unpaired (content clip, style clip) pairs of walk cycles, with the true stylised clip.

    Returns (content, style, target, content_label, style_label): content and style float32
    [n, frames, 2J] drawn independently (each its own style, phase, speed and amplitude); target is
    the content clip's gait (phase, speed, amplitude) walked in the style clip's style, noise-free:
    what a perfect transfer gives, used only to score.
    """
    rng = np.random.default_rng(seed)
    names = list(STYLES)
    content_label = np.arange(n) % len(names)
    rng.shuffle(content_label)
    style_label = rng.integers(0, len(names), size=n)
    content, style, target = [], [], []
    for k in range(n):
        gait = dict(phase=rng.uniform(0, 2 * np.pi), speed=rng.uniform(0.9, 1.1), amplitude=rng.uniform(0.9, 1.1))
        other = dict(phase=rng.uniform(0, 2 * np.pi), speed=rng.uniform(0.9, 1.1), amplitude=rng.uniform(0.9, 1.1))
        clip = walk_cycle(frames, names[content_label[k]], **gait)
        content.append((clip + rng.normal(0.0, noise, clip.shape)).reshape(frames, -1))
        clip = walk_cycle(frames, names[style_label[k]], **other)
        style.append((clip + rng.normal(0.0, noise, clip.shape)).reshape(frames, -1))
        target.append(walk_cycle(frames, names[style_label[k]], **gait).reshape(frames, -1))
    as_array = lambda clips: np.stack(clips).astype(np.float32)
    return as_array(content), as_array(style), as_array(target), content_label.astype(np.int32), style_label.astype(np.int32)


@register_dataset(
    "walk_cycle_styles",
    "image_to_image",
    "motion style transfer: x = {content, style} walk cycles [N, 32, 30] of independent styles; y = {generated: the content "
    "gait walked in the style clip's style (for scoring), content_label, style_label}",
)
def load_walk_cycle_styles(seed=0, n_clips=800, frames=32):
    if int(n_clips) < len(STYLES):
        raise ValueError(f"n_clips must be at least {len(STYLES)}. Received: n_clips={n_clips}")
    if int(frames) < 8 or int(frames) % 4:
        raise ValueError(f"frames must be a multiple of 4, at least 8. Received: frames={frames}")
    content, style, target, content_label, style_label = walk_style_pairs(int(n_clips), int(frames), seed)
    return Dataset(
        name="walk_cycle_styles", task="image_to_image", x={"content": content, "style": style},
        y={"generated": target, "content_label": content_label, "style_label": style_label}, class_names=list(STYLES),
        description=f"{len(content)} (content, style) walk-cycle pairs of {frames} frames, {len(JOINTS)} joints, seed {seed}",
        value_range=(float(min(content.min(), style.min())), float(max(content.max(), style.max()))),
    )
