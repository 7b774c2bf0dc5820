"""Transfer VAE (trVAE; Lotfollahi et al. 2020, "Conditional out-of-distribution generation for unpaired data using
transfer VAE"): encoder conditioned on the source label, decoder on the target label, and an MMD penalty on the
first decoder layer across conditions, which strips the domain from the code.

Unlike the public reference's convolutional branch, the decoder returns the output of its final convolution. The
target label enters the first decoder layer (as in the paper) and every upsampling block, through label-conditional
BatchNorm: the MMD makes the code domain-free, so the domain's look must come from the label, and a label that
reaches every scale can draw it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import GenerativeModel
from .gan import ConditionalNorm, upsample_plan
from .vae import down_blocks


class UpBlock(nn.Module):
    """(N, c_in, s, s) -> (N, c_out, 2s, 2s): transposed conv, label-conditional BatchNorm, LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, n_labels: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        self.norm = ConditionalNorm(c_out, n_labels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x), y), 0.2)


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
        up = [*widths[::-1], widths[0]]  # e.g. 256 @ 4x4 -> 128 -> 64 -> 32 -> 32 @ 64x64
        self.up_blocks = nn.ModuleList(UpBlock(a, b, n_labels) for a, b in zip(up, up[1:]))
        self.to_image = nn.Conv2d(widths[0], in_channels, 3, padding=1)
        self.base_shape = (widths[-1], size, size)

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, len(self.labels)).float()

    def encode(self, x: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        planes = self.one_hot(source)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.to_moments(self.encoder(torch.cat([x, planes], dim=1)).flatten(1)).chunk(2, dim=1)

    def decode(self, z: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image, and the first decoder layer's output (the MMD features)."""
        code = F.leaky_relu(self.first_decoder_layer(torch.cat([z, self.one_hot(target)], dim=1)), 0.2)
        h = self.from_code(code).view(-1, *self.base_shape)
        for block in self.up_blocks:
            h = block(h, target)
        return torch.tanh(self.to_image(h)), code

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


def mmd(a: torch.Tensor, b: torch.Tensor, scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)) -> torch.Tensor:
    """Unbiased squared maximum mean discrepancy between two samples (N, D) and (M, D) with a multi-scale RBF
    kernel sum_s exp(-|x - y|^2 / (s * D)), the bandwidths relative to the dimension. The unbiased form leaves
    out each point's kernel with itself, which would otherwise add a floor that pushes the points apart."""
    def kernel(x, y):
        d2 = torch.cdist(x, y).pow(2) / x.shape[1]
        return sum(torch.exp(-d2 / s) for s in scales)

    def within(x):
        n = x.shape[0]
        return (kernel(x, x).sum() - len(scales) * n) / max(n * (n - 1), 1)

    return within(a) + within(b) - 2 * kernel(a, b).mean()


def condition_mmd(code: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The trVAE penalty: MMD between the codes of every pair of conditions present in the batch. The codes are
    first divided by their RMS over the batch, so shrinking them all cannot make the penalty vanish."""
    code = code / code.pow(2).mean().sqrt().clamp(min=1e-6)
    present = labels.unique()
    total = code.new_zeros(())
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            total = total + mmd(code[labels == a], code[labels == b])
    return total
