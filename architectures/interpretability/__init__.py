"""Family C: localisation, weak supervision, interpretability and robustness (spec §2 C).
Each module registers its rows."""

from architectures.interpretability import methods  # noqa: F401
