"""Screenshots of every tab after its main actions ran, at desktop and phone width, into docs/screenshots/. Starts
`python app.py` on the bundled weights and drives Debian's Chromium with Playwright. Not run in CI.

    HF_HUB_OFFLINE=1 python bench/screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from bench import ROOT, first_answer, make_photo, serve  # noqa: E402  (bench/bench.py, beside this script)

DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
WAIT_MS = 60_000


def run_actions(page, tab: str, photo: str) -> None:
    """Press the tab's main buttons with their defaults (upload a photo first where one is needed); wait for pictures."""
    if tab == "Anime <-> Real":
        page.locator("#transfer-in input[type=file]").set_input_files(photo)
        page.locator("#transfer-note").get_by_text("This picture looks").wait_for(timeout=WAIT_MS)
    if tab == "Faces":
        page.locator("#reconstruct-in input[type=file]").set_input_files(photo)
    for button, output in {"Cats": [("cats-go", "cats-out"), ("walk-go", "walk-gif")],
                           "Anime <-> Real": [("transfer-go", "transfer-out")], "Handwriting": [("write-go", "write-variants")],
                           "Faces": [("faces-go", "faces-out"), ("morph-go", "morph-gif"), ("edit-go", "edit-strip"),
                                     ("reconstruct-go", "reconstruct-out")],
                           "Cars": [("cars-go", "cars-out"), ("around-go", "around-gif")]}.get(tab, []):  # fmt: skip
        if page.locator(f"#{button}").is_enabled():  # a tab without weights has its buttons off
            page.locator(f"#{button}").click()
            page.locator(f"#{output} img").first.wait_for(timeout=WAIT_MS)
    time.sleep(1)  # let the gallery lay out


def main():
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    photo = str(Path(tempfile.mkdtemp()) / "photo.jpg")
    make_photo(photo)
    port = 7879
    server = serve(port)
    try:
        first_answer(port, "/sample_cats", (1, 0, 1.0, "GAN (default)"), time.time())
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport=DESKTOP)
            for tab in ["Cats", "Anime <-> Real", "Handwriting", "Faces", "Cars", "About"]:
                page.set_viewport_size(DESKTOP)
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_role("tab", name=tab, exact=True).click()
                run_actions(page, tab, photo)
                name = tab.lower().replace(" <-> ", "-")
                page.screenshot(path=out / f"{name}-desktop.png", full_page=True)
                page.set_viewport_size(PHONE)  # the same page, narrowed: the tab stays chosen
                time.sleep(1)
                page.screenshot(path=out / f"{name}-phone.png", full_page=True)
                print(f"docs/screenshots/{name}-desktop.png, {name}-phone.png")
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
