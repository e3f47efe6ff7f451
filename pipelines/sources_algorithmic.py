"""Algorithmic sequence tasks of the memory-augmented networks: copy, repeat copy, associative recall, priority sort, binary addition, stack/queue transduction, the adding problem (spec §8.2 H)."""
