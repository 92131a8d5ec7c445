"""Thread pools that share the machine: passive OpenMP waits, thread counts from free cores.

OpenMP (torch) and OpenBLAS (numpy) threads that spin while they wait for a core held by
another program make a busy machine 15-40x slower. tunegen therefore:

- sets OMP_WAIT_POLICY=PASSIVE (threads sleep while they wait) before torch is imported,
- sizes every pool to `--threads N`, or by default to the cores that are free now
  (cores minus the other programs' threads runnable now, at least 1),
- uses one BLAS thread for the sampler's small matrix products, which OpenBLAS does not
  split, and its share of the threads for larger ones.

A variable the user set (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS,
OMP_WAIT_POLICY) is left as it is, unless `--threads` asks for a number explicitly.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import threading
import time
from collections.abc import Iterator

POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Below this many multiply-adds per step (batch x inputs x outputs) one BLAS thread is as fast:
# OpenBLAS does not split a 128-unit layer's [1, 256] @ [256, 512] (0.13 M); a 256-unit layer's
# [1, 512] @ [512, 1024] (0.5 M) takes 28 us on one quiet core and 17.5 us on two, and at batch
# 64 (34 M) two cores nearly halve the time too (2026-12-05). On a busy machine the budget, the
# cores free now, is one thread anyway.
SMALL_PRODUCT = 250_000


def machine_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# A count of the free cores younger than this is taken again by a sampling run rather than
# counted anew: counting reads /proc a dozen times and sleeps between reads (1.7 ms, 5% of a
# short tune's sampling), and `tunegen generate` has counted them as it started, just before.
FREE_CORES_FRESH_S = 1.0
_counted: tuple[float, int] | None = None  # (time.monotonic(), free cores) of the last count


def free_cores(gap: float = 0.001, fresh: float = 0.0) -> int:
    """Cores not busy now, at least 1: the cores minus the other programs' threads runnable at
    this moment. Not the load average: it takes a minute to see a job that has just started, and
    it counts this program's own work of the last minute (a second `generate` right after a
    first would take one core for busy). `fresh`: a count at most this many seconds old is
    answered again without counting."""
    global _counted
    now = time.monotonic()
    if fresh > 0 and _counted is not None and now - _counted[0] <= fresh:
        return _counted[1]
    cores = machine_cores()
    free = max(1, min(cores, cores - others_running(gap=gap)))
    _counted = (now, free)
    return free


def others_running(reads: int = 5, gap: float = 0.001) -> int:
    """Threads of other programs runnable now: /proc/loadavg's count of runnable threads less
    this process's own, the fewest of `reads` reads `gap` seconds apart; 0 where there is no
    such file (not Linux). Our own threads come and go (numpy's OpenBLAS threads spin a while
    after each product, then sleep): one runnable just before or just after a read counts as
    ours. Another program's busy threads are runnable in every read."""
    counts = []
    for read in range(reads):
        if read:
            time.sleep(gap)
        before = _own_running()
        try:
            with open("/proc/loadavg", encoding="ascii") as file:
                running = int(file.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(running - max(before, _own_running()))
    return max(0, min(counts))


def _own_running() -> int:
    """This process's threads that are runnable now (at least 1: the one asking)."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", encoding="ascii", errors="replace") as file:
                count += file.read().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(1, count)


def parse_threads(text: str) -> int:
    """argparse type for --threads: a whole number from 1 to 1024."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a thread count (1-1024)")
    return int(text)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """The --threads option of `train` and `generate`."""
    parser.add_argument(
        "--threads",
        type=parse_threads,
        metavar="N",
        help="CPU threads for torch and numpy (default: the cores free now, i.e. cores minus "
        "other programs' threads running now, at least 1; or OMP_NUM_THREADS if set)",
    )


def prepare_environment(threads: int | None = None) -> int:
    """Set the thread variables before torch or numpy start their pools; return the count used.

    `threads` (from --threads) overrides the variables; otherwise a variable the user set wins,
    and unset ones get `free_cores()`. Pools already running (torch imported earlier, as in
    tests) are resized too.
    """
    global _AUTOMATIC
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads is None:
        user = "" if _AUTOMATIC else os.environ.get("OMP_NUM_THREADS", "")
        _AUTOMATIC = not (user.isdigit() and int(user) > 0)
        threads = free_cores() if _AUTOMATIC else int(user)
        for name in POOL_VARIABLES:
            if _AUTOMATIC:
                os.environ[name] = str(threads)
            else:
                os.environ.setdefault(name, str(threads))
    else:
        _AUTOMATIC = False
        for name in POOL_VARIABLES:
            os.environ[name] = str(threads)
    if "torch" in sys.modules:  # already started: resize its pool (a no-op when it matches)
        sys.modules["torch"].set_num_threads(threads)
    set_blas_threads(threads)
    return threads


def set_blas_threads(threads: int) -> None:
    """Resize the BLAS pools already loaded (numpy's OpenBLAS); later loads read the variables."""
    if "numpy" not in sys.modules:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")


def product_threads(batch: int, inputs: int, outputs: int, budget: int | None = None) -> int:
    """BLAS threads that help a [batch, inputs] @ [inputs, outputs] product: one for small
    products, else `budget` (default: the process's thread count)."""
    if batch * inputs * outputs < SMALL_PRODUCT:
        return 1
    return max(1, budget if budget is not None else _process_threads())


def _process_threads() -> int:
    """The BLAS threads a sampling run may use: the count the user chose (--threads, or a
    variable they set), else the cores free now, at most the pool's size. A long-lived process
    (the web server, a notebook) that sized its pools on a quiet machine then uses one thread
    once another job starts: two threads beside it wait on each other, 50-170x slower."""
    text = os.environ.get("OPENBLAS_NUM_THREADS", "")
    chosen = int(text) if text.isdigit() and int(text) > 0 else None
    if chosen is not None and not _AUTOMATIC:
        return chosen
    return min(chosen or machine_cores(), free_cores(gap=0.0002, fresh=FREE_CORES_FRESH_S))


class _BlasLimits:
    """Thread-safe BLAS limits for overlapping jobs: the pool runs with the smallest count any
    active job asked for (a job never gets more threads than it wants), and goes back to the
    count it had when the last job ends. threadpoolctl's own limits are process-wide and restore
    on exit, so two overlapping jobs would leave each other's limit behind.

    OpenBLAS 0.3.31 (numpy's) ignores a new count set from any thread but the main one, so the
    web server sizes its pools once, in the main thread, to one job's share (Studio).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, int] = {}
        self._tokens = itertools.count()
        self._controller = None
        self._base: int | None = None

    def _set(self, threads: int) -> None:
        self._controller.limit(limits=threads, user_api="blas")

    def find_pools(self) -> None:
        """Find the BLAS libraries loaded (threadpoolctl reads every shared library of the
        process: 5-10 ms, once)."""
        from threadpoolctl import ThreadpoolController

        with self._lock:
            if self._controller is None:
                self._controller = ThreadpoolController()

    @contextlib.contextmanager
    def limit(self, threads: int) -> Iterator[None]:
        self.find_pools()
        token = next(self._tokens)
        with self._lock:
            if not self._active:
                blas = self._controller.select(user_api="blas").info()
                self._base = max((lib["num_threads"] for lib in blas), default=1)
            self._active[token] = threads
            self._set(min(self._active.values()))
        try:
            yield
        finally:
            with self._lock:
                del self._active[token]
                self._set(min(self._active.values()) if self._active else self._base or 1)


_LIMITS = _BlasLimits()
# True when prepare_environment sized the pools to the free cores itself (no --threads, no
# variable of the user's): sampling then checks the free cores again each time
_AUTOMATIC = False


def blas_threads(threads: int) -> contextlib.AbstractContextManager[None]:
    """Run a block with at most `threads` BLAS threads (safe when jobs overlap in threads)."""
    return _LIMITS.limit(threads)


def find_blas_pools() -> None:
    """Do the once-per-process search for BLAS libraries now (a command's start-up), not in the
    first block that limits their threads (a sampling run that it would slow by 5-10 ms)."""
    _LIMITS.find_pools()
