"""Grammar-aware sampling: per-row backtracking, well-formed tunes, form control, bad options."""

from __future__ import annotations

import hashlib
import string

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegen.cli import main
from tunegen.data.vocab import Vocabulary
from tunegen.errors import UsageError
from tunegen.models import build_model
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.models.stepping import NumpyLSTMStepper
from tunegen.models.torch_stepping import GroupedStepper, TorchStepper
from tunegen.music import abc2midi
from tunegen.music.abc_scan import check_text, scan_text
from tunegen.sampling.form import FormPlan
from tunegen.sampling.grammar import sample_grammar
from tunegen.sampling.loop import Batch
from tunegen.sampling.rowstate import RowStates
from tunegen.sampling.sampler import (
    GrammarStats,
    HeaderPlan,
    SamplingOptions,
    compose,
)
from tunegen.sampling.tune_judge import (
    BAD,
    BAR,
    EOT,
    KEY_CHARS,
    MAX_BAR_SYMBOLS,
    MAX_CODE_LINE,
    TuneJudge,
)

VOCAB = Vocabulary.from_texts([string.ascii_letters + string.digits + " \n:|/[]()^_=,'\"#"])


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(BUNDLED_MODEL)


def tiny(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    config = {"vocab_size": len(VOCAB), "kind": kind}
    if kind == "lstm":
        config.update(embedding_size=8, hidden_size=16, num_layers=2)
    else:
        config.update(d_model=16, num_heads=2, num_layers=2, context=4)
    return build_model(config).eval()


STEPPERS = [
    lambda: NumpyLSTMStepper(tiny("lstm")),
    lambda: TorchStepper(tiny("lstm")),
    lambda: GroupedStepper(tiny("transformer")),
]


@pytest.mark.parametrize("make", STEPPERS, ids=["numpy-lstm", "torch-lstm", "transformer"])
def test_a_row_steps_back_alone(make):
    """Row 1 goes back to its saved state; row 0 carries on as if nothing happened, and row 1
    then gives exactly the logits of a run that never took the discarded steps."""
    history = np.random.default_rng(0).integers(1, len(VOCAB), size=(2, 12))
    stepper = make()
    stepper.reset(2)
    states = RowStates(stepper, 2)
    for t in range(12):
        logits = stepper.step(history[:, t])
        if t == 6:  # the state after 7 symbols; row 1 then takes two symbols it will discard
            states.save(np.array([1]))
            stepper.step(np.array([history[0, 7], 3]))
            stepper.step(np.array([history[0, 8], 4]))
            states.restore(np.array([1]))
            # row 1 replays 7 and 8 while row 0 goes on with 9, 10: bring them level again
            stepper.step(np.array([history[0, 9], history[1, 7]]))
            logits = stepper.step(np.array([history[0, 10], history[1, 8]]))
            break
    fresh = make()
    fresh.reset(2)
    for t in range(9):
        row1 = fresh.step(history[:, t])[1]
    assert np.allclose(logits[1], row1, atol=1e-5)
    level = make()
    level.reset(2)
    for t in range(11):
        row0 = level.step(history[:, t])[0]
    assert np.allclose(logits[0], row0, atol=1e-5)


def test_every_tune_of_a_sampled_batch_scans(bundled):
    stats = GrammarStats()
    texts = sample_grammar(
        bundled.model, bundled.vocab, 8, SamplingOptions(0.8, seed=3), "", HeaderPlan(),
        FormPlan(), stats,
    )  # fmt: skip
    complete = [text for text in texts if len(text) < 2000]
    assert len(complete) >= 7
    for text in complete:
        verdict = check_text(f"X:1\n{text}")
        assert verdict.every_bar_right, verdict.problems
    if abc2midi.available():
        verdicts = abc2midi.check_tunes([f"X:1\n{text}" for text in complete])
        assert sum(v.every_bar_right for v in verdicts) >= len(complete) - 1
    assert stats.steps > 0


def _sections(text: str) -> list[int]:
    """Bars with music in each section closed by :|, ||, or |]."""
    sections, count = [], 0
    for bar in scan_text(f"X:1\n{text}").bars:
        count += bar.time > 0
        if bar.line.startswith(":") or bar.line in ("||", "|]"):
            sections.append(count)
            count = 0
    return sections


def test_form_control_writes_the_parts_asked_for(bundled):
    form = FormPlan("AABB", 4, "jig")
    result = compose(bundled.model, bundled.vocab, 4, SamplingOptions(0.8, seed=1), form=form)
    for text in result.texts:
        assert "R:jig" in text and "M:6/8" in text
        assert _sections(text) == [4, 4]
        assert text.count(":|") == 2 and text.count("|:") == 2
        assert check_text(f"X:1\n{text}").every_bar_right
    again = compose(
        bundled.model, bundled.vocab, 2, SamplingOptions(0.8, seed=2), form=FormPlan("ABA", 2)
    )
    for text in again.texts:
        body = text.split("K:", 1)[1].split("\n", 1)[1]
        parts = [part.strip() for part in body.replace("|]", "||").split("||") if part.strip()]
        assert len(parts) == 3 and parts[0] == parts[2] != parts[1]


def test_form_control_on_a_model_that_never_wrote_a_closing_bracket():
    """Form control closes the tune with "||" when the vocabulary has no "]" for "|]"."""
    vocab = Vocabulary.from_texts([string.ascii_letters + string.digits + " \n:|/"])
    torch.manual_seed(0)
    model = build_model(
        {"vocab_size": len(vocab), "kind": "lstm", "embedding_size": 8, "hidden_size": 16}
    ).eval()
    primer = "T:x\nM:2/4\nL:1/8\nK:C\n"
    texts = sample_grammar(
        model, vocab, 2, SamplingOptions(seed=0, max_symbols=3000), primer, HeaderPlan(),
        FormPlan("AB", 1), GrammarStats(),
    )  # fmt: skip
    assert all("]" not in text for text in texts)
    assert any(text.startswith(primer) and text.endswith("||\n") for text in texts)


def test_transformer_samples_with_the_grammar():
    model = tiny("transformer")
    stats = GrammarStats()
    texts = sample_grammar(
        model, VOCAB, 3, SamplingOptions(seed=0, max_symbols=150), "", HeaderPlan(meter="2/4"),
        FormPlan(), stats,
    )  # fmt: skip
    assert len(texts) == 3 and all(text.startswith("T:") and "M:2/4" in text for text in texts)
    assert stats.steps > 0


def test_free_is_the_sampler_of_before(bundled):
    """--free writes exactly what the sampler wrote before grammar-aware sampling existed (the
    digest was taken with the sampler of 98d65c2 and the model bundled at 2026-12-05 04:45)."""
    options = SamplingOptions(0.8, max_symbols=300, seed=5)
    result = compose(
        bundled.model, bundled.vocab, 3, options, plan=HeaderPlan(meter="6/8"), grammar=False
    )
    digest = hashlib.sha256(result.tunebook.encode()).hexdigest()
    assert digest == "b3e59cbef3d7ae3dedc5eed5677abf5c8c44b71973a6925ef1d7f2be86eb00ae"
    assert result.grammar is None


@pytest.mark.parametrize(
    "options",
    [
        ["--form", "AAbb"],
        ["--form", "A-B"],
        ["--form", "AB", "--bars-per-part", "0"],
        ["--form", "AB", "--bars-per-part", "65"],
        ["--rhythm", "foxtrot"],
        ["--rhythm", "jig", "--meter", "3/4"],
        ["--rhythm", "hornpipe", "--meter", "6/8"],
        ["--form", "AB", "--free"],
    ],
)
def test_bad_form_options_are_one_line_errors(tmp_path, capsys, options):
    assert main(["generate", "--out", str(tmp_path / "x.abc"), *options]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "error" in error
    assert not (tmp_path / "x.abc").exists()


def test_a_primer_that_is_not_well_formed_is_reported(bundled):
    primer = "T:x\nM:6/8\nL:1/8\nK:D\nABc def g|"
    with pytest.raises(UsageError, match="bar 1"):
        compose(bundled.model, bundled.vocab, 2, SamplingOptions(seed=0), primer=primer)
    ok = compose(bundled.model, bundled.vocab, 2, SamplingOptions(seed=0), primer=primer[:-2])
    assert all(text.startswith(primer[:-2]) for text in ok.texts)


@pytest.mark.parametrize(
    "music", ["CD [V:2] EF", "CDEF|\nV:2\n", "CD``EF", "CD [I:MIDI=x] EF", "CD A>~BA", "C<~D"]
)
def test_voices_instructions_backquotes_and_rolls_after_broken_rhythm_are_not_written(music):
    """abc2midi moves a late voice to a track of its own, ignores backquotes and counts a rolled
    note after broken rhythm (A>~B) in a way of its own: the sampler goes back instead of
    writing them (inline or as field lines)."""
    judge = TuneJudge()
    for char in "X:1\nM:4/4\nL:1/8\nK:C\n":
        assert judge.feed(char) != BAD
    codes = [judge.feed(char) for char in music]
    assert BAD in codes
    free = TuneJudge()
    fine = "X:1\nM:4/4\nL:1/8\nK:C\nCDEF GABc|~A>B ~A<B A>B ~C2|\n"
    assert BAD not in [free.feed(char) for char in fine]


@pytest.mark.parametrize(
    "metre, usual",
    [("6/8", True), ("C|", True), ("none", True), ("2+3/8", True), ("4/1", True),
     ("98", False), ("6-8", False), ("9/1", False), ("6/8 jig", False), ("3/0", False)],
)  # fmt: skip
def test_a_sampled_metre_is_one_a_tune_can_fill(metre, usual):
    """abc2midi reads M:98 as bars of 98 whole notes: the sampler writes its M: line again
    (it is not banned from the tune: K: waits for an M: line, see the test below)."""
    judge = TuneJudge()
    codes = [judge.feed(char) for char in f"X:1\nT:t\nM:{metre}\n"]
    assert (BAD not in codes) == usual
    if not usual:
        assert judge.reason.startswith(f"header: M:{metre} is not a metre") and not judge.ban
        return
    codes = [judge.feed(char) for char in "M:3/4\n"]
    assert codes[-1] == BAD and judge.ban == "M"  # a second M: is banned from the tune


@pytest.mark.parametrize(
    "unit, usual",
    [
        ("1/8", True),
        ("1/16", True),
        ("1/1", True),
        ("6/8", False),
        ("1/3", False),
        ("1/128", False),
    ],
)
def test_a_sampled_unit_length_is_a_usual_one(unit, usual):
    """L:6/8 (the model's M:6/8 with the wrong letter) makes every note 3/4 long: written again."""
    judge = TuneJudge()
    codes = [judge.feed(char) for char in f"X:1\nT:t\nL:{unit}\n"]
    assert (BAD not in codes) == usual
    if not usual:
        assert judge.reason.startswith(f"header: L:{unit} is not a unit") and not judge.ban


@pytest.mark.parametrize(
    "line, bad_at",
    [("K:A d/2e/2f/2 g/2", "K:A d/"), ("K:G gfg|Tab", "K:G gfg|"), ("K:(D/2E/2)", "K:("),
     ("K:A dd ee ff gg aa bb cc dd ee", "K:A dd ee ff gg aa bb cc dd")],
)  # fmt: skip
def test_a_key_line_that_runs_on_is_sampled_again_at_once(line, bad_at):
    """K:A followed by the tune's notes on the same line is a K: field abc2midi faults only at
    the line's end: the judge says so at the first character no key is written with (the
    corpora's keys: letters, spaces, # and =), or once the line is longer than any key needs."""
    judge = TuneJudge()
    codes = [judge.feed(char) for char in "X:1\nT:t\n" + line]
    assert codes.index(BAD) == len("X:1\nT:t\n") + len(bad_at) - 1, judge.reason
    fine = TuneJudge()
    text = "X:1\nT:A title longer than twenty-six (1)\nK:A Mixolydian\nK:F#\n"
    assert BAD not in [fine.feed(char) for char in text]


def test_forced_text_that_brings_out_an_error_sends_the_bar_back():
    """Form control writes bar lines, copies of parts and the tune's end itself: where that
    text brings out an error (the end of a tune whose repeat is still open), the judge says BAD
    as for the model's own text, and the bar before it is sampled again."""
    judge = TuneJudge()
    assert BAD not in [judge.feed(char) for char in JIG + "|:def gab|dBG A3|"]
    assert judge.feed("\n", forced=True) != BAD
    assert judge.feed(EOT, forced=True) == BAD and "Missing :|" in judge.reason
    closed = TuneJudge()
    assert BAD not in [closed.feed(char) for char in JIG + "|:def gab|dBG A3:|"]
    assert BAD not in [closed.feed(symbol, forced=True) for symbol in ("\n", EOT)]


def test_a_tune_that_ended_early_says_so_in_the_tunebook():
    """A model that keeps writing bars of the wrong length: its tunes end at their last good
    bar, each marked in the tunebook, and still right."""
    model = tiny("lstm")
    with torch.no_grad():
        model.head.bias[VOCAB.index["a"]] = 6.0
    options = SamplingOptions(seed=4, max_symbols=300)
    result = compose(model, VOCAB, 4, options, primer="T:t\nM:6/8\nL:1/8\nK:D\nDEF GAB|")
    ended = [t for t in abc2midi.split_tunes(result.tunebook) if "ended at its last good" in t]
    assert ended and len(ended) == result.grammar.ended_early
    assert all(check_text(tune).every_bar_right for tune in ended)
    assert f"{len(ended)} ended early" in result.grammar.summary()
    # --keep valid keeps such a tune (it is right), with its note
    from tunegen.evaluation.selection import compose_kept

    kept = compose_kept(
        model, VOCAB, 4, options, ["valid"], primer="T:t\nM:6/8\nL:1/8\nK:D\nDEF GAB|"
    )
    marked = [t for t in abc2midi.split_tunes(kept.composition.tunebook) if "ended at its" in t]
    assert marked and all(check_text(tune).every_bar_right for tune in marked)


def _drive(rule, batch: Batch, symbol: str) -> int:
    """One step of sample_rows for row 0 with `symbol` chosen: the rule's action."""
    from tunegen.sampling.loop import BACK, MARK, RESTART

    logits = np.zeros(len(VOCAB), dtype=np.float32)
    batch.steps += 1
    batch.logits, batch.noise = logits[None], np.zeros((1, len(VOCAB)), dtype=np.float32)
    rule.prepare(logits)
    action, chosen = rule.accept(batch, 0, VOCAB.index[symbol])
    if action <= MARK:
        batch.write(np.array([0]), np.array([chosen]))
    if action == MARK:
        batch.mark_pos[0] = batch.pos[0] - 1
    elif action == BACK:
        batch.pos[0] = batch.mark_pos[0]
    elif action == RESTART:
        batch.pos[0] = batch.mark_pos[0] = 0
    return action


@pytest.mark.parametrize(
    "good, kept",
    [("CDEF|GABc|cBAG|", "CDEF|GABc|cBAG|"), ("CDEF|GABc|:cBAG|", "CDEF|GABc|:cBAG:|\n")],
)
def test_a_tune_that_fails_a_bar_on_every_start_ends_at_its_last_good_bar(good, kept):
    """A bar that fails MAX_TRIES times starts the tune again; after MAX_RESTARTS restarts the
    tune ends where its last good bar ends (a repeat left open is closed), and is not written
    on unchecked."""
    from tunegen.sampling.grammar import MAX_RESTARTS, MAX_TRIES, GrammarRule, _Row, _Shared
    from tunegen.sampling.header import HeaderConstraint, header_starts
    from tunegen.sampling.loop import BACK, RESTART, STOP

    stats = GrammarStats()
    shared = _Shared(VOCAB, FormPlan(), "", stats, True)
    header = HeaderConstraint(HeaderPlan(), VOCAB, header_starts(VOCAB))
    rule = GrammarRule(shared, _Row(header, TuneJudge()))
    batch = Batch(np.zeros((1, len(VOCAB)), np.float32), SamplingOptions(), 400, VOCAB.end_id)
    head = "T:t\nM:2/4\nL:1/8\nK:C\n"
    actions = []
    for _ in range(MAX_RESTARTS + 1):
        assert [_drive(rule, batch, char) for char in head + good].count(BACK) == 0
        while True:  # a short bar, judged at the symbol after its bar line
            action = [_drive(rule, batch, char) for char in "C2|C"][-1]
            actions.append(action)
            if action != BACK:
                break
    assert actions[-1] == STOP and actions.count(RESTART) == MAX_RESTARTS
    assert len(actions) == (MAX_RESTARTS + 1) * MAX_TRIES
    assert VOCAB.decode(batch.result(0)) == head + kept
    assert check_text("X:1\n" + head + kept).every_bar_right
    assert stats.ended_early == 1 and stats.gave_up == 0 and "1 ended early" in stats.summary()


def _rule_and_batch() -> tuple:
    """A GrammarRule for one row of VOCAB, no plan nor form, its stats, and a batch of one."""
    from tunegen.sampling.grammar import GrammarRule, _Row, _Shared
    from tunegen.sampling.header import HeaderConstraint, header_starts

    stats = GrammarStats()
    shared = _Shared(VOCAB, FormPlan(), "", stats, True)
    header = HeaderConstraint(HeaderPlan(), VOCAB, header_starts(VOCAB))
    rule = GrammarRule(shared, _Row(header, TuneJudge()))
    batch = Batch(np.zeros((1, len(VOCAB)), np.float32), SamplingOptions(), 400, VOCAB.end_id)
    return rule, stats, batch


@pytest.mark.parametrize(
    "written, mended",
    [
        # a pickup, and a full bar before the first :| (abc2midi: "Bar 0 has 1 time units ...
        # in repeat"): the repeat opens after the pickup
        ("D|GAB GAB|ABG G2E:|\n", "D|:GAB GAB|ABG G2E:|\n"),
        ("(3DEF|GAB GAB|\nABG G2E:|\n", "(3DEF|:GAB GAB|\nABG G2E:|\n"),
        # a bar sampled again on the way keeps the mend possible
        ("D|GAB GAB|C|A", "D|:GAB GAB|ABG G2E:|\n"),
    ],
)
def test_a_repeat_back_over_a_pickup_opens_after_it(written, mended):
    """A model that writes a pickup and then a full bar before `:|` (as the books often do)
    has its first bar line made `|:`, so the pickup is not played again as a short bar; the
    mended tune is right by abc2midi's rules, and no bar is sampled again for it."""
    from tunegen.sampling.loop import BACK

    rule, stats, batch = _rule_and_batch()
    head = "T:t\nM:6/8\nL:1/8\nK:D\n"
    actions = [_drive(rule, batch, char) for char in head + written]
    if "C|" in written:  # a short bar: sampled again, then written as in the first case
        assert actions[-1] == BACK
        actions = [_drive(rule, batch, char) for char in "ABG G2E:|\n"]
    assert BACK not in actions and stats.opened == 1 and stats.retries == int("C|" in written)
    text = VOCAB.decode(batch.result(0))
    assert text.startswith(head + mended)
    assert check_text("X:1\n" + text).every_bar_right
    # the row goes on from the mended text: a bad bar now goes back to the bar after the :|
    assert [_drive(rule, batch, char) for char in "ABC|D"][-1] == BACK
    assert VOCAB.decode(batch.result(0)) == head + mended.rstrip("\n")
    assert "1 repeats opened after a pickup" in stats.summary()


@pytest.mark.parametrize(
    "written",
    [
        "D|GAB GAB|ABG G:|\n",  # the last bar is too short, with the pickup or without
        "D||GAB GAB|ABG G2E:|\n",  # the first bar line is not a plain one
        "GAB GAB|ABG G2:|\n",  # no pickup: the short bar before :| is simply wrong
        "D|GAB GAB|ABG G2EF:|\n",  # the last bar is too long
    ],
)
def test_a_repeat_is_opened_only_where_that_makes_the_tune_right(written):
    """Any other fault at a :| (a last bar short or long with the pickup, a first bar line that
    is not a plain one, no pickup) is sampled again as before, and no repeat is opened."""
    from tunegen.sampling.loop import BACK

    rule, stats, batch = _rule_and_batch()
    head = "T:t\nM:6/8\nL:1/8\nK:D\n"
    for char in head + written:  # up to the bar sent back
        if _drive(rule, batch, char) == BACK:
            break
    else:
        raise AssertionError(f"{written!r} is right as it is")
    text = VOCAB.decode(batch.result(0))
    assert stats.opened == 0 and text.startswith(head) and "|:" not in text


JIG = "X:1\nM:6/8\nL:1/8\nK:D\n"


def test_a_bar_that_runs_on_without_time_is_sampled_again():
    """A model caught writing slurs or decorations forever has its bar sampled again once it
    is longer than any bar of the books (82 symbols); a long bar of chord names and
    decorations on every note (8 x 11 symbols) passes."""
    judge = TuneJudge()
    codes = [judge.feed(char) for char in JIG + "d" + "(" * MAX_BAR_SYMBOLS]
    assert codes.index(BAD) == len(JIG) + MAX_BAR_SYMBOLS and "longer than" in judge.reason
    busy = TuneJudge()
    text = "X:1\nM:4/4\nL:1/8\nK:C\n" + '"Am"!trill!A' * 8 + "|" + '"G"!trill!B' * 8 + "|]\n"
    assert BAD not in [busy.feed(char) for char in text], busy.reason


def test_a_note_that_may_still_be_shortened_is_judged_once_it_is_written_out():
    """Half an eighth is left: `a` is too long as it stands, but `a/` fits. The judge waits for
    the note's length; a note that can no longer be shortened is too long at once."""
    judge = TuneJudge()
    assert BAD not in [judge.feed(char) for char in JIG + "dF F D D/e/g/a"]
    note = judge.scan.open_note()
    assert note is not None and note.length == "" and note.shrinkable
    assert judge.scan.length_ticks("/") == note.room == judge.scan.length_ticks("2") // 4
    assert judge.scan.length_ticks("/3") is None  # abc2midi faults a length of 1/3
    again = judge.copy()
    assert judge.feed("/") != BAD and judge.feed("|") != BAD and judge.feed("d") != BAD
    assert again.feed(" ") == BAD and "too long" in again.reason  # `a` written out
    late = TuneJudge()
    assert BAD in [late.feed(char) for char in JIG + "dF F D D/e/g/a3//"]  # 3/32: no third "/"
    chord = TuneJudge()
    for char in JIG + "dF F D D/e/[g":
        chord.feed(char)
    assert chord.scan.open_note() is None  # a chord's notes are not single notes


def test_a_full_bar_is_offered_no_note_nor_what_must_be_followed_by_one():
    """In a full bar, a decoration (T), slur or tuplet (() or accidental would need a note the bar
    has no room for: none is offered, and a bar line is."""
    from tunegen.sampling.grammar import GrammarRule, _Row, _Shared
    from tunegen.sampling.header import HeaderConstraint, header_starts

    shared = _Shared(VOCAB, FormPlan(), "", GrammarStats(), True)
    header = HeaderConstraint(HeaderPlan(), VOCAB, header_starts(VOCAB))
    rule = GrammarRule(shared, _Row(header, TuneJudge()))
    for char in JIG + "def gfe ":
        rule.row.judge.feed(char)
    logits = np.zeros(len(VOCAB), dtype=np.float32)
    rule.prepare(logits)
    refused = {VOCAB.symbols[i] for i in np.flatnonzero(np.isinf(logits))}
    assert {"a", "z", "T", "(", "^", "["} <= refused and not {"|", " ", ":"} & refused


# Pieces of ABC bodies, well formed or not, bar lines of every kind among them
BODY_PIECES = [*"ABCDEFGabcdefg,'^_=/234|:[]()<>{}~.-zxZ \n\"", "|:", ":|", "::", "|1", "[1",
               "|1,3", "[|", "]|", "|]", "Z4", "[CE]", "K:G", "\n"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(BODY_PIECES), max_size=60))
def test_any_body_starts_each_bar_from_the_judge_before_its_symbol(pieces):
    """The same as above for any body, up to its first fault (where the sampler goes back)."""
    judge = TuneJudge()
    for char in "X:1\nT:t\nM:6/8\nL:1/8\nK:D\n" + "".join(pieces):
        before = _judge_state(judge.copy())
        code = judge.feed(char)
        if code == BAD:
            break
        if code == BAR:
            assert _judge_state(judge.bar_start) == before


def _offered(header_text: str, banned: frozenset[str] = frozenset()) -> set[str]:
    """What a GrammarRule offers the model after `header_text`."""
    from tunegen.sampling.grammar import GrammarRule, _Row, _Shared
    from tunegen.sampling.header import HeaderConstraint, header_starts

    shared = _Shared(VOCAB, FormPlan(), "", GrammarStats(), True)
    header = HeaderConstraint(HeaderPlan(), VOCAB, header_starts(VOCAB))
    rule = GrammarRule(shared, _Row(header, TuneJudge()))
    rule.row.banned = banned
    for char in header_text:
        rule.row.header.observe(char)
        assert rule.row.judge.feed(char) != BAD
    logits = np.zeros(len(VOCAB), dtype=np.float32)
    rule.prepare(logits)
    return {VOCAB.symbols[i] for i in np.flatnonzero(~np.isinf(logits))}


def test_the_key_line_waits_for_a_metre():
    """Every corpus tune states its metre, and abc2midi reads a tune without M: as 4/4: at a
    header line's start, K: is not offered before an M: line (other fields are), and is after
    one; a tune that cannot take an M: (banned) is not held back."""
    assert "K" not in _offered("X:1\nT:t\n") and {"M", "L", "R"} <= _offered("X:1\nT:t\n")
    assert {"K", "L"} <= _offered("X:1\nT:t\nM:6/8\n")
    assert "K" in _offered("X:1\nT:t\n", banned=frozenset("M"))


def test_a_key_line_is_offered_only_what_keys_are_written_with():
    """What the judge would refuse in a K: line (notes, slurs, lengths: K:(D/2E/2)) is not
    offered there, and a K:, M:, L:, R: or Q: line of MAX_CODE_LINE characters is offered only
    its end; other lines are not held back."""
    header = "X:1\nT:t\nM:6/8\n"
    keys = {symbol for symbol in VOCAB.symbols if symbol in KEY_CHARS or symbol == "\n"}
    assert _offered(header + "K:") == _offered(header + "K:A Mix") == keys
    assert "/" not in keys and "(" not in keys and "2" not in keys
    longest = "K:A Mixolydian abcdefghijk"
    assert len(longest) == MAX_CODE_LINE and _offered(header + longest) == {"\n"}
    assert _offered(header + "R:" + "r" * (MAX_CODE_LINE - 2)) == {"\n"}
    assert {"(", "/", "2"} <= _offered(header + "T:" + "t" * MAX_CODE_LINE)


def test_a_note_being_written_gets_only_lengths_that_fit_its_bar():
    """_Shared.length_blocked: with an eighth left, `a` may become `a` or `a/` (a digit only
    if it keeps the note an eighth or shorter); with half an eighth left, only `a/` fits, so
    only "/" is offered."""
    from tunegen.sampling.grammar import _Shared

    shared = _Shared(VOCAB, FormPlan(), "", GrammarStats(), True)
    allowed = {}
    for bar in ("dF F D D/e/", "dF F D D/e/g/"):
        judge = TuneJudge()
        for char in JIG + bar + "a":
            judge.feed(char)
        blocked = shared.length_blocked(judge.scan, judge.scan.open_note())
        assert blocked is shared.length_blocked(judge.scan, judge.scan.open_note())  # cached
        free = np.ones(len(VOCAB), dtype=bool)
        free[blocked if blocked is not None else []] = False
        allowed[bar] = {VOCAB.symbols[i] for i in np.flatnonzero(free)}
    eighth, half = allowed["dF F D D/e/"], allowed["dF F D D/e/g/"]
    assert {"/", "1", " ", "|", "a"} <= eighth and not {"2", "3"} & eighth
    assert half == {"/"}


def test_an_ending_is_mended_only_with_a_bar_line_that_makes_the_tune_whole(oneills):
    """_mend_end reads the tune once and tries each closing bar line on a copy: its answer is
    the one a whole reading of each candidate gives."""
    from tunegen.sampling.grammar import _mend_end

    symbols = set(string.printable)
    open_repeat = "T:t\nM:2/4\nL:1/8\nK:D\n|:DEFG|ABcd|"
    assert _mend_end("", open_repeat, symbols) == open_repeat[:-1] + ":|\n"
    assert _mend_end("", "T:t\nM:2/4\nL:1/8\nK:D\nDEFG|ABcde|DEFG|", symbols) is None  # too long
    assert _mend_end("", open_repeat, symbols - {":"}) is None
    for tune in oneills.tunes[:60]:
        body = tune.text.rstrip()
        text = body.rstrip("|:]") + "|"
        expected = None
        for line in (":|", "|]", "||"):
            mended = f"{text[:-1]}{line}\n"
            if check_text(mended).every_bar_right:
                expected = mended
                break
        assert _mend_end("", text, symbols) == expected


def test_the_judges_counts_are_the_scanners_after_every_symbol(oneills):
    """TuneJudge keeps the scanner's ticks left and fault counts from one symbol to the next
    (asked once, not at every question): after each symbol, forced or not, and in a copy taken
    at a bar's start, they are what the scanner says."""
    for tune in oneills.tunes[:40]:
        judge = TuneJudge()
        for index, char in enumerate(tune.text):
            judge.feed(char, forced=index % 7 == 0)
            for one in (judge, judge.bar_start):
                if one is not None and one.scan.in_body:
                    assert one.left() == one.scan.ticks_left()
                    counts = (one.scan.error_count(), one.scan.wrong_count())
                    assert one.scan.fault_counts() == counts and one._seen in (None, counts)


def _judge_state(judge: TuneJudge) -> tuple:
    scan = judge.scan
    left = scan.ticks_left() if scan.in_body else None
    return (scan.pending, len(scan.bars), scan.fault_counts(), left, scan.in_header,
            judge.after_bar_line, judge.line_head, judge.tail, judge.line, judge.lines)  # fmt: skip


# Bar lines of every kind: `]|` after a stray `]` and after a chord, a multi-bar rest, an
# ending's list
BAR_LINE_TUNES = [
    "X:1\nM:C\nL:1/8\nK:G\nB>A|A2 A2 A2]|B>c d4|]\n",
    "X:2\nM:3/4\nL:1/8\nK:D\n[DF]2 A2 [Ad]2]|d6|[|A6|:B6::c6:|[1d6:|[2e6|.|f6||\n",
    "X:3\nM:4/4\nL:1/8\nK:D\nZ4|ABcd efga|:ABcd efga|1,3 ABcd efga:|2 ABcd efga|]\n",
]


def test_a_bar_starts_from_the_judge_as_it_was_before_its_symbol(oneills):
    """The sampler goes back to a bar's start with `bar_start`, the state before the symbol that
    said BAR (the model's state is saved before it too): it must not have read that symbol.
    `]|` closes its bar at the `|`, with no `|` or `:` before it."""
    for text in BAR_LINE_TUNES + [tune.text for tune in oneills.tunes[:40]]:
        judge = TuneJudge()
        for char in text:
            before = _judge_state(judge.copy())
            if judge.feed(char) == BAR:
                assert _judge_state(judge.bar_start) == before, (text, char)


def test_instruction_part_voice_and_abbreviation_lines_are_never_written():
    """A model that would open every header line with I:, P:, U: or V: (abc2midi: an
    instruction it may not know, "P: field in header should go after K: field", a second voice,
    "Missing '=' U: field ignored") opens it otherwise."""
    model = tiny("lstm")
    with torch.no_grad():
        for letter in "IPUV":
            model.head.bias[VOCAB.index[letter]] = 50.0
    options = SamplingOptions(seed=3, max_symbols=120)
    tunes = sample_grammar(model, VOCAB, 4, options, "", HeaderPlan(), FormPlan(), GrammarStats())
    starts = {line[:2] for tune in tunes for line in tune.splitlines()}
    assert starts and not starts & {"I:", "P:", "U:", "V:"}
