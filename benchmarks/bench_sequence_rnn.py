"""Quality evidence for family H's recurrent and 1-D convolutional rows: each tiny config trained on
its default embedded dataset with the training pipeline (`pipelines.train.train`, hold-out test
split, validation split, early stopping), on this machine's CPU, one model at a time.

    nice -n 10 python benchmarks/bench_sequence_rnn.py [--models lstm,gru] [--epochs N] [--out runs/bench-sequence-rnn]

Prints, per model, the dataset, the hold-out objective (accuracy, or token accuracy for taggers),
macro-F1, the epochs run and the seconds; writes report.json into --out. Each run is capped by
--epochs (and early stopping), which keeps one model within about three minutes on 2 cores.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = (
    "elman_rnn", "lstm", "lstm_peephole", "lstm_coupled", "gru", "stacked_rnn", "bidirectional_rnn",
    "lstm_classifier", "sequence_tagger", "conv1d_sequence", "ecg_1d_cnn",
)  # fmt: skip
# Shared settings: Adam 1e-2 with gradient-norm clipping 5 (spec §4.7) for the recurrent rows.
RECIPE = dict(learning_rate=1e-2, clipnorm=5.0, batch_size=64, epochs=25, early_stopping_patience=4)
PER_MODEL = {"ecg_1d_cnn": dict(learning_rate=3e-3, clipnorm=None, batch_size=32, epochs=20)}
# Long memory (spec: the gated cells hold information where the Elman network's gradient vanishes):
# the echo of the symbol 18 steps before the end of 24.
LONG_ECHO = dict(steps=24, lag=18, n=4000)
LONG_ECHO_RECIPE = dict(epochs=40, early_stopping_patience=None)  # plateaus precede the breakthrough
LONG_ECHO_MODELS = ("elman_rnn", "lstm", "gru")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names")
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epoch cap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-echo", default=",".join(LONG_ECHO_MODELS), help="models also run on the lag-18 echo ('' to skip)")
    parser.add_argument("--out", default="runs/bench-sequence-rnn")
    args = parser.parse_args(argv)

    import architectures
    from common.io import write_json_atomic
    from pipelines.train import train
    from tasks import get_task

    out = Path(args.out)
    report = {}
    runs = [(name, None) for name in args.models.split(",") if name]
    runs += [(name, LONG_ECHO) for name in args.long_echo.split(",") if name]
    for name, data_options in runs:
        spec = architectures.get_spec(name)
        recipe = {**RECIPE, **PER_MODEL.get(name, {}), **(LONG_ECHO_RECIPE if data_options else {})}
        if args.epochs:
            recipe["epochs"] = args.epochs
        started = time.perf_counter()
        result = train(
            name, data=spec.default_dataset, data_options=dict(data_options or {}), model_config="tiny",
            runs_root=str(out / "runs"), new_run=True, progress=None, seed=args.seed, **recipe,
        )
        seconds = time.perf_counter() - started
        key = get_task(spec.task).objective[0]
        label = spec.default_dataset + ("" if data_options is None else "(" + ",".join(f"{k}={v}" for k, v in data_options.items()) + ")")
        row = {
            "dataset": label,
            "objective": key,
            "value": result.metrics[key],
            "macro_f1": result.metrics.get("macro_f1"),
            "epochs": len(result.history.get("loss", [])),
            "params": int(result.model.count_params()),
            "seconds": round(seconds, 1),
        }
        report[name if data_options is None else f"{name} {label}"] = row
        print(f"{name:<18} {label:<30} {key} {row['value']:.3f}  macro-F1 {row['macro_f1']:.3f}  "
              f"{row['epochs']} epochs  {row['params']:,} params  {row['seconds']:.0f} s", flush=True)
        write_json_atomic(out / "report.json", report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
