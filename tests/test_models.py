"""Every registered model, built tiny: shape, range, finite, determinism by seed, save/load round trip."""

import pytest
import torch

from genmodels import REGISTRY, build_tiny
from genmodels.classifier import ImageClassifier
from genmodels.facedetect import FaceDetector
from genmodels.trvae import condition_mmd, mmd


def run(model, seed: int) -> torch.Tensor:
    """The model's app-facing output for a seed: samples, transfers, class probabilities or (the face detector)
    O-Net's face probabilities for random crops."""
    if isinstance(model, FaceDetector):
        return model.onet(torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(seed)) * 2 - 1)[2]
    if not hasattr(model, "transfer") and not isinstance(model, ImageClassifier):
        return model.sample(3, seed=seed)
    size = model.config.resolution
    images = torch.rand(3, model.config.in_channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return model.transfer(images, "real", "anime") if hasattr(model, "transfer") else model.predict(images)


@pytest.mark.parametrize("name", [name for name, spec in REGISTRY.items() if spec.cls is not FaceDetector])
def test_output_shape_range_and_determinism(name):
    model = build_tiny(name)
    out = run(model, seed=1)
    config = model.config
    if isinstance(model, ImageClassifier):
        assert out.shape == (3, len(config.labels))
        torch.testing.assert_close(out.sum(1), torch.ones(3))
    else:
        channels = config.get("out_channels") or config.in_channels
        assert out.shape == (3, channels, config.resolution, config.resolution)
        assert out.min() >= -1 and out.max() <= 1
    assert torch.isfinite(out).all()
    torch.testing.assert_close(run(model, seed=1), out, rtol=0, atol=0)  # same seed, same picture
    assert not torch.equal(run(model, seed=2), out)


@pytest.mark.parametrize("name", REGISTRY)
def test_save_load_round_trip(name, tmp_path):
    model = build_tiny(name)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file() and list(tmp_path.glob("*.safetensors"))
    loaded = REGISTRY[name].cls.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(run(loaded, seed=3), run(model, seed=3), rtol=0, atol=0)


def test_fp16_weights_load_as_float32_and_stay_close(tmp_path):
    model = build_tiny("cats")
    model.half().save_pretrained(tmp_path)
    loaded = REGISTRY["cats"].cls.from_pretrained(tmp_path, torch_dtype=torch.float32).eval()
    assert next(loaded.parameters()).dtype == torch.float32
    torch.testing.assert_close(loaded.sample(2, seed=0), build_tiny("cats").sample(2, seed=0), atol=0.02, rtol=0)


def test_conditional_sample_takes_label_names_and_rejects_unknown_ones():
    model = build_tiny("cars")
    by_name = model.sample(2, seed=0, labels=["rear", "front"])
    by_id = model.sample(2, seed=0, labels=[model.labels.index("rear"), model.labels.index("front")])
    torch.testing.assert_close(by_name, by_id)
    with pytest.raises(ValueError, match="unknown label 'sideways'"):
        model.sample(1, seed=0, labels=["sideways"])


def test_truncation_and_interpolation():
    model = build_tiny("cats")
    path = model.interpolate(1, 2, steps=5)
    torch.testing.assert_close(path[0], model.sample(1, seed=1)[0])
    torch.testing.assert_close(path[-1], model.sample(1, seed=2)[0], atol=1e-5, rtol=0)
    assert not torch.equal(model.sample(1, seed=1, truncation=0.5), model.sample(1, seed=1))


def test_standing_stats_fit_the_batchnorm_statistics_to_the_current_weights():
    model = build_tiny("handwriting")
    z, y = model.latents(124, seed=0), model.default_labels(124)
    with torch.no_grad():
        model.train()
        batch_stats = model(z, y)  # normalised with this batch's own statistics
        model.eval()
        stale = model(z, y)  # the initial running statistics (mean 0, var 1) do not fit these weights
        model.standing_stats(batches=1, batch_size=124)
        assert not model.training
        standing = model(z, y)
    assert (standing - batch_stats).abs().max() < 0.05 < (stale - batch_stats).abs().max()


def test_discriminator_options_score_classify_and_see_batch_variety():
    from genmodels.gan import Discriminator, MinibatchStd

    d = Discriminator(resolution=28, in_channels=1, base_channels=4, num_classes=62, aux_classifier=True, minibatch_std=True)
    x, y = torch.randn(6, 1, 28, 28), torch.arange(6)
    score, logits = d(x, y, return_logits=True)
    assert score.shape == (6,) and logits.shape == (6, 62) and d(x, y).shape == (6,)
    same = MinibatchStd()(torch.ones(4, 2, 3, 3))  # a batch of identical images has no spread
    varied = MinibatchStd()(torch.randn(4, 2, 3, 3))
    assert same.shape == (4, 3, 3, 3) and same[:, 2].abs().max() == 0 and varied[:, 2].min() > 0


def test_mmd_tells_two_samples_apart_and_the_penalty_ignores_scale():
    rng = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 16, generator=rng), torch.randn(64, 16, generator=rng)
    assert mmd(a, b) < 0.1 * mmd(a, b + 1.5)
    codes, labels = torch.cat([a, b + 1.5]), torch.tensor([0] * 64 + [1] * 64)
    assert condition_mmd(codes, labels) == pytest.approx(condition_mmd(10 * codes, labels).item(), rel=1e-4)
    assert condition_mmd(codes, torch.zeros(128, dtype=torch.long)) == 0  # one condition: nothing to match


def test_transfer_vae_decodes_by_label_and_transfers_by_label_name():
    model = build_tiny("transfer")
    z = torch.randn(2, model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    real, anime = model.decode(z, model.label_ids(["real"] * 2))[0], model.decode(z, model.label_ids(["anime"] * 2))[0]
    assert real.shape == (2, 3, 16, 16) and not torch.equal(real, anime)  # the label reaches the decoder
    assert torch.equal(model.transfer(real, "real", "anime"), model.transfer(real, 0, 1))


def test_the_translator_draws_by_target_label_one_image_at_a_time():
    model = build_tiny("transfer-gan")
    torch.manual_seed(2)
    for module in model.modules():  # untrained, both labels' gains and biases are 1 and 0: give each its own
        if isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, std=0.5)
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    anime, real = model.transfer(images, "real", "anime"), model.transfer(images, "anime", "real")
    assert anime.shape == images.shape and not torch.allclose(anime, real)  # the target label decides
    assert torch.equal(anime, model.transfer(images, 0, 1))  # labels by name or index
    assert torch.allclose(model.transfer(images[:1], "real", "anime"), anime[:1], atol=1e-6)  # instance norm: no batch
    with pytest.raises(ValueError, match="unknown label"):
        model.transfer(images, "cartoon", "anime")


def test_the_fitted_density_and_directions_are_saved_with_the_vae_and_used(tmp_path):
    import numpy as np

    from train.fit_density import fitted

    vae = build_tiny("cats-vae")  # a VAE with neither
    codes = np.concatenate([np.random.default_rng(0).normal(c, 0.05, (200, 8)) for c in (-3.0, 3.0)])  # two clusters
    rows = np.arange(8, dtype=np.float64)[None] / 8
    model = fitted(vae, codes, components=2, seed=0, attributes=["male"], rows=rows)
    assert model.config.mixture_components == 2 and torch.equal(model.decoder[0].weight, vae.decoder[0].weight)
    model.save_pretrained(tmp_path)  # buffers in the safetensors file, their sizes in config.json: no pickle
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    loaded = REGISTRY["faces"].cls.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.mixture_means, model.mixture_means)
    torch.testing.assert_close(loaded.attribute_directions, torch.from_numpy(rows).float())
    z = loaded.latents(400, seed=1, density="mixture")
    assert (z.mean(1).abs() - 3).abs().max() < 0.5  # every draw sits in one of the two clusters, none in between
    torch.testing.assert_close(loaded.sample(3, seed=2, density="mixture"), model.sample(3, seed=2, density="mixture"))
    edited = loaded.edit(z[0], "male", [-2.0, 0.0, 1.0])
    torch.testing.assert_close(edited - z[0], torch.tensor([-2.0, 0.0, 1.0])[:, None] * loaded.attribute_directions)
    with pytest.raises(ValueError, match="no 'age' direction; it has: male"):
        loaded.edit(z[0], "age", [1.0])
    with pytest.raises(ValueError, match="no fitted density"):
        vae.sample(1, seed=0, density="mixture")
    with pytest.raises(ValueError, match="unknown density"):
        loaded.sample(1, seed=0, density="posterior")


def test_vae_encodes_decodes_reconstructs_and_morphs_at_its_shapes():
    vae = build_tiny("faces")
    images = vae.sample(3, seed=0)
    codes = vae.codes(images)
    assert codes.shape == (3, 8) and vae.decode(codes).shape == (3, 3, 16, 16)
    recon = vae.reconstruct(images)
    assert recon.shape == images.shape and recon.abs().max() <= 1
    strip = vae.morph(codes[0], codes[1], 5)
    assert strip.shape == (5, 3, 16, 16)
    torch.testing.assert_close(strip[[0, -1]], vae.decode(codes[:2]))  # it starts and ends at the two faces