"""Hostile input through every command: exit code 2 and one line on stderr, never a traceback,
a hang or a silent success; nothing that existed before is changed."""

from __future__ import annotations

import hashlib
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunegen.cli import build_parser, main
from tunegen.music.abc import parse_tunebook
from tunegen.sampling.sampler import HeaderPlan, SamplingOptions
from tunegen.training.config import TrainConfig

SRC = str(Path(__file__).parents[1] / "src")
TUNE = "X:1\nT:Small\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|\n"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """tests' hostile inputs, made fresh: every one of them a file a user might pass by mistake."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "empty.abc").write_bytes(b"")
    (folder / "binary.abc").write_bytes(bytes(range(256)) * 64)
    (folder / "latin1.abc").write_bytes(TUNE.replace("Small", "Caf\xe9").encode("latin-1"))
    (folder / "huge-line.abc").write_text("X:1\nK:C\n" + "abc " * 250_000 + "\n")
    (folder / "truncated.abc").write_text(TUNE[:20])
    (folder / "tiny.abc").write_text(TUNE + "\n" + TUNE.replace("Small", "Other"))
    (folder / "loop-a.abc").symlink_to(folder / "loop-b.abc")
    (folder / "loop-b.abc").symlink_to(folder / "loop-a.abc")
    (folder / "text.ckpt").write_text("epoch 1, loss 2.3\n")
    (folder / "zero.ckpt").write_bytes(b"")
    (folder / "binary.ckpt").write_bytes(os.urandom(4096))
    header = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01"
    track = b"MTrk\x00\x00\x00\x0c\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xff\x2f\x00"
    (folder / "division0.mid").write_bytes(header + b"\x00\x00" + track)
    (folder / "truncated.mid").write_bytes(header + b"\x01\xe0" + track[:9])
    (folder / "text.mid").write_text(TUNE)
    (folder / "existing.abc").write_text("my own tunes\n")
    (folder / "file").write_text("a file where a folder should be\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "link"
        for p in sorted(folder.rglob("*"))
        if p.is_symlink() or p.is_file()
    }


def run_main(args: list[str], capsys) -> tuple[int, list[str]]:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def assert_one_line_error(args: list[str], capsys, *expected: str) -> str:
    code, err = run_main(args, capsys)
    assert code == 2, (args, code, err)
    assert len(err) == 1 and "error" in err[0], (args, err)
    for text in expected:
        assert text in err[0], (args, err)
    return err[0]


# ------------------------------------------------------------------ files through every command
FILE_CASES = [
    (["train", "--abc", "{h}/empty.abc", "--out", "{t}/r"], "no usable tunes"),
    (["train", "--abc", "{h}/binary.abc", "--out", "{t}/r"], "no usable tunes"),
    (["train", "--abc", "{h}/latin1.abc", "--out", "{t}/r"], "at least 2 tunes"),
    (["train", "--abc", "{h}/huge-line.abc", "--out", "{t}/r"], "tunes"),
    (["train", "--abc", "{h}/truncated.abc", "--out", "{t}/r"], "tunes"),
    (["train", "--abc", "{h}/tiny.abc", "--out", "{t}/r"], "too few for 64 streams"),
    (["train", "--abc", "{h}/loop-a.abc", "--out", "{t}/r"], "loop-a.abc"),
    (["train", "--midi", "{h}/division0.mid", "{h}/text.mid", "--out", "{t}/r"], "division0"),
    (["train", "--resume", "{h}/text.ckpt"], "text.ckpt: not a readable checkpoint"),
    (["train", "--out", "{h}/file/run", "--abc", "{h}/tiny.abc"], "file/run"),
    (["generate", "{h}/text.ckpt", "--out", "{t}/x.abc"], "text.ckpt"),
    (["generate", "{h}/zero.ckpt", "--out", "{t}/x.abc"], "zero.ckpt"),
    (["generate", "{h}/binary.ckpt", "--out", "{t}/x.abc"], "binary.ckpt"),
    (["generate", "{h}/missing.ckpt", "--out", "{t}/x.abc"], "missing.ckpt"),
    (["generate", "--out", "{h}/existing.abc"], "already exists"),
    (["generate", "--out", "{h}/file/x.abc", "--num-tunes", "1"], "file"),
    (["info", "{h}/text.ckpt"], "text.ckpt"),
    (["info", "{h}/loop-a.abc"], "loop-a.abc"),
    (["export", "{h}/binary.ckpt", "--out", "{t}/x.ckpt"], "binary.ckpt"),
    (["export", "{h}/text.ckpt", "--out", "{h}/existing.abc"], "already exists"),
    (["evaluate", "{h}/text.ckpt"], "text.ckpt"),
    (["evaluate", "--tunes", "{h}/binary.abc", "--against", "{h}/tiny.abc"], "binary.abc"),
    (["evaluate", "--tunes", "{h}/empty.abc", "--against", "{h}/tiny.abc"], "empty.abc"),
    (["render", "{h}/binary.abc", "--out", "{t}/r"], "binary.abc"),
    (["render", "{h}/loop-a.abc", "--out", "{t}/r"], "loop-a.abc"),
    (["render", "{h}/tiny.abc", "--out", "{h}/file"], "file"),
]


def test_hostile_files_through_every_command(hostile, tmp_path, capsys):
    before = snapshot(hostile)
    for args, expected in FILE_CASES:
        args = [a.format(h=hostile, t=tmp_path) for a in args]
        assert_one_line_error(args, capsys, expected)
    assert snapshot(hostile) == before
    assert not any(p for p in tmp_path.rglob("*") if p.is_file()), "a failed command wrote"


def test_commands_that_would_write_into_a_read_only_place(trained, hostile, tmp_path, capsys):
    """--out under a file (a read-only folder for root too) or under a read-only folder."""
    folders = [hostile / "file"]
    if os.geteuid() != 0:  # root writes anywhere: a file in the path stands in for it
        read_only = tmp_path / "ro"
        read_only.mkdir(mode=0o555)
        folders.append(read_only)
    for folder in folders:
        for args in (
            ["generate", str(trained), "--num-tunes", "1", "--max-chars", "5"],
            ["export", str(trained / "best.ckpt")],
            ["train", "--abc", str(hostile / "tiny.abc"), "--batch-size", "1", "--epochs", "1"],
        ):
            assert_one_line_error([*args, "--out", str(folder / "sub" / "x")], capsys)
        tunes = hostile / "tiny.abc"
        evaluate = ["evaluate", "--tunes", str(tunes), "--against", str(tunes), "--no-validity"]
        assert_one_line_error([*evaluate, "--out", str(folder / "report")], capsys)


# --------------------------------------------------------------- every numeric option, every way
BAD = ["0", "-5", "nan", "inf", "-inf", "1e30", "99999999999999999999", "abc", ""]
# values that are legal for an option (0 seed, no dropout, no clipping...): not hostile there
LEGAL = {
    "--seed": {"0"},
    "--dropout": {"0"},
    "--grad-clip": {"0", "1e30", "99999999999999999999"},
    "--max-minutes": {"1e30", "99999999999999999999"},
    "--program": {"0"},
    "--top-k": {"0", "1e30", "99999999999999999999"},
    "--max-samples": {"0", "-5", "99999999999999999999"},  # only read with --keep
}
NUMERIC = {
    "train": ["--embedding-size", "--hidden-size", "--layers", "--dropout", "--d-model",
              "--heads", "--context", "--batch-size", "--seq-len", "--lr", "--grad-clip",
              "--epochs", "--max-minutes", "--val-fraction", "--checkpoint-every", "--seed",
              "--num-nodes", "--devices"],
    "generate": ["--num-tunes", "--temperature", "--header-temperature", "--top-k", "--top-p",
                 "--max-chars", "--seed", "--max-samples", "--program"],
    "export": ["--temperature", "--header-temperature"],
    "evaluate": ["--jobs"],
    "render": ["--program"],
    "serve": ["--port"],
}  # fmt: skip


def base_args(command: str, hostile: Path, trained: Path, tmp: Path) -> list[str]:
    return {
        # a corpus that does not exist: a legal value fails there, never trains
        "train": ["train", "--abc", str(tmp / "none.abc"), "--out", str(tmp / "run")],
        # a primer the model cannot read: a legal value fails there, never samples
        "generate": ["generate", str(trained), "--out", str(tmp / "x.abc"), "--primer", "\u2603"],
        "export": ["export", str(trained), "--out", str(tmp / "x.ckpt")],
        "evaluate": ["evaluate", "--tunes", str(tmp / "none.abc"), "--against", "x"],
        "render": ["render", str(tmp / "none.abc"), "--out", str(tmp / "r")],
        "serve": ["serve", "--models", str(tmp / "no-such-folder")],
    }[command]


def test_every_numeric_option_at_zero_negative_nan_inf_and_huge(hostile, trained, tmp_path, capsys):
    unnamed = []
    for command, options in NUMERIC.items():
        base = base_args(command, hostile, trained, tmp_path)
        for option in options:
            for value in BAD:
                line = assert_one_line_error([*base, f"{option}={value}"], capsys)
                if value not in LEGAL.get(option, ()) and option not in line:
                    unnamed.append((option, value, line[16:60]))
    assert not unnamed, f"these errors do not name the bad option: {unnamed}"
    assert not (tmp_path / "x.abc").exists() and not (tmp_path / "x.ckpt").exists()


def test_generate_header_options_and_temperatures(trained, tmp_path, capsys):
    out = ["--out", str(tmp_path / "x.abc"), "--num-tunes", "1"]
    for option, value in [
        ("--meter", "7/0"), ("--meter", "0/4"), ("--meter", "abc"), ("--key", "Xyz"),
        ("--title", "X\nK:Xyz"), ("--title", ""), ("--temperature", "nan"),
        ("--temperature", "inf"), ("--seed", "-5"), ("--num-tunes", "10000000"),
        ("--max-chars", "10000000"),
    ]:  # fmt: skip
        assert_one_line_error(["generate", str(trained), *out, option, value], capsys, option)
    assert not (tmp_path / "x.abc").exists()
    export = ["export", str(trained), "--out", str(tmp_path / "x.ckpt"), "--temperature", "nan"]
    assert_one_line_error(export, capsys, "--temperature")
    assert not list(tmp_path.iterdir())


def test_hand_edited_checkpoint_metadata(trained, tmp_path, capsys):
    from tunegen.models.checkpoint import read_checkpoint_file, write_checkpoint

    edits = {
        "vocab": lambda m: m["vocab"]["symbols"].pop(),
        "model": lambda m: m["model"].update(hidden_size=7),
        "model kind": lambda m: m["model"].update(kind="gru"),
        "training": lambda m: m["training"].update(batch_size="lots"),
        "corpus": lambda m: m.pop("corpus"),
        "temperature": lambda m: m.update(sampling={"temperature": math.nan}),
    }
    for name, edit in edits.items():
        raw = read_checkpoint_file(trained / "best.ckpt")
        edit(raw["tunegen"])
        path = tmp_path / f"{name}.ckpt"
        write_checkpoint(raw, path)  # a valid file whose weights verify: only the metadata lies
        for command in (["info"], ["generate", "--out", str(tmp_path / "x.abc")]):
            assert_one_line_error([*command[:1], str(path), *command[1:]], capsys, path.name)
        assert_one_line_error(["train", "--resume", str(path)], capsys, path.name)


def test_resuming_an_abc_checkpoint_with_midi_is_refused(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert_one_line_error(["train", "--resume", str(run), "--midi", "x.mid"], capsys, "--midi")


def test_train_refuses_a_folder_holding_another_runs_files(hostile, tmp_path, capsys):
    for name in ("log.csv", "curves.png", "corpus-train.txt"):
        run = tmp_path / name
        run.mkdir()
        (run / name).write_text("precious\n")
        args = ["train", "--abc", str(hostile / "tiny.abc"), "--out", str(run)]
        assert_one_line_error(args, capsys, name, "--force")
        assert (run / name).read_text() == "precious\n"


# ------------------------------------------------------------------- as a user runs it, bounded
def run_bounded(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The CLI in its own process, with 3 GiB of address space and a minute at most."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run(
        [sys.executable, "-m", "tunegen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": SRC},
        preexec_fn=limit,
    )


def test_cli_processes_stay_bounded_and_say_one_line(hostile, trained, tmp_path):
    for args in (
        ["generate", str(trained), "--num-tunes", "2000000"],
        ["train", "--abc", str(hostile / "tiny.abc"), "--batch-size", "100000"],
    ):
        result = run_bounded(args, tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr[-2000:])
        assert "Traceback" not in result.stdout + result.stderr


def _wait_for_sigint_handler(pid: int, seconds: float = 60.0) -> None:
    """Wait until the child's interpreter catches SIGINT (Linux: SigCgt in /proc): before
    that, on a busy machine, a Ctrl-C kills the process before Python has started at all."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            caught = next(
                line for line in status.read_text().splitlines() if line.startswith("SigCgt:")
            )
        except (OSError, StopIteration):
            return  # no /proc (not Linux) or the process has ended: send the signal now
        if int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.05)


@pytest.mark.parametrize("delay", [0.5, 1.2, 2.0])
def test_ctrl_c_during_start_up_is_one_line(hostile, tmp_path, delay):
    """SIGINT while the libraries load or the corpus is read: exit 130, one line, no traceback
    (never the SIGINT status -2 that CPython gives when the interrupt landed in code that an
    extension ran while importing: see cli.run)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tunegen", "train", "--abc", "oneills1850", "--out", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": SRC},
        # a background shell job starts with Ctrl-C ignored: restore it, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_sigint_handler(process.pid)
    time.sleep(delay)  # into the imports, or the reading
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines() == ["tunegen: interrupted"], err[-2000:]


# ------------------------------------------------------------------------------ Hypothesis
PARSER = build_parser()
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=st.sampled_from(sorted(NUMERIC)),
    option=st.sampled_from(sorted({o for opts in NUMERIC.values() for o in opts})),
    value=st.one_of(texts, st.floats().map(str), st.integers().map(str)),
)
def test_option_parsers_never_crash(command, option, value):
    required = {"export": ["x.ckpt", "--out", "y.ckpt"], "render": ["x.abc"]}
    try:
        args = PARSER.parse_args([command, *required.get(command, []), f"{option}={value}"])
    except SystemExit as exit_:
        assert exit_.code == 2
        return
    assert args.command == command


@settings(max_examples=200, deadline=None)
@given(
    temperature=st.one_of(st.none(), st.floats()),
    top_k=st.integers(-10, 10**6),
    top_p=st.floats(),
    max_chars=st.integers(-10, 10**7),
    seed=st.one_of(st.none(), st.integers(-(2**64), 2**64)),
    meter=st.one_of(st.none(), texts),
    key=st.one_of(st.none(), texts),
    title=st.one_of(st.none(), texts),
)
def test_sampling_and_header_validation_is_total(
    temperature, top_k, top_p, max_chars, seed, meter, key, title
):
    """validate() either passes or raises UsageError: never another exception, never NaN kept."""
    from tunegen.errors import UsageError

    options = SamplingOptions(temperature, top_k, top_p, max_chars, seed)
    try:
        options.validate()
    except UsageError:
        pass
    else:
        assert 0 < options.temperature <= 100 and 0 < top_p <= 1 and 1 <= max_chars <= 100_000
    plan = HeaderPlan(title, meter, key)
    try:
        plan.validate()
    except UsageError:
        pass
    else:
        for value in (title, meter, key):
            assert value is None or ("\n" not in value and value.strip())


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "batch_size": st.integers(-5, 10**6),
            "seq_len": st.integers(-5, 10**6),
            "lr": st.floats(),
            "grad_clip": st.floats(),
            "val_fraction": st.floats(),
            "max_minutes": st.one_of(st.none(), st.floats()),
            "seed": st.integers(-(2**40), 2**40),
            "epochs": st.integers(-5, 10**7),
        }
    )
)
def test_train_config_validation_is_total(values):
    from tunegen.errors import UsageError

    config = TrainConfig(**values)
    try:
        config.validate()
    except UsageError:
        return
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert math.isfinite(config.lr) and 0 < config.val_fraction <= 0.5


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_abc_reader_never_raises(text):
    tunes, report = parse_tunebook(text, "fuzz.abc")
    assert report.read >= len(tunes)
    for tune in tunes:
        assert "\n\n" not in tune.text  # a blank line ends a tune: a split stays exact


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_abc_and_midi_bytes_never_raise(data):
    from tunegen.errors import CorpusError
    from tunegen.music.abc import decode_abc_bytes
    from tunegen.music.midi import parse_midi_parts

    for reader in (decode_abc_bytes, parse_midi_parts):
        try:
            reader(data, "fuzz")
        except CorpusError as err:
            assert str(err).startswith("fuzz")


def test_hand_edited_numbers_that_info_prints(trained, tmp_path, capsys):
    from tunegen.models.checkpoint import read_checkpoint_file, write_checkpoint

    raw = read_checkpoint_file(trained / "best.ckpt")
    raw["tunegen"]["best_val_bpc"] = "great"
    write_checkpoint(raw, tmp_path / "edited.ckpt")
    assert_one_line_error(["info", str(tmp_path / "edited.ckpt")], capsys, "best_val_bpc")
