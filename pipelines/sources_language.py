"""Embedded datasets: filled by this round's family work."""
