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


class LeCam(torch.nn.Module):
    """LeCam regularisation (Tseng et al. 2021, "Regularizing GANs under limited data"): the discriminator's scores
    of real images are pulled towards the moving average of its fake scores, and its fake scores towards the
    average real score, wherever they have moved past them. It bounds how far D can push the two apart, which is how
    a discriminator that memorises a small training set shows. The two averages (decay 0.99, as in the paper) are
    buffers, so a checkpoint holds them; they start at the first batch's means."""

    def __init__(self, decay: float = 0.99):
        super().__init__()
        self.decay = decay
        self.register_buffer("anchor_real", torch.zeros(()))
        self.register_buffer("anchor_fake", torch.zeros(()))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def update(self, score_real: torch.Tensor, score_fake: torch.Tensor) -> None:
        """Move the averages towards this batch's mean scores."""
        weight = 1 - self.decay if self.started else 1.0
        self.anchor_real.lerp_(score_real.float().mean(), weight)
        self.anchor_fake.lerp_(score_fake.float().mean(), weight)
        self.started.fill_(True)

    def forward(self, score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
        """E[relu(D(real) - anchor_fake)^2] + E[relu(anchor_real - D(fake))^2], after updating the anchors."""
        self.update(score_real, score_fake)
        return F.relu(score_real - self.anchor_fake).pow(2).mean() + F.relu(self.anchor_real - score_fake).pow(2).mean()
