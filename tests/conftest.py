"""Offline, deterministic test settings and the tiny fixtures the tests share (tiny weights, tiny datasets)."""

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


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def make_image_dataset(folder, n: int, size: int = 28, labels=None, split: str = "train", names=None):
    """A Hub-layout dataset folder (data/<split>-00000-of-00001.parquet) of random grey images and labels
    (a ClassLabel with `names`, default "0"-"9")."""
    from datasets import ClassLabel, Dataset, Features, Image as ImageFeature

    rng = np.random.default_rng(0)
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
