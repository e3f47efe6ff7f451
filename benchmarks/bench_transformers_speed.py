"""Speed of our `bert` and `gpt` beside KerasHub's at the same layer sizes, measured in one run.

    nice -n 10 python benchmarks/bench_transformers_speed.py                 # small sizes (CPU)
    python benchmarks/bench_transformers_speed.py --size base                # GPT-1 / BERT-base sizes (GPU)

Measured (each after a compile-and-warm-up step, XLA on both sides):
    train     training steps per second of a masked-LM-style objective (Dense over the vocabulary on
              every position, sparse cross-entropy) on our BertEncoder vs keras_hub BertBackbone;
              next-token loss of our GPT vs keras_hub GPT2CausalLM (GPT-2 is pre-LN, GPT-1 post-LN:
              otherwise the same matrices). Ratio = ours / KerasHub (goal ≥ 1.0).
    generate  greedy tokens per second: our GPT with the key/value cache, without it, and
              keras_hub GPT2CausalLM.generate (greedy sampler, its own cache) on the same prompt
              length and number of new tokens. Ratios = ours / the others (goal ≥ 1.0).
keras-hub is a benchmark dependency only. Numbers land in --out/speed.json.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZES = {
    "small": dict(vocabulary_size=2000, num_layers=2, d_model=128, num_heads=4, d_ff=512, sequence=64, batch=16, prompt=8, new_tokens=32),
    "base": dict(vocabulary_size=30_000, num_layers=12, d_model=768, num_heads=12, d_ff=3072, sequence=128, batch=32, prompt=16, new_tokens=64),
}


def _steps_per_second(model, x, y, steps):
    model.fit(x, y, batch_size=len(y), epochs=1, verbose=0)  # compile + warm up
    started = time.perf_counter()
    model.fit({k: np.concatenate([v] * steps) for k, v in x.items()} if isinstance(x, dict) else np.concatenate([x] * steps),
              np.concatenate([y] * steps), batch_size=len(y), epochs=1, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - started)


def train_speed(size, steps):
    import keras
    import keras_hub

    import architectures

    s = SIZES[size]
    rng = np.random.default_rng(0)
    ids = rng.integers(4, s["vocabulary_size"] - 3, size=(s["batch"], s["sequence"])).astype(np.int32)
    targets = rng.integers(4, s["vocabulary_size"] - 3, size=(s["batch"], s["sequence"])).astype(np.int32)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    results = {}

    # BERT: encoder + the same Dense(V) head on every position.
    ours_bert = architectures.create_model("bert", vocabulary_size=s["vocabulary_size"] - 3, max_length=512, num_layers=s["num_layers"],
                                           d_model=s["d_model"], num_heads=s["num_heads"], d_ff=s["d_ff"], dropout=0.0)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    sequence, _ = ours_bert.get_layer("bert_encoder")(token_ids, segment_ids)
    ours = keras.Model({"token_ids": token_ids, "segment_ids": segment_ids}, keras.layers.Dense(s["vocabulary_size"])(sequence))
    ours.compile(keras.optimizers.Adam(1e-4), loss, jit_compile=True)
    x_ours = {"token_ids": ids, "segment_ids": np.zeros_like(ids)}
    results["bert_ours_steps_per_s"] = _steps_per_second(ours, x_ours, targets, steps)

    hub_backbone = keras_hub.models.BertBackbone(vocabulary_size=s["vocabulary_size"], num_layers=s["num_layers"], num_heads=s["num_heads"],
                                                 hidden_dim=s["d_model"], intermediate_dim=s["d_ff"], dropout=0.0, max_sequence_length=512)
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ("token_ids", "segment_ids", "padding_mask")}
    hub = keras.Model(inputs, keras.layers.Dense(s["vocabulary_size"])(hub_backbone(inputs)["sequence_output"]))
    hub.compile(keras.optimizers.Adam(1e-4), loss, jit_compile=True)
    x_hub = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
    results["bert_keras_hub_steps_per_s"] = _steps_per_second(hub, x_hub, targets, steps)
    results["bert_train_ratio"] = results["bert_ours_steps_per_s"] / results["bert_keras_hub_steps_per_s"]
    print(f"bert train steps/s: ours {results['bert_ours_steps_per_s']:.2f} vs keras_hub {results['bert_keras_hub_steps_per_s']:.2f} "
          f"(ratio {results['bert_train_ratio']:.2f})", flush=True)

    # GPT: next-token logits through the tied embedding on both sides.
    gpt = architectures.create_model("gpt", vocabulary_size=s["vocabulary_size"], max_length=512, num_layers=s["num_layers"],
                                     d_model=s["d_model"], num_heads=s["num_heads"], d_ff=s["d_ff"], dropout=0.0)
    gpt.compile(keras.optimizers.Adam(1e-4), loss, jit_compile=True)
    results["gpt_ours_steps_per_s"] = _steps_per_second(gpt, ids, targets, steps)
    hub_gpt = keras_hub.models.GPT2CausalLM(backbone=_hub_gpt2(s), preprocessor=None)
    hub_gpt.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=True)
    results["gpt_keras_hub_steps_per_s"] = _steps_per_second(hub_gpt, {"token_ids": ids, "padding_mask": np.ones_like(ids)}, targets, steps)
    results["gpt_train_ratio"] = results["gpt_ours_steps_per_s"] / results["gpt_keras_hub_steps_per_s"]
    return results, gpt, hub_gpt


def _hub_gpt2(s):
    import keras_hub

    return keras_hub.models.GPT2Backbone(vocabulary_size=s["vocabulary_size"], num_layers=s["num_layers"], num_heads=s["num_heads"],
                                         hidden_dim=s["d_model"], intermediate_dim=s["d_ff"], dropout=0.0, max_sequence_length=512)


def generation_speed(size, gpt, hub_gpt, repeats=3):
    from architectures.sequence.transformers import generate_ids

    s = SIZES[size]
    rng = np.random.default_rng(1)
    prompt = rng.integers(4, s["vocabulary_size"] - 3, size=(s["batch"], s["prompt"])).astype(np.int32)
    new_tokens = s["new_tokens"]
    results = {}

    def timed(run):
        run()  # compile
        started = time.perf_counter()
        for _ in range(repeats):
            out = run()
        return s["batch"] * new_tokens * repeats / (time.perf_counter() - started), out

    results["gpt_cache_tokens_per_s"], cached = timed(lambda: generate_ids(gpt, prompt, new_tokens, use_cache=True))
    results["gpt_no_cache_tokens_per_s"], plain = timed(lambda: generate_ids(gpt, prompt, new_tokens, use_cache=False))
    results["cache_and_no_cache_agree"] = bool(np.array_equal(cached, plain))

    hub_gpt.compile(sampler="greedy")
    total = s["prompt"] + new_tokens
    token_ids = np.concatenate([prompt, np.zeros((s["batch"], new_tokens), np.int32)], axis=1)
    padding_mask = np.arange(total)[None, :].repeat(s["batch"], 0) < s["prompt"]
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    results["keras_hub_generate_tokens_per_s"], _ = timed(lambda: hub_gpt.generate(inputs, stop_token_ids=None))
    results["cache_vs_no_cache_ratio"] = results["gpt_cache_tokens_per_s"] / results["gpt_no_cache_tokens_per_s"]
    results["cache_vs_keras_hub_ratio"] = results["gpt_cache_tokens_per_s"] / results["keras_hub_generate_tokens_per_s"]
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="runs/bench-transformers")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from common.io import write_json_atomic

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    report = {"size": args.size, **SIZES[args.size], "device": device, "load_average": os.getloadavg()[0]}
    train, gpt, hub_gpt = train_speed(args.size, args.steps)
    report.update(train)
    print(f"train steps/s ({device}, {args.size}): bert ours {train['bert_ours_steps_per_s']:.2f} vs keras_hub "
          f"{train['bert_keras_hub_steps_per_s']:.2f} (ratio {train['bert_train_ratio']:.2f}); gpt ours "
          f"{train['gpt_ours_steps_per_s']:.2f} vs keras_hub {train['gpt_keras_hub_steps_per_s']:.2f} (ratio {train['gpt_train_ratio']:.2f})",
          flush=True)
    generation = generation_speed(args.size, gpt, hub_gpt)
    report.update(generation)
    print(f"generate tokens/s: ours with cache {generation['gpt_cache_tokens_per_s']:.0f}, without {generation['gpt_no_cache_tokens_per_s']:.0f} "
          f"(ratio {generation['cache_vs_no_cache_ratio']:.2f}, same tokens: {generation['cache_and_no_cache_agree']}), keras_hub "
          f"{generation['keras_hub_generate_tokens_per_s']:.0f} (ratio {generation['cache_vs_keras_hub_ratio']:.2f})", flush=True)
    path = Path(args.out) / f"speed_{args.size}_{device.lower()}.json"
    write_json_atomic(path, report)
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
