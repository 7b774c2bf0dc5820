"""The training toolkit: flags, balanced streaming batches, and a smoke run with checkpoint and resume."""

import json
from collections import Counter

import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file, save_file

from genmodels.classifier import ImageClassifier
from genmodels.gan import Generator
from genmodels.registry import CHARACTERS, DOMAINS
from genmodels.trvae import TransferVAE
from train import classifier, handwriting, transfer
from train.card import describe_runs
from train.config import parse
from genmodels.base import image_to_tensor
from train.data import Batches, ExampleStream, class_batches, decode_image, in_holdout, open_stream
from train.loop import Trainer, TrainConfig, flatten_optimizer, unflatten_optimizer
from train.losses import hinge_d

from .conftest import make_image_dataset


def test_flags_come_from_the_dataclass_with_comment_help(capsys):
    config = parse(handwriting.Config, ["--max-steps", "7", "--datasets", "a", "b", "--no-fp16-weights"])
    assert (config.max_steps, config.datasets, config.fp16_weights, config.batch_size) == (7, ["a", "b"], False, 64)
    with pytest.raises(SystemExit):
        parse(handwriting.Config, ["--help"])
    assert "generator Adam learning rate" in capsys.readouterr().out


def test_balanced_batches_draw_classes_uniformly(tmp_path):
    labels = [0] * 180 + [1] * 20  # 9:1 imbalance
    folder = make_image_dataset(tmp_path, len(labels), size=8, labels=labels)
    stream = ExampleStream(open_stream(str(folder), seed=0), lambda ex: (image_to_tensor(ex["image"], 8, 1), ex["label"]))
    batches = Batches(stream, 50, balance=True, seed=0)
    counts = Counter(label for _ in range(20) for label in next(batches)[1].tolist())
    assert 0.4 < counts[1] / 1000 < 0.6
    images, _ = next(batches)
    assert images.shape == (50, 1, 8, 8) and images.min() >= -1 and images.max() <= 1


def test_optimizer_state_survives_the_safetensors_flattening():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), betas=(0.0, 0.9))
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    tensors, rest = flatten_optimizer(optimizer.state_dict(), "opt")
    restored = torch.optim.Adam(model.parameters())
    restored.load_state_dict(unflatten_optimizer(tensors, json.loads(json.dumps(rest)), "opt"))
    for key in ("exp_avg", "exp_avg_sq", "step"):
        torch.testing.assert_close(restored.state[model.weight][key], optimizer.state[model.weight][key])
    assert restored.param_groups[0]["betas"] == [0.0, 0.9]


def test_smoke_run_checkpoints_resumes_and_writes_a_loadable_model(tiny_digits, tmp_path):
    common = ["--datasets", str(tiny_digits), "--output-dir", str(tmp_path / "run"), "--weights-dir",
              str(tmp_path / "weights"), "--batch-size", "8", "--latent-dim", "8", "--g-channels", "4",
              "--d-channels", "4", "--log-every", "1", "--sample-every", "2", "--checkpoint-every", "2"]  # fmt: skip
    handwriting.main([*common, "--max-steps", "4"])
    assert [p.name for p in sorted((tmp_path / "run" / "checkpoints").iterdir())] == ["step-0000002", "step-0000004"]
    handwriting.main([*common, "--max-steps", "6", "--resume"])
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # the resumed run continued at step 5
    assert (tmp_path / "run" / "samples" / "step-0000006.png").is_file()

    model = Generator.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.sample(2, seed=0, labels=["7", "q"]).shape == (2, 1, 28, 28)
    card = (tmp_path / "weights" / "README.md").read_text()
    assert "Steps: 6" in card and "genmodels/emnist-byclass" in card
    first, resumed = [line for line in card.splitlines() if "python -m train.handwriting" in line]
    assert first.startswith("  1. ") and "--max-steps 4`: steps 0 to 4 in" in first
    assert resumed.startswith("  2. ") and "--max-steps 6 --resume`: steps 4 to 6 in" in resumed
    assert next(model.parameters()).dtype == torch.float32
    weights = next((tmp_path / "weights").glob("*.safetensors"))
    from safetensors import safe_open

    with safe_open(weights, "pt") as f:
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())  # shipped in fp16


def test_datasets_whose_label_names_differ_are_interleaved(tmp_path):
    """EMNIST (62 names) and MNIST (10 names) share ids 0-9 for digits; their ClassLabels must not stop the mix."""
    letters = make_image_dataset(tmp_path / "emnist", 40, labels=[10 + i % 52 for i in range(40)], names=CHARACTERS)
    digits = make_image_dataset(tmp_path / "mnist", 40)
    batches = class_batches([str(letters), str(digits)], 28, 1, 32)
    labels = torch.cat([next(batches)[1] for _ in range(4)])
    assert (labels < 10).any() and (labels >= 10).any()


def test_classifier_smoke_run_saves_a_loadable_full_precision_judge(tiny_digits, tmp_path):
    classifier.main(["--datasets", str(tiny_digits), "--output-dir", str(tmp_path / "run"), "--weights-dir",
                     str(tmp_path / "weights"), "--batch-size", "8", "--base-channels", "4", "--feature-dim", "8",
                     "--max-steps", "3", "--log-every", "1"])  # fmt: skip
    model = ImageClassifier.from_pretrained(tmp_path / "weights").eval()
    assert model.labels == list(CHARACTERS) and next(model.parameters()).dtype == torch.float32
    assert model.predict(torch.zeros(2, 1, 28, 28)).shape == (2, 62)
    assert "python -m train.classifier" in (tmp_path / "weights" / "README.md").read_text()


def test_jitter_keeps_shape_and_paper():
    images = -torch.ones(4, 1, 28, 28)
    images[:, :, 10:18, 10:18] = 1
    moved = classifier.jitter(images, 1.0, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and moved[:, :, 0, 0].eq(-1).all()  # corners stay paper, not grey
    assert not torch.equal(moved, images) and torch.equal(classifier.jitter(images, 0.0), images)


def test_our_holdout_part_is_stable_disjoint_and_complete(tmp_path):
    folder = make_image_dataset(tmp_path / "faces", 60)

    def images(part):
        return [ex["image"]["bytes"] if part != "all" else None for ex in open_stream(str(folder), part=part, buffer_size=1)]

    train, holdout = images("train"), images("holdout")
    assert len(train) + len(holdout) == 60 and 0 < len(holdout) < 20
    assert not set(train) & set(holdout)
    assert images("holdout") == holdout  # the same every time
    assert all(in_holdout(b) for b in holdout) and not any(in_holdout(b) for b in train)


def test_domain_batches_label_each_dataset_and_balance_them(domain_data):
    config = transfer.Config(real=[str(domain_data / "celeb-faces"), str(domain_data / "utk-faces")],
                             anime=[str(domain_data / "anime-faces")], resolution=16, batch_size=32)  # fmt: skip
    batches = transfer.domain_batches(config)
    images, labels = next(batches)
    assert images.shape == (32, 3, 16, 16) and set(labels.tolist()) <= {0, 1}
    counts = Counter(torch.cat([next(batches)[1] for _ in range(8)]).tolist())
    assert abs(counts[0] - counts[1]) < 0.25 * 256  # real (two datasets) and anime drawn alike


def tiny_transfer_args(tmp_path, *extra: str) -> list[str]:
    """Flags for a 16x16 transfer run in `tmp_path` with tiny widths, checkpointing every 2 steps."""
    return ["--output-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "weights"), "--resolution", "16",
            "--batch-size", "8", "--latent-dim", "8", "--base-channels", "4", "--mmd-dim", "8", "--d-channels", "4",
            "--checkpoint-every", "2", *extra]  # fmt: skip


def test_transfer_gan_smoke_run_resumes_and_ships_a_loadable_model(domain_data, tmp_path, monkeypatch):
    from genmodels.translator import Translator
    from train import transfer_gan

    monkeypatch.setenv("GENMODELS_DATA_DIR", str(domain_data))
    common = ["--output-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "weights"), "--resolution", "16",
              "--batch-size", "8", "--base-channels", "4", "--n-blocks", "1", "--d-channels", "4", "--checkpoint-every",
              "2", "--sample-every", "2", "--log-every", "1", "--identity-weight", "5", "--lr-decay-start", "2",
              "--mixed-precision", "no"]  # one accelerator state per test process (bf16 is the default)  # fmt: skip
    transfer_gan.main([*common, "--max-steps", "2"])
    transfer_gan.main([*common, "--max-steps", "3", "--resume"])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and {"loss_d", "adv", "cycle", "identity"} <= set(log[-1])
    assert (tmp_path / "run" / "samples" / "step-0000002.png").is_file()
    state = json.loads((tmp_path / "run" / "checkpoints" / "step-0000002" / "state.json").read_text())
    assert state["model_config"]["n_blocks"] == 1  # what train.evaluate --checkpoint builds
    model = Translator.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.transfer(torch.zeros(2, 3, 16, 16), "real", "anime").shape == (2, 3, 16, 16)
    card = (tmp_path / "weights" / "README.md").read_text()
    assert "python -m train.transfer_gan" in card and "Steps: 3" in card and "StarGAN" in card


def test_transfer_smoke_run_resumes_and_ships_a_loadable_model(domain_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(domain_data))
    common = tiny_transfer_args(tmp_path, "--log-every", "1", "--sample-every", "2", "--adv-start", "1",
                                "--adv-scale", "1", "2")  # fmt: skip
    transfer.main([*common, "--max-steps", "2"])
    transfer.main([*common, "--max-steps", "3", "--resume"])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and {"l1", "kl", "mmd"} <= set(log[-1])
    assert "loss_d" not in log[0] and {"loss_d", "adv", "cycle"} <= set(log[1]) <= set(log[2])  # from --adv-start
    assert (tmp_path / "run" / "samples" / "step-0000002.png").is_file()  # held-out rows, before and after
    model = TransferVAE.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.transfer(torch.zeros(2, 3, 16, 16), "real", "anime").shape == (2, 3, 16, 16)
    card = (tmp_path / "weights" / "README.md").read_text()
    assert "python -m train.transfer" in card and "Steps: 3" in card and "MMD" in card


def test_a_resumed_run_starts_the_parts_its_checkpoint_lacks_fresh(domain_data, tmp_path, monkeypatch, capsys):
    """The shipped transfer VAE gained its discriminator at step 5,500: a checkpoint of the plain trVAE resumes
    with the VAE and its optimiser restored and the discriminator new."""
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(domain_data))
    common = tiny_transfer_args(tmp_path, "--adv-start", "2")
    transfer.main([*common, "--max-steps", "2"])
    folder = tmp_path / "run" / "checkpoints" / "step-0000002"
    tensors = load_file(folder / "checkpoint.safetensors")
    save_file({k: v for k, v in tensors.items() if "discriminator." not in k and "opt_d." not in k},
              folder / "checkpoint.safetensors")
    state = json.loads((folder / "state.json").read_text())
    del state["optimizers"]["opt_d"]
    (folder / "state.json").write_text(json.dumps(state))
    transfer.main([*common, "--max-steps", "3", "--resume"])
    resumed = load_file(tmp_path / "run" / "checkpoints" / "step-0000003" / "checkpoint.safetensors")
    assert resumed["optimizer.optimizer.0.step"].item() == 3  # the VAE's Adam went on from its 2 steps
    assert resumed["optimizer.opt_d.0.step"].item() == 1  # the discriminator's began at the resume
    assert "discriminator: not in the checkpoint, starts fresh" in capsys.readouterr().out


def test_learning_rates_come_from_the_flags_and_decay_linearly_to_zero(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path), max_steps=10, lr_decay_start=6)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    trainer = Trainer("cats", config, {"model": model}, {"opt": optimizer}, data=None, ship="model", sample=None,
                      command="")  # fmt: skip
    resumed = trainer.optimizers["opt"].state_dict()
    resumed["param_groups"][0]["lr"] = 0.5  # a checkpoint of a run with another --lr
    trainer.optimizers["opt"].load_state_dict(resumed)
    rates = []
    for trainer.step in (0, 5, 6, 8, 10):
        trainer.set_learning_rates()
        rates.append(trainer.optimizers["opt"].param_groups[0]["lr"])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.0])


def test_domain_classifier_smoke_run(domain_data, tmp_path):
    classifier.main(["--model", "transfer-classifier", "--datasets", str(domain_data / "celeb-faces"),
                     str(domain_data / "anime-faces"), "--dataset-labels", "0", "1", "--output-dir", str(tmp_path / "run"),
                     "--weights-dir", str(tmp_path / "weights"), "--batch-size", "8", "--base-channels", "4",
                     "--feature-dim", "8", "--max-steps", "2"])  # fmt: skip
    model = ImageClassifier.from_pretrained(tmp_path / "weights").eval()
    assert model.labels == DOMAINS and model.predict(torch.zeros(2, 3, 64, 64)).shape == (2, 2)
    assert "blur" in (tmp_path / "weights" / "README.md").read_text()


def test_blur_smooths_about_half_the_images_and_keeps_their_mean():
    images = torch.zeros(64, 3, 16, 16)
    images[..., ::2, :] = 1  # stripes
    blurred = classifier.blur(images, 1.5, torch.Generator().manual_seed(0))
    assert blurred.shape == images.shape
    assert blurred.mean().item() == pytest.approx(images.mean().item(), abs=0.02)
    smoothed = (blurred.std(dim=(1, 2, 3)) < 0.9 * images.std(dim=(1, 2, 3))).sum().item()
    assert 16 < smoothed < 48


def test_a_frozen_discriminator_passes_gradients_to_its_input_but_keeps_none_itself(tmp_path):
    critic = torch.nn.Linear(3, 1)
    trainer = Trainer("cats", TrainConfig(output_dir=str(tmp_path)), {"critic": critic}, {}, data=None, ship="critic",
                      sample=None, command="")  # fmt: skip
    fake = torch.randn(4, 3, requires_grad=True)
    with trainer.frozen("critic"):
        score = trainer.models["critic"](fake).sum()
    score.backward()
    assert fake.grad is not None and torch.allclose(fake.grad, critic.weight.detach().expand(4, 3))
    assert critic.weight.grad is None and critic.bias.grad is None
    assert all(p.requires_grad for p in critic.parameters())  # trainable again for its own step


def test_hinge_loss_is_zero_only_beyond_the_margins():
    assert float(hinge_d(torch.full((4,), 1.0), torch.full((4,), -1.0))) == 0.0
    assert float(hinge_d(torch.zeros(4), torch.zeros(4))) == pytest.approx(2.0)  # D undecided: both margins missed
    assert float(hinge_d(torch.full((4,), 5.0), torch.full((4,), 3.0))) == pytest.approx(4.0)  # fakes score high


def test_the_card_tells_every_run_of_a_resumed_model():
    run = {"command": "python -m train.cats", "seconds": 600, "hardware": "1 x CPU"}
    assert describe_runs([{**run, "steps": [0, 500]}]) == "Command: `python -m train.cats`: steps 0 to 500 in 10 min"
    story = describe_runs([{**run, "steps": [2500, 3000]}, {**run, "steps": [3000, 3000], "command": "save"}])
    assert story.splitlines()[1:] == ["  1. steps 0 to 2,500: earlier runs, not recorded",
                                      "  2. `python -m train.cats`: steps 2,500 to 3,000 in 10 min",
                                      "  3. `save`: saved the weights"]  # fmt: skip


@pytest.fixture
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state, fixed by the first Accelerator: start and leave this test clean."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_a_step_sees_the_weights_its_optimiser_just_wrote_under_autocast(tmp_path, fresh_accelerate_state):
    config = TrainConfig(output_dir=str(tmp_path), mixed_precision="bf16")
    critic = torch.nn.Linear(4, 1)
    trainer = Trainer("cats", config, {"critic": critic}, {}, data=None, ship="critic", sample=None, command="")
    with trainer.accelerator.autocast():  # as in `fit`: one region around the whole step
        before = trainer.models["critic"](torch.ones(1, 4)).item()
        with torch.no_grad():
            critic.weight.add_(1.0)  # what an optimiser step does, in place
        after = trainer.models["critic"](torch.ones(1, 4)).item()
    assert after == pytest.approx(before + 4, abs=0.1)  # not the stale bf16 copy of the old weights


SHARD_PROBE = """
import hashlib, json, sys
from pathlib import Path
from train import vae
from train.data import labelled_stream
from train.loop import processes

state = processes()  # what every training script asks for its rank and world size
stream = labelled_stream([sys.argv[1]], [0], part="train", rank=state.process_index, world_size=state.num_processes)
hashes = [hashlib.sha1(example["image"]["bytes"]).hexdigest() for example in stream]
(Path(sys.argv[2]) / f"rank-{state.process_index}.json").write_text(json.dumps(hashes))
vae.main(sys.argv[3:])
"""


def test_two_processes_read_disjoint_shards_resume_and_ship_a_loadable_model(tmp_path):
    """`accelerate launch --num_processes 2` on the CPU (gloo): each rank reads its own half of our train part, the
    run checkpoints, resumes and ships a model that loads."""
    import hashlib
    import os
    import subprocess
    import sys

    from genmodels.registry import ROOT
    from genmodels.vae import ConvVAE

    from .conftest import free_port

    data = make_image_dataset(tmp_path / "data", 40, size=16)
    (tmp_path / "probe.py").write_text(SHARD_PROBE)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    common = ["--model", "faces", "--dataset", str(data), "--resolution", "16", "--latent-dim", "8", "--base-channels",
              "4", "--batch-size", "4", "--checkpoint-every", "2", "--log-every", "1", "--output-dir", str(tmp_path / "run"),
              "--weights-dir", str(tmp_path / "weights")]  # fmt: skip
    outputs = []
    for steps in (["--max-steps", "2"], ["--max-steps", "4", "--resume"]):
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",  # torchrun
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                  str(free_port()), str(tmp_path / "probe.py"), str(data), str(tmp_path), *common, *steps]  # fmt: skip
        run = subprocess.run(launch, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        outputs.append(run.stdout + run.stderr)
    ranks = [set(json.loads((tmp_path / f"rank-{i}.json").read_text())) for i in (0, 1)]
    train_part = {hashlib.sha1(ex["image"]["bytes"]).hexdigest() for ex in open_stream(str(data), part="train",
                                                                                    buffer_size=1)}  # fmt: skip
    assert ranks[0] and ranks[1] and not ranks[0] & ranks[1] and ranks[0] | ranks[1] == train_part
    assert "resumed from step 2" in outputs[1]
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # one log, written by the main process alone, continued after the resume
    card = (tmp_path / "weights" / "README.md").read_text()
    assert "images seen: 32; hardware: 2 x CPU" in card  # 4 steps x batch 4 x 2 processes
    model = ConvVAE.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.sample(2, seed=0).shape == (2, 3, 16, 16)


def labelled_faces(folder, n: int = 96, size: int = 16):
    """A Hub-layout stand-in for celeb-faces: `male` +1 images have a light top half, -1 a dark one, 0 either."""
    import numpy as np
    from datasets import Dataset, Features, Image as ImageFeature, Value

    from .conftest import png_bytes

    rng = np.random.default_rng(0)
    male = [(1, -1, 1, -1, 0)[i % 5] for i in range(n)]
    images = []
    for label in male:
        image = rng.integers(60, 200, (size, size, 3), dtype=np.uint8)
        image[: size // 2] = 230 if label > 0 else 25 if label < 0 else rng.choice([230, 25])
        images.append({"bytes": png_bytes(image), "path": None})
    features = Features({"image": ImageFeature(), "male": Value("int8")})
    (folder / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_dict({"image": images, "male": male}, features=features).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    return folder


def test_fitted_attribute_direction_moves_faces_towards_their_label(tmp_path, monkeypatch):
    """Train a tiny faces VAE, fit its density and `male` direction with train.fit_density, and check that moving a
    face along the direction changes it the way the labelled images differ (their label means)."""
    from genmodels import load
    from train import fit_density, vae

    data = labelled_faces(tmp_path / "data")
    vae.main(["--model", "faces", "--dataset", str(data), "--resolution", "16", "--latent-dim", "8", "--base-channels",
              "8", "--batch-size", "16", "--max-steps", "150", "--lr", "2e-3", "--sample-every", "1000",
              "--output-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "weights" / "faces")])  # fmt: skip
    monkeypatch.setenv("GENMODELS_WEIGHTS_DIR", str(tmp_path / "weights"))
    load.cache_clear()
    fit_density.main(["--model", "faces", "--dataset", str(data), "--components", "2", "--attributes", "male"])
    load.cache_clear()
    model = load("faces")
    assert model.config.attributes == ["male"] and model.config.mixture_components == 2
    card = (tmp_path / "weights" / "faces" / "README.md").read_text()
    assert '"mixture_components": 2' in card.split("## Config")[1] and "_name_or_path" not in card  # no server path
    accuracy = float(card.split("apart for ")[1].split("%")[0])
    assert accuracy >= 90  # the light/dark top half is the whole label: the direction must carry it
    stream = list(open_stream(str(data), buffer_size=1))
    pixels = {label: torch.stack([image_to_tensor(decode_image(ex["image"]), 16) for ex in stream if ex["male"] == label]).mean(0)
              for label in (1, -1)}  # fmt: skip
    label_mean = (pixels[1] - pixels[-1]).flatten()
    for seed in range(4):
        less, more = model.decode(model.edit(model.latents(1, seed, density="mixture")[0], "male", [-1.0, 1.0]))
        assert float((more - less).flatten() @ label_mean) > 0.5 * float(label_mean @ label_mean)
    load.cache_clear()
