"""Does dalle2_unclip draw what the caption says? The tiny config, trained briefly on shapes_unclip.

    python benchmarks/bench_unclip.py [--epochs 30] [--samples 64] [--out runs/bench_unclip]

Trains the tiny unCLIP (CLIP + regression prior + conditional DDPM decoder) on 800 one-shape scenes
(seed 0), then samples one 24×24 image per held-out caption (other seed) with the full T = 1000 step
ancestral loop and prints, against chance (4 colours, 4 shapes: 0.25 each):
    colour_accuracy   the captioned colour = the nearest named colour to the sample's saturated pixels
    shape_accuracy    the captioned shape = a small CNN classifier's prediction on the sample (the CNN is
                      trained here on the real training images; its accuracy on real held-out images is
                      printed as the ceiling)
    prior_cosine      mean cosine between the prior's ẑ_i and CLIP's image embedding of the real image
Writes runs/bench_unclip/samples.png (captions' samples beside the real held-out images) and results.json.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def dominant_colour(images, colours):
    """Index of the nearest named colour to each image's saturated (non-grey) pixels; -1 if none."""
    names = np.asarray(colours, np.float32)
    out = []
    for image in images:
        pixels = image.reshape(-1, 3)
        saturated = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 60]
        if len(saturated) == 0:
            out.append(-1)
            continue
        out.append(int(np.argmin(((names - saturated.mean(axis=0)) ** 2).sum(axis=1))))
    return np.asarray(out)


def shape_classifier(images, labels, epochs=30, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(images.shape[1:]), keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu", padding="same"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(4),
    ])
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(images, labels, batch_size=32, epochs=epochs, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--out", default="runs/bench_unclip")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import keras

    import architectures
    from pipelines import sources_multimodal as data
    from tasks.generative import save_comparison

    keras.utils.set_random_seed(0)
    train = data.load_shapes_unclip(seed=0, n=800)
    test = data.load_shapes_unclip(seed=1, n=args.samples)
    model = architectures.create_model("dalle2_unclip", config="tiny", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    start = time.time()
    history = model.fit(train.x, batch_size=32, epochs=args.epochs, verbose=0).history
    train_seconds = time.time() - start

    start = time.time()
    samples = model.sample(args.samples, seed=0, condition={"caption_ids": test.x["caption_ids"]})
    sample_seconds = time.time() - start
    words = [[data.VOCABULARY[i] for i in row if i] for row in test.x["caption_ids"]]
    captioned_colour = np.asarray([next(data.COLOUR_NAMES.index(w) for w in ws if w in data.COLOUR_NAMES) for ws in words])
    colours = [data.COLOURS[name] for name in data.COLOUR_NAMES]

    classifier = shape_classifier(train.x["samples"], train.y)
    real_shape = float(np.mean(classifier.predict(test.x["samples"], verbose=0).argmax(1) == test.y))
    sample_shape = float(np.mean(classifier.predict(samples, verbose=0).argmax(1) == test.y))
    real_colour = float(np.mean(dominant_colour(test.x["samples"], colours) == captioned_colour))
    sample_colour = float(np.mean(dominant_colour(samples, colours) == captioned_colour))

    prior = model.image_embedding(test.x["caption_ids"])
    true = np.asarray(model.clip({"image": test.x["samples"], "caption_ids": test.x["caption_ids"]})["image_embedding"])
    results = {
        "epochs": args.epochs, "final_training_loss": float(history["loss"][-1]), "train_seconds": round(train_seconds, 1),
        "num_samples": args.samples, "sample_seconds_T1000": round(sample_seconds, 1),
        "colour_accuracy": sample_colour, "colour_accuracy_real_images": real_colour,
        "shape_accuracy": sample_shape, "shape_accuracy_real_images": real_shape, "chance": 0.25,
        "prior_cosine": float(np.mean(np.sum(prior * true, axis=1))),
    }
    save_comparison(test.x["samples"][:32], samples[:32], out / "samples.png", value_range=(0.0, 255.0),
                    title="unCLIP: held-out real (left) vs samples for their captions (right)")
    (out / "results.json").write_text(json.dumps(results, indent=2))
    for key, value in results.items():
        print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()
