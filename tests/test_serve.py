"""The web app's JSON API through FastAPI's TestClient, and the `tunegen serve` command."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ECHO_TUNE
from fastapi.testclient import TestClient

from tunegen.cli import main
from tunegen.models import checkpoint
from tunegen.render.tunebook import RenderOptions
from tunegen.web import app as web_app
from tunegen.web.library import TuneLibrary
from tunegen.web.studio import Studio

ECHO = {"model": "echo", "primer": ECHO_TUNE, "max_chars": 10}


def make_client(models_dir: Path | None, tmp_path: Path, **studio_options) -> TestClient:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    studio = Studio(models_dir, work, **studio_options)
    return TestClient(web_app.create_app(studio, TuneLibrary(tmp_path / "library.sqlite")))


@pytest.fixture(autouse=True)
def no_bundled_model(monkeypatch, tmp_path):
    """Only the test models: whether the package ships a pretrained model must not matter.
    The models' choices are cached in the test's folder, not in ~/.cache."""
    monkeypatch.setattr(checkpoint, "BUNDLED_MODEL", tmp_path / "no-bundled-model.ckpt")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def client(models_dir, tmp_path):
    with make_client(models_dir, tmp_path) as client:
        yield client


# ----------------------------------------------------------------------------- page, schema
def test_page_and_its_files_are_served_with_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'src="/static/app.js"' in page.text and "Compose" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("index.html", "app.js", "style.css"):
        text = client.get(f"/static/{name}").text
        assert "://" not in text, f"{name} must not load anything from another site"


def test_openapi_schema_lists_every_endpoint(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert set(paths) == {
        "/api/models",
        "/api/compose",
        "/api/render",
        "/api/files/{render_id}/{name}",
        "/api/tunes",
        "/api/tunes/{tune_id}",
        "/api/tunes/{tune_id}/restore",
        "/api/choices",
        "/api/export",
    }
    assert client.get("/docs").status_code == 404  # Swagger UI would load assets from a CDN


# ----------------------------------------------------------------------------------- models
def test_models_are_the_folders_checkpoints_and_runs(client):
    models = client.get("/api/models").json()
    assert [m["name"] for m in models] == ["echo", "tiny/best", "tiny/last"]
    assert [m["default"] for m in models] == [True, False, False]


def test_the_bundled_model_comes_first_and_is_the_default(models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "BUNDLED_MODEL", models_dir / "echo.ckpt")
    with make_client(models_dir, tmp_path) as client:
        models = client.get("/api/models").json()
        assert models[0] == {"name": "bundled", "default": True}
        composed = client.post("/api/compose", json={"primer": ECHO_TUNE, "max_chars": 5})
        assert composed.status_code == 200
        assert "T:Echo Reel" in composed.json()["tunes"][0]["abc"]


def test_without_any_model_composing_is_a_clear_404(tmp_path):
    with make_client(tmp_path / "none", tmp_path) as client:
        assert client.get("/api/models").json() == []
        response = client.post("/api/compose", json={})
        assert response.status_code == 404
        assert "no models" in response.json()["detail"]


def test_an_unknown_model_is_404_naming_the_choices(client):
    response = client.post("/api/compose", json={"model": "../tiny/best"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "unknown model '../tiny/best'; choose from echo, tiny/best, tiny/last"
    )


def test_each_model_is_loaded_once(client, monkeypatch):
    loads = []
    real_load = checkpoint.load_checkpoint
    monkeypatch.setattr(
        checkpoint, "load_checkpoint", lambda path: loads.append(path) or real_load(path)
    )
    for _ in range(3):
        assert client.post("/api/compose", json={**ECHO, "max_chars": 1}).status_code == 200
    assert len(loads) == 1


# ---------------------------------------------------------------------------------- compose
def test_compose_returns_abc_and_renders_midi_and_wav_when_downloaded(client):
    response = client.post("/api/compose", json={**ECHO, "num_tunes": 2, "seed": 1})
    assert response.status_code == 200
    result = response.json()
    assert len(result["tunes"]) == 2 and result["truncated"] == 0
    first = result["tunes"][0]
    assert first["abc"].startswith("X:1\nT:Echo Reel\n") and first["failures"] == {}
    assert set(first["files"]) == {"abc", "midi", "wav"}  # the page draws the sheet itself
    job = client.app.state.studio.work_dir / result["id"]
    assert {path.suffix for path in job.iterdir()} == {".abc", ".html"}  # nothing rendered yet
    expected = {"abc": b"X:1", "midi": b"MThd", "wav": b"RIFF"}
    for fmt, start in expected.items():
        served = client.get(first["files"][fmt][0])
        assert served.status_code == 200
        assert start in served.content[:200]
    assert client.get(first["files"]["wav"][0]).headers["content-type"] == "audio/wav"


def test_compose_with_header_fields(client):
    body = {"model": "tiny/best", "title": "Web Jig", "meter": "6/8", "key": "D", "seed": 3}
    response = client.post("/api/compose", json={**body, "max_chars": 60})
    assert response.status_code == 200
    assert response.json()["tunes"][0]["abc"].startswith("X:1\nT:Web Jig\nM:6/8\n")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": 5.01}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_chars": 0}, "max_chars"),
        ({"max_chars": 10_001}, "max_chars"),
        ({"num_tunes": 0}, "num_tunes"),
        ({"num_tunes": 33}, "num_tunes"),
        ({"seed": -1}, "seed"),
        ({"title": "two\nlines"}, "title"),
        ({"key": "Xyz"}, "key"),
        ({"primer": "x" * 2001}, "primer"),
        ({"model": "m" * 201}, "model"),
        ({"primer": "K:D\n", "key": "D"}, "not both"),
        ({"temprature": 1}, "temprature"),
    ],
)
def test_compose_rejects_bad_input_naming_it(client, body, where):
    response = client.post("/api/compose", json={"model": "echo", **body})
    assert response.status_code == 422
    assert where in str(response.json()["detail"])


def test_a_character_the_model_never_saw_is_422(client):
    response = client.post("/api/compose", json={"model": "echo", "primer": "K:D\n€"})
    assert response.status_code == 422
    assert "€" in response.json()["detail"]


def test_a_body_that_is_not_json_is_422(client):
    response = client.post(
        "/api/compose", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_an_oversized_body_is_refused_before_reading(client):
    response = client.post("/api/render", json={"abc": "X:1\n" + "a" * 600_000})
    assert response.status_code == 413


# ----------------------------------------------------------------------------------- render
def test_an_edited_tune_renders_into_a_new_job(client):
    first = client.post("/api/compose", json=ECHO).json()
    edited = first["tunes"][0]["abc"].replace("A2G2", "B2G2")
    response = client.post("/api/render", json={"abc": edited})
    assert response.status_code == 200
    result = response.json()
    assert result["id"] != first["id"]
    assert result["tunes"][0]["abc"] == edited
    assert client.get(result["tunes"][0]["files"]["abc"][0]).text == edited


def test_rendering_keeps_going_past_a_bad_tune(client):
    bad = "X:1\nT:No Such Key\nM:4/4\nL:1/8\nK:Xyz\nCDEF GABc|\n"
    response = client.post("/api/render", json={"abc": bad})
    assert response.status_code == 200
    tune = response.json()["tunes"][0]
    assert set(tune["files"]) == {"abc"}  # no MIDI or WAV to offer
    assert "unknown key" in tune["failures"]["midi"]


@pytest.mark.parametrize(
    ("abc", "status", "where"),
    [
        ("just words, no X: line", 422, "no tunes"),
        ("", 422, "abc"),
        ("X:1\n" + "a" * 100_000, 422, "abc"),
    ],
)
def test_render_rejects_what_it_cannot_render(client, abc, status, where):
    response = client.post("/api/render", json={"abc": abc})
    assert response.status_code == status
    assert where in str(response.json()["detail"])


# ------------------------------------------------------------------------------------ files
def test_rendered_files_are_only_reachable_by_id_and_name(client, tmp_path):
    (tmp_path / "secret.abc").write_text("SECRET", encoding="utf-8")
    result = client.post("/api/compose", json=ECHO).json()
    job, abc_url = result["id"], result["tunes"][0]["files"]["abc"][0]
    name = abc_url.rsplit("/", 1)[1]
    assert client.get(abc_url).status_code == 200
    attempts = [
        f"/api/files/{job}/../../secret.abc",
        f"/api/files/{job}/..%2F..%2Fsecret.abc",
        f"/api/files/{job}/%2E%2E%2F%2E%2E%2Fsecret.abc",
        f"/api/files/{job}/..%252F..%252Fsecret.abc",
        f"/api/files/{job}/%2Fetc%2Fpasswd",
        f"/api/files/{job}/{tmp_path}/secret.abc",
        f"/api/files/{job}/{str(tmp_path / 'secret.abc').replace('/', '%2F')}",
        "/api/files/..%2F/secret.abc",
        f"/api/files/{job}/..\\..\\secret.abc",
        f"/api/files/{job}/index.html",
        f"/api/files/{job}/{name}%00.abc",
        f"/api/files/{job.upper()}/{name}",
        f"/api/files/{'0' * 32}/{name}",
        "/api/files/../secret.abc",
        f"/static/../work/{job}/{name}",
        "/static/%2E%2E/%2E%2E/secret.abc",
    ]
    for url in attempts:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"SECRET" not in response.content, url


# ------------------------------------------------------------------------------ concurrency
def test_jobs_beyond_the_bound_get_503_with_retry_after(models_dir, tmp_path):
    with make_client(models_dir, tmp_path, max_jobs=1) as client:
        studio_gate = client.app.state.studio.gate
        with studio_gate.slot():  # one job is running: the only slot is taken
            response = client.post("/api/compose", json=ECHO)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert "busy" in response.json()["detail"]
            assert client.get("/api/tunes").status_code == 200  # the library is not a job
        assert client.post("/api/compose", json=ECHO).status_code == 200


def test_a_hundred_simultaneous_jobs_never_break_the_server(models_dir, tmp_path):
    release = threading.Event()
    running = []

    def slow_render(abc: str):
        running.append(abc)
        assert release.wait(timeout=60)
        return real_render(abc)

    with make_client(
        models_dir, tmp_path, render_options=RenderOptions(formats=("midi",))
    ) as client:
        studio = client.app.state.studio
        real_render = studio.render
        studio.render = slow_render
        with ThreadPoolExecutor(max_workers=100) as pool:
            body = {"abc": "X:1\n" + ECHO_TUNE}
            futures = [pool.submit(client.post, "/api/render", json=body) for _ in range(100)]
            deadline = time.monotonic() + 60
            while sum(f.done() for f in futures) < 98 and time.monotonic() < deadline:
                time.sleep(0.05)  # the 2 admitted jobs wait, off the event loop, for `release`
            release.set()
            statuses = sorted(f.result().status_code for f in futures)
        assert statuses == [200] * 2 + [503] * 98
        assert len(running) == 2
        assert client.post("/api/render", json=body).status_code == 200


# ---------------------------------------------------------------------------------- library
def test_save_list_change_export_and_delete_tunes(client):
    reel = "X:1\n" + ECHO_TUNE
    saved = client.post("/api/tunes", json={"name": "Keeper", "abc": reel, "model": "echo"})
    assert saved.status_code == 201
    tune = saved.json()
    assert tune["name"] == "Keeper" and tune["starred"] is False and tune["model"] == "echo"
    other = client.post("/api/tunes", json={"name": "Other", "abc": reel, "starred": True}).json()
    assert [t["name"] for t in client.get("/api/tunes").json()] == ["Keeper", "Other"]
    assert [t["name"] for t in client.get("/api/tunes?starred=true").json()] == ["Other"]
    changed = client.patch(f"/api/tunes/{tune['id']}", json={"name": "Renamed", "starred": True})
    assert changed.json()["name"] == "Renamed" and changed.json()["starred"] is True
    assert client.get(f"/api/tunes/{tune['id']}").json() == changed.json()
    export = client.get("/api/export")
    assert export.headers["content-type"].startswith("text/vnd.abc")
    assert "tunebook.abc" in export.headers["content-disposition"]
    assert export.text.startswith("X:1\nT:Renamed\n") and "X:2\nT:Other\n" in export.text
    assert client.delete(f"/api/tunes/{other['id']}").status_code == 204
    assert client.get(f"/api/tunes/{other['id']}").status_code == 404
    assert "T:Other" not in client.get("/api/export?starred=true").text


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("post", "/api/tunes", {"name": "", "abc": "X:1\n"}, 422),
        ("post", "/api/tunes", {"name": "n" * 201, "abc": "X:1\n"}, 422),
        ("post", "/api/tunes", {"name": "two\nlines", "abc": "X:1\n"}, 422),
        ("post", "/api/tunes", {"name": "Big", "abc": "a" * 100_001}, 422),
        ("post", "/api/tunes", {"abc": "X:1\n"}, 422),
        ("post", "/api/tunes", {"name": "Star", "abc": "X:1\n", "starred": "maybe"}, 422),
        ("get", "/api/tunes/999", None, 404),
        ("get", "/api/tunes/one", None, 422),
        ("patch", "/api/tunes/999", {"name": "Gone"}, 404),
        ("patch", "/api/tunes/1", {"name": ""}, 422),
        ("patch", "/api/tunes/1", {"colour": "red"}, 422),
        ("delete", "/api/tunes/999", None, 404),
    ],
)
def test_library_requests_are_checked(client, method, url, body, status):
    client.post("/api/tunes", json={"name": "First", "abc": "X:1\nK:C\nCDEF|\n"})
    response = client.request(method.upper(), url, json=body)
    assert response.status_code == status
    assert response.json()["detail"]


def test_saved_tunes_outlive_the_app(models_dir, tmp_path):
    with make_client(models_dir, tmp_path) as client:
        client.post("/api/tunes", json={"name": "Survivor", "abc": "X:1\nK:C\nCDEF|\n"})
    with make_client(models_dir, tmp_path) as client:
        assert [t["name"] for t in client.get("/api/tunes").json()] == ["Survivor"]


# -------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "0"], "--port must be 1-65535, got 0"),
        (["--port", "70000"], "--port must be 1-65535, got 70000"),
        (["--models", "no-such-folder"], "--models no-such-folder: no such folder"),
        (["--library", "a-file/library.sqlite"], "cannot open the tune library"),
    ],
)
def test_serve_rejects_bad_options_in_one_line(tmp_path, monkeypatch, capsys, options, message):
    monkeypatch.chdir(tmp_path)
    Path("a-file").write_text("not a folder", encoding="utf-8")
    assert main(["serve", *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_serve_runs_uvicorn_on_the_chosen_address(tmp_path, monkeypatch, capsys):
    import uvicorn

    calls = []

    def fake_run(server, sockets=None):
        config = server.config
        assert config.app.state.studio.work_dir.is_dir()
        calls.append((config.host, config.port, config.app.state.studio.work_dir))

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    library = tmp_path / "lib.sqlite"
    sigterm_handler = signal.getsignal(signal.SIGTERM)
    args = ["serve", "--port", "8123", "--models", str(tmp_path), "--library", str(library)]
    assert main(args) == 0
    (host, port, work_dir) = calls[0]
    assert (host, port) == ("127.0.0.1", 8123)
    assert not work_dir.exists()  # the rendered files go when the server stops
    assert library.is_file()
    assert signal.getsignal(signal.SIGTERM) == sigterm_handler  # serve put it back
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out


# ------------------------------------------------------------------ choices and getting back
def test_choices_come_from_the_models_training_corpus(client, oneills):
    choices = client.get("/api/choices?model=tiny/best").json()
    assert choices["source"] == "corpus" and choices["tunes"] == 60  # small_abc_dir's tunes
    metres = {tune.field("M") for tune in oneills.tunes[:60]}
    assert choices["meters"] and set(choices["meters"]) <= metres
    assert "D" in choices["keys"] and choices["default_qpm_by_beat"]["1.5"] == 150
    assert client.get("/api/choices?model=nope").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [("meter", "13/8"), ("key", "Fphr"), ("key", "C#loc"),
     ("rhythm", "banana"), ("form", "ZZZZ"), ("bars_per_part", 63)],
)  # fmt: skip
def test_compose_refuses_what_the_model_never_saw_naming_the_field(client, field, value):
    response = client.post("/api/compose", json={"model": "tiny/best", field: value})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", field] and "choose from" in problem["msg"]


def test_settings_compose_the_same_tunes_again(client):
    body = {"model": "tiny/best", "num_tunes": 3, "max_chars": 80, "temperature": 0.9}
    first = client.post("/api/compose", json=body).json()
    settings = first["settings"]
    assert settings["model"] == "tiny/best" and isinstance(settings["seed"], int)
    assert settings["temperature"] == 0.9 and settings["num_tunes"] == 3
    again = {k: v for k, v in settings.items() if v is not None and k not in ("index",)}
    second = client.post("/api/compose", json=again).json()
    assert [t["abc"] for t in second["tunes"]] == [t["abc"] for t in first["tunes"]]
    assert second["settings"] == settings


def test_a_tune_cut_at_the_length_limit_says_so(client):
    result = client.post("/api/compose", json={"model": "tiny/best", "max_chars": 5}).json()
    assert result["truncated"] == 1 and result["tunes"][0]["truncated"] is True


def test_saved_settings_search_restore_and_starred_export(client):
    composed = client.post("/api/compose", json={**ECHO, "seed": 5}).json()
    settings = {**composed["settings"], "index": 1}
    abc = composed["tunes"][0]["abc"]
    body = {"name": "Found Reel", "abc": abc, "settings": settings, "starred": True}
    saved = client.post("/api/tunes", json=body).json()
    assert saved["settings"]["seed"] == 5 and saved["key"] == "G" and saved["meter"] == "4/4"
    client.post("/api/tunes", json={"name": "Other", "abc": abc.replace("K:G", "K:D")})
    assert [t["name"] for t in client.get("/api/tunes?q=found").json()] == ["Found Reel"]
    assert [t["name"] for t in client.get("/api/tunes?q=K:D").json()] == ["Other"]
    assert client.get("/api/tunes?q=100%25").json() == []  # % is a character, not a wildcard
    export = client.get("/api/export?starred=true")
    assert 'filename="starred.abc"' in export.headers["content-disposition"]
    assert client.delete(f"/api/tunes/{saved['id']}").status_code == 204
    assert client.get(f"/api/tunes/{saved['id']}").status_code == 404
    restored = client.post(f"/api/tunes/{saved['id']}/restore")
    assert restored.status_code == 200 and restored.json() == saved
    assert client.post("/api/tunes/999/restore").status_code == 404


def test_compose_passes_the_form_to_the_sampler_and_returns_it(client, monkeypatch):
    from tunegen.web import studio as studio_module

    seen = []

    def compose(*args, form=None, grammar=True):  # the sampler, recording its FormPlan
        seen.append(form)
        return real_compose(*args, grammar=grammar)

    real_compose = studio_module.compose
    monkeypatch.setattr(studio_module, "compose", compose)
    choices = client.get("/api/choices?model=tiny/best").json()
    form, bars = choices["forms"][0], choices["bars_per_part"][0]
    body = {"model": "tiny/best", "form": form, "bars_per_part": bars, "seed": 2}
    result = client.post("/api/compose", json={**body, "max_chars": 40})
    assert result.status_code == 200, result.text
    assert (seen[0].form, seen[0].bars_per_part, seen[0].rhythm) == (form, bars, None)
    settings = result.json()["settings"]
    assert (settings["form"], settings["bars_per_part"]) == (form, bars)
