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


# === image_to_image: paired edges → shapes, unpaired solid ↔ striped, ×4 SR pairs, style textures ===


def sobel_edges(images):
    """Colour outlines of images [N, H, W, 3] in 0..255: the Sobel gradient magnitude of their
    luminance (keras.ops.conv with the two 3×3 Sobel kernels) as a 0..1 mask, times the image,
    so each outline carries the colours on both of its sides (a coloured sketch, on black)."""
    from keras import ops

    images = np.asarray(images, "float32")
    luminance = images @ np.asarray([0.299, 0.587, 0.114], "float32")
    kernel_x = np.asarray([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "float32")
    kernels = np.stack([kernel_x, kernel_x.T], axis=-1)[:, :, None, :]
    gradients = np.asarray(ops.conv(luminance[..., None], kernels, padding="same"))
    magnitude = np.sqrt(np.sum(np.square(gradients), axis=-1))
    magnitude[:, [0, -1], :] = 0.0  # the zero padding's artificial border edges
    magnitude[:, :, [0, -1]] = 0.0
    mask = np.clip(magnitude / 40.0, 0.0, 1.0)
    return (mask[..., None] * images).astype("float32")


def _solid_shapes(seed, image_size, count):
    from pipelines.sources_generated import generate_shapes10

    per_class = max(1, -(-int(count) // 10))
    images, _, masks = generate_shapes10(seed, image_size, per_class, noise=0.0)
    return images[:count], masks[:count]


@register_dataset("edges2shapes", "image_to_image", "paired 32×32: coloured Sobel outlines of a shape (x) → the filled, coloured shape (y) (Pix2Pix)")
def load_edges2shapes(seed=0, image_size=32, num_examples=400):
    shapes, _ = _solid_shapes(seed, int(image_size), int(num_examples))
    return Dataset(
        name="edges2shapes", task="image_to_image", x=sobel_edges(shapes), y=shapes,
        description=f"{len(shapes)} paired {image_size}×{image_size} edge maps → filled shapes", value_range=(0.0, 255.0),
    )


def stripe_fill(images, masks, period=4):
    """The shapes of `images` filled with horizontal stripes (foreground colour / its complement)."""
    images = np.asarray(images, "float32")
    rows = (np.arange(images.shape[1]) // max(1, int(period) // 2)) % 2
    colour = np.sum(images * masks[..., None], axis=(1, 2)) / np.maximum(masks.sum(axis=(1, 2))[:, None], 1)
    stripes = np.where(rows[None, :, None, None] == 1, colour[:, None, None, :], 255.0 - colour[:, None, None, :])
    return np.where(masks[..., None] > 0, stripes, images).astype("float32")


@register_dataset("solid2striped", "image_to_image", "unpaired 32×32: solid-filled shapes (x, domain A) and, from another seed, stripe-filled shapes (y, domain B) (CycleGAN)")
def load_solid2striped(seed=0, image_size=32, num_examples=400):
    domain_a, _ = _solid_shapes(seed, int(image_size), int(num_examples))
    other, masks = _solid_shapes(seed + 7919, int(image_size), int(num_examples))
    return Dataset(
        name="solid2striped", task="image_to_image", x=domain_a, y=stripe_fill(other, masks),
        description=f"{len(domain_a)} unpaired solid (A) and striped (B) {image_size}×{image_size} shapes", value_range=(0.0, 255.0),
    )


def bicubic_downsample(images, factor=4):
    """×`factor` bicubic down-sampling with antialiasing (SRGAN's LR inputs), 0..255."""
    import tensorflow as tf

    images = np.asarray(images, "float32")
    size = (images.shape[1] // int(factor), images.shape[2] // int(factor))
    return np.clip(tf.image.resize(images, size, method="bicubic", antialias=True).numpy(), 0.0, 255.0).astype("float32")


@register_dataset("shapes_sr4", "image_to_image", "×4 super-resolution pairs: bicubic 8×8 LR (x) → 32×32 HR shapes (y)")
def load_shapes_sr4(seed=0, image_size=32, num_examples=400, factor=4):
    from pipelines.sources_generated import generate_shapes10

    if int(image_size) % int(factor):
        raise ValueError(f"image_size must be a multiple of factor. Received: image_size={image_size}, factor={factor}")
    per_class = max(1, -(-int(num_examples) // 10))
    high, _, _ = generate_shapes10(seed, int(image_size), per_class, noise=8.0)
    high = high[: int(num_examples)]
    return Dataset(
        name="shapes_sr4", task="image_to_image", x=bicubic_downsample(high, factor), y=high,
        description=f"{len(high)} ×{factor} pairs ({image_size // factor}→{image_size} px)", value_range=(0.0, 255.0),
    )


STYLE_TEXTURES = ("stripes", "checker", "noise")


def style_texture(kind, image_size=32, seed=0):
    """One procedural style image [S, S, 3] in 0..255: diagonal colour stripes, a checkerboard or
    smoothed colour noise (spec §8.2: procedural textures as styles)."""
    rng = np.random.default_rng(seed)
    size = int(image_size)
    yy, xx = np.mgrid[0:size, 0:size].astype("float32")
    colour_a, colour_b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == "stripes":
        pattern = (np.sin((xx + yy) * np.pi / 3.0) > 0).astype("float32")
    elif kind == "checker":
        pattern = (((xx // 4) + (yy // 4)) % 2).astype("float32")
    elif kind == "noise":
        import scipy.ndimage

        pattern = scipy.ndimage.gaussian_filter(rng.uniform(size=(size, size)), 1.5)
        pattern = (pattern - pattern.min()) / max(np.ptp(pattern), 1e-6)
    else:
        raise ValueError(f"style must be one of {STYLE_TEXTURES}. Received: style={kind!r}")
    return (pattern[..., None] * colour_a + (1.0 - pattern[..., None]) * colour_b).astype("float32")


@register_dataset("shapes_style", "image_to_image", "style transfer: shapes scenes as content (x), one procedural texture as the style of every example (y)")
def load_shapes_style(seed=0, image_size=32, num_examples=200, style="stripes"):
    from pipelines.sources_generated import generate_shapes10

    per_class = max(1, -(-int(num_examples) // 10))
    content = generate_shapes10(seed, int(image_size), per_class, noise=5.0)[0][: int(num_examples)]
    texture = style_texture(style, int(image_size), seed)
    return Dataset(
        name="shapes_style", task="image_to_image", x=content, y=np.repeat(texture[None], len(content), axis=0),
        description=f"{len(content)} {image_size}×{image_size} shapes as content, '{style}' texture as style", value_range=(0.0, 255.0),
    )


# --- diffusion data (multimodal helper's block): scikit-learn's digits at their own 8×8 size ------


@register_dataset("digits8", "generative", "scikit-learn's 1,797 digits at their native 8×8×1, pixels 0..255 (DDPM's image data)")
def load_digits8(seed=0):
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return Dataset(
        name="digits8",
        task="generative",
        x=(bunch.images[..., None] * (255.0 / 16.0)).astype("float32"),
        y=bunch.target.astype("int32"),
        class_names=[str(d) for d in range(10)],
        description="scikit-learn digits, 8×8×1, pixels 0..255",
        value_range=(0.0, 255.0),
    )
