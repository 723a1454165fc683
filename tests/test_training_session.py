"""The page's state machine, TrainingRun: new → training → trained (or failed), rounds that
continue the history, uploads that replace the weights."""

import time

import pytest
import torch

from cnnviz import train
from cnnviz.train.scratch import networks
from cnnviz.train.scratch.session import TrainingRun


@pytest.fixture(scope="module")
def split():
    return train.mnist_split(seed=0)


def finish(run):
    end = time.monotonic() + 120
    while run.training:
        assert time.monotonic() < end
        time.sleep(0.05)


def test_rounds_continue_the_history_and_the_weights(split):
    torch.set_num_threads(1)
    run = TrainingRun(networks.Recipe("twin", epochs=1, batch_size=50), split, train_images=1000)
    assert run.state == "new" and run.settings[2] == 1000 and run.poll() is None
    run.start(max_seconds=60)
    assert run.state in ("training", "trained")
    finish(run)
    assert run.state == "trained"
    first = run.test_accuracy()
    run.start(max_seconds=60)
    finish(run)
    steps, epochs = run.history()
    assert [r["step"] for r in steps] == list(range(1, 41))  # 20 + 20, numbered on
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert run.test_accuracy() > max(first - 0.05, 0.5)  # trained further, not from scratch
    confusion = run.confusion()
    assert confusion.sum() == len(split.test) and confusion.trace() == round(
        run.test_accuracy() * len(split.test))


def test_a_diverging_round_is_failed_and_says_why(split):
    run = TrainingRun(networks.Recipe("twin", optimizer="sgd", lr=1e30, epochs=1), split,
                      train_images=500)
    run.start(max_seconds=60)
    finish(run)
    assert run.state == "failed" and "learning rate" in run.poll().error


def test_uploaded_weights_replace_the_network_and_its_history(split):
    run = TrainingRun(networks.Recipe("numpy", epochs=1), split, train_images=640)
    run.start(max_seconds=60)
    finish(run)
    other = networks.build_learner(networks.Recipe("numpy", seed=5), run.prepare)
    run.replace_learner(other, "other.npz")
    assert run.state == "trained" and run.history() == ([], []) and run.learner is other
    assert run.test_accuracy() < 0.3  # untrained weights: the results follow the new network


def test_fewer_training_images_are_a_stratified_sample(split):
    """The page's "Training images": 1,000 of the 3,500 are 100 of each digit, not the first
    1,000 of a shuffled array."""
    run = TrainingRun(networks.Recipe("numpy"), split, train_images=1000)
    assert run.train.counts().tolist() == [100] * 10
    whole = {img.tobytes() for img in split.train.images}
    assert all(img.tobytes() in whole for img in run.train.images)
