"""Crash-isolating workers: run a function in a child process with a time limit it cannot outlive.

Verovio crashes its process on some malformed ABC (std::out_of_range, a segmentation fault),
and music21 can run for minutes and grow to gigabytes on a tune such as M:1000000/1. So the
work on one tune runs in a child process: a crash or a timeout costs that tune one line in its
report and a restart of the worker, never the caller. The child's stderr goes to a file, so a
crash prints nothing into the user's terminal; its last telling line becomes the reason.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tunegen.errors import TunegenError, WorkerError

# Lines of a crashed child's stderr that say what happened, most telling first.
_CRASH_MARKERS = ("terminate called", "what():", "Fatal Python error", "MemoryError", "Error")


def _child(connection: Connection, stderr_path: str, initializer: Callable[[], None] | None):
    """Child loop: receive (function, args), send ("ok", value) or ("error", reason)."""
    os.setpgrp()  # its own process group: a kill also ends what it started (fluidsynth)
    fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.enable()  # a segmentation fault writes its one-line name to that stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if initializer is not None:
        initializer()
    while (job := connection.recv()) is not None:
        function, args = job
        try:
            connection.send(("ok", function(*args)))
        except Exception as err:  # reported to the caller as this one item's failure
            connection.send(("error", failure_reason(err)))


def failure_reason(err: BaseException) -> str:
    """One line for a failure: a tunegen error's own text; anything else is named by its type."""
    text = (str(err).strip().split("\n", 1)[0] or type(err).__name__)[:300]
    return text if isinstance(err, TunegenError) else f"unexpected {type(err).__name__}: {text}"


class Worker:
    """One child process that runs module-level functions, one call at a time.

    `send` then `receive` pipelines a call with other work; `call` does both. A call that
    crashes the child or runs past its time limit raises WorkerError and kills the child (and
    anything it started); the next call starts a fresh one. After `close`, calls are refused.
    """

    def __init__(self, name: str, initializer: Callable[[], None] | None = None) -> None:
        self.name, self.initializer = name, initializer
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._stderr = Path(tempfile.mkstemp(prefix=f"tunegen-{name}-", suffix=".log")[1])
        self._offset = 0
        self._lock = threading.Lock()  # close() may come from another thread (server shutdown)
        self._closed = False

    def _start(self) -> Connection:
        with self._lock:
            if self._closed:
                raise WorkerError(f"{self.name}: stopped")
            # spawn, not fork: the caller may have threads (the web server, torch)
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(
                target=_child, args=(child, str(self._stderr), self.initializer), daemon=True
            )
            self._process.start()
            child.close()
            self._connection = parent
            return parent

    def send(self, function: Callable[..., Any], *args: Any) -> None:
        """Start `function(*args)` in the child, starting the child if needed."""
        self._offset = self._stderr.stat().st_size if self._stderr.exists() else 0
        connection = self._connection or self._start()
        try:
            connection.send((function, args))
        except OSError:  # the child died after its last call: start another
            self._kill()
            self._start().send((function, args))

    def receive(self, timeout: float) -> Any:
        """The result of the call sent last; WorkerError if it failed, crashed or timed out."""
        connection = self._connection
        if connection is None:
            raise WorkerError(f"{self.name}: stopped")
        try:
            if not connection.poll(timeout):
                self._kill()
                raise WorkerError(f"{self.name} took over {timeout:.0f} s (stopped)")
            status, payload = connection.recv()
        except (EOFError, OSError) as err:
            code = self._kill()
            if self._closed:
                raise WorkerError(f"{self.name}: stopped") from None
            raise WorkerError(f"{self.name} crashed ({self._crash_reason(code)})") from err
        if status != "ok":
            raise WorkerError(payload)
        return payload

    def call(self, function: Callable[..., Any], *args: Any, timeout: float) -> Any:
        """`function(*args)` in the child, within `timeout` seconds."""
        self.send(function, *args)
        return self.receive(timeout)

    def _crash_reason(self, exitcode: int | None) -> str:
        """The telling line the child wrote to stderr, or the signal that ended it."""
        try:
            with self._stderr.open("rb") as file:
                file.seek(self._offset)
                lines = file.read(64_000).decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        for marker in _CRASH_MARKERS:
            found = [line.strip() for line in lines if marker in line]
            if found:
                return found[0][:200]
        if exitcode is not None and exitcode < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-exitcode).name}"
        return f"exit code {exitcode}"

    def _kill(self) -> int | None:
        """End the child and its process group now; its exit code (negative: a signal)."""
        with self._lock:
            process, connection = self._process, self._connection
            self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is None:
            return None
        if process.is_alive() and process.pid is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # not yet its own group leader
                process.kill()
        process.join()
        return process.exitcode

    def close(self) -> None:
        """Stop the child now and refuse further calls; safe from any thread, more than once."""
        self._closed = True
        self._kill()
        with contextlib.suppress(OSError):
            self._stderr.unlink()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WorkerPool:
    """Workers kept between calls of `map` (a child costs a second or two to start)."""

    def __init__(self, name: str, initializer: Callable[[], None] | None = None) -> None:
        self.name, self.initializer = name, initializer
        self.workers: list[Worker] = []

    def map(
        self, function: Callable[..., Any], items: Sequence[tuple], jobs: int, timeout: float
    ) -> list[Any]:
        """`function(*item)` for every item in `jobs` workers, each call within `timeout`; a
        failed item's entry is its WorkerError instead of a value, so one item never costs the
        others."""
        jobs = max(1, min(jobs, len(items)))
        while len(self.workers) < jobs:
            self.workers.append(Worker(self.name, self.initializer))
        results: list[Any] = [None] * len(items)
        order = iter(range(len(items)))
        lock = threading.Lock()

        def drain(worker: Worker) -> None:
            while True:
                with lock:
                    index = next(order, None)
                if index is None:
                    return
                try:
                    results[index] = worker.call(function, *items[index], timeout=timeout)
                except WorkerError as err:
                    results[index] = err

        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(drain, self.workers[:jobs]))
        return results

    def close(self) -> None:
        """Stop every worker; the pool starts new ones if used again."""
        for worker in self.workers:
            worker.close()
        self.workers = []
