"""Shapes scenes with captions, questions and answers, and image-text pairs (spec §8.2 G, H)."""
