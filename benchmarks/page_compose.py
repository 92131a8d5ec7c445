"""The page as a musician uses it: compose 4 tunes, then see them and hear the first.

Serves `tunegen serve`'s app (bundled model) on 127.0.0.1 and drives headless Chromium:
- compose -> sheets: from the click on Compose until all 4 tunes are drawn (abcjs);
- compose -> sound: from that click until the first tune plays (Play clicked as soon as it is
  drawn; its soundfont samples loaded and the cursor on its first note);
both after one warm-up compose (the first loads the model and the page's caches). Beside them,
what the other way to listen costs: the server's WAV of the same tune (rendered when asked for)
against the synth's soundfont, in time and bytes.

    PYTHONPATH=src python benchmarks/page_compose.py [--runs 5] [--out benchmarks/RESULTS.md]
        [--screenshots docs]

--screenshots also writes page-1280.png and page-390.png of a composed tune with repeats and
endings (the model writes the second part after a primer's first part, which has both) for
the README.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import uvicorn

from tunegen.web.app import STATIC, create_app
from tunegen.web.library import TuneLibrary
from tunegen.web.studio import Studio

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_SEED = 1
ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
SCREENSHOT_PRIMER = (
    "T:The Benchmark Jig\nM:6/8\nL:1/8\nK:D\n|:A|dfe dAF|GBd gfe|dfe dAF|1 GEC D2:|2 GEC D2||\n|:"
)


def serve(folder: Path) -> tuple[uvicorn.Server, str]:
    (folder / "work").mkdir()
    app = create_app(Studio(None, folder / "work"), TuneLibrary(folder / "lib.sqlite"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}/"


def compose_once(page, seed: int) -> tuple[float, float]:
    """Seconds from Compose to 4 sheets drawn, and to the first tune sounding."""
    page.fill("input[name=seed]", str(seed))
    page.evaluate("document.querySelector('#tunes').replaceChildren()")
    start = time.perf_counter()
    page.click("#compose")
    page.wait_for_function("document.querySelectorAll('.tune .sheet svg').length === 4")
    sheets = time.perf_counter() - start
    page.click(".tune .play")
    page.wait_for_selector(".tune .abcjs-playing", state="attached")
    sound = time.perf_counter() - start
    page.click(".tune .play")  # pause
    return sheets, sound


def measure(url: str, runs: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # bypass_csp: wait_for_function evaluates its text, which the page's policy forbids
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.goto(url)
        page.wait_for_selector("#meter option:nth-child(2)", state="attached", timeout=120_000)
        compose_once(page, 0)  # warm-up: the model, abcjs and the samples' cache
        times = [compose_once(page, seed) for seed in range(1, runs + 1)]
        wav_url = page.locator(".tune .downloads a").nth(2).get_attribute("href")
        start = time.perf_counter()
        wav = page.request.get(url.rstrip("/") + wav_url).body()
        wav_seconds = time.perf_counter() - start
        browser.close()
    return {
        "sheets": statistics.median(t[0] for t in times),
        "sound": statistics.median(t[1] for t in times),
        "worst_sound": max(t[1] for t in times),
        "wav_seconds": wav_seconds,
        "wav_bytes": len(wav),
    }


def screenshots(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(url)
            page.wait_for_selector("#meter option:nth-child(2)", state="attached")
            page.fill("input[name=num_tunes]", "1")
            page.fill("input[name=seed]", str(SCREENSHOT_SEED))
            page.click("details.more summary")
            page.fill("textarea[name=primer]", SCREENSHOT_PRIMER)
            page.fill("input[name=max_chars]", "400")
            page.click("details.more summary")
            page.click("#compose")
            page.wait_for_selector(".tune .sheet svg")
            if width == 1280:  # saved once: the 390 px page finds it in the library
                page.fill(".tune .name", "The Benchmark Jig")
                page.click(".tune .save-button")
            page.wait_for_selector("#saved .saved")
            page.screenshot(path=out / f"page-{width}.png", full_page=True)
            page.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, help="append the table to this RESULTS.md")
    parser.add_argument("--screenshots", type=Path, help="write page-1280.png, page-390.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server, url = serve(Path(folder))
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            screenshots(url, args.screenshots)
        load = os.getloadavg()
        result = measure(url, args.runs)
        server.should_exit = True
    vendored = sum(p.stat().st_size for p in (STATIC / "vendor").rglob("*") if p.is_file())
    soundfont = list((STATIC / "soundfont").rglob("*.mp3"))
    font_bytes = sum(p.stat().st_size for p in soundfont)
    table = "\n".join([
        "| what | median of runs | worst |",
        "|---|---|---|",
        f"| compose 4 tunes -> 4 sheets drawn | {result['sheets']:.2f} s | |",
        f"| compose 4 tunes -> first tune sounding (cursor on) | {result['sound']:.2f} s"
        f" | {result['worst_sound']:.2f} s |",
        "",
        "| listening by | start-up | bytes to the browser |",
        "|---|---|---|",
        f"| abcjs synth + package soundfont ({len(soundfont)} notes) | in the row above |"
        f" {font_bytes / 1024:.0f} KiB once (cached), abcjs {vendored / 1024:.0f} KiB |",
        f"| server WAV of tune 1 (rendered when asked for) | {result['wav_seconds']:.2f} s |"
        f" {result['wav_bytes'] / 1024:.0f} KiB per tune and tempo |",
    ])  # fmt: skip
    loads = ", ".join(f"{x:.2f}" for x in load)
    print(table)
    print(f"load average before: {loads}; after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.out:
        with args.out.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## The page: compose to sheet and sound, {date.today()}\n\n"
                f"`PYTHONPATH=src python benchmarks/page_compose.py --runs {args.runs}"
                f" --out benchmarks/RESULTS.md` (headless Chromium, bundled model, "
                f"{args.runs} runs after a warm-up; 2 cores shared with other work, load average"
                f" {loads})\n\n{table}\n"
            )


if __name__ == "__main__":
    main()
