"""The page in a real browser: compose, see and hear a tune, edit, save, find it again, and each
of the small breaks of issue 19 (one test each), with no request leaving 127.0.0.1.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright; `.ci/run` installs it. One server
and one browser serve the whole module; each test gets a fresh page (and an empty library).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import ECHO_TUNE

from tunegen.models import checkpoint
from tunegen.web.app import create_app
from tunegen.web.library import TuneLibrary
from tunegen.web.studio import Studio

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
# The echo model's tune with a first and second ending and a second tune to paste after it.
ENDINGS_TUNE = "T:Echo Reel\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|1 dedB A2G2:|2 dedB G4||\n"
SECOND_TUNE = "X:2\nT:Second Jig\nM:6/8\nL:1/8\nK:D\n|:DFA dAF|GBd g3:|\n"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="needs Chromium at /usr/bin/chromium: apt-get install chromium"
)


class Server:
    """The app served by uvicorn in a thread on a free port of 127.0.0.1."""

    def __init__(self, models_dir: Path, folder: Path) -> None:
        import uvicorn

        (folder / "work").mkdir()
        self.library = TuneLibrary(folder / "lib.sqlite")
        app = create_app(Studio(models_dir, folder / "work"), self.library)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # the port is ours before the server starts: no race
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "uvicorn did not start"
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    """One server for the module, with the test models only (not the bundled one)."""
    folder = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "BUNDLED_MODEL", folder / "no-bundled-model.ckpt")
        patch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        running = Server(models_dir, folder)
        yield running
        running.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server, request):
    """A fresh page on an empty library; fails the test on a console error, a page error or a
    request to anywhere but the server (the page must work with the network cable pulled)."""
    for tune in server.library.list():
        server.library.delete(tune.id)
    width = getattr(request, "param", 1280)
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    new_page.on("pageerror", lambda err: problems.append(str(err)))
    new_page.on(
        "request",
        lambda r: None if r.url.startswith(server.url) else problems.append(f"left: {r.url}"),
    )
    new_page.goto(server.url)
    new_page.wait_for_selector("#meter option:nth-child(2)", state="attached")
    yield new_page
    context.close()
    assert problems == []


def compose_echo(page, primer: str = ECHO_TUNE, num_tunes: int = 1) -> None:
    """Compose with the echo model, whose tune is its primer."""
    page.select_option("#model", "echo")
    page.wait_for_selector("#meter option:nth-child(2)", state="attached")
    page.click("details.more summary")
    page.fill("textarea[name=primer]", primer)
    page.fill("input[name=max_chars]", "20")
    page.fill("input[name=num_tunes]", str(num_tunes))
    page.click("#compose")
    page.wait_for_selector(f".tune:nth-child({num_tunes}) .sheet svg")


def test_compose_see_hear_save_and_find_the_tune_after_a_reload(page, tmp_path):
    from playwright.sync_api import expect

    compose_echo(page, ENDINGS_TUNE)
    expect(page.locator("#status")).to_contain_text("Composed 1 tune in")  # not "1 tunes"
    sheet = page.locator(".tune .sheet svg")
    assert sheet.locator(".abcjs-ending").count() == 2  # first and second ending drawn
    assert sheet.locator(".abcjs-bar").count() == 4
    expect(page.locator(".tune .meta")).to_contain_text("model echo · seed ")
    expect(page.locator(".tune .tempo-value")).to_have_text("120 bpm (100%)")  # 4/4: 120
    page.click(".tune .play")  # the soundfont comes from the server; the cursor follows
    expect(page.locator(".tune .abcjs-playing").first).to_be_attached(timeout=10_000)
    expect(page.locator(".tune .play")).to_have_text("Pause")
    page.click(".tune .play")
    expect(page.locator(".tune .play")).to_have_text("Play")
    page.fill(".tune .name", "Browser Reel")
    page.click(".tune .save-button")
    expect(page.locator("#saved .name")).to_have_value("Browser Reel")
    page.reload()
    expect(page.locator("#saved .name")).to_have_value("Browser Reel")
    expect(page.locator("#saved .saved-meta")).to_contain_text("G major · 4/4 · echo · seed ")
    page.fill("#search", "nothing like it")
    expect(page.locator("#saved .empty")).to_contain_text("No saved tune has")
    page.fill("#search", "browser")
    expect(page.locator("#saved .name")).to_have_value("Browser Reel")
    screenshot = tmp_path / "serve-page.png"
    page.screenshot(path=screenshot, full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / screenshot.name)


def test_the_sheet_follows_the_abc_as_it_is_edited(page):
    from playwright.sync_api import expect

    compose_echo(page)
    page.click(".tune details.edit summary")
    notes = page.locator(".tune .sheet .abcjs-note")
    expect(notes).to_have_count(14)
    page.locator(".tune .abc").press("End")
    page.locator(".tune .abc").press_sequentially("GABc|", delay=5)  # no button pressed
    expect(notes).to_have_count(18)


def test_applying_two_tunes_gives_two_cards_and_the_name_follows_the_title(page):
    from playwright.sync_api import expect

    compose_echo(page)
    page.click(".tune details.edit summary")
    edited = page.locator(".tune .abc").input_value().replace("Echo Reel", "Renamed Reel")
    page.fill(".tune .abc", edited + SECOND_TUNE)
    page.click(".tune .rerender")
    expect(page.locator(".tune")).to_have_count(2)
    expect(page.locator(".tune .card-status").first).to_contain_text("Rendered 2 tunes")
    expect(page.locator(".tune .name").first).to_have_value("Renamed Reel")
    assert "Second Jig" not in page.locator(".tune .abc").first.input_value()
    assert "T:Second Jig" in page.locator(".tune .abc").nth(1).input_value()
    expect(page.locator(".tune .sheet svg")).to_have_count(2)


def test_a_lower_card_reports_beside_it_and_saving_again_changes_it_in_place(page, server):
    from playwright.sync_api import expect

    compose_echo(page, num_tunes=3)
    lower = page.locator(".tune").nth(2)
    lower.locator(".save-button").click()
    status = lower.locator(".card-status")
    expect(status).to_contain_text('Saved "Echo Reel" to the library.')
    expect(status).to_be_in_viewport()
    expect(lower.locator(".save-button")).to_have_text("Save changes")
    lower.locator(".name").fill("Better Name")
    lower.locator(".save-button").click()
    expect(status).to_contain_text('Saved changes to "Better Name".')
    assert [tune.name for tune in server.library.list()] == ["Better Name"]  # no duplicate
    lower.locator(".save-as").click()
    expect(status).to_contain_text("Saved a new copy")
    expect(page.locator("#saved .saved")).to_have_count(2)


def test_rename_by_enter_names_it_after_and_an_opened_starred_tune_stays_starred(page, server):
    from playwright.sync_api import expect

    server.library.add("Old Name", "X:1\n" + ECHO_TUNE, starred=True)
    page.reload()
    row = page.locator("#saved .saved")
    row.locator(".name").fill("New Name")
    row.locator(".name").press("Enter")
    expect(page.locator("#library-status")).to_have_text('Renamed to "New Name".')
    row.locator(".star").uncheck()
    expect(page.locator("#library-status")).to_have_text('Unstarred "New Name".')
    row.locator(".star").check()
    expect(page.locator("#library-status")).to_have_text('Starred "New Name".')
    row.locator(".open").click()
    card = page.locator(".tune")
    expect(card.locator(".name")).to_have_value("New Name")
    expect(card.locator(".star")).to_be_checked()
    expect(card.locator(".save-button")).to_have_text("Save changes")


def test_the_starred_export_downloads_as_starred_abc(page, server):
    server.library.add("Starred One", "X:1\n" + ECHO_TUNE, starred=True)
    with page.expect_download() as download:
        page.click("#export-starred")
    assert download.value.suggested_filename == "starred.abc"


def test_a_delete_can_be_undone(page, server):
    from playwright.sync_api import expect

    server.library.add("Keep Me", "X:1\n" + ECHO_TUNE)
    page.reload()
    page.click("#saved .delete")
    expect(page.locator("#saved .saved")).to_have_count(0)
    expect(page.locator("#library-status")).to_contain_text('Deleted "Keep Me".')
    page.click("#library-status button")
    expect(page.locator("#saved .name")).to_have_value("Keep Me")
    page.reload()
    expect(page.locator("#saved .name")).to_have_value("Keep Me")


def test_a_temperature_set_while_the_models_choices_load_is_kept(page):
    """The model's choices (its temperature among them) come back after the user moved the
    slider: the user's temperature stays, and an answer for a model chosen before the last one
    changes nothing."""
    from playwright.sync_api import expect

    held = []
    page.route("**/api/choices*", lambda route: held.append(route))
    page.select_option("#model", "echo")  # its answer is held
    page.select_option("#model", "tiny/best")  # so is this one's
    for _ in range(100):  # (the route handler sees each request a moment later)
        if len(held) == 2:
            break
        page.wait_for_timeout(20)
    assert [route.request.url.rsplit("=", 1)[1] for route in held] == ["echo", "tiny%2Fbest"]
    page.locator("#temperature").fill("1.3")
    expect(page.locator("#temperature-value")).to_have_text("1.30")
    for route in reversed(held):  # the latest answer first, then the stale one
        route.continue_()
    expect(page.locator("#status")).not_to_contain_text("Loading")
    page.wait_for_timeout(300)  # (any late answer would land here)
    expect(page.locator("#temperature-value")).to_have_text("1.30")
    page.unroute("**/api/choices*")


def test_a_tune_cut_at_the_length_limit_says_so_and_compose_again_gives_it_back(page):
    from playwright.sync_api import expect

    page.select_option("#model", "tiny/best")
    # the tiny model's choices set its own temperature (1, the bundled model's is 0.6): wait for
    # them, or they land after the fill below and put the slider back
    expect(page.locator("#temperature-value")).to_have_text("1.00")
    page.click("details.more summary")
    page.fill("input[name=max_chars]", "30")
    page.fill("input[name=num_tunes]", "2")
    page.locator("#temperature").fill("1.3")
    expect(page.locator("#temperature-value")).to_have_text("1.30")
    page.click("#compose")
    expect(page.locator(".tune")).to_have_count(2)
    expect(page.locator(".tune .notice").first).to_contain_text("Stopped at the length limit")
    expect(page.locator("#status")).to_contain_text("stopped at the length limit")
    second = page.locator(".tune .abc").nth(1).input_value()
    page.locator(".tune .again").nth(1).click()
    expect(page.locator("#status")).to_contain_text("Composed 2 tunes")
    expect(page.locator("input[name=seed]")).not_to_have_value("")
    assert page.locator(".tune .abc").nth(1).input_value() == second


@pytest.mark.parametrize("page", [390], indirect=True)
def test_a_phone_sees_a_readable_staff_and_rows_that_fit(page, server):
    from playwright.sync_api import expect

    server.library.add("A Tune With A Rather Long Name Indeed", "X:1\n" + ECHO_TUNE)
    page.reload()
    compose_echo(page)
    expect(page.locator("#saved .saved")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for box in (page.locator(sel).bounding_box() for sel in ("#saved .saved", ".tune .save")):
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    staff = page.locator(".tune .sheet .abcjs-staff").first.bounding_box()
    assert staff["height"] >= 20  # five lines a readable distance apart (was ~10 px)
