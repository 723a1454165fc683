"""One student's network on the training page: built, trained in rounds, paused, stepped,
stopped, evaluated, and watched while it learns.

The page keeps one :class:`TrainingRun` in its session state and asks it what to draw; the
state machine (new → training → trained, or failed) lives here, where it is tested, not in
the page. Pressing Start again trains more epochs from the weights so far, and the history
goes on from where it stopped. The history is bounded however long the run (step records
thinned to ``jobs.MAX_STEP_RECORDS``, the last learning-rate changes): each step's record
carries its learning rate and every layer's gradient norm, and learning-rate changes made
during a run are kept as events for the curves.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from cnnviz.train.scratch import networks
from cnnviz.train.evaluation import confusion_matrix
from cnnviz.train.jobs import (
    DEFAULT_IDLE_SECONDS,
    MAX_EPOCHS,
    MAX_STEP_RECORDS,
    Job,
    JobLimitError,
    Snapshot,
)
from cnnviz.train.loop import Thinned, batches_per_epoch, fit, predict
from cnnviz.train.scratch.network_overview import Stage, layer_weights, stages
from cnnviz.train.scratch.networks import Recipe
from cnnviz.train.offline_mnist import Split, Standardise, stratified_sample

MAX_RATE_CHANGES = 50  # learning-rate changes remembered for the curves


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
        self.learner.watch = True
        self.job: Job | None = None
        self._lock = threading.Lock()
        self._steps = Thinned(MAX_STEP_RECORDS)  # every round's records, numbered on
        self._epochs = Thinned(MAX_STEP_RECORDS)
        self._count = 0  # steps trained, all rounds
        self._last: dict | None = None
        self._rate_changes: deque = deque(maxlen=MAX_RATE_CHANGES)
        self._results = None  # (probabilities on the test set, steps they belong to)
        self.loaded_from: str | None = None  # the file name, when the weights were uploaded
        self.device = device

    @property
    def settings(self) -> tuple:
        """What the run was built from: (recipe, data set name, training images)."""
        return self.recipe, self.data_name, len(self.train)

    @property
    def lane(self) -> str:
        """Where it trains: the NumPy network on the CPU, PyTorch networks on their device."""
        return "cpu" if self.recipe.net == "numpy" else str(self.learner.device)

    # ----- training -----
    def start(self, *, max_seconds: float, idle_seconds: float = DEFAULT_IDLE_SECONDS,
              **queue_options) -> Job:
        """Train ``recipe.epochs`` more epochs in the background, from the current weights.
        ``queue_options`` go to the :class:`Job` (``owner``, ``alive``)."""
        if self.training:
            return self.job
        if self.recipe.epochs > MAX_EPOCHS:
            raise JobLimitError(f"at most {MAX_EPOCHS} epochs per round")
        step0 = self._last["step"] if self._last else 0
        epoch0 = self._last["epoch"] if self._last else 0
        seed = self.recipe.seed + epoch0  # new batches in a new round, reproducibly
        planned = self.recipe.epochs * batches_per_epoch(len(self.train), self.recipe.batch_size)

        def shifted(record):
            return {**record, "step": record["step"] + step0, "epoch": record["epoch"] + epoch0,
                    "total_steps": record["total_steps"] + step0}

        def on_step(job: Job, record: dict) -> None:
            record = {**shifted(record), **self.learner.last_step}
            with self._lock:
                self._steps.append(record)
                self._last, self._count = record, self._count + 1
            job.on_step(record)

        def on_epoch(job: Job, record: dict) -> None:
            record = shifted(record)
            with self._lock:
                self._epochs.append(record)
            job.on_epoch(record)

        def work(job: Job):
            return fit(self.learner, self.train.images, self.train.labels,
                       validation=(self.split.validation.images, self.split.validation.labels),
                       epochs=self.recipe.epochs, batch_size=self.recipe.batch_size, seed=seed,
                       on_step=lambda r: on_step(job, r), on_epoch=lambda r: on_epoch(job, r),
                       should_stop=job.should_stop, step_records=1)

        self.job = Job(work, max_seconds=max_seconds, idle_seconds=idle_seconds,
                       kind=self.recipe.net, device=self.lane, planned_steps=planned,
                       **queue_options).start()
        return self.job

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    def pause(self) -> None:
        """Hold the training at its next step (it gives its turn to the next run)."""
        if self.training:
            self.job.pause()

    def resume(self) -> None:
        if self.training:
            self.job.resume()

    def step(self) -> None:
        """While paused: one more batch, then paused again."""
        if self.training:
            self.job.step()

    @property
    def paused(self) -> bool:
        return self.training and self.job.paused

    @property
    def learning_rate(self) -> float:
        return self.learner.learning_rate

    def set_learning_rate(self, lr: float) -> None:
        """From the next step on (also in a later round); kept as an event for the curves."""
        old = self.learner.learning_rate
        if lr == old:
            return
        self.learner.learning_rate = lr
        with self._lock:
            at = (self._last["step"] if self._last else 0) + 1
            self._rate_changes.append({"step": at, "lr": float(lr), "from": old})

    @property
    def training(self) -> bool:
        return self.job is not None and not self.job.poll().done

    def poll(self) -> Snapshot | None:
        return None if self.job is None else self.job.poll()

    def history(self) -> tuple[list[dict], list[dict]]:
        """The step records (thinned) and epoch records so far, every round's."""
        with self._lock:
            steps = list(self._steps)
            if self._last is not None and (not steps or steps[-1] is not self._last):
                steps.append(self._last)  # the newest step, even where thinning skipped it
            return steps, list(self._epochs)

    def rate_changes(self) -> list[dict]:
        """Learning-rate changes made so far: ``{"step", "lr", "from"}`` each."""
        with self._lock:
            return list(self._rate_changes)

    @property
    def steps_trained(self) -> int:
        with self._lock:
            return self._count

    @property
    def state(self) -> str:
        """``new`` (no step yet), ``training``, ``trained`` or ``failed`` (the last round)."""
        snap = self.poll()
        if snap is not None and not snap.done:
            return "training"
        if snap is not None and snap.state == "failed":
            return "failed"
        return "trained" if self.steps_trained or self.loaded_from else "new"

    # ----- watching -----
    def layer_outputs(self, x: np.ndarray) -> list[Stage]:
        """Every layer's output for the prepared input ``x`` (1, C, H, W), with the weights as
        they are now (between two steps)."""
        with self.learner.lock:
            return stages(networks.model_of(self.learner), x)

    def weights(self) -> list[tuple[str, np.ndarray]]:
        """Every convolution's and dense layer's weights as they are now (copies)."""
        with self.learner.lock:
            return layer_weights(networks.model_of(self.learner))

    def guesses(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities of the network as it is now for a few images."""
        return predict(self.learner, images)

    # ----- after training -----
    def replace_learner(self, learner, name: str) -> None:
        """Weights from the uploaded file ``name``; the history no longer describes them."""
        if self.training:
            raise RuntimeError("stop the training before loading other weights")
        learner.watch = True
        self.learner, self.job, self._last, self._count = learner, None, None, 0
        self._steps, self._epochs = Thinned(MAX_STEP_RECORDS), Thinned(MAX_STEP_RECORDS)
        self._rate_changes.clear()
        self._results, self.loaded_from = None, name

    def test_probabilities(self) -> np.ndarray:
        """Class probabilities for every test image, computed once per trained state."""
        key = (id(self.learner), self.steps_trained)
        if self._results is None or self._results[1] != key:
            self._results = (predict(self.learner, self.split.test.images), key)
        return self._results[0]

    def test_accuracy(self) -> float:
        return float((self.test_probabilities().argmax(1) == self.split.test.labels).mean())

    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.split.test.labels, self.test_probabilities().argmax(1),
                                len(self.split.test.classes))
