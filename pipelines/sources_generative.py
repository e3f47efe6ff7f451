"""Embedded datasets of family G (spec §8.2 G): the 2-D ring of 8 Gaussians (mode collapse, WGAN)
and digits with one class held out as anomalous (BiGAN anomaly detection).

Both are deterministic given the seed. `anomaly_split` makes the protocol of the anomaly benchmark:
train on normal examples only, test on held-out normal ones plus every anomalous one.
"""

import numpy as np

from pipelines.datasets import Dataset, load_digits, register_dataset

# Ring of Gaussians: the standard toy mixture of the mode-collapse literature (Metz et al. 2017,
# unrolled GANs: 8 modes on a circle of radius 2; their σ = 0.02 is tightened to a looser 0.05 here
# so that a CPU-sized run can place samples within 3σ of a mode).
RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.05


def ring_centres(modes=RING_MODES, radius=RING_RADIUS):
    """The modes' centres [modes, 2], evenly on the circle starting at angle 0."""
    angles = 2.0 * np.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1).astype("float32")


@register_dataset("ring8", "generative", "2-D points from 8 Gaussians on a circle of radius 2 (σ 0.05); label = the mode")
def load_ring8(seed=0, num_points=4000, modes=RING_MODES, radius=RING_RADIUS, std=RING_STD):
    if int(num_points) < int(modes) or int(modes) < 2 or not float(std) > 0.0 or not float(radius) > 0.0:
        raise ValueError(
            f"ring8 needs num_points >= modes >= 2, std > 0 and radius > 0. Received: num_points={num_points}, "
            f"modes={modes}, std={std}, radius={radius}"
        )
    rng = np.random.default_rng(seed)
    labels = (np.arange(int(num_points)) % int(modes)).astype("int32")
    rng.shuffle(labels)
    centres = ring_centres(int(modes), float(radius))
    points = centres[labels] + rng.normal(0.0, float(std), size=(int(num_points), 2)).astype("float32")
    limit = float(radius) + 0.5  # the generator's tanh range maps onto ±(radius + 0.5)
    return Dataset(
        name="ring8",
        task="generative",
        x=points.astype("float32"),
        y=labels,
        class_names=[f"mode {m}" for m in range(int(modes))],
        description=f"{int(modes)} Gaussians (σ {std}) on a circle of radius {radius}",
        value_range=(-limit, limit),
    )


@register_dataset(
    "digits_anomaly", "generative",
    "scikit-learn digits 32×32; y = 1 for the held-out anomalous digit (option anomalous_class, default 0), else 0",
)
def load_digits_anomaly(seed=0, anomalous_class=0, image_size=32):
    if not 0 <= int(anomalous_class) <= 9:
        raise ValueError(f"anomalous_class must be a digit 0..9. Received: anomalous_class={anomalous_class}")
    digits = load_digits(seed=seed, image_size=image_size)
    return Dataset(
        name="digits_anomaly",
        task="generative",
        x=digits.x,
        y=(digits.y == int(anomalous_class)).astype("int32"),
        class_names=["normal", f"anomalous (digit {int(anomalous_class)})"],
        description=f"digits with {int(anomalous_class)} as the anomalous class (train on normal examples only: anomaly_split)",
        value_range=digits.value_range,
    )


def anomaly_split(dataset, test_fraction=0.3, seed=0):
    """(train normal x, test x, test is-anomalous flags) from a dataset whose y flags anomalies
    (`digits_anomaly`): a seeded `test_fraction` of the normal examples and every anomalous one are
    held out; training sees normal examples only (one-class protocol, Zenati et al. 2018)."""
    flags = np.asarray(dataset.y).astype(bool)
    normal = np.flatnonzero(~flags)
    rng = np.random.default_rng(seed)
    rng.shuffle(normal)
    held_out = int(round(len(normal) * float(test_fraction)))
    test = np.concatenate([normal[:held_out], np.flatnonzero(flags)])
    return dataset.x[np.sort(normal[held_out:])], dataset.x[test], flags[test].astype("int32")
