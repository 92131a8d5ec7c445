"""The music representation: ABC and MIDI. Imports no ML library."""
