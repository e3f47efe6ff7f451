"""Utilities every layer shares (atomic writes, quiet TensorFlow import). Imports nothing of the project."""
