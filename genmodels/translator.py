"""Unpaired image-to-image translation with one generator for every direction (StarGAN, Choi et al. 2018, with
CycleGAN's ResNet generator, Zhu et al. 2017): the image is encoded, passed through residual blocks and decoded, and
every normalisation layer takes its gain and bias from the target label (conditional instance norm, `gan.ConditionalNorm`
with `per_image`).

At 64x64: a 7x7 stem, two stride-2 convolutions down to 16x16, residual blocks there, and two nearest-neighbour
upsamplings each followed by a 3x3 convolution (no transposed convolutions: no checkerboards, no streaks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import GenerativeModel
from .gan import ConditionalNorm


class ConvNorm(nn.Module):
    """conv -> label norm -> ReLU (the ReLU left out with `act=False`); `up` doubles the side first (nearest)."""

    def __init__(self, c_in: int, c_out: int, n_labels: int, kernel: int = 3, stride: int = 1, up: bool = False,
                 act: bool = True):  # fmt: skip
        super().__init__()
        self.up, self.act = up, act
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, padding_mode="reflect")
        self.norm = ConditionalNorm(c_out, n_labels, per_image=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.norm(self.conv(x), y)
        return torch.relu(x) if self.act else x


class ResBlock(nn.Module):
    def __init__(self, channels: int, n_labels: int):
        super().__init__()
        self.a = ConvNorm(channels, channels, n_labels)
        self.b = ConvNorm(channels, channels, n_labels, act=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x, y), y)


class Translator(GenerativeModel):
    """`transfer(images, source, target)` re-draws images of one label as another (labels by name or index); the
    source is not an input: the generator sees the image and the label it must reach."""

    @register_to_config
    def __init__(self, resolution: int = 64, in_channels: int = 3, base_channels: int = 32, n_blocks: int = 6,
                 labels: list[str] = ("real", "anime")):  # fmt: skip
        super().__init__()
        c, n = base_channels, len(labels)
        self.down = nn.ModuleList([
            ConvNorm(in_channels, c, n, kernel=7),
            ConvNorm(c, 2 * c, n, kernel=4, stride=2),
            ConvNorm(2 * c, 4 * c, n, kernel=4, stride=2),
        ])  # fmt: skip
        self.blocks = nn.ModuleList(ResBlock(4 * c, n) for _ in range(n_blocks))
        self.up = nn.ModuleList([ConvNorm(4 * c, 2 * c, n, up=True), ConvNorm(2 * c, c, n, up=True)])
        self.to_image = nn.Conv2d(c, in_channels, 7, padding=3, padding_mode="reflect")

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        for layer in [*self.down, *self.blocks, *self.up]:
            x = layer(x, target)
        return torch.tanh(self.to_image(x))

    @torch.no_grad()
    def transfer(self, images: torch.Tensor, source, target) -> torch.Tensor:
        """`images` (of label `source`, which the generator does not need) drawn as label `target`."""
        self.label_ids([source])  # an unknown source name still raises
        return self(images.to(self.device, self.dtype), self.label_ids([target] * images.shape[0]))
