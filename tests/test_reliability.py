"""The Space under attack and under load: a bad-input matrix over every endpoint (gradio_client and raw HTTP), each
answer checked word for word and followed by a normal call; weight faults each with their own message; a stalled Hub
that fails fast once and at once after; identical concurrent requests that all get whole files; no file served that
is not ours; outputs that the cache cleaner removes."""

import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from genmodels.registry import ROOT

from .conftest import gif_duration_ms, launched_app, png_header, schematic_face, two_face_photo, write_tiny_weights

CATS = [2, 0, 1.0, "GAN (default)"]
WALK = [0, 1, 3, 1.0, "GAN (default)"]
TRANSFER = ["<photo>", "real", "anime", "Find the face", 1, "GAN (default)"]
WRITE = ["Hi", 0, True, 1, "#000000", "#ffffff", False, 1, 0.5]
FACES = [2, 0, 1.0, "fitted (default)"]
MORPH = [0, 1, None, None, 3, 1.0, "fitted (default)", "Find the face"]
EDIT = ["male", 1.0, 3, 0, None, 1.0, "fitted (default)", "Find the face"]
RECONSTRUCT = ["<photo>", "Find the face", 1]
CARS = ["rear", 2, 0, 1.0]
SEED_RANGE = "from 0 to 2147483647"
NOT_AN_UPLOAD = ("A file argument was not an upload: send the image itself (in gradio_client: handle_file(path) or a "
                 "URL).")  # fmt: skip
NO_FACE = ('No face found in this photo. Choose "Use the whole image" to use the picture as it is (best for a '
           "photo already cut to a face), or try a photo where the face is upright and clearly visible.")  # fmt: skip


def changed(args: list, index: int, value) -> list:
    args = list(args)
    args[index] = value
    return args


# (endpoint, arguments, exact message); "<photo>" is replaced by an uploaded two-face photo, "<name>" by an upload of
# that test file. Calls marked raw go over plain HTTP (NaN, infinity, wrong counts, paths that are not uploads).
CASES = [
    ("sample_cats", changed(CATS, 0, "abc"), "The number of images must be a whole number from 1 to 64 (got 'abc')."),
    ("sample_cats", changed(CATS, 0, None), "The number of images must be a whole number from 1 to 64 (got nothing)."),
    ("sample_cats", changed(CATS, 0, [1, 2]), "The number of images must be a whole number from 1 to 64 (got a list)."),
    ("sample_cats", changed(CATS, 0, 1.5), "The number of images must be a whole number from 1 to 64 (got 1.5)."),
    ("sample_cats", changed(CATS, 0, 0), "The number of images must be a whole number from 1 to 64 (got 0)."),
    ("sample_cats", changed(CATS, 0, 65), "The number of images must be a whole number from 1 to 64 (got 65)."),
    ("sample_cats", changed(CATS, 0, True), "The number of images must be a whole number from 1 to 64 (got True)."),
    ("sample_cats", changed(CATS, 1, -1), f"The seed must be a whole number {SEED_RANGE} (got -1)."),
    ("sample_cats", changed(CATS, 1, 2**31), f"The seed must be a whole number {SEED_RANGE} (got 2147483648)."),
    ("sample_cats", changed(CATS, 2, 3.0), "Truncation / temperature must be a number from 0.1 to 1.5 (got 3.0)."),
    ("sample_cats", changed(CATS, 2, "1"), "Truncation / temperature must be a number from 0.1 to 1.5 (got '1')."),
    ("sample_cats", changed(CATS, 3, "dog"), "The model must be one of: GAN (default), VAE (original method) (got 'dog')."),
    ("sample_cats", changed(CATS, 3, None), "The model must be one of: GAN (default), VAE (original method) (got nothing)."),
    ("interpolate_cats", changed(WALK, 2, 1), "The number of steps must be a whole number from 2 to 16 (got 1)."),
    ("interpolate_cats", changed(WALK, 0, "x"), f"The first seed must be a whole number {SEED_RANGE} (got 'x')."),
    ("interpolate_cats", changed(WALK, 1, None), f"The second seed must be a whole number {SEED_RANGE} (got nothing)."),
    ("interpolate_cats", changed(WALK, 4, 5), "The model must be one of: GAN (default), VAE (original method) (got 5)."),
    ("transfer", changed(TRANSFER, 0, None), "Upload an image first."),
    ("transfer", changed(TRANSFER, 1, "cartoon"), "The source must be one of: auto, real, anime (got 'cartoon')."),
    ("transfer", changed(TRANSFER, 2, "auto"), "The target must be one of: real, anime (got 'auto')."),
    ("transfer", changed(TRANSFER, 3, "guess"), "The face mode must be one of: Find the face, Use the whole image (got 'guess')."),
    ("transfer", changed(TRANSFER, 5, "CycleGAN"), "The model must be one of: GAN (default), trVAE (original method) (got 'CycleGAN')."),
    ("transfer", changed(TRANSFER, 4, 1.5), "The face number must be a whole number from 1 to 20 (got 1.5)."),
    ("transfer", changed(TRANSFER, 4, 0), "The face number must be a whole number from 1 to 20 (got 0)."),
    ("transfer", changed(TRANSFER, 4, 3), "The face number (2 found) must be a whole number from 1 to 2 (got 3)."),
    ("transfer", changed(TRANSFER, 2, "real"), 'The picture is real and would be turned into real: choose "anime".'),
    ("transfer", changed(TRANSFER, 0, "<empty.png>"), "This file is not an image we can read (use JPEG, PNG or WebP)."),
    ("transfer", changed(TRANSFER, 0, "<garbage.png>"), "This file is not an image we can read (use JPEG, PNG or WebP)."),
    ("transfer", changed(TRANSFER, 0, "<bomb.png>"), "This image is too large: at most 40 megapixels."),
    ("transfer", changed(TRANSFER, 0, "<tiny.png>"), "This image is too small (1x1): a face needs at least 16x16 pixels."),
    ("transfer", changed(TRANSFER, 0, "<wide.png>"), NO_FACE),
    ("write", changed(WRITE, 0, None), "The text must be text (got nothing)."),
    ("write", changed(WRITE, 0, 123), "The text must be text (got 123)."),
    ("write", changed(WRITE, 0, "Hi!"), "Cannot write '!': only letters A-Z, a-z, digits 0-9, spaces and line breaks are allowed."),
    ("write", changed(WRITE, 0, "a" * 65), "That is 65 characters; the limit is 64."),
    ("write", changed(WRITE, 1, "abc"), f"The seed must be a whole number {SEED_RANGE} (got 'abc')."),
    ("write", changed(WRITE, 2, "yes"), "One hand must be true or false (got 'yes')."),
    ("write", changed(WRITE, 3, 9), "The number of variants must be a whole number from 1 to 8 (got 9)."),
    ("write", changed(WRITE, 4, "inky"), "'inky' is not a colour; use a name like 'navy' or a code like '#1b1f3b'."),
    ("write", changed(WRITE, 4, None), "The ink colour must be text (got nothing)."),
    ("write", changed(WRITE, 6, 1), "Transparent must be true or false (got 1)."),
    ("write", changed(WRITE, 7, 0), "The size must be a whole number from 1 to 6 (got 0)."),
    ("sample_faces", changed(FACES, 2, "hot"), "The temperature must be a number from 0.1 to 1.5 (got 'hot')."),
    ("sample_faces", changed(FACES, 0, 100), "The number of images must be a whole number from 1 to 64 (got 100)."),
    ("sample_faces", changed(FACES, 3, "posterior"), "The density must be one of: fitted (default), prior N(0, I) (got "
     "'posterior')."),
    ("morph_faces", changed(MORPH, 4, 17), "The number of steps must be a whole number from 2 to 16 (got 17)."),
    ("morph_faces", changed(MORPH, 0, -3), f"The first seed must be a whole number {SEED_RANGE} (got -3)."),
    ("morph_faces", changed(changed(MORPH, 3, "<photo>"), 1, "x"), f"The second seed must be a whole number {SEED_RANGE} (got 'x')."),
    ("edit_face", changed(changed(EDIT, 4, "<photo>"), 3, None), f"The seed must be a whole number {SEED_RANGE} (got nothing)."),
    ("morph_faces", changed(MORPH, 3, "<wide.png>"), NO_FACE),
    ("morph_faces", changed(MORPH, 2, "<garbage.png>"), "This file is not an image we can read (use JPEG, PNG or WebP)."),
    ("morph_faces", changed(MORPH, 7, "crop"), "The face mode must be one of: Find the face, Use the whole image (got 'crop')."),
    ("edit_face", changed(EDIT, 0, "age"), "The attribute must be one of: male (got 'age')."),
    ("edit_face", changed(EDIT, 1, 5), "The amount must be a number from 0.25 to 3 (got 5)."),
    ("edit_face", changed(EDIT, 2, 2), "The number of steps must be a whole number from 3 to 15 (got 2)."),
    ("edit_face", changed(EDIT, 4, "<tiny.png>"), "This image is too small (1x1): a face needs at least 16x16 pixels."),
    ("reconstruct_face", changed(RECONSTRUCT, 0, None), "Upload a photo first."),
    ("reconstruct_face", changed(RECONSTRUCT, 0, "<wide.png>"), NO_FACE),
    ("reconstruct_face", changed(RECONSTRUCT, 0, "<bomb.png>"), "This image is too large: at most 40 megapixels."),
    ("reconstruct_face", changed(RECONSTRUCT, 2, 3), "The face number (2 found) must be a whole number from 1 to 2 (got 3)."),
    ("sample_cars", changed(CARS, 0, "sideways"), "The viewpoint must be one of: front, front-left, front-right, "
     "side-left, side-right, rear-left, rear-right, rear (got 'sideways')."),
    ("sample_cars", changed(CARS, 0, None), "The viewpoint must be one of: front, front-left, front-right, "
     "side-left, side-right, rear-left, rear-right, rear (got nothing)."),
    ("sample_cars", changed(CARS, 1, 0.0), "The number of images must be a whole number from 1 to 64 (got 0.0)."),
    ("sample_cars", changed(CARS, 3, 2), "The truncation must be a number from 0.1 to 1.5 (got 2)."),
    ("walk_around_car", [-1, 1.0], f"The seed must be a whole number {SEED_RANGE} (got -1)."),
    ("walk_around_car", [0, "x"], "The truncation must be a number from 0.1 to 1.5 (got 'x')."),
]  # fmt: skip

# Raw JSON bodies: values gradio_client cannot send (NaN, infinity), wrong argument counts, paths that are not uploads.
RAW_CASES = [
    ("sample_cats", '[2, 0, NaN, "GAN (default)"]', "Truncation / temperature must be a number from 0.1 to 1.5 (got nan)."),
    ("sample_cats", '[2, 0, Infinity, "GAN (default)"]', "Truncation / temperature must be a number from 0.1 to 1.5 (got inf)."),
    ("sample_cats", '[NaN, 0, 1.0, "GAN (default)"]', "The number of images must be a whole number from 1 to 64 (got nan)."),
    ("sample_cats", "[2, 0]", "/sample_cats takes 4 arguments (Number of images, Seed, Truncation / temperature, Model); "
     "it was sent 2."),
    ("sample_cats", '[2, 0, 1.0, "GAN (default)", 7]', "/sample_cats takes 4 arguments (Number of images, Seed, "
     "Truncation / temperature, Model); it was sent 5."),
    ("interpolate_cats", '[0, 1, NaN, 1.0, "GAN (default)"]', "The number of steps must be a whole number from 2 to 16 (got nan)."),
    ("write", '["Hi", 0, true, 1, "#000", "#fff", false, 1, NaN]', "Variety must be a number from 0.1 to 1 (got nan)."),
    ("write", "[]", "/write takes 9 arguments (Text: 0-9, A-Z, a-z, spaces, line breaks; up to 64 characters, Handwriting "
     "seed, One hand (every character in the same style), Variants (seed, seed + 1, ...), Ink, Paper, Transparent "
     "background (PNG with alpha), Size (1 = 20 px capitals), Variety (lower: neater, more uniform)); it was sent 0."),
    ("transfer", '["/etc/passwd", "real", "anime", "Find the face", 1, "GAN (default)"]', NOT_AN_UPLOAD),
    ("transfer", '[{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "real", "anime", "Find the face", 1, '
     '"GAN (default)"]', NOT_AN_UPLOAD),
    ("transfer", json.dumps([{"path": str(ROOT / "app.py"), "meta": {"_type": "gradio.FileData"}}, "real", "anime",
                             "Find the face", 1, "GAN (default)"]), NOT_AN_UPLOAD),
    ("sample_cars", '["rear", Infinity, 0, 1.0]', "The number of images must be a whole number from 1 to 64 (got inf)."),
    ("reconstruct_face", '["/etc/passwd", "Find the face", 1]', NOT_AN_UPLOAD),
    ("edit_face", '["male", NaN, 3, 0, null, 1.0, "fitted (default)", "Find the face"]',
     "The amount must be a number from 0.25 to 3 (got nan)."),
]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with launched_app(write_tiny_weights(tmp_path_factory.mktemp("weights"))) as (client, url):
        yield client, url


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    two_face_photo().save(folder / "photo.jpg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "garbage.png").write_bytes(b"GIF89a but then garbage")
    (folder / "bomb.png").write_bytes(png_header(30000, 30000))
    Image.new("RGB", (1, 1)).save(folder / "tiny.png")
    Image.new("RGB", (4000, 16), (128, 128, 128)).save(folder / "wide.png")
    return folder


def still_serving(client) -> None:
    assert len(client.predict(*CATS, api_name="/sample_cats")) == 2


def raw_call(url: str, api: str, body: str) -> dict:
    """POST a raw JSON body to /gradio_api/call/<api> and read the answer's last event: {"event": ..., "data": ...}."""
    event_id = httpx.post(f"{url}gradio_api/call/{api}", content=f'{{"data": {body}}}',
                          headers={"content-type": "application/json"}).json()["event_id"]  # fmt: skip
    stream = httpx.get(f"{url}gradio_api/call/{api}/{event_id}", timeout=60).text
    event, data = [line.split(": ", 1)[1] for line in stream.strip().splitlines()[-2:]]
    return {"event": event, "data": json.loads(data)}


@pytest.mark.parametrize("api, args, message", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_gets_its_exact_message_and_the_server_keeps_serving(served, uploads, api, args, message):
    client, _ = served
    args = [handle_file(str(uploads / ("photo.jpg" if a == "<photo>" else a[1:-1])))
            if isinstance(a, str) and a.startswith("<") else a for a in args]  # fmt: skip
    with pytest.raises(AppError) as error:
        client.predict(*args, api_name=f"/{api}")
    assert error.value.message == message
    still_serving(client)


@pytest.mark.parametrize("api, body, message", RAW_CASES, ids=[f"{c[0]}-raw-{i}" for i, c in enumerate(RAW_CASES)])
def test_raw_http_bad_input_gets_its_exact_message(served, api, body, message):
    client, url = served
    assert raw_call(url, api, body) == {"event": "error", "data": {"error": message, "duration": 10, "visible": True,
                                                                   "title": "Error"}}  # fmt: skip
    still_serving(client)


def test_an_unknown_endpoint_is_a_clear_404(served):
    _, url = served
    response = httpx.post(f"{url}gradio_api/call/nothing_here", json={"data": []})
    assert response.status_code == 404 and response.json() == {"error": "No such endpoint here; the list is at /gradio_api/info."}


def test_wide_and_sixteen_bit_uploads_work(served, tmp_path):
    client, _ = served
    face = np.asarray(schematic_face(200).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(face).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    crop, _, note = client.predict(handle_file(str(tmp_path / "grey16.png")), "real", "anime", "Find the face", 1,
                                   api_name="/transfer")  # fmt: skip
    assert note.startswith("Found 1 face") and 60 < np.asarray(Image.open(crop).convert("L")).mean() < 200
    Image.new("RGB", (4000, 16), (90, 120, 200)).save(tmp_path / "wide.png")
    crop, out, _ = client.predict(handle_file(str(tmp_path / "wide.png")), "real", "anime", "Use the whole image", 1,
                                  api_name="/transfer")  # fmt: skip
    assert Image.open(crop).getpixel((128, 128)) == (90, 120, 200) and Image.open(out).size == (256, 256)


def test_only_our_outputs_are_served(served):
    client, url = served
    output = client.predict(*CATS, api_name="/sample_cats")[0]["image"]
    served_path = Path(output)  # the client's download; the server's own path is in the file URL it fetched
    assert Image.open(served_path).size == (16, 16)
    for path in ["/etc/passwd", str(ROOT / "app.py"), "app.py", str(ROOT / "weights" / "cats" / "config.json"),
                 "../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd"]:  # fmt: skip
        assert httpx.get(f"{url}gradio_api/file={path}").status_code in (403, 404), path


def test_identical_concurrent_requests_all_get_whole_files(served):
    _, url = served
    # A client per worker thread: gradio_client reads all of one Client's jobs from one shared event stream, and two
    # jobs of one Client at once can race its end (CancelledError) under load. The server still gets 16 at once.
    local = threading.local()

    def call(i: int):
        if not hasattr(local, "client"):
            local.client = Client(url, verbose=False)
        client = local.client
        if i % 2:
            strip, gif = client.predict(*WALK, api_name="/interpolate_cats")
            return Image.open(strip).tobytes(), gif_duration_ms(gif)
        image, variants = client.predict(*changed(WRITE, 3, 2), api_name="/write")
        return Image.open(image).tobytes(), len(variants)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(32)))
    assert len({r for r in results[1::2]}) == 1 and results[1][1] == (2 * 24 - 2) * 80  # every GIF whole, all alike
    assert len({r for r in results[0::2]}) == 1 and results[0][1] == 2


def test_outputs_are_removed_by_the_cache_cleaner(served):
    from gradio.route_utils import delete_files_created_by_app

    import app

    client, _ = served
    before = set(app.OUTPUTS.folder.glob("*"))
    client.predict(*CATS, api_name="/sample_cats")
    written = set(app.OUTPUTS.folder.glob("*")) - before
    assert len(written) == 2 and app.demo.delete_cache == app.DELETE_CACHE
    delete_files_created_by_app(app.demo, age=0)
    assert not any(path.exists() for path in written)


# ---- weight faults ------------------------------------------------------------------------------------------------
def damage(weights: Path) -> dict[str, str]:
    """Four models, four faults; returns {api: the message its call and its tab's banner must show}."""
    (weights / "faces" / "diffusion_pytorch_model.safetensors").unlink()
    cars = weights / "cars" / "diffusion_pytorch_model.safetensors"
    cars.write_bytes(cars.read_bytes()[:-64])
    (weights / "cats-vae" / "config.json").write_text('{"resolution": 16,')
    config = json.loads((weights / "handwriting" / "config.json").read_text())
    (weights / "handwriting" / "config.json").write_text(json.dumps({**config, "base_channels": 8}))
    size = cars.stat().st_size
    return {
        "sample_faces": "The faces model's weights file (*.safetensors) is missing beside its config.json.",
        "sample_cars": "The cars model's weights file diffusion_pytorch_model.safetensors is damaged: truncated or "
                       f"not safetensors ({size} bytes, {size + 64} declared). Download it again.",
        "sample_cats": "The cats-vae model's config.json is not valid JSON (Expecting property name enclosed in "
                       "double quotes: line 1 column 19 (char 18)).",
        "write": "The handwriting model's weights do not fit its config.json: 14 tensor(s) differ, e.g. "
                 "norms.0.bn.running_mean is 8 in the file, 16 expected.",
    }  # fmt: skip


def test_each_weight_fault_has_its_own_message_in_banner_and_api(tmp_path):
    weights = write_tiny_weights(tmp_path)
    messages = damage(weights)
    with launched_app(weights) as (client, _):
        import app

        config = json.dumps(app.demo.get_config_file())
        calls = {"sample_faces": FACES, "sample_cars": CARS, "sample_cats": changed(CATS, 3, "VAE (original method)"),
                 "write": WRITE}  # fmt: skip
        for api, message in messages.items():
            assert json.dumps(f"**This model cannot run.** {message}")[1:-1] in config
            with pytest.raises(AppError) as error:
                client.predict(*calls[api], api_name=f"/{api}")
            assert error.value.message == message
        still_serving(client)  # the GAN beside the broken VAE
        strip, _ = client.predict(*WALK, api_name="/interpolate_cats")
        assert Image.open(strip).size == (3 * 18 + 2, 18 + 2)
        Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
        *_, note = client.predict(handle_file(str(tmp_path / "photo.png")), *TRANSFER[1:3], "Use the whole image", 1,
                                  api_name="/transfer")  # fmt: skip
        assert "real -> anime" in note


# ---- a stalled Hub ------------------------------------------------------------------------------------------------
STALLED_LOAD = """
import time
from genmodels import load
for attempt in range(2):
    start = time.monotonic()
    try:
        load("faces")
    except Exception as error:
        print(f"{time.monotonic() - start:.1f}|{type(error).__name__}|{error}", flush=True)
"""


def test_a_stalled_hub_fails_within_15_s_and_is_not_asked_again(tmp_path):
    server, accepted = socket.socket(), []
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    threading.Thread(target=lambda: [accepted.append(server.accept()) for _ in iter(int, 1)], daemon=True).start()
    env = {"PATH": "/usr/bin:/bin", "HF_ENDPOINT": f"http://127.0.0.1:{server.getsockname()[1]}",
           "HF_HUB_CACHE": str(tmp_path / "hub"), "GENMODELS_WEIGHTS_DIR": str(tmp_path / "none"), "HF_HUB_OFFLINE": "0",
           "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", STALLED_LOAD], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    (first_s, first_kind, first), (_, second_kind, second) = [line.split("|") for line in out.stdout.splitlines()]
    assert float(first_s) < 15 and first_kind == second_kind == "WeightsNotFound"
    assert first == ("The faces model has no weights here yet: nothing in $GENMODELS_WEIGHTS_DIR/faces, and the Hub "
                     "repo genmodels/faces-vae did not answer within 10 s.")  # fmt: skip
    assert second == first[:-1] + "; not tried again for 5 minutes."
    assert len(accepted) >= 1 and str(tmp_path) not in first + second
    server.close()
