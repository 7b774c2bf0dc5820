"""Streaming image data: a Hub id or a local folder in Hub layout, shuffled, decoded, resized, sharded per process.

A dataset id `org/name` is read from `$GENMODELS_DATA_DIR/name` when that folder exists (a local mirror of the
Hub, e.g. GENMODELS_DATA_DIR=../shared/datasets), else streamed from the Hub.

Our own held-out part of a split (`part="holdout"`, the rest is `part="train"`) is decided by a hash of each image's
encoded bytes, so it is the same on every machine and in every stream order, and needs no index.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import PIL.Image
import torch
from datasets import Dataset, Features, Image, Value, interleave_datasets, load_dataset
from datasets import config as datasets_config
from datasets.distributed import split_dataset_by_node

from genmodels.base import image_to_tensor

HOLDOUT_PERCENT = 10  # share of every split kept back as our own held-out part
# `datasets` sleeps 5 s each time a parquet stream ends, to let Arrow's reader threads wind down (apache/arrow#45214,
# a crash when the interpreter exits under them). Our streams end at every epoch: on celeb-faces (68 steps an epoch)
# that was a 5 s stall per ~20 s of training. Every read has returned by then; a short pause is enough.
datasets_config.SLEEP_TIME_ON_THREADS_SHUTDOWN = 0.05


def in_holdout(image_bytes: bytes) -> bool:
    return int.from_bytes(hashlib.sha1(image_bytes).digest()[:4], "big") % 100 < HOLDOUT_PERCENT


def decode_image(value) -> PIL.Image.Image:
    """A dataset's image value as PIL: decoded already, or the {"bytes", "path"} of an undecoded Image column."""
    return value if isinstance(value, PIL.Image.Image) else PIL.Image.open(io.BytesIO(value["bytes"]))


def dataset_source(name_or_path: str) -> str:
    """A local folder as given, else the mirror folder under $GENMODELS_DATA_DIR, else the Hub id itself."""
    if Path(name_or_path).is_dir():
        return name_or_path
    mirror = Path(os.environ.get("GENMODELS_DATA_DIR", "")) / name_or_path.split("/")[-1]
    return str(mirror) if os.environ.get("GENMODELS_DATA_DIR") and mirror.is_dir() else name_or_path


def open_stream(name_or_path: str, split: str = "train", *, part: str = "all", seed: int = 0, buffer_size: int = 2048,
                rank: int = 0, world_size: int = 1):  # fmt: skip
    """A shuffled streaming dataset; each of `world_size` processes sees a disjoint shard. `part`: "all" of the
    split, or our "train" / "holdout" parts of it (see `in_holdout`), whose images stay encoded (`decode_image`)."""
    if part not in ("all", "train", "holdout"):
        raise ValueError(f"part must be all, train or holdout, not {part!r}")
    ds = load_dataset(dataset_source(name_or_path), split=split, streaming=True)
    if part != "all":
        keep = part == "holdout"
        ds = ds.cast_column("image", Image(decode=False)).filter(lambda ex: in_holdout(ex["image"]["bytes"]) == keep)
    if world_size > 1:
        ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)
    return ds.shuffle(seed=seed, buffer_size=buffer_size) if buffer_size > 1 else ds


class ExampleStream:
    """Endless examples from a streaming dataset, epoch after epoch, with a resumable position."""

    def __init__(self, dataset, transform: Callable[[dict], tuple]):
        self.dataset, self.transform, self.epoch = dataset, transform, 0
        self.iterator = None

    def __iter__(self) -> Iterator[tuple]:
        while True:
            self.dataset.set_epoch(self.epoch)  # a new shuffle order each epoch
            self.iterator = iter(self.dataset)
            for example in self.iterator:
                yield self.transform(example)
            self.epoch += 1

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "dataset": self.dataset.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.dataset.load_state_dict(state["dataset"])


class Batches:
    """(images, labels) batches from an ExampleStream; with `balance`, labels are drawn over the classes seen so far,
    each from a per-class reservoir, so rare classes are learned as well as common ones (with `group`, in runs of that
    many images of one class). A class is drawn with probability proportional to its count so far to the power
    `class_power`: 0 draws the classes uniformly, 1 at their shares in the stream, 0.5 in between."""

    def __init__(self, stream: ExampleStream, batch_size: int, *, balance: bool = False,
                 reservoir: int = 1024, seed: int = 0, group: int = 1, class_power: float = 0.0):  # fmt: skip
        self.stream, self.batch_size, self.balance, self.reservoir = stream, batch_size, balance, reservoir
        self.group = group if balance and group > 1 and batch_size % group == 0 else 1
        self.class_power = class_power
        self.rng = random.Random(seed)
        self.pools: dict[int, list] = {}
        self.counts: Counter = Counter()  # examples of each class seen so far
        self.examples = iter(stream)
        self.seen = 0

    def add(self, example: tuple) -> None:
        """Reservoir sampling per class: every example of a class has the same chance to sit in its pool."""
        pool = self.pools.setdefault(int(example[1]), [])
        self.seen += 1
        self.counts[int(example[1])] += 1
        if len(pool) < self.reservoir:
            pool.append(example)
        else:
            pool[self.rng.randrange(self.reservoir)] = example

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.balance:
            for _ in range(self.batch_size):  # the stream advances one example per drawn example
                self.add(next(self.examples))
            classes = list(self.pools)
            weights = [self.counts[c] ** self.class_power for c in classes]
            # `group` images of one class side by side (a group per drawn class), for a grouped minibatch-std
            drawn = self.rng.choices(classes, weights, k=self.batch_size // self.group)
            batch = [self.rng.choice(self.pools[c]) for c in drawn for _ in range(self.group)]
        else:
            batch = [next(self.examples) for _ in range(self.batch_size)]
            self.seen += self.batch_size
        images, labels = zip(*batch)
        return torch.stack(images), torch.tensor(labels, dtype=torch.long)

    def state_dict(self) -> dict:
        return {"stream": self.stream.state_dict(), "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state["stream"])  # per-class pools refill from the stream
        self.seen = state["seen"]


def labelled_stream(datasets: list[str], labels: list[int] | None = None, *, part: str = "all", seed: int = 0,
                    rank: int = 0, world_size: int = 1):  # fmt: skip
    """Streams of several datasets taken in turn (until each has been seen whole), as (image, label) examples:
    each dataset's own `label` column, or `labels[i]` for every image of `datasets[i]` when given."""
    streams, features = [], Features({"image": Image(decode=False), "label": Value("int64")})
    for i, name in enumerate(datasets):
        stream = open_stream(name, part=part, seed=seed, rank=rank, world_size=world_size)
        if labels is None:
            stream = stream.select_columns(["image", "label"]).cast(features)
        else:
            stream = stream.select_columns(["image"]).map(lambda _, label=labels[i]: {"label": label}, features=features)
        streams.append(stream)
    return interleave_datasets(streams, stopping_strategy="all_exhausted") if len(streams) > 1 else streams[0]


def class_batches(datasets: list[str], size: int, channels: int, batch_size: int, labels: list[int] | None = None,
                  *, part: str = "all", balance: bool = True, seed: int = 0, rank: int = 0,
                  world_size: int = 1, group: int = 1, class_power: float = 0.0) -> Batches:  # fmt: skip
    """(image, label) batches at `size` x `size` from `labelled_stream`: class-balanced, or in stream order."""
    dataset = labelled_stream(datasets, labels, part=part, seed=seed, rank=rank, world_size=world_size)
    stream = ExampleStream(dataset, lambda ex: (image_to_tensor(decode_image(ex["image"]), size, channels), ex["label"]))
    return Batches(stream, batch_size, balance=balance, seed=seed + rank, group=group, class_power=class_power)


def held_out(datasets: list[str], n: int, size: int = 64, part: str = "holdout") -> torch.Tensor:
    """Up to `n` images of our held-out part (or another `part`), in stream order, taken in turn from `datasets`
    while each lasts."""
    streams, images = [iter(open_stream(d, part=part, buffer_size=1)) for d in datasets], []
    while streams and len(images) < n:
        for stream in list(streams):
            example = next(stream, None)
            if example is None:
                streams.remove(stream)
            elif len(images) < n:
                images.append(image_to_tensor(decode_image(example["image"]), size))
    return torch.stack(images)


def png(image: PIL.Image.Image) -> dict:
    """A PIL image as the value of an `Image` column: its PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def write_dataset(folder: Path, rows: dict[str, list], features, card: str) -> None:
    """A dataset repo in Hub layout: data/train-00000-of-00001.parquet and a README.md card whose front matter
    declares the split (so `load_dataset(folder)` and the Hub read it alike)."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    front = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n---\n"
    (folder / "README.md").write_text(front + card, encoding="utf-8")
