"""Family H: sequence, language and multimodal models (spec §2 H). Each module registers its variants."""

from architectures.sequence import seq2seq_bahdanau  # noqa: F401
