"""Corpora -> symbols -> id arrays -> batches: ABC and MIDI side by side, and vocabularies."""
