"""Train the anime <-> real translation GAN at 64x64 (`transfer-gan`): one generator for both directions, judged by
one label-conditional discriminator, with a cycle term that keeps the face (StarGAN's objective).

Same data as the trVAE (`train.transfer`): real photos (celeb-faces, utk-faces) and anime faces, domains drawn
uniformly, our held-out 10% of every dataset left out.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.transfer_gan --output-dir $HOME/runs/transfer-gan
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from genmodels.gan import Discriminator
from genmodels.registry import DOMAINS
from genmodels.translator import Translator

from .augment import diff_augment
from .config import command_line, parse
from .data import held_out
from .loop import TrainConfig, Trainer, processes
from .losses import hinge_d
from .transfer import DOMAIN_DATA, domain_batches, other_labels, random_flips, transfer_rows

NOTES = """\
- Objective (StarGAN, Choi et al. 2018, for two labels): each image x of label s is drawn as the other label t,
  G(x, t); a label-conditional discriminator (spectral norm, projection, a full-resolution 3x3 stem before the
  strided convolutions; hinge loss) judges it against real images of label t, and the round trip G(G(x, t), s)
  must return x (mean L1, weight {config.cycle_weight}); an identity term G(x, s) = x has weight
  {config.identity_weight} (0: not used).
- Generator: CycleGAN's ResNet layout at 64x64 ({config.base_channels} channels at full size, {config.n_blocks}
  residual blocks at 16x16), conditional instance norm by the target label everywhere, nearest-neighbour
  upsampling + 3x3 convolutions on the way up (the trVAE's transposed convolutions drew vertical streaks).
- Adam (G {config.lr_g}, D {config.lr_d}, betas {config.betas}), both falling linearly to 0 from step
  {config.lr_decay_start:,} to {config.max_steps:,} (as in CycleGAN; 0: constant); EMA of the generator (decay
  {config.ema_decay}), which is what ships; DiffAugment {config.augment} on everything the discriminator sees;
  random horizontal flips; batch {config.batch_size}, bf16 autocast.
"""


@dataclass
class Config(TrainConfig):
    """Translation GAN between real photos and anime faces."""

    real: list[str] = field(default_factory=lambda: list(DOMAIN_DATA["real"]))  # ids or folders of real photos
    anime: list[str] = field(default_factory=lambda: list(DOMAIN_DATA["anime"]))  # ids or folders of anime faces
    resolution: int = 64  # image side
    base_channels: int = 32  # generator width at full resolution (x2, x4 below)
    n_blocks: int = 6  # residual blocks at a quarter of the resolution
    d_channels: int = 32  # width of the discriminator's first stage
    cycle_weight: float = 10.0  # weight of the round trip's mean L1
    identity_weight: float = 0.0  # weight of G(x, own label) = x (mean L1); 0 skips that pass
    lr_g: float = 2e-4  # the generator's Adam learning rate
    lr_d: float = 2e-4  # the discriminator's Adam learning rate
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam betas of both
    augment: list[str] = field(default_factory=lambda: ["translation"])  # DiffAugment policy before D ([] = none)
    batch_size: int = 16  # images per step per process
    ema_decay: float = 0.999  # the shipped generator is this EMA
    mixed_precision: str = "bf16"  # ~1.6x faster steps on CPU
    max_steps: int = 10_000  # optimisation steps in all
    lr_decay_start: int = 7_000  # from here both learning rates fall linearly to 0 at max_steps
    checkpoint_every: int = 250  # steps between checkpoints
    sample_every: int = 250  # steps between sample grids


def train_step(trainer: Trainer, batch) -> dict:
    """One discriminator step and one generator step; each image is moved to the other label."""
    images, source = batch
    config, g, d = trainer.config, trainer.models["generator"], trainer.models["discriminator"]
    opt_g, opt_d = trainer.optimizers["opt_g"], trainer.optimizers["opt_d"]
    images = random_flips(images)
    target = other_labels(source, len(trainer.unwrap("generator").labels))

    moved = g(images, target)
    score_real, score_fake = d(diff_augment(images, config.augment), source), d(diff_augment(moved.detach(), config.augment), target)
    loss_d = hinge_d(score_real.float(), score_fake.float())
    opt_d.zero_grad(set_to_none=True)
    trainer.accelerator.backward(loss_d)
    opt_d.step()

    with trainer.frozen("discriminator"):
        adv = -d(diff_augment(moved, config.augment), target).float().mean()
    cycle = (g(moved, source) - images).abs().float().mean()
    loss = adv + config.cycle_weight * cycle
    metrics = {"loss_d": loss_d.item(), "adv": adv.item(), "cycle": cycle.item(),
               "d_real": score_real.float().mean().item(), "d_fake": score_fake.float().mean().item()}  # fmt: skip
    if config.identity_weight:
        identity = (g(images, source) - images).abs().float().mean()
        loss = loss + config.identity_weight * identity
        metrics["identity"] = identity.item()
    opt_g.zero_grad(set_to_none=True)
    trainer.accelerator.backward(loss)
    opt_g.step()
    return metrics


def main(argv=None):
    config = parse(Config, argv)
    torch.manual_seed(config.seed)
    generator = Translator(resolution=config.resolution, base_channels=config.base_channels, n_blocks=config.n_blocks,
                           labels=DOMAINS)  # fmt: skip
    discriminator = Discriminator(resolution=config.resolution, base_channels=config.d_channels,
                                  num_classes=len(DOMAINS), stem=True)  # fmt: skip
    optimizers = {"opt_g": torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=tuple(config.betas)),
                  "opt_d": torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=tuple(config.betas))}
    state = processes()
    data = domain_batches(config, rank=state.process_index, world_size=state.num_processes)
    real, anime = held_out(config.real, 8, config.resolution), held_out(config.anime, 8, config.resolution)
    trainer = Trainer("transfer-gan", config, {"generator": generator, "discriminator": discriminator}, optimizers, data,
                      ship="generator", sample=lambda m: transfer_rows(m, real, anime),
                      command=command_line(__spec__.name, argv), notes=NOTES.format(config=config))  # fmt: skip
    trainer.fit(train_step)


if __name__ == "__main__":
    main()
