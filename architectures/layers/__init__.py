"""Blocks shared by more than one family. A block used by one family stays in that family's file."""
