"""Train a convolutional VAE on 64x64 images: the cats baseline (`cats-vae`, the original project's method) and the
Faces model (`faces`).

Loss per image: Gaussian negative log-likelihood of the pixels with one shared variance set to its optimum, the
batch's mean squared error ("optimal sigma", Rybkin et al. 2021), plus the KL term. The usual fixed weighting
(summed squared error + KL) treats the pixel noise as huge and gives very blurry samples; a hand-set weight is a
knob to tune per dataset, and the optimal sigma needs none. Random horizontal flips; our held-out 10% never enters
training.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.vae --model cats-vae
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genmodels.registry import SPACE
from genmodels.vae import ConvVAE

from .config import command_line, parse
from .data import class_batches
from .loop import TrainConfig, Trainer, processes

NOTES = """\
- Convolutional VAE (Kingma & Welling 2014): four stride-2 conv blocks (BatchNorm, LeakyReLU) down to 4x4, a
  {config.latent_dim}-d Gaussian latent, the mirror image with transposed convs up, a 3x3 conv and tanh. Samples
  decode draws from the N(0, I) prior, or from a density fitted to the training codes (`train.fit_density`).
- Loss per image: the Gaussian negative log-likelihood of the pixels with a single variance set to its optimum,
  the batch's mean squared error ("optimal sigma" VAE, Rybkin et al. 2021), plus {config.kl_weight} x KL. No
  weighting knob to tune: a fixed summed-squared-error + KL treats the pixel noise as huge and blurs the samples.
- Adam, lr {config.lr}; random horizontal flips; the trained weights are shipped (no EMA: BatchNorm).
- Data: our train part (90%) of {config.dataset}; the held-out 10% (by a hash of the image bytes) is kept for the
  memorisation check.
"""


@dataclass
class Config(TrainConfig):
    """Convolutional VAE on 64x64 images."""

    model: str = "cats-vae"  # registered model to train: cats-vae or faces
    dataset: str = ""  # id or folder (default: the model's dataset in spaces.yaml)
    resolution: int = 64  # image side
    latent_dim: int = 128  # size of z
    base_channels: int = 32  # width of the first encoder stage (doubles per stage)
    kl_weight: float = 1.0  # weight of the KL term (1: the ELBO)
    lr: float = 5e-4  # Adam learning rate
    ema_decay: float = 0.0  # no EMA (BatchNorm statistics belong to the live weights)
    max_steps: int = 4000  # optimisation steps in all (~34 epochs of the cat faces at batch 64)
    sample_every: int = 500  # steps between fixed-seed sample grids


def gaussian_nll(recon: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per-image NLL (nats, constants dropped) with the variance shared by all pixels set to the batch MSE."""
    mse = (recon - images).pow(2).flatten(1)
    pixels = mse.shape[1]
    log_var = torch.log(mse.mean().detach().clamp(min=1e-6))  # the optimum sigma^2 for this batch
    return 0.5 * (mse.sum(1) / log_var.exp() + pixels * (log_var + math.log(2 * math.pi)))


def train_step(trainer: Trainer, batch) -> dict:
    images, _ = batch
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    recon, mu, logvar = trainer.models["vae"](images)
    nll = gaussian_nll(recon.float(), images).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    opt = trainer.optimizers["optimizer"]
    opt.zero_grad(set_to_none=True)
    trainer.accelerator.backward(nll + trainer.config.kl_weight * kl)
    opt.step()
    return {"mse": (recon - images).pow(2).mean().item(), "kl": kl.item(), "nll": nll.item()}


def main(argv=None):
    config = parse(Config, argv)
    config.dataset = config.dataset or SPACE["models"][config.model]["datasets"][0]
    torch.manual_seed(config.seed)
    model = ConvVAE(resolution=config.resolution, latent_dim=config.latent_dim, base_channels=config.base_channels)
    state = processes()
    data = class_batches([config.dataset], config.resolution, 3, config.batch_size, [0], part="train", balance=False,
                         seed=config.seed, rank=state.process_index, world_size=state.num_processes)  # fmt: skip
    trainer = Trainer(config.model, config, {"vae": model}, {"optimizer": torch.optim.Adam(model.parameters(), lr=config.lr)},
                      data, ship="vae", sample=lambda m: m.sample(64, seed=1234), command=command_line(__spec__.name, argv),
                      notes=NOTES.format(config=config))  # fmt: skip
    trainer.fit(train_step)


if __name__ == "__main__":
    main()
