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


# ---- cold start ---------------------------------------------------------------------------------------------------
NO_DYNAMO = """
import sys
import app
problems = [name for name in app.REGISTRY if app.weights_problem(name)]
app.sample_cats(4); app.sample_cats(4, model="VAE (original method)"); app.write_text("Hi"); app.sample_faces(4)
app.walk_around_car(); app.transfer(sys.argv[1], "real", "anime")
print("problems", problems, "dynamo", "torch._dynamo" in sys.modules)
import torch._dynamo
print("importable", torch._dynamo.is_compiling())
"""


def test_the_app_starts_and_answers_without_torch_dynamo(tiny_weights, tmp_path):
    """The cold-start cut: building the app and a first request of each kind never import torch._dynamo (~1.3 s on
    this CPU: diffusers imports it for a torch.compile decorator, torch's meta-device kernels and diffusers' `to` and
    `device` for offloading hooks), and anything that wants it later still gets it."""
    import subprocess
    import sys

    from .conftest import schematic_face

    photo = tmp_path / "photo.png"
    schematic_face(160).save(photo)
    env = {"PATH": "/usr/bin:/bin", "GENMODELS_WEIGHTS_DIR": str(tiny_weights), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", NO_DYNAMO, str(photo)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["problems [] dynamo False", "importable False"]
