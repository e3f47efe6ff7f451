"""Family C: localisation, weak supervision, interpretability and robustness (spec §2 C).
Each module registers its rows."""
