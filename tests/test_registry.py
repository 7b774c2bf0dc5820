"""`load(name)` resolution order, its error, the offline Hub cache, and spaces.yaml <-> registry <-> README."""

from pathlib import Path

import huggingface_hub.constants
import pytest
import yaml

from genmodels import REGISTRY, WeightsNotFound, build_tiny, load, resolve
from genmodels.registry import ROOT, SPACE, available, front_matter

from .conftest import write_tiny_weights


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def no_bundled_weights(tmp_path, monkeypatch, empty_hub_cache):
    monkeypatch.setenv("GENMODELS_WEIGHTS_DIR", str(tmp_path / "bundled"))
    monkeypatch.delenv("GENMODELS_CATS_PATH", raising=False)
    load.cache_clear()
    yield tmp_path / "bundled"
    load.cache_clear()


def populate_hub_cache(cache: Path, repo_id: str, name: str) -> Path:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/files}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    build_tiny(name).save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_missing_everywhere_names_every_place_tried(no_bundled_weights, monkeypatch, tmp_path):
    monkeypatch.setenv("GENMODELS_CATS_PATH", str(tmp_path / "explicit"))
    with pytest.raises(WeightsNotFound) as error:
        resolve("cats")
    message = str(error.value)
    for place in ("$GENMODELS_CATS_PATH", "$GENMODELS_WEIGHTS_DIR/cats", SPACE["models"]["cats"]["repo_id"]):
        assert place in message
    assert str(tmp_path) not in message  # users are told the places, never the server's paths
    assert not available("cats")


def test_resolution_order_explicit_then_bundled_then_hub(no_bundled_weights, empty_hub_cache, monkeypatch, tmp_path):
    snapshot = populate_hub_cache(empty_hub_cache, SPACE["models"]["cats"]["repo_id"], "cats")
    assert resolve("cats") == snapshot  # only the Hub cache has it, and it is served offline
    assert available("cats")
    write_tiny_weights(no_bundled_weights, ["cats"])
    assert resolve("cats") == no_bundled_weights / "cats"  # the bundled folder beats the Hub
    write_tiny_weights(tmp_path / "explicit", ["cats"])
    monkeypatch.setenv("GENMODELS_CATS_PATH", str(tmp_path / "explicit" / "cats"))
    assert resolve("cats") == tmp_path / "explicit" / "cats"  # the env var beats the bundled folder
    assert resolve("cats", path=snapshot) == snapshot  # and the argument beats everything


def test_load_is_lazy_cached_and_in_eval_mode(no_bundled_weights):
    write_tiny_weights(no_bundled_weights, ["faces"])
    model = load("faces")
    assert load("faces") is model
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_unknown_model_name():
    with pytest.raises(KeyError, match="unknown model 'dogs'"):
        resolve("dogs")


def test_spaces_yaml_lists_exactly_the_registered_models():
    assert list(SPACE["models"]) == list(REGISTRY)
    for name, entry in SPACE["models"].items():
        assert entry["local_dir"] == f"weights/{name}" and "/" in entry["repo_id"]
        assert entry["datasets"] or REGISTRY[name].converted  # the face detector is converted, not trained here


def test_readme_front_matter_agrees_with_spaces_yaml():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(front_matter()), "regenerate it: python -m genmodels --front-matter"
    meta = yaml.safe_load(readme.split("---\n")[1])
    assert meta["app_file"] == "app.py" and meta["sdk"] == "gradio"
