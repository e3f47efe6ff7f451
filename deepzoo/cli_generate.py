"""`deepzoo generate`: continue a prompt with a trained language model run (tasks/language.py).

    deepzoo generate runs/rnn_lm-language --prompt "the red" --temperature 0.8 --top-k 10 --seed 0

Sampling feeds one token at a time back into the model until [end] or --max-tokens: temperature
scaling, then the --top-k most likely tokens (--top-k 1 is greedy). Out-of-vocabulary prompt words
are read as [UNK] (and named on stderr).
"""

import sys

from deepzoo.cli_options import Float, Int, Text, add_option


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser("generate", help="continue a prompt with a trained language-model run (sampling)")
    # Not argparse-required, so that a malformed value of another option is what the error names.
    add_option(p, "--prompt", Text("a non-empty prompt"), help="the text to continue (required)")
    add_option(p, "--max-tokens", Int(1, 1000), default=20, help="tokens to generate at most (stops at [end])")
    add_option(p, "--temperature", Float(0.0, open_low=True), default=1.0, help="softmax temperature (lower: more conservative)")
    add_option(p, "--top-k", Int(1), help="sample among the k most likely tokens only (1: greedy; default: all)")
    add_option(p, "--seed", Int(0), help="random seed of the sampling (default: unseeded)")
    p.add_argument("run", help="run directory of a language model (from deepzoo train), or its model.keras")
    p.set_defaults(handler=_generate)


def _generate(args):
    import json
    from pathlib import Path

    from deepzoo.cli import _tensorflow

    if args.prompt is None:
        raise ValueError("--prompt is required: the text to continue. Received: no --prompt")
    path = Path(args.run)
    model_path = path / "model.keras" if path.is_dir() else path
    if not model_path.is_file() or model_path.suffix != ".keras":
        raise ValueError(f"RUN must be a finished run directory (with model.keras) or a .keras file. Received: {args.run}")
    config = path / "config.json" if path.is_dir() else None
    if config is not None and config.is_file():
        task = json.loads(config.read_text()).get("task")
        if task != "language_model":
            raise ValueError(f"RUN is not a language model: its task is {task!r}. Expected a run of task 'language_model' "
                             "(char_rnn_lm, rnn_lm, nnlm_bengio).")
    _tensorflow()
    import keras

    import architectures  # noqa: F401 (registers the model classes for loading)
    from tasks.language import generate

    model = keras.saving.load_model(str(model_path))
    if not (hasattr(model, "vocabulary") and hasattr(model, "split")) or not hasattr(model, "outputs") or len(model.outputs[0].shape) != 3:
        raise ValueError(f"RUN is not a language model (token ids → next-token logits). Received: {type(model).__name__} from {args.run}")
    result = generate(model, args.prompt, max_tokens=args.max_tokens, temperature=args.temperature, top_k=args.top_k, seed=args.seed)
    if result["unknown"]:
        print(f"deepzoo generate: note: out-of-vocabulary prompt words read as [UNK]: {' '.join(result['unknown'])}", file=sys.stderr)
    separator = "" if model.split == "character" else " "
    print(separator.join([*result["prompt_tokens"], *result["tokens"]]))
    return 0
