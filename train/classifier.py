"""Train an evaluation classifier on real images only: the independent judge of a generator's samples.

It never takes part in training the generator it judges. Classes are drawn uniformly (like the generator's),
and light random affine jitter (rotation, scale, shift) keeps it from keying on exact pixel positions; for the
face-domain judge, random flips and blur keep it from reading "sharp" as "real" (a domain is not a resolution).

    GENMODELS_DATA_DIR=../shared/datasets python -m train.classifier --model handwriting-classifier
    GENMODELS_DATA_DIR=../shared/datasets python -m train.classifier --model transfer-classifier
    python -m train.classifier --model car-views --datasets $HOME/data/car-views-hand   # made by train.car_views
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from genmodels.classifier import ImageClassifier
from genmodels.registry import CAR_VIEWS, CHARACTERS, DOMAINS, MIRRORED_IDS

from .config import command_line, parse
from .data import class_batches
from .loop import TrainConfig, Trainer, processes
from .transfer import DOMAIN_DATA


@dataclass(frozen=True)
class Task:
    labels: list[str]
    size: int
    channels: int
    datasets: list[str]  # default training data
    dataset_labels: list[int] | None = None  # the label of each dataset's every image (None: its label column)
    part: str = "all"  # which part of the train splits (our "train" part leaves the held-out images for evaluation)
    blur: float = 0.0  # largest Gaussian blur sigma of the augmentation, in pixels
    flip: bool = False  # random horizontal flips
    flip_labels: list[int] | None = None  # a flipped image's label id, by label id (None: flips keep the label)


TASKS = {
    "handwriting-classifier": Task(CHARACTERS, 28, 1, ["genmodels/emnist-byclass", "genmodels/mnist"]),
    "transfer-classifier": Task(DOMAINS, 64, 3, datasets=[d for ds in DOMAIN_DATA.values() for d in ds],
                                dataset_labels=[DOMAINS.index(k) for k, ds in DOMAIN_DATA.items() for _ in ds],
                                part="train", blur=1.5, flip=True),
    # Hand labels (train.car_views); a flip turns the car's nose the other way, so -left and -right swap.
    "car-views": Task(CAR_VIEWS, 64, 3, ["genmodels/car-views-hand"], part="train", flip=True, flip_labels=MIRRORED_IDS),
}  # fmt: skip


@dataclass
class Config(TrainConfig):
    """A small CNN classifier trained on the real train splits."""

    model: str = "handwriting-classifier"  # registered classifier to train
    datasets: list[str] = field(default_factory=list)  # ids or folders (default: the task's datasets)
    dataset_labels: list[int] = field(default_factory=list)  # with --datasets: each one's label id (default: its label column)
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


def blur(images: torch.Tensor, max_sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Half of the images blurred with a Gaussian of a random sigma up to `max_sigma` pixels."""
    if max_sigma <= 0:
        return images
    n, c = images.shape[:2]
    sigma = torch.rand(n, generator=generator) * max_sigma * (torch.rand(n, generator=generator) < 0.5)
    offsets = torch.arange(-3, 4, dtype=torch.float32)
    weights = torch.exp(-offsets[None] ** 2 / (2 * sigma[:, None].clamp(min=1e-3) ** 2))
    weights = (weights / weights.sum(1, keepdim=True)).to(images)  # (n, 7); sigma ~0 -> a delta
    kernels = weights.repeat_interleave(c, 0)[:, None]  # one separable kernel per (image, channel)
    flat = images.reshape(1, n * c, *images.shape[2:])
    flat = F.conv2d(F.pad(flat, (3, 3, 0, 0), mode="replicate"), kernels[:, :, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, 3, 3), mode="replicate"), kernels[:, :, :, None], groups=n * c)
    return flat.reshape(images.shape)


def main(argv=None):
    config = parse(Config, argv)
    task = TASKS[config.model]
    datasets, dataset_labels = task.datasets, task.dataset_labels
    if config.datasets:
        datasets, dataset_labels = config.datasets, config.dataset_labels or None
    torch.manual_seed(config.seed)
    model = ImageClassifier(resolution=task.size, in_channels=task.channels, base_channels=config.base_channels,
                            feature_dim=config.feature_dim, labels=list(task.labels), flip_labels=task.flip_labels)  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / config.max_steps, 1))))

    state = processes()
    data = class_batches(datasets, task.size, task.channels, config.batch_size, dataset_labels, part=task.part,
                         seed=config.seed, rank=state.process_index, world_size=state.num_processes)  # fmt: skip

    def train_step(trainer: Trainer, batch) -> dict:
        images, labels = batch
        classifier = trainer.models["classifier"]
        if task.flip:
            flip = torch.rand(len(images), device=images.device) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
            if task.flip_labels is not None:
                labels = torch.where(flip, torch.tensor(task.flip_labels, device=labels.device)[labels], labels)
        logits = classifier(blur(jitter(images, config.jitter), task.blur))
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
                            f"random affine jitter{', flips' if task.flip else ''}"
                            f"{f', Gaussian blur up to sigma {task.blur} px on half the images' if task.blur else ''}; "
                            f"classes drawn uniformly; real images only ({'our train part of ' if task.part == 'train' else ''}"
                            f"{', '.join(datasets)}).")  # fmt: skip
    trainer.fit(train_step)


if __name__ == "__main__":
    main()
