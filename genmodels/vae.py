"""Convolutional VAE (Kingma & Welling 2014): the cats baseline of the original project, and the Faces model."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import GenerativeModel, noise, slerp
from .gan import upsample_plan


def down_blocks(in_channels: int, widths: list[int]) -> nn.Sequential:
    """Strided conv blocks, each halving the side: in_channels -> widths[0] -> ... -> widths[-1]."""
    layers, prev = [], in_channels
    for width in widths:
        layers += [nn.Conv2d(prev, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2)]
        prev = width
    return nn.Sequential(*layers)


def up_blocks(widths: list[int], out_channels: int) -> nn.Sequential:
    """Transposed-conv blocks, one per step between widths, each doubling the side; then a 3x3 conv and tanh."""
    layers = []
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1), nn.BatchNorm2d(w_out), nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(widths[-1], out_channels, 3, padding=1), nn.Tanh()]
    return nn.Sequential(*layers)


class ConvVAE(GenerativeModel):
    """x -> (mu, logvar) -> z -> x'. `sample(n, seed=..., temperature=..., density=...)` decodes draws from the
    N(0, I) prior, or from a Gaussian mixture fitted to the training codes after training ("ex-post density
    estimation", Ghosh et al. 2020: the prior puts mass where the encoder put no code). The mixture is part of the
    model: buffers saved with the weights, `mixture_components` in config.json (0: none).

    `attributes` name latent directions fitted to labelled codes (`edit` moves codes along them); they are buffers
    too, one row per name."""

    @register_to_config
    def __init__(self, resolution: int = 64, in_channels: int = 3, latent_dim: int = 128, base_channels: int = 32,
                 mixture_components: int = 0, attributes: list[str] | None = None):  # fmt: skip
        super().__init__()
        k, persistent = mixture_components, mixture_components > 0  # models without a mixture keep their old files
        self.register_buffer("mixture_weights", torch.full((k,), 1.0 / max(k, 1)), persistent=persistent)
        self.register_buffer("mixture_means", torch.zeros(k, latent_dim), persistent=persistent)
        self.register_buffer("mixture_scale_tril", torch.eye(latent_dim).repeat(k, 1, 1), persistent=persistent)
        names = list(attributes or [])
        self.register_buffer("attribute_directions", torch.zeros(len(names), latent_dim), persistent=bool(names))
        size, steps = upsample_plan(resolution)
        widths = [base_channels * 2**i for i in range(steps)]  # e.g. 32, 64, 128, 256 for 64x64
        self.encoder = down_blocks(in_channels, widths)
        self.to_moments = nn.Linear(widths[-1] * size * size, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, widths[-1] * size * size)
        self.decoder = up_blocks([*widths[::-1], widths[0]], in_channels)
        self.base_shape = (widths[-1], size, size)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (N, latent_dim)."""
        return self.to_moments(self.encoder(x).flatten(1)).chunk(2, dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(z).view(-1, *self.base_shape))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction through a reparameterised draw, with the posterior moments for the KL term."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar

    def set_mixture(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor) -> None:
        """Install a fitted mixture: weights (K,), means (K, D), Cholesky factors of the covariances (K, D, D)."""
        for buffer, value in zip((self.mixture_weights, self.mixture_means, self.mixture_scale_tril),
                                 (weights, means, scale_tril)):  # fmt: skip
            buffer.copy_(value)

    def set_directions(self, directions: torch.Tensor) -> None:
        """Install the fitted attribute directions, (len(attributes), latent_dim)."""
        self.attribute_directions.copy_(directions)

    def edit(self, z: torch.Tensor, attribute: str, amounts) -> torch.Tensor:
        """One code `z` (D,) moved along `attribute`'s direction by each of `amounts` (N numbers): (N, D). An amount
        of 1 is the distance between the mean codes of the attribute's two labels."""
        names = list(self.config.attributes or [])
        if attribute not in names:
            raise ValueError(f"This model has no {attribute!r} direction; it has: {', '.join(names) or 'none'}.")
        direction = self.attribute_directions[names.index(attribute)].float()
        return z.float()[None] + torch.as_tensor(amounts, dtype=torch.float32, device=z.device)[:, None] * direction

    def latents(self, n: int, seed: int, temperature: float = 1.0, density: str = "prior") -> torch.Tensor:
        """`n` latent codes from `seed`: prior draws scaled by `temperature`, or mixture draws whose spread within
        their component is scaled by it."""
        if density == "prior":
            return noise((n, self.config.latent_dim), seed, self.device) * temperature
        if density != "mixture":
            raise ValueError(f"unknown density {density!r}; use 'prior' or 'mixture'")
        if not self.config.mixture_components:
            raise ValueError("This model has no fitted density; sample its prior.")
        generator = torch.Generator().manual_seed(int(seed))
        component = torch.multinomial(self.mixture_weights.float().cpu(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.config.latent_dim, 1, generator=generator).to(self.device)
        scale = self.mixture_scale_tril[component.to(self.device)].float()
        return self.mixture_means[component.to(self.device)].float() + temperature * (scale @ eps)[..., 0]

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, temperature: float = 1.0, density: str = "prior") -> torch.Tensor:
        return self.decode(self.latents(n, seed, temperature, density))

    @torch.no_grad()
    def draw(self, z: torch.Tensor) -> torch.Tensor:
        """The images of codes `z` (N, D), outside training (no gradients): e.g. codes moved by `edit`."""
        return self.decode(z.float())

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior means of images `x` in [-1, 1]: their codes, as used to reconstruct, morph and edit."""
        return self.encode(x)[0].float()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images `x` through the encoder's means and the decoder (no sampling), clamped to [-1, 1]."""
        return self.draw(self.codes(x)).clamp(-1, 1)

    @torch.no_grad()
    def morph(self, a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
        """Images along the straight line between two codes (D,): encoded and fitted codes are not on a sphere."""
        t = torch.linspace(0, 1, steps, device=a.device)[:, None]
        return self.decode(torch.lerp(a.float()[None], b.float()[None], t))

    @torch.no_grad()
    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, temperature: float = 1.0) -> torch.Tensor:
        """Images along the great circle between the latents of two seeds."""
        return self.decode(slerp(self.latents(1, seed_a)[0], self.latents(1, seed_b)[0], steps) * temperature)
