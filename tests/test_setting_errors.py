"""Library errors name settings (what the web API shows); the CLI spells them as its flags."""

from __future__ import annotations

import pytest

from tunegen.cli.train import flag
from tunegen.data.batches import check_batches_fit
from tunegen.errors import CorpusError, SettingError
from tunegen.evaluation.selection import parse_checks
from tunegen.models import build_model, check_model_config
from tunegen.music.midi import EventCodec
from tunegen.render.tunebook import parse_formats
from tunegen.sampling.form import FormPlan
from tunegen.sampling.header import HeaderPlan
from tunegen.sampling.midi_generate import PieceLength

CASES = [
    (lambda: parse_checks("pretty"), "keep takes", "--keep takes"),
    (lambda: parse_formats("pdf"), "formats 'pdf': choose", "--formats 'pdf': choose"),
    (lambda: check_model_config({"num_layers": 0}), "num_layers must be", "--layers must be"),
    (
        lambda: build_model({"kind": "lstm", "d_model": 8, "num_heads": 2}),
        "d_model, num_heads does not apply to a lstm model",
        "--d-model, --heads does not apply to a lstm model",
    ),
    (
        lambda: EventCodec("seed003", 3).validate(),
        "codec seed003 needs an even grid (",
        "--codec seed003 needs an even --grid (",
    ),
    (
        lambda: check_batches_fit(10, "stateful", 64, 10, 1),
        "use a smaller batch_size or seq_len, or",
        "use a smaller --batch-size or --seq-len, or",
    ),
    (
        lambda: FormPlan(None, 4).validate(),
        "bars_per_part needs form (e.g. form AABB)",
        "--bars-per-part needs --form (e.g. --form AABB)",
    ),
    (
        lambda: FormPlan(None, None, "jig").validate("3/4"),
        "rhythm jig is in 6/8, not meter 3/4",
        "--rhythm jig is in 6/8, not --meter 3/4",
    ),
    (lambda: HeaderPlan(key="Xyz").validate(), "key 'Xyz' is not", "--key 'Xyz' is not"),
    (lambda: PieceLength.parse("0"), "length must be 1-", "--length must be 1-"),
]


@pytest.mark.parametrize(("fail", "named", "spelled"), CASES)
def test_settings_are_named_by_the_library_and_spelled_by_the_cli(fail, named, spelled):
    with pytest.raises(SettingError) as err:
        fail()
    assert named in str(err.value) and "--" not in str(err.value)
    assert spelled in err.value.spelled(flag)


def test_a_corpus_too_small_for_the_batches_is_still_a_corpus_error():
    with pytest.raises(CorpusError, match="too few for windows of 10"):
        check_batches_fit(10, "windows", 64, 10, 1)
