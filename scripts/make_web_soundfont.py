"""Write the page's soundfont: one short MP3 per note, drawn by tunegen's own built-in synth.

abcjs's synth fetches SOUNDFONT/<instrument>-mp3/<note>.mp3 (e.g. acoustic_grand_piano-mp3/C4.mp3)
and decodes it in the browser. The package ships these files so the page plays with no internet;
they are the built-in plucked tone, not a piano, under abcjs's name for General MIDI program 0.
Run once when the synth changes (needs `pip install lameenc`, used only here):

    PYTHONPATH=src python scripts/make_web_soundfont.py
"""

from __future__ import annotations

from pathlib import Path

import lameenc
import numpy as np

from tunegen.music.midi_io import NoteEvent, Performance
from tunegen.render.synth import SAMPLE_RATE, normalise, synthesize

OUT = Path(__file__).parents[1] / "src/tunegen/web/static/soundfont/acoustic_grand_piano-mp3"
LOWEST, HIGHEST = 36, 96  # C2 (abcjs's chord bass) .. C7 (above any fiddle or whistle tune)
SECONDS = 1.6  # abcjs cuts each sample at the note's end: longer than a folk tune's long notes
NAMES = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]  # abcjs's spelling
RATE = 22_050
KBPS = 40


def note_name(pitch: int) -> str:
    """MIDI pitch -> abcjs's file name, e.g. 60 -> C4, 61 -> Db4."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def mp3(pitch: int) -> bytes:
    """One note of the built-in synth, mono, as MP3 at RATE."""
    quarters = SECONDS * 2  # synthesize plays at 120 quarter notes a minute
    samples = synthesize(Performance((NoteEvent(pitch, 0.0, quarters, 100),), 120.0))
    pcm = normalise(samples)[:: SAMPLE_RATE // RATE]  # 44,100 -> 22,050 Hz; the tone is smooth
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(KBPS)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(2)
    return bytes(encoder.encode(np.ascontiguousarray(pcm).tobytes()) + encoder.flush())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    total = 0
    for pitch in range(LOWEST, HIGHEST + 1):
        data = mp3(pitch)
        (OUT / f"{note_name(pitch)}.mp3").write_bytes(data)
        total += len(data)
    print(f"wrote {HIGHEST - LOWEST + 1} notes, {total / 1024:.0f} KiB, to {OUT}")


if __name__ == "__main__":
    main()
