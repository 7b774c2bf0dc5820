"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GANs trained on a few thousand images.

The same random colour shift, translation and cutout are applied to every image the discriminator sees, real or
generated, in both the D and the G step, so D cannot overfit the training set while G still learns the data (the
augmentations are differentiable and do not leak into its samples).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0-2) and contrast (x0.5-1.5) per image, on images in [-1, 1]."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its side, filling with zeros (mid-grey)."""
    n, _, h, w = x.shape
    dy, dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-dy, dy + 1, (n, 1, 1), device=x.device)
    shift_x = torch.randint(-dx, dx + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + shift_y).clamp(-1, h)  # -1 and h land in the padding
    cols = (torch.arange(w, device=x.device)[None, None, :] + shift_x).clamp(-1, w)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of `ratio` x the side at a random place in each image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + 1 - ch % 2, (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + 1 - cw % 2, (n, 1, 1), device=x.device) - cw // 2
    ys, xs = torch.arange(h, device=x.device)[None, :, None], torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside)[:, None].to(x.dtype)


def diff_augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """Apply the named augmentations in order (any of POLICIES)."""
    for name in policy:
        if name not in POLICIES:
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(POLICIES)}")
        x = globals()[name](x)
    return x
