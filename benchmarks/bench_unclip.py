"""Does dalle2_unclip draw what the caption says? A bench config, trained briefly on shapes_unclip.

    python benchmarks/bench_unclip.py [--epochs 80] [--samples 64] [--guidance 1 3] [--out runs/bench_unclip]

Trains unCLIP (CLIP + regression prior + conditional DDPM decoder) on 800 one-shape scenes (seed 0)
in the BENCH config: the tiny config with a two-level 12-channel decoder U-Net (the tiny one-level
8-channel U-Net only learnt the grey background and noise in a CPU budget) and T = 200 steps with the
linear betas scaled by 1000/T (5e-4..0.1: ᾱ_T 3.0e-5, vs 4.0e-5 for the paper's T = 1000; the canonical
config keeps T = 1000). The decoder drops the image embedding 10 % of the time (the paper's
classifier-free guidance training). Then it samples one 24×24 image per held-out caption (other
seed) with the T-step ancestral loop, at each classifier-free guidance scale s (1 = none), and
prints, against chance (4 colours, 4 shapes: 0.25 each):
    colour_accuracy   the captioned colour = the nearest named colour to the sample's saturated pixels
    shape_accuracy    the captioned shape = a small CNN classifier's prediction on the sample (the CNN is
                      trained here on the real training images; its accuracy on real held-out images is
                      printed as the ceiling)
    prior_cosine      mean cosine between the prior's ẑ_i and CLIP's image embedding of the real image
    *_true_embedding  the same accuracies of the decoder given CLIP's embedding of the real held-out
                      image instead of the prior's (which stage fails: the prior or the decoder?)
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


BENCH = {"timesteps": 200, "beta_start": 5e-4, "beta_end": 0.1, "width": 12, "channel_multipliers": (1, 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 3.0], help="classifier-free guidance scales s")
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
    model = architectures.create_model("dalle2_unclip", config="tiny", seed=0, **BENCH)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    start = time.time()
    history = model.fit(train.x, batch_size=32, epochs=args.epochs, verbose=0).history
    train_seconds = time.time() - start

    words = [[data.VOCABULARY[i] for i in row if i] for row in test.x["caption_ids"]]
    captioned_colour = np.asarray([next(data.COLOUR_NAMES.index(w) for w in ws if w in data.COLOUR_NAMES) for ws in words])
    colours = [data.COLOURS[name] for name in data.COLOUR_NAMES]
    classifier = shape_classifier(train.x["samples"], train.y)

    def accuracies(images):
        return (float(np.mean(dominant_colour(images, colours) == captioned_colour)),
                float(np.mean(classifier.predict(images, verbose=0).argmax(1) == test.y)))

    real_colour, real_shape = accuracies(test.x["samples"])
    prior = model.image_embedding(test.x["caption_ids"])
    true = np.asarray(model.clip({"image": test.x["samples"], "caption_ids": test.x["caption_ids"]})["image_embedding"])
    results = {
        "config": {**BENCH, "channel_multipliers": list(BENCH["channel_multipliers"])}, "epochs": args.epochs,
        "final_training_loss": float(history["loss"][-1]), "train_seconds": round(train_seconds, 1), "num_samples": args.samples,
        "colour_accuracy_real_images": real_colour, "shape_accuracy_real_images": real_shape, "chance": 0.25,
        "prior_cosine": float(np.mean(np.sum(prior * true, axis=1))),
    }
    for scale in args.guidance:
        start = time.time()
        samples = model.sample(args.samples, seed=0, condition={"caption_ids": test.x["caption_ids"]}, guidance_scale=scale)
        results[f"sample_seconds_s{scale:g}"] = round(time.time() - start, 1)
        results[f"colour_accuracy_s{scale:g}"], results[f"shape_accuracy_s{scale:g}"] = accuracies(samples)
        decoded = model.decoder.sample(args.samples, seed=0, condition=true, guidance_scale=scale)
        results[f"colour_accuracy_true_embedding_s{scale:g}"], results[f"shape_accuracy_true_embedding_s{scale:g}"] = accuracies(decoded)
        save_comparison(test.x["samples"][:32], samples[:32], out / f"samples_s{scale:g}.png", value_range=(0.0, 255.0),
                        title=f"unCLIP: held-out real (left) vs samples for their captions (right), guidance s = {scale:g}")
        print({key: value for key, value in results.items() if key.endswith(f"s{scale:g}")}, flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    for key, value in results.items():
        print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()
