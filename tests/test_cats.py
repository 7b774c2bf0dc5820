"""The cats models' training (GAN with DiffAugment, VAE baseline), their evaluation with the memorisation check,
and the README pictures."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.gan import Generator
from genmodels.vae import ConvVAE
from train import cats, evaluate, sample_grid, vae
from train.augment import cutout, diff_augment, translation
from train.data import open_stream
from train.losses import LeCam, relativistic_ls

from .conftest import gif_duration_ms, make_image_dataset, tiny_gan_flags


@pytest.fixture(scope="module")
def cat_data(tmp_path_factory):
    return make_image_dataset(tmp_path_factory.mktemp("cats"), 40, size=32)


def test_diff_augment_is_differentiable_and_rejects_unknown_names():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    out = diff_augment(x, ["color", "translation", "cutout"])
    out.sum().backward()
    assert out.shape == x.shape and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        diff_augment(x, ["flip"])


def test_translation_moves_content_and_pads_with_zeros():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 8, 8)
    moved = translation(x, ratio=0.25)
    assert moved.shape == x.shape and set(moved.unique().tolist()) <= {0.0, 1.0}
    assert (moved.sum((1, 2, 3)) < 64).float().mean() > 0.5  # most images were shifted and gained a zero border
    assert (moved.sum((1, 2, 3)) >= 8 * 8 * 0.75 * 0.75).all()  # by at most a quarter each way


def test_cutout_zeroes_one_square_at_most():
    torch.manual_seed(0)
    holes = (cutout(torch.ones(32, 1, 8, 8), ratio=0.5) == 0).sum((1, 2, 3))
    assert (holes <= 16).all() and (holes > 0).all()


def test_cats_gan_smoke_run_resumes_and_ships_an_fp16_generator(cat_data, tmp_path):
    common = tiny_gan_flags(cat_data, tmp_path)
    cats.main([*common, "--max-steps", "2"])
    cats.main([*common, "--max-steps", "3", "--resume"])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and {"loss_d", "loss_g", "d_real", "d_fake"} <= set(log[-1])
    model = Generator.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.sample(3, seed=0).shape == (3, 3, 16, 16)
    card = (tmp_path / "weights" / "README.md").read_text()
    assert "python -m train.cats" in card and "Steps: 3" in card and "DiffAugment" in card
    assert not any("discriminator" in p.name for p in (tmp_path / "weights").iterdir())


def test_cats_vae_smoke_run_resumes_and_ships(cat_data, tmp_path):
    common = ["--model", "cats-vae", "--dataset", str(cat_data), "--output-dir", str(tmp_path / "run"),
              "--weights-dir", str(tmp_path / "weights"), "--resolution", "16", "--batch-size", "8", "--latent-dim", "8",
              "--base-channels", "4", "--log-every", "1", "--sample-every", "2", "--checkpoint-every", "2"]  # fmt: skip
    vae.main([*common, "--max-steps", "2"])
    vae.main([*common, "--max-steps", "3", "--resume"])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and np.isfinite(log[-1]["nll"])
    model = ConvVAE.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.sample(2, seed=0, temperature=0.5).shape == (2, 3, 16, 16)
    assert "optimal sigma" in (tmp_path / "weights" / "README.md").read_text()


def test_optimal_sigma_nll_is_lowest_for_the_better_reconstruction():
    images = torch.rand(4, 3, 8, 8) * 2 - 1
    close, far = images + 0.01 * torch.randn_like(images), images + 0.3 * torch.randn_like(images)
    assert (vae.gaussian_nll(close, images) < vae.gaussian_nll(far, images)).all()


def test_fid_and_the_memorisation_check_against_our_two_parts(tiny_models, cat_data):
    args = ["--model", "cats", "--dataset", str(cat_data), "--num-samples", "30", "--batch-size", "15", "--no-record"]
    metrics = evaluate.evaluate(evaluate.parse(evaluate.Config, args))
    assert 0 < sum(1 for _ in open_stream(str(cat_data), part="holdout", buffer_size=1)) < 40  # both parts have images
    assert {"FID", "KIDx100", "KIDx100 vs our train part", "KIDx100 vs our held-out part",
            "KIDx100, our train part vs held-out part (floor)"} <= set(metrics)  # fmt: skip
    assert metrics["FID"] > 0 and all(np.isfinite(v) for v in metrics.values())


def test_cat_grids_and_the_latent_walk(tiny_models, tmp_path):
    out = tmp_path / "cats.png"
    sample_grid.main(["--model", "cats-vae", "--rows", "2", "--cols", "3", "--scale", "1", "--walk", "2",
                      "--walk-legs", "2", "--walk-frames", "3", "--out", str(out)])  # fmt: skip
    assert Image.open(out).size == (3 * 18 + 2, 2 * 18 + 2)
    gif = tmp_path / "cats-walk.gif"
    assert gif_duration_ms(gif) == 2 * 3 * 80  # two legs of three frames
    assert Image.open(gif).size == (2 * 18 + 2, 2 * 18 + 2)  # a 2x2 grid of 16 px cells


def test_the_positional_head_scores_where_features_are():
    torch.manual_seed(0)
    from genmodels.gan import Discriminator

    d = Discriminator(resolution=16, base_channels=4, stem=False, minibatch_std=True, positional_head=True).eval()
    image = torch.zeros(1, 3, 16, 16)
    image[..., 2:6, 2:6] = 1
    moved = torch.roll(image, shifts=(8, 8), dims=(2, 3))  # the same square elsewhere
    scores = d(torch.cat([image, moved]))
    assert scores.shape == (2,) and not torch.isclose(scores[0], scores[1])


def test_relativistic_loss_is_zero_when_reals_lead_fakes_by_the_margin():
    assert float(relativistic_ls(torch.full((8,), 1.0), torch.zeros(8))) == 0.0
    assert float(relativistic_ls(torch.zeros(8), torch.full((8,), 1.0))) == pytest.approx(4.0)  # wrong way round


def test_lecam_penalises_only_scores_past_the_other_sides_average():
    lecam = LeCam(decay=0.5)
    apart = lecam(torch.full((4,), 1.0), torch.full((4,), -1.0))  # first batch: the anchors are its means
    assert float(lecam.anchor_real) == 1.0 and float(lecam.anchor_fake) == -1.0
    assert float(apart) == pytest.approx(8.0)  # each side 2 past the other's average: 2^2 + 2^2
    assert float(lecam(torch.full((4,), -3.0), torch.full((4,), 3.0))) == 0.0  # the anchors move halfway, to -1 / 1
    assert float(lecam.anchor_real) == -1.0 and float(lecam.anchor_fake) == 1.0
