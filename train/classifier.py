"""Train an evaluation classifier on real images only: the independent judge of a generator's samples.

It never takes part in training the generator it judges. Classes are drawn uniformly (like the generator's),
and light random affine jitter (rotation, scale, shift) keeps it from keying on exact pixel positions.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.classifier --model handwriting-classifier
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from genmodels.classifier import ImageClassifier
from genmodels.registry import CHARACTERS, SPACE

from .config import command_line, parse
from .handwriting import make_data
from .loop import TrainConfig, Trainer

LABELS = {"handwriting-classifier": CHARACTERS}
RESOLUTION = {"handwriting-classifier": (28, 1)}


@dataclass
class Config(TrainConfig):
    """A small CNN classifier trained on the real train splits."""

    model: str = "handwriting-classifier"  # registered classifier to train
    datasets: list[str] = field(default_factory=list)  # ids or folders (default: the model's datasets in spaces.yaml)
    base_channels: int = 32  # width of the first conv stage (doubles twice)
    feature_dim: int = 128  # the embedding the Frechet distance is measured in
    lr: float = 1e-3  # AdamW learning rate (cosine decay to 0 over max_steps)
    weight_decay: float = 5e-4  # AdamW weight decay
    jitter: float = 1.0  # strength of the random affine augmentation (0: none)
    batch_size: int = 128  # images per step per process
    max_steps: int = 4000  # optimisation steps in all
    ema_decay: float = 0.0  # no EMA: the classifier is saved as trained
    fp16_weights: bool = False  # a judge keeps full precision
    checkpoint_every: int = 500  # steps between checkpoints


def jitter(images: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random rotation (+-10 deg), scale (0.9-1.1) and shift (+-8% of the side) per image, times `strength`."""
    if strength <= 0:
        return images
    n = images.shape[0]
    u = torch.rand(n, 4, generator=generator) * 2 - 1  # uniform in [-1, 1]
    angle, scale = u[:, 0] * math.radians(10) * strength, 1 + u[:, 1] * 0.1 * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 0.16 * strength], 1),
                         torch.stack([sin, cos, u[:, 3] * 0.16 * strength], 1)], 1).to(images)  # fmt: skip
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin(dim=(1, 2, 3), keepdim=True)  # pad with the paper, not with grey
    return F.grid_sample(images - background, grid, align_corners=False) + background


def main(argv=None):
    config = parse(Config, argv)
    config.datasets = config.datasets or SPACE["models"][config.model]["datasets"]
    torch.manual_seed(config.seed)
    resolution, channels = RESOLUTION[config.model]
    model = ImageClassifier(resolution=resolution, in_channels=channels, base_channels=config.base_channels,
                            feature_dim=config.feature_dim, labels=list(LABELS[config.model]))  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / config.max_steps, 1))))

    from accelerate import PartialState

    state = PartialState()
    data = make_data(config, state.process_index, state.num_processes)

    def train_step(trainer: Trainer, batch) -> dict:
        images, labels = batch
        classifier = trainer.models["classifier"]
        logits = classifier(jitter(images, config.jitter))
        loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        opt = trainer.optimizers["optimizer"]
        opt.zero_grad(set_to_none=True)
        trainer.accelerator.backward(loss)
        opt.step()
        schedule.last_epoch = trainer.step  # the cosine follows the global step, also after a resume
        schedule.step()
        return {"loss": loss.item(), "accuracy": (logits.argmax(1) == labels).float().mean().item()}

    trainer = Trainer(config.model, config, {"classifier": model}, {"optimizer": optimizer}, data, ship="classifier",
                      sample=None, command=command_line(__spec__.name, argv),
                      notes="- A small CNN (three conv-conv-pool stages), AdamW with cosine decay, label smoothing 0.1, "
                            "random affine jitter; classes drawn uniformly; real train images only.")  # fmt: skip
    trainer.fit(train_step)


if __name__ == "__main__":
    main()
