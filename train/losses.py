"""The adversarial losses the GAN scripts share, on realness scores (one per image) from a discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d(score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss (Lim & Ye 2017): relu(1 - D(real)) + relu(1 + D(fake)), each averaged."""
    return F.relu(1 - score_real).mean() + F.relu(1 + score_fake).mean()


def relativistic_ls(score_a: torch.Tensor, score_b: torch.Tensor) -> torch.Tensor:
    """RaLSGAN's loss for "a is more real than b" (Jolicoeur-Martineau 2018, eq. for RaLSGAN):
    E_a[(C(a) - E_b C(b) - 1)^2] + E_b[(C(b) - E_a C(a) + 1)^2], halved. The discriminator minimises it for
    (real, fake), the generator for (fake, real)."""
    return ((score_a - score_b.mean() - 1).pow(2).mean() + (score_b - score_a.mean() + 1).pow(2).mean()) / 2
