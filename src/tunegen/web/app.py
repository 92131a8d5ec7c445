"""The FastAPI app: the page's static files and a JSON API under /api/ (schema: /api/openapi.json).

Routes only translate between HTTP and the studio (composing, rendering) and the tune library;
CPU-bound jobs run in the threadpool, behind the studio's bound on concurrent jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tunegen import __version__
from tunegen.errors import BusyError, NotFoundError, TunegenError
from tunegen.render.performance import DEFAULT_QPM, DEFAULT_QPM_BY_BEAT
from tunegen.render.tunebook import EXTENSIONS
from tunegen.sampling.controls import short_key
from tunegen.sampling.form import FormPlan
from tunegen.sampling.sampler import HeaderPlan, SamplingOptions
from tunegen.web.library import SavedTune, TuneLibrary
from tunegen.web.schemas import (
    MAX_ID,
    ChoicesOut,
    ComposeIn,
    ComposeOut,
    ModelOut,
    RenderedTuneOut,
    RenderIn,
    RenderOut,
    TuneIn,
    TunePatch,
)
from tunegen.web.studio import Rendered, Studio

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 512 * 1024  # the largest valid request (100,000 characters of ABC) fits
RETRY_AFTER_SECONDS = 5
MEDIA_TYPES = {
    ".abc": "text/vnd.abc; charset=utf-8",
    ".mid": "audio/midi",
    ".wav": "audio/wav",
    ".svg": "image/svg+xml",
}
# Only the page's own files: no inline script, nothing from elsewhere. abcjs sizes and colours
# the SVG it draws with style attributes, so inline styles (not scripts) are allowed.
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'"
)
SHUTDOWN_SECONDS = 3  # SIGTERM: requests still running after this are dropped
TuneId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="a saved tune's id")]


def _render_out(rendered: Rendered, truncated: list[bool] | None = None) -> dict:
    """A render job as the API shows it: file names become URLs under /api/files/, with the
    MIDI and WAV a job leaves to be rendered when they are first downloaded."""
    base = f"/api/files/{rendered.render_id}"
    lazy = [fmt for fmt in ("midi", "wav") if fmt not in rendered.report.formats]
    tunes = []
    for tune in rendered.report.tunes:
        files = {fmt: [f"{base}/{name}" for name in names] for fmt, names in tune.files.items()}
        if "abc" in tune.files:
            files.update(
                {fmt: [f"{base}/{tune.stem}{EXTENSIONS[fmt]}"] for fmt in lazy
                 if fmt not in tune.failures}
            )  # fmt: skip
        cut = bool(truncated and tune.number <= len(truncated) and truncated[tune.number - 1])
        tunes.append(
            RenderedTuneOut(
                number=tune.number,
                title=tune.title,
                abc=tune.abc,
                files=files,
                failures=tune.failures,
                truncated=cut,
            )
        )
    return {"id": rendered.render_id, "synth": rendered.report.synth, "tunes": tunes}


async def _error(request: Request, err: Exception) -> JSONResponse:
    """A tunegen error as JSON: 404 for unknown things, 503 when busy, 422 for bad input."""
    if isinstance(err, BusyError):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse({"detail": str(err)}, status_code=503, headers=headers)
    status = 404 if isinstance(err, NotFoundError) else 422
    return JSONResponse({"detail": str(err)}, status_code=status)


async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
    """422 naming each bad field; the offending input is left out of the answer, since it may
    be a value JSON cannot carry back (NaN, Infinity) or a large text."""
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in err.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _run_job(function: Callable[..., Any], *args: Any) -> Any:
    """Run a CPU-bound job in a daemon thread and await it: a stopping server never waits for
    one (its child processes are stopped by Studio.close; a sampling thread ends with us)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # the request was cancelled meanwhile
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def run() -> None:
        try:
            result, error = function(*args), None
        except BaseException as err:  # handed to the awaiting request
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="tunegen job", daemon=True).start()
    return await future


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
    """Refuse oversized bodies before reading them; add the content security policy."""
    length = request.headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, 413)
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = CSP
    return response


def add_job_routes(app: FastAPI, studio: Studio) -> None:
    """Models, composing, rendering and the rendered files."""

    @app.get("/api/models", response_model=list[ModelOut], tags=["compose"])
    def list_models() -> list[ModelOut]:
        """The models to compose with; the first is the default."""
        names = list(studio.models())
        return [ModelOut(name=name, default=i == 0) for i, name in enumerate(names)]

    @app.get("/api/choices", response_model=ChoicesOut, tags=["compose"])
    async def model_choices(model: str | None = None) -> dict:
        """The metres, keys, rhythms, forms and bars per part a model saw in training (the only
        values /api/compose accepts for it), its default temperature, and the tempo a tune
        without Q: is played at."""
        choices = await run_in_threadpool(studio.choices, model)
        meta = studio.checkpoint(model).meta
        return {
            **choices.__dict__,
            "model": studio.model_name(model)[0],
            "temperature": meta.get("sampling", {}).get("temperature", 1.0),
            "default_qpm": DEFAULT_QPM,
            "default_qpm_by_beat": {str(beat): qpm for beat, qpm in DEFAULT_QPM_BY_BEAT.items()},
        }

    @app.post("/api/compose", response_model=ComposeOut, tags=["compose"])
    async def compose_tunes(body: ComposeIn) -> dict:
        """Sample tunes with a model; metre, key, rhythm, form and bars per part must be among
        the model's choices (/api/choices). The settings returned compose the same tunes again."""
        choices = await run_in_threadpool(studio.choices, body.model)
        key = short_key(body.key) if body.key else None
        checks = [("meter", "meters", body.meter), ("key", "keys", key),
                  ("rhythm", "rhythms", body.rhythm), ("form", "forms", body.form),
                  ("bars_per_part", "bars_per_part", body.bars_per_part)]  # fmt: skip
        for name, field, value in checks:
            try:
                choices.check(field, value or None)
            except ValueError as err:
                detail = [{"loc": ["body", name], "msg": str(err), "type": "value_error"}]
                raise HTTPException(422, detail) from None
        options = SamplingOptions(
            body.temperature, body.top_k, body.top_p, body.max_chars, body.seed
        )
        plan = HeaderPlan(body.title or None, body.meter or None, body.key or None)
        with studio.gate.slot():
            rendered = await _run_job(
                studio.compose, body.model, body.num_tunes, options, body.primer or "", plan,
                FormPlan(body.form, body.bars_per_part, body.rhythm),
            )  # fmt: skip
        composition = rendered.composition
        primer = len(body.primer or "")
        cut = [len(text) - primer >= body.max_chars for text in composition.texts]
        return {
            **_render_out(rendered, cut),
            "chars": composition.chars,
            "seconds": composition.seconds,
            "truncated": composition.truncated,
            "settings": rendered.settings,
        }

    @app.post("/api/render", response_model=RenderOut, tags=["compose"])
    async def render_abc(body: RenderIn) -> dict:
        """Render (for example, edited) ABC text to ABC, MIDI, WAV and SVG files."""
        with studio.gate.slot():
            rendered = await _run_job(studio.render, body.abc)
        return _render_out(rendered)

    @app.get("/api/files/{render_id}/{name}", response_class=FileResponse, tags=["compose"])
    def rendered_file(render_id: str, name: str) -> FileResponse:
        """A file of a render job, by the job's id and the file's name."""
        path = studio.rendered_file(render_id, name)
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix])


def add_library_routes(app: FastAPI, library: TuneLibrary) -> None:
    """The saved tunes: list, save, read, change, delete and export."""

    @app.get("/api/tunes", response_model=list[SavedTune], tags=["library"])
    def list_tunes(starred: bool = False, q: str = Query("", max_length=200)) -> list[SavedTune]:
        """Saved tunes, oldest first (only starred ones with ?starred=true; only those whose
        name, ABC or model contain q with ?q=...)."""
        return library.list(starred, q.strip())

    @app.post("/api/tunes", response_model=SavedTune, status_code=201, tags=["library"])
    def save_tune(body: TuneIn) -> SavedTune:
        """Save a tune in the library as a new entry (change a saved one with PATCH)."""
        settings = body.settings.model_dump() if body.settings else None
        return library.add(body.name, body.abc, body.starred, body.model, settings)

    @app.get("/api/tunes/{tune_id}", response_model=SavedTune, tags=["library"])
    def get_tune(tune_id: TuneId) -> SavedTune:
        """One saved tune."""
        return library.get(tune_id)

    @app.patch("/api/tunes/{tune_id}", response_model=SavedTune, tags=["library"])
    def change_tune(tune_id: TuneId, body: TunePatch) -> SavedTune:
        """Rename, star or unstar, or replace the ABC of a saved tune."""
        return library.update(tune_id, body.name, body.abc, body.starred)

    @app.delete("/api/tunes/{tune_id}", status_code=204, tags=["library"])
    def delete_tune(tune_id: TuneId) -> Response:
        """Delete a saved tune (POST .../restore undoes it for a while: UNDO_SECONDS)."""
        library.delete(tune_id)
        return Response(status_code=204)

    @app.post("/api/tunes/{tune_id}/restore", response_model=SavedTune, tags=["library"])
    def restore_tune(tune_id: TuneId) -> SavedTune:
        """Undo the delete of a tune deleted a moment ago."""
        return library.restore(tune_id)

    @app.get("/api/export", response_class=Response, tags=["library"])
    def export_tunes(starred: bool = False) -> Response:
        """The saved tunes (or only the starred ones) as one ABC tunebook file."""
        filename = "starred.abc" if starred else "tunebook.abc"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(library.export(starred), media_type=MEDIA_TYPES[".abc"], headers=headers)


def create_app(studio: Studio, library: TuneLibrary) -> FastAPI:
    """The web app over a studio and a library. No /docs page: it would load assets from a CDN."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        studio.close()  # the job worker processes go with the app

    app = FastAPI(
        lifespan=lifespan,
        title="tunegen",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.studio, app.state.library = studio, library
    app.add_exception_handler(TunegenError, _error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.middleware("http")(_guard)
    add_job_routes(app, studio)
    add_library_routes(app, library)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _stop(signum: int, frame: object) -> None:
    """SIGTERM ends the server like Ctrl-C does, so that the rendered files are removed."""
    raise KeyboardInterrupt


def _server(app: FastAPI, host: str, port: int, studio: Studio):  # -> uvicorn.Server
    """A uvicorn server whose exit signal first stops the running jobs' child processes, so
    that a shutdown waits seconds, not for a job's time limit."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            studio.close()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_SECONDS
    )
    return Server(config)


def _warm_choices(studio: Studio) -> None:
    with contextlib.suppress(Exception):
        studio.choices(None)


def serve(host: str, port: int, models_dir: Path | None, library: TuneLibrary) -> None:
    """Run the page with uvicorn until Ctrl-C or SIGTERM; rendered files live in a temporary
    folder that goes with the server."""
    # uvicorn shuts down gracefully on a signal, then raises it again for this handler
    previous = signal.signal(signal.SIGTERM, _stop)
    work = Path(tempfile.mkdtemp(prefix="tunegen-serve-"))
    try:
        studio = Studio(models_dir, work)
        studio.limit_threads()
        app = create_app(studio, library)
        # Count the default model's choices now (seconds, the first time) rather than on
        # the page's first request; a failure here shows again on that request.
        threading.Thread(target=_warm_choices, args=(studio,), daemon=True).start()
        print(f"tunegen: the page is at http://{host}:{port}/ (Ctrl-C stops it)")
        print(f"tunegen: tune library: {library.path}")
        try:
            with contextlib.suppress(KeyboardInterrupt):
                _server(app, host, port, studio).run()
        finally:
            studio.close()
    finally:
        remove_work_folder(work)
        signal.signal(signal.SIGTERM, previous)


def remove_work_folder(work: Path, seconds: float = 10.0) -> None:
    """Remove the server's work folder. A job thread may still be writing into it as the server
    stops (its workers were just killed): removal is tried again until the folder is gone; after
    that no late write brings it back (files never recreate a missing parent folder)."""
    deadline = time.monotonic() + seconds
    while True:
        shutil.rmtree(work, ignore_errors=True)
        if not work.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.05)
