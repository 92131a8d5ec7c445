"""Tunes -> performances -> MIDI, WAV, SVG sheets and piano rolls; the tunebook page."""
