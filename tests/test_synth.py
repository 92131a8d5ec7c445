"""Note events -> WAV: the built-in synth's length, level and sound, and choosing FluidSynth."""

from __future__ import annotations

import stat
import sys

import numpy as np
import pytest
from conftest import GOLDEN_ABC

from tunegen.errors import RenderError
from tunegen.music.midi_io import NoteEvent, Performance, performance_to_midi
from tunegen.render import synth
from tunegen.render.performance import abc_to_performance


def test_builtin_wav_has_the_length_of_the_tune_at_its_tempo_and_sound(tmp_path):
    performance = abc_to_performance(GOLDEN_ABC)  # 16 quarter notes at 120 per minute: 8 s
    path = tmp_path / "t.wav"
    synth.render_wav(performance, b"", path, "builtin")
    samples, channels, rate = synth.read_wav(path)
    assert (channels, rate) == (1, 44_100)
    assert len(samples) == round((8.0 + synth.TAIL_SECONDS) * 44_100)
    level = samples.astype(np.float64)
    assert np.max(np.abs(level)) == pytest.approx(synth.PEAK * 32767, abs=1)  # normalised
    assert np.sqrt(np.mean(level**2)) > 1000  # not silent
    second_half = level[4 * 44_100 : 8 * 44_100]  # the repeat is heard too
    assert np.sqrt(np.mean(second_half**2)) > 1000


def test_the_tone_is_not_a_bare_sine():
    tone = synth._tone(69, 44_100, sustained=False)
    spectrum = np.abs(np.fft.rfft(tone[:8192] * np.hanning(8192)))
    fundamental = spectrum[round(440 * 8192 / 44_100)]
    second = spectrum[round(880 * 8192 / 44_100)]
    assert second > 0.1 * fundamental  # harmonics
    assert abs(tone[40_000:]).max() < 0.5 * abs(tone[:4_000]).max()  # and it decays


def test_silence_cannot_be_normalised():
    with pytest.raises(RenderError, match="silent"):
        synth.normalise(np.zeros(100, dtype=np.float32))


def test_fluidsynth_missing_is_a_clear_error_and_auto_falls_back(monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    assert synth.choose_synth("auto") == "builtin"
    with pytest.raises(RenderError, match="apt-get install fluidsynth"):
        synth.choose_synth("fluidsynth")


def test_fluidsynth_is_run_on_the_midi_and_its_wav_normalised(tmp_path, monkeypatch):
    # A stand-in fluidsynth that writes a quiet stereo WAV where -F says, as the real one does.
    fake = tmp_path / "bin" / "fluidsynth"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys, wave\n"
        "out = wave.open(sys.argv[sys.argv.index('-F') + 1], 'wb')\n"
        "out.setnchannels(2); out.setsampwidth(2); out.setframerate(44100)\n"
        "out.writeframes(b'\\x10\\x00\\xf0\\xff' * 4410)\n"
        "out.close()\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    font = tmp_path / "gm.sf2"
    font.write_bytes(b"RIFF")
    monkeypatch.setenv("PATH", str(fake.parent), prepend=":")
    assert synth.choose_synth("auto", font) == "fluidsynth"
    performance = Performance((NoteEvent(60, 0, 1),), 120)
    path = tmp_path / "t.wav"
    synth.render_wav(performance, performance_to_midi(performance), path, "fluidsynth", font)
    samples, channels, _ = synth.read_wav(path)
    assert channels == 2
    assert np.max(np.abs(samples.astype(int))) == round(synth.PEAK * 32767)
