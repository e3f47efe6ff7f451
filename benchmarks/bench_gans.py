"""Quality evidence for the GAN rows (architectures/generative/gans.py), on this CPU, one part at a time.

    nice -n 10 python benchmarks/bench_gans.py --part ring     # gan vs wgan mode coverage on ring8 (+ PNG)
    nice -n 10 python benchmarks/bench_gans.py --part images   # Fréchet distances on digits (gan_nonsaturating, lsgan, wgan-gp, ebgan)
    nice -n 10 python benchmarks/bench_gans.py --part cgan     # cGAN class accuracy by the project's digits classifier
    nice -n 10 python benchmarks/bench_gans.py --part bigan    # BiGAN anomaly ROC AUC, one digit held out as anomalous

Each part trains through `fit` with the models' own train_step (`Task.compile`, `Task.make_dataset`),
at CPU-sized MLP widths ("bench" configs below: the rows' games and options, narrower layers), and
writes OUT/<part>[-<models>].json plus pictures (OUT/ring_modes[-<models>].png: the generated points of each
model over the ring, modes marked; OUT/<model>_samples.png; OUT/cgan_classes.png: one row per requested class;
OUT/bigan_scores.png: the anomaly scores' histograms and the reconstructions' differences).

Measures:
  ring    modes covered (of 8) and the high-quality fraction (within 3σ of a mode) of 2,000 samples;
          `gan` is the minimax row, `gan_nonsaturating` the practical form, `wgan` weight clipping
          (n_critic 5, RMSProp 5e-4: ten times the paper's image rate, for a toy run of ~2,000
          generator steps; c = 0.05, see RING_MODELS; `--wgan-clip 0.01` for the paper's c),
          `wgan_gp` the same row with a gradient penalty (λ = 0.1, the GP authors' toy value), no
          clipping, Adam 1e-3 β = (0.5, 0.9).
  images  Fréchet distance (the project's digits-CNN features, `tasks.generative`) of the trained
          generator, of the same architecture untrained and of the held-out vs training images.
  cgan    fraction of generated digits the digits CNN puts in the requested class (50 per class).
  bigan   ROC AUC and average precision (scikit-learn) of A(x) on held-out normal digits + every
          image of the anomalous digit, training on the other nine digits only.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RING_MLP = dict(latent_dim=8, generator_units=(128, 128), discriminator_units=(128, 128), discriminator_pieces=1, discriminator_dropout=0.0)
RING_MODELS = {
    "gan": (dict(RING_MLP, loss="minimax"), ("adam", 1e-3, {"beta_1": 0.5})),
    "gan_nonsaturating": (dict(RING_MLP, loss="non_saturating"), ("adam", 1e-3, {"beta_1": 0.5})),
    # The papers' image learning rates (RMSProp 5e-5; Adam 1e-4) barely move a toy run of ~2,000
    # generator steps; ten times larger, as is usual on toy mixtures. Clip c = 0.05, not the paper's
    # 0.01: this 2-D critic has no normalisation layer, and at c = 0.01 RMSProp pins 85 % of its
    # weights at ±c (measured, `critic_weights_at_clip`): a near-binary-weight critic that cannot
    # bend around the ring, so the samples stay spread over the box (0/8 modes); at 0.05, 39 % are
    # pinned and the samples settle on the ring (8/8). `--wgan-clip 0.01` reruns the paper's value.
    "wgan": (dict(RING_MLP, loss="wasserstein", discriminator_steps=5, clip_value=0.05), ("rmsprop", 5e-4, {})),
    # λ = 0.1 on toy data, as the WGAN-GP authors' own toy script does ("smaller lambda seems to help
    # for toy tasks"); λ = 10 (the images' value) left the samples spread over the box in this run.
    "wgan_gp": (
        dict(RING_MLP, loss="wasserstein", discriminator_steps=5, clip_value=None, gradient_penalty_weight=0.1),
        ("adam", 1e-3, {"beta_1": 0.5, "beta_2": 0.9}),
    ),
}
# Digits at 16×16: the embedded 8×8 scans carry no more detail, and an MLP learns 256 pixels far
# faster than the trainer's default 32×32 on this CPU.
IMAGE_SIZE = 16
IMAGE_MLP = dict(latent_dim=32, generator_units=(256, 256), discriminator_units=(256, 256), discriminator_pieces=1, discriminator_dropout=0.0)
IMAGE_MODELS = {
    "gan_nonsaturating": (dict(IMAGE_MLP, loss="non_saturating"), ("adam", 1e-3, {"beta_1": 0.5})),
    "lsgan": (dict(IMAGE_MLP, loss="least_squares"), ("adam", 1e-3, {"beta_1": 0.5})),
    "wgan": (
        dict(IMAGE_MLP, loss="wasserstein", discriminator_steps=5, clip_value=None, gradient_penalty_weight=10.0),
        ("adam", 1e-3, {"beta_1": 0.5, "beta_2": 0.9}),
    ),
    "ebgan": (dict(IMAGE_MLP, loss="energy", discriminator_units=(256, 64), margin=0.5, pullaway_weight=0.1), ("adam", 1e-3, {"beta_1": 0.5})),
}


def optimizer(name, learning_rate, options):
    import keras

    return {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[name](learning_rate, **options)


def row_name(key):
    return "wgan" if key == "wgan_gp" else key


def train(model, task, x, y, epochs, batch_size, opt, seed):
    task.compile(model, optimizer(*opt), jit_compile=True)  # XLA: these small MLPs' steps are mostly overhead
    dataset = task.make_dataset(x, y, batch_size, shuffle=True, seed=seed)
    started = time.perf_counter()
    history = model.fit(dataset, epochs=epochs, verbose=0, shuffle=False).history
    return history, time.perf_counter() - started


def critic_weights_at_clip(model):
    """Fraction of the clipped critic's weights within 1 % of ±c (pinned by the clipping)."""
    import numpy as np

    values = np.concatenate([np.ravel(np.asarray(v)) for v in model.discriminator.trainable_variables])
    return float(np.mean(np.abs(values) >= 0.99 * model.clip_value))


def part_ring(args, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import architectures
    from common.io import atomic_path
    from pipelines.datasets import load_dataset
    from tasks import generative
    from tasks.generative import Generative

    task = Generative()
    ring = load_dataset("ring8", seed=args.seed, num_points=8192)
    centres, scale = generative.labelled_modes(ring.x, ring.y)
    results = {}
    chosen = {key: value for key, value in RING_MODELS.items() if not args.models or key in args.models}
    if args.wgan_clip is not None and "wgan" in chosen:
        config, opt = chosen["wgan"]
        chosen["wgan"] = (dict(config, clip_value=args.wgan_clip), opt)
    figure, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 4.4), squeeze=False)
    for axis, (key, (config, opt)) in zip(axes[0], chosen.items()):
        import keras

        keras.utils.set_random_seed(args.seed)
        model = architectures.create_model(row_name(key), config="tiny", input_shape=(2,), value_range=ring.value_range, seed=args.seed, **config)
        history, seconds = train(model, task, ring.x, None, args.ring_epochs, 256, opt, args.seed)
        samples = generative.generate_samples(model, 2000, seed=args.seed + 1)
        coverage = generative.mode_coverage(samples, centres, scale)
        results[key] = {**coverage, "train_seconds": seconds, "epochs": args.ring_epochs, "d_loss": history["d_loss"][-1], "g_loss": history["g_loss"][-1]}
        clipping = ""
        if model.clip_value:
            results[key].update(clip_value=model.clip_value, critic_weights_at_clip=critic_weights_at_clip(model))
            clipping = f"  clip {model.clip_value:g}: {results[key]['critic_weights_at_clip']:.0%} of the critic's weights at ±c"
        print(f"ring8 {key:<18} modes {coverage['modes_covered']}/8  high-quality {coverage['high_quality_fraction']:.3f}  "
              f"counts {coverage['mode_counts']}  ({seconds:.0f}s){clipping}", flush=True)
        axis.scatter(ring.x[:2000, 0], ring.x[:2000, 1], s=2, c="tab:blue", alpha=0.2)
        axis.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:orange", alpha=0.5)
        axis.scatter(centres[:, 0], centres[:, 1], marker="x", c="black", s=40)
        axis.set_title(f"{key}: {coverage['modes_covered']}/8 modes")
        axis.set_aspect("equal")
        axis.set_xlim(-3, 3)
        axis.set_ylim(-3, 3)
    suffix = "-" + "-".join(chosen) if args.models else ""
    with atomic_path(out / f"ring_modes{suffix}.png", suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return results


def _digits_split(seed):
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split

    digits = load_dataset("digits", seed=seed, image_size=IMAGE_SIZE)
    rest, test = holdout_split(len(digits), 0.2, seed, digits.y)
    return digits, rest, test


def part_images(args, out):
    import keras

    import architectures
    from tasks.generative import Generative, generate_samples, save_image_grid

    task = Generative()
    digits, train_idx, test_idx = _digits_split(args.seed)
    results = {}
    for key, (config, opt) in IMAGE_MODELS.items():
        if args.models and key not in args.models:
            continue
        keras.utils.set_random_seed(args.seed)
        model = architectures.create_model(key, config="tiny", input_shape=digits.input_shape, value_range=digits.value_range, seed=args.seed, **config)
        _, seconds = train(model, task, digits.x[train_idx], None, args.image_epochs, 32, opt, args.seed)
        report = task.evaluate(model, digits.x[test_idx], digits.y[test_idx], x_reference=digits.x[train_idx], seed=args.seed)
        save_image_grid(generate_samples(model, 64, seed=0), out / f"{key}_samples.png")
        results[key] = {k: report[k] for k in ("frechet_distance", "frechet_distance_untrained", "frechet_distance_real")}
        results[key].update(train_seconds=seconds, epochs=args.image_epochs, params=model.count_params())
        print(f"digits {key:<18} FD trained {report['frechet_distance']:8.2f}  untrained {report['frechet_distance_untrained']:8.2f}  "
              f"real {report['frechet_distance_real']:6.2f}  ({seconds:.0f}s)", flush=True)
    return results


def part_cgan(args, out):
    import keras
    import numpy as np

    import architectures
    from tasks.generative import Generative, conditional_class_accuracy, feature_classifier, generate_samples, save_image_grid

    task = Generative()
    digits, train_idx, test_idx = _digits_split(args.seed)
    keras.utils.set_random_seed(args.seed)
    model = architectures.create_model(
        "cgan", config="tiny", input_shape=digits.input_shape, value_range=digits.value_range, num_classes=10, seed=args.seed,
        latent_dim=32, generator_units=(128, 256), generator_label_units=64, discriminator_units=(256, 128),
        discriminator_pieces=1, discriminator_label_units=32, discriminator_label_pieces=1, discriminator_dropout=0.2,
    )
    _, seconds = train(model, task, digits.x[train_idx], digits.y[train_idx], args.image_epochs, 32, ("adam", 1e-3, {"beta_1": 0.5}), args.seed)
    classifier = feature_classifier(digits.input_shape)
    accuracy = conditional_class_accuracy(model, classifier, per_class=50, seed=args.seed)
    real_accuracy = float(np.mean(np.argmax(np.asarray(classifier(digits.x[test_idx])), -1) == digits.y[test_idx]))
    labels = np.repeat(np.arange(10, dtype="int32"), 8)
    save_image_grid(generate_samples(model, len(labels), seed=0, labels=labels), out / "cgan_classes.png", columns=8)
    print(f"cgan class accuracy {accuracy['class_accuracy']:.3f} (digits CNN on held-out real digits: {real_accuracy:.3f}; chance 0.1)  "
          f"per class {[round(v, 2) for v in accuracy['per_class']]}  ({seconds:.0f}s)", flush=True)
    return {**accuracy, "classifier_accuracy_on_real": real_accuracy, "train_seconds": seconds, "epochs": args.image_epochs}


def part_bigan(args, out):
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import architectures
    from common.io import atomic_path
    from pipelines.datasets import load_dataset
    from pipelines.sources_generative import anomaly_split
    from tasks.generative import Generative, anomaly_report, anomaly_scores

    task = Generative()
    data = load_dataset("digits_anomaly", seed=args.seed, anomalous_class=args.anomalous_class, image_size=IMAGE_SIZE)
    train_x, test_x, flags = anomaly_split(data, test_fraction=0.3, seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    model = architectures.create_model(
        "bigan_anomaly", config="tiny", input_shape=data.input_shape, value_range=data.value_range, seed=args.seed,
        latent_dim=16, generator_units=(256, 256), encoder_units=(256, 256), discriminator_units=(256, 128), latent_units=64,
        discriminator_dropout=0.2, anomaly_weight=0.9, anomaly_norm=args.anomaly_norm,
    )
    _, seconds = train(model, task, train_x, None, args.bigan_epochs, 32, ("adam", 5e-4, {"beta_1": 0.5}), args.seed)
    report = anomaly_report(model, test_x, flags)
    scores = anomaly_scores(model, test_x)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].hist(scores[flags == 0], bins=40, alpha=0.6, label="normal (held out)")
    axes[0].hist(scores[flags == 1], bins=40, alpha=0.6, label=f"anomalous (digit {args.anomalous_class})")
    axes[0].set_title(f"A(x), ROC AUC {report['anomaly_roc_auc']:.3f}")
    axes[0].legend()
    outputs = model({"noise": np.zeros((8, model.latent_dim), "float32"), "query": test_x[flags == 1][:8]})
    difference = np.abs(np.asarray(outputs["reconstructions"]) - test_x[flags == 1][:8])
    axes[1].imshow(np.concatenate(list(difference[..., 0]), axis=1), cmap="magma")
    axes[1].set_title("|G(E(x)) − x| of anomalous digits (localisation)")
    axes[1].axis("off")
    with atomic_path(out / "bigan_scores.png", suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(figure)
    print(f"bigan anomalous digit {args.anomalous_class}: ROC AUC {report['anomaly_roc_auc']:.3f}  average precision "
          f"{report['anomaly_average_precision']:.3f}  ({report['num_anomalous']} anomalous of {len(flags)} test; "
          f"{len(train_x)} normal training digits; goal AUC >= 0.8: {'met' if report['anomaly_roc_auc'] >= 0.8 else 'NOT met'})  ({seconds:.0f}s)",
          flush=True)
    return {**report, "anomalous_class": args.anomalous_class, "train_seconds": seconds, "epochs": args.bigan_epochs, "goal_met": report["anomaly_roc_auc"] >= 0.8}


PARTS = {"ring": part_ring, "images": part_images, "cgan": part_cgan, "bigan": part_bigan}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(PARTS), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", help="only these keys of the part's table (ring, images)")
    parser.add_argument("--wgan-clip", type=float, default=None, help="the ring's wgan clip value c (default 0.05; the paper: 0.01)")
    parser.add_argument("--ring-epochs", type=int, default=60, help="epochs over 8,192 ring points, batch 256")
    parser.add_argument("--image-epochs", type=int, default=60, help="epochs over 1,437 training digits, batch 32")
    parser.add_argument("--bigan-epochs", type=int, default=60, help="epochs over the normal training digits, batch 32")
    parser.add_argument("--anomalous-class", type=int, default=0)
    parser.add_argument("--anomaly-norm", default="l1", choices=("l1", "l2"))
    parser.add_argument("--out", default="runs/bench-gans")
    args = parser.parse_args()

    from common.io import write_json_atomic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = PARTS[args.part](args, out)
    write_json_atomic(out / f"{args.part}{'-' + '-'.join(args.models) if args.models else ''}.json", {"part": args.part, "seed": args.seed, "results": results, "seconds": time.perf_counter() - started})
    print(json.dumps({"part": args.part, "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
