"""A pipeline script using only deepzoo's public Python API: data → train → evaluate → export → verify.

    python examples/digits_end_to_end.py [--epochs 30] [--out RUN_DIR]
"""

import argparse

import numpy as np

import architectures
from export import export_model
from pipelines.datasets import load_dataset
from pipelines.train import Run, evaluate_run, train


def main(epochs=30, out=None, max_examples=None):
    # 1. Data: scikit-learn's digits, up-sampled to 32×32, raw pixels 0..255.
    digits = load_dataset("digits", image_size=32)
    print(f"data: {len(digits)} images {digits.input_shape}, classes {digits.class_names}")

    # 2. Model: the registry's LeNet-5 (train() sets input shape, classes and train-split statistics).
    print(f"model: {architectures.get_spec('lenet5').paper}")

    # 3. Train with augmentation; one run directory holds model, config, split, history and plots.
    result = train(
        "lenet5", "digits", run_dir=out, epochs=epochs, batch_size=64, learning_rate=2e-3,
        augment="digits", early_stopping_patience=8, max_examples=max_examples,
    )
    print(f"hold-out accuracy {result.metrics['accuracy']:.4f}, macro F1 {result.metrics['macro_f1']:.4f}")

    # 4. Evaluate again from disk, as a later script would.
    assert np.isclose(evaluate_run(out)["accuracy"], result.metrics["accuracy"])

    # 5. Export to every format and verify each in its own runtime on held-out inputs.
    run = Run.load(out)
    x_test, _ = run.arrays("test")
    exports = export_model(run.model_path, f"{out}/export", formats="all", sample_inputs=x_test[:64])
    for artifact in exports:
        print(f"{artifact.format:<10} verified={artifact.verified} max|diff|={artifact.max_abs_diff}")
    return result, exports


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=None, help="run directory (default: found under runs/ by what defines the run)")
    parser.add_argument("--max-examples", type=int, default=None)
    args = parser.parse_args()
    main(args.epochs, args.out, args.max_examples)
