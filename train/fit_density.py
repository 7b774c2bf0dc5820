"""Fit a VAE's ex-post density: a Gaussian mixture on the posterior means of our train part ("From Variational to
Deterministic Autoencoders", Ghosh et al. 2020), saved into the model (buffers + `mixture_components` in config.json).

    GENMODELS_DATA_DIR=../shared/datasets python -m train.fit_density --model faces --components 10

Sampling the N(0, I) prior decodes codes the encoder never produced (the "holes" between the training codes); the
mixture samples where the codes are. The held-out 10% never enters the fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from genmodels.base import image_to_tensor
from genmodels.registry import REGISTRY, SPACE, load, resolve

from .config import command_line, parse
from .data import decode_image, open_stream


@dataclass
class Config:
    """Gaussian mixture on a VAE's training codes."""

    model: str = "faces"  # registered VAE
    dataset: str = ""  # id or folder (default: the model's first training dataset)
    components: int = 10  # mixture components
    batch_size: int = 256  # images encoded at once
    seed: int = 0  # seeds the mixture's initialisation
    weights_dir: str = ""  # where the model with its mixture is saved (default: the folder it was loaded from)


@torch.no_grad()
def training_codes(model, dataset: str, batch_size: int) -> np.ndarray:
    """Posterior means (N, D) of our train part of `dataset`."""
    codes, batch = [], []
    size, channels = model.config.resolution, model.config.in_channels
    for example in tqdm(open_stream(dataset, part="train", buffer_size=1), desc="encoding"):
        batch.append(image_to_tensor(decode_image(example["image"]), size, channels))
        if len(batch) == batch_size:
            codes.append(model.encode(torch.stack(batch).to(model.device))[0].cpu())
            batch.clear()
    if batch:
        codes.append(model.encode(torch.stack(batch).to(model.device))[0].cpu())
    return torch.cat(codes).double().numpy()


def with_mixture(model, codes: np.ndarray, components: int, seed: int):
    """A copy of `model` holding a full-covariance Gaussian mixture fitted to `codes`."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=seed, max_iter=500)
    gmm.fit(codes)
    fitted = type(model).from_config(model.config, mixture_components=components)
    fitted.load_state_dict(model.state_dict(), strict=False)  # the mixture's buffers are set next
    fitted.set_mixture(*(torch.from_numpy(a).float() for a in (gmm.weights_, gmm.means_, np.linalg.cholesky(gmm.covariances_))))
    return fitted.eval()


def main(argv=None):
    config = parse(Config, argv)
    config.dataset = config.dataset or SPACE["models"][config.model]["datasets"][0]
    model = load(config.model)
    if not hasattr(model, "set_mixture"):
        raise SystemExit(f"{config.model} is a {REGISTRY[config.model].cls.__name__}, not a VAE with a latent density")
    codes = training_codes(model, config.dataset, config.batch_size)
    fitted = with_mixture(model, codes, config.components, config.seed)
    folder = Path(config.weights_dir or resolve(config.model))
    fitted.half().save_pretrained(folder)
    card = folder / "README.md"
    if card.is_file():
        card.write_text(card.read_text(encoding="utf-8").rstrip() + f"\n\n## Ex-post density\n\nA {config.components}-component "
                        f"full-covariance Gaussian mixture on the posterior means of {len(codes):,} training images "
                        f"(our train part of {config.dataset}): `{command_line(__spec__.name, argv)}`. Sample it with "
                        "`sample(n, seed=..., density=\"mixture\")`.\n", encoding="utf-8")  # fmt: skip
    print(f"{len(codes)} codes -> {config.components} components; saved to {folder}")


if __name__ == "__main__":
    main()
