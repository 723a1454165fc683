"""The chapter's three-phase fine-tuning, run through the shared training loop.

Phase 1 trains only the head, so the frozen backbone computes the same features for an image
every epoch: they are computed once per image and augmented copy (``copies`` random draws of
the augmentation pipeline per training photo) and the head trains on them, which on a CPU is
hundreds of times faster than running the backbone each step. Phases 2 and 3 change the
backbone, so every step runs it on freshly augmented photos.

Every phase keeps the weights with the best validation accuracy seen so far and starts from
them; stopping (the Stop button, the time budget, the job's bounds) ends the run there and
keeps the best weights too. Both paths train through :func:`cnnviz.train.loop.fit` and
:class:`cnnviz.train.TorchLearner`: the loop's batches depend on its seed only, so the cached
and the uncached head-only training see exactly the same batches (``tests/`` compares them).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from cnnviz.train.transfer import augment
from cnnviz.train.transfer.backbone_features import FEATURE_BATCH, eval_inputs, features
from cnnviz.train.transfer.group_split import SplitIndex
from cnnviz.train.jobs import Job
from cnnviz.train.loop import batches_per_epoch, fit
from cnnviz.train.transfer.photo_set import PhotoSet
from cnnviz.train.torch_learner import TorchLearner
from cnnviz.train.transfer.network import PHASE_KEYS, PHASES, TransferNet
from cnnviz.train.transfer.report import Evaluation, evaluate

EVALUATION_SECONDS = 300  # the job's lifetime beyond the training budget, for the test

@dataclass(frozen=True)
class Plan:
    """What to train: which phases, how long, on what."""

    phases: tuple[str, ...] = PHASE_KEYS
    epochs: dict = field(default_factory=lambda: {"head": 5, "last_blocks": 1, "all": 1})
    augmentations: tuple[str, ...] = tuple(augment.TRANSFORMS)
    copies: int = 2  # augmented copies per training photo whose features phase 1 caches
    cache_features: bool = True
    batch_size: int = 8  # phase 3 keeps ~80 MB per photo of a batch for backward (Lite0)
    max_seconds: float = 600.0
    seed: int = 0

    def with_epochs(self, **epochs) -> "Plan":
        return replace(self, epochs={**self.epochs, **epochs})


@dataclass
class PhaseReport:
    key: str
    images: int = 0  # images through the network (each augmented copy counts)
    seconds: float = 0.0
    feature_images: int = 0  # phase 1: images whose features were computed
    feature_seconds: float = 0.0
    ended: str = "finished"

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


@dataclass
class Result:
    net: TransferNet  # in eval mode, with the best weights, parameters frozen
    best_val_accuracy: float
    best_at: str  # "phase key, epoch n"
    reports: list[PhaseReport]
    ended: str  # "finished", "stopped" or "time"
    evaluation: Evaluation | None = None  # on the test split, when the run was asked to test


class PhotoInputs:
    """A ``prepare`` for TorchLearner: integer arrays index training photos, which are
    augmented afresh; float arrays are inputs already prepared (validation) and pass through."""

    def __init__(self, photos: PhotoSet, norm: augment.Normalisation,
                 enabled: tuple[str, ...], rng: np.random.Generator):
        self.photos, self.norm, self.enabled, self.rng = photos, norm, enabled, rng

    def __call__(self, x: np.ndarray):
        if x.dtype.kind not in "iu":
            return x
        return torch.stack([augment.to_input(augment.augment(self.photos.image(int(i)),
                                                             self.rng, self.enabled), self.norm)
                            for i in x])


class PhotoLearner(TorchLearner):
    """TorchLearner scoring at most FEATURE_BATCH photos at a time. The loop validates in
    batches of 500; through a whole backbone that holds the activations of every validation
    photo at once (measured: 1,000-photo run peaking at 4.2 GB, most of it there)."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([super(PhotoLearner, self).logits(x[i:i + FEATURE_BATCH])
                               for i in range(0, len(x), FEATURE_BATCH)])


def augmented_features(net: TransferNet, photos: PhotoSet, index, prepare: PhotoInputs,
                       copies: int, should_stop: Callable[[], bool] = lambda: False,
                       progress: Callable[[int, int], None] | None = None):
    """Features of ``copies`` augmented draws of each photo in ``index``, batch by batch (the
    augmented inputs themselves are never all held at once). Returns (features, labels),
    or None when stopped."""
    order = np.tile(np.asarray(index), copies)
    parts = []
    for start in range(0, len(order), FEATURE_BATCH):
        if should_stop():
            return None
        parts.append(features(net, prepare(order[start:start + FEATURE_BATCH])))
        if progress is not None:
            progress(min(start + FEATURE_BATCH, len(order)), len(order))
    return torch.cat(parts).numpy(), photos.labels[order]


class _Best:
    """Keeps a copy of the weights whenever the validation accuracy beats every earlier epoch."""

    def __init__(self, net: TransferNet):
        self.net, self.accuracy, self.at, self.state = net, -1.0, "", None

    def offer(self, accuracy: float, at: str) -> None:
        if accuracy > self.accuracy:
            self.accuracy, self.at = accuracy, at
            self.state = copy.deepcopy(self.net.state_dict())

    def restore(self) -> None:
        if self.state is not None:
            self.net.load_state_dict(self.state)


class FineTuning:
    """One run of the plan in a background :class:`Job`; the page polls it.

    ``stage`` says what the run is doing now, for the status line; ``job.poll()`` has the
    loop's records, each with the phase's ``key`` added and ``step`` counted over the run.
    """

    def __init__(self, net: TransferNet, photos: PhotoSet, split: SplitIndex,
                 norm: augment.Normalisation, plan: Plan, *, test: bool = True):
        self.net, self.photos, self.split, self.norm, self.plan = net, photos, split, norm, plan
        self.test = test
        self._stage = "waiting"
        self._lock = threading.Lock()
        self.job: Job | None = None

    @property
    def stage(self) -> str:
        with self._lock:
            return self._stage

    def _say(self, text: str) -> None:
        with self._lock:
            self._stage = text

    def start(self, **job_kwargs) -> "FineTuning":
        self.job = Job(self.run, max_seconds=self.plan.max_seconds + EVALUATION_SECONDS, **job_kwargs).start()
        return self

    def _copies(self, phase_key: str) -> int:
        """Phase 1 sees each training photo ``copies`` times an epoch, augmented each time."""
        return self.plan.copies if phase_key == "head" else 1

    def total_steps(self) -> int:
        n = len(self.split.train)
        per_epoch = {key: batches_per_epoch(n * self._copies(key), self.plan.batch_size)
                     for key in PHASE_KEYS}
        return sum(per_epoch[k] * self.plan.epochs[k] for k in self.plan.phases)

    def run(self, job: Job | None = None) -> Result:
        """Train the plan's phases in order (called by the job, or directly)."""
        plan, net = self.plan, self.net
        callbacks = job.callbacks() if job is not None else {}
        should_stop = callbacks.get("should_stop", lambda: False)
        start = time.perf_counter()
        rng = np.random.default_rng(plan.seed)
        prepare = PhotoInputs(self.photos, self.norm, plan.augmentations, rng)
        self._say("Preparing the validation photos")
        val_inputs = eval_inputs(self.photos, self.split.validation, self.norm)
        val_y = self.photos.labels[self.split.validation]
        best, reports, offset, ended = _Best(net), [], 0, "finished"
        total = self.total_steps()
        for phase in PHASES:
            if phase.key not in plan.phases:
                continue
            remaining = plan.max_seconds - (time.perf_counter() - start)
            if ended != "finished" or remaining <= 0:
                ended = ended if ended != "finished" else "time"
                break
            report = PhaseReport(phase.key)
            reports.append(report)
            net.set_phase(phase.key)
            epochs = plan.epochs[phase.key]
            trainable = [p for p in net.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(trainable, lr=phase.learning_rate)
            cached = phase.key == "head" and plan.cache_features
            if cached:
                doing = (f"{phase.title}: computing the frozen backbone's features of "
                         f"{plan.copies} augmented copies of each training photo")
                self._say(doing)
                t0 = time.perf_counter()
                data = augmented_features(
                    net, self.photos, self.split.train, prepare, plan.copies, should_stop,
                    lambda done, total: self._say(f"{doing} ({done:,} of {total:,})"))
                report.feature_seconds = time.perf_counter() - t0
                if data is None:
                    ended = report.ended = "stopped"
                    break
                x, y = data
                report.feature_images = len(y)
                validation = (features(net, val_inputs).numpy(), val_y)
                learner = TorchLearner(net.head, optimizer)
            else:
                x = np.tile(self.split.train, self._copies(phase.key))
                y = self.photos.labels[x]
                validation = (val_inputs.numpy(), val_y)
                learner = PhotoLearner(net, optimizer, prepare=prepare)
            steps_per_epoch = batches_per_epoch(len(y), plan.batch_size)
            scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=epochs * steps_per_epoch) if phase.cosine else None)
            self._say(f"{phase.title}, learning rate {phase.learning_rate:g}"
                      + (" with cosine annealing" if phase.cosine else "")
                      + (" (on cached features)" if cached else ""))

            def on_step(record, phase=phase, offset=offset, scheduler=scheduler):
                if scheduler is not None:
                    scheduler.step()
                if "on_step" in callbacks:
                    callbacks["on_step"]({**record, "phase": phase.key,
                                          "step": offset + record["step"], "total_steps": total})

            def on_epoch(record, phase=phase, offset=offset):
                best.offer(record["val_accuracy"], f"{phase.key}, epoch {record['epoch']}")
                if "on_epoch" in callbacks:
                    callbacks["on_epoch"]({**record, "phase": phase.key,
                                           "step": offset + record["step"], "total_steps": total})

            t0 = time.perf_counter()
            history = fit(learner, x, y, validation=validation, epochs=epochs,
                          batch_size=plan.batch_size, seed=plan.seed + len(reports),
                          max_seconds=remaining, on_step=on_step, on_epoch=on_epoch,
                          should_stop=should_stop)
            report.seconds = time.perf_counter() - t0
            report.images = len(history.steps) * plan.batch_size
            report.ended = ended = history.ended
            offset += len(history.steps)
            best.restore()
        net.requires_grad_(False)
        net.eval()
        result = Result(net, best.accuracy, best.at, reports, ended)
        if self.test:
            self._say(f"Testing on {len(self.split.test)} photos the network never saw")
            result.evaluation = evaluate(net, self.photos, self.split.test, self.norm,
                                         seed=plan.seed)
        self._say("Done" if ended == "finished" else f"Ended early ({ended}); kept the best "
                                                     f"weights")
        return result
