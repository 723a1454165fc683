"""One student's network on the training page: built, trained in rounds, stopped, evaluated.

The page keeps one :class:`TrainingRun` in its session state and asks it what to draw; the
state machine (new → training → trained, or failed) lives here, where it is tested, not in
the page. Pressing Start again trains more epochs from the weights so far, and the history
goes on from where it stopped.
"""

from __future__ import annotations

import numpy as np

from cnnviz.train.scratch import networks
from cnnviz.train.evaluation import confusion_matrix
from cnnviz.train.jobs import (
    DEFAULT_IDLE_SECONDS,
    MAX_EPOCHS,
    Job,
    JobLimitError,
    Snapshot,
)
from cnnviz.train.loop import fit, predict
from cnnviz.train.scratch.networks import Recipe
from cnnviz.train.offline_mnist import Split, Standardise, stratified_sample


class TrainingRun:
    def __init__(self, recipe: Recipe, split: Split, *, data_name: str = "subset",
                 train_images: int | None = None, device=None):
        self.recipe, self.split, self.data_name = recipe, split, data_name
        self.train = (split.train if train_images is None
                      else stratified_sample(split.train, train_images, seed=recipe.seed))
        self.prepare = Standardise.fit(self.train.images)
        self.shape = self.prepare(self.train.images[:1]).shape[1:]
        self.learner = networks.build_learner(recipe, self.prepare, shape=self.shape,
                                              device=device)
        self.job: Job | None = None
        self._steps: list[dict] = []  # the finished rounds' records
        self._epochs: list[dict] = []
        self._results = None  # (probabilities on the test set, steps they belong to)
        self.loaded_from: str | None = None  # the file name, when the weights were uploaded
        self.device = device

    @property
    def settings(self) -> tuple:
        """What the run was built from: (recipe, data set name, training images)."""
        return self.recipe, self.data_name, len(self.train)

    # ----- training -----
    def start(self, *, max_seconds: float, idle_seconds: float = DEFAULT_IDLE_SECONDS) -> Job:
        """Train ``recipe.epochs`` more epochs in the background, from the current weights."""
        if self.training:
            return self.job
        if self.recipe.epochs > MAX_EPOCHS:
            raise JobLimitError(f"at most {MAX_EPOCHS} epochs per round")
        self._absorb()
        step0 = self._steps[-1]["step"] if self._steps else 0
        epoch0 = self._steps[-1]["epoch"] if self._steps else 0
        seed = self.recipe.seed + epoch0  # new batches in a new round, reproducibly

        def shifted(record):
            return {**record, "step": record["step"] + step0, "epoch": record["epoch"] + epoch0,
                    "total_steps": record["total_steps"] + step0}

        def work(job: Job):
            return fit(self.learner, self.train.images, self.train.labels,
                       validation=(self.split.validation.images, self.split.validation.labels),
                       epochs=self.recipe.epochs, batch_size=self.recipe.batch_size, seed=seed,
                       on_step=lambda r: job.on_step(shifted(r)),
                       on_epoch=lambda r: job.on_epoch(shifted(r)), should_stop=job.should_stop)

        self.job = Job(work, max_seconds=max_seconds, idle_seconds=idle_seconds).start()
        return self.job

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    @property
    def training(self) -> bool:
        return self.job is not None and not self.job.poll().done

    def poll(self) -> Snapshot | None:
        return None if self.job is None else self.job.poll()

    def _absorb(self) -> None:
        """Move a finished round's records into the run's history."""
        if self.job is not None and self.job.poll().done:
            snap = self.job.poll()
            self._steps += snap.steps
            self._epochs += snap.epochs
            self.job = None

    def history(self) -> tuple[list[dict], list[dict]]:
        """Every step and epoch record so far, the running round's included."""
        snap = self.poll()
        if snap is None:
            return self._steps, self._epochs
        return self._steps + snap.steps, self._epochs + snap.epochs

    @property
    def state(self) -> str:
        """``new`` (no step yet), ``training``, ``trained`` or ``failed`` (the last round)."""
        snap = self.poll()
        if snap is not None and not snap.done:
            return "training"
        if snap is not None and snap.state == "failed":
            return "failed"
        return "trained" if self.history()[0] or self.loaded_from else "new"

    # ----- after training -----
    def replace_learner(self, learner, name: str) -> None:
        """Weights from the uploaded file ``name``; the history no longer describes them."""
        if self.training:
            raise RuntimeError("stop the training before loading other weights")
        self.learner, self.job, self._steps, self._epochs = learner, None, [], []
        self._results, self.loaded_from = None, name

    def test_probabilities(self) -> np.ndarray:
        """Class probabilities for every test image, computed once per trained state."""
        key = (id(self.learner), len(self.history()[0]))
        if self._results is None or self._results[1] != key:
            self._results = (predict(self.learner, self.split.test.images), key)
        return self._results[0]

    def test_accuracy(self) -> float:
        return float((self.test_probabilities().argmax(1) == self.split.test.labels).mean())

    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.split.test.labels, self.test_probabilities().argmax(1),
                                len(self.split.test.classes))
