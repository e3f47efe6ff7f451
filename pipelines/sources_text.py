"""Embedded text sources of family H (spec §8.2 H): a synthetic parallel corpus for translation.

    translation     source sentences → target sentences of a toy language pair (strings)

The source language is English-like: subject–verb–object, adjectives before the noun,
prepositions, an adverb at the end of the clause. The target language has its own lexicon (one
made-up word per source word, fixed: the language does not change with the seed) and three
reordering rules, so a model must learn non-monotone alignments, not a word-by-word copy:

1. adjectives follow their noun, and two adjectives come in mirror order
   ("the big red dog" → "lo dog' red' big'");
2. prepositions become postpositions ("near the house" → "lo house' near'");
3. the verb goes to the end of the clause and the adverb right after the subject
   (S V O PP ADV → S ADV O PP V).

`x` holds the source sentences and `y` the target sentences, both numpy string arrays [N]
(lower case, one space between words, no punctuation). Pairs are unique, so a held-out sentence
was never seen in training. The seed fixes which sentences are drawn; the lexicon is fixed.
Tokenisation belongs to the task (`tasks/text.py`, keras TextVectorization adapted on the training
split only).
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset

DETERMINERS = ("the", "a", "every", "this")
NOUNS = (
    "dog", "cat", "bird", "horse", "fish", "child", "woman", "man", "farmer", "teacher", "doctor",
    "king", "queen", "river", "tree", "house", "boat", "car", "apple", "book", "letter", "song",
    "garden", "city", "mountain", "friend", "baker", "sailor",
)  # fmt: skip
ADJECTIVES = (
    "big", "small", "red", "green", "old", "young", "happy", "sad", "fast", "slow", "tall", "quiet",
    "bright", "dark", "brave", "clever",
)  # fmt: skip
TRANSITIVE_VERBS = (
    "sees", "likes", "finds", "follows", "helps", "watches", "takes", "builds", "reads", "paints",
    "carries", "calls", "feeds", "meets", "loves", "pushes",
)  # fmt: skip
INTRANSITIVE_VERBS = ("sleeps", "runs", "sings", "waits", "laughs", "swims", "falls", "dances", "works", "rests")
ADVERBS = ("today", "quickly", "slowly", "often", "again", "now", "quietly", "early", "later", "always")
PREPOSITIONS = ("near", "behind", "under", "with", "in", "from", "above", "beside")
SOURCE_WORDS = DETERMINERS + NOUNS + ADJECTIVES + TRANSITIVE_VERBS + INTRANSITIVE_VERBS + ADVERBS + PREPOSITIONS

# The target lexicon is drawn once from this fixed seed: it is the language, not the sample.
LEXICON_SEED = 1790
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"

# Sentence shape probabilities.
P_TRANSITIVE = 0.6
P_ADJECTIVE = 0.45  # a noun phrase has at least one adjective
P_SECOND_ADJECTIVE = 0.3  # ... and then a second one
P_PREPOSITIONAL_PHRASE = 0.35
P_ADVERB = 0.4


def target_lexicon():
    """{source word: target word}: distinct made-up CV-syllable words, fixed for the language."""
    rng = np.random.default_rng(LEXICON_SEED)
    used = set(SOURCE_WORDS)
    lexicon = {}
    for word in SOURCE_WORDS:
        syllables = 1 if word in DETERMINERS else int(rng.integers(2, 4))
        while True:
            candidate = "".join(rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS)) for _ in range(syllables))
            if candidate not in used:
                break
        used.add(candidate)
        lexicon[word] = candidate
    return lexicon


def _noun_phrase(rng):
    """(source words, target words) of one noun phrase: DET ADJ* NOUN → DET NOUN ADJ* (mirrored)."""
    adjectives = []
    if rng.random() < P_ADJECTIVE:
        count = 2 if rng.random() < P_SECOND_ADJECTIVE else 1
        adjectives = [str(a) for a in rng.choice(ADJECTIVES, size=count, replace=False)]
    determiner, noun = str(rng.choice(DETERMINERS)), str(rng.choice(NOUNS))
    return [determiner, *adjectives, noun], [determiner, noun, *adjectives[::-1]]


def sentence_pair(rng, lexicon):
    """One (source, target) sentence pair drawn from the grammar."""
    subject, subject_t = _noun_phrase(rng)
    if rng.random() < P_TRANSITIVE:
        verb = str(rng.choice(TRANSITIVE_VERBS))
        obj, obj_t = _noun_phrase(rng)
    else:
        verb = str(rng.choice(INTRANSITIVE_VERBS))
        obj, obj_t = [], []
    phrase, phrase_t = [], []
    if rng.random() < P_PREPOSITIONAL_PHRASE:
        preposition = str(rng.choice(PREPOSITIONS))
        noun_phrase, noun_phrase_t = _noun_phrase(rng)
        phrase, phrase_t = [preposition, *noun_phrase], [*noun_phrase_t, preposition]
    adverb = [str(rng.choice(ADVERBS))] if rng.random() < P_ADVERB else []
    source = [*subject, verb, *obj, *phrase, *adverb]
    target = [*subject_t, *adverb, *obj_t, *phrase_t, verb]
    return " ".join(source), " ".join(lexicon[w] for w in target)


def translation_pairs(n_pairs, seed):
    """`n_pairs` unique (source, target) pairs, deterministic given `seed`."""
    rng = np.random.default_rng(seed)
    lexicon = target_lexicon()
    seen, sources, targets = set(), [], []
    attempts = 0
    while len(sources) < n_pairs:
        attempts += 1
        if attempts > 20 * n_pairs:
            raise ValueError(f"The grammar could not make {n_pairs} unique pairs. Received: n_pairs={n_pairs}")
        source, target = sentence_pair(rng, lexicon)
        if source not in seen:
            seen.add(source)
            sources.append(source)
            targets.append(target)
    return np.array(sources), np.array(targets)


@register_dataset(
    "translation",
    "translation",
    "synthetic parallel corpus: SVO English-like source → verb-final toy target with noun–adjective "
    "swap and postpositions; 4,000 unique pairs (strings)",
)
def load_translation(seed=0, n_pairs=4000):
    if int(n_pairs) < 1:
        raise ValueError(f"n_pairs must be at least 1. Received: n_pairs={n_pairs}")
    x, y = translation_pairs(int(n_pairs), seed)
    return Dataset(
        name="translation",
        task="translation",
        x=x,
        y=y,
        description=f"{len(x):,} unique synthetic sentence pairs, seed {seed}: SVO/adjective–noun source → "
        "SOV/noun–adjective target with postpositions",
    )
