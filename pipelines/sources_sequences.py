"""Embedded sequence sources of family H (spec §8.2 H), deterministic given a seed.

    delayed_echo       classification: one-hot symbol sequences [N, T, K]; the class is the symbol
                       seen `lag` steps before the end (memory over `lag` steps; Elman's echo).
    delayed_sum_steps  sequence_tagging: the same inputs; the tag at step t is (s_t + s_{t−lag}) mod K,
                       a causal many-to-many target (stacked RNNs).
    lookahead_steps    sequence_tagging: the tag at step t is s_{t+lag} (0 past the end): it lies in
                       the future, so a causal network is at chance and a bidirectional one is not.
                       (A sum of both neighbours mod K would be an XOR of the two directions, which a
                       one-layer BiRNN's linear per-step readout cannot separate: measured 0.36.)
    sentiment          text_classification: templated one- or two-clause reviews with intensifiers,
                       negation ("not good" is negative) and contrast ("... but the ending was dull":
                       the clause after "but" decides), so word order matters. Classes
                       negative/positive.
    ner                sequence_tagging: templated sentences with person names and places from name
                       lists; one tag per word (O, PER, LOC). Some words are both first names and
                       cities (jordan, paris, florence, ...), so the tag depends on the context.
    ecg_rhythm         classification: single-lead synthetic ECG at 200 Hz, beats made of P, Q, R, S
                       and T Gaussian waves, in PhysioNet/CinC 2017's classes: Normal (regular RR,
                       P waves), AF (irregular RR, no P waves, fibrillatory baseline), Other
                       (ventricular premature beats: early, wide, P-less, inverted T), Noisy (the
                       rhythm buried in broadband noise, spikes and baseline wander).

Text sources give strings (x [N]); tokenisation belongs to the task (tasks/sequence.py,
TextVectorization adapted on the training split). Tag targets are int32 [N, T] padded with -1.
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

# --- synthetic symbol sequences -------------------------------------------------------------------


def _symbols(n, steps, symbols, rng):
    sequence = rng.integers(0, symbols, size=(n, steps))
    return sequence, np.eye(symbols, dtype="float32")[sequence]


@register_dataset("delayed_echo", "classification", "one-hot symbol sequences; class = the symbol `lag` steps before the end")
def load_delayed_echo(seed=0, n=2000, steps=12, symbols=4, lag=5):
    if not 0 <= lag < steps:
        raise ValueError(f"lag must be in [0, steps). Received: lag={lag}, steps={steps}")
    sequence, x = _symbols(n, steps, symbols, np.random.default_rng(seed))
    return Dataset(
        "delayed_echo", "classification", x, sequence[:, steps - 1 - lag].astype("int32"),
        [f"symbol_{k}" for k in range(symbols)], f"echo of the symbol {lag} steps before the end of {steps}",
    )


@register_dataset("delayed_sum_steps", "sequence_tagging", "one-hot symbols; tag_t = (s_t + s_{t−lag}) mod K (causal)")
def load_delayed_sum_steps(seed=0, n=2000, steps=12, symbols=4, lag=2):
    sequence, x = _symbols(n, steps, symbols, np.random.default_rng(seed))
    earlier = np.concatenate([np.zeros((n, lag), sequence.dtype), sequence[:, : steps - lag]], axis=1)
    y = ((sequence + earlier) % symbols).astype("int32")
    return Dataset("delayed_sum_steps", "sequence_tagging", x, y, [f"sum_{k}" for k in range(symbols)], f"causal sum with lag {lag}")


@register_dataset("lookahead_steps", "sequence_tagging", "one-hot symbols; tag_t = s_{t+lag} (needs the future)")
def load_lookahead_steps(seed=0, n=2000, steps=12, symbols=4, lag=2):
    sequence, x = _symbols(n, steps, symbols, np.random.default_rng(seed))
    following = np.concatenate([sequence[:, lag:], np.zeros((n, lag), sequence.dtype)], axis=1)
    return Dataset("lookahead_steps", "sequence_tagging", x, following.astype("int32"), [f"symbol_{k}" for k in range(symbols)], f"the symbol {lag} steps ahead")


# --- sentiment ------------------------------------------------------------------------------------

SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the story", "the cast", "the script", "the dialogue")
VERBS = ("was", "is", "felt", "seemed", "looked")
INTENSIFIERS = ("", "", "really", "very", "quite", "so", "truly")
POSITIVE = ("good", "great", "wonderful", "brilliant", "enjoyable", "funny", "moving", "clever", "beautiful", "charming")
NEGATIVE = ("bad", "terrible", "boring", "awful", "dull", "weak", "predictable", "clumsy", "ugly", "tedious")
OPENERS = ("", "", "", "honestly", "i think", "overall", "in my opinion")
P_NEGATION = 0.3
P_CONTRAST = 0.35


def _clause(rng):
    """(words, polarity) of 'SUBJECT VERB [not] [INTENSIFIER] ADJECTIVE'."""
    polarity = int(rng.integers(0, 2))
    adjective = str(rng.choice(POSITIVE if polarity else NEGATIVE))
    negated = rng.random() < P_NEGATION
    words = [str(rng.choice(SUBJECTS)), str(rng.choice(VERBS))]
    if negated:
        words.append("not")
    words += [str(rng.choice(INTENSIFIERS)), adjective]
    return " ".join(w for w in words if w), polarity ^ int(negated)


def sentiment_sentence(rng):
    opener = str(rng.choice(OPENERS))
    first, polarity = _clause(rng)
    text = " ".join(w for w in (opener, first) if w)
    if rng.random() < P_CONTRAST:
        second, polarity = _clause(rng)  # "... but ...": the second clause decides
        text = f"{text} but {second}"
    return text, polarity


@register_dataset("sentiment", "text_classification", "templated reviews with negation and 'but' contrast; negative/positive")
def load_sentiment(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    seen, texts, labels = set(), [], []
    attempts = 0
    while len(texts) < n:
        attempts += 1
        if attempts > 50 * n:
            raise ValueError(f"The templates could not make {n} unique sentences. Received: n={n}")
        text, label = sentiment_sentence(rng)
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)
    return Dataset("sentiment", "text_classification", np.array(texts), np.array(labels, "int32"), ["negative", "positive"], "templated reviews")


# --- named entities -------------------------------------------------------------------------------

TAGS = ("O", "PER", "LOC")
FIRST_NAMES = ("harry", "hermione", "ron", "anna", "marco", "luca", "sofia", "peter", "maria", "david", "elena", "omar")
LAST_NAMES = ("potter", "granger", "weasley", "rossi", "bianchi", "smith", "jones", "garcia", "kim", "novak")
CITIES = ("london", "rome", "milan", "berlin", "madrid", "oslo", "vienna", "lisbon", "dublin", "prague")
AMBIGUOUS = ("jordan", "paris", "florence", "georgia", "victoria", "chelsea")  # both first names and places
TIMES = ("monday", "week", "year", "summer", "night")
ADJECTIVES = ("cold", "sunny", "rainy", "lovely", "grey")
PLACES = ("station", "museum", "market", "office", "party")
# Templates: words, or {PER} / {LOC} slots.
NER_TEMPLATES = (
    "{PER} visited {LOC} last {TIME}",
    "{PER} and {PER} met in {LOC}",
    "yesterday {PER} flew from {LOC} to {LOC}",
    "the weather in {LOC} was {ADJ}",
    "{PER} lives near {LOC}",
    "we saw {PER} at the {PLACE}",
    "{PER} called {PER} from {LOC}",
    "the {PLACE} in {LOC} is {ADJ}",
)


def _person(rng):
    first = str(rng.choice(FIRST_NAMES + AMBIGUOUS))
    return [first, str(rng.choice(LAST_NAMES))] if rng.random() < 0.6 else [first]


def ner_sentence(rng):
    """(words, tags) of one templated sentence."""
    words, tags = [], []
    for token in str(rng.choice(NER_TEMPLATES)).split():
        if token == "{PER}":
            person = _person(rng)
            words += person
            tags += [1] * len(person)
        elif token == "{LOC}":
            words.append(str(rng.choice(CITIES + AMBIGUOUS)))
            tags.append(2)
        else:
            pools = {"{TIME}": TIMES, "{ADJ}": ADJECTIVES, "{PLACE}": PLACES}
            words.append(str(rng.choice(pools[token])) if token in pools else token)
            tags.append(0)
    return words, tags


@register_dataset("ner", "sequence_tagging", "templated sentences with names and places; tags O/PER/LOC per word")
def load_ner(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    seen, texts, rows = set(), [], []
    attempts = 0
    while len(texts) < n:
        attempts += 1
        if attempts > 50 * n:
            raise ValueError(f"The templates could not make {n} unique sentences. Received: n={n}")
        words, tags = ner_sentence(rng)
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            texts.append(text)
            rows.append(tags)
    width = max(len(r) for r in rows)
    y = np.full((n, width), -1, "int32")
    for index, tags in enumerate(rows):
        y[index, : len(tags)] = tags
    return Dataset("ner", "sequence_tagging", np.array(texts), y, list(TAGS), "templated NER sentences")


# --- synthetic ECG --------------------------------------------------------------------------------

ECG_CLASSES = ("Normal", "AF", "Other", "Noisy")
SAMPLING_RATE = 200  # Hz, as Hannun et al.
# One beat: (offset from the R peak in s, amplitude in mV, width in s) of P, Q, R, S, T.
BEAT_WAVES = {"P": (-0.16, 0.15, 0.025), "Q": (-0.025, -0.12, 0.010), "R": (0.0, 1.0, 0.012), "S": (0.025, -0.25, 0.010), "T": (0.25, 0.30, 0.050)}
# A ventricular premature beat: no P, a wide QRS, an inverted T.
ECTOPIC_WAVES = {"R": (0.0, 1.1, 0.035), "S": (0.07, -0.4, 0.03), "T": (0.3, -0.35, 0.07)}


def _add_beat(signal, time, r_peak, waves, scale):
    for offset, amplitude, width in waves.values():
        signal += scale * amplitude * np.exp(-0.5 * ((time - r_peak - offset) / width) ** 2)


def ecg_record(rng, rhythm, seconds):
    """One single-lead record [samples] of `rhythm` (an index of ECG_CLASSES)."""
    time = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    signal = np.zeros_like(time)
    scale = rng.uniform(0.7, 1.3)
    rr_mean = 60.0 / rng.uniform(60, 100)
    beat = -rng.uniform(0, rr_mean)
    count = 0
    while beat < seconds + 0.5:
        waves = BEAT_WAVES
        rr = rr_mean * (1 + rng.normal(0, 0.02))
        if rhythm == 1:  # AF: irregularly irregular RR, no P waves
            waves = {k: v for k, v in BEAT_WAVES.items() if k != "P"}
            rr = rr_mean * rng.uniform(0.55, 1.45)
        elif rhythm == 2 and count % 3 == 2:  # Other: ventricular premature beats (trigeminy)
            waves = ECTOPIC_WAVES
        _add_beat(signal, time, beat, waves, scale)
        if rhythm == 2 and count % 3 == 1:
            rr *= 0.65  # the next beat comes early
        beat += rr
        count += 1
    if rhythm == 1:  # fibrillatory waves
        for _ in range(3):
            signal += rng.uniform(0.02, 0.05) * np.sin(2 * np.pi * rng.uniform(5, 8) * time + rng.uniform(0, 2 * np.pi))
    wander = rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * rng.uniform(0.15, 0.4) * time + rng.uniform(0, 2 * np.pi))
    noise = rng.normal(0, 0.03, size=time.shape)
    if rhythm == 3:  # Noisy: strong broadband noise, motion spikes, large wander
        signal *= rng.uniform(0.2, 0.5)
        noise = rng.normal(0, rng.uniform(0.3, 0.6), size=time.shape)
        spikes = rng.random(time.shape) < 0.01
        noise[spikes] += rng.normal(0, 1.5, size=int(spikes.sum()))
        wander *= 4
    return (signal + wander + noise).astype("float32")


@register_dataset("ecg_rhythm", "classification", "synthetic single-lead ECG at 200 Hz: Normal, AF, Other (VPBs), Noisy")
def load_ecg_rhythm(seed=0, n=800, seconds=4.0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % len(ECG_CLASSES)).astype("int32")
    rng.shuffle(y)
    x = np.stack([ecg_record(rng, int(rhythm), seconds) for rhythm in y])[..., None]
    return Dataset("ecg_rhythm", "classification", x, y, list(ECG_CLASSES), f"synthetic ECG, {seconds:g} s at {SAMPLING_RATE} Hz")
