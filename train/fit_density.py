"""Fit what a trained VAE's latent space offers after training, from the posterior means of our train part, and save
it into the model (buffers, described by config.json):

- the ex-post density: a Gaussian mixture on the codes ("From Variational to Deterministic Autoencoders", Ghosh et al.
  2020; `mixture_components`). Sampling the N(0, I) prior decodes codes the encoder never produced (the "holes"
  between the training codes); the mixture samples where the codes are.
- attribute directions (`attributes`): for a +1/-1 label column of the dataset, the mean code of the +1 images minus
  that of the -1 images (0: unknown, left out). The card reports how well the direction alone tells the labels of
  our held-out part apart.

    GENMODELS_DATA_DIR=../shared/datasets python -m train.fit_density --model faces --components 10 --attributes male

The held-out 10% never enters the fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from genmodels.base import image_to_tensor
from genmodels.registry import REGISTRY, SPACE, load, resolve

from .card import set_section
from .config import command_line, parse
from .data import decode_image, open_stream


@dataclass
class Config:
    """Gaussian mixture on a VAE's training codes."""

    model: str = "faces"  # registered VAE
    dataset: str = ""  # id or folder (default: the model's first training dataset)
    components: int = 10  # mixture components
    batch_size: int = 256  # images encoded at once
    attributes: list[str] = field(default_factory=list)  # +1/-1 label columns to fit directions for (e.g. male)
    seed: int = 0  # seeds the mixture's initialisation
    weights_dir: str = ""  # where the model with its mixture is saved (default: the folder it was loaded from)


@torch.no_grad()
def codes_and_labels(model, dataset: str, columns: list[str], batch_size: int, part: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means (N, D) of our `part` of `dataset`, and the values of its label `columns` (N, len(columns))."""
    codes, labels, batch = [], [], []
    size, channels = model.config.resolution, model.config.in_channels
    for example in tqdm(open_stream(dataset, part=part, buffer_size=1), desc=f"encoding our {part} part"):
        batch.append(image_to_tensor(decode_image(example["image"]), size, channels))
        labels.append([float(example[column]) for column in columns])
        if len(batch) == batch_size:
            codes.append(model.codes(torch.stack(batch).to(model.device)).cpu())
            batch.clear()
    if batch:
        codes.append(model.codes(torch.stack(batch).to(model.device)).cpu())
    return torch.cat(codes).double().numpy(), np.asarray(labels, dtype=np.float64).reshape(len(labels), len(columns))


def directions(codes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label column: the mean code of its +1 images minus that of its -1 images, and the midpoint of the two."""
    rows, middles = [], []
    for column in labels.T:
        positive, negative = codes[column > 0].mean(0), codes[column < 0].mean(0)
        rows.append(positive - negative)
        middles.append((positive + negative) / 2)
    return np.stack(rows), np.stack(middles)


def direction_accuracy(codes: np.ndarray, labels: np.ndarray, rows: np.ndarray, middles: np.ndarray) -> list[float]:
    """Per label column, the share of its labelled images whose code lies on their label's side of the midpoint
    along the direction: how much of the label the direction alone carries."""
    accuracies = []
    for a, column in enumerate(labels.T):
        known = column != 0
        scores = (codes[known] - middles[a]) @ rows[a]
        accuracies.append(float(np.mean((scores > 0) == (column[known] > 0))))
    return accuracies


def fitted(model, codes: np.ndarray, components: int, seed: int, attributes: list[str] = (), rows=None):
    """A copy of `model` holding a full-covariance Gaussian mixture of `components` fitted to `codes` (none: 0) and
    the attribute directions `rows` (one per name in `attributes`)."""
    settings = {k: v for k, v in model.config.items() if not k.startswith("_")}  # not where it was loaded from
    fitted = type(model).from_config(settings, mixture_components=components, attributes=list(attributes))
    fitted.load_state_dict(model.state_dict(), strict=False)  # the buffers of the mixture and directions are set next
    if components:
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=seed, max_iter=500)
        gmm.fit(codes)
        fitted.set_mixture(*(torch.from_numpy(a).float() for a in (gmm.weights_, gmm.means_, np.linalg.cholesky(gmm.covariances_))))
    if attributes:
        fitted.set_directions(torch.from_numpy(rows).float())
    return fitted.eval()


def main(argv=None):
    config = parse(Config, argv)
    config.dataset = config.dataset or SPACE["models"][config.model]["datasets"][0]
    model = load(config.model)
    if not hasattr(model, "set_mixture"):
        raise SystemExit(f"{config.model} is a {REGISTRY[config.model].cls.__name__}, not a VAE with a latent density")
    codes, labels = codes_and_labels(model, config.dataset, config.attributes, config.batch_size)
    rows, middles = directions(codes, labels) if config.attributes else (None, None)
    model = fitted(model, codes, config.components, config.seed, config.attributes, rows)
    folder = Path(config.weights_dir or resolve(config.model))
    model.half().save_pretrained(folder)
    lines = [f"`{command_line(__spec__.name, argv)}`, on the posterior means of {len(codes):,} training images (our train "
             f"part of {config.dataset}):\n"]  # fmt: skip
    if config.components:
        lines.append(f"- Ex-post density: a {config.components}-component full-covariance Gaussian mixture. Sample it "
                     "with `sample(n, seed=..., density=\"mixture\")`.")  # fmt: skip
    if config.attributes:
        held_codes, held_labels = codes_and_labels(model.float(), config.dataset, config.attributes, config.batch_size, "holdout")
        for name, accuracy in zip(config.attributes, direction_accuracy(held_codes, held_labels, rows, middles)):
            lines.append(f"- Direction `{name}`: mean code of `{name}` = +1 minus that of -1 (`edit(z, \"{name}\", amounts)`). "
                         f"Alone it tells the two labels of our held-out part apart for {accuracy:.1%} of its "
                         f"{int((held_labels != 0).sum()):,} labelled images.")  # fmt: skip
            print(f"{name}: held-out accuracy of the direction {accuracy:.3f}")
    if (folder / "README.md").is_file():  # the card: its config as it is now, and what was fitted
        set_section(folder, "Config", f"```json\n{model.to_json_string().strip()}\n```")
        set_section(folder, "Fitted after training", "\n".join(lines))
    print(f"{len(codes)} codes -> {config.components} components, directions {config.attributes}; saved to {folder}")


if __name__ == "__main__":
    main()
