"""Crash-isolating workers: time limits they cannot outlive, crashes told in one line."""

from __future__ import annotations

import os

import pytest
from conftest import BROKEN_ABC, GOLDEN_ABC
from worker_jobs import abort_like_cpp, double, fail, hang

from tunegen.errors import WorkerError
from tunegen.render.sheet import SheetRenderer
from tunegen.runtime.worker import Worker, WorkerPool


def test_a_call_past_its_time_limit_is_killed_and_the_worker_goes_on():
    with Worker("sleeper") as worker:
        with pytest.raises(WorkerError, match=r"sleeper took over 1 s \(stopped\)"):
            worker.call(hang, 600, timeout=1)
        assert worker.call(double, 21, timeout=60) == 42


def test_a_crash_is_one_line_from_the_workers_stderr_and_nothing_on_ours(capfd):
    with Worker("crasher") as worker:
        with pytest.raises(WorkerError) as caught:
            worker.call(abort_like_cpp, timeout=60)
        message = str(caught.value)
        assert message == (
            "crasher crashed (terminate called after throwing an instance of 'std::out_of_range')"
        )
        assert worker.call(double, 1, timeout=60) == 2
    assert capfd.readouterr().err == ""


def test_an_exception_in_the_worker_is_its_items_failure():
    pool = WorkerPool("mixed")
    try:
        results = pool.map(fail, [()], jobs=1, timeout=60)
        assert str(results[0]) == "unexpected ZeroDivisionError: Fraction(2, 0)"
        assert pool.map(double, [(1,), (2,), (3,)], jobs=2, timeout=60) == [2, 4, 6]
    finally:
        pool.close()


def test_verovio_crashing_is_one_line_per_tune_and_silent(capfd):
    with SheetRenderer() as renderer:
        renderer.submit(BROKEN_ABC["garbage"])  # verovio 6 crashes on it
        with pytest.raises(WorkerError) as caught:
            renderer.collect()
        renderer.submit(GOLDEN_ABC)
        assert renderer.collect()
    assert "\n" not in str(caught.value)
    assert capfd.readouterr().err == ""


def test_a_closed_worker_refuses_work_and_leaves_no_log():
    worker = Worker("closed")
    worker.call(double, 1, timeout=60)
    log = worker._stderr
    worker.close()
    assert not log.exists()
    with pytest.raises(WorkerError, match="stopped"):
        worker.call(double, 1, timeout=60)
    assert not [p for p in os.listdir(log.parent) if p == log.name]
