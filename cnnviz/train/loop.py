"""The one training loop: epochs of shuffled mini-batches, with callbacks, for any model.

The page, the CLI, the benchmarks and the tests all call :func:`fit`, whatever trains: the
NumPy network from scratch, its PyTorch twin, the chapter's MNISTConvNet, a ResNet, or a new
head on a pretrained backbone. A model takes part through a small adapter, a :class:`Learner`
(``TorchLearner`` wraps any ``nn.Module`` and optimiser). The loop shuffles with its own seed,
so two learners given the same seed see exactly the same batches.

Records are plain dicts, ready for JSON and for charts:

- after every step: ``{"step", "epoch", "loss", "accuracy", "seconds", "total_steps"}``, where
  ``loss`` and ``accuracy`` are the batch's, ``step`` counts from 1 over the whole run,
  ``epoch`` from 1, and ``seconds`` is the time since ``fit`` started;
- after every epoch (and after the last, partial one when training stops early): the same keys
  with the epoch's mean training ``loss`` and ``accuracy``, plus ``val_loss`` and
  ``val_accuracy`` when validation data is given.

Callbacks: ``on_step(record)``, ``on_epoch(record)``, ``should_stop() -> bool`` (asked before
every step; :class:`cnnviz.train.jobs.Job` provides all three). ``max_seconds`` ends training
after that much time. Stopping keeps whatever the learner has learnt so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


class Learner(Protocol):
    """What the loop needs from a model: a training step, and class scores without training."""

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """One optimiser step on a batch; returns its mean loss and how many it got right."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Class scores (N, classes) in evaluation mode (batch norm's running statistics, no
        dropout), with no effect on the weights."""


class Thinned(list):
    """A list that keeps at most ``limit`` of the items appended to it, evenly spread: when
    full, every other item goes and from then on only every other one is kept (the stride
    doubles), so a long run's curve keeps its shape in bounded memory."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit, self.stride, self.seen = limit, 1, 0

    def append(self, item) -> None:
        if self.seen % self.stride == 0:
            super().append(item)
            if len(self) > self.limit:
                self.stride *= 2
                self[:] = self[::2]  # those appended at multiples of the stride
        self.seen += 1


@dataclass
class History:
    """What :func:`fit` returns: every step's and every epoch's record, and why it ended
    (``"finished"``, ``"stopped"`` on request, or ``"time"`` when ``max_seconds`` ran out)."""

    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    ended: str = "finished"
    seconds: float = 0.0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def predict(learner: Learner, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Class probabilities (N, classes) for all of ``x``, a batch at a time."""
    scores = [learner.logits(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.exp(log_softmax(np.concatenate(scores).astype(np.float64)))


def evaluate(learner: Learner, x: np.ndarray, y: np.ndarray,
             batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of the learner on (x, y), in evaluation mode."""
    probs = predict(learner, x, batch_size)
    loss = -np.log(np.maximum(probs[np.arange(len(y)), y], 1e-300)).mean()
    return float(loss), float((probs.argmax(axis=1) == y).mean())


def batches_per_epoch(n: int, batch_size: int) -> int:
    """Full batches only (a last, smaller batch is dropped; its images come up in other
    epochs), but never fewer than one."""
    return max(n // batch_size, 1)


def fit(learner: Learner, x: np.ndarray, y: np.ndarray, *,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        epochs: int = 1, batch_size: int = 64, seed: int = 0,
        max_seconds: float | None = None,
        on_step: Callable[[dict], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        step_records: int | None = None) -> History:
    """Train ``learner`` on (x, y) for ``epochs`` epochs of shuffled mini-batches.

    ``x`` is whatever the learner's ``train_step`` takes, indexed along its first axis (the
    learners here take uint8 images or float arrays), ``y`` integer labels. ``step_records``
    keeps at most that many step records in the History, evenly thinned (``Thinned``).
    """
    if epochs < 1 or batch_size < 1 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need epochs ≥ 1, batch_size ≥ 1 and as many labels as images "
                         f"(got epochs={epochs}, batch_size={batch_size}, {len(x)} images, "
                         f"{len(y)} labels)")
    per_epoch = batches_per_epoch(len(y), batch_size)
    total = epochs * per_epoch
    rng = np.random.default_rng(seed)
    history = History()
    if step_records is not None:
        history.steps = Thinned(step_records)
    start = time.perf_counter()
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y))
        losses, correct, seen = [], 0, 0
        for b in range(per_epoch):
            if should_stop is not None and should_stop():
                history.ended = "stopped"
            elif max_seconds is not None and time.perf_counter() - start >= max_seconds:
                history.ended = "time"
            if history.ended != "finished":
                break
            index = order[b * batch_size:(b + 1) * batch_size]
            loss, right = learner.train_step(x[index], y[index])
            step += 1
            losses.append(loss)
            correct, seen = correct + right, seen + len(index)
            record = {"step": step, "epoch": epoch, "loss": float(loss),
                      "accuracy": right / len(index), "seconds": time.perf_counter() - start,
                      "total_steps": total}
            if not math.isfinite(record["loss"]):
                raise FloatingPointError(f"the loss became {loss} at step {step}: the "
                                         "learning rate is probably too high")
            history.steps.append(record)
            if on_step is not None:
                on_step(record)
        if seen:
            record = {"step": step, "epoch": epoch, "loss": float(np.mean(losses)),
                      "accuracy": correct / seen, "total_steps": total}
            if validation is not None:
                record["val_loss"], record["val_accuracy"] = evaluate(learner, *validation)
            record["seconds"] = time.perf_counter() - start
            history.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record)
        if history.ended != "finished":
            break
    history.seconds = time.perf_counter() - start
    return history
