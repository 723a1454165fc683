"""The page's state machine, TrainingRun: new → training → trained (or failed), rounds that
continue the history, uploads that replace the weights, pause / one step / resume, a
learning-rate change during a run, and the gradient norms it records."""

import time

import numpy as np
import pytest
import torch

from cnnviz import train
from cnnviz.train.scratch import networks
from cnnviz.train.scratch.numpy_learner import NumpyLearner
from cnnviz.train.scratch.numpy_net import scratch_cnn
from cnnviz.train.scratch.numpy_optim import OPTIMIZERS
from cnnviz.train.scratch.session import TrainingRun
from cnnviz.train.scratch.twin import torch_twin


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


def test_pause_step_resume_and_a_learning_rate_change_recorded_in_the_history(split):
    run = TrainingRun(networks.Recipe("numpy", epochs=20), split)
    run.start(max_seconds=120)
    _wait(lambda: run.steps_trained >= 3)
    run.pause()
    _wait(lambda: run.poll().state == "paused")
    held = run.steps_trained
    time.sleep(0.4)
    assert run.steps_trained == held and run.paused and run.training
    run.step()
    _wait(lambda: run.steps_trained == held + 1)
    time.sleep(0.4)
    assert run.steps_trained == held + 1 and run.poll().state == "paused"  # one batch only
    run.set_learning_rate(0.01)
    assert run.learner.optimizer.lr == 0.01
    run.resume()
    _wait(lambda: run.steps_trained >= held + 20)
    run.stop()
    finish(run)
    steps, _ = run.history()
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))  # none lost, in order
    assert {r["lr"] for r in steps if r["step"] <= held + 1} == {1e-3}
    assert {r["lr"] for r in steps if r["step"] > held + 1} == {0.01}
    assert run.rate_changes() == [{"step": held + 2, "lr": 0.01, "from": 1e-3}]
    assert set(steps[-1]["grad_norms"]) == {"conv1", "conv2", "dense"}


def _wait(condition, timeout=60):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_gradient_norms_per_layer_agree_with_pytorch_autograd(split):
    """The NumPy network's per-layer gradient norms against its PyTorch twin's (same weights,
    float64, autograd's gradients), on the same batch."""
    prepare = train.Standardise.fit(split.train.images, np.float64)
    network = scratch_cnn(batch_norm=True, dtype=np.float64)
    twin = torch_twin(network).double()
    mine = NumpyLearner(network, OPTIMIZERS["sgd"](network, lr=0.01), prepare=prepare)
    theirs = train.TorchLearner(twin, torch.optim.SGD(twin.parameters(), lr=0.01),
                                prepare=prepare)
    mine.watch = theirs.watch = True
    x, y = split.train.images[:32], split.train.labels[:32]
    mine.train_step(x, y)
    theirs.train_step(x, y)
    assert set(mine.last_step["grad_norms"]) == set(theirs.last_step["grad_norms"]) == {
        "conv1", "bn1", "conv2", "bn2", "dense"}
    for name, norm in theirs.last_step["grad_norms"].items():
        assert mine.last_step["grad_norms"][name] == pytest.approx(norm, rel=1e-9), name
    assert mine.last_step["lr"] == theirs.last_step["lr"] == 0.01


def test_fewer_training_images_are_a_stratified_sample(split):
    """The page's "Training images": 1,000 of the 3,500 are 100 of each digit, not the first
    1,000 of a shuffled array."""
    run = TrainingRun(networks.Recipe("numpy"), split, train_images=1000)
    assert run.train.counts().tolist() == [100] * 10
    whole = {img.tobytes() for img in split.train.images}
    assert all(img.tobytes() in whole for img in run.train.images)
