"""The app built and launched on tiny weights, every API name answered through gradio_client, bad input and a
missing model turned into clear errors while the server keeps serving."""

import importlib

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from genmodels import REGISTRY, load

from .conftest import gif_duration_ms, launched_app, png_header, schematic_face, two_face_photo, write_tiny_weights

API_NAMES = ["/sample_cats", "/interpolate_cats", "/transfer", "/write", "/sample_faces", "/morph_faces", "/edit_face",
             "/reconstruct_face", "/sample_cars", "/walk_around_car"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Tiny weights for every model except `faces`, which the tests add later."""
    return write_tiny_weights(tmp_path_factory.mktemp("app-weights"), [n for n in REGISTRY if n != "faces"])


@pytest.fixture(scope="module")
def client(weights):
    with launched_app(weights) as (client, _):
        yield client


def gallery_images(result) -> list[Image.Image]:
    return [Image.open(item["image"]) for item in result]


def test_every_api_name_is_listed(client):
    assert set(API_NAMES) <= set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])


def test_sample_cats_both_models(client):
    images = gallery_images(client.predict(4, 7, 0.8, "GAN (default)", api_name="/sample_cats"))
    assert [im.size for im in images] == [(16, 16)] * 4
    assert len(client.predict(2, 7, 1.0, "VAE (original method)", api_name="/sample_cats")) == 2


def test_interpolate_cats_returns_a_strip_and_a_looping_gif(client):
    strip, gif = client.predict(3, 9, 5, 0.7, "GAN (default)", api_name="/interpolate_cats")
    assert Image.open(strip).size == (5 * 18 + 2, 18 + 2)  # five 16 px cats with 2 px gaps
    assert gif_duration_ms(gif) == (2 * 24 - 2) * 80 and Image.open(gif).size == (64, 64)  # 46 frames there and back, 4x
    again, _ = client.predict(3, 9, 5, 0.7, "GAN (default)", api_name="/interpolate_cats")
    assert Image.open(again).tobytes() == Image.open(strip).tobytes()  # seeds make it repeatable
    vae_strip, _ = client.predict(3, 9, 2, 1.0, "VAE (original method)", api_name="/interpolate_cats")
    assert Image.open(vae_strip).size == (2 * 18 + 2, 18 + 2)
    with pytest.raises(AppError, match=r"Truncation / temperature must be a number from 0.1 to 1.5 \(got 3.0\)"):
        client.predict(3, 9, 5, 3.0, "GAN (default)", api_name="/interpolate_cats")


def upload(tmp_path, image: Image.Image, name: str = "photo.png"):
    image.save(tmp_path / name)
    return handle_file(str(tmp_path / name))


def test_transfer_finds_the_faces_and_lets_the_user_pick(client, tmp_path):
    photo = upload(tmp_path, two_face_photo(), "two.jpg")
    crop, out, note = client.predict(photo, "real", "anime", "Find the face", 1, api_name="/transfer")
    assert Image.open(crop).size == Image.open(out).size == (256, 256)
    assert "Found 2 faces; used face 1 (the largest)" in note
    second, _, note = client.predict(photo, "real", "anime", "Find the face", 2, api_name="/transfer")
    assert "used face 2" in note and Image.open(second).tobytes() != Image.open(crop).tobytes()
    with pytest.raises(AppError, match=r"face number \(2 found\) must be a whole number from 1 to 2 \(got 3\)"):
        client.predict(photo, "real", "anime", "Find the face", 3, api_name="/transfer")
    *_, note = client.predict(photo, "auto", "anime", "Find the face", 1, api_name="/transfer")
    assert "looks" in note and "sure" in note


def test_both_transfer_models_answer_and_differ(client, tmp_path):
    """The GAN is the default; the trVAE stays as the original method. Each says in its note which one drew it."""
    photo = upload(tmp_path, schematic_face(160))
    outputs = {}
    for model in ["GAN (default)", "trVAE (original method)"]:
        crop, out, note = client.predict(photo, "real", "anime", "Find the face", 1, model, api_name="/transfer")
        assert Image.open(out).size == (256, 256) and f"by the {model.split(' (')[0]} at" in note
        outputs[model] = Image.open(out).tobytes()
    assert outputs["GAN (default)"] != outputs["trVAE (original method)"]
    *_, note = client.predict(photo, "real", "anime", "Find the face", 1, api_name="/transfer")  # the default
    assert "by the GAN at" in note


def test_no_face_says_so_and_the_whole_image_still_works(client, tmp_path):
    plain = upload(tmp_path, Image.new("RGB", (400, 300), (90, 120, 200)))
    with pytest.raises(AppError, match="No face found.*Use the whole image"):
        client.predict(plain, "real", "anime", "Find the face", 1, api_name="/transfer")
    crop, out, _ = client.predict(plain, "real", "anime", "Use the whole image", 1, api_name="/transfer")
    assert Image.open(crop).getpixel((128, 128)) == (90, 120, 200)
    *_, note = client.predict(plain, "anime", "real", "Find the face", 1, api_name="/transfer")
    assert "centre square" in note


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_transfer_takes_any_image_mode(client, tmp_path, mode):
    picture = schematic_face(120).convert(mode)
    crop, out, _ = client.predict(upload(tmp_path, picture), "real", "anime", "Use the whole image", 1, api_name="/transfer")
    assert Image.open(out).size == (256, 256)


@pytest.mark.parametrize("content, message", [
    (b"", "not an image we can read"),
    (b"GIF89a but then garbage", "not an image we can read"),
    (png_header(8000, 6000), "too large"),
    (png_header(30000, 30000), "too large"),
])  # fmt: skip
def test_bad_uploads_are_clear_errors_and_the_server_keeps_serving(client, tmp_path, content, message):
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(tmp_path / "bad.png")), "real", "anime", "Find the face", 1, api_name="/transfer")
    with pytest.raises(AppError, match="too small"):
        client.predict(upload(tmp_path, Image.new("RGB", (1, 1))), "real", "anime", "Find the face", 1, api_name="/transfer")
    assert len(client.predict(2, 0, 1.0, "GAN (default)", api_name="/sample_cats")) == 2  # still serving


def test_write_returns_the_text_and_its_variants(client):
    image, variants = client.predict("Hi 42\nyes", 3, True, 3, "#000080", "#ffffff", False, 2, api_name="/write")
    image, variants = Image.open(image), gallery_images(variants)
    assert len(variants) == 3 and image.mode == "RGB" and image.width > image.height
    assert variants[0].tobytes() == image.tobytes()  # the image is the first variant
    clear, _ = client.predict("Hi", 3, True, 1, "#000080", "#ffffff", True, 1, 1.0, api_name="/write")
    assert Image.open(clear).mode == "RGBA"
    with pytest.raises(AppError, match=r"Variety must be a number from 0.1 to 1 \(got 1.5\)"):
        client.predict("Hi", 3, True, 1, "#000080", "#ffffff", True, 1, 1.5, api_name="/write")


def test_write_errors_are_clear(client):
    with pytest.raises(AppError, match=r"Cannot write '!'"):
        client.predict("Hi!", 3, True, api_name="/write")
    with pytest.raises(AppError, match="is not a colour"):
        client.predict("Hi", 3, True, 1, "inky", api_name="/write")


def test_sample_cars_and_a_bad_view(client):
    assert len(client.predict("rear", 3, 1, 0.7, api_name="/sample_cars")) == 3
    with pytest.raises(AppError, match=r"The viewpoint must be one of: front, .* \(got 'sideways'\)"):
        client.predict("sideways", 3, 1, 1.0, api_name="/sample_cars")


def test_walk_around_car_draws_one_car_in_every_view_in_walking_order(client):
    from genmodels.base import to_pil

    strip, gif = client.predict(5, 1.0, api_name="/walk_around_car")
    assert Image.open(strip).size == (8 * 18 + 2, 18 + 2)  # eight 16 px views with 2 px gaps
    # eight frames, no bounce (a tiny untrained model may draw every view alike: PIL then merges the frames, which
    # the total play time still counts)
    assert gif_duration_ms(gif) == 8 * 400 and Image.open(gif).size == (64, 64)
    again, _ = client.predict(5, 1.0, api_name="/walk_around_car")
    assert Image.open(again).tobytes() == Image.open(strip).tobytes()
    rear = to_pil(load("cars").sample(1, seed=5, labels=["rear"]))[0]  # the fifth view is the same seed's rear view
    assert Image.open(strip).convert("RGB").crop((2 + 4 * 18, 2, 2 + 4 * 18 + 16, 18)).tobytes() == rear.tobytes()


def test_bad_numbers_are_clear_errors(client):
    with pytest.raises(AppError, match=r"The seed must be a whole number from 0 to 2147483647 \(got -5\)"):
        client.predict(4, -5, 1.0, "GAN (default)", api_name="/sample_cats")
    with pytest.raises(AppError, match=r"number of images must be a whole number from 1 to 64 \(got 65\)"):
        client.predict(65, 0, 1.0, "VAE (original method)", api_name="/sample_cats")
    with pytest.raises(AppError, match="Upload an image first"):
        client.predict(None, "real", "anime", "Find the face", 1, api_name="/transfer")


def test_a_missing_model_errors_clearly_and_the_rest_keep_working(client, weights):
    with pytest.raises(AppError, match="The faces model has no weights here yet: nothing in \\$GENMODELS_WEIGHTS_DIR/faces"):
        client.predict(4, 0, 1.0, api_name="/sample_faces")
    assert len(client.predict(2, 0, 1.0, "GAN (default)", api_name="/sample_cats")) == 2  # still serving
    write_tiny_weights(weights, ["faces"])  # weights arrive: the next call loads them
    assert len(client.predict(4, 0, 1.0, api_name="/sample_faces")) == 4


def test_tabs_without_weights_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_WEIGHTS_DIR", str(tmp_path))
    app = importlib.import_module("app")
    config = str(app.build().get_config_file())
    assert config.count("Not trained yet") == 5
