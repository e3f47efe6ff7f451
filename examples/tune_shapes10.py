"""Tune a small CNN on shapes-10 with 5-fold stratified cross-validation, then test the best once.

    python examples/tune_shapes10.py                      # the README's worked example
    python examples/tune_shapes10.py --max-trials 2 --epochs 1 --max-examples 300   # a quick look

Same as `deepzoo tune simple_cnn --data shapes10 --cv stratified:5 --tuner random --max-trials 8
--epochs 10`. Every trial is scored as the mean validation accuracy over five folds of the 1,600
training images; the 400 test images are held out until the best configuration, retrained on all
1,600, is evaluated once. Run it again after an interruption and it resumes.
"""

import argparse

from tuning import tune


def main(tuner="random", cv="stratified:5", max_trials=8, epochs=10, max_examples=None, out=None, space=None, verbose=1):
    result = tune(
        "simple_cnn",
        "shapes10",
        tuner=tuner,
        cv=cv,
        max_trials=max_trials,
        epochs=epochs,
        max_examples=max_examples,
        space=space,
        out_dir=out,
        verbose=verbose,
        progress=print if verbose else None,
    )
    print(result.summary_path.read_text())
    print(f"best trial {result.best_trial_id}: {result.objective} {result.best_score:.4f} ± {result.best_std:.4f} across folds")
    print(f"held-out test accuracy of the retrained best: {result.test_metrics['accuracy']:.4f}  (run directory: {result.run_dir})")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuner", default="random", choices=("random", "grid", "bayesian", "hyperband"))
    parser.add_argument("--cv", default="stratified:5")
    parser.add_argument("--max-trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-examples", type=int)
    parser.add_argument("--out")
    args = parser.parse_args()
    main(args.tuner, args.cv, args.max_trials, args.epochs, args.max_examples, args.out)
