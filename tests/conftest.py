"""Offline, deterministic test settings and the tiny fixtures the tests share (tiny weights, tiny datasets)."""

import contextlib
import io
import os

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from genmodels import REGISTRY, build_tiny  # noqa: E402


def write_tiny_weights(folder, names=tuple(REGISTRY)):
    for name in names:
        build_tiny(name).save_pretrained(folder / name)
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
    """A drawn frontal face (light oval, dark brows, eyes and mouth): the light-dark pattern OpenCV's Haar cascade
    finds, so face detection can be tested without shipping a photo."""
    from PIL import ImageDraw, ImageFilter

    image = Image.new("L", (size, size), 90)
    draw, s = ImageDraw.Draw(image), size / 100
    draw.ellipse([15 * s, 5 * s, 85 * s, 100 * s], fill=200)
    for cx in (35, 65):
        draw.ellipse([(cx - 10) * s, 30 * s, (cx + 10) * s, 36 * s], fill=60)
        draw.ellipse([(cx - 8) * s, 40 * s, (cx + 8) * s, 50 * s], fill=40)
    draw.polygon([(50 * s, 48 * s), (44 * s, 68 * s), (56 * s, 68 * s)], fill=170)
    draw.ellipse([38 * s, 76 * s, 62 * s, 84 * s], fill=70)
    return image.filter(ImageFilter.GaussianBlur(2 * s)).convert("RGB")


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
