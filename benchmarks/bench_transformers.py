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
                        most-frequent-word baseline, the part-of-speech oracle (the grammar's
                        ceiling) and the share of predictions of the right part of speech
    vit                 shapes10 (6,000 images at 32×32, 4×4 patches), hold-out accuracy, beside a
                        small CNN of about the same parameter count trained the same way
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
    # 6,000 shapes (4,200 to train), flips and shifts, AdamW with a linear warm-up then cosine decay
    # (`WarmupCosine`), no early stopping: the ViT recipe of Dosovitskiy et al. at CPU scale.
    "vit": dict(data="shapes10", data_options=dict(num_per_class=600),
                model_overrides=dict(num_layers=2, d_model=64, num_heads=4, d_ff=128), epochs=100, batch_size=64,
                optimizer="adamw", learning_rate=2e-3, weight_decay=0.05,
                augment={"flip": "horizontal_and_vertical", "translate": 0.1}, early_stopping_patience=None),
    "motion_autoencoder": dict(data="walk_cycles", model_overrides=dict(frames=32, filters=64, kernel_size=25), epochs=30,
                               batch_size=32, learning_rate=2e-3, early_stopping_patience=None),
    "bert": None,  # pre-training, below
}


VIT_WARMUP_EPOCHS = 3
# The ViT's yardstick: a small CNN of about the same parameter count, same split, same recipe.
CNN_BASELINE = ("simple_cnn", dict(filters=(16, 32, 64), convs_per_stage=1, dense_units=(48,)))
# BERT pre-training: fresh grammar sentences (the held-out ones never seen in training), a new
# masking and pairing of the training sentences every epoch (dynamic masking), Adam with warm-up.
BERT = dict(train_sentences=8000, test_sentences=1000, epochs=30, batch_size=64, learning_rate=1e-3, warmup_fraction=0.05,
            model_overrides=dict(num_layers=2, d_model=64, num_heads=4, d_ff=128))


def warmup_cosine(peak, warmup_fraction):
    """A callback that sets the learning rate every batch: linear from 0 to `peak` over the first
    `warmup_fraction` of the fit's steps, then cosine to 0 at the last step (`pipelines.optim`'s
    cosine has no warm-up, and transformers trained from scratch need one)."""
    import keras

    class WarmupCosine(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.step, self.total = 0, self.params["steps"] * self.params["epochs"]
            self.warmup = max(1, round(self.total * warmup_fraction))

        def on_train_batch_begin(self, batch, logs=None):
            if self.step < self.warmup:
                rate = peak * (self.step + 1) / self.warmup
            else:
                progress = (self.step - self.warmup) / max(1, self.total - self.warmup)
                rate = 0.5 * peak * (1.0 + np.cos(np.pi * min(progress, 1.0)))
            self.model.optimizer.learning_rate = rate
            self.step += 1

    return WarmupCosine()


def run_row(name, options, out, seed, callbacks=(), run_name=None):
    from pipelines.train import train

    run_dir = Path(out) / (run_name or name)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.perf_counter()
    result = train(name, model_config="tiny", run_dir=run_dir, progress=None, seed=seed, callbacks=callbacks, **options)
    return result, time.perf_counter() - started


def vit_and_cnn(options, out, seed):
    """The ViT row, then the CNN baseline trained with the same data, split, recipe and epochs."""
    def warmup():
        return [warmup_cosine(options["learning_rate"], VIT_WARMUP_EPOCHS / options["epochs"])]

    result, seconds = run_row("vit", options, out, seed, callbacks=warmup())
    cnn_name, cnn_overrides = CNN_BASELINE
    cnn, cnn_seconds = run_row(cnn_name, dict(options, model_overrides=cnn_overrides), out, seed, callbacks=warmup(),
                               run_name="vit_cnn_baseline")
    history = result.history
    extra = {
        "train_accuracy_last_epoch": float(history["accuracy"][-1]),
        "cnn_baseline": f"{cnn_name} {cnn_overrides}",
        "cnn_accuracy": float(cnn.metrics["accuracy"]),
        "cnn_parameters": cnn.model.count_params(),
        "cnn_seconds": round(cnn_seconds, 1),
    }
    return result, seconds, extra


# In the order of `part_of_speech_table`'s classes.
PARTS_OF_SPEECH = ("determiner", "noun", "adjective", "transitive verb", "intransitive verb", "adverb", "preposition")


def part_of_speech_table(vocabulary):
    """int32 [V]: the grammar's part of speech of every vocabulary id (-1 for specials)."""
    from architectures.sequence.transformers import BERT_SPECIALS
    from pipelines import sources_text as grammar

    classes = (grammar.DETERMINERS, grammar.NOUNS, grammar.ADJECTIVES, grammar.TRANSITIVE_VERBS, grammar.INTRANSITIVE_VERBS,
               grammar.ADVERBS, grammar.PREPOSITIONS)
    part = {word: index for index, words in enumerate(classes) for word in words}
    return np.asarray([part.get(word, -1) for word in vocabulary] + [-1] * len(BERT_SPECIALS), np.int32)


def mlm_picture(parts, model_correct, oracle_correct, path):
    """Hold-out MLM accuracy per part of speech of the masked word: the model beside the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    present = [p for p in range(len(PARTS_OF_SPEECH)) if (parts == p).any()]
    positions = np.arange(len(present))
    figure, axis = plt.subplots(figsize=(9.5, 3.4))
    for offset, correct, label in ((-0.2, model_correct, "BERT"), (0.2, oracle_correct, "part-of-speech oracle")):
        axis.bar(positions + offset, [correct[parts == p].mean() for p in present], width=0.4, label=label)
    axis.set_xticks(positions, [f"{PARTS_OF_SPEECH[p]}\n({int((parts == p).sum())})" for p in present], fontsize=8)
    axis.set_ylabel("accuracy at masked positions")
    axis.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(figure)


def bert_pretraining(out, seed, options=BERT):
    """MLM + NSP on consecutive grammar sentences; hold-out MLM accuracy at the chosen positions.

    The grammar draws each word uniformly within its part of speech, so context can tell the part
    of speech of a masked word but not which word of it: the report gives, beside the model,
    the most frequent word overall, the part-of-speech oracle (the most frequent training word of
    the masked word's true part of speech: what a perfect model of the grammar scores at [MASK]
    positions), the ceiling with the 10 % kept tokens copied, and how often the model's word has
    the right part of speech."""
    import keras

    import architectures
    from architectures.sequence import transformers as tf_models
    from pipelines.datasets import load_dataset
    from tasks.text import SOURCE_SPECIALS, adapt_vocabulary, tokenize

    keras.utils.set_random_seed(seed)
    count = options["train_sentences"] + options["test_sentences"]
    sentences = load_dataset("language", seed=seed, n_sentences=count).x  # unique: train and test are disjoint
    train_text, test_text = sentences[: options["train_sentences"]], sentences[options["train_sentences"]:]
    vocabulary = adapt_vocabulary(train_text, SOURCE_SPECIALS)
    bert = architectures.create_model("bert", config="tiny", vocabulary=vocabulary, vocabulary_size=len(vocabulary),
                                      **options["model_overrides"])
    pretrainer = tf_models.BertPretrainer(bert)
    pretrainer.compile_pretraining(keras.optimizers.Adam(options["learning_rate"]))
    # Every epoch's fresh masks and pairs, padded to the learned positions, shuffled together.
    epochs = [tf_models.pretraining_batch(bert, train_text, seed=seed + epoch, max_length=bert.max_length)
              for epoch in range(options["epochs"])]
    x = {key: np.concatenate([e[0][key] for e in epochs]) for key in epochs[0][0]}
    y = {key: np.concatenate([e[1][key] for e in epochs]) for key in epochs[0][1]}
    started = time.perf_counter()
    history = pretrainer.fit(x, y, batch_size=options["batch_size"], epochs=1, shuffle=True, verbose=0,
                             callbacks=[warmup_cosine(options["learning_rate"], options["warmup_fraction"])]).history
    seconds = time.perf_counter() - started

    x_test, y_test = tf_models.pretraining_batch(bert, test_text, seed=seed + 1000, max_length=bert.max_length)
    outputs = pretrainer.predict(x_test, batch_size=128, verbose=0)
    chosen = y_test["mlm"] != 0
    targets, predicted = y_test["mlm"][chosen], np.argmax(outputs["mlm"], -1)[chosen]
    kept = (x_test["token_ids"] == y_test["mlm"])[chosen]
    # Baselines from the training sentences' own word counts.
    train_ids = np.concatenate(tokenize(train_text, vocabulary))
    frequency = np.bincount(train_ids, minlength=len(vocabulary))
    frequency[:2] = 0
    part = part_of_speech_table(vocabulary)
    best_of_part = {p: int(np.argmax(np.where(part[: len(vocabulary)] == p, frequency, -1))) for p in set(part[targets].tolist())}
    oracle = np.asarray([best_of_part[p] for p in part[targets]])
    mlm_picture(part[targets], predicted == targets, oracle == targets, Path(out) / "bert" / "mlm_by_part_of_speech.png")
    return {
        "mlm_accuracy": float((predicted == targets).mean()),
        "mlm_accuracy_at_mask_tokens": float((predicted == targets)[x_test["token_ids"][chosen] == bert.mask_id].mean()),
        "mlm_accuracy_at_kept_tokens": float((predicted == targets)[kept].mean()),
        "mlm_most_frequent_baseline": float((targets == int(np.argmax(frequency))).mean()),
        "mlm_part_of_speech_oracle": float((oracle == targets).mean()),
        "mlm_ceiling_kept_copied": float(np.where(kept, True, oracle == targets).mean()),
        "mlm_part_of_speech_accuracy": float((part[predicted] == part[targets]).mean()),
        "nsp_accuracy": float((np.argmax(outputs["nsp"], -1) == y_test["nsp"]).mean()),
        "final_training_loss": float(history["loss"][-1]),
        "masked_positions": int(chosen.sum()), "parameters": bert.count_params(), "seconds": round(seconds, 1),
    }


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
            print(f"bert: hold-out MLM accuracy {metrics['mlm_accuracy']:.3f} ([MASK] inputs {metrics['mlm_accuracy_at_mask_tokens']:.3f}, "
                  f"kept inputs {metrics['mlm_accuracy_at_kept_tokens']:.3f}); "
                  f"most frequent word {metrics['mlm_most_frequent_baseline']:.3f}, part-of-speech oracle "
                  f"{metrics['mlm_part_of_speech_oracle']:.3f}, ceiling with kept tokens copied {metrics['mlm_ceiling_kept_copied']:.3f}; "
                  f"predicted word of the right part of speech {metrics['mlm_part_of_speech_accuracy']:.3f}; "
                  f"NSP accuracy {metrics['nsp_accuracy']:.3f}; {metrics['parameters']:,} params ({metrics['seconds']:.0f} s)", flush=True)
            report[name] = metrics
            continue
        if name == "vit":
            result, seconds, extra = vit_and_cnn(dict(ROWS[name]), args.out, args.seed)
        else:
            (result, seconds), extra = run_row(name, dict(ROWS[name]), args.out, args.seed), {}
        metrics = {k: v for k, v in result.metrics.items() if not isinstance(v, (dict, list))}
        metrics.update(extra)
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
            print(f"vit: hold-out accuracy {metrics['accuracy']:.3f} on shapes10 (train accuracy {metrics['train_accuracy_last_epoch']:.3f}); "
                  f"{metrics['parameters']:,} params ({seconds:.0f} s). CNN baseline {metrics['cnn_baseline']}: "
                  f"{metrics['cnn_accuracy']:.3f}, {metrics['cnn_parameters']:,} params ({metrics['cnn_seconds']:.0f} s)", flush=True)
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
