"""The Faces tab's endpoints through gradio_client on tiny weights: sampling from both densities, morphs between
seeds and photos, the attribute strip, reconstruction, and the face finding they share with Anime <-> Real."""

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from genmodels.facecrop import NO_FACE

from .conftest import gif_duration_ms, launched_app, schematic_face, two_face_photo, write_tiny_weights

DENSITIES = ["fitted (default)", "prior N(0, I)"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with launched_app(write_tiny_weights(tmp_path_factory.mktemp("weights"))) as (client, _):
        yield client


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    two_face_photo().save(folder / "two.jpg")
    schematic_face(120).save(folder / "one.png")
    Image.new("RGB", (300, 200), (80, 160, 90)).save(folder / "plain.png")
    return {name: handle_file(str(folder / f"{name}.{'jpg' if name == 'two' else 'png'}")) for name in ("two", "one", "plain")}


def pixels(path) -> bytes:
    return Image.open(path).convert("RGB").tobytes()


def test_sample_faces_from_either_density_is_repeatable_and_they_differ(client):
    fitted, prior = (client.predict(4, 3, 1.0, density, api_name="/sample_faces") for density in DENSITIES)
    assert len(fitted) == len(prior) == 4 and Image.open(fitted[0]["image"]).size == (16, 16)
    again = client.predict(4, 3, 1.0, DENSITIES[0], api_name="/sample_faces")
    assert [pixels(a["image"]) for a in again] == [pixels(f["image"]) for f in fitted]
    assert pixels(fitted[0]["image"]) != pixels(prior[0]["image"])


def test_morph_between_seeds_gives_a_strip_and_a_looping_gif(client):
    strip, gif, note = client.predict(3, 11, None, None, 5, 1.0, DENSITIES[0], "Find the face", api_name="/morph_faces")
    assert Image.open(strip).size == (5 * 18 + 2, 18 + 2) and note == "From seed 3 to seed 11."
    assert gif_duration_ms(gif) == (2 * 24 - 2) * 80 and Image.open(gif).size == (64, 64)


def test_morph_from_a_photo_uses_its_largest_face(client, photos):
    _, _, note = client.predict(0, 11, photos["two"], None, 4, 1.0, DENSITIES[1], "Find the face", api_name="/morph_faces")
    assert note == "From your photo (Found 2 faces; used face 1 (the largest)) to seed 11."
    _, _, note = client.predict(0, 0, photos["plain"], photos["one"], 2, 1.0, DENSITIES[0], "Use the whole image",
                                api_name="/morph_faces")  # fmt: skip
    assert note.startswith("From your photo (Used the centre square of the whole image) to your photo")
    with pytest.raises(AppError) as error:  # the same message as Anime <-> Real's
        client.predict(0, 0, photos["plain"], None, 4, 1.0, DENSITIES[0], "Find the face", api_name="/morph_faces")
    assert error.value.message == NO_FACE


def test_edit_face_draws_the_strip_from_less_to_more(client, photos):
    strip, note = client.predict("male", 2.0, 5, 7, None, 1.0, DENSITIES[0], "Find the face", api_name="/edit_face")
    assert Image.open(strip).size == (5 * 18 + 2, 18 + 2)
    assert note == "seed 7: female (-2) on the left to male (+2) on the right."
    _, note = client.predict("male", 1.0, 3, 0, photos["one"], 1.0, DENSITIES[0], "Find the face", api_name="/edit_face")
    assert note.startswith("your photo (Found 1 face; used face 1)")


def test_reconstruct_shows_the_crop_and_its_reconstruction(client, photos):
    crop, out, note = client.predict(photos["two"], "Find the face", 2, api_name="/reconstruct_face")
    assert Image.open(crop).size == Image.open(out).size == (256, 256)
    assert note.startswith("Found 2 faces; used face 2. Reconstructed at 16x16 with a PSNR of ") and note.endswith(
        " dB; shown at 256x256.")
    whole, _, _ = client.predict(photos["plain"], "Use the whole image", 1, api_name="/reconstruct_face")
    assert Image.open(whole).getpixel((128, 128)) == (80, 160, 90)
    with pytest.raises(AppError, match="No face found in this photo"):
        client.predict(photos["plain"], "Find the face", 1, api_name="/reconstruct_face")
