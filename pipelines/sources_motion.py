"""Stick-figure walk cycles with styles (amplitude, frequency, posture offsets) for the motion rows (spec §8.2 K)."""
