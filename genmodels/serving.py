"""What serving the models to people and programs needs beyond the models: argument checks whose ValueError is a
message a person can act on, and output files that are written once, under a fresh name, and never rewritten.

API callers can send anything JSON holds (a string, null, NaN, a list), so every check takes the raw value.
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path

from .base import save_gif


def shown(value) -> str:
    """A short description of a bad value for an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value, low: float, high: float, what: str, *, whole: bool = False) -> float | int:
    """`value` as a float (an int when `whole`) in [low, high]; ValueError naming `what` otherwise."""
    kind = "a whole number" if whole else "a number"
    bound = lambda x: str(int(x)) if float(x).is_integer() else f"{x:g}"  # noqa: E731
    message = f"{what[0].upper()}{what[1:]} must be {kind} from {bound(low)} to {bound(high)} (got {shown(value)})."
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(message)
    if (whole and value != int(value)) or not low <= value <= high:
        raise ValueError(message)
    return int(value) if whole else float(value)


def choice(value, choices, what: str) -> str:
    """`value` if it is one of `choices`; ValueError listing them otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{what[0].upper()}{what[1:]} must be one of: {', '.join(choices)} (got {shown(value)}).")
    return value


def flag(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what[0].upper()}{what[1:]} must be true or false (got {shown(value)}).")
    return value


def text(value, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what[0].upper()}{what[1:]} must be text (got {shown(value)}).")
    return value


class OutputFolder:
    """Output files, each written once under a fresh unique name (`<stem>-<12 hex>.<ext>`), to a temporary name
    first and renamed into place, so no request ever reads a file another request is writing. Cleaning old files
    is the server's job (the app points this at Gradio's cache, which `delete_cache` prunes)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, stem: str, suffix: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"

    def _publish(self, final: Path, write) -> str:
        partial = final.with_name(f".{final.stem}.partial{final.suffix}")  # the suffix tells PIL the format
        try:
            write(partial)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return str(final)

    def png(self, image, stem: str) -> str:
        """Save a PIL image as PNG; returns its path."""
        return self._publish(self.path(stem, ".png"), image.save)

    def pngs(self, images, stem: str) -> list[str]:
        return [self.png(image, f"{stem}-{i + 1:02d}") for i, image in enumerate(images)]

    def gif(self, frames, stem: str, **options) -> str:
        """Save PIL frames as a looping GIF (`base.save_gif` options); returns its path."""
        return self._publish(self.path(stem, ".gif"), lambda p: save_gif(frames, p, **options))
