"""The chapter's three-phase fine-tuning, run through the shared training loop.

Phase 1 trains only the head, so the frozen backbone computes the same features for an image
every epoch: they are computed once per image and augmented copy (``copies`` random draws of
the augmentation pipeline per training photo) and the head trains on them, which on a CPU is
hundreds of times faster than running the backbone each step. Phases 2 and 3 change the
backbone, so every step runs it on freshly augmented photos.

Every phase keeps the weights with the best validation accuracy seen so far and starts from
them; stopping (the Stop button, the time budget, the job's bounds) ends the run there and
keeps the best weights too, or no model at all when it came before the first validation.
The time budget covers everything the run does: preparing the validation photos, computing
features, training and the test, for which it keeps the time the measured rate says the test
needs (and tests a random sample of the test photos when less is left). ``progress()`` says
which part of the run is going on, how far it is and how long it will take at the rate
measured in that part. Both paths train through :func:`cnnviz.train.loop.fit` and
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
from cnnviz.train.transfer.report import TIMED_IMAGES, Evaluation, evaluate

GRACE_SECONDS = 60  # the job's lifetime beyond the budget: the run ends itself before
TEST_MARGIN = 1.25  # time kept for the test over what the measured rate says it takes
FEATURES_TITLE = "{}: computing the frozen backbone's features"


@dataclass(frozen=True)
class Plan:
    """What to train: which phases, how long, on what."""

    phases: tuple[str, ...] = PHASE_KEYS
    epochs: dict = field(default_factory=lambda: {"head": 5, "last_blocks": 1, "all": 1})
    augmentations: tuple[str, ...] = tuple(augment.TRANSFORMS)
    copies: int = 2  # augmented copies per training photo whose features phase 1 caches
    cache_features: bool = True
    batch_size: int = 8  # phase 3 keeps ~80 MB per photo of a batch for backward (Lite0)
    max_seconds: float = 600.0  # the whole run's budget, the test included
    seed: int = 0
    frozen_batch_norm: bool = True  # see TransferNet; measured in bench/bench_transfer_bn.py

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
    net: TransferNet | None  # in eval mode, with the best weights; None if never validated
    best_val_accuracy: float
    best_at: str  # "Phase 1: the new head only, epoch 3"
    reports: list[PhaseReport]
    ended: str  # "finished", "stopped" or "time"
    evaluation: Evaluation | None = None  # on the test split, when the run was asked to test


@dataclass(frozen=True)
class Progress:
    """Where a run is: part ``part`` of ``parts`` (``title``), ``done`` of ``total``
    ``unit`` after ``seconds`` in this part."""

    part: int
    parts: int
    title: str
    done: int
    total: int
    unit: str
    seconds: float
    detail: str = ""  # "epoch 2 of 5"

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Time to the end of this part at the rate measured in it (None before the first
        unit is done)."""
        if not self.done or self.seconds <= 0:
            return None
        return (self.total - self.done) * self.seconds / self.done


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


def batched(make: Callable[[np.ndarray], torch.Tensor], order: np.ndarray,
            should_stop: Callable[[], bool] = lambda: False,
            progress: Callable[[int, int], None] | None = None) -> torch.Tensor | None:
    """``make`` applied to ``order`` FEATURE_BATCH at a time and concatenated, asking
    ``should_stop`` before each batch (None when it said yes)."""
    parts = []
    for start in range(0, len(order), FEATURE_BATCH):
        if should_stop():
            return None
        parts.append(make(order[start:start + FEATURE_BATCH]))
        if progress is not None:
            progress(min(start + FEATURE_BATCH, len(order)), len(order))
    return torch.cat(parts) if parts else torch.empty(0)


def augmented_features(net: TransferNet, photos: PhotoSet, index, prepare: PhotoInputs,
                       copies: int, should_stop: Callable[[], bool] = lambda: False,
                       progress: Callable[[int, int], None] | None = None):
    """Features of ``copies`` augmented draws of each photo in ``index``, batch by batch (the
    augmented inputs themselves are never all held at once). Returns (features, labels),
    or None when stopped."""
    order = np.tile(np.asarray(index), copies)
    feats = batched(lambda part: features(net, prepare(part)), order, should_stop, progress)
    return None if feats is None else (feats.numpy(), photos.labels[order])


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


def stratified_sample(labels: np.ndarray, index: np.ndarray, size: int,
                      seed: int) -> np.ndarray:
    """``size`` of the photos at ``index``, each class in its share (at least one each)."""
    if size >= len(index):
        return index
    rng = np.random.default_rng(seed)
    classes = np.unique(labels[index])
    chosen = []
    for c in classes:
        members = rng.permutation(index[labels[index] == c])
        chosen.extend(members[:max(1, round(size * len(members) / len(index)))])
    return np.sort(np.asarray(chosen, dtype=index.dtype))


class FineTuning:
    """One run of the plan in a background :class:`Job`; the page polls it.

    ``progress()`` says what the run is doing now, for the progress bar; ``job.poll()`` has
    the loop's records, each with the phase's ``key`` added and ``step`` counted over the run.
    """

    def __init__(self, net: TransferNet, photos: PhotoSet, split: SplitIndex,
                 norm: augment.Normalisation, plan: Plan, *, test: bool = True):
        self.net, self.photos, self.split, self.norm, self.plan = net, photos, split, norm, plan
        self.test = test
        self._lock = threading.Lock()
        self._progress = Progress(0, len(self.parts()), "Waiting to start", 0, 0, "", 0.0)
        self._part_started = time.perf_counter()
        self.job: Job | None = None

    def parts(self) -> list[str]:
        """The titles of the run's parts, in order."""
        titles = ["Preparing the validation photos"]
        for phase in PHASES:
            if phase.key in self.plan.phases:
                if phase.key == "head" and self.plan.cache_features:
                    titles.append(FEATURES_TITLE.format(phase.title))
                titles.append(f"{phase.title}: training")
        return titles + (["Testing on photos the network never saw"] if self.test else [])

    def progress(self) -> Progress:
        with self._lock:
            return replace(self._progress, seconds=time.perf_counter() - self._part_started
                           if self._progress.part else 0.0)

    def _begin(self, title: str, total: int, unit: str) -> None:
        with self._lock:
            self._progress = Progress(self.parts().index(title) + 1, len(self.parts()), title, 0,
                                      total, unit, 0.0)
            self._part_started = time.perf_counter()

    def _advance(self, done: int, detail: str = "") -> None:
        with self._lock:
            self._progress = replace(self._progress, done=done, detail=detail)

    def start(self, **job_kwargs) -> "FineTuning":
        self.job = Job(self.run, max_seconds=self.plan.max_seconds + GRACE_SECONDS,
                       **job_kwargs).start()
        return self

    def _copies(self, phase_key: str) -> int:
        """Phase 1 sees each training photo ``copies`` times an epoch, augmented each time."""
        return self.plan.copies if phase_key == "head" else 1

    def _steps(self, key: str) -> int:
        return self.plan.epochs[key] * batches_per_epoch(
            len(self.split.train) * self._copies(key), self.plan.batch_size)

    def total_steps(self) -> int:
        return sum(self._steps(k) for k in self.plan.phases)

    def run(self, job: Job | None = None) -> Result:
        """Train the plan's phases in order and test (called by the job, or directly)."""
        plan, net = self.plan, self.net
        callbacks = job.callbacks() if job is not None else {}
        should_stop = callbacks.get("should_stop", lambda: False)
        start = time.perf_counter()
        deadline = start + plan.max_seconds
        rng = np.random.default_rng(plan.seed)
        prepare = PhotoInputs(self.photos, self.norm, plan.augmentations, rng)
        net.frozen_batch_norm = plan.frozen_batch_norm
        net.set_phase("head")
        best, reports, offset, ended = _Best(net), [], 0, "finished"

        # The validation photos, prepared once; the time they take per photo is what a test
        # photo will take, so the test's share of the budget is known from here on.
        val_index = np.asarray(self.split.validation)
        self._begin(self.parts()[0], len(val_index), "photos")
        t0 = time.perf_counter()
        out_of_time = lambda: time.perf_counter() >= deadline  # noqa: E731
        val_inputs = batched(lambda part: eval_inputs(self.photos, part, self.norm), val_index,
                             lambda: should_stop() or out_of_time(), self._advance)
        val_features = None if val_inputs is None else batched(
            lambda part: features(net, val_inputs[part]), np.arange(len(val_index)),
            lambda: should_stop() or out_of_time())
        if val_features is None:
            ended = "stopped" if should_stop() else "time"
        seconds_per_photo = (time.perf_counter() - t0) / max(len(val_index), 1)
        test_seconds = (len(self.split.test) + TIMED_IMAGES) * seconds_per_photo * TEST_MARGIN
        train_deadline = deadline - (min(test_seconds, 0.5 * plan.max_seconds)
                                     if self.test else 0.0)
        stop_training = lambda: should_stop() or time.perf_counter() >= train_deadline  # noqa: E731
        val_y = self.photos.labels[val_index]
        total = self.total_steps()
        for phase in PHASES:
            if phase.key not in plan.phases or ended != "finished":
                continue
            remaining = train_deadline - time.perf_counter()
            if remaining <= 0:
                ended = "time"
                break
            report = PhaseReport(phase.key)
            reports.append(report)
            net.set_phase(phase.key)
            epochs = plan.epochs[phase.key]
            trainable = [p for p in net.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(trainable, lr=phase.learning_rate)
            cached = phase.key == "head" and plan.cache_features
            if cached:
                self._begin(FEATURES_TITLE.format(phase.title),
                            len(self.split.train) * plan.copies, "images")
                t0 = time.perf_counter()
                data = augmented_features(net, self.photos, self.split.train, prepare,
                                          plan.copies, stop_training, self._advance)
                report.feature_seconds = time.perf_counter() - t0
                if data is None:
                    ended = report.ended = "stopped" if should_stop() else "time"
                    break
                x, y = data
                report.feature_images = len(y)
                validation = (val_features.numpy(), val_y)
                learner = TorchLearner(net.head, optimizer)
            else:
                x = np.tile(self.split.train, self._copies(phase.key))
                y = self.photos.labels[x]
                validation = (val_inputs.numpy(), val_y)
                learner = PhotoLearner(net, optimizer, prepare=prepare)
            steps_per_epoch = batches_per_epoch(len(y), plan.batch_size)
            scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=epochs * steps_per_epoch) if phase.cosine else None)
            self._begin(f"{phase.title}: training", epochs * steps_per_epoch, "steps")

            def on_step(record, phase=phase, offset=offset, scheduler=scheduler, epochs=epochs):
                if scheduler is not None:
                    scheduler.step()
                self._advance(record["step"], f"epoch {record['epoch']} of {epochs}")
                if "on_step" in callbacks:
                    callbacks["on_step"]({**record, "phase": phase.key,
                                          "step": offset + record["step"], "total_steps": total})

            def on_epoch(record, phase=phase, offset=offset):
                best.offer(record["val_accuracy"], f"{phase.title}, epoch {record['epoch']}")
                if "on_epoch" in callbacks:
                    callbacks["on_epoch"]({**record, "phase": phase.key,
                                           "step": offset + record["step"], "total_steps": total})

            t0 = time.perf_counter()
            history = fit(learner, x, y, validation=validation, epochs=epochs,
                          batch_size=plan.batch_size, seed=plan.seed + len(reports),
                          max_seconds=train_deadline - time.perf_counter(), on_step=on_step,
                          on_epoch=on_epoch, should_stop=should_stop)
            report.seconds = time.perf_counter() - t0
            report.images = len(history.steps) * plan.batch_size
            report.ended = ended = history.ended
            offset += len(history.steps)
            best.restore()
        net.requires_grad_(False)
        net.eval()
        if best.state is None:  # stopped before the first validation: nothing worth keeping
            return Result(None, best.accuracy, best.at, reports, ended)
        result = Result(net, best.accuracy, best.at, reports, ended)
        if self.test:
            title = self.parts()[-1]
            left = deadline - time.perf_counter() - TIMED_IMAGES * seconds_per_photo
            index = stratified_sample(self.photos.labels, np.asarray(self.split.test),
                                max(int(left / (seconds_per_photo * TEST_MARGIN)), 1),
                                plan.seed)
            self._begin(title, len(index), "photos")
            result.evaluation = evaluate(net, self.photos, index, self.norm, seed=plan.seed,
                                         planned=len(self.split.test))
            self._advance(len(index))
        return result
