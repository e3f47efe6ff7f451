"""Stick figures, one and several people, with keypoints, heat maps and part affinity fields (spec §8.2 J)."""
