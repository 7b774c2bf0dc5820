"""Streaming image data: a Hub id or a local folder in Hub layout, shuffled, decoded, resized, sharded per process.

A dataset id `org/name` is read from `$GENMODELS_DATA_DIR/name` when that folder exists (a local mirror of the
Hub, e.g. GENMODELS_DATA_DIR=../shared/datasets), else streamed from the Hub.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from datasets import load_dataset
from datasets.distributed import split_dataset_by_node


def dataset_source(name_or_path: str) -> str:
    """A local folder as given, else the mirror folder under $GENMODELS_DATA_DIR, else the Hub id itself."""
    if Path(name_or_path).is_dir():
        return name_or_path
    mirror = Path(os.environ.get("GENMODELS_DATA_DIR", "")) / name_or_path.split("/")[-1]
    return str(mirror) if os.environ.get("GENMODELS_DATA_DIR") and mirror.is_dir() else name_or_path


def open_stream(name_or_path: str, split: str = "train", *, seed: int = 0, buffer_size: int = 2048,
                rank: int = 0, world_size: int = 1):  # fmt: skip
    """A shuffled streaming dataset; each of `world_size` processes sees a disjoint shard."""
    ds = load_dataset(dataset_source(name_or_path), split=split, streaming=True)
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
    """(images, labels) batches from an ExampleStream; with `balance`, labels are drawn uniformly over the classes
    seen so far, each from a per-class reservoir, so rare classes are learned as well as common ones."""

    def __init__(self, stream: ExampleStream, batch_size: int, *, balance: bool = False,
                 reservoir: int = 1024, seed: int = 0):  # fmt: skip
        self.stream, self.batch_size, self.balance, self.reservoir = stream, batch_size, balance, reservoir
        self.rng = random.Random(seed)
        self.pools: dict[int, list] = {}
        self.examples = iter(stream)
        self.seen = 0

    def add(self, example: tuple) -> None:
        """Reservoir sampling per class: every example of a class has the same chance to sit in its pool."""
        pool = self.pools.setdefault(int(example[1]), [])
        self.seen += 1
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
            batch = [self.rng.choice(self.pools[self.rng.choice(classes)]) for _ in range(self.batch_size)]
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
