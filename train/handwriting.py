"""Train the handwriting cGAN: 62 characters (0-9, A-Z, a-z) at 28x28 on EMNIST ByClass + MNIST.

Generator: DCGAN-style with conditional BatchNorm and a label embedding; discriminator: spectral norm with the
projection head (Miyato & Koyama 2018); hinge loss (Lim & Ye 2017); EMA of the generator's weights. Classes are
drawn uniformly, so rare letters (j: ~290 images) are learned as well as common ones (e: ~3,800).

    GENMODELS_DATA_DIR=../shared/datasets python -m train.handwriting --max-steps 20000
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from datasets import interleave_datasets

from genmodels.base import image_to_tensor
from genmodels.gan import Discriminator, Generator
from genmodels.registry import CHARACTERS

from .config import command_line, parse
from .data import Batches, ExampleStream, open_stream
from .loop import TrainConfig, Trainer


@dataclass
class Config(TrainConfig):
    """Class-conditional hinge GAN for handwritten characters."""

    datasets: list[str] = field(default_factory=lambda: ["genmodels/emnist-byclass", "genmodels/mnist"])  # ids or folders
    latent_dim: int = 64  # size of the style latent shared by "one hand"
    g_channels: int = 64  # generator width at 28x28
    d_channels: int = 64  # discriminator width at 28x28
    lr_g: float = 2e-4  # generator Adam learning rate
    lr_d: float = 2e-4  # discriminator Adam learning rate
    d_steps: int = 1  # discriminator updates per generator update
    batch_size: int = 128  # images per step per process
    max_steps: int = 20_000  # generator steps in all


def make_data(config: Config, rank: int, world_size: int) -> Batches:
    """Uniform over the classes present: EMNIST's and MNIST's label ids agree for digits (0-9)."""
    streams = [open_stream(d, seed=config.seed, rank=rank, world_size=world_size) for d in config.datasets]
    dataset = interleave_datasets(streams, stopping_strategy="all_exhausted") if len(streams) > 1 else streams[0]
    stream = ExampleStream(dataset, lambda ex: (image_to_tensor(ex["image"], 28, channels=1), ex["label"]))
    return Batches(stream, config.batch_size, balance=True, seed=config.seed + rank)


def main(argv=None):
    config = parse(Config, argv)
    torch.manual_seed(config.seed)
    generator = Generator(resolution=28, out_channels=1, latent_dim=config.latent_dim, base_channels=config.g_channels,
                          num_classes=len(CHARACTERS), labels=CHARACTERS)  # fmt: skip
    discriminator = Discriminator(resolution=28, in_channels=1, base_channels=config.d_channels, num_classes=len(CHARACTERS))
    optimizers = {
        "opt_g": torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=(0.0, 0.9)),
        "opt_d": torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=(0.0, 0.9)),
    }
    from accelerate import PartialState

    state = PartialState()
    data = make_data(config, state.process_index, state.num_processes)
    grid_labels = torch.arange(len(CHARACTERS)).repeat(2)  # every class, twice, from fixed latents

    def sample(model):
        return model.sample(len(grid_labels), seed=1234, labels=grid_labels.tolist())

    trainer = Trainer("handwriting", config, {"generator": generator, "discriminator": discriminator}, optimizers,
                      data, ship="generator", sample=sample, command=command_line(__spec__.name, argv),
                      notes="- Loss: hinge; D: spectral norm + projection; G: conditional BatchNorm; EMA "
                            f"{config.ema_decay}; classes sampled uniformly.")  # fmt: skip
    trainer.fit(train_step)


def train_step(trainer: Trainer, batch) -> dict:
    real, labels = batch
    g, d = trainer.models["generator"], trainer.models["discriminator"]
    opt_g, opt_d = trainer.optimizers["opt_g"], trainer.optimizers["opt_d"]
    latent_dim = trainer.unwrap("generator").config.latent_dim

    ############################
    # (1) Update D: minimise relu(1 - D(x, y)) + relu(1 + D(G(z, y), y))   (hinge loss, Lim & Ye 2017)
    ###########################
    for _ in range(trainer.config.d_steps):
        z = torch.randn(real.shape[0], latent_dim, device=real.device)
        with torch.no_grad():
            fake = g(z, labels)
        loss_d = F.relu(1 - d(real, labels)).mean() + F.relu(1 + d(fake, labels)).mean()
        opt_d.zero_grad(set_to_none=True)
        trainer.accelerator.backward(loss_d)
        opt_d.step()

    ############################
    # (2) Update G: minimise -D(G(z, y), y)
    ###########################
    z = torch.randn(real.shape[0], latent_dim, device=real.device)
    loss_g = -d(g(z, labels), labels).mean()
    opt_g.zero_grad(set_to_none=True)
    trainer.accelerator.backward(loss_g)
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


if __name__ == "__main__":
    main()
