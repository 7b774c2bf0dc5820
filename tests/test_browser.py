"""The Space in a real browser (Debian's Chromium driven by Playwright): every tab opens, every main action draws
pictures that are not blank, uploads are checked at once, and the API link shows on a phone. Tiny weights for every
model, so every tab has something to run. Chromium comes from `.ci/setup --dev` (apt); without it these tests fail."""

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from genmodels import REGISTRY

from .conftest import launched_app, two_face_photo, write_tiny_weights

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    assert shutil.which("chromium") or __import__("os").path.exists(CHROMIUM), "install Debian's chromium: bash .ci/setup --dev"
    with launched_app(write_tiny_weights(tmp_path_factory.mktemp("weights"))) as (_, url), sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium, url
        chromium.close()


@pytest.fixture
def page(browser):
    chromium, url = browser
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.locator("#cats-go").wait_for(timeout=WAIT_MS)
    yield page
    page.close()


def not_blank(locator) -> bool:
    """A screenshot of the element is not one flat colour."""
    shot = Image.open(io.BytesIO(locator.screenshot())).convert("L")
    return float(np.asarray(shot).std()) > 5


def images_in(page, elem_id: str, count: int = 1):
    images = page.locator(f"#{elem_id} img")
    images.nth(count - 1).wait_for(timeout=WAIT_MS)
    return images


def test_cats_tab_draws_cats_and_a_walk(page):
    page.locator("#cats-go").click()
    assert images_in(page, "cats-out", 16).count() == 16 and not_blank(page.locator("#cats-out"))
    page.locator("#walk-go").click()
    images_in(page, "walk-strip"), images_in(page, "walk-gif")
    assert not_blank(page.locator("#walk-strip img").first)
    assert page.get_by_role("button", name="Random").count() == 3  # plain text: no emoji that may not render


def test_transfer_tab_checks_the_upload_at_once_and_transfers(page, tmp_path):
    two_face_photo().save(tmp_path / "photo.jpg")
    page.get_by_role("tab", name="Anime <-> Real").click()
    page.locator("#transfer-in input[type=file]").set_input_files(str(tmp_path / "photo.jpg"))
    page.locator("#transfer-note").get_by_text("This picture looks").wait_for(timeout=WAIT_MS)
    page.locator("#transfer-go").click()
    images_in(page, "transfer-out")
    page.locator("#transfer-note").get_by_text("Found 2 faces").wait_for(timeout=WAIT_MS)
    assert not_blank(page.locator("#transfer-out img").first) and not_blank(page.locator("#transfer-crop img").first)


def test_a_broken_upload_gets_its_message_before_any_button(page, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"GIF89a but then garbage")
    page.get_by_role("tab", name="Anime <-> Real").click()
    page.locator("#transfer-in input[type=file]").set_input_files(str(tmp_path / "broken.png"))
    page.locator("#transfer-note").get_by_text("This file is not an image we can read").wait_for(timeout=WAIT_MS)
    assert page.locator("#transfer-in img").count() == 0  # cleared, no broken-image icon


def test_handwriting_tab_writes_every_variant(page):
    page.get_by_role("tab", name="Handwriting").click()
    page.locator("#write-go").click()
    images_in(page, "write-out")
    assert images_in(page, "write-variants", 4).count() == 4 and not_blank(page.locator("#write-out img").first)


@pytest.mark.parametrize("tab, prefix", [("Faces", "faces"), ("Cars", "cars")])
def test_faces_and_cars_tabs_draw(page, tab, prefix):
    page.get_by_role("tab", name=tab).click()
    page.locator(f"#{prefix}-go").click()
    assert images_in(page, f"{prefix}-out").count() >= 8 and not_blank(page.locator(f"#{prefix}-out"))


def test_cars_walk_around_draws(page):
    page.get_by_role("tab", name="Cars").click()
    page.locator("#around-go").click()
    assert not_blank(images_in(page, "around-strip").first) and not_blank(images_in(page, "around-gif").first)


def test_faces_morph_edit_and_reconstruct_draw(page, tmp_path):
    page.get_by_role("tab", name="Faces").click()
    page.locator("#morph-go").click()
    assert not_blank(images_in(page, "morph-strip").first) and not_blank(images_in(page, "morph-gif").first)
    page.locator("#edit-go").click()
    assert not_blank(images_in(page, "edit-strip").first)
    two_face_photo().save(tmp_path / "photo.jpg")
    page.locator("#reconstruct-in input[type=file]").set_input_files(str(tmp_path / "photo.jpg"))
    page.locator("#reconstruct-go").click()
    page.locator("#reconstruct-note").get_by_text("Found 2 faces").wait_for(timeout=WAIT_MS)
    assert not_blank(images_in(page, "reconstruct-out").first)


def test_about_tab_lists_every_model(page):
    page.get_by_role("tab", name="About").click()
    page.get_by_text("Metrics come from each model card").wait_for(timeout=WAIT_MS)
    assert page.get_by_role("cell", name="ready").count() == len(REGISTRY)


def test_the_api_link_shows_on_a_phone(browser):
    chromium, url = browser
    phone = chromium.new_page(viewport={"width": 390, "height": 844})
    phone.goto(url)
    phone.locator(".show-api").first.wait_for(timeout=WAIT_MS)
    assert phone.locator(".show-api").first.is_visible()  # Gradio hides it under 640 px; our CSS shows it
    phone.close()
