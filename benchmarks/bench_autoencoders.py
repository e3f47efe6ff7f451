"""Quality evidence for the autoencoder rows (spec §2 G) on the embedded digits, on this CPU.

    nice -n 10 python benchmarks/bench_autoencoders.py [--epochs 12] [--generator-epochs 40] [--only vae,ae_generator] [--out DIR]

Split: scikit-learn's digits at 32×32×1, 20 % held-out test images (stratified by digit), the
rest trains. Each model follows the trainer's order of Task calls (create_model with the data's
input shape and the task's model_overrides -> task.compile -> task.make_dataset -> fit ->
task.evaluate), at the canonical config unless noted, so the numbers are what `deepzoo train` gets.

Prints and writes OUT/report.json:
  - every reconstruction autoencoder (mlp, linear ≈ PCA, conv, denoising, sparse): hold-out MSE
    (pixels 0..255), PSNR, fraction of variance unexplained, and the mean-image baseline;
  - linear_autoencoder_pca: principal angles (degrees) between its decoder's column space and the
    top-k PCA subspace of the training images, and PCA's own hold-out MSE with the same k;
  - vae and ae_generator: hold-out ELBO (VAE, nats per image; trained vs untrained) and the
    Fréchet distance (the project's digits-CNN features, `tasks.generative`) of their samples vs
    the held-out images, with the untrained ceiling and the real-vs-real floor;
  - ae_pretrained_classifier: hold-out accuracy with 1 % of the training labels, greedy
    layer-wise pre-training on all training images vs random initialisation (mean over seeds).
Pictures: OUT/reconstructions.png (held-out digits and each autoencoder's reconstructions),
OUT/samples.png (VAE and autoencoder-generator samples beside real digits).
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RECONSTRUCTION_ROWS = ("mlp_autoencoder", "linear_autoencoder_pca", "conv_autoencoder", "denoising_autoencoder", "sparse_autoencoder")
ALL_ROWS = (*RECONSTRUCTION_ROWS, "vae", "ae_generator", "ae_pretrained_classifier")
# Canonical configs at 32×32 inputs; the sparse AE's canonical network is for 8×8 patches, so on
# whole digits it gets 64 hidden units (the rest of Ng's recipe unchanged).
OVERRIDES = {"sparse_autoencoder": {"code_dim": 64}}
# The spec's default MLP autoencoder beside Hinton & Salakhutdinov's logistic 1000-500-250-30, which
# is slow to train from a random start (the reason for their RBM pre-training).
EXTRA_ROWS = {"mlp_autoencoder:spec_default": ("mlp_autoencoder", {"hidden_units": [256], "hidden_activation": "relu"})}
# The linear AE converges to the principal subspace slowly where the spectrum is flat near k: it
# gets a fixed number of steps instead of epochs.
LINEAR_STEPS, LINEAR_LEARNING_RATE = 2000, 3e-3
FINE_TUNE_STEPS, PRETRAIN_EPOCHS = 150, 10


def build(name, dataset, x_train, seed, **extra):
    import architectures
    from architectures.registry import constructor_arguments
    from tasks import get_task

    spec = architectures.get_spec(name)
    accepted = constructor_arguments(spec)
    overrides = {"input_shape": list(dataset.input_shape), "seed": seed}
    overrides.update(get_task(spec.task).model_overrides(dataset, x_train, accepted))
    if "num_classes" in accepted:
        overrides["num_classes"] = dataset.num_classes
    overrides.update(OVERRIDES.get(name, {}))
    overrides.update(extra)
    return architectures.create_model(name, config="canonical", **overrides)


def train(name, model, x_train, y_train, epochs, batch_size, learning_rate, seed, steps=None):
    import keras

    import architectures
    from tasks import get_task

    task = get_task(architectures.get_spec(name).task)
    task.compile(model, keras.optimizers.Adam(learning_rate), jit_compile=False)
    data = task.make_dataset(x_train, task.fit_targets(model, y_train), batch_size, shuffle=True, seed=seed)
    if steps:  # one long epoch: Keras' per-epoch overhead would dominate many short ones
        data, epochs = data.repeat().take(steps), 1
    started = time.perf_counter()
    history = model.fit(data, epochs=epochs, verbose=0, shuffle=False).history
    return history, time.perf_counter() - started


def save_rows(rows, path):
    """One PNG: each entry of `rows` (title -> 16 images, pixels 0..255) as a titled strip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path
    from tasks.generative import image_mosaic

    figure, axes = plt.subplots(len(rows), 1, figsize=(12, 1.1 * len(rows)))
    for axis, (title, images) in zip(axes, rows.items()):
        axis.imshow(image_mosaic(images, columns=len(images))[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per autoencoder")
    parser.add_argument("--generator-epochs", type=int, default=40, help="epochs of vae and ae_generator")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--label-fraction", type=float, default=0.01, help="labelled share of the training images")
    parser.add_argument("--pretrain-seeds", type=int, default=3, help="seeds averaged for the pre-training gain")
    parser.add_argument("--only", default="", help=f"comma-separated rows (default: all of {', '.join(ALL_ROWS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-autoencoders")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    from common.io import write_json_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from tasks import get_task
    from tasks.base import take
    from tasks.generative import save_comparison

    rows = [r for r in args.only.split(",") if r] or list(ALL_ROWS)
    unknown = sorted(set(rows) - set(ALL_ROWS))
    if unknown:
        raise SystemExit(f"Unknown rows {unknown}. Expected some of {ALL_ROWS}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset("digits", seed=args.seed)
    rest, test_idx = holdout_split(len(dataset), 0.2, args.seed, dataset.y)
    x_train, y_train = take(dataset.x, rest), take(dataset.y, rest)
    x_test, y_test = take(dataset.x, test_idx), take(dataset.y, test_idx)
    report = {"data": f"digits 32×32×1, {len(x_train)} train / {len(x_test)} held-out", "epochs": args.epochs}
    reconstructions = {}
    started = time.perf_counter()

    # --- reconstruction autoencoders ----------------------------------------------------------
    autoencoding = get_task("autoencoder")
    jobs = [(r, r, {}) for r in rows if r in RECONSTRUCTION_ROWS]
    if "mlp_autoencoder" in rows:
        jobs[1:1] = [(label, row, extra) for label, (row, extra) in EXTRA_ROWS.items()]
    for label, name, extra in jobs:
        keras.utils.set_random_seed(args.seed)
        model = build(name, dataset, x_train, args.seed, **extra)
        if name == "linear_autoencoder_pca":
            _, seconds = train(name, model, x_train, y_train, 1, args.batch_size, LINEAR_LEARNING_RATE, args.seed, steps=LINEAR_STEPS)
        else:
            _, seconds = train(name, model, x_train, y_train, args.epochs, args.batch_size, args.learning_rate, args.seed)
        result = autoencoding.evaluate(model, x_test, y_test, x_reference=x_train)
        result.update(params=model.count_params(), train_seconds=round(seconds, 1))
        if name == "linear_autoencoder_pca":
            k = result["code_size"]
            flat_train = x_train.reshape(len(x_train), -1)
            pca = PCA(n_components=k, random_state=args.seed).fit(flat_train)
            decoder_columns = np.asarray(model.decoder.get_layer("logits").kernel).reshape(k, -1).T
            angles = np.degrees(subspace_angles(decoder_columns, pca.components_.T))
            flat_test = x_test.reshape(len(x_test), -1)
            pca_mse = float(np.mean(np.square(pca.inverse_transform(pca.transform(flat_test)) - flat_test)))
            result.update(
                principal_angles_deg_max=float(angles.max()), principal_angles_deg_median=float(np.median(angles)),
                pca_mse_same_k=pca_mse,
            )
        if name == "sparse_autoencoder":
            codes = autoencoding.predict(model, x_test)["code"]
            result["mean_code_activation"] = float(codes.mean())
        reconstructions[label] = autoencoding.predict(model, x_test[:16])["reconstruction"]
        report[label] = result
        print(
            f"{label:<24} hold-out MSE {result['mse']:8.1f}  PSNR {result['psnr']:6.2f} dB  unexplained {result['unexplained_variance']:.3f}"
            f"  (mean image {result['mse_mean_image']:.1f}; {seconds:.0f}s)", flush=True,
        )
        if name == "linear_autoencoder_pca":
            print(f"{'':<24} principal angles vs PCA k={result['code_size']} ({LINEAR_STEPS} steps): max {result['principal_angles_deg_max']:.2f}°, "
                  f"median {result['principal_angles_deg_median']:.2f}°; PCA hold-out MSE {result['pca_mse_same_k']:.1f}", flush=True)
    if reconstructions:
        save_rows({"held-out digits": x_test[:16], **reconstructions}, out / "reconstructions.png")

    # --- generators: VAE and the autoencoder generator -----------------------------------------
    generative = get_task("generative")
    samples = {}
    for name in [r for r in rows if r in ("vae", "ae_generator")]:
        keras.utils.set_random_seed(args.seed)
        model = build(name, dataset, x_train, args.seed)
        untrained_elbo = model.elbo(x_test) if name == "vae" else None
        _, seconds = train(name, model, x_train, y_train, args.generator_epochs, args.batch_size, args.learning_rate, args.seed)
        if name == "ae_generator":
            model.fit_code_distribution(x_train)  # exact Gaussian of the training codes
        result = generative.evaluate(model, x_test, y_test, x_reference=x_train, seed=args.seed)
        result.update(params=model.count_params(), train_seconds=round(seconds, 1))
        if name == "vae":
            result.update(elbo_held_out=model.elbo(x_test), elbo_untrained=untrained_elbo)
        samples[name] = generative.predict(model, generative.export_samples(generative.export_endpoint(model), x_test[:32], None)[0])["images"]
        report[name] = {k: v for k, v in result.items() if k != "real_reference"}
        line = (f"{name:<24} Fréchet distance {result['frechet_distance']:8.2f}  untrained {result['frechet_distance_untrained']:8.2f}"
                f"  real vs real {result['frechet_distance_real']:6.2f}")
        if name == "vae":
            line += f"  ELBO {result['elbo_held_out']:.1f} (untrained {untrained_elbo:.1f}) nats/image"
        print(line + f"  ({seconds:.0f}s)", flush=True)
    if samples:
        generated = np.concatenate(list(samples.values()))
        save_comparison(x_test[:32], generated, out / "samples.png", columns=8, title="generated rows: " + ", ".join(samples))

    # --- pre-training gain with few labels ----------------------------------------------------
    if "ae_pretrained_classifier" in rows:
        classification = get_task("classification")
        rng = np.random.default_rng(args.seed)
        per_class = max(1, int(round(args.label_fraction * len(x_train) / 10)))
        labelled = np.concatenate([rng.choice(np.flatnonzero(y_train == c), per_class, replace=False) for c in range(10)])
        gains = {"pretrained": [], "random_init": []}
        for seed in range(args.pretrain_seeds):
            for variant, pretrain_epochs in (("pretrained", PRETRAIN_EPOCHS), ("random_init", 0)):
                keras.utils.set_random_seed(seed)
                model = build("ae_pretrained_classifier", dataset, x_train, seed, pretrain_epochs=pretrain_epochs)
                if pretrain_epochs:
                    model.pretrain(x_train)  # all training images, labels unused
                classification.compile(model, keras.optimizers.Adam(args.learning_rate))
                # FINE_TUNE_STEPS full-batch steps on the labelled few, in one epoch
                labelled_data = tf.data.Dataset.from_tensors((x_train[labelled], y_train[labelled])).repeat(FINE_TUNE_STEPS)
                model.fit(labelled_data, epochs=1, verbose=0, shuffle=False)
                gains[variant].append(classification.evaluate(model, x_test, y_test)["accuracy"])
        result = {
            "labels": int(len(labelled)),
            "accuracy_pretrained": float(np.mean(gains["pretrained"])),
            "accuracy_random_init": float(np.mean(gains["random_init"])),
            "per_seed": gains,
        }
        result["gain"] = result["accuracy_pretrained"] - result["accuracy_random_init"]
        report["ae_pretrained_classifier"] = result
        print(f"{'ae_pretrained_classifier':<24} {len(labelled)} labels: accuracy pretrained {result['accuracy_pretrained']:.3f} "
              f"vs random init {result['accuracy_random_init']:.3f} (gain {result['gain']:+.3f}, mean of {args.pretrain_seeds} seeds)", flush=True)

    report["total_seconds"] = round(time.perf_counter() - started, 1)
    write_json_atomic(out / "report.json", report)
    print(f"total {report['total_seconds']:.0f}s; report and pictures in {out}")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}))


if __name__ == "__main__":
    main()
