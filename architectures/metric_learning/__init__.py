"""Family F: metric learning (spec §2 F). Each module registers its variants."""

from architectures.metric_learning import deepface, embedding  # noqa: F401
