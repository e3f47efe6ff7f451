"""Quality evidence for the translation task: RNNsearch (seq2seq_bahdanau, tiny config) on the
embedded "translation" corpus, trained on this machine's CPU.

    nice -n 10 python benchmarks/bench_text.py [--epochs N] [--beam-size B] [--out runs/bench-text]

The steps are the training pipeline's, in its order, through the task's hooks: load the dataset,
hold out a test split (and a validation split from the rest), adapt the vocabularies on the
training split (`model_overrides`), build the tiny config, compile, `fit` on the task's tf.data
pipeline (`fit_inputs` / `fit_targets` → `make_dataset`) with early stopping on the validation
loss, then the hold-out report (`evaluate`: sacreBLEU of greedy decoding and of beam search) and
the attention-alignment plot (`plots`). Prints BLEU and seconds, writes report.json and
alignments.png into --out.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODEL = "seq2seq_bahdanau"
RECIPE = dict(learning_rate=3e-3, clipnorm=1.0, batch_size=64, epochs=15, early_stopping_patience=3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--n-pairs", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-text")
    args = parser.parse_args(argv)

    import keras

    import architectures
    from architectures.registry import constructor_arguments
    from common.io import write_json_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from tasks import get_task

    keras.utils.set_random_seed(args.seed)
    spec = architectures.get_spec(MODEL)
    task = get_task(spec.task)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    dataset = load_dataset(spec.default_dataset, seed=args.seed, n_pairs=args.n_pairs)
    rest, test = holdout_split(len(dataset), 0.2, args.seed)
    inner_train, inner_val = holdout_split(len(rest), 0.125, args.seed + 1)
    train, val = rest[inner_train], rest[inner_val]
    x_train, y_train = dataset.x[train], dataset.y[train]
    x_val, y_val = dataset.x[val], dataset.y[val]
    x_test, y_test = dataset.x[test], dataset.y[test]

    overrides = task.model_overrides(dataset, x_train, constructor_arguments(spec), y_train=y_train)
    model = architectures.create_model(MODEL, config="tiny", **overrides)
    task.compile(model, keras.optimizers.Adam(RECIPE["learning_rate"], clipnorm=RECIPE["clipnorm"]))
    train_ds = task.make_dataset(
        task.fit_inputs(model, x_train, y_train), task.fit_targets(model, y_train), RECIPE["batch_size"],
        shuffle=True, seed=args.seed,
    )
    val_ds = task.make_dataset(task.fit_inputs(model, x_val, y_val), task.fit_targets(model, y_val), RECIPE["batch_size"])
    print(
        f"{MODEL} tiny: {model.count_params():,} parameters; vocabularies {len(model.source_vocabulary)} / "
        f"{len(model.target_vocabulary)}; {len(train)} train, {len(val)} validation, {len(test)} test pairs",
        flush=True,
    )

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
            print(f"epoch {epoch + 1}: {shown} ({time.perf_counter() - started:.0f}s)", flush=True)

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=RECIPE["early_stopping_patience"], restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, callbacks=[stop, Progress()], verbose=0, shuffle=False)
    train_seconds = time.perf_counter() - started

    task.evaluation_beam_size = args.beam_size
    started = time.perf_counter()
    report = task.evaluate(model, x_test, y_test)
    eval_seconds = time.perf_counter() - started
    task.plots(out, model, x_test, y_test, report)
    report.update(
        train_seconds=round(train_seconds, 1),
        evaluate_seconds=round(eval_seconds, 1),
        epochs_run=len(history.history["loss"]),
        parameters=model.count_params(),
    )
    write_json_atomic(out / "report.json", report)
    examples = task.predict(model, x_test[:3])["translation"]
    for source, reference, hypothesis in zip(x_test[:3], y_test[:3], examples):
        print(f"  {source}\n    reference: {reference}\n    greedy:    {hypothesis}")
    beam_key = f"bleu_beam{args.beam_size}"
    print(
        f"hold-out sacreBLEU greedy {report['bleu']:.2f}"
        + (f", beam {args.beam_size} {report[beam_key]:.2f}" if beam_key in report else "")
        + f"; chrF {report['chrf']:.2f}; exact match {report['exact_match']:.3f} on {report['num_examples']} pairs"
    )
    print(f"train {train_seconds:.1f} s ({report['epochs_run']} epochs), evaluate {eval_seconds:.1f} s; wrote {out / 'alignments.png'}")
    return report


if __name__ == "__main__":
    main()
