"""Judging tunes: validity, metre, novelty, style, held-out likelihood and --keep checks."""
