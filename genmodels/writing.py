"""Text -> handwriting: validate the text, generate one glyph per character, set them on a common baseline.

EMNIST scales every character to fill its 28x28 box, so an `a` is as tall as an `A`. Writing puts that back:
each glyph is cropped to its ink and rescaled into the zone its letter occupies in real handwriting (capitals,
digits and ascenders reach the cap line; x-height letters stop at the x-line; g, j, p, q, y hang below the
baseline), preserving its own aspect ratio, with a gap proportional to the writing size between glyphs.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from PIL import Image, ImageColor

from .registry import CHARACTERS

MAX_CHARS = 64  # characters, not counting line breaks
MAX_LINES = 8
ALLOWED = set(CHARACTERS) | {" "}
ALLOWED_TEXT = "letters A-Z, a-z, digits 0-9, spaces and line breaks"

CAP = 20  # cap height in pixels at scale 1 (EMNIST ink is about 20 of its 28 pixels)
X_HEIGHT, DESCENT, DOT_HEIGHT = 0.6, 0.38, 0.8  # fractions of the cap height
LETTER_GAP, WORD_GAP, LINE_GAP = 0.12, 0.55, 0.35
VARIETY = 0.6  # default truncation of the style latent: the setting the model card's accuracy is measured at


def zone(char: str) -> tuple[float, float]:
    """(top, bottom) of a character's ink, in cap heights above the baseline (negative: below it)."""
    if char in "gpqy":
        return X_HEIGHT, -DESCENT
    if char == "j":
        return DOT_HEIGHT, -DESCENT
    if char == "i":
        return DOT_HEIGHT, 0.0
    if char in "acemnorsuvwxz":
        return X_HEIGHT, 0.0
    return 1.0, 0.0  # digits, capitals and the ascenders b d f h k l t


def parse_text(text: str) -> list[str]:
    """The lines to write; ValueError naming the offending characters when the text cannot be written."""
    lines = [line.strip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        raise ValueError(f"Type some text to write: {ALLOWED_TEXT}.")
    bad = sorted(set("".join(lines)) - ALLOWED)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"Cannot write {shown}: only {ALLOWED_TEXT} are allowed.")
    count = sum(map(len, lines))
    if count > MAX_CHARS:
        raise ValueError(f"That is {count} characters; the limit is {MAX_CHARS}.")
    if len(lines) > MAX_LINES:
        raise ValueError(f"That is {len(lines)} lines; the limit is {MAX_LINES}.")
    return lines


def ink_box(glyph: torch.Tensor, threshold: float = 0.4) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels with more ink than `threshold`; the whole box when there is none."""
    ink = glyph[0] > threshold
    rows, cols = ink.any(dim=1).nonzero(), ink.any(dim=0).nonzero()
    if not len(rows):
        return 0, glyph.shape[1], 0, glyph.shape[2]
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


@torch.no_grad()
def glyphs(model, chars: list[str], *, seed: int = 0, one_hand: bool = True, variety: float = VARIETY) -> torch.Tensor:
    """(n, 1, 28, 28) glyphs in [-1, 1], white ink on black; `one_hand` gives every glyph the same style latent;
    `variety` is the truncation of that latent (1: as trained; lower: neater, more uniform glyphs)."""
    z = model.latents(1 if one_hand else len(chars), seed, truncation=variety).expand(len(chars), -1)
    return model(z, model.label_ids(chars)).float()


@torch.no_grad()
def write(model, text: str, *, seed: int = 0, one_hand: bool = True, variety: float = VARIETY, scale: int = 2) -> torch.Tensor:
    """(1, H, W) ink coverage in [0, 1] of `text` in generated handwriting, `CAP * scale` pixels per cap height."""
    lines = parse_text(text)
    chars = [c for line in lines for c in line if c != " "]
    images = iter(glyphs(model, chars, seed=seed, one_hand=one_hand, variety=variety) if chars else [])
    cap = CAP * scale
    above, below = round(cap * 1.15), round(cap * (DESCENT + 0.15))  # room over the cap line and under the baseline
    rows = []
    for line in lines:
        row, x = [], 0
        for char in line:
            if char == " ":
                x += round(cap * WORD_GAP)
                continue
            glyph = (next(images) + 1) / 2  # coverage in [0, 1]
            top, bottom, left, right = ink_box(glyph)
            ink = glyph[:, top:bottom, left:right]
            zone_top, zone_bottom = zone(char)
            height = max(round(cap * (zone_top - zone_bottom)), 2)
            width = max(round(ink.shape[2] * height / ink.shape[1]), 1)
            ink = F.interpolate(ink[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]
            row.append((x, above - round(cap * zone_top), ink.clamp(0, 1)))
            x += width + round(cap * LETTER_GAP)
        rows.append((row, max(x - round(cap * LETTER_GAP), 1)))
    margin, line_height = round(cap * 0.3), above + below + round(cap * LINE_GAP)
    page = torch.zeros(1, 2 * margin + len(rows) * line_height - round(cap * LINE_GAP),
                       2 * margin + max(width for _, width in rows))  # fmt: skip
    for i, (row, _) in enumerate(rows):
        for x, y, ink in row:
            y0, x0 = margin + i * line_height + y, margin + x
            region = page[:, y0 : y0 + ink.shape[1], x0 : x0 + ink.shape[2]]
            torch.maximum(region, ink, out=region)  # strokes that touch keep the darker ink
    return page


def parse_color(value: str) -> tuple[int, int, int]:
    """(r, g, b) of a CSS colour: a name, #hex, or rgb()/rgba() with integer or decimal channels."""
    value = (value or "").strip()
    numbers = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)", value)
    if numbers:
        return tuple(min(round(float(n)), 255) for n in numbers.groups())
    try:
        return ImageColor.getrgb(value)[:3]
    except ValueError:
        raise ValueError(f"{value!r} is not a colour; use a name like 'navy' or a code like '#1b1f3b'.") from None


def colorize(coverage: torch.Tensor, ink: str = "#1b1f3b", paper: str | None = "#ffffff") -> Image.Image:
    """An RGB image of `ink` on `paper` (any CSS colour), or RGBA ink on a transparent background when paper is None."""
    alpha = coverage[0].clamp(0, 1)[..., None]  # (H, W, 1)
    ink_rgb = torch.tensor(parse_color(ink), dtype=torch.float32)
    if paper is None:
        rgba = torch.cat([ink_rgb.expand(*alpha.shape[:2], 3), alpha * 255], dim=2)
        return Image.fromarray(rgba.round().to(torch.uint8).numpy(), "RGBA")
    paper_rgb = torch.tensor(parse_color(paper), dtype=torch.float32)
    rgb = paper_rgb + (ink_rgb - paper_rgb) * alpha
    return Image.fromarray(rgb.round().to(torch.uint8).numpy(), "RGB")
