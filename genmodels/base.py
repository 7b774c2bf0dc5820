"""The contract every shipped model follows, and the few tensor helpers they share.

Tensors inside `genmodels` are NCHW in [-1, 1]; PIL images exist only at the edge (`to_pil`).
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager

import torch


@contextmanager
def without_torch_dynamo():
    """Import inside this block with `torch._dynamo` unavailable, then make it importable again.

    diffusers imports torch._dynamo at import time for one decorator, `maybe_allow_in_graph`, which only matters
    when diffusers' own attention blocks are compiled, and falls back to a no-op when the import fails. Loading
    torch._dynamo (sympy, symbolic shapes, the tracer) costs ~1.3 s of a ~6 s cold start on the Space's 2-core CPU,
    and nothing here compiles diffusers blocks. Anything that needs torch._dynamo later (torch.compile, accelerate)
    imports it as usual. `bench/bench.py --cold-start` measures the difference.
    """
    if "torch._dynamo" in sys.modules:
        yield
        return
    sys.modules["torch._dynamo"] = None  # an import of a None entry raises ImportError
    try:
        yield
    finally:
        del sys.modules["torch._dynamo"]


with without_torch_dynamo():
    from diffusers import ConfigMixin, ModelMixin


class GenerativeModel(ModelMixin, ConfigMixin):
    """A Hub-native model: `save_pretrained` writes config.json + safetensors, `from_pretrained` reads a folder or
    a Hub id. Subclasses decorate `__init__` with `@register_to_config` and implement `sample` (or `transfer`)."""

    # `device` and `dtype` as plain torch reads them: diffusers' versions look for group offloading (unused here)
    # through an import of diffusers.hooks, which loads torch._dynamo on the app's first request.
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def labels(self) -> list[str]:
        """Names of the conditions a conditional model knows, in index order (empty when unconditional)."""
        return list(self.config.get("labels") or [])

    def label_ids(self, labels) -> torch.Tensor:
        """Turn label names or indices into a LongTensor of indices; unknown names raise ValueError."""
        names = self.labels
        ids = []
        for label in labels:
            if isinstance(label, str):
                if label not in names:
                    raise ValueError(f"unknown label {label!r}; known: {', '.join(names)}")
                label = names.index(label)
            ids.append(int(label))
        return torch.tensor(ids, dtype=torch.long, device=self.device)


def noise(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal noise drawn on the CPU from `seed`, so the same seed gives the same picture on every device."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=generator).to(device)


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation between two latent vectors (D,) -> (steps, D); Gaussian latents live near a sphere."""
    t = torch.linspace(0, 1, steps, device=a.device)[:, None]
    omega = torch.arccos(torch.clamp((a / a.norm()) @ (b / b.norm()), -1.0, 1.0))
    if omega.abs() < 1e-4:  # nearly parallel: plain lerp is exact enough and avoids dividing by ~0
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def psnr(images: torch.Tensor, references: torch.Tensor) -> list[float]:
    """Peak signal-to-noise ratio in dB of each image against its reference, both in [-1, 1] (peak-to-peak 2)."""
    mse = (images.float() - references.float()).pow(2).flatten(1).mean(1).clamp(min=1e-10)
    return (10 * torch.log10(4 / mse)).tolist()


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile (N, C, H, W) images into one (C, H', W') image, `nrow` per row (default: square-ish)."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = images.new_full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        y, x = divmod(i, nrow)
        top, left = padding + y * (h + padding), padding + x * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def to_pil(images: torch.Tensor):
    """(N, C, H, W) or (C, H, W) tensors in [-1, 1] -> a list of PIL images (or one image for a 3-D input)."""
    from PIL import Image

    single = images.dim() == 3
    batch = images[None] if single else images
    array = ((batch.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    array = array.permute(0, 2, 3, 1).numpy()
    pils = [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in array]
    return pils[0] if single else pils


def save_gif(frames, path, *, scale: int = 1, duration_ms: int = 80, bounce: bool = True):
    """Write PIL frames as a looping animated GIF, upscaled `scale` x (nearest neighbour: pixels stay crisp);
    with `bounce` the animation plays forward then back, so the loop has no jump. Each frame gets its own 256-colour
    palette by fast octree quantisation before upscaling (~10x faster than PIL's default when saving)."""
    frames = [f.convert("RGB").quantize(method=2) for f in frames]  # 2 = Image.Quantize.FASTOCTREE
    if scale != 1:
        frames = [f.resize((f.width * scale, f.height * scale), 0) for f in frames]  # 0 = Image.Resampling.NEAREST
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, optimize=False)
    return path


def image_to_tensor(image, size: int, channels: int = 3) -> torch.Tensor:
    """PIL image -> (C, size, size) float tensor in [-1, 1]: centre square crop, Lanczos resize, RGB or grey."""
    import numpy as np
    from PIL import Image

    image = image.convert("RGB" if channels == 3 else "L")
    w, h = image.size
    if w != h:  # centre square crop, so non-square inputs (cars, photos) are not squashed
        side = min(w, h)
        image = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8).reshape(size, size, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 127.5 - 1


def from_pil(images, size: int, channels: int = 3) -> torch.Tensor:
    """PIL images -> (N, C, size, size) float tensor in [-1, 1] (see `image_to_tensor`)."""
    return torch.stack([image_to_tensor(image, size, channels) for image in images])
