"""Family J: human pose estimation (spec §2 J). Each module registers its variants."""
