"""Measure how the `celeb-faces` training images frame a face, in units of the face detector's box: the
constants FRAMING_SIDE / FRAMING_DX / FRAMING_DY of `genmodels.facecrop`, which crop uploaded photos the same way.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.face_framing --num-images 1000
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from genmodels.facecrop import detect_faces

from .config import parse
from .data import decode_image, open_stream


@dataclass
class Config:
    """Median crop side and centre offset per detected face width, over training images."""

    dataset: str = "genmodels/celeb-faces"  # the framing to copy
    num_images: int = 1000  # images to measure
    upscale: int = 4  # the 64x64 images are upscaled first, as small faces in photos are


def measure(images, upscale: int) -> tuple[np.ndarray, int]:
    """(rows of side, dx, dy per face width) for the images with exactly one face, and the number looked at."""
    rows, seen = [], 0
    for image in images:
        seen += 1
        big = image.convert("RGB").resize((image.width * upscale, image.height * upscale), Image.Resampling.LANCZOS)
        faces = detect_faces(big)
        if len(faces) != 1:
            continue
        face, (w, h) = faces[0], big.size
        rows.append((w / face.w, (w / 2 - (face.x + face.w / 2)) / face.w, (h / 2 - (face.y + face.h / 2)) / face.w))
    return np.array(rows), seen


def main(argv=None):
    config = parse(Config, argv)
    stream = open_stream(config.dataset, part="train", buffer_size=1)
    images = (decode_image(ex["image"]) for _, ex in zip(range(config.num_images), stream))
    rows, seen = measure(images, config.upscale)
    side, dx, dy = np.median(rows, axis=0)
    print(f"one face found in {len(rows)} of {seen} images")
    print(f"FRAMING_SIDE = {side:.2f}  FRAMING_DX = {dx:.2f}  FRAMING_DY = {dy:.2f}")
    print(f"interquartile ranges: side {np.subtract(*np.percentile(rows[:, 0], [75, 25])):.2f}, "
          f"dy {np.subtract(*np.percentile(rows[:, 2], [75, 25])):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
