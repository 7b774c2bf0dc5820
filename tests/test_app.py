"""The app built and launched on tiny weights, every API name answered through gradio_client, bad input and a
missing model turned into clear errors while the server keeps serving."""

import importlib
import socket

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from genmodels import REGISTRY, load

from .conftest import write_tiny_weights

API_NAMES = ["/sample_cats", "/transfer", "/write", "/sample_faces", "/sample_cars"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Tiny weights for every model except `faces`, which the tests add later."""
    return write_tiny_weights(tmp_path_factory.mktemp("app-weights"), [n for n in REGISTRY if n != "faces"])


@pytest.fixture(scope="module")
def client(weights):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENMODELS_WEIGHTS_DIR", str(weights))
        load.cache_clear()
        app = importlib.import_module("app")
        app.demo = app.build()  # built with this weights folder
        port = free_port()
        app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
        app.demo.close()
        load.cache_clear()


def gallery_images(result) -> list[Image.Image]:
    return [Image.open(item["image"]) for item in result]


def test_every_api_name_is_listed(client):
    assert set(API_NAMES) <= set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])


def test_sample_cats_both_models(client):
    images = gallery_images(client.predict(4, 7, 0.8, "GAN (default)", api_name="/sample_cats"))
    assert [im.size for im in images] == [(16, 16)] * 4
    assert len(client.predict(2, 7, 1.0, "VAE (original method)", api_name="/sample_cats")) == 2


def test_transfer_returns_the_crop_and_the_result(client, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (120, 80), (200, 150, 120)).save(photo)
    crop, out = client.predict(handle_file(str(photo)), "real", "anime", api_name="/transfer")
    assert Image.open(crop).size == (256, 256) and Image.open(out).size == (256, 256)
    assert len(client.predict(handle_file(str(photo)), "auto", "anime", api_name="/transfer")) == 2


def test_write_returns_the_text_and_its_variants(client):
    image, variants = client.predict("Hi 42\nyes", 3, True, 3, "#000080", "#ffffff", False, 2, api_name="/write")
    image, variants = Image.open(image), gallery_images(variants)
    assert len(variants) == 3 and image.mode == "RGB" and image.width > image.height
    assert variants[0].tobytes() == image.tobytes()  # the image is the first variant
    clear, _ = client.predict("Hi", 3, True, 1, "#000080", "#ffffff", True, 1, 1.0, api_name="/write")
    assert Image.open(clear).mode == "RGBA"
    with pytest.raises(AppError, match="greater than maximum value 1"):
        client.predict("Hi", 3, True, 1, "#000080", "#ffffff", True, 1, 1.5, api_name="/write")


def test_write_errors_are_clear(client):
    with pytest.raises(AppError, match=r"Cannot write '!'"):
        client.predict("Hi!", 3, True, api_name="/write")
    with pytest.raises(AppError, match="is not a colour"):
        client.predict("Hi", 3, True, 1, "inky", api_name="/write")


def test_sample_cars_and_a_bad_view(client):
    assert len(client.predict("rear", 3, 1, api_name="/sample_cars")) == 3
    with pytest.raises(AppError, match="sideways is not in the list of choices"):  # Gradio validates choices
        client.predict("sideways", 3, 1, api_name="/sample_cars")


def test_bad_numbers_are_clear_errors(client):
    with pytest.raises(AppError, match="-5 is less than minimum value 0"):  # Gradio validates bounds
        client.predict(4, -5, 1.0, "GAN (default)", api_name="/sample_cats")
    with pytest.raises(AppError, match="65 is greater than maximum value 64"):
        client.predict(65, 0, 1.0, "VAE (original method)", api_name="/sample_cats")
    with pytest.raises(AppError, match="Upload an image first"):
        client.predict(None, "real", "anime", api_name="/transfer")


def test_a_missing_model_errors_clearly_and_the_rest_keep_working(client, weights):
    with pytest.raises(AppError, match="not trained yet.*'faces'"):
        client.predict(4, 0, 1.0, api_name="/sample_faces")
    assert len(client.predict(2, 0, 1.0, "GAN (default)", api_name="/sample_cats")) == 2  # still serving
    write_tiny_weights(weights, ["faces"])  # weights arrive: the next call loads them
    assert len(client.predict(4, 0, 1.0, api_name="/sample_faces")) == 4


def test_tabs_without_weights_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_WEIGHTS_DIR", str(tmp_path))
    app = importlib.import_module("app")
    config = str(app.build().get_config_file())
    assert config.count("Not trained yet") == 5
