"""Cars, step 3: one view-conditional generator at 64x64 for the eight viewpoints, trained on the pseudo-labelled,
mirrored photos of `train.car_dataset` with the cat GAN's recipe (RaLSGAN, DCGAN discriminator with a minibatch-std
channel, EMA, bf16), the label in both networks: conditional BatchNorm in the generator, the projection term
(Miyato & Koyama 2018) in the discriminator, and optionally AC-GAN's class head (`--aux-weight`) and LeCam's
regulariser (`--lecam-weight`). Views are drawn uniformly (`--view-power 0`), so the rarest (rear) is learned as
well as the commonest (front-left), or nearer their shares, in runs of four images of one view, which the
minibatch-std channel compares.

    python -m train.cars --dataset $HOME/data/car-views-pseudo
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genmodels.registry import CAR_VIEWS

from . import cats
from .car_dataset import view_table
from .config import command_line, parse
from .data import class_batches, open_stream
from .loop import Trainer, gan_optimizers, processes

NOTES = """\
- The cat GAN's recipe (`train.cats`), conditioned on the viewpoint: conditional BatchNorm (a gain and a bias per
  view) after every generator layer, the projection term in the discriminator. RaLSGAN, Adam (betas
  {config.betas}; learning rates 2e-4 for both networks at first, then as below), bf16 autocast
  ({config.mixed_precision}); the shipped weights are the EMA (decay {config.ema_decay}) with BatchNorm statistics
  recomputed.
- What the cat recipe needed for a label, from three failed runs (`$HOME/runs/cars-failed-v1`,
  `cars-collapsed-v2`, `cars-collapsed-v3`):
  1. The projection term's view embedding starts at zero. At PyTorch's N(0, 1) initialisation, against the
     sum-pooled features of a discriminator without spectral norm, it put label terms of tens into every score
     (losses of 200-600 in the first steps), and the generator drew noise at step 1,000 (run 1).
  2. With that fixed, each view came out as one car whatever z was (run 2, step 500: pixel std across z 0.05-0.10
     within a view, 0.44 across views). Two changes followed. Batches now hold runs of {config.minibatch_group} images of
     one view, and the minibatch-std channel is computed per run: over a batch of mixed views it saw variety even
     when each view was drawn one way only. That alone did not help (run 3, step 250: std 0.09 within a view).
  3. The view reaches the generator through conditional BatchNorm only, not also as an embedding appended to z.
     With it, the first layer's BatchNorm statistics measured mostly the gaps between views and left z too little
     say; without it, z moves the picture as much as the view does (this run, step 250: std 0.43 within a view).
- The next run (`$HOME/runs/cars5`) is that fourth run's first 4,000 steps, then three changes, each from a
  measurement (FID on 1,000 samples against stanford-cars, views at their shares among the hand labels):
  1. From step 4,000: DiffAugment ({config.augment}) on every image D sees, and learning rates falling linearly
     from step 5,000 to 0 at step 11,000. Without it D won: its loss fell to ~0.02, and
     past step 4,500 the samples turned to striped noise (FID 246 at step 5,000, 227 at 5,750). With it: FID 194 at
     step 5,000, 134 at 6,000.
  2. From step 6,250: views drawn with probability ~ count^{config.view_power} (`--view-power`) instead of uniformly.
     Drawn uniformly, front-left and front-right had a quarter of the batches but hold 82% of the photos and 67% of
     the hand labels FID draws its views from, and they were the blurriest rows.
  3. From step 6,750: AC-GAN's class head on D (weight {config.aux_weight}), learnt on the real images' views; the
     generator's images must pass it. At step 6,000 the `car-views` classifier took only 23% / 32% of the
     rear-left / rear-right cars for their view (most for front-right / front-left: the same outline, the wrong end).
  Its step 11,000, where the learning rates reach 0 (a rule fixed before measuring), shipped first: held-out FID
  89.11 on 10,000 samples, view fidelity 82.4%. On the way (1,000 samples): step 9,000 had FID 98.4, KID x100 7.06
  and view fidelity 78.8% (rear-left 35%, rear-right 43%).
- The continuation (`$HOME/runs/cars6`) resumes cars5's step 11,000 with the same flags and a later end: learning
  rates back where a linear fall from step 5,000 to 0 at step 25,000 puts them (1.4e-4 at step 11,000). On 1,000
  samples, FID / KID x100 / view fidelity went from 96.5 / 6.77 / 81.3% at step 11,000 to 83.4 / 5.35 / 86.3% at
  12,000 and 67.1 / 3.99 / 91.6% at 14,000. From step 14,750 the fall ends at step 21,000 instead (the session's
  time; the learning rates fall from 0.8e-4 there). The rule, fixed before measuring the rest: of steps 16,000, 18,000
  and 21,000, the one with the lowest FID on 1,000 samples ships; then the 10,000-sample measurement, once. Steps
  16,000, 18,000 and 21,000 had 58.3 / 3.24 / 90.5%, 59.3 / 3.28 / 90.6% and 70.9 / 4.04 / 92.1%: step 16,000
  ships. The last steps, with the learning rates falling to 0, made FID worse, not better.
- Why they did, by the losses: from step 14,000 the discriminator's loss fell from ~0.15 to ~0.05 and its class
  head's loss on real images from ~0.2 to ~0.05, while the generator's stayed near its worst (~3.7 of 4): D was
  learning the ~10,000 training images by heart again, DiffAugment notwithstanding. So the next step is LeCam's
  regulariser (`--lecam-weight`, Tseng et al. 2021, made for GANs on little data): D's real scores are pulled
  towards the moving average of its fake scores and the fakes towards the real average, which caps the gap D can
  open. Two branches resume step 16,000 (`$HOME/runs/cars7a`: LeCam weight 0.3; `cars7b`: the
  same without LeCam, the control), both at constant learning rates of 1e-4, with the same data order and noise.
  The rule, fixed before measuring: at step 18,000 both are measured on 1,000 samples; the lower FID goes on alone;
  its checkpoints are measured every 1,000 steps; of all the measured checkpoints from step 16,000 on, the one with
  the lowest FID on 1,000 samples ships and gets the 10,000-sample measurement once.
  At step 18,000, FID / KID x100 / view fidelity on 1,000 samples: with LeCam 61.3 / 3.33 / 94.4%, without it
  61.8 / 3.36 / 93.1%. Both worse than step 16,000 (58.3), and LeCam's lead is within the noise of 1,000 samples;
  under the rule the LeCam branch goes on, its learning rates now falling linearly from 1e-4 at step 18,000 to 0 at
  step 22,000.
  Steps 19,000-22,000 of it: 58.0 / 3.15 / 94.0%, 57.3 / 3.27 / 91.8%, 55.4 / 3.15 / 91.9% and 56.5 / 3.14 /
  90.1%. Step 21,000 of the LeCam branch shipped (~5.4 h of training; FID 48.27 on 10,000 samples). The
  learning-rate fall to 0 no longer undid the gains, as it had without LeCam (70.9 at step 21,000), but the step
  from 58.3 is small: LeCam kept D's loss nearer 0.1-0.2 than 0.05, and the generator's near 2.6 instead of 3.7-4,
  yet FID hardly moved.
- FID compares with stanford-cars, but 13% of the training rows (677 photos of car-photos-noisy-views, each
  mirrored) are another kind of picture: smaller cars in wider scenes, and close-ups of doors, wheels and lamps
  that the classifier was sure of. So a fine-tune on stanford-cars alone (`$HOME/runs/cars8`): it resumes the
  shipped step 21,000 on `car-views-stanford` (the same classifier and 70% rule, `python -m train.car_dataset
  --datasets genmodels/stanford-cars`: 4,383 photos, 8,766 rows after mirroring) with the same flags, its learning
  rates back at 1e-4 and falling linearly to 0 at step 25,000. The rule, fixed before measuring: steps 22,000 to
  25,000 are measured on 1,000 samples; of them and step 21,000 (55.4), the lowest FID ships and gets the
  10,000-sample measurement once.
  Steps 22,000-25,000, FID / KID x100 / view fidelity on 1,000 samples: 49.7 / 2.77 / 91.9%, **48.0** / 2.59 /
  92.9%, 49.2 / 2.57 / 93.9% and 51.3 / 2.61 / 91.6%. Step 23,000 shipped (~5.9 h of training in all): 7 points
  below step 21,000 after 2,000 steps, more than the 5,000 steps before had gained. On 10,000 samples: FID
  41.20, view fidelity 93.0%.
- Then `$HOME/runs/cars9`: step 23,000 resumed at a constant learning rate of 5e-5, to step 27,000, as the fall
  to 0 after step 23,000 made FID worse again. The rule, fixed before measuring: steps 24,000 and 25,000 are
  measured on 1,000 samples; the lower, if below step 23,000's 48.0, ships and gets the 10,000-sample measurement
  once. Later checkpoints are measured against whatever then ships, the same way.
  Steps 24,000 and 25,000: 48.4 / 2.58 / 93.6% and 47.4 / 2.44 / 92.1%. Step 25,000 shipped (~6.5 h of training in
  all; the run was stopped there). On 10,000 samples: FID 40.83, view fidelity 91.9%.
  The run then resumed step 25,000 at the same rate, to step 29,000. The rule, fixed before measuring: steps
  26,000 to 29,000 are measured on 1,000 samples; the lowest, if below step 25,000's 47.4, ships and gets the
  10,000-sample measurement once.
  Steps 26,000-29,000: 47.0 / 2.40 / 92.0%, 42.6 / 2.19 / 91.8%, **42.1** / 2.17 / 92.1% and 43.0 / 2.23 / 92.8%.
  Step 28,000 ships (~7.1 h of training in all). On 10,000 samples: FID 35.84, view fidelity 92.7%.
- Data: {config.dataset}, the photos of our train part of the car datasets (up to step 21,000 both, then
  stanford-cars alone) that the `car-views` classifier was at least 70% sure of, each also mirrored into the opposite
  view, letterboxed to 64x64 (the whole car in the square).
"""


@dataclass
class Config(cats.Config):
    """View-conditional RaLSGAN for 64x64 cars."""

    dataset: str = "genmodels/car-views-pseudo"  # id or folder (made by train.car_dataset)
    max_steps: int = 30_000  # generator steps in all
    minibatch_group: int = 4  # batches hold runs of 4 images of one view, and D's minibatch-std looks at each run
    view_power: float = 0.0  # a view is drawn with probability ~ its image count to this power (0: uniformly, 1: at its share)


def view_counts(dataset: str) -> str:
    """The card's table of the training images per view (`car_dataset.view_table`), read from the dataset."""
    examples = list(open_stream(dataset, buffer_size=1).remove_columns(["image"]))
    table = view_table([ex["label"] for ex in examples], [ex.get("mirrored", False) for ex in examples])
    return f"\nThe training images per view in {dataset}:\n\n{table}\n"


def main(argv=None):
    config = parse(Config, argv)
    torch.manual_seed(config.seed)
    models = cats.build(config, CAR_VIEWS)
    optimizers = gan_optimizers(models["generator"], models["discriminator"], config)
    state = processes()
    # The dataset holds our train part only (train.car_dataset): all of it is for training.
    data = class_batches([config.dataset], config.resolution, 3, config.batch_size, seed=config.seed,
                         rank=state.process_index, world_size=state.num_processes, group=config.minibatch_group,
                         class_power=config.view_power)  # fmt: skip
    grid = [view for view in CAR_VIEWS for _ in range(8)]  # a row of eight cars per view

    notes = NOTES.format(config=config) + view_counts(config.dataset)
    trainer = Trainer("cars", config, models, optimizers, data,
                      ship="generator", sample=lambda model: model.sample(len(grid), seed=1234, labels=grid),
                      command=command_line(__spec__.name, argv), notes=notes)  # fmt: skip
    trainer.fit(cats.train_step)


if __name__ == "__main__":
    main()
