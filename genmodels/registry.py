"""Which class each shipped model is, where its weights come from, and `load(name)`.

Resolution order of `load(name)`, first hit wins:
  1. an explicit folder: the `path` argument, else the env var `GENMODELS_<NAME>_PATH` (e.g. GENMODELS_CATS_VAE_PATH);
  2. the bundled folder `weights/<name>/` (or `$GENMODELS_WEIGHTS_DIR/<name>/` when that env var is set);
  3. the Hub repo id from spaces.yaml, through the normal HF cache (so a cached repo works with HF_HUB_OFFLINE=1).
A folder counts when it holds config.json and a .safetensors file. When nothing is found, `WeightsNotFound` names
every place that was tried. Models load once, in eval mode, onto CUDA when it is available.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from .base import GenerativeModel
from .classifier import ImageClassifier
from .gan import Generator
from .trvae import TransferVAE
from .vae import ConvVAE

ROOT = Path(__file__).resolve().parent.parent
SPACE = yaml.safe_load((ROOT / "spaces.yaml").read_text(encoding="utf-8"))

CHARACTERS = [*"0123456789", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", *"abcdefghijklmnopqrstuvwxyz"]  # EMNIST ByClass order
CAR_VIEWS = ["front", "front-left", "front-right", "side-left", "side-right", "rear-left", "rear-right", "rear"]
DOMAINS = ["real", "anime"]


@dataclass(frozen=True)
class ModelSpec:
    cls: type[GenerativeModel]
    description: str
    tiny: dict = field(default_factory=dict)  # a config small enough for tests, same interface as the real one


REGISTRY: dict[str, ModelSpec] = {
    "cats": ModelSpec(
        Generator, "64x64 cat-face GAN (RaLSGAN, DCGAN discriminator, EMA generator)",
        dict(resolution=16, latent_dim=8, base_channels=4),
    ),
    "cats-vae": ModelSpec(
        ConvVAE, "64x64 cat-face convolutional VAE (the original project's method)",
        dict(resolution=16, latent_dim=8, base_channels=4),
    ),
    "transfer": ModelSpec(
        TransferVAE, "trVAE between real photos and anime faces, 64x64",
        dict(resolution=16, latent_dim=8, base_channels=4, mmd_dim=16, labels=DOMAINS),
    ),
    "transfer-classifier": ModelSpec(
        ImageClassifier, "real-vs-anime domain classifier (judges transfers)",
        dict(resolution=16, in_channels=3, base_channels=4, feature_dim=8, labels=DOMAINS),
    ),
    "handwriting": ModelSpec(
        Generator, "class-conditional GAN for 62 handwritten characters, 28x28",
        dict(resolution=28, out_channels=1, latent_dim=8, base_channels=4, num_classes=62, labels=CHARACTERS),
    ),
    "handwriting-classifier": ModelSpec(
        ImageClassifier, "62-class character classifier (judges generated handwriting)",
        dict(resolution=28, in_channels=1, base_channels=4, feature_dim=8, labels=CHARACTERS),
    ),
    "faces": ModelSpec(
        ConvVAE, "64x64 human-face VAE on CelebA",
        dict(resolution=16, latent_dim=8, base_channels=4),
    ),
    "cars": ModelSpec(
        Generator, "64x64 viewpoint-conditional car WGAN",
        dict(resolution=16, latent_dim=8, base_channels=4, num_classes=len(CAR_VIEWS), labels=CAR_VIEWS),
    ),
    "car-views": ModelSpec(
        ImageClassifier, "car viewpoint classifier (labels the car photos for the WGAN)",
        dict(resolution=16, in_channels=3, base_channels=4, feature_dim=8, labels=CAR_VIEWS),
    ),
}  # fmt: skip


class WeightsNotFound(FileNotFoundError):
    """No weights for a model in any of the places `load` looks."""


def is_model_folder(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def candidate_folders(name: str, path: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """(where, folder) pairs in resolution order, before the Hub: explicit path, then the bundled folder."""
    env_var = f"GENMODELS_{name.upper().replace('-', '_')}_PATH"
    places = []
    if path is not None:
        places.append(("argument path", Path(path)))
    elif os.environ.get(env_var):
        places.append((f"${env_var}", Path(os.environ[env_var])))
    weights_dir = os.environ.get("GENMODELS_WEIGHTS_DIR")
    bundled = Path(weights_dir) / name if weights_dir else ROOT / SPACE["models"][name]["local_dir"]
    places.append(("bundled folder", bundled))
    return places


def resolve(name: str, path: str | os.PathLike | None = None) -> Path:
    """The folder `load` would read for `name`: see the module docstring for the order."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(REGISTRY)}")
    tried = []
    for where, folder in candidate_folders(name, path):
        if is_model_folder(folder):
            return folder
        tried.append(f"{where} {folder} (no config.json + *.safetensors)")
    repo_id = SPACE["models"][name]["repo_id"]
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.md"]))
        if is_model_folder(folder):
            return folder
        tried.append(f"Hub repo {repo_id} (no config.json + *.safetensors in it)")
    except Exception as error:  # offline, not cached, no such repo, no network: all mean "not here"
        tried.append(f"Hub repo {repo_id} ({type(error).__name__})")
    raise WeightsNotFound(f"no weights for model {name!r}; tried: " + "; ".join(tried))


def available(name: str) -> bool:
    """Whether `load(name)` can succeed without the network: a local folder, or the repo in the HF cache."""
    from huggingface_hub import try_to_load_from_cache

    if any(is_model_folder(folder) for _, folder in candidate_folders(name)):
        return True
    return isinstance(try_to_load_from_cache(SPACE["models"][name]["repo_id"], "config.json"), str)

def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def load(name: str, path: str | None = None) -> GenerativeModel:
    """The registered model `name`, loaded once, in float32 eval mode on the best device."""
    folder = resolve(name, path)
    model = REGISTRY[name].cls.from_pretrained(folder, torch_dtype=torch.float32)
    return model.eval().requires_grad_(False).to(device())


def build_tiny(name: str, seed: int = 0) -> GenerativeModel:
    """A randomly initialised small model of `name`'s class, for tests and smoke runs."""
    torch.manual_seed(seed)
    return REGISTRY[name].cls(**REGISTRY[name].tiny).eval()


def front_matter() -> str:
    """README.md's YAML front matter: the Space settings plus the models and datasets it uses."""
    meta = dict(SPACE["space"])
    meta["models"] = [m["repo_id"] for m in SPACE["models"].values()]
    meta["datasets"] = sorted({d for m in SPACE["models"].values() for d in m["datasets"]})
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def card_metrics(name: str) -> dict[str, float]:
    """{metric: value} from the model card's Hub metadata (`model-index`); empty when unmeasured or not here."""
    from huggingface_hub import ModelCard

    if not available(name):  # never reach for the network just to show metrics
        return {}
    card = resolve(name) / "README.md"
    results = (ModelCard.load(card).data.eval_results or []) if card.is_file() else []
    return {r.metric_name or r.metric_type: r.metric_value for r in results}

