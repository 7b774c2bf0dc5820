"""Uploaded images in, 64x64-ready face crops out: safe decoding and face detection with MTCNN (the registry's
`face-detector`; OpenCV's Haar cascade, the first detector, stays as the baseline `python -m train.face_detection`
measures it against). `find_face` is the one path from an uploaded photo to the square a model sees, for every tab
that takes photos.

The crop around a detected face copies the framing of the `celeb-faces` training images (hair included): the
constants below are medians measured by `python -m train.face_framing` on those images, upscaled 4x.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .registry import load
from .serving import choice, number

MAX_PIXELS = 40_000_000  # larger uploads are refused before they are decoded (decompression-bomb guard)
MIN_SIDE = 16  # smaller images hold no usable face
# MTCNN's box (brows to chin) is narrower than the Haar cascade's was (1.49, 0.0, -0.11): measured again for it
FRAMING_SIDE = 1.78  # crop side / detected face width            (python -m train.face_framing)
FRAMING_DX = 0.0  # crop centre minus face centre, x, per face width
FRAMING_DY = -0.14  # crop centre minus face centre, y, per face width (negative: up, towards the hair)
DETECT_SIDE = 640  # faces are looked for in a copy whose longer side is at most this
WORK_SIDE = 2048  # a larger JPEG is decoded at the smallest 1/2^k scale that keeps this many pixels on its long side
TOO_LARGE = f"This image is too large: at most {MAX_PIXELS // 1_000_000} megapixels."
NOT_AN_IMAGE = "This file is not an image we can read (use JPEG, PNG or WebP)."
CROP_MODES = ["Find the face", "Use the whole image"]
MAX_FACES = 20  # the highest face number a caller may ask for
NO_FACE = ("No face found in this photo. Choose \"Use the whole image\" to use the picture as it is (best for a "
           "photo already cut to a face), or try a photo where the face is upright and clearly visible.")  # fmt: skip


@dataclass(frozen=True)
class Box:
    """A square or rectangle in image pixels: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h


def read_image(source) -> Image.Image:
    """An uploaded file (path) or PIL image as an upright RGB image; ValueError with a readable reason otherwise.

    The pixel count is checked from the header before decoding; a JPEG much larger than WORK_SIDE is decoded at a
    reduced scale; EXIF orientation is applied; transparent images are laid on white; grey, palette and CMYK images
    become RGB."""
    if isinstance(source, (str, os.PathLike)):
        if os.path.getsize(source) == 0:
            raise ValueError("The uploaded file is empty (0 bytes).")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(TOO_LARGE) from None
        except (UnidentifiedImageError, OSError):
            raise ValueError(NOT_AN_IMAGE) from None
    else:
        image = source
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"This image is too large: {width}x{height} is {width * height / 1e6:.2f} megapixels; the limit "
                         f"is {MAX_PIXELS // 1_000_000}.")  # fmt: skip
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"This image is too small ({width}x{height}): a face needs at least {MIN_SIDE}x{MIN_SIDE} pixels.")
    if image.format == "JPEG" and max(width, height) > WORK_SIDE:  # decode at 1/2, 1/4 or 1/8 scale: ~4-16x faster
        scale = WORK_SIDE / max(width, height)
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode in WIDE_MODES:
            return eight_bit(image).convert("RGB")
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError):  # truncated or corrupt pixel data shows up only when decoding
        raise ValueError("This image file is damaged and cannot be decoded.") from None


WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # 16-bit, 32-bit and float greyscale


def eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float greyscale image scaled to 8 bits (PIL's own conversion clips it, washing it out):
    16-bit data by 1/257, floats in [0, 1] by 255, anything else clipped."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (image.mode == "I" and array.max() > 255):
        array = array / 257
    elif image.mode == "F" and array.max() <= 1:
        array = array * 255
    return Image.fromarray(np.clip(array, 0, 255).round().astype(np.uint8), "L")


@functools.cache
def cascade():
    import cv2

    detector = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    if detector.empty():
        raise RuntimeError("OpenCV's Haar face cascade is missing from this installation")
    return detector


DETECTORS = ["mtcnn", "haar"]


def detect_faces(image: Image.Image, detector: str = "mtcnn") -> list[Box]:
    """Faces in an RGB image, largest first, in its pixels. Searched in a copy whose longer side is at most
    DETECT_SIDE (a 6000x4000 photo costs what a 640x427 one does): MTCNN, or the Haar cascade on a grey, equalised
    copy (`detector="haar"`, the baseline)."""
    scale = min(1.0, DETECT_SIDE / max(image.size))
    if min(image.size) * scale < 24:  # a very wide or tall image: no face fits in the copy searched
        return []
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    if detector == "haar":
        import cv2

        grey = cv2.equalizeHist(np.asarray(small.convert("L")))
        min_side = max(24, round(min(grey.shape) * 0.08))
        found = cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        boxes = [Box(*(float(v) / scale for v in box)) for box in (found if len(found) else [])]
    else:
        corners, _, _ = load("face-detector").detect(np.asarray(small))
        boxes = [Box(x1 / scale, y1 / scale, (x2 - x1) / scale, (y2 - y1) / scale) for x1, y1, x2, y2 in corners.tolist()]
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def framing(face: Box, width: int, height: int) -> Box:
    """The training framing around a detected face, kept inside the image (shifted, or shrunk when it cannot fit)."""
    side = min(face.w * FRAMING_SIDE, width, height)
    cx, cy = face.x + face.w * (0.5 + FRAMING_DX), face.y + face.h / 2 + face.w * FRAMING_DY
    left = min(max(cx - side / 2, 0), width - side)
    top = min(max(cy - side / 2, 0), height - side)
    return Box(left, top, side, side)


def find_face(picture: Image.Image, crop_mode: str = "Find the face", face=1, *, required: bool = True) -> tuple[Box, int | None, str]:
    """The square of `picture` to use and a note on it: the training framing around the `face`-th largest face
    found ("Find the face"), or the centre square ("Use the whole image"). Also returns how many faces were found
    (None: not looked for). No face is a ValueError with NO_FACE, or the centre square when not `required`."""
    crop_mode = choice(crop_mode, CROP_MODES, "the face mode")
    face = number(face, 1, MAX_FACES, "the face number", whole=True)
    if crop_mode == "Use the whole image":
        return centre_square(*picture.size), None, "Used the centre square of the whole image."
    faces = detect_faces(picture)
    if not faces:
        if required:
            raise ValueError(NO_FACE)
        return centre_square(*picture.size), 0, "No face found: used the centre square."
    found = len(faces)
    face = number(face, 1, found, f"the face number ({found} found)", whole=True)
    note = f"Found {found} face{'s' * (found > 1)}; used face {face}" + (" (the largest)." if found > 1 and face == 1 else ".")
    return framing(faces[face - 1], *picture.size), found, note


def centre_square(width: int, height: int) -> Box:
    side = min(width, height)
    return Box((width - side) / 2, (height - side) / 2, side, side)


def crop(image: Image.Image, box: Box, size: int) -> Image.Image:
    """`box` of `image` resized to `size` x `size` (Lanczos, antialiased)."""
    return image.resize((size, size), Image.Resampling.LANCZOS, box=(box.x, box.y, box.x + box.w, box.y + box.h))
