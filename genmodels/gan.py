"""DCGAN-style generator with optional class conditioning, and its spectrally normalised projection discriminator.

One family serves three tabs: unconditional cat faces (`num_classes=0`), handwriting (62 characters) and cars
(viewpoints). The discriminator is used only in training and is never shipped.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .base import GenerativeModel, noise, slerp


def upsample_plan(resolution: int) -> tuple[int, int]:
    """(base_size, n_upsamples): halve `resolution` down to a side of at most 7 (64 -> 4, 28 -> 7, 16 -> 4)."""
    size, steps = resolution, 0
    while size % 2 == 0 and size > 7:
        size, steps = size // 2, steps + 1
    return size, steps


class ConditionalNorm(nn.Module):
    """BatchNorm whose gain and bias come from the class label (conditional BN, de Vries et al. 2017);
    plain affine BatchNorm when the model is unconditional. `per_image`: instance norm instead (conditional
    instance norm, Dumoulin et al. 2017), each image normalised by its own statistics, so that an image comes out the
    same in any batch, of any size (the translator)."""

    def __init__(self, channels: int, num_classes: int, per_image: bool = False):
        super().__init__()
        self.bn = nn.InstanceNorm2d(channels) if per_image else nn.BatchNorm2d(channels, affine=num_classes == 0)
        self.embed = nn.Embedding(num_classes, 2 * channels) if num_classes else None
        if self.embed is not None:
            nn.init.ones_(self.embed.weight[:, :channels])  # start as identity: gain 1, bias 0
            nn.init.zeros_(self.embed.weight[:, channels:])

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        x = self.bn(x)
        if self.embed is None:
            return x
        gain, bias = self.embed(y)[:, :, None, None].chunk(2, dim=1)
        return x * gain + bias


class Generator(GenerativeModel):
    """z (and a label) -> image in [-1, 1]. `sample(n, seed=..., labels=..., truncation=...)` is the app's entry point."""

    @register_to_config
    def __init__(
        self,
        resolution: int = 64,
        out_channels: int = 3,
        latent_dim: int = 128,
        base_channels: int = 64,
        num_classes: int = 0,
        labels: list[str] | None = None,
        last_channels: int = 0,
        label_in_latent: bool = True,
    ):
        super().__init__()
        size, steps = upsample_plan(resolution)
        widths = [base_channels * 2 ** max(steps - 1 - i, 0) for i in range(steps + 1)]  # 512,256,128,64,64 @64px
        widths[-1] = last_channels or widths[-1]  # the full-resolution stage is the costliest: it may be narrower
        # The label reaches every layer through conditional BatchNorm; `label_in_latent` also appends its embedding
        # to z. Without it the first layer is z's alone: there the batch's BatchNorm statistics are z's spread, not
        # the gap between labels, which (a cars run) leaves z too little say.
        embed = num_classes and label_in_latent
        self.project = nn.Linear(latent_dim + (latent_dim if embed else 0), widths[0] * size * size)
        self.class_embed = nn.Embedding(num_classes, latent_dim) if embed else None
        self.norms = nn.ModuleList([ConditionalNorm(w, num_classes) for w in widths])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1, bias=False) for w_in, w_out in zip(widths, widths[1:])
        )
        self.to_image = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        self.base_shape = (widths[0], size, size)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.class_embed is not None:
            z = torch.cat([z, self.class_embed(y)], dim=1)
        h = self.project(z).view(-1, *self.base_shape)  # (base_channels * 2^k) x base x base
        h = torch.relu(self.norms[0](h, y))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = torch.relu(norm(up(h), y))  # each step doubles the side and halves the width
        return torch.tanh(self.to_image(h))  # out_channels x resolution x resolution

    def latents(self, n: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """n latent vectors from `seed`, pulled towards the mean by `truncation` (1 = untouched, smaller = safer)."""
        return noise((n, self.config.latent_dim), seed, self.device) * truncation

    def default_labels(self, n: int) -> torch.Tensor | None:
        """Classes cycled in order (0, 1, ..., 0, 1, ...): the labels used when a conditional sample names none."""
        return torch.arange(n, device=self.device) % self.config.num_classes if self.config.num_classes else None

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, labels=None, truncation: float = 1.0) -> torch.Tensor:
        """n images from `seed`; `labels` (names or ids, one per image) for a conditional model."""
        y = self.label_ids(labels) if labels is not None else self.default_labels(n)
        return self(self.latents(n, seed, truncation), y)

    @torch.no_grad()
    def relabel(self, labels, *, seed: int = 0, truncation: float = 1.0) -> torch.Tensor:
        """One latent code from `seed`, drawn under each of `labels` in turn: the same sample, class by class."""
        y = self.label_ids(labels)
        return self(self.latents(1, seed, truncation).expand(len(y), -1), y)

    @torch.no_grad()
    def standing_stats(self, batches: int = 32, batch_size: int = 256, seed: int = 0) -> None:
        """Recompute the BatchNorm statistics from this generator's own samples (classes cycled uniformly).

        An EMA of the weights needs this: the running statistics gathered while training belong to the live weights,
        and used with the averaged ones they wash the samples out (BigGAN's "standing statistics")."""
        norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over all the batches
        was_training = self.training
        self.train()
        for i in range(batches):
            self(self.latents(batch_size, seed + i), self.default_labels(batch_size))
        self.train(was_training)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum

    @torch.no_grad()
    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, label=None, truncation: float = 1.0) -> torch.Tensor:
        """Images along the great circle between the latents of two seeds."""
        z = slerp(self.latents(1, seed_a)[0], self.latents(1, seed_b)[0], steps) * truncation
        y = self.label_ids([label] * steps) if label is not None else self.default_labels(steps)
        return self(z, y)


class MinibatchStd(nn.Module):
    """Append one channel holding the average per-feature standard deviation (Karras et al. 2018) of the whole
    batch, or of each group of `group_size` consecutive images (a conditional GAN's batch holds each label's images
    side by side: a whole batch of mixed labels is varied even when each label is always drawn the same way)."""

    def __init__(self, group_size: int = 0):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        group = self.group_size if self.group_size and n % self.group_size == 0 else n
        if group < 2:
            spread = x.new_zeros(n)
        else:
            spread = x.reshape(n // group, group, -1).std(dim=1, unbiased=False).mean(1).repeat_interleave(group)
        return torch.cat([x, spread.view(n, 1, 1, 1).expand(n, 1, *x.shape[2:])], dim=1)


class Discriminator(nn.Module):
    """Image (and label) -> realness score: strided convs (spectral norm, or DCGAN's BatchNorm), global sum pooling
    (or a head on every position), and the projection term of Miyato & Koyama 2018 (`<embed(y), h>`) for
    conditional models. With `aux_classifier`, a linear head on the same pooled features also predicts the class
    (trained on real images only), so the generator can be asked to make characters that read as their label.
    Training only."""

    def __init__(self, resolution=64, in_channels=3, base_channels=64, num_classes=0, use_spectral_norm=True,
                 aux_classifier=False, minibatch_std=False, stem=True, positional_head=False,
                 batch_norm=False, minibatch_group=0):  # fmt: skip
        super().__init__()
        sn = spectral_norm if use_spectral_norm else (lambda module: module)
        size, steps = upsample_plan(resolution)
        widths = [base_channels * 2 ** min(i, steps - 1) for i in range(steps + 1)]  # the generator's mirror
        if stem:  # a full-resolution 3x3 conv first, then strided convs
            layers = [sn(nn.Conv2d(in_channels, widths[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        else:  # DCGAN's layout: strided convs straight from the image, one stage narrower (~4x cheaper at 64px)
            layers, widths = [], [in_channels, *widths[:-1]]
        for i, (w_in, w_out) in enumerate(zip(widths, widths[1:])):
            layers.append(sn(nn.Conv2d(w_in, w_out, 4, stride=2, padding=1)))
            if batch_norm and (i > 0 or stem):  # DCGAN: BatchNorm after every strided conv but one on the image
                layers.append(nn.BatchNorm2d(w_out))
            layers.append(nn.LeakyReLU(0.2))
        if minibatch_std:  # ProGAN's minibatch standard deviation: lets D see a batch that lacks variety
            layers += [MinibatchStd(minibatch_group), sn(nn.Conv2d(widths[-1] + 1, widths[-1], 3, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        # The score from the sum-pooled features, or (positional_head, DCGAN's final 4x4 conv) from every position
        # of the last feature map: it can tell where things are, so two eyes stay two eyes under shifted inputs.
        self.positional_head = positional_head
        self.head = sn(nn.Linear(widths[-1] * (size * size if positional_head else 1), 1))
        self.class_embed = sn(nn.Embedding(num_classes, widths[-1])) if num_classes else None
        if self.class_embed is not None and not use_spectral_norm:
            # Unnormalised, N(0, 1) rows against sum-pooled features put label terms of tens into every score from
            # the first step (a relativistic loss then compares them across labels, and the first cars run drew
            # noise): start at 0, so the label's part grows only as D learns it.
            nn.init.zeros_(self.class_embed.weight)
        self.classifier = nn.Linear(widths[-1], num_classes) if aux_classifier and num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, *, return_logits: bool = False):
        """The realness score, or (score, class logits) with `return_logits` and an aux classifier."""
        features = self.features(x)  # (N, widest, base, base)
        h = features.sum(dim=(2, 3))  # (N, widest)
        out = self.head(features.flatten(1) if self.positional_head else h).squeeze(1)
        if self.class_embed is not None:
            out = out + (self.class_embed(y) * h).sum(dim=1)
        if return_logits:
            return out, self.classifier(h)
        return out
