"""Measure the face finders of `genmodels.facecrop` the way uploads use them: MTCNN (the app's) beside the Haar
cascade it replaced.

- Found: our held-out `celeb-faces` images upscaled to each size and pasted at a random place into 1024x768
  photos, on a plain background (one random colour) and on a textured one (random colour noise at several scales).
  A face counts as found when a reported box has its centre inside the pasted square and is at least 30% as wide.
- Large photos: the same faces at 7% of the short side of a 4000x3000 textured photo.
- False alarms: the share of face-free pictures where any face is reported: held-out cat faces and car photos
  (upscaled to 512 px on the long side) and textures (1024x768).

The table goes into the face detector's model card (`--no-record`: printed only).

    GENMODELS_DATA_DIR=../shared/datasets python -m train.face_detection
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from genmodels.facecrop import DETECTORS, Box, detect_faces
from genmodels.registry import ROOT

from .card import record_metrics, set_section
from .config import command_line, parse
from .data import decode_image, open_stream

PHOTO = (1024, 768)
LARGE = (4000, 3000)


@dataclass
class Config:
    """Found rate of pasted held-out faces and false-alarm rate on face-free pictures, per detector."""

    faces: str = "genmodels/celeb-faces"  # the faces to paste (our held-out part)
    sizes: list[int] = field(default_factory=lambda: [96, 160, 256, 400])  # pasted face sides, pixels
    num_faces: int = 100  # faces per size and background
    num_large: int = 25  # 4000x3000 photos with a face of `large_share` of the short side
    large_share: float = 0.07  # that face's side / the photo's short side
    cats: str = "genmodels/cat-faces"  # face-free pictures: cat faces (held-out part) ...
    cars: str = "genmodels/stanford-cars"  # ... car photos (held-out part) ...
    num_free: list[int] = field(default_factory=lambda: [70, 70, 60])  # ... cats, cars and textures
    seed: int = 0  # placement, colours and textures
    record: bool = True  # write the table into the face detector's model card


def texture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Colour noise summed over several scales (blotches down to single pixels): a busy, face-free background."""
    width, height = size
    total = np.zeros((height, width, 3))
    for cell, weight in ((256, 0.4), (64, 0.3), (16, 0.2), (4, 0.1)):
        grid = rng.uniform(0, 255, (max(2, height // cell + 2), max(2, width // cell + 2), 3)).astype(np.uint8)
        total += weight * np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float64)
    return Image.fromarray(np.clip(total, 0, 255).astype(np.uint8))


def background(kind: str, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    if kind == "plain":
        return Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    return texture(rng, size)


def found(boxes: list[Box], x: float, y: float, side: float) -> bool:
    """Whether a box has its centre in the pasted square (x, y, side) and is at least 30% as wide."""
    return any(x <= b.x + b.w / 2 <= x + side and y <= b.y + b.h / 2 <= y + side and b.w >= 0.3 * side for b in boxes)


def pasted(face: Image.Image, side: int, kind: str, rng: np.random.Generator, size=PHOTO) -> tuple[Image.Image, tuple]:
    """`face` upscaled to `side` and pasted at a random place into a photo of `size`; the photo and the place."""
    photo = background(kind, rng, size if size == PHOTO else (size[0] // 4, size[1] // 4))
    photo = photo.resize(size, Image.Resampling.BILINEAR) if photo.size != size else photo
    x, y = int(rng.integers(0, size[0] - side)), int(rng.integers(0, size[1] - side))
    photo.paste(face.convert("RGB").resize((side, side), Image.Resampling.LANCZOS), (x, y))
    return photo, (x, y, side)


def images(name: str, n: int) -> list[Image.Image]:
    stream = open_stream(name, part="holdout", buffer_size=1)
    return [decode_image(example["image"]).convert("RGB") for _, example in zip(range(n), stream)]


def upscaled(image: Image.Image, side: int = 512) -> Image.Image:
    scale = side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def measure(config: Config) -> dict[str, dict[str, float]]:
    """{detector: {row name: share}}, every detector judged on the same pictures."""
    faces = images(config.faces, config.num_faces)
    n_cats, n_cars, n_textures = config.num_free
    rng = np.random.default_rng(config.seed)
    free = {"cat faces": [upscaled(im) for im in images(config.cats, n_cats)],
            "car photos": [upscaled(im) for im in images(config.cars, n_cars)],
            "textures": [texture(rng, PHOTO) for _ in range(n_textures)]}  # fmt: skip
    results = {detector: {} for detector in DETECTORS}
    for kind in ("plain", "textured"):
        for side in config.sizes:
            rng = np.random.default_rng([config.seed, side, kind == "plain"])
            trials = [pasted(face, side, kind, rng) for face in faces]
            for detector in DETECTORS:
                hits = [found(detect_faces(photo, detector), *place) for photo, place in trials]
                results[detector][f"found, {side} px face, {kind} 1024x768"] = float(np.mean(hits))
    rng = np.random.default_rng([config.seed, 4000])
    side = round(config.large_share * min(LARGE))
    trials = [pasted(face, side, "textured", rng, LARGE) for face in faces[: config.num_large]]
    for detector in DETECTORS:
        hits = [found(detect_faces(photo, detector), *place) for photo, place in trials]
        results[detector][f"found, {side} px face ({config.large_share:.0%} of the short side), textured 4000x3000"] = float(np.mean(hits))
        for kind, pictures in free.items():
            results[detector][f"face reported in face-free {kind}"] = float(np.mean([bool(detect_faces(p, detector)) for p in pictures]))
    return results


def table(results: dict[str, dict[str, float]], config: Config) -> str:
    rows = list(next(iter(results.values())))
    lines = ["| | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    lines += [f"| {row} | " + " | ".join(f"{results[d][row]:.1%}" for d in results) + " |" for row in rows]
    n_free = sum(config.num_free)
    return (f"{config.num_faces} held-out faces of {config.faces} per row ({config.num_large} in the large photos), "
            f"{n_free} face-free pictures; made by `{command_line(__spec__.name, None)}`.\n\n" + "\n".join(lines))  # fmt: skip


def main(argv=None):
    config = parse(Config, argv)
    results = measure(config)
    body = table(results, config)
    print(body)
    if config.record:  # the app's detector: a summary into the card's metrics (the About tab), the table below it
        folder, mtcnn = ROOT / "weights" / "face-detector", results["mtcnn"]
        found = [v for k, v in mtcnn.items() if k.startswith("found") and "1024x768" in k]
        summary = {"faces found, worst size and background": min(found),
                   "faces found, 7% of a 4000x3000 photo": next(v for k, v in mtcnn.items() if "4000x3000" in k),
                   "face-free pictures with a face reported": float(np.average(
                       [v for k, v in mtcnn.items() if "face-free" in k], weights=config.num_free))}  # fmt: skip
        record_metrics(folder, "face-detector", {k: (v, config.faces, "our held-out part, pasted into photos")
                                                 for k, v in summary.items()}, task="object-detection")  # fmt: skip
        set_section(folder, "Measured", body)


if __name__ == "__main__":
    main()
