"""Cars, step 1: the hand-labelled viewpoints of `stanford-cars` (its `views.csv`) as a dataset in Hub layout, for
`train.classifier --model car-views`.

Every crop is framed whole in a square (`letterbox`): the longer side is scaled to the square's side and the
shorter one padded with the mean colour of the crop's border, so a wide side view keeps its nose and tail. The
same framing makes the generator's training images, so the classifier sees what the generator will draw.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.car_views --out $HOME/data/car-views-hand
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from genmodels.registry import CAR_VIEWS

from .config import command_line, parse
from .data import dataset_source, decode_image, open_stream, png, write_dataset


@dataclass
class Config:
    """Hand-labelled car viewpoints as a Hub-layout dataset of square 64x64 images."""

    dataset: str = "genmodels/stanford-cars"  # the photos (id or folder); its views.csv holds the hand labels
    out: str = ""  # output folder (a dataset repo in Hub layout)
    size: int = 64  # side of the square images


def letterbox(image: Image.Image, size: int) -> Image.Image:
    """`image` scaled so its longer side is `size`, centred on a `size` x `size` square of its border's mean colour:
    nothing of the car is cut off."""
    image = image.convert("RGB")
    pixels = np.asarray(image, dtype=np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    scale = size / max(image.size)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    square = Image.new("RGB", (size, size), tuple(int(round(c)) for c in border.mean(0)))
    square.paste(image.resize((width, height), Image.Resampling.LANCZOS), ((size - width) // 2, (size - height) // 2))
    return square


def main(argv=None):
    from datasets import ClassLabel, Features, Image as ImageFeature, Value

    config = parse(Config, argv)
    if not config.out:
        raise SystemExit("--out: the folder to write the dataset to")
    with open(Path(dataset_source(config.dataset)) / "views.csv", newline="") as f:
        views = {row["file"]: row["view"] for row in csv.DictReader(f)}
    unknown = sorted(set(views.values()) - set(CAR_VIEWS))
    if unknown:
        raise SystemExit(f"views.csv has labels that are not viewpoints: {unknown}")
    rows = {"image": [], "label": [], "file": []}
    for example in open_stream(config.dataset, buffer_size=1):
        if example["file"] in views:
            rows["image"].append(png(letterbox(decode_image(example["image"]), config.size)))
            rows["label"].append(CAR_VIEWS.index(views[example["file"]]))
            rows["file"].append(example["file"])
    counts = ", ".join(f"{view} {rows['label'].count(i)}" for i, view in enumerate(CAR_VIEWS))
    card = (f"# Car viewpoints, labelled by hand\n\n- {len(rows['label'])} images of {config.dataset} with their "
            f"hand-labelled viewpoint (`label`: {', '.join(CAR_VIEWS)}) and `file`, the source image.\n- Counts: {counts}.\n"
            f"- Each crop letterboxed to {config.size}x{config.size} (`train.car_views.letterbox`).\n- Made by "
            f"`{command_line(__spec__.name, argv)}`.\n")  # fmt: skip
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=CAR_VIEWS), "file": Value("string")})
    write_dataset(Path(config.out), rows, features, card)
    print(f"{len(rows['label'])} labelled images ({counts}) -> {config.out}")


if __name__ == "__main__":
    main()
