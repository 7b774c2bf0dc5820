"""Train the handwriting cGAN: 62 characters (0-9, A-Z, a-z) at 28x28 on EMNIST ByClass + MNIST.

Generator: DCGAN-style with conditional BatchNorm and a label embedding; discriminator: spectral norm with the
projection head (Miyato & Koyama 2018), a minibatch-std channel and an auxiliary class head trained on real
images only; hinge loss (Lim & Ye 2017) with TTUR; a mode-seeking term; EMA of the generator's weights. NOTES
(which goes into the model card) says why. Classes are drawn uniformly, so rare letters (j: ~290 images) are
learned as well as common ones (e: ~3,800).

    GENMODELS_DATA_DIR=../shared/datasets python -m train.handwriting
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from genmodels.gan import Discriminator, Generator
from genmodels.registry import CHARACTERS

from .config import command_line, parse
from .data import class_batches
from .loop import TrainConfig, Trainer, gan_optimizers, processes
from .losses import hinge_d


NOTES = """\
- Generator: DCGAN-style (linear to 7x7, two stride-2 transposed convs) with a label embedding concatenated to the
  style latent and class-conditional BatchNorm. The label is in every layer, so the latent is free to carry the
  *style* of the hand, which is what "one hand" in the app shares across characters. The shipped weights are the
  EMA (decay {config.ema_decay}), with BatchNorm statistics recomputed for the averaged weights.
- Discriminator: spectral norm on every layer, the projection head (Miyato & Koyama 2018) for the conditional term,
  a minibatch standard-deviation channel (Karras et al. 2018), and an auxiliary class head on the same features,
  trained on real images only, that the generator is also asked to pass (weight {config.aux_weight}).
- Loss and optimiser: hinge (Lim & Ye 2017); Adam with TTUR (lr G {config.lr_g}, D {config.lr_d}, betas
  {config.betas}), one D step per G step, as SAGAN trains.
- Mode seeking (Mao et al. 2019, weight {config.mode_seeking}): each generator batch is two halves with the same
  labels and different latents, and the generator is rewarded for making them differ.
- Why: the first CPU runs collapsed to one glyph per class within 1,000-3,000 steps, the latent ignored (with
  equal learning rates or TTUR, with or without the minibatch-std channel, class-head weight 1.0 or 0.1).
  A conditional generator can satisfy D class by class without using its latent; mode seeking makes the latent
  pay, the minibatch-std channel gives D a signal when a batch lacks variety, and TTUR keeps D ahead of G.
- Data: classes drawn uniformly from per-class reservoirs of the shuffled stream, so rare letters (j: ~290
  images) weigh as much as common ones (e: ~3,800). The evaluation classifier never takes part in training.
"""


@dataclass
class Config(TrainConfig):
    """Class-conditional hinge GAN for handwritten characters."""

    datasets: list[str] = field(default_factory=lambda: ["genmodels/emnist-byclass", "genmodels/mnist"])  # ids or folders
    latent_dim: int = 64  # size of the style latent shared by "one hand"
    g_channels: int = 64  # generator width at 28x28
    d_channels: int = 64  # discriminator width at 28x28
    mode_seeking: float = 1.0  # weight of the mode-seeking term (Mao et al. 2019): two latents, same labels, unlike glyphs
    aux_weight: float = 0.1  # weight of the auxiliary class loss (D learns it on real images, G is asked to pass it)
    lr_g: float = 1e-4  # generator Adam learning rate
    lr_d: float = 4e-4  # discriminator Adam learning rate (TTUR: D learns faster, one D step per G step)
    betas: list[float] = field(default_factory=lambda: [0.0, 0.9])  # Adam betas
    d_steps: int = 1  # discriminator updates per generator update
    batch_size: int = 64  # images per step per process
    max_steps: int = 30_000  # generator steps in all


def main(argv=None):
    config = parse(Config, argv)
    torch.manual_seed(config.seed)
    generator = Generator(resolution=28, out_channels=1, latent_dim=config.latent_dim, base_channels=config.g_channels,
                          num_classes=len(CHARACTERS), labels=CHARACTERS)  # fmt: skip
    discriminator = Discriminator(resolution=28, in_channels=1, base_channels=config.d_channels,
                                  num_classes=len(CHARACTERS), aux_classifier=True, minibatch_std=True)  # fmt: skip
    optimizers = gan_optimizers(generator, discriminator, config)
    state = processes()
    # Uniform over the classes present: EMNIST's and MNIST's label ids agree for digits (0-9).
    data = class_batches(config.datasets, 28, 1, config.batch_size, seed=config.seed, rank=state.process_index,
                         world_size=state.num_processes)  # fmt: skip
    grid_labels = torch.arange(len(CHARACTERS)).repeat(2)  # every class, twice, from fixed latents

    def sample(model):
        return model.sample(len(grid_labels), seed=1234, labels=grid_labels.tolist())

    trainer = Trainer("handwriting", config, {"generator": generator, "discriminator": discriminator}, optimizers,
                      data, ship="generator", sample=sample, command=command_line(__spec__.name, argv),
                      notes=NOTES.format(config=config))  # fmt: skip
    trainer.fit(train_step)


def train_step(trainer: Trainer, batch) -> dict:
    real, labels = batch
    g, d = trainer.models["generator"], trainer.models["discriminator"]
    opt_g, opt_d = trainer.optimizers["opt_g"], trainer.optimizers["opt_d"]
    latent_dim = trainer.unwrap("generator").config.latent_dim

    ############################
    # (1) Update D: minimise relu(1 - D(x, y)) + relu(1 + D(G(z, y), y))   (hinge loss, Lim & Ye 2017)
    #     + aux_weight * CE(C(x), y) on real images only
    ###########################
    aux = trainer.config.aux_weight
    for _ in range(trainer.config.d_steps):
        z = torch.randn(real.shape[0], latent_dim, device=real.device)
        with torch.no_grad():
            fake = g(z, labels)
        score_real, logits_real = d(real, labels, return_logits=True)
        loss_d = hinge_d(score_real, d(fake, labels))
        loss_cls = F.cross_entropy(logits_real, labels)
        opt_d.zero_grad(set_to_none=True)
        trainer.accelerator.backward(loss_d + aux * loss_cls)
        opt_d.step()

    ############################
    # (2) Update G: minimise -D(G(z, y), y) + aux_weight * CE(C(G(z, y)), y)
    #     + mode_seeking * |z1 - z2| / |G(z1, y) - G(z2, y)|: the two halves of the batch share their labels
    ###########################
    half = real.shape[0] // 2
    y = labels[:half].repeat(2)
    z = torch.randn(2 * half, latent_dim, device=real.device)
    fake = g(z, y)
    with trainer.frozen("discriminator"):
        score_fake, logits_fake = d(fake, y, return_logits=True)
    loss_g = -score_fake.mean()
    loss_g_cls = F.cross_entropy(logits_fake, y)
    spread = (fake[:half] - fake[half:]).abs().mean() / (z[:half] - z[half:]).abs().mean()
    opt_g.zero_grad(set_to_none=True)
    trainer.accelerator.backward(loss_g + aux * loss_g_cls + trainer.config.mode_seeking / (spread + 1e-5))
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "cls_real": loss_cls.item(),
            "cls_fake": loss_g_cls.item(), "spread": spread.item()}  # fmt: skip


if __name__ == "__main__":
    main()
