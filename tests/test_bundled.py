"""The pretrained model shipped in the package: loads, matches its card, composes good tunes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tunegen.cli import main
from tunegen.evaluation.evaluate import check_validity
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music.abc import parse_tunebook_leniently
from tunegen.music.metre import metre_share

CARD = BUNDLED_MODEL.parent / "MODEL_CARD.md"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(BUNDLED_MODEL)


def generate(tmp_path: Path, name: str, *options: str) -> list:
    out = tmp_path / f"{name}.abc"
    assert main(["generate", "--out", str(out), *options]) == 0  # no checkpoint: the bundled one
    return [tune for tune, _ in parse_tunebook_leniently(out.read_text(), str(out))]


def test_the_bundled_checkpoint_is_small_and_matches_its_card(bundled):
    from model_card import card_config

    assert BUNDLED_MODEL.stat().st_size < 10_000_000
    stated = json.loads(re.search(r"```json\n(.*?)\n```", CARD.read_text(), re.S).group(1))
    assert stated == card_config(bundled.meta)
    assert f"**{bundled.meta['best_val_bpc']:.3f}**" in CARD.read_text()


def test_generation_from_the_bundled_model_is_reproducible(tmp_path):
    first = generate(tmp_path, "a", "--num-tunes", "3", "--seed", "7")
    again = generate(tmp_path, "b", "--num-tunes", "3", "--seed", "7")
    assert [t.text for t in first] == [t.text for t in again]
    other = generate(tmp_path, "c", "--num-tunes", "3", "--seed", "8")
    assert [t.text for t in first] != [t.text for t in other]


def test_nine_in_ten_sampled_tunes_parse(tmp_path):
    tunes = generate(tmp_path, "twenty", "--num-tunes", "20", "--seed", "0")
    assert len(tunes) == 20
    valid = [check_validity(tune)[0] for tune in tunes]
    assert sum(valid) >= 18


def test_meter_and_key_give_jigs_in_d(tmp_path):
    tunes = generate(tmp_path, "jigs", "--num-tunes", "12", "--seed", "3", "--meter", "6/8",
                     "--key", "D")  # fmt: skip
    assert [(t.field("M"), t.field("K")) for t in tunes] == [("6/8", "D")] * 12
    shares = [metre_share(tune).share for tune in tunes]
    right = [share for share in shares if share is not None]
    assert len(right) >= 10 and sum(right) / len(right) >= 0.8  # bars of 6/8 length
