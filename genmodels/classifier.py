"""Small CNN classifier: the independent judge of generated samples (handwriting characters, face domains) and the
car viewpoint labeller. Trained only on real data."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import GenerativeModel


class ImageClassifier(GenerativeModel):
    """Image in [-1, 1] -> logits over `labels`; `features` gives the penultimate embedding for Frechet distances.

    `flip_labels` (label id -> the label of its mirror image, e.g. front-left <-> front-right) makes `predict`
    symmetric: each image is judged with its mirror image, whose probabilities are read under the mirrored labels."""

    @register_to_config
    def __init__(
        self,
        resolution: int = 28,
        in_channels: int = 1,
        base_channels: int = 32,
        feature_dim: int = 128,
        labels: list[str] = ("0", "1"),
        flip_labels: list[int] | None = None,
    ):
        super().__init__()
        layers, prev = [], in_channels
        for i in range(3):  # three conv-conv-pool stages: side / 8
            width = base_channels * 2**i
            layers += [
                nn.Conv2d(prev, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]  # fmt: skip
            prev = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(prev, feature_dim), nn.ReLU(), nn.Dropout(0.3))
        self.head = nn.Linear(feature_dim, len(labels))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, num_labels); with `flip_labels`, averaged with those of the mirror images."""
        x = x.to(self.device, self.dtype)
        probs = self(x).softmax(dim=1)
        if self.config.flip_labels is None:
            return probs
        return (probs + self(x.flip(3)).softmax(dim=1)[:, self.config.flip_labels]) / 2
