"""Identifier checks, the pupil master index, deterministic and probabilistic linkage."""
