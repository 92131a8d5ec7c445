"""Thread pools: --threads parsing, the environment tunegen sets, BLAS limits for the sampler."""

from __future__ import annotations

import argparse

import pytest
import torch
from threadpoolctl import threadpool_info

from tunegen.cli import build_parser, main
from tunegen.data.vocab import Vocabulary
from tunegen.models import build_model
from tunegen.runtime import threads
from tunegen.sampling.sampler import SamplingOptions, compose


@pytest.fixture(autouse=True)
def fresh_count(monkeypatch):
    """No test reuses (or leaves behind) a count of the free cores taken under another test's
    stand-ins for the machine."""
    monkeypatch.setattr(threads, "_counted", None)


def blas_count() -> int:
    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


@pytest.mark.parametrize("text", ["1", "2", "16", " 4"])
def test_threads_accepts_a_positive_count(text):
    assert threads.parse_threads(text) == int(text)


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", "", "99999"])
def test_threads_refuses_anything_else(text):
    with pytest.raises(argparse.ArgumentTypeError, match="thread count"):
        threads.parse_threads(text)


@pytest.mark.parametrize("command", ["train", "generate"])
def test_train_and_generate_take_threads(command):
    args = build_parser().parse_args([command, "--threads", "3"])
    assert args.threads == 3
    assert build_parser().parse_args([command]).threads is None


def test_a_bad_thread_count_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "--threads: '0' is not a thread count (1-1024)" in capsys.readouterr().err


def test_free_cores_is_between_one_and_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "machine_cores", lambda: 8)
    for others, free in ((0, 8), (3, 5), (7, 1), (40, 1)):
        monkeypatch.setattr(threads, "others_running", lambda others=others, **_: others)
        assert threads.free_cores() == free


def test_other_running_threads_are_read_from_proc(monkeypatch, tmp_path):
    readings = iter([f"0.50 0.40 0.30 {n}/300 99\n" for n in (4, 9, 3, 4, 5)])
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/loadavg":
            (tmp_path / "loadavg").write_text(next(readings))
            return real_open(tmp_path / "loadavg", *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(threads, "_own_running", lambda: 1)  # this thread alone
    # the fewest of 4, 9, 3, 4, 5 (a thread runnable in every read), less this thread
    assert threads.others_running() == 2
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    assert threads.others_running() == 0


@pytest.fixture
def clean_environment(monkeypatch):
    for name in (*threads.POOL_VARIABLES, "OMP_WAIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_AUTOMATIC", False)  # no earlier automatic choice
    before = (torch.get_num_threads(), blas_count())
    yield monkeypatch
    torch.set_num_threads(before[0])
    threads.set_blas_threads(before[1])


def test_defaults_are_passive_waits_and_the_free_cores(clean_environment):
    clean_environment.setattr(threads, "free_cores", lambda: 3)
    assert threads.prepare_environment() == 3
    environ = threads.os.environ
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert [environ[name] for name in threads.POOL_VARIABLES] == ["3", "3", "3"]
    assert torch.get_num_threads() == 3


def test_what_the_user_set_wins_over_the_default(clean_environment):
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    clean_environment.setenv("OPENBLAS_NUM_THREADS", "2")
    clean_environment.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert threads.prepare_environment() == 1
    environ = threads.os.environ
    assert (environ["OPENBLAS_NUM_THREADS"], environ["MKL_NUM_THREADS"]) == ("2", "1")
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_threads_option_wins_over_the_environment(clean_environment):
    clean_environment.setenv("OMP_NUM_THREADS", "4")
    assert threads.prepare_environment(2) == 2
    assert all(threads.os.environ[name] == "2" for name in threads.POOL_VARIABLES)
    assert (torch.get_num_threads(), blas_count()) == (2, 2)


def test_small_products_use_one_thread_large_ones_the_budget():
    assert threads.product_threads(1, 256, 512, budget=4) == 1  # a 128-unit layer at batch 1
    assert threads.product_threads(1, 512, 1024, budget=4) == 4  # a 256-unit one
    assert threads.product_threads(64, 1024, 2048, budget=4) == 4
    assert threads.product_threads(64, 1024, 2048, budget=1) == 1


def test_nested_limits_never_exceed_a_job_and_restore_the_pool():
    threads.set_blas_threads(2)
    with threads.blas_threads(2):
        assert blas_count() == 2
        with threads.blas_threads(1):
            assert blas_count() == 1  # the smallest count any running job asked for
        assert blas_count() == 2
    assert blas_count() == 2


def test_thread_counts_do_not_change_the_samples():
    vocab = Vocabulary.from_texts(["T:a\nK:C\nabc|\n"])
    torch.manual_seed(0)
    model = build_model(
        {"vocab_size": len(vocab), "kind": "lstm", "hidden_size": 512, "num_layers": 1}
    ).eval()
    options = SamplingOptions(max_symbols=40, seed=5)
    books = [compose(model, vocab, 16, options, threads=n).tunebook for n in (1, 2)]
    assert books[0] == books[1]


def test_this_process_own_running_threads_are_not_others(monkeypatch, tmp_path):
    """numpy's OpenBLAS threads spin for a while after it starts: they are this process's own,
    and must not make a quiet machine look busy."""
    stats = {"101": "101 (python) R 1 2", "102": "102 (py thon)) S 1 2", "103": "103 (x) R 1"}
    real_open, real_listdir = open, threads.os.listdir

    def fake_open(path, *args, **kwargs):
        path = str(path)
        if path == "/proc/loadavg":
            (tmp_path / "f").write_text("0.1 0.1 0.1 5/300 9\n")
        elif path.startswith("/proc/self/task/"):
            (tmp_path / "f").write_text(stats[path.split("/")[4]])
        else:
            return real_open(path, *args, **kwargs)
        return real_open(tmp_path / "f", *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(
        threads.os, "listdir", lambda p: list(stats) if p == "/proc/self/task" else real_listdir(p)
    )
    assert threads._own_running() == 2  # 101 and 103 run; 102 sleeps
    assert threads.others_running() == 3


def test_sampling_takes_fewer_threads_once_another_job_starts(clean_environment):
    """Pools sized to two free cores when the process started; later another job runs: a
    sampling run of a large product takes one thread, unless the user chose the count."""
    clock = [1000.0]
    clean_environment.setattr(threads.time, "monotonic", lambda: clock[0])
    clean_environment.setattr(threads, "machine_cores", lambda: 2)
    clean_environment.setattr(threads, "others_running", lambda **_: 0)
    assert threads.prepare_environment() == 2
    assert threads.product_threads(64, 512, 1024) == 2
    clean_environment.setattr(threads, "others_running", lambda **_: 2)  # a job started
    clock[0] += 0.5  # the count taken at the start is still fresh: not counted again
    assert threads.product_threads(64, 512, 1024) == 2
    clock[0] += threads.FREE_CORES_FRESH_S  # a later sampling run counts again
    assert threads.product_threads(64, 512, 1024) == 1
    assert threads.prepare_environment() == 1  # asked again: the free cores again
    threads.prepare_environment(2)  # --threads 2: the user's count stands
    assert threads.product_threads(64, 512, 1024) == 2
