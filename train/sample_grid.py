"""Write a fixed-seed sample grid of a registered generator to docs/<name>.png (the README's pictures).

    python -m train.sample_grid --model cats --rows 8 --cols 8
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from genmodels.base import image_grid, to_pil
from genmodels.registry import ROOT, load

from .config import parse


@dataclass
class Config:
    """A grid of samples from fixed seeds."""

    model: str = "cats"  # registered generator
    rows: int = 8  # grid rows
    cols: int = 8  # grid columns (for conditional models: classes are cycled along the row-major order)
    seed: int = 0  # sampling seed
    scale: int = 2  # nearest-neighbour upscaling, so small images stay crisp in the README
    out: str = ""  # output file (default docs/<model>.png)


def main(argv=None):
    config = parse(Config, argv)
    model = load(config.model)
    images = model.sample(config.rows * config.cols, seed=config.seed)
    grid = to_pil(image_grid(images.cpu(), nrow=config.cols))
    grid = grid.resize((grid.width * config.scale, grid.height * config.scale), Image.Resampling.NEAREST)
    out = config.out or ROOT / "docs" / f"{config.model}.png"
    grid.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
