"""Train the cat-face GAN at 64x64 on `cat-faces` (the Relativistic GAN paper's CAT set), with that paper's best
loss on this data, RaLSGAN.

Generator: DCGAN-style (linear to 4x4, four stride-2 transposed convs with BatchNorm, a 3x3 conv to RGB), shipped
as the EMA of its weights with BatchNorm statistics recomputed for them. Discriminator: DCGAN's (strided convs,
BatchNorm, a head on the whole 4x4 map) with a minibatch-std channel. bf16 autocast. NOTES (which goes into the
model card) says why. Our held-out 10% never enters training.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.cats
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from genmodels.gan import Discriminator, Generator

from .augment import diff_augment
from .config import command_line, parse
from .data import class_batches
from .loop import TrainConfig, Trainer, gan_optimizers, processes
from .losses import LeCam, relativistic_ls

NOTES = """\
- Generator: linear to 4x4x{g_top}, four stride-2 transposed convs (BatchNorm, ReLU), the last one at 64x64 only
  {config.g_last_channels} channels wide (the full-resolution stage dominates the cost), a 3x3 conv and tanh. The
  shipped weights are the EMA (decay {config.ema_decay}) with BatchNorm statistics recomputed for the averaged
  weights ("standing statistics").
- Discriminator: DCGAN's strided convs (64 -> 512 channels, BatchNorm after all but the first), a minibatch
  standard-deviation channel (Karras et al. 2018), and a linear head on the whole 4x4 feature map (DCGAN's final
  4x4 conv), so the score depends on where features are.
- Loss: relativistic average least squares, RaLSGAN (Jolicoeur-Martineau 2018), the paper's best on this dataset
  at 64x64 (FID 11.97). Adam (lr G {config.lr_g}, D {config.lr_d}, betas {config.betas}) as in the paper, one D
  step per G step; bf16 autocast ({config.mixed_precision}), ~1.7x faster steps on CPU. DiffAugment policy:
  {config.augment} (none: on a CPU budget, early progress matters more than D overfitting late).
- Why: two first runs with a spectral-norm discriminator and the hinge loss (one with a sum-pooled head, colour,
  translation and cutout DiffAugment and lr 2e-4 for both; one with the positional head, translation and cutout,
  and D at 4e-4) kept D near chance (both hinge terms near 1) and drew flat textures with rows of eyes at steps
  500-1,000. With BatchNorm in D and RaLSGAN, D separates real from fake from the first steps.
- History of this run: up to step 2,750 the generator's step was judged by the discriminator as it was before its
  own update (autocast's weight-cast cache kept the old bf16 copies; the trainer now turns that cache off). Steps
  2,750-3,000 mixed the two (the reals scored by the old discriminator, the fakes by the new one); a branch that
  continued that way to step 4,750 drew striped, collapsing samples by step 4,000 (sharp at 3,000). It was
  discarded, and the run went on from its step-3,000 checkpoint with the fix.
- Data: our train part (90%) of `cat-faces`; the held-out 10% (by a hash of the image bytes) is kept for the
  memorisation check (KID against it, beside KID against the training images).
"""


@dataclass
class Config(TrainConfig):
    """Unconditional RaLSGAN for 64x64 cat faces."""

    dataset: str = "genmodels/cat-faces"  # id or folder
    resolution: int = 64  # image side
    latent_dim: int = 128  # size of z
    g_channels: int = 64  # generator width unit: 512 channels at 4x4, halving per stage
    g_last_channels: int = 32  # generator width at 64x64
    d_channels: int = 64  # discriminator width at 32x32 (doubling per stage)
    lr_g: float = 2e-4  # generator Adam learning rate
    lr_d: float = 2e-4  # discriminator Adam learning rate
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam betas
    minibatch_group: int = 0  # D's minibatch-std over groups of this many images (0: the whole batch)
    aux_weight: float = 0.0  # conditional models: weight of D's class head (learnt on real images), which G's images must pass
    lecam_weight: float = 0.0  # weight of LeCam's regulariser on D's scores (Tseng et al. 2021; 0: none)
    augment: list[str] = field(default_factory=list)  # DiffAugment policy for longer runs (translation, cutout, color)
    mixed_precision: str = "bf16"  # autocast: "bf16" is ~1.7x faster on CPU
    batch_size: int = 64  # images per step per process
    max_steps: int = 100_000  # generator steps in all
    sample_every: int = 1000  # steps between fixed-seed sample grids
    checkpoint_every: int = 250  # steps between checkpoints


def build(config: Config, labels: list[str] | None = None) -> dict[str, torch.nn.Module]:
    """The generator and DCGAN discriminator; with `labels`, both conditioned on them (a label's gain and bias in
    every BatchNorm of G, the projection term in D); with `lecam_weight`, LeCam's anchors."""
    classes = len(labels or [])
    generator = Generator(resolution=config.resolution, latent_dim=config.latent_dim, base_channels=config.g_channels,
                          last_channels=config.g_last_channels, num_classes=classes, labels=labels,
                          label_in_latent=False)  # fmt: skip
    discriminator = Discriminator(resolution=config.resolution, base_channels=config.d_channels, use_spectral_norm=False,
                                  batch_norm=True, minibatch_std=True, stem=False, positional_head=True,
                                  num_classes=classes, minibatch_group=config.minibatch_group,
                                  aux_classifier=config.aux_weight > 0)  # fmt: skip
    return {"generator": generator, "discriminator": discriminator} | ({"lecam": LeCam()} if config.lecam_weight else {})


def train_step(trainer: Trainer, batch) -> dict:
    """One D step and one G step of RaLSGAN; a class-conditional generator gets the real batch's labels (its fakes
    are judged under them, the discriminator's projection term reading the label), and with `aux_weight` the
    auxiliary-classifier loss of AC-GAN (Odena et al. 2017) as well."""
    real, labels = batch
    g, d = trainer.models["generator"], trainer.models["discriminator"]
    opt_g, opt_d = trainer.optimizers["opt_g"], trainer.optimizers["opt_d"]
    latent_dim, augment, aux = trainer.unwrap("generator").config.latent_dim, trainer.config.augment, trainer.config.aux_weight
    y = labels if trainer.unwrap("generator").config.num_classes else None

    def judge(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's realness scores of the (augmented) images, and its class logits when it has a class head."""
        return d(diff_augment(images, augment), y, return_logits=True) if aux else (d(diff_augment(images, augment), y), None)

    ############################
    # (1) Update D: real images should score higher than the average fake, fakes lower than the average real
    #     (+ aux_weight * CE(C(x), y): its class head learns the labels of real images only)
    #     (+ lecam_weight * LeCam: real scores held near the average fake score, fakes near the average real)
    ###########################
    with torch.no_grad():
        fake = g(torch.randn(real.shape[0], latent_dim, device=real.device), y)
    (score_real, logits_real), (score_fake, _) = judge(real), judge(fake)
    loss_d = relativistic_ls(score_real.float(), score_fake.float())
    metrics = {"loss_d": loss_d.item()}
    if aux:
        loss_cls = F.cross_entropy(logits_real.float(), y)
        loss_d, metrics["cls_real"] = loss_d + aux * loss_cls, loss_cls.item()
    if trainer.config.lecam_weight:
        lecam = trainer.models["lecam"](score_real.float(), score_fake.float())
        loss_d, metrics["lecam"] = loss_d + trainer.config.lecam_weight * lecam, lecam.item()
    opt_d.zero_grad(set_to_none=True)
    trainer.accelerator.backward(loss_d)
    opt_d.step()

    ############################
    # (2) Update G: the same loss with the roles swapped (fakes more real than the average real)
    #     (+ aux_weight * CE(C(G(z, y)), y): its images must read as their label to D's class head)
    ###########################
    fake = g(torch.randn(real.shape[0], latent_dim, device=real.device), y)
    with torch.no_grad():
        score_real = d(diff_augment(real, augment), y)  # D has moved: score the reals again (no gradient needed)
    with trainer.frozen("discriminator"):
        score_fake, logits_fake = judge(fake)
    loss_g = relativistic_ls(score_fake.float(), score_real.float())
    metrics |= {"loss_g": loss_g.item(), "d_real": score_real.float().mean().item(), "d_fake": score_fake.float().mean().item()}
    if aux:
        loss_cls = F.cross_entropy(logits_fake.float(), y)
        loss_g, metrics["cls_fake"] = loss_g + aux * loss_cls, loss_cls.item()
    opt_g.zero_grad(set_to_none=True)
    trainer.accelerator.backward(loss_g)
    opt_g.step()
    return metrics


def main(argv=None):
    config = parse(Config, argv)
    torch.manual_seed(config.seed)
    models = build(config)
    optimizers = gan_optimizers(models["generator"], models["discriminator"], config)
    state = processes()
    data = class_batches([config.dataset], config.resolution, 3, config.batch_size, [0], part="train", balance=False,
                         seed=config.seed, rank=state.process_index, world_size=state.num_processes)  # fmt: skip
    notes = NOTES.format(config=config, g_top=models["generator"].base_shape[0])
    trainer = Trainer("cats", config, models, optimizers, data,
                      ship="generator", sample=lambda model: model.sample(64, seed=1234),
                      command=command_line(__spec__.name, argv), notes=notes)  # fmt: skip
    trainer.fit(train_step)


if __name__ == "__main__":
    main()
