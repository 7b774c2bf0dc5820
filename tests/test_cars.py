"""The Cars pipeline's first step: the flip rule for viewpoints, the letterbox framing, the hand-labelled dataset and
the viewpoint classifier's training on it."""

import json

import numpy as np
import pytest
import torch
from datasets import load_dataset
from PIL import Image

from genmodels.classifier import ImageClassifier
from genmodels.registry import CAR_VIEWS, MIRRORED, MIRRORED_IDS
from train import car_views, classifier, evaluate
from train.data import open_stream

from .conftest import png_bytes


def test_a_flip_swaps_left_and_right_and_keeps_front_and_rear():
    assert MIRRORED["front-left"] == "front-right" and MIRRORED["side-right"] == "side-left"
    assert MIRRORED["front"] == "front" and MIRRORED["rear"] == "rear"
    assert all(MIRRORED[MIRRORED[view]] == view for view in CAR_VIEWS)
    assert [CAR_VIEWS[i] for i in MIRRORED_IDS] == [MIRRORED[view] for view in CAR_VIEWS]


def test_the_view_classifier_judges_an_image_and_its_mirror_image_alike():
    from genmodels import build_tiny

    judge = build_tiny("car-views")
    images = torch.randn(5, 3, 16, 16)
    probs, mirrored = judge.predict(images), judge.predict(images.flip(3))
    torch.testing.assert_close(mirrored, probs[:, MIRRORED_IDS])  # front-left for one is front-right for the other
    torch.testing.assert_close(probs.sum(1), torch.ones(5))


def test_letterbox_keeps_a_wide_car_whole():
    car = np.full((30, 96, 3), 128, dtype=np.uint8)
    car[:, :4] = (255, 0, 0)  # the nose
    car[:, -4:] = (0, 0, 255)  # the tail
    square = np.asarray(car_views.letterbox(Image.fromarray(car), 64)).astype(int)
    middle = square[32]
    assert np.abs(middle[0] - (255, 0, 0)).max() < 40 and np.abs(middle[-1] - (0, 0, 255)).max() < 40  # both ends in
    border_mean = np.concatenate([car[0], car[-1], car[:, 0], car[:, -1]]).mean(0)
    assert np.abs(square[0, 32] - border_mean).max() <= 1  # padding above the car is the border's mean colour
    assert square.shape == (64, 64, 3)


def fake_stanford_cars(folder, n: int = 128):
    from datasets import Dataset, Features, Image as ImageFeature, Value

    rng = np.random.default_rng(0)
    files = [f"{i:05d}.jpg" for i in range(n)]
    images = [{"bytes": png_bytes(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)), "path": None} for _ in files]
    features = Features({"image": ImageFeature(), "model": Value("int64"), "file": Value("string")})
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict({"image": images, "model": [0] * n, "file": files}, features=features).to_parquet(
        folder / "data" / "train-00000-of-00001.parquet")
    labelled = files[: n - 8]  # the last 8 images have no hand label
    (folder / "views.csv").write_text("file,view\n" + "".join(f"{f},{CAR_VIEWS[i % 8]}\n" for i, f in enumerate(labelled)))
    return folder


def test_hand_labels_become_a_square_dataset_train_the_view_classifier_and_measure_it(tmp_path, monkeypatch, capsys):
    cars = fake_stanford_cars(tmp_path / "stanford-cars")
    out = tmp_path / "car-views-hand"
    car_views.main(["--dataset", str(cars), "--out", str(out), "--size", "32"])
    rows = list(load_dataset(str(out), split="train", streaming=True))
    assert len(rows) == 120 and {r["image"].size for r in rows} == {(32, 32)}
    assert [r["label"] for r in rows] == [i % 8 for i in range(120)] and rows[3]["file"] == "00003.jpg"
    assert "front 15, front-left 15" in (out / "README.md").read_text()
    classifier.main(["--model", "car-views", "--datasets", str(out), "--max-steps", "2", "--batch-size", "8",
                     "--base-channels", "4", "--feature-dim", "8", "--output-dir", str(tmp_path / "run"),
                     "--weights-dir", str(tmp_path / "weights")])  # fmt: skip
    model = ImageClassifier.from_pretrained(tmp_path / "weights").eval()
    assert model.labels == CAR_VIEWS and model.predict(torch.zeros(2, 3, 64, 64)).shape == (2, 8)
    monkeypatch.setenv("GENMODELS_CAR_VIEWS_PATH", str(tmp_path / "weights"))
    evaluate.main(["--model", "car-views", "--dataset", str(out)])
    card = (tmp_path / "weights" / "README.md").read_text()
    held_out = sum(1 for _ in open_stream(str(out), part="holdout", buffer_size=1))
    matrix = [line for line in card.split("## Confusion matrix")[1].splitlines() if line.startswith("| ") and "true" not in line]
    assert held_out and len(matrix) == 8  # a row per hand label, counting every held-out image and its mirror image
    assert sum(int(cell) for row in matrix for cell in row.strip("| ").split(" | ")[1:]) == 2 * held_out
    assert "| accuracy (macro) |" in card and "| recall, rear |" in card


def test_pseudo_labels_keep_only_sure_views_and_mirror_each_into_the_opposite_view(tmp_path, tiny_models):
    from train import car_dataset

    probs = torch.tensor([[0.69, 0.31] + [0.0] * 6, [0.0, 0.05, 0.0, 0.0, 0.0, 0.0, 0.95, 0.0], [0.125] * 8])
    chosen, views = car_dataset.keep(probs, 0.7)
    assert chosen.tolist() == [False, True, False] and views[1] == CAR_VIEWS.index("rear-right")  # unsure: "unknown"
    cars = fake_stanford_cars(tmp_path / "stanford-cars")
    car_dataset.main(["--datasets", str(cars), "--out", str(tmp_path / "pseudo"), "--threshold", "0"])  # keep all
    rows = list(load_dataset(str(tmp_path / "pseudo"), split="train", streaming=True))
    train_part = sum(1 for _ in open_stream(str(cars), part="train", buffer_size=1))
    assert len(rows) == 2 * train_part  # our held-out part stays out; every photo and its mirror image
    for photo, mirror in zip(rows[::2], rows[1::2]):
        assert not photo["mirrored"] and mirror["mirrored"]
        assert CAR_VIEWS[mirror["label"]] == MIRRORED[CAR_VIEWS[photo["label"]]]
        assert np.array_equal(np.asarray(mirror["image"]), np.asarray(photo["image"])[:, ::-1])
    assert "| view | kept photos | after mirroring |" in (tmp_path / "pseudo" / "README.md").read_text()


def test_cars_gan_smoke_run_resumes_and_ships_a_view_conditional_generator(tmp_path, capsys):
    from genmodels.gan import Generator
    from train import cars

    from .conftest import make_image_dataset, tiny_gan_flags

    data = make_image_dataset(tmp_path / "pseudo", 64, size=16, labels=[i % 8 for i in range(64)], names=CAR_VIEWS)
    common = tiny_gan_flags(data, tmp_path)
    cars.main([*common, "--max-steps", "2", "--view-power", "0.5"])
    # The run resumes with a class head added to its discriminator (AC-GAN's loss): only the head starts fresh.
    # And with LeCam's regulariser, whose anchors start at the first batch's scores and are then checkpointed.
    cars.main([*common, "--max-steps", "3", "--resume", "--aux-weight", "0.3", "--lecam-weight", "0.3"])
    out = capsys.readouterr().out
    assert "discriminator: classifier.weight, classifier.bias not in the checkpoint, start fresh" in out
    assert "lecam: not in the checkpoint, starts fresh" in out
    cars.main([*common, "--max-steps", "4", "--resume", "--aux-weight", "0.3", "--lecam-weight", "0.3"])
    assert "lecam: not in the checkpoint" not in capsys.readouterr().out
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert "cls_real" not in log[0] and "lecam" not in log[1] and {"cls_real", "cls_fake", "lecam"} <= set(log[-1])
    model = Generator.from_pretrained(tmp_path / "weights", torch_dtype=torch.float32).eval()
    assert model.labels == CAR_VIEWS
    rear, front = model.sample(2, seed=0, labels=["rear"] * 2), model.sample(2, seed=0, labels=["front"] * 2)
    assert rear.shape == (2, 3, 16, 16) and not torch.equal(rear, front)  # the view reaches the image
    card = (tmp_path / "weights" / "README.md").read_text()
    assert "python -m train.cars" in card
    assert "| view | kept photos | after mirroring |" in card and "| rear | 8 | 8 |" in card  # 64 photos, 8 per view


def test_cars_are_measured_against_real_images_letterboxed_like_their_training_images(tiny_models, tmp_path):
    from genmodels.base import image_to_tensor
    from train import evaluate
    from train.data import decode_image

    cars = fake_stanford_cars(tmp_path / "stanford-cars", n=6)  # 40x24 crops: wide cars
    pixels = {"pixels": lambda images: images.flatten(1).numpy()}
    for model, frame in (("cars", lambda image: car_views.letterbox(image, 16)), ("cats", lambda image: image)):
        config = evaluate.parse(evaluate.Config, ["--model", model, "--dataset", str(cars), "--skip-inception"])
        real = evaluate.real_features(config, pixels, 16, 3)["pixels"]
        first = decode_image(next(iter(open_stream(str(cars), buffer_size=1)))["image"])
        np.testing.assert_allclose(real[0], image_to_tensor(frame(first), 16).flatten().numpy(), atol=1e-6)


def test_view_fidelity_is_scored_for_every_view(tiny_models, tmp_path):
    from train import evaluate

    cars = fake_stanford_cars(tmp_path / "stanford-cars", n=8)
    config = evaluate.parse(evaluate.Config, ["--model", "cars", "--dataset", str(cars), "--skip-inception", "--num-samples",
                                              "16", "--batch-size", "8", "--classifier", "car-views", "--no-record"])  # fmt: skip
    metrics = evaluate.evaluate(config)
    per_view = [metrics[f"classifier accuracy, generated {view}"] for view in CAR_VIEWS]
    assert all(0 <= v <= 1 for v in per_view)
    assert metrics["classifier accuracy, generated"] == pytest.approx(np.mean(per_view))  # the mean over the eight views


def test_fid_samples_take_the_views_at_their_shares_and_fidelity_still_covers_every_view(tiny_models, tmp_path):
    from train import evaluate

    from .conftest import make_image_dataset

    hand = make_image_dataset(tmp_path / "hand", 8, size=16, labels=[0] * 6 + [7] * 2, names=CAR_VIEWS)  # 3/4 front
    np.testing.assert_allclose(evaluate.label_shares(str(hand), CAR_VIEWS), [0.75, 0, 0, 0, 0, 0, 0, 0.25])
    cars = fake_stanford_cars(tmp_path / "stanford-cars", n=8)
    args = ["--model", "cars", "--dataset", str(cars), "--skip-inception", "--num-samples", "200", "--batch-size", "50",
            "--classifier", "car-views", "--label-shares", str(hand), "--classified-samples", "16", "--no-record"]
    config = evaluate.parse(evaluate.Config, args)
    from genmodels import load

    labels = evaluate.fake_features(load("cars"), config, {}, evaluate.label_shares(str(hand), CAR_VIEWS))["labels"]
    assert set(labels) == {0, 7} and 0.65 < (labels == 0).mean() < 0.85
    metrics = evaluate.evaluate(config)
    assert all(0 <= metrics[f"classifier accuracy, generated {view}"] <= 1 for view in CAR_VIEWS)


def test_docs_show_a_row_per_view_the_walk_around_and_the_training_grids(tiny_models, tmp_path):
    from PIL import Image

    from train import sample_grid

    from .conftest import gif_duration_ms

    (tmp_path / "run" / "samples").mkdir(parents=True)
    for step in (250, 500, 750, 1000):
        Image.new("RGB", (40, 40), (step // 4, 0, 0)).save(tmp_path / "run" / "samples" / f"step-{step:07d}.png")
    out = tmp_path / "cars.png"
    sample_grid.main(["--model", "cars", "--cols", "5", "--walk", "2", "--scale", "1", "--out", str(out),
                      "--training-run", str(tmp_path / "run"), "--training-every", "500"])  # fmt: skip
    assert Image.open(out).size == (5 * 18 + 2, 8 * 18 + 2)  # 16 px cars, 2 px padding: a row per view
    walk = tmp_path / "cars-walk.gif"  # a 2x2 grid of cars turning through the 8 views, 350 ms each
    assert Image.open(walk).size == (2 * 18 + 2, 2 * 18 + 2) and gif_duration_ms(walk) == 8 * 350
    training = Image.open(tmp_path / "cars-training.gif")
    assert training.n_frames == 2 and training.size == (40, 58) and gif_duration_ms(tmp_path / "cars-training.gif") == 800


def test_grouped_batches_and_minibatch_std_see_each_view_on_its_own():
    from genmodels.gan import MinibatchStd
    from train.data import Batches

    stream = [(torch.full((3, 4, 4), float(i % 8)), i % 8) for i in range(400)]
    labels = next(Batches(iter(stream), 32, balance=True, group=4, seed=1))[1]
    assert all(len(set(labels[i : i + 4].tolist())) == 1 for i in range(0, 32, 4)) and len(set(labels.tolist())) > 1
    same_within = torch.repeat_interleave(torch.randn(4, 2, 3, 3), 4, dim=0)  # 4 groups, 4 identical images each
    assert MinibatchStd(4)(same_within)[:, -1].abs().max() == 0  # each run lacks variety: D sees it
    assert MinibatchStd()(same_within)[:, -1].min() > 0  # over the whole batch it looks varied


@pytest.mark.parametrize("power, rare_share", [(0.0, 0.5), (0.5, 0.25), (1.0, 0.1)])
def test_view_power_draws_views_between_uniform_and_their_shares(power, rare_share):
    from train.data import Batches

    stream = [(torch.zeros(1), int(i % 10 == 9)) for i in range(100_000)]  # class 1 is 10% of the stream
    batches = Batches(iter(stream), 64, balance=True, group=4, seed=0, class_power=power)
    labels = torch.cat([next(batches)[1] for _ in range(200)])
    assert abs(labels.float().mean().item() - rare_share) < 0.04  # 0: uniform, 1: its share, 0.5: sqrt(1)/(sqrt(9)+1)
