"""Transfer VAE (trVAE; Lotfollahi et al. 2020, "Conditional out-of-distribution generation for unpaired data using
transfer VAE"): encoder conditioned on the source label, decoder on the target label, and an MMD penalty on the
first decoder layer across conditions, which strips the domain from the code.

Unlike the public reference's convolutional branch, the decoder returns the output of its final convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import GenerativeModel
from .gan import upsample_plan
from .vae import down_blocks, up_blocks


class TransferVAE(GenerativeModel):
    """`transfer(images, source, target)` re-draws faces of one domain in another (labels by name or index)."""

    @register_to_config
    def __init__(
        self,
        resolution: int = 64,
        in_channels: int = 3,
        latent_dim: int = 128,
        base_channels: int = 32,
        mmd_dim: int = 256,
        labels: list[str] = ("real", "anime"),
    ):
        super().__init__()
        size, steps = upsample_plan(resolution)
        widths = [base_channels * 2**i for i in range(steps)]
        n_labels = len(labels)
        self.encoder = down_blocks(in_channels + n_labels, widths)  # the source label enters as constant planes
        self.to_moments = nn.Linear(widths[-1] * size * size, 2 * latent_dim)
        self.first_decoder_layer = nn.Linear(latent_dim + n_labels, mmd_dim)  # the MMD is taken on its output
        self.from_code = nn.Linear(mmd_dim, widths[-1] * size * size)
        self.decoder = up_blocks([*widths[::-1], widths[0]], in_channels)
        self.base_shape = (widths[-1], size, size)

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, len(self.labels)).float()

    def encode(self, x: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        planes = self.one_hot(source)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.to_moments(self.encoder(torch.cat([x, planes], dim=1)).flatten(1)).chunk(2, dim=1)

    def decode(self, z: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image, and the first decoder layer's output (the MMD features)."""
        code = F.leaky_relu(self.first_decoder_layer(torch.cat([z, self.one_hot(target)], dim=1)), 0.2)
        return self.decoder(self.from_code(code).view(-1, *self.base_shape)), code

    def forward(self, x, source, target):
        """(reconstruction, mu, logvar, mmd features) through a reparameterised draw."""
        mu, logvar = self.encode(x, source)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon, code = self.decode(z, target)
        return recon, mu, logvar, code

    @torch.no_grad()
    def transfer(self, images: torch.Tensor, source, target) -> torch.Tensor:
        """Encode with the posterior mean under `source`, decode under `target`; one label each, for the batch."""
        n = images.shape[0]
        mu, _ = self.encode(images.to(self.device, self.dtype), self.label_ids([source] * n))
        return self.decode(mu, self.label_ids([target] * n))[0]
