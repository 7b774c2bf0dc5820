"""Five small generative image models, Hub-native: `genmodels.load("cats").sample(16, seed=0)`."""

from .base import GenerativeModel, image_grid, noise, slerp, to_pil
from .registry import REGISTRY, WeightsError, WeightsNotFound, build_tiny, load, resolve, save_tiny

__all__ = ["REGISTRY", "GenerativeModel", "WeightsError", "WeightsNotFound", "build_tiny", "image_grid", "load", "noise", "resolve",
           "save_tiny", "slerp", "to_pil"]  # fmt: skip
