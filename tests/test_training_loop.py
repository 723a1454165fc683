"""The one training loop drives a real PyTorch network on the offline MNIST subset: it learns,
shuffles reproducibly, stops when asked or out of time, and keeps what it learnt."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz import train


def small_cnn(seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


@pytest.fixture(scope="module")
def split():
    return train.mnist_split(seed=0)


def learner_for(split, seed=0, lr=1e-3, optimizer=torch.optim.Adam):
    model = small_cnn(seed)
    return train.TorchLearner(model, optimizer(model.parameters(), lr=lr),
                              prepare=train.Standardise.fit(split.train.images))


class Recording:
    """A real learner that also remembers the labels of every batch it was given."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def train_step(self, x, y):
        self.seen.append(y.copy())
        return self.inner.train_step(x, y)

    def logits(self, x):
        return self.inner.logits(x)


def test_a_short_training_beats_chance_by_far_and_records_every_step(split):
    torch.set_num_threads(1)
    learner = learner_for(split)
    steps, epochs = [], []
    history = train.fit(learner, split.train.images, split.train.labels,
                        validation=(split.validation.images, split.validation.labels),
                        epochs=2, batch_size=64, on_step=steps.append, on_epoch=epochs.append)
    assert history.ended == "finished"
    assert [r["step"] for r in steps] == list(range(1, 2 * (3500 // 64) + 1))
    assert steps == history.steps and epochs == history.epochs
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(epochs[-1])
    assert epochs[-1]["val_accuracy"] > 0.8  # chance is 0.1
    assert np.mean([r["loss"] for r in steps[-10:]]) < 0.5 * steps[0]["loss"]
    test_loss, test_acc = train.evaluate(learner, split.test.images, split.test.labels)
    assert test_acc > 0.8
    # the loop's evaluation agrees with PyTorch's own cross-entropy on the same logits
    model = learner.model.eval()
    with torch.no_grad():
        x = torch.as_tensor(learner.prepare(split.test.images))
        reference = F.cross_entropy(model(x), torch.as_tensor(split.test.labels))
    assert test_loss == pytest.approx(float(reference), rel=1e-5)


def test_the_same_seed_gives_the_same_batches_and_every_image_once_per_epoch(split):
    x, y = split.validation.images, split.validation.labels  # 500 digits: quick
    a, b, c = (Recording(learner_for(split)) for _ in range(3))
    train.fit(a, x, y, epochs=2, batch_size=50, seed=7)
    train.fit(b, x, y, epochs=2, batch_size=50, seed=7)
    train.fit(c, x, y, epochs=2, batch_size=50, seed=8)
    assert all(np.array_equal(p, q) for p, q in zip(a.seen, b.seen))
    assert not all(np.array_equal(p, q) for p, q in zip(a.seen, c.seen))
    first_epoch = np.concatenate(a.seen[:10])
    assert np.array_equal(np.bincount(first_epoch), np.bincount(y))  # a permutation


def test_stop_request_ends_at_once_and_keeps_the_weights_learnt(split):
    learner = learner_for(split)
    before = [p.detach().clone() for p in learner.model.parameters()]
    calls = []
    history = train.fit(learner, split.train.images, split.train.labels, epochs=3,
                        should_stop=lambda: calls.append(1) or len(calls) > 5)
    assert history.ended == "stopped" and len(history.steps) == 5
    assert len(history.epochs) == 1 and history.epochs[0]["step"] == 5  # the partial epoch
    assert any(not torch.equal(b, p) for b, p in zip(before, learner.model.parameters()))


def test_max_seconds_ends_training(split):
    history = train.fit(learner_for(split), split.train.images, split.train.labels,
                        epochs=3, max_seconds=0)
    assert history.ended == "time" and history.steps == [] and history.epochs == []


def test_bad_arguments_and_a_diverging_loss_are_reported(split):
    learner = learner_for(split, lr=1e30, optimizer=torch.optim.SGD)
    with pytest.raises(ValueError, match="as many labels"):
        train.fit(learner, split.train.images, split.train.labels[:10])
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.fit(learner, split.train.images, split.train.labels, epochs=5)


def test_standardise_gives_zero_mean_unit_variance_like_the_chapter(split):
    norm = train.Standardise.fit(split.train.images)
    assert norm.mean[0] == pytest.approx(0.1307, abs=0.01)  # transforms.Normalize((0.1307,),
    assert norm.std[0] == pytest.approx(0.3081, abs=0.01)   #                      (0.3081,))
    x = norm(split.train.images)
    assert x.dtype == np.float32 and x.shape == (3500, 1, 28, 28)
    assert abs(x.mean()) < 1e-4 and x.std() == pytest.approx(1, abs=1e-4)
