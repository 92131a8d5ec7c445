"""What the web page does, without the web: the models to pick from (each loaded once), composing
and rendering into a work folder by id, and a bound on how many such jobs run at once."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from tunegen.errors import BusyError, NotFoundError
from tunegen.models import checkpoint as checkpoints
from tunegen.render.tunebook import (
    RenderOptions,
    RenderReport,
    RenderWorkers,
    render_abc_text,
    render_saved_tune,
)
from tunegen.runtime.threads import free_cores, set_blas_threads
from tunegen.sampling.controls import ModelChoices, model_choices
from tunegen.sampling.form import FormPlan
from tunegen.sampling.sampler import (
    Composition,
    HeaderPlan,
    SamplingOptions,
    compose,
    with_model_defaults,
)

BUNDLED = "bundled"
MAX_JOBS = 2  # composing and rendering are CPU-bound: about one job per core
JOB_SECONDS = 300.0  # a render job's whole time; each tune also has its own limit (bounds.py)
_RENDER_ID = re.compile(r"[0-9a-f]{32}")
# What render_tunebook writes: NNN-slug.abc/.mid/.wav/.svg and NNN-slug-2.svg, ... (no index.html)
_RENDERED_FILE = re.compile(r"[0-9]{3,}-[a-z0-9-]+\.(?:abc|mid|wav|svg)")
# The page draws and plays tunes itself (abcjs): a job writes the ABC, and the MIDI and WAV
# only when they are downloaded (render_saved_tune), so a composed tune is on screen at once.
PAGE_FORMATS: tuple[str, ...] = ()
LAZY_FORMATS = {".mid": "midi", ".wav": "wav"}


def find_models(models_dir: Path | None) -> dict[str, Path]:
    """Checkpoints by name: "bundled" (when the package has one), then in `models_dir` each
    NAME.ckpt as NAME and each run folder's best.ckpt and last.ckpt as RUN/best and RUN/last."""
    found: dict[str, Path] = {}
    if checkpoints.BUNDLED_MODEL.is_file():
        found[BUNDLED] = checkpoints.BUNDLED_MODEL
    if models_dir is None or not models_dir.is_dir():
        return found
    for path in sorted(models_dir.glob("*.ckpt")):
        found.setdefault(path.stem, path)
    for run in sorted(path for path in models_dir.iterdir() if path.is_dir()):
        for which in ("best", "last"):
            if (run / f"{which}.ckpt").is_file():
                found.setdefault(f"{run.name}/{which}", run / f"{which}.ckpt")
    return found


class ModelCache:
    """Each checkpoint is loaded once and shared: sampling only reads the model's weights."""

    def __init__(self) -> None:
        self._loaded: dict[Path, checkpoints.Checkpoint] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> checkpoints.Checkpoint:
        """The loaded checkpoint at `path`, loading it on first use."""
        with self._lock:  # two first requests for one model must not load it twice
            if path not in self._loaded:
                self._loaded[path] = checkpoints.load_checkpoint(path)
            return self._loaded[path]


class JobGate:
    """At most `limit` jobs at once; when every slot is taken, refuse at once, never queue."""

    def __init__(self, limit: int = MAX_JOBS) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the duration of a job; BusyError if none is free."""
        if not self._slots.acquire(blocking=False):
            raise BusyError("the server is busy with other tunes; try again in a moment")
        try:
            yield
        finally:
            self._slots.release()


@dataclass
class Rendered:
    """One render job's output: its id (the name of its folder), the report, and the sampling."""

    render_id: str
    report: RenderReport
    composition: Composition | None = None
    settings: dict = field(default_factory=dict)


class Studio:
    """Composes and renders tunes into `work_dir`, one folder per job, named by a random id."""

    def __init__(
        self,
        models_dir: Path | None,
        work_dir: Path,
        render_options: RenderOptions | None = None,
        max_jobs: int = MAX_JOBS,
        job_seconds: float = JOB_SECONDS,
    ) -> None:
        self.models_dir = models_dir
        self.work_dir = work_dir
        self.render_options = render_options or RenderOptions(formats=PAGE_FORMATS)
        self._lazy = threading.Lock()  # one lazy render at a time: no two writers of one file
        self.cache = ModelCache()
        self.gate = JobGate(max_jobs)
        self.job_seconds = job_seconds
        # each job's share of the threads, so that max_jobs jobs at once do not oversubscribe
        threads = os.environ.get("OMP_NUM_THREADS", "")
        total = int(threads) if threads.isdigit() and int(threads) > 0 else free_cores()
        self.threads = max(1, total // max_jobs)
        self._idle: list[RenderWorkers] = []  # child processes kept warm between jobs
        self._busy: set[RenderWorkers] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._choices: dict[Path, ModelChoices] = {}
        self._choices_lock = threading.Lock()

    def limit_threads(self) -> None:
        """Size torch's and BLAS's process-wide pools to one job's share (for `serve`)."""
        import torch

        torch.set_num_threads(self.threads)
        set_blas_threads(self.threads)

    @contextmanager
    def _workers(self) -> Iterator[RenderWorkers]:
        """A job's render worker processes: warm ones if any are idle."""
        with self._lock:
            if self._closed:
                raise BusyError("the server is stopping")
            workers = self._idle.pop() if self._idle else RenderWorkers()
            self._busy.add(workers)
        try:
            yield workers
        finally:
            with self._lock:
                self._busy.discard(workers)
                if not self._closed:
                    self._idle.append(workers)
            if self._closed:
                workers.close()

    def close(self) -> None:
        """Stop every job's child processes now (safe from a signal handler or any thread):
        running jobs end at once, their remaining tunes failed; no new job starts."""
        with self._lock:
            self._closed = True
            everyone = [*self._idle, *self._busy]
            self._idle = []
        for workers in everyone:
            workers.close()

    def models(self) -> dict[str, Path]:
        """The models to pick from, looked up afresh so that new checkpoints show up."""
        return find_models(self.models_dir)

    def model_name(self, name: str | None) -> tuple[str, Path]:
        """The model's name and checkpoint (None: the first, i.e. the bundled one if any)."""
        models = self.models()
        if not models:
            raise NotFoundError(f"no models: put checkpoints in {self.models_dir}")
        name = next(iter(models)) if name is None else name
        if name not in models:
            raise NotFoundError(f"unknown model {name!r}; choose from {', '.join(models)}")
        return name, models[name]

    def checkpoint(self, name: str | None) -> checkpoints.Checkpoint:
        """The loaded model called `name` (None: the first, i.e. the bundled one if any)."""
        return self.cache.get(self.model_name(name)[1])

    def choices(self, name: str | None) -> ModelChoices:
        """The metres, keys, rhythms and forms the model saw in training, counted once."""
        _, path = self.model_name(name)
        with self._choices_lock:  # two first requests must not read the corpus twice
            if path not in self._choices:
                self._choices[path] = model_choices(path, self.cache.get(path).meta)
            return self._choices[path]

    def compose(
        self,
        model: str | None,
        num_tunes: int,
        options: SamplingOptions,
        primer: str = "",
        plan: HeaderPlan | None = None,
        form: FormPlan | None = None,
        grammar: bool = True,
    ) -> Rendered:
        """Sample `num_tunes` tunes with a model (grammar-aware unless `grammar` is False, in
        the `form` asked for) and render them all. A seed is drawn when none is given, so that
        the settings returned always compose the same tunes again."""
        name, _ = self.model_name(model)
        checkpoint = self.checkpoint(name)
        options = with_model_defaults(options, checkpoint.meta)
        if options.seed is None:
            options = replace(options, seed=secrets.randbelow(2**32))
        composition = compose(
            checkpoint.model,
            checkpoint.vocab,
            num_tunes,
            options,
            primer,
            plan,
            self.threads,
            form=form,
            grammar=grammar,
        )
        rendered = self.render(composition.tunebook)
        rendered.composition = composition
        plan, form = plan or HeaderPlan(), form or FormPlan()
        rendered.settings = {
            "model": name, "seed": options.seed, "temperature": options.temperature,
            "top_k": options.top_k, "top_p": options.top_p, "max_chars": options.max_symbols,
            "num_tunes": num_tunes, "title": plan.title, "meter": plan.meter, "key": plan.key,
            "primer": primer or None, "rhythm": form.rhythm, "form": form.form,
            "bars_per_part": form.bars_per_part,
        }  # fmt: skip
        return rendered

    def render(self, abc: str) -> Rendered:
        """Render every tune of an ABC text into a new folder; CorpusError if it has no tune."""
        render_id = uuid.uuid4().hex
        folder = self.work_dir / render_id
        try:
            with self._workers() as workers:
                report = render_abc_text(
                    abc, folder, self.render_options, "abc", workers, self.job_seconds
                )
        except BaseException:  # a failed job leaves no files behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return Rendered(render_id, report)

    def rendered_file(self, render_id: str, name: str) -> Path:
        """A file a render job wrote (a .mid or .wav is rendered now from the job's .abc if it
        was not yet), found only by its id and one of its file names: anything else (other
        folders, `..`, absolute paths) is NotFoundError."""
        if _RENDER_ID.fullmatch(render_id) and _RENDERED_FILE.fullmatch(name):
            path = self.work_dir / render_id / name
            source = path.with_suffix(".abc")
            if not path.is_file() and path.suffix in LAZY_FORMATS and source.is_file():
                with self.gate.slot(), self._lazy, self._workers() as workers:
                    if not path.is_file():
                        fmt = LAZY_FORMATS[path.suffix]
                        render_saved_tune(source, fmt, self.render_options, workers)
            if path.is_file():
                return path
        raise NotFoundError("no such rendered file")
