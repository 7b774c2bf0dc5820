"""The one training loop: HF Accelerate (CPU, one GPU, or `accelerate launch` on many), a step budget, periodic
safetensors checkpoints and `--resume`, EMA, fixed-seed sample grids, a progress bar, a JSONL metrics log, and at
the end `save_pretrained` into `weights/<name>/` with a model card, optionally pushed to the Hub.

Checkpoints are safetensors plus JSON, never pickles: model, EMA and optimiser tensors in `.safetensors`, the step,
optimiser hyper-parameters and the data stream's position in `state.json`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import AutocastKwargs
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from genmodels.base import image_grid, to_pil
from genmodels.registry import ROOT, SPACE

from .card import write_card


@dataclass
class TrainConfig:
    """Fields every training script shares."""

    output_dir: str = ""  # run folder for checkpoints, sample grids and log.jsonl (default runs/<model>)
    weights_dir: str = ""  # where the final model is saved (default weights/<model>)
    max_steps: int = 10_000  # optimisation steps in all, counting steps done before a resume
    batch_size: int = 64  # images per step per process
    seed: int = 0  # seeds the data order, the weights' initialisation and the sample grids
    log_every: int = 50  # steps between metric log lines
    sample_every: int = 500  # steps between fixed-seed sample grids
    checkpoint_every: int = 1000  # steps between checkpoints (the last two are kept)
    resume: bool = False  # continue from the newest checkpoint in output_dir
    ema_decay: float = 0.999  # decay of the generator's exponential moving average (0 disables EMA)
    lr_decay_start: int = 0  # from this step the learning rates fall linearly to 0 at max_steps (0: constant)
    mixed_precision: str = "no"  # "no", "bf16" or "fp16" (GPU)
    fp16_weights: bool = True  # ship the weights in float16
    push_to_hub: bool = False  # upload the final folder to the model's Hub repo from spaces.yaml
    hub_repo_id: str = ""  # override that repo id


def processes() -> PartialState:
    """This process's place among those `accelerate launch` started (rank, world size). Without a GPU, accelerate
    sees a multi-process launch only when told it runs on the CPU: else N processes each train alone, as rank 0 of 1,
    and overwrite each other's checkpoints."""
    return PartialState(cpu=not torch.cuda.is_available())


def gan_optimizers(generator: torch.nn.Module, discriminator: torch.nn.Module, config) -> dict:
    """The GAN scripts' two Adam optimisers, "opt_g" and "opt_d", at the flags' learning rates (`lr_g`, `lr_d`) and
    `betas`."""
    betas = tuple(config.betas)
    return {"opt_g": torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas),
            "opt_d": torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas)}


def checkpoint_part(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The tensors of one part (a model, "ema", an optimiser) from a checkpoint's, whose keys are `<name>.<key>`."""
    return {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}


def flatten_optimizer(state: dict, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser state_dict split into tensors (for safetensors) and the JSON-able rest."""
    tensors, rest = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                rest["state"].setdefault(str(index), {})[key] = value
    return tensors, rest


def unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict, prefix: str) -> dict:
    state = {int(i): dict(values) for i, values in rest["state"].items()}
    for name, value in checkpoint_part(tensors, prefix).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


class Trainer:
    """Owns the accelerator, models, optimisers, data, EMA, checkpoints, logs and the final save.

    A script builds its models and optimisers, then calls `fit(step_fn)`, where `step_fn(trainer, batch)` writes
    out that model's own update and returns a dict of floats to log.
    """

    def __init__(self, name: str, config: TrainConfig, models: dict, optimizers: dict, data,
                 *, ship: str, sample: Callable[[torch.nn.Module], torch.Tensor] | None, command: str, notes: str = ""):  # fmt: skip
        self.name, self.config, self.command, self.notes = name, config, command, notes
        # No autocast weight-cast cache: a step function runs inside one autocast region, and with the cache a model
        # would go on using the low-precision copies of its weights from before its optimiser stepped (the generator's
        # step would be judged by the discriminator as it was before its own update).
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=processes().device.type == "cpu",
                                       kwargs_handlers=[AutocastKwargs(cache_enabled=False)])  # fmt: skip
        self.output_dir = Path(config.output_dir or ROOT / "runs" / name)
        self.weights_dir = Path(config.weights_dir or ROOT / SPACE["models"][name]["local_dir"])
        # A model without parameters (running statistics a step function keeps, like LeCam's anchors) is only moved
        # to the device: it has nothing to train or synchronise, and DistributedDataParallel refuses it.
        trained = {n: m for n, m in models.items() if any(True for _ in m.parameters())}
        prepared = self.accelerator.prepare(*trained.values(), *optimizers.values())
        prepared = dict(zip([*trained, *optimizers], prepared if isinstance(prepared, (list, tuple)) else [prepared]))
        self.models = {n: prepared[n] if n in trained else m.to(self.accelerator.device) for n, m in models.items()}
        self.optimizers = {n: prepared[n] for n in optimizers}
        self.base_lrs = {n: [group["lr"] for group in o.param_groups] for n, o in self.optimizers.items()}
        self.data, self.ship, self.sample = data, ship, sample
        self.ema = copy.deepcopy(self.unwrap(ship)).eval().requires_grad_(False) if config.ema_decay > 0 else None
        self.step, self.started = 0, time.time()
        self.history: list[dict] = []  # the runs before this one, from the checkpoint resumed (see `runs`)
        self.first_step = 0  # the step this run started from

    # ---- helpers the step functions use ---------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def unwrap(self, name: str) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.models[name])

    @contextlib.contextmanager
    def frozen(self, name: str):
        """Forward passes of `models[name]` inside the block record no weight gradients (and, across processes,
        sync none): a generator's step through its discriminator needs only the gradient with respect to the
        images, and the weight gradients would be thrown away at the discriminator's next step."""
        model = self.models[name]
        model.requires_grad_(False)
        try:
            with self.accelerator.no_sync(model):
                yield model
        finally:
            model.requires_grad_(True)

    def hardware(self) -> str:
        device = (torch.cuda.get_device_name() if torch.cuda.is_available() else
                  f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s))")  # fmt: skip
        return f"{self.accelerator.num_processes} x {device}"

    def runs(self) -> list[dict]:
        """Every run that made this model, oldest first: its command, the steps it took (from, to), its wall-clock
        seconds and hardware. Checkpoints carry the list, so a model card tells the whole story of a resumed run."""
        this = {"command": self.command, "steps": [self.first_step, self.step],
                "seconds": round(time.time() - self.started), "hardware": self.hardware()}  # fmt: skip
        return [*self.history, this]

    def shipped(self) -> torch.nn.Module:
        """The model that is sampled and saved: the EMA copy when there is one, with its BatchNorm statistics
        recomputed for the averaged weights when the model knows how (`standing_stats`)."""
        if self.ema is None:
            return self.unwrap(self.ship)
        if hasattr(self.ema, "standing_stats"):
            self.ema.standing_stats(seed=self.config.seed)
        return self.ema

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * model for parameters, the decay warming up as (1 + step) / (10 + step)
        so the first random weights fade fast; buffers (BatchNorm statistics) are copied."""
        if self.ema is None:
            return
        model = self.unwrap(self.ship)
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        torch._foreach_lerp_(list(self.ema.parameters()), list(model.parameters()), 1 - decay)
        for ema_buffer, buffer in zip(self.ema.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)

    def set_learning_rates(self) -> None:
        """Every optimiser's learning rate as the flags set it (also after a resume, whose checkpoint holds the
        old run's), times the linear decay to 0 from `lr_decay_start` to `max_steps` when there is one."""
        start, end = self.config.lr_decay_start, self.config.max_steps
        factor = 1.0 if not start or self.step < start else max(0.0, (end - self.step) / max(end - start, 1))
        for n, optimizer in self.optimizers.items():
            for group, lr in zip(optimizer.param_groups, self.base_lrs[n]):
                group["lr"] = lr * factor

    # ---- checkpoints -----------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        return sorted((self.output_dir / "checkpoints").glob("step-*"))

    def save_checkpoint(self) -> None:
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        tensors = {f"{n}.{k}": v.detach().cpu().contiguous() for n in self.models for k, v in
                   self.unwrap(n).state_dict().items()}  # fmt: skip
        if self.ema is not None:
            tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()})
        state = {"step": self.step, "config": asdict(self.config), "optimizers": {}, "runs": self.runs(),
                 "data": self.data.state_dict() if hasattr(self.data, "state_dict") else None,
                 "model_config": dict(self.unwrap(self.ship).config)}  # the shipped model's, for train.evaluate  # fmt: skip
        for n, optimizer in self.optimizers.items():
            opt_tensors, state["optimizers"][n] = flatten_optimizer(optimizer.state_dict(), f"optimizer.{n}")
            tensors.update(opt_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        final, partial = self.output_dir / "checkpoints" / f"step-{self.step:07d}", self.output_dir / "checkpoints" / ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        save_file(tensors, partial / "checkpoint.safetensors")
        (partial / "state.json").write_text(json.dumps(state, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)  # a checkpoint exists whole or not at all, even if the session is killed mid-save
        for old in self.checkpoints()[:-2]:
            shutil.rmtree(old)

    def load_checkpoint(self, folder: Path) -> None:
        tensors = load_file(folder / "checkpoint.safetensors")
        state = json.loads((folder / "state.json").read_text())
        # A part the run gained since starts fresh: a whole model (a discriminator added for fine-tuning), or new
        # layers of one (a class head added to a discriminator), whose parameters come last in its optimiser.
        for n in self.models:
            weights = checkpoint_part(tensors, n)
            if not weights:
                self.accelerator.print(f"{n}: not in the checkpoint, starts fresh")
                continue
            missing, unexpected = self.unwrap(n).load_state_dict(weights, strict=False)
            if unexpected:
                raise ValueError(f"{n}: the checkpoint holds weights this model lacks: {', '.join(unexpected)}")
            if missing:
                self.accelerator.print(f"{n}: {', '.join(missing)} not in the checkpoint, start fresh")
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint_part(tensors, "ema"))
        for n, optimizer in self.optimizers.items():
            if n in state["optimizers"]:
                saved = unflatten_optimizer(tensors, state["optimizers"][n], f"optimizer.{n}")
                sizes = [len(group["params"]) for group in optimizer.param_groups]
                if [len(group["params"]) for group in saved["param_groups"][:-1]] != sizes[:-1]:
                    raise ValueError(f"{n}: only the last parameter group may gain parameters after a checkpoint")
                saved["param_groups"][-1]["params"] = list(range(sum(sizes[:-1]), sum(sizes)))  # new ones: no state yet
                optimizer.load_state_dict(saved)
        if state["data"] is not None and hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(state["data"])
        torch.set_rng_state(tensors["rng.torch"])
        self.step = self.first_step = state["step"]
        self.history = state.get("runs", [])

    # ---- the loop --------------------------------------------------------------------------------------------
    def log(self, metrics: dict) -> None:
        if self.accelerator.is_main_process:
            record = {"step": self.step, "elapsed_s": round(time.time() - self.started, 1), **metrics}
            with open(self.output_dir / "log.jsonl", "a") as log:
                log.write(json.dumps(record) + "\n")

    def save_samples(self) -> None:
        """A grid from the fixed-seed `sample` function (none for models that do not generate)."""
        if self.sample is not None and self.accelerator.is_main_process:
            model = self.shipped()
            was_training = model.training
            images = self.sample(model.eval())  # eval mode: the grid's images must not touch BatchNorm statistics
            model.train(was_training)
            (self.output_dir / "samples").mkdir(parents=True, exist_ok=True)
            to_pil(image_grid(images.float().cpu(), nrow=8)).save(self.output_dir / "samples" / f"step-{self.step:07d}.png")

    def fit(self, step_fn: Callable[["Trainer", tuple], dict]) -> Path:
        """Run until `max_steps`, then save the shipped model; returns the weights folder."""
        config = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if config.resume and self.checkpoints():
            self.load_checkpoint(self.checkpoints()[-1])
            self.accelerator.print(f"resumed from step {self.step}")
        if self.accelerator.num_processes > 1:  # the scripts seed alike: give each process its own noise and flips
            torch.manual_seed(config.seed + self.step + 100_003 * self.accelerator.process_index)
        self.started = time.time()
        for model in self.models.values():
            model.train()
        bar = tqdm(total=config.max_steps, initial=self.step, disable=not self.accelerator.is_main_process)
        data = iter(self.data)
        while self.step < config.max_steps:
            batch = [t.to(self.device) for t in next(data)]
            self.set_learning_rates()
            with self.accelerator.autocast():
                metrics = step_fn(self, batch)
            self.update_ema()
            self.step += 1
            bar.update(1)
            if self.step % config.log_every == 0 or self.step == config.max_steps:
                bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items()})
                self.log(metrics)
            if self.step % config.sample_every == 0:
                self.save_samples()
            if self.step % config.checkpoint_every == 0 or self.step == config.max_steps:
                self.save_checkpoint()
        bar.close()
        self.finish()
        return self.weights_dir

    def finish(self) -> None:
        """Save the shipped model with a model card, and push it if asked."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        self.save_samples()
        model = copy.deepcopy(self.shipped()).cpu()
        model = model.half() if self.config.fp16_weights else model
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(self.weights_dir)
        write_card(self.weights_dir, self.name, model, training={
            "runs": self.runs(),
            "steps": self.step,
            "images_seen": self.step * self.config.batch_size * self.accelerator.num_processes,
            "notes": self.notes,
        })  # fmt: skip
        if self.config.push_to_hub:
            from huggingface_hub import create_repo, upload_folder

            repo_id = self.config.hub_repo_id or SPACE["models"][self.name]["repo_id"]
            create_repo(repo_id, exist_ok=True)
            upload_folder(repo_id=repo_id, folder_path=self.weights_dir, commit_message=f"{self.name}: step {self.step}")
