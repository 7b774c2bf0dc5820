"""Text -> handwriting: validate the text, generate one glyph per character, lay them out as a line of writing."""

from __future__ import annotations

import torch

from .registry import CHARACTERS

MAX_CHARS = 64
ALLOWED = set(CHARACTERS) | {" "}


def parse_text(text: str) -> str:
    """The text to write, stripped; ValueError naming the offending characters when it cannot be written."""
    text = (text or "").strip()
    if not text:
        raise ValueError("Type some text to write: letters A-Z, a-z, digits 0-9 and spaces.")
    if len(text) > MAX_CHARS:
        raise ValueError(f"That is {len(text)} characters; the limit is {MAX_CHARS}.")
    bad = sorted(set(text) - ALLOWED)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"Cannot write {shown}: only letters A-Z, a-z, digits 0-9 and spaces are allowed.")
    return text


@torch.no_grad()
def write(model, text: str, *, seed: int = 0, one_hand: bool = True, space: int = 12) -> torch.Tensor:
    """(1, H, W) image in [-1, 1] of `text` in generated handwriting; `one_hand` shares one style latent."""
    text = parse_text(text)
    glyphs = [c for c in text if c != " "]
    n = len(glyphs)
    z = model.latents(1 if one_hand else n, seed).expand(n, -1)  # "one hand": every glyph from the same style
    images = model(z, model.label_ids(glyphs))  # (n, 1, 28, 28), white ink on black
    pieces, glyph = [], iter(images)
    for c in text:
        if c == " ":
            pieces.append(images.new_full((1, images.shape[2], space), -1.0))
        else:
            image = next(glyph)
            ink = (image > -0.5).any(dim=1).any(dim=0).nonzero()  # the glyph's own width: natural spacing
            left, right = (int(ink.min()), int(ink.max()) + 1) if len(ink) else (0, image.shape[2])
            pieces.append(image[:, :, max(left - 2, 0) : right + 2])
    return torch.cat(pieces, dim=2)
