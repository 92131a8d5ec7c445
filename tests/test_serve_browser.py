"""The page in a real browser: compose a tune, see and hear it, save it, reload, still there.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright; `.ci/run` installs it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import ECHO_TUNE

from tunegen import checkpoint
from tunegen.library import TuneLibrary
from tunegen.studio import Studio
from tunegen.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="needs Chromium at /usr/bin/chromium: apt-get install chromium"
)


@pytest.fixture
def live_url(models_dir, tmp_path, monkeypatch):
    """The app served by uvicorn in a thread, on a free port of 127.0.0.1, with the test models
    only (not the bundled one, if the package has it)."""
    import uvicorn

    monkeypatch.setattr(checkpoint, "BUNDLED_MODEL", tmp_path / "no-bundled-model.ckpt")
    (tmp_path / "work").mkdir()
    app = create_app(Studio(models_dir, tmp_path / "work"), TuneLibrary(tmp_path / "lib.sqlite"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the port is ours before the server starts: no race
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_compose_hear_save_and_find_the_tune_after_a_reload(live_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(live_url)
        expect(page.locator("#model option")).to_have_count(3)
        page.select_option("#model", "echo")
        page.fill("textarea[name=primer]", ECHO_TUNE)
        page.fill("input[name=max_chars]", "20")
        page.click("#compose")
        sheet = page.locator(".tune .sheets img")
        expect(sheet).to_have_count(1, timeout=20_000)
        expect(page.locator(".tune audio")).to_have_count(1)
        expect(page.locator("#status")).to_contain_text("Composed 1 tunes")
        page.wait_for_function("document.querySelector('.tune .sheets img').naturalWidth > 0")
        assert "T:Echo Reel" in page.locator(".tune textarea.abc").input_value()
        page.fill(".tune .name", "Browser Reel")
        page.click(".tune .save-button")
        expect(page.locator("#saved .name")).to_have_value("Browser Reel")
        page.reload()
        expect(page.locator("#saved .name")).to_have_value("Browser Reel")
        page.click("#saved .open")
        expect(page.locator(".tune .sheets img")).to_have_count(1, timeout=20_000)
        screenshot = tmp_path / "serve-page.png"
        page.screenshot(path=screenshot, full_page=True)
        browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / screenshot.name)
    assert problems == []
