"""Hostile input: fuzzing, a corpus of real-world oddities, names that try to escape."""
