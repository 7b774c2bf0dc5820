"""Cars, step 2: every car photo labelled with its viewpoint by the `car-views` classifier, as the generator's
training set (a dataset in Hub layout).

The original project's rule: a photo keeps the view the classifier gives it when the classifier is at least 70% sure
(below that it is "unknown" and left out). Every kept photo is also mirrored into the opposite view (a flip swaps
-left and -right; front and rear stay), so each side gets the other's photos and no view is left empty. Only our
train part of each dataset is used: the held-out 10% stays out of the generator's training, for the memorisation
check. Images are letterboxed squares (`car_views.letterbox`), as the classifier and the generator see them.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.car_dataset --out $HOME/data/car-views-pseudo
    GENMODELS_DATA_DIR=../shared/datasets python -m train.car_dataset --datasets genmodels/stanford-cars \
        --out $HOME/data/car-views-stanford    # the photos FID compares with, alone (the generator's fine-tune)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import ImageOps

from genmodels.base import image_to_tensor
from genmodels.registry import CAR_VIEWS, MIRRORED_IDS, load

from .car_views import letterbox
from .config import command_line, parse
from .data import decode_image, open_stream, png, write_dataset


@dataclass
class Config:
    """Pseudo-labelled car viewpoints, mirrored, as a Hub-layout dataset."""

    datasets: list[str] = field(default_factory=lambda: ["genmodels/stanford-cars", "genmodels/car-photos-noisy-views"])  # photos
    out: str = ""  # output folder (a dataset repo in Hub layout)
    threshold: float = 0.7  # least classifier confidence to keep a photo (below: "unknown")
    size: int = 64  # side of the square images
    batch_size: int = 256  # photos classified at once


def keep(probs: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(which photos to keep, their view ids): those whose most likely view has at least `threshold` probability."""
    confidence, views = probs.max(1)
    return confidence >= threshold, views


def view_table(labels: list[int], mirrored: list[bool]) -> str:
    """Markdown table of a dataset's images per view: its photos (the rows not `mirrored`), and all its rows."""
    photos = Counter(CAR_VIEWS[label] for label, flip in zip(labels, mirrored) if not flip)
    rows = Counter(CAR_VIEWS[label] for label in labels)
    lines = "\n".join(f"| {view} | {photos[view]:,} | {rows[view]:,} |" for view in CAR_VIEWS)
    return f"| view | kept photos | after mirroring |\n|---|---|---|\n{lines}"


def main(argv=None):
    from datasets import ClassLabel, Features, Image as ImageFeature, Value

    config = parse(Config, argv)
    if not config.out:
        raise SystemExit("--out: the folder to write the dataset to")
    classifier = load("car-views")
    rows = {"image": [], "label": [], "source": [], "confidence": [], "mirrored": []}
    seen = Counter()

    def flush(squares: list, source: str) -> None:
        probs = classifier.predict(torch.stack([image_to_tensor(s, classifier.config.resolution) for s in squares]))
        chosen, views = keep(probs, config.threshold)
        seen[source] += len(squares)
        for square, ok, view, p in zip(squares, chosen.tolist(), views.tolist(), probs.max(1).values.tolist()):
            if not ok:
                continue
            for image, label, mirrored in ((square, view, False), (ImageOps.mirror(square), MIRRORED_IDS[view], True)):
                rows["image"].append(png(image))
                rows["label"].append(label)
                rows["source"].append(source)
                rows["confidence"].append(p)
                rows["mirrored"].append(mirrored)
        squares.clear()

    for source in config.datasets:
        squares = []
        for example in open_stream(source, part="train", buffer_size=1):
            squares.append(letterbox(decode_image(example["image"]), config.size))
            if len(squares) == config.batch_size:
                flush(squares, source)
        if squares:
            flush(squares, source)
    card = (f"# Car photos by viewpoint (pseudo-labels)\n\n- Photos of our train part of {', '.join(config.datasets)} "
            f"({', '.join(f'{s}: {n:,}' for s, n in seen.items())}), labelled by the `car-views` classifier; kept "
            f"where it is at least {config.threshold:.0%} sure ({len(rows['label']) // 2:,} of {sum(seen.values()):,}), "
            "each also mirrored into the opposite view (`mirrored`).\n- Columns: `image` (letterboxed "
            f"{config.size}x{config.size} PNG), `label` (the view), `source`, `confidence`, `mirrored`.\n- Made by "
            f"`{command_line(__spec__.name, argv)}`.\n\n{view_table(rows['label'], rows['mirrored'])}\n")  # fmt: skip
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=CAR_VIEWS), "source": Value("string"),
                         "confidence": Value("float32"), "mirrored": Value("bool")})  # fmt: skip
    write_dataset(Path(config.out), rows, features, card)
    print(card)


if __name__ == "__main__":
    main()
