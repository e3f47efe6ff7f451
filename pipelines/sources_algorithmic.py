"""Algorithmic sequence tasks of the memory-augmented networks: copy, repeat copy, associative recall, priority sort, binary addition, stack/queue transduction, the adding problem (spec §8.2 H).

Bit-sequence tasks (task `bit_sequence`, tasks/algorithmic.py): x float32 [N, T, F], y float32
[N, T, B] with −1 where a step has no target. Lengths vary within a dataset (`min_length` ..
`max_length`); shorter sequences are padded at the end with zero inputs and −1 targets, so one
array holds them all. A length-generalisation test set is the same loader with a larger length
(`load_copy(min_length=40, max_length=40)`).

    copy              Graves et al. 2014 §4.1: L random B-bit vectors, a delimiter step (its own
                      channel), then the L vectors again as targets while the input is zero.
    repeat_copy       §4.2: the same, with the repeat count R on a channel of the delimiter step
                      (R / max_repeats); targets: the block R times, then an end bit (extra
                      target channel).
    associative_recall §4.3: K items of `item_steps` vectors, each preceded by an item marker; a
                      query marker, one item again, a query marker; target: the item after it.
    priority_sort     §4.5: L vectors with a priority in [−1, 1] on a channel; target: the
                      `num_outputs` highest-priority vectors in descending priority order.
    reverse           Grefenstette et al. 2015 / Zaremba & Sutskever 2015: like copy, the
                      targets are the input vectors in reverse order (a stack's task).
    binary_addition   Kaiser & Sutskever 2016: two `bits`-bit numbers, least significant bit
                      first, as two aligned channels (one more step for the carry); target: their
                      sum's bits, one per step. (The paper feeds the operands as one token
                      string "a+b"; aligned channels keep the same length-generalisation test:
                      train on 20 bits, test on 200.)

Other tasks:
    adding_problem    regression (Hochreiter & Schmidhuber 1997): x [N, T, 2] = (value U(0, 1),
                      marker); two steps are marked, one in each half; y [N, 1] = the sum of
                      the two marked values. Predicting 1 always gives MSE 1/6.
    memory_access     sequence_tagging (Kurach et al. 2016, NRAM "Access"): memory of M cells
                      holding integers in [0, M), one-hot [N, M, M]; cell 0 holds a pointer k in
                      [1, M); target: cell 0 must end holding mem[k] (other cells: −1, unscored).
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

NO_TARGET = -1.0


def _check_lengths(min_length, max_length):
    if not 1 <= int(min_length) <= int(max_length):
        raise ValueError(f"Lengths must satisfy 1 <= min_length <= max_length. Received: min_length={min_length}, max_length={max_length}")


def _lengths(rng, n, min_length, max_length):
    _check_lengths(min_length, max_length)
    return rng.integers(int(min_length), int(max_length) + 1, size=n)


def _bit_dataset(name, x, y, description):
    return Dataset(name, "bit_sequence", x.astype(np.float32), y.astype(np.float32), None, description)


def _copy_like(name, seed, n, bits, min_length, max_length, reverse):
    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, n, min_length, max_length)
    steps = 2 * int(max_length) + 1
    x = np.zeros((n, steps, bits + 1), np.float32)
    y = np.full((n, steps, bits), NO_TARGET, np.float32)
    for i, length in enumerate(lengths):
        pattern = rng.integers(0, 2, size=(length, bits)).astype(np.float32)
        x[i, :length, :bits] = pattern
        x[i, length, bits] = 1.0  # delimiter
        y[i, length + 1 : 2 * length + 1] = pattern[::-1] if reverse else pattern
    return x, y


@register_dataset("copy", "bit_sequence", "NTM copy: L random bit vectors, a delimiter, then the same L vectors as targets")
def load_copy(seed=0, n=1000, bits=8, min_length=1, max_length=20):
    x, y = _copy_like("copy", seed, n, int(bits), min_length, max_length, reverse=False)
    return _bit_dataset("copy", x, y, f"copy of {min_length}..{max_length} {bits}-bit vectors")


@register_dataset("reverse", "bit_sequence", "reversal: L random bit vectors, a delimiter, then the L vectors in reverse order")
def load_reverse(seed=0, n=1000, bits=8, min_length=1, max_length=20):
    x, y = _copy_like("reverse", seed, n, int(bits), min_length, max_length, reverse=True)
    return _bit_dataset("reverse", x, y, f"reversal of {min_length}..{max_length} {bits}-bit vectors")


@register_dataset("repeat_copy", "bit_sequence", "NTM repeat copy: a block and a repeat count; targets the block R times and an end bit")
def load_repeat_copy(seed=0, n=1000, bits=8, min_length=1, max_length=10, max_repeats=10):
    rng = np.random.default_rng(seed)
    lengths = _lengths(rng, n, min_length, max_length)
    repeats = rng.integers(1, int(max_repeats) + 1, size=n)
    steps = int(max_length) + 1 + int(max_length) * int(max_repeats) + 1
    x = np.zeros((n, steps, bits + 2), np.float32)
    y = np.full((n, steps, bits + 1), NO_TARGET, np.float32)
    for i, (length, repeat) in enumerate(zip(lengths, repeats)):
        pattern = rng.integers(0, 2, size=(length, bits)).astype(np.float32)
        x[i, :length, :bits] = pattern
        x[i, length, bits] = 1.0
        x[i, length, bits + 1] = repeat / float(max_repeats)
        start = length + 1
        block = np.concatenate([np.tile(pattern, (repeat, 1)), np.zeros((1, bits), np.float32)])
        end = np.zeros((len(block), 1), np.float32)
        end[-1] = 1.0
        y[i, start : start + len(block)] = np.concatenate([block, end], axis=1)
    return _bit_dataset("repeat_copy", x, y, f"repeat copy of {min_length}..{max_length} vectors, 1..{max_repeats} times")


@register_dataset("associative_recall", "bit_sequence", "NTM associative recall: items, a query item; target the item after it")
def load_associative_recall(seed=0, n=1000, bits=6, item_steps=3, min_items=2, max_items=6):
    rng = np.random.default_rng(seed)
    counts = _lengths(rng, n, min_items, max_items)
    span = int(item_steps) + 1
    steps = int(max_items) * span + span + 1 + int(item_steps)
    x = np.zeros((n, steps, bits + 2), np.float32)
    y = np.full((n, steps, bits), NO_TARGET, np.float32)
    for i, count in enumerate(counts):
        items = rng.integers(0, 2, size=(count, item_steps, bits)).astype(np.float32)
        for k in range(count):
            x[i, k * span, bits] = 1.0  # item marker
            x[i, k * span + 1 : (k + 1) * span, :bits] = items[k]
        query = int(rng.integers(0, count - 1))
        at = count * span
        x[i, at, bits + 1] = 1.0  # query marker
        x[i, at + 1 : at + span, :bits] = items[query]
        x[i, at + span, bits + 1] = 1.0
        y[i, at + span + 1 : at + span + 1 + item_steps] = items[query + 1]
    return _bit_dataset("associative_recall", x, y, f"recall among {min_items}..{max_items} items of {item_steps} steps")


@register_dataset("priority_sort", "bit_sequence", "NTM priority sort: vectors with priorities; targets the top ones by priority")
def load_priority_sort(seed=0, n=1000, bits=8, length=20, num_outputs=16):
    if not 1 <= int(num_outputs) <= int(length):
        raise ValueError(f"num_outputs must be in [1, length]. Received: num_outputs={num_outputs}, length={length}")
    rng = np.random.default_rng(seed)
    steps = int(length) + 1 + int(num_outputs)
    x = np.zeros((n, steps, bits + 2), np.float32)
    y = np.full((n, steps, bits), NO_TARGET, np.float32)
    for i in range(n):
        pattern = rng.integers(0, 2, size=(length, bits)).astype(np.float32)
        priority = rng.uniform(-1, 1, size=length).astype(np.float32)
        x[i, :length, :bits] = pattern
        x[i, :length, bits] = priority
        x[i, length, bits + 1] = 1.0
        order = np.argsort(-priority)[:num_outputs]
        y[i, length + 1 :] = pattern[order]
    return _bit_dataset("priority_sort", x, y, f"sort {length} vectors by priority, output the top {num_outputs}")


@register_dataset("binary_addition", "bit_sequence", "Neural GPU binary addition: two numbers LSB first on two channels; target the sum's bits")
def load_binary_addition(seed=0, n=1000, bits=20):
    if int(bits) < 1:
        raise ValueError(f"bits must be at least 1. Received: bits={bits}")
    rng = np.random.default_rng(seed)
    steps = int(bits) + 1
    a = rng.integers(0, 2, size=(n, steps)).astype(np.int64)
    b = rng.integers(0, 2, size=(n, steps)).astype(np.int64)
    a[:, -1] = b[:, -1] = 0  # the last step holds only the carry
    # Vary the operands' lengths: leading (most significant) zeros from a random position on.
    for row, cut in zip(range(n), rng.integers(1, steps, size=n)):
        a[row, cut:] = 0
    total = np.zeros((n, steps), np.float32)
    carry = np.zeros(n, np.int64)
    for t in range(steps):
        s = a[:, t] + b[:, t] + carry
        total[:, t], carry = s % 2, s // 2
    x = np.stack([a, b], axis=-1).astype(np.float32)
    return _bit_dataset("binary_addition", x, total[..., None], f"sum of two {bits}-bit numbers, LSB first")


@register_dataset("adding_problem", "regression", "Hochreiter's adding problem: (value, marker) steps; y = sum of the two marked values")
def load_adding_problem(seed=0, n=2000, steps=20):
    if int(steps) < 2:
        raise ValueError(f"steps must be at least 2. Received: steps={steps}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, size=(n, steps)).astype(np.float32)
    markers = np.zeros((n, steps), np.float32)
    half = steps // 2
    first, second = rng.integers(0, half, size=n), rng.integers(half, steps, size=n)
    markers[np.arange(n), first] = markers[np.arange(n), second] = 1.0
    y = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)
    return Dataset("adding_problem", "regression", np.stack([values, markers], axis=-1), y, None, f"adding problem, T = {steps}")


@register_dataset("memory_access", "sequence_tagging", "NRAM access: cell 0 holds a pointer k; target: cell 0 ends holding mem[k]")
def load_memory_access(seed=0, n=1000, memory_size=8):
    size = int(memory_size)
    if size < 3:
        raise ValueError(f"memory_size must be at least 3. Received: memory_size={memory_size}")
    rng = np.random.default_rng(seed)
    memory = rng.integers(0, size, size=(n, size))
    memory[:, 0] = rng.integers(1, size, size=n)
    y = np.full((n, size), -1, np.int32)
    y[:, 0] = memory[np.arange(n), memory[:, 0]]
    x = np.eye(size, dtype=np.float32)[memory]
    return Dataset("memory_access", "sequence_tagging", x, y, [str(v) for v in range(size)], f"NRAM access on {size} cells")
