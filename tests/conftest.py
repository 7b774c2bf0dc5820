"""Offline, deterministic test settings and the tiny fixtures the tests share (tiny weights, tiny datasets)."""

import contextlib
import io
import os

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from genmodels import REGISTRY, save_tiny  # noqa: E402


def write_tiny_weights(folder, names=tuple(REGISTRY)):
    """Every model's stand-in (`save_tiny`: tiny random ones, the face detector's bundled weights)."""
    for name in names:
        save_tiny(name, folder / name)
    return folder


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A weights folder holding a tiny random model for every registered name."""
    return write_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def tiny_models(tiny_weights, monkeypatch, tmp_path):
    """`load` serves the tiny weights; evaluation caches go to a fresh folder."""
    from genmodels import load

    monkeypatch.setenv("GENMODELS_WEIGHTS_DIR", str(tiny_weights))
    monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path / "cache"))
    load.cache_clear()
    yield tiny_weights
    load.cache_clear()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launched_app(weights):
    """The app built on the weights folder `weights` and launched on loopback: yields (gradio_client.Client, url)."""
    import importlib

    from gradio_client import Client

    from genmodels import load

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENMODELS_WEIGHTS_DIR", str(weights))
        load.cache_clear()
        app = importlib.import_module("app")
        app.demo = app.build()  # built with this weights folder
        url = f"http://127.0.0.1:{free_port()}/"
        app.serve(block=False, server_name="127.0.0.1", server_port=int(url.rsplit(":", 1)[1][:-1]), quiet=True)
        try:
            yield Client(url, verbose=False), url
        finally:
            app.demo.close()
            load.cache_clear()


def tiny_gan_flags(data, tmp_path) -> list[str]:
    """Flags for a tiny smoke run of a `train.cats`-style GAN script on `data`: 16 px, 8 images a step, a checkpoint
    every 2 steps."""
    return ["--dataset", str(data), "--output-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "weights"),
            "--resolution", "16", "--batch-size", "8", "--latent-dim", "8", "--g-channels", "4", "--g-last-channels", "4",
            "--d-channels", "4", "--log-every", "1", "--sample-every", "2", "--checkpoint-every", "2",
            "--mixed-precision", "no"]  # fmt: skip


def gif_duration_ms(path) -> int:
    """Total play time of a GIF (PIL merges identical neighbouring frames into one longer frame when saving)."""
    animation = Image.open(path)
    total = 0
    for frame in range(animation.n_frames):
        animation.seek(frame)
        total += animation.info["duration"]
    return total


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def make_image_dataset(folder, n: int, size: int = 28, labels=None, split: str = "train", names=None, seed: int = 0):
    """A Hub-layout dataset folder (data/<split>-00000-of-00001.parquet) of random grey images and labels
    (a ClassLabel with `names`, default "0"-"9")."""
    from datasets import ClassLabel, Dataset, Features, Image as ImageFeature

    rng = np.random.default_rng(seed)
    labels = labels if labels is not None else [i % 10 for i in range(n)]
    rows = {"image": [{"bytes": png_bytes(rng.integers(0, 256, (size, size), dtype=np.uint8)), "path": None}
                      for _ in range(n)], "label": labels}  # fmt: skip
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=list(names or map(str, range(10))))})
    (folder / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory):
    """64 random 28x28 'digits' in Hub layout, labels 0-9 cycled."""
    return make_image_dataset(tmp_path_factory.mktemp("digits"), 64)


def schematic_face(size: int) -> Image.Image:
    """A drawn frontal face (skin-coloured oval under dark hair; brows, eyes, nose and mouth) filling 80% of a grey
    square: what both face detectors (MTCNN, and the Haar cascade baseline) find, so face detection can be tested
    without shipping a photo."""
    from PIL import ImageDraw, ImageFilter

    image = Image.new("RGB", (size, size), (90, 90, 90))
    draw, s, o = ImageDraw.Draw(image), size / 100 * 0.8, size * 0.1

    def box(*xy):  # drawing units (0-100 across the head) -> pixels
        return [o + v * s for v in xy]

    draw.ellipse(box(10, -5, 90, 70), fill=(60, 40, 30))  # hair
    draw.ellipse(box(15, 5, 85, 100), fill=(225, 185, 155))
    for cx in (35, 65):
        draw.ellipse(box(cx - 10, 30, cx + 10, 36), fill=(80, 55, 40))
        draw.ellipse(box(cx - 8, 40, cx + 8, 50), fill=(250, 250, 250))
        draw.ellipse(box(cx - 4, 41, cx + 4, 49), fill=(40, 30, 30))
    draw.polygon([tuple(box(50, 48)), tuple(box(44, 68)), tuple(box(56, 68))], fill=(200, 150, 125))
    draw.ellipse(box(38, 76, 62, 84), fill=(170, 80, 80))
    return image.filter(ImageFilter.GaussianBlur(1.5 * s))


def two_face_photo() -> Image.Image:
    """A 1024x768 'photo' with a large face on the left and a smaller one on the right."""
    photo = Image.new("RGB", (1024, 768), (120, 140, 160))
    photo.paste(schematic_face(300), (100, 200))
    photo.paste(schematic_face(180), (650, 300))
    return photo


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` but holds almost no data: a decompression bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def domain_data(tmp_path_factory):
    """A $GENMODELS_DATA_DIR with tiny stand-ins for celeb-faces, utk-faces and anime-faces (60 images each)."""
    root = tmp_path_factory.mktemp("faces-data")
    for i, name in enumerate(["celeb-faces", "utk-faces", "anime-faces"]):
        make_image_dataset(root / name, 60, size=20, seed=i)
    return root
