"""Note events -> WAV audio (44.1 kHz, 16-bit): a built-in numpy synthesizer, or FluidSynth.

The built-in synth needs no system package: a plucked tone (bright attack fading to a mellow
ring) for most General MIDI programs and an organ-like sustained tone for organs, strings and
winds. FluidSynth with a General MIDI soundfont sounds better where it is installed
(Debian: `apt-get install fluidsynth fluid-soundfont-gm`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from tunegen.errors import RenderError
from tunegen.music.midi_io import Performance
from tunegen.runtime.fileio import write_atomically

SAMPLE_RATE = 44_100
PEAK = 0.89  # normalise to -1 dBFS: loud, never clipped
TAIL_SECONDS = 0.5  # silence after the last note ends, so the release is not cut
RELEASE_SECONDS = 0.04  # fade at each note's end, so notes do not click
SYNTHS = ("auto", "builtin", "fluidsynth")
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)

_TABLE_SIZE = 4096
_PHASE = np.arange(_TABLE_SIZE) / _TABLE_SIZE
# One period of each waveform, built from harmonics (number, amplitude).
_BRIGHT = sum(np.sin(2 * np.pi * k * _PHASE) / k for k in range(1, 11))
_MELLOW = np.sin(2 * np.pi * _PHASE) + 0.3 * np.sin(4 * np.pi * _PHASE)
_ORGAN = sum(a * np.sin(2 * np.pi * k * _PHASE) for k, a in ((1, 1), (2, 0.6), (3, 0.4), (4, 0.25)))
# General MIDI programs (0-based) that sustain: organs, strings, ensembles, brass, reeds, pipes,
# fiddle and bagpipe; the others are plucked or struck.
_SUSTAINED = {*range(16, 24), *range(40, 56), *range(56, 80), 109, 110}


def _tone(pitch: int, samples: int, sustained: bool) -> np.ndarray:
    """`samples` of one note of MIDI `pitch`, with its attack and decay but no release."""
    t = np.arange(samples, dtype=np.float32) / SAMPLE_RATE
    frequency = 440.0 * 2 ** ((pitch - 69) / 12)
    index = ((t * frequency) % 1.0 * _TABLE_SIZE).astype(np.int32) % _TABLE_SIZE
    if sustained:
        return _ORGAN[index] * np.minimum(t / 0.02, 1.0) * 0.5
    ring = 1.5 * min(1.0, (261.6 / frequency) ** 0.5)  # low strings ring longer
    attack = np.minimum(t / 0.003, 1.0)
    return attack * (0.5 * np.exp(-t / 0.08) * _BRIGHT[index] + np.exp(-t / ring) * _MELLOW[index])


def synthesize(performance: Performance) -> np.ndarray:
    """Mono float32 samples of the whole performance (not normalised)."""
    rate = SAMPLE_RATE * 60.0 / performance.qpm  # samples per quarter note
    release = int(RELEASE_SECONDS * SAMPLE_RATE)
    total = int((performance.seconds(performance.end) + TAIL_SECONDS) * SAMPLE_RATE)
    out = np.zeros(total + release, dtype=np.float32)
    fade = np.linspace(1.0, 0.0, release, dtype=np.float32)
    spans = [
        (int(e.start * rate), max(int(e.duration * rate), 1) + release) for e in performance.events
    ]
    longest: dict[tuple[int, bool], int] = {}
    for event, (_, length) in zip(performance.events, spans, strict=True):
        key = (event.pitch, event.program in _SUSTAINED)
        longest[key] = max(longest.get(key, 0), length)
    tones = {key: _tone(key[0], length, key[1]) for key, length in longest.items()}
    for event, (start, length) in zip(performance.events, spans, strict=True):
        note = tones[(event.pitch, event.program in _SUSTAINED)][:length] * (event.velocity / 127)
        note[-release:] *= fade
        out[start : start + length] += note
    return out[:total]


def normalise(samples: np.ndarray) -> np.ndarray:
    """Peak-normalise float samples to int16 at -1 dBFS; silence is an error."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak == 0.0:
        raise RenderError("audio is silent")
    scaled = np.round(samples * (PEAK * 32767 / peak))
    return np.clip(scaled, -32767, 32767).astype(np.int16)


def write_wav(samples: np.ndarray, path: Path, channels: int = 1) -> None:
    """Write int16 samples (interleaved if stereo) as a 44.1 kHz 16-bit WAV file (atomically)."""

    def write(partial: Path) -> None:
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(samples.astype("<i2").tobytes())

    write_atomically(path, write)


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    """(int16 samples interleaved, channels, sample rate) of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise RenderError(f"{path}: not a 16-bit WAV file")
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
        return data, src.getnchannels(), src.getframerate()


def find_soundfont(soundfont: Path | None = None) -> Path | None:
    """The soundfont to use: `soundfont` if given, else the first General MIDI one installed."""
    if soundfont is not None:
        return soundfont if soundfont.is_file() else None
    return next((Path(p) for p in SOUNDFONT_PATHS if Path(p).is_file()), None)


def choose_synth(choice: str, soundfont: Path | None = None) -> str:
    """Resolve `auto` to `fluidsynth` when it and a soundfont are installed, else `builtin`."""
    if choice not in SYNTHS:
        raise RenderError(f"unknown synth {choice!r} (choose from {', '.join(SYNTHS)})")
    available = shutil.which("fluidsynth") is not None and find_soundfont(soundfont) is not None
    if choice == "fluidsynth" and not available:
        raise RenderError(
            "fluidsynth or a General MIDI soundfont is missing "
            "(apt-get install fluidsynth fluid-soundfont-gm, or use the builtin synth)"
        )
    if choice == "auto":
        return "fluidsynth" if available else "builtin"
    return choice


def _fluidsynth(midi: bytes, path: Path, soundfont: Path) -> None:
    """Render MIDI bytes with the fluidsynth command, then write it peak-normalised to `path`."""
    with tempfile.TemporaryDirectory() as tmp:
        midi_path, raw = Path(tmp) / "tune.mid", Path(tmp) / "tune.wav"
        midi_path.write_bytes(midi)
        command = ["fluidsynth", "-ni", "-q", "-F", str(raw), "-r", str(SAMPLE_RATE)]
        command += ["-T", "wav", "-O", "s16", str(soundfont), str(midi_path)]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as err:
            raise RenderError(f"fluidsynth failed ({err})") from err
        samples, channels, rate = read_wav(raw)
    if rate != SAMPLE_RATE:
        raise RenderError(f"fluidsynth wrote {rate} Hz, not {SAMPLE_RATE}")
    write_wav(normalise(samples.astype(np.float32)), path, channels)


def render_wav(
    performance: Performance, midi: bytes, path: Path, synth: str, soundfont: Path | None = None
) -> None:
    """Write the performance as WAV with `synth` ("builtin" or "fluidsynth", see choose_synth)."""
    if synth == "fluidsynth":
        font = find_soundfont(soundfont)
        if font is None:
            raise RenderError("no General MIDI soundfont found")
        _fluidsynth(midi, path, font)
    else:
        write_wav(normalise(synthesize(performance)), path)
