"""Which class each shipped model is, where its weights come from, and `load(name)`.

Resolution order of `load(name)`, first hit wins:
  1. an explicit folder: the `path` argument, else the env var `GENMODELS_<NAME>_PATH` (e.g. GENMODELS_CATS_VAE_PATH);
  2. the bundled folder `weights/<name>/` (or `$GENMODELS_WEIGHTS_DIR/<name>/` when that env var is set);
  3. the Hub repo id from spaces.yaml, through the normal HF cache (so a cached repo works with HF_HUB_OFFLINE=1).
A folder counts when it holds config.json; `check_folder` then says what is wrong with it, if anything. Every fault
is a `WeightsError` with its own message for users (`WeightsNotFound` names the places tried, without server paths).
The Hub is asked for at most HUB_TIMEOUT_S, and a failure is remembered for HUB_RETRY_S. Models load once, in eval
mode, onto CUDA when it is available.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from .base import GenerativeModel
from .classifier import ImageClassifier
from .facedetect import FaceDetector
from .gan import Generator
from .translator import Translator
from .trvae import TransferVAE
from .vae import ConvVAE

ROOT = Path(__file__).resolve().parent.parent
SPACE = yaml.safe_load((ROOT / "spaces.yaml").read_text(encoding="utf-8"))

CHARACTERS = [*"0123456789", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", *"abcdefghijklmnopqrstuvwxyz"]  # EMNIST ByClass order
CAR_VIEWS = ["front", "front-left", "front-right", "side-left", "side-right", "rear-left", "rear-right", "rear"]
# Left/right names the way the car's nose points in the picture: a horizontal flip swaps them.
MIRRORED = {view: view.replace("left", "right") if "left" in view else view.replace("right", "left") for view in CAR_VIEWS}
MIRRORED_IDS = [CAR_VIEWS.index(MIRRORED[view]) for view in CAR_VIEWS]  # label id -> its mirror image's label id
# The views in the order someone walking around the car sees them.
WALK_AROUND = ["front", "front-left", "side-left", "rear-left", "rear", "rear-right", "side-right", "front-right"]
DOMAINS = ["real", "anime"]


@dataclass(frozen=True)
class ModelSpec:
    cls: type[GenerativeModel]
    description: str
    tiny: dict = field(default_factory=dict)  # a config small enough for tests, same interface as the real one
    converted: bool = False  # weights converted from elsewhere, not trained here (no tiny stand-in: see save_tiny)


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
    "transfer-gan": ModelSpec(
        Translator, "translation GAN between real photos and anime faces, 64x64 (one generator, StarGAN objective)",
        dict(resolution=16, base_channels=4, n_blocks=1, labels=DOMAINS),
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
        ConvVAE, "64x64 human-face VAE on CelebA, with a fitted latent density and a female <-> male direction",
        dict(resolution=16, latent_dim=8, base_channels=4, mixture_components=2, attributes=["male"]),
    ),
    "cars": ModelSpec(
        Generator, "64x64 viewpoint-conditional car GAN (RaLSGAN)",
        dict(resolution=16, latent_dim=8, base_channels=4, num_classes=len(CAR_VIEWS), labels=CAR_VIEWS, label_in_latent=False),
    ),
    "car-views": ModelSpec(
        ImageClassifier, "car viewpoint classifier (labels the car photos for the GAN)",
        dict(resolution=16, in_channels=3, base_channels=4, feature_dim=8, labels=CAR_VIEWS, flip_labels=MIRRORED_IDS),
    ),
    "face-detector": ModelSpec(
        FaceDetector, "MTCNN face detector (finds the faces in uploaded photos; converted, not trained here)",
        dict(min_face=40), converted=True,
    ),
}  # fmt: skip


HUB_TIMEOUT_S = 10  # the longest a Hub lookup may take before the model counts as unavailable
HUB_RETRY_S = 300  # a failed Hub lookup is not tried again for this long (a stalled network must not block a tab)


class WeightsError(Exception):
    """A model's weights cannot be used. The message is for users: it names places, never server paths."""


class WeightsNotFound(WeightsError, FileNotFoundError):
    """No weights for a model in any of the places `load` looks."""


class WeightsDamaged(WeightsError):
    """The weights file is missing from its folder, truncated, or not a safetensors file."""


class ConfigInvalid(WeightsError):
    """config.json is not valid JSON or does not describe the registered model class."""


class ShapesMismatch(WeightsError):
    """The weights file holds tensors that do not fit the model its config.json describes."""


def has_config(path: str | os.PathLike) -> bool:
    return (Path(path) / "config.json").is_file()


def candidate_folders(name: str, path: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """(where, folder) pairs in resolution order, before the Hub: explicit path, then the bundled folder. `where`
    names the place without server paths."""
    env_var = f"GENMODELS_{name.upper().replace('-', '_')}_PATH"
    places = []
    if path is not None:
        places.append(("the folder passed to load()", Path(path)))
    elif os.environ.get(env_var):
        places.append((f"${env_var}", Path(os.environ[env_var])))
    weights_dir = os.environ.get("GENMODELS_WEIGHTS_DIR")
    local_dir = SPACE["models"][name]["local_dir"]
    if weights_dir:
        places.append((f"$GENMODELS_WEIGHTS_DIR/{name}", Path(weights_dir) / name))
    else:
        places.append((local_dir, ROOT / local_dir))
    return places


_hub_failures: dict[str, tuple[float, str]] = {}  # repo id -> (when, why) of its last failed lookup


def from_hub(repo_id: str) -> Path:
    """The repo's snapshot folder: from the HF cache when it is there, else downloaded within HUB_TIMEOUT_S.
    A failure is remembered for HUB_RETRY_S and raised again at once (WeightsNotFound, its reason as the message)."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.md"]
    with contextlib.suppress(Exception):  # the cache answers without the network, even offline
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    failed = _hub_failures.get(repo_id)
    if failed and time.monotonic() - failed[0] < HUB_RETRY_S:
        raise WeightsNotFound(f"{failed[1]}; not tried again for {HUB_RETRY_S // 60} minutes")
    result: dict = {}

    def download():  # in a daemon thread: a stalled download is left behind, never waited for (not even at exit)
        try:
            result["folder"] = Path(snapshot_download(repo_id, allow_patterns=patterns, etag_timeout=HUB_TIMEOUT_S))
        except Exception as error:
            result["error"] = error

    thread = threading.Thread(target=download, name=f"hub-{repo_id}", daemon=True)
    thread.start()
    thread.join(HUB_TIMEOUT_S)
    if "folder" in result:
        return result["folder"]
    if thread.is_alive():
        reason = f"the Hub repo {repo_id} did not answer within {HUB_TIMEOUT_S} s"
    else:  # offline, no such repo, no network: all mean "not here"
        error = result["error"]
        offline = "offline" in str(error).lower() or isinstance(error, ConnectionError)
        reason = f"the Hub repo {repo_id} could not be reached ({'offline' if offline else type(error).__name__})"
    _hub_failures[repo_id] = (time.monotonic(), reason)
    raise WeightsNotFound(reason)


def resolve(name: str, path: str | os.PathLike | None = None) -> Path:
    """The folder `load` would read for `name`: see the module docstring for the order."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(REGISTRY)}")
    tried = []
    for where, folder in candidate_folders(name, path):
        if has_config(folder):
            return folder
        tried.append(where)
    try:
        return from_hub(SPACE["models"][name]["repo_id"])
    except WeightsNotFound as error:
        raise WeightsNotFound(f"The {name} model has no weights here yet: nothing in {', '.join(tried)}, "
                              f"and {error}.") from None  # fmt: skip


def available(name: str) -> bool:
    """Whether weights for `name` are here without the network (a local folder, or the repo in the HF cache);
    they may still be faulty: see `weights_problem`."""
    from huggingface_hub import try_to_load_from_cache

    if any(has_config(folder) for _, folder in candidate_folders(name)):
        return True
    return isinstance(try_to_load_from_cache(SPACE["models"][name]["repo_id"], "config.json"), str)


def safetensors_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """{tensor: shape} from a safetensors file's header, checking that the file holds all the data it declares."""
    size = file.stat().st_size
    with open(file, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < length <= min(size - 8, 100_000_000):
            raise ValueError("no safetensors header")
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    end = max((entry["data_offsets"][1] for entry in header.values()), default=0)
    if 8 + length + end != size:
        raise ValueError(f"{size} bytes, {8 + length + end} declared")
    return {key: tuple(entry["shape"]) for key, entry in header.items()}


def check_folder(name: str, folder: Path) -> None:
    """Raise the WeightsError that says what is wrong with a weights folder, reading only config.json and the
    safetensors headers (no tensor data): a bad config, a missing or damaged file, or tensors of other shapes."""
    model = f"The {name} model"
    if not has_config(folder):  # a Hub snapshot without one
        raise ConfigInvalid(f"{model}'s weights came without a config.json.")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigInvalid(f"{model}'s config.json is not valid JSON ({error}).") from None
    try:
        # Built on the CPU (every registered model: ~0.1 s in all, freed at once), not on the meta device, whose
        # kernels for torch.eye, nn.Embedding's init and others import torch._dynamo: ~1.3 s of the app's cold start.
        expected = {k: tuple(v.shape) for k, v in REGISTRY[name].cls.from_config(config).state_dict().items()}
    except Exception as error:
        raise ConfigInvalid(f"{model}'s config.json does not describe a {REGISTRY[name].cls.__name__} "
                            f"({type(error).__name__}: {error}).") from None  # fmt: skip
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise WeightsDamaged(f"{model}'s weights file (*.safetensors) is missing beside its config.json.")
    found = {}
    for file in files:
        try:
            found.update(safetensors_shapes(file))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise WeightsDamaged(f"{model}'s weights file {file.name} is damaged: truncated or not safetensors "
                                 f"({error}). Download it again.") from None  # fmt: skip
    wrong = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
    if wrong:
        shown = lambda shape: "x".join(map(str, shape)) if shape is not None else "absent"  # noqa: E731
        raise ShapesMismatch(f"{model}'s weights do not fit its config.json: {len(wrong)} tensor(s) differ, e.g. "
                             f"{wrong[0]} is {shown(found.get(wrong[0]))} in the file, {shown(expected.get(wrong[0]))} "
                             "expected.")  # fmt: skip


def weights_problem(name: str) -> WeightsError | None:
    """What stops `name` from loading, found without the network and without loading tensors; None when ready."""
    if not available(name):
        return WeightsNotFound(f"The {name} model has no weights here yet.")
    try:
        check_folder(name, resolve(name))
    except WeightsError as error:
        return error
    return None


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_models: dict[tuple, GenerativeModel] = {}
_loading = {name: threading.Lock() for name in REGISTRY}  # one per model: a slow one never holds up the others


def load(name: str, path: str | None = None) -> GenerativeModel:
    """The registered model `name`, loaded once, in float32 eval mode on the best device. Raises a WeightsError
    that says what is wrong (missing, damaged, bad config, wrong shapes); a failure is not cached, except the
    Hub's (see `from_hub`)."""
    key = (name, path)
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(REGISTRY)}")
    if key not in _models:
        with _loading[name]:  # concurrent first requests load the model once
            if key not in _models:
                folder = resolve(name, path)
                check_folder(name, folder)
                try:
                    model = REGISTRY[name].cls.from_pretrained(folder, torch_dtype=torch.float32)
                except Exception as error:
                    raise WeightsDamaged(f"The {name} model's weights could not be read ({type(error).__name__}).") from None
                model = model.eval().requires_grad_(False)
                if device().type != "cpu":  # from_pretrained loads onto the CPU; diffusers' `to` imports torch._dynamo
                    model = model.to(device())
                _models[key] = model
    return _models[key]


def clear_cache() -> None:
    """Forget loaded models and remembered Hub failures (tests, and after weights change on disk)."""
    _models.clear()
    _hub_failures.clear()


load.cache_clear = clear_cache


def build_tiny(name: str, seed: int = 0) -> GenerativeModel:
    """A randomly initialised small model of `name`'s class, for tests and smoke runs."""
    torch.manual_seed(seed)
    return REGISTRY[name].cls(**REGISTRY[name].tiny).eval()


def save_tiny(name: str, folder: str | os.PathLike) -> None:
    """`name`'s stand-in for tests and plumbing benchmarks into `folder`: a tiny random model, or for a converted one
    (the face detector, which photo paths need to find faces) a copy of its bundled weights."""
    if REGISTRY[name].converted:
        shutil.copytree(ROOT / SPACE["models"][name]["local_dir"], folder)
    else:
        build_tiny(name).save_pretrained(folder)


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

