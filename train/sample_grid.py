"""Write a fixed-seed sample grid of a registered generator to docs/<name>.png (the README's pictures).

    python -m train.sample_grid --model cats --rows 8 --cols 8 --walk 4       # and docs/cats-walk.gif
    python -m train.sample_grid --model cats-vae --rows 8 --cols 8 --walk 4
    python -m train.sample_grid --model handwriting --per-class 4 --cols 31 --text "Hello World" "jumps over 13 dogs"
    python -m train.sample_grid --model transfer --cols 12 --examples 4   # held-out rows; app examples
    python -m train.sample_grid --model transfer-gan --compare transfer --cols 12 --out docs/transfer.png
    python -m train.sample_grid --model faces --density mixture --walk 4 --walk-out docs/faces-morph.gif \
        --attribute male                                                  # and docs/faces-attributes.png
    python -m train.sample_grid --model cars --cols 10 --walk 4 --training-run $HOME/runs/cars
        # a row per view (a column per car), docs/cars-walk.gif and docs/cars-training.gif
"""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import dataclass, field

import torch
from PIL import Image

from genmodels.base import image_grid, save_gif, to_pil
from genmodels.registry import ROOT, WALK_AROUND, load
from genmodels.writing import colorize, write

from .config import parse
from .data import held_out


@dataclass
class Config:
    """A grid of samples from fixed seeds."""

    model: str = "cats"  # registered generator
    rows: int = 8  # grid rows
    cols: int = 8  # grid columns (for conditional models: classes are cycled along the row-major order)
    per_class: int = 0  # conditional models: this many samples of every class, one class per column, wrapped at --cols
    text: list[str] = field(default_factory=list)  # handwriting: lines written under the grid, one seed each
    seed: int = 0  # sampling seed
    scale: int = 2  # nearest-neighbour upscaling, so small images stay crisp in the README
    out: str = ""  # output file (default docs/<model>.png)
    compare: list[str] = field(default_factory=list)  # transfer: other transfer models whose rows go under the model's
    examples: int = 0  # transfer: also write this many new faces per label, drawn by the model, as docs/examples/*.png
    temperature: float = 0.8  # transfer examples: scale of the latent draws around the fitted mean
    examples_dir: str = ""  # where the examples go (default docs/examples)
    walk: int = 0  # also write docs/<model>-walk.gif: a walk x walk grid of latent walks (cars: of cars turning round)
    walk_legs: int = 3  # each cell of the walk visits this many seeds and comes back to the first
    walk_frames: int = 12  # frames per leg
    walk_out: str = ""  # the walk's GIF (default docs/<model>-walk.gif)
    density: str = ""  # VAEs: codes from the "prior" or the fitted "mixture" (walks then go straight between them)
    attribute: str = ""  # VAEs: also write docs/<model>-attributes.png, a row per sample moved along this direction
    attribute_amount: float = 2.0  # how far each way, in units of the distance between the two labels' mean codes
    attribute_steps: int = 7  # faces per row
    training_run: str = ""  # also write docs/<model>-training.gif from this run's fixed-seed sample grids
    training_every: int = 500  # steps between the training GIF's frames


def latent_walk(model, config: Config) -> list:
    """Frames of a `walk` x `walk` grid; each cell travels through `walk_legs` seeds and back to its first: along
    great circles between prior draws (slerp), or straight lines between draws from `--density`."""
    cells = config.walk**2
    codes = model.latents(cells * config.walk_legs, config.seed, density=config.density) if config.density else None

    def path_between(a: int, b: int, steps: int) -> torch.Tensor:
        if codes is None:
            return model.interpolate(config.seed + a, config.seed + b, steps)
        return model.morph(codes[a], codes[b], steps)
    legs = []
    for leg in range(config.walk_legs):
        ends = [(cell * config.walk_legs + leg, cell * config.walk_legs + (leg + 1) % config.walk_legs) for cell in range(cells)]
        path = torch.stack([path_between(a, b, config.walk_frames + 1).cpu()[:-1] for a, b in ends])  # cell, frame
        legs.append(path)
    frames = torch.cat(legs, dim=1)  # (cells, frames, C, H, W)
    return [to_pil(image_grid(frames[:, t], nrow=config.walk)) for t in range(frames.shape[1])]


@torch.no_grad()
def attribute_rows(model, config: Config) -> torch.Tensor:
    """A row per sample (`rows` of them), moved along `attribute` from -amount to +amount in `attribute_steps`."""
    codes = model.latents(config.rows, config.seed, **density(config))
    amounts = torch.linspace(-config.attribute_amount, config.attribute_amount, config.attribute_steps)
    return image_grid(torch.cat([model.draw(model.edit(z, config.attribute, amounts)).cpu() for z in codes]),
                      nrow=config.attribute_steps)  # fmt: skip


def density(config: Config) -> dict:
    return {"density": config.density} if config.density else {}


def class_grid(model, per_class: int, cols: int, seed: int) -> torch.Tensor:
    """Every class as a column of `per_class` samples; bands of `cols` classes stacked; dark ink on light paper."""
    classes, bands = len(model.labels), math.ceil(len(model.labels) / cols)
    cells = [band * cols + col for band in range(bands) for _ in range(per_class) for col in range(cols)]
    labels = [c for c in cells if c < classes]
    images = -model.sample(len(labels), seed=seed, labels=labels).cpu()  # invert: white-on-black -> ink on paper
    tiles = iter(images)
    full = torch.stack([next(tiles) if c < classes else torch.ones_like(images[0]) for c in cells])
    return image_grid(full, nrow=cols, pad_value=0.6)


@torch.no_grad()
def write_examples(model, config: Config) -> None:
    """New faces of every label, the app's example inputs: latents drawn from a Gaussian fitted to the codes of 500
    training images of that label (its aggregate posterior: with a light KL term the prior is far from it, and
    prior draws come out grey), decoded and upscaled. No dataset image is shipped, only the model's drawings."""
    from .transfer import DOMAIN_DATA

    folder = Path(config.examples_dir or ROOT / "docs" / "examples")
    folder.mkdir(parents=True, exist_ok=True)
    for label in model.labels:
        images = held_out(DOMAIN_DATA[label], 500, model.config.resolution, part="train").to(model.device)
        codes = model.encode(images, model.label_ids([label]).expand(len(images)))[0]
        mean, cov = codes.mean(0), torch.cov(codes.T) + 1e-4 * torch.eye(codes.shape[1], device=codes.device)
        eps = torch.randn(config.examples, codes.shape[1], generator=torch.Generator().manual_seed(config.seed))
        z = mean + config.temperature * eps.to(codes) @ torch.linalg.cholesky(cov).T
        faces = model.decode(z, model.label_ids([label]).expand(config.examples))[0]
        for i, face in enumerate(to_pil(faces.cpu())):
            face.resize((256, 256), Image.Resampling.LANCZOS).save(folder / f"{label}-{i + 1}.png")
    print(f"wrote {config.examples} examples per label to {folder}")


@torch.no_grad()
def view_rows(model, cols: int, seed: int) -> torch.Tensor:
    """Cars: a row per view in walking order, a column per latent (the same car seen from each side)."""
    z = model.latents(cols, seed)
    return image_grid(torch.cat([model(z, model.label_ids([view] * cols)).cpu() for view in WALK_AROUND]), nrow=cols)


@torch.no_grad()
def walk_around(model, config: Config) -> list:
    """Frames of a `walk` x `walk` grid of cars, each turning through the views in walking order."""
    cars = torch.stack([model.relabel(WALK_AROUND, seed=config.seed + i).cpu() for i in range(config.walk**2)])
    return [to_pil(image_grid(cars[:, t], nrow=config.walk)) for t in range(len(WALK_AROUND))]


def training_frames(run: Path, every: int) -> list:
    """The run's fixed-seed sample grids (samples/step-*.png) every `every` steps, each captioned with its step."""
    from PIL import ImageDraw

    frames = []
    for path in sorted(Path(run, "samples").glob("step-*.png")):
        step = int(path.stem.split("-")[1])
        if step % every == 0:
            grid = Image.open(path).convert("RGB")
            frame = Image.new("RGB", (grid.width, grid.height + 18), "white")
            frame.paste(grid, (0, 18))
            ImageDraw.Draw(frame).text((4, 3), f"step {step:,}", fill="black")
            frames.append(frame)
    if not frames:
        raise SystemExit(f"no sample grids every {every} steps in {run}/samples")
    return frames


def main(argv=None):
    config = parse(Config, argv)
    model = load(config.model)
    if hasattr(model, "transfer"):  # rows: held-out real photos, their anime (by each model); anime, their real
        from .transfer import DOMAIN_DATA

        real, anime = (held_out(DOMAIN_DATA[label], config.cols, model.config.resolution) for label in ("real", "anime"))
        models = [model, *map(load, config.compare)]
        rows = [real, *(m.transfer(real, "real", "anime").cpu() for m in models),
                anime, *(m.transfer(anime, "anime", "real").cpu() for m in models)]  # fmt: skip
        grid = to_pil(image_grid(torch.cat(rows), nrow=config.cols))
        if config.examples:
            if not hasattr(model, "encode"):
                raise SystemExit(f"--examples: {config.model} cannot draw new faces (it has no encoder); use the trVAE")
            write_examples(model, config)
    elif config.per_class:
        grid = to_pil(class_grid(model, config.per_class, config.cols, config.seed))
    elif config.model == "cars":
        grid = to_pil(view_rows(model, config.cols, config.seed))
    else:
        grid = to_pil(image_grid(model.sample(config.rows * config.cols, seed=config.seed, **density(config)).cpu(),
                                 nrow=config.cols))  # fmt: skip
    grid = upscaled(grid, config.scale)
    lines = [colorize(write(model, line, seed=config.seed + i, scale=config.scale)) for i, line in enumerate(config.text)]
    page = Image.new("RGB", (max([grid.width] + [ln.width for ln in lines]), grid.height + sum(ln.height for ln in lines)), "white")
    page.paste(grid.convert("RGB"), (0, 0))
    y = grid.height
    for line in lines:
        page.paste(line, (0, y))
        y += line.height
    out = config.out or ROOT / "docs" / f"{config.model}.png"
    page.save(out)
    print(f"wrote {out}")
    if config.walk:
        gif = config.walk_out or Path(out).with_name(f"{Path(out).stem}-walk.gif")
        if config.model == "cars":
            save_gif(walk_around(model, config), gif, scale=config.scale, duration_ms=350, bounce=False)
        else:
            save_gif(latent_walk(model, config), gif, duration_ms=80, bounce=False)  # at 1x: a GIF of 64 px cells is heavy
        print(f"wrote {gif}")
    if config.training_run:
        gif = Path(out).with_name(f"{Path(out).stem}-training.gif")
        save_gif(training_frames(Path(config.training_run), config.training_every), gif, duration_ms=400, bounce=False)
        print(f"wrote {gif}")
    if config.attribute:
        strip = Path(out).with_name(f"{Path(out).stem}-attributes.png")
        upscaled(to_pil(attribute_rows(model, config)), config.scale).save(strip)
        print(f"wrote {strip}")


def upscaled(image: Image.Image, scale: int) -> Image.Image:
    """Nearest-neighbour enlargement: small images stay crisp in the README."""
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


if __name__ == "__main__":
    main()
