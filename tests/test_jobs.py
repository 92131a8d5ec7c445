"""Render jobs that cannot run away: killed at their time limit, slot freed, files cleaned;
SIGTERM stops `tunegen serve` mid-job; rendering is thread-safe."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import GOLDEN_ABC
from fastapi.testclient import TestClient
from worker_jobs import runaway_play

from tunegen.models import checkpoint
from tunegen.music.bounds import TuneLimits
from tunegen.render import tunebook as render
from tunegen.render.performance import abc_to_performance
from tunegen.web import app as web_app
from tunegen.web.library import TuneLibrary
from tunegen.web.studio import Studio

SRC = Path(__file__).parents[1] / "src"


@pytest.fixture(autouse=True)
def no_bundled_model(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint, "BUNDLED_MODEL", tmp_path / "no-bundled-model.ckpt")


def test_a_runaway_render_is_killed_its_slot_freed_and_its_files_cleaned(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "_play_files", runaway_play)  # runs in the worker process
    monkeypatch.setattr(render, "LIMITS", TuneLimits(tune_seconds=1))
    # every format at once (the page itself leaves MIDI and WAV until they are downloaded)
    studio = Studio(None, tmp_path, render_options=render.RenderOptions(), max_jobs=1)
    library = TuneLibrary(tmp_path / "library.sqlite")
    with TestClient(web_app.create_app(studio, library)) as client:
        response = client.post("/api/render", json={"abc": GOLDEN_ABC})
        assert response.status_code == 200
        tune = response.json()["tunes"][0]
        assert tune["failures"]["midi"] == "music21 took over 1 s (stopped)"
        assert tune["failures"]["wav"] == tune["failures"]["midi"]
        folder = tmp_path / response.json()["id"]
        assert not [p for p in folder.iterdir() if p.suffix in (".mid", ".wav")]
        monkeypatch.undo()  # the next job renders for real, in the one slot, which is free
        again = client.post("/api/render", json={"abc": GOLDEN_ABC})
        assert again.status_code == 200
        assert set(again.json()["tunes"][0]["files"]) == {"abc", "midi", "wav", "svg"}


def test_a_job_past_its_whole_time_limit_fails_the_tunes_left(tmp_path):
    studio = Studio(None, tmp_path, render_options=render.RenderOptions(), job_seconds=0)
    try:
        rendered = studio.render(GOLDEN_ABC)
    finally:
        studio.close()
    assert rendered.report.tunes[0].failures["midi"] == "the job's time limit (0 s) ran out"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_the_server_in_the_middle_of_a_job(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "tunegen", "serve", "--port", str(port)]
    command += ["--models", str(tmp_path), "--library", str(tmp_path / "lib.sqlite")]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):  # until it listens
            try:
                urllib.request.urlopen(f"{url}/api/models", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        book = "\n".join(GOLDEN_ABC.replace("X:1", f"X:{n}") for n in range(1, 401))

        def post() -> None:
            data = json.dumps({"abc": book}).encode()
            request = urllib.request.Request(
                f"{url}/api/render", data, {"content-type": "application/json"}
            )
            with contextlib.suppress(OSError):  # the server went away mid-job: the point
                urllib.request.urlopen(request, timeout=120).close()

        job = threading.Thread(target=post)
        job.start()
        workers = []
        for _ in range(600):  # until the job's worker processes run
            workers = list(tmp_path.glob("tunegen-serve-*/*/001-*.abc"))
            if workers:
                break
            time.sleep(0.1)
        assert workers, "the job never started"
        server.send_signal(signal.SIGTERM)
        # a guard against hanging, not a timing: the job alone would take far longer
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err
        job.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    assert not list(tmp_path.glob("tunegen-serve-*")), "the rendered files went with it"
    assert not list(tmp_path.glob("tunegen-*.log")), "so did the workers' logs"


def test_forty_tunes_play_in_two_threads_as_they_do_in_one(ryans_tunes):
    texts = [tune.abc(n) for n, tune in enumerate(ryans_tunes * 8, 1)][:40]
    texts += [GOLDEN_ABC] * (40 - len(texts))
    alone = [abc_to_performance(text) for text in texts]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(abc_to_performance, texts))
    assert together == alone
