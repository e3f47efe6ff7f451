"""Family K: 3-D, graphics and animation (spec §2 K). Each module registers its variants."""
