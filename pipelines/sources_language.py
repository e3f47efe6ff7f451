"""Embedded text sources of family H's language models and word embeddings (spec §8.2 H).

    language          sentences of the templated English-like grammar of `pipelines.sources_text`
                      (the translation corpus' source side): next-token language modelling and
                      `deepzoo generate`
    hello             the word "hello", repeated: the character-level RNN's memorisation test
    country_capital   templated sentences about 20 countries, their capitals and languages, plus
                      grammar sentences: word2vec / GloVe analogies (capital offsets)

Every source returns strings; tokenisation belongs to the task (`tasks/language.py`, a
`keras.layers.TextVectorization` vocabulary adapted on the training split only). For the language
models `x` and `y` hold the same sentences (the task derives next-token targets). For the
embeddings `x` holds the sentences and `y` is a dict: "sentences" (the same text, from which the
task builds its training pairs and co-occurrences) and "analogy_pair" ("france paris" for a
sentence that names a country with its capital, "" otherwise): the pairs the analogy questions
are built from.

The country–capital corpus gives each pair a shared context (they occur together, with the
country's language) and each role its own contexts (capitals are cities with mayors and airports,
countries have borders and presidents), so the capital − country offset is about constant: what
Mikolov et al. (2013) measure with "Paris − France + Italy ≈ Rome".
"""

import numpy as np

from pipelines.datasets import Dataset, register_dataset
from pipelines.sources_text import translation_pairs

COUNTRY_CAPITALS = (
    ("france", "paris", "french"), ("germany", "berlin", "german"), ("italy", "rome", "italian"),
    ("spain", "madrid", "spanish"), ("japan", "tokyo", "japanese"), ("china", "beijing", "chinese"),
    ("russia", "moscow", "russian"), ("egypt", "cairo", "arabic"), ("greece", "athens", "greek"),
    ("poland", "warsaw", "polish"), ("portugal", "lisbon", "portuguese"), ("sweden", "stockholm", "swedish"),
    ("norway", "oslo", "norwegian"), ("finland", "helsinki", "finnish"), ("hungary", "budapest", "hungarian"),
    ("turkey", "ankara", "turkish"), ("ireland", "dublin", "irish"), ("austria", "vienna", "austrian"),
    ("kenya", "nairobi", "swahili"), ("peru", "lima", "quechua"),
)  # fmt: skip

# Sentences naming a pair: {country}, {capital}, {language}. Each role also has templates of its
# own, written the same way for every pair, and shares its pair's language with the other role:
# role contexts make the offset, the language (and the pair sentences) the pair.
PAIR_TEMPLATES = (
    "{capital} is the capital of {country}",
    "the capital of {country} is {capital}",
    "the government of {country} sits in {capital}",
)
CAPITAL_TEMPLATES = (
    "the mayor of {capital} speaks {language}",
    "in {capital} the people speak {language}",
    "the city of {capital} has a busy airport",
    "the old town of {capital} is full of {language} shops",
    "the streets of {capital} are full of tourists",
)
COUNTRY_TEMPLATES = (
    "the president of {country} speaks {language}",
    "in {country} the people speak {language}",
    "the nation of {country} has many rivers",
    "the farmers of {country} grow rice and wheat",
    "the army of {country} guards the border",
)


def grammar_sentences(n_sentences, seed):
    """`n_sentences` unique sentences of the English-like grammar of `pipelines.sources_text`."""
    return translation_pairs(int(n_sentences), seed)[0]


def country_capital_corpus(n_sentences, seed, grammar_fraction=0.2):
    """(sentences, analogy pair labels) of the country–capital corpus, both numpy string arrays."""
    rng = np.random.default_rng(seed)
    n_grammar = round(grammar_fraction * n_sentences)
    sentences, pairs = [], []
    while len(sentences) < n_sentences - n_grammar:
        index = int(rng.integers(len(COUNTRY_CAPITALS)))
        country, capital, language = COUNTRY_CAPITALS[index]
        kind = rng.random()
        if kind < 0.3:
            template = PAIR_TEMPLATES[int(rng.integers(len(PAIR_TEMPLATES)))]
            sentences.append(template.format(country=country, capital=capital, language=language))
            pairs.append(f"{country} {capital}")
            continue
        if kind < 0.65:
            template = CAPITAL_TEMPLATES[int(rng.integers(len(CAPITAL_TEMPLATES)))]
            sentences.append(template.format(capital=capital, language=language))
        else:
            template = COUNTRY_TEMPLATES[int(rng.integers(len(COUNTRY_TEMPLATES)))]
            sentences.append(template.format(country=country, language=language))
        pairs.append("")
    sentences.extend(grammar_sentences(n_grammar, seed + 1).tolist())
    pairs.extend([""] * n_grammar)
    order = rng.permutation(len(sentences))
    return np.array(sentences)[order], np.array(pairs)[order]


@register_dataset(
    "language",
    "language_model",
    "templated English-like grammar (the translation corpus' source side): 3,000 unique sentences of 3–13 words",
)
def load_language(seed=0, n_sentences=3000):
    if int(n_sentences) < 1:
        raise ValueError(f"n_sentences must be at least 1. Received: n_sentences={n_sentences}")
    x = grammar_sentences(int(n_sentences), seed)
    return Dataset(
        name="language", task="language_model", x=x, y=x.copy(),
        description=f"{len(x):,} unique sentences of the templated grammar, seed {seed}",
    )


@register_dataset("hello", "language_model", 'the word "hello" repeated (character-level memorisation, spec §2 H char_rnn_lm)')
def load_hello(seed=0, n_copies=64):
    if int(n_copies) < 1:
        raise ValueError(f"n_copies must be at least 1. Received: n_copies={n_copies}")
    x = np.array(["hello"] * int(n_copies))
    return Dataset(name="hello", task="language_model", x=x, y=x.copy(), description=f'"hello" × {len(x)}')


@register_dataset(
    "country_capital",
    "word_embedding",
    "templated sentences about 20 countries, capitals and languages (+20% grammar sentences): "
    "4,000 sentences; y = {'sentences', 'analogy_pair'} for capital-offset analogies",
)
def load_country_capital(seed=0, n_sentences=4000):
    if int(n_sentences) < 10:
        raise ValueError(f"n_sentences must be at least 10. Received: n_sentences={n_sentences}")
    sentences, pairs = country_capital_corpus(int(n_sentences), seed)
    return Dataset(
        name="country_capital", task="word_embedding", x=sentences,
        y={"sentences": sentences.copy(), "analogy_pair": pairs},
        description=f"{len(sentences):,} templated country–capital sentences, seed {seed}",
    )
