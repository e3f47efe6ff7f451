"""Family A: foundations (spec §2 A). Each module registers its variants."""
