"""Quality evidence for the attention rows (transformer, gpt, bert, vit) and the motion
autoencoder, trained briefly on this machine's CPU.

    nice -n 10 python benchmarks/bench_transformers.py                 # every row
    nice -n 10 python benchmarks/bench_transformers.py --rows gpt,vit  # a subset

Rows (tiny configs widened by the overrides below; the canonical sizes do not train on a CPU):
    transformer         translation corpus, hold-out sacreBLEU (greedy, beam 4), alignments.png
    gpt                 templated grammar ("language"), hold-out perplexity vs the unigram model,
                        greedy / T = 0.8 continuations of "the red"
    bert                masked-LM pre-training (15 %: 80/10/10) + NSP on grammar sentence pairs;
                        hold-out MLM accuracy at the chosen positions and NSP accuracy, beside the
                        most-frequent-word baseline
    vit                 shapes10 (32×32, 4×4 patches), hold-out accuracy
    motion_autoencoder  walk cycles (32 frames × 30), hold-out MSE vs the mean-clip baseline;
                        motion_reconstruction.png (stick figures, input vs reconstruction)

Run directories land in --out/<row>; numbers are printed and written to --out/report.json.
"""

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROWS = {
    "transformer": dict(data="translation", model_overrides=dict(num_layers=1, d_model=48, num_heads=4, d_ff=96, max_output_length=24),
                        epochs=5, batch_size=64, learning_rate=3e-3, clipnorm=1.0, early_stopping_patience=3),
    "gpt": dict(data="language", model_overrides=dict(num_layers=2, d_model=64, num_heads=4, d_ff=128), epochs=8, batch_size=64,
                learning_rate=3e-3),
    "vit": dict(data="shapes10", model_overrides=dict(num_layers=2, d_model=48, num_heads=4, d_ff=96), epochs=8, batch_size=64,
                learning_rate=2e-3, early_stopping_patience=4),
    "motion_autoencoder": dict(data="walk_cycles", model_overrides=dict(frames=32, filters=64, kernel_size=25), epochs=30,
                               batch_size=32, learning_rate=2e-3, early_stopping_patience=None),
    "bert": None,  # pre-training, below
}


def run_row(name, options, out, seed):
    from pipelines.train import train

    run_dir = Path(out) / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.perf_counter()
    result = train(name, model_config="tiny", run_dir=run_dir, progress=None, seed=seed, **options)
    return result, time.perf_counter() - started


def bert_pretraining(out, seed, epochs=12):
    """MLM + NSP on consecutive grammar sentences; hold-out accuracy on a fresh masked set."""
    import keras

    import architectures
    from architectures.sequence import transformers as tf_models
    from pipelines.datasets import load_dataset
    from tasks.text import SOURCE_SPECIALS, adapt_vocabulary

    keras.utils.set_random_seed(seed)
    sentences = load_dataset("language", seed=seed).x[:2400]
    train_text, test_text = sentences[:2000], sentences[2000:]
    vocabulary = adapt_vocabulary(train_text, SOURCE_SPECIALS)
    bert = architectures.create_model("bert", config="tiny", vocabulary=vocabulary, vocabulary_size=len(vocabulary),
                                      num_layers=2, d_model=64, num_heads=4, d_ff=128)
    pretrainer = tf_models.BertPretrainer(bert)
    pretrainer.compile_pretraining(keras.optimizers.Adam(2e-3))
    started = time.perf_counter()
    for epoch in range(epochs):  # fresh masks every epoch, as BERT's dynamic masking does
        x, y = tf_models.pretraining_batch(bert, train_text, seed=seed + epoch)
        pretrainer.fit(x, y, batch_size=64, epochs=1, verbose=0)
    x, y = tf_models.pretraining_batch(bert, test_text, seed=seed + 1000)
    outputs = pretrainer.predict(x, batch_size=128, verbose=0)
    chosen = y["mlm"] != 0
    mlm_accuracy = float((np.argmax(outputs["mlm"], -1)[chosen] == y["mlm"][chosen]).mean())
    counts = np.bincount(y["mlm"][chosen], minlength=len(vocabulary))
    x_train, _ = tf_models.pretraining_batch(bert, train_text, seed=seed)
    train_counts = np.bincount(x_train["token_ids"][x_train["token_ids"] < len(vocabulary)], minlength=len(vocabulary))
    train_counts[:2] = 0
    baseline = float(counts[int(np.argmax(train_counts))] / max(chosen.sum(), 1))
    nsp_accuracy = float((np.argmax(outputs["nsp"], -1) == y["nsp"]).mean())
    return {"mlm_accuracy": mlm_accuracy, "mlm_most_frequent_baseline": baseline, "nsp_accuracy": nsp_accuracy,
            "masked_positions": int(chosen.sum()), "parameters": bert.count_params(), "seconds": round(time.perf_counter() - started, 1)}


def motion_picture(model, x, path, frames=(0, 8, 16, 24)):
    """Stick figures of a held-out clip and its reconstruction at a few frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path
    from pipelines.sources_motion import BONES, JOINTS

    reconstruction = np.asarray(model(x[:1])["reconstruction"])[0]
    figure, axes = plt.subplots(1, len(frames), figsize=(3 * len(frames), 3.4))
    for axis, frame in zip(axes, frames):
        for clip, colour, label in ((x[0], "black", "input"), (reconstruction, "tab:red", "reconstruction")):
            points = clip[frame].reshape(len(JOINTS), 2)
            for joint, (parent, _) in BONES.items():
                a, b = points[JOINTS.index(joint)], points[JOINTS.index(parent)]
                axis.plot([a[0], b[0]], [a[1], b[1]], color=colour, lw=2, alpha=0.7, label=label if joint == "spine" else None)
        axis.set_title(f"frame {frame}")
        axis.set_aspect("equal")
        axis.axis("off")
    axes[0].legend(loc="lower left", fontsize=7)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="", help="comma-separated subset of " + ",".join(ROWS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-transformers")
    args = parser.parse_args(argv)

    from common.io import write_json_atomic
    from tasks.language import generate

    wanted = [r for r in args.rows.split(",") if r] or list(ROWS)
    unknown = sorted(set(wanted) - set(ROWS))
    if unknown:
        parser.error(f"--rows has unknown rows {unknown}. Expected some of {list(ROWS)}")
    import json

    report_path = Path(args.out) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}  # runs of other rows are kept
    for name in wanted:
        if name == "bert":
            metrics = bert_pretraining(args.out, args.seed)
            print(f"bert: hold-out MLM accuracy {metrics['mlm_accuracy']:.3f} (most-frequent word {metrics['mlm_most_frequent_baseline']:.3f}), "
                  f"NSP accuracy {metrics['nsp_accuracy']:.3f}; {metrics['parameters']:,} params ({metrics['seconds']:.0f} s)", flush=True)
            report[name] = metrics
            continue
        result, seconds = run_row(name, dict(ROWS[name]), args.out, args.seed)
        metrics = {k: v for k, v in result.metrics.items() if not isinstance(v, (dict, list))}
        metrics["seconds"] = round(seconds, 1)
        metrics["parameters"] = result.model.count_params()
        if name == "transformer":
            print(f"transformer: hold-out sacreBLEU greedy {metrics['bleu']:.2f}, beam 4 {metrics.get('bleu_beam4', float('nan')):.2f}, "
                  f"chrF {metrics['chrf']:.2f}, exact {metrics['exact_match']:.3f}; {metrics['parameters']:,} params ({seconds:.0f} s)", flush=True)
        elif name == "gpt":
            metrics["greedy"] = generate(result.model, "the red", max_tokens=12, greedy=True)["text"]
            metrics["sampled_t0.8"] = generate(result.model, "the red", max_tokens=12, temperature=0.8, seed=args.seed)["text"]
            print(f"gpt: hold-out perplexity {metrics['perplexity']:.3f} vs unigram {metrics.get('unigram_perplexity', float('nan')):.3f}; "
                  f"greedy 'the red' → {metrics['greedy']!r}; {metrics['parameters']:,} params ({seconds:.0f} s)", flush=True)
        elif name == "vit":
            print(f"vit: hold-out accuracy {metrics.get('accuracy', float('nan')):.3f} on shapes10; {metrics['parameters']:,} params ({seconds:.0f} s)", flush=True)
        else:
            from pipelines.sources_motion import load_walk_cycles

            clips = load_walk_cycles(seed=args.seed + 7, n_clips=8, frames=32).x
            motion_picture(result.model, clips, Path(args.out) / name / "motion_reconstruction.png")
            print(f"motion_autoencoder: hold-out MSE {metrics['mse']:.5f} vs mean clip {metrics.get('mse_mean_image', float('nan')):.5f}, "
                  f"unexplained variance {metrics['unexplained_variance']:.4f}; {metrics['parameters']:,} params ({seconds:.0f} s)", flush=True)
        report[name] = metrics
    write_json_atomic(Path(args.out) / "report.json", report)
    print(f"wrote {Path(args.out) / 'report.json'}")
    return report


if __name__ == "__main__":
    main()
