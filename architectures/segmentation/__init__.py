"""Family E: semantic and instance segmentation (spec §2 E). Each module registers its variants."""

from architectures.segmentation import unet  # noqa: F401
