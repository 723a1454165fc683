"""Training in a background thread that a page polls, stops, and cannot forget.

A Streamlit script must return quickly, so a page starts a :class:`Job`, keeps it in
``st.session_state`` and redraws from :meth:`Job.poll` every second or so (an
``st.fragment(run_every=...)``). The job's work runs in a daemon thread; NumPy and PyTorch
release the GIL in their heavy loops, so other sessions stay responsive meanwhile.

Work is bounded three ways, so no thread runs for ever:

- ``max_seconds``: the job's whole lifetime;
- ``idle_seconds``: the job stops when nobody has polled it for that long (the student left
  the page or closed the tab);
- :func:`training_job` refuses more than :data:`MAX_EPOCHS` epochs or
  :data:`MAX_TRAIN_IMAGES` training images, and at most :data:`MAX_RUNNING_JOBS` jobs run in
  the process at once (:class:`JobLimitError` otherwise).

Stopping (asked for, or by a bound) ends the work at the next step: what the model learnt
so far is kept, since the learner is trained in place.

Usage, for any learner the loop takes (see :mod:`cnnviz.train.loop`)::

    job = training_job(learner, x, y, validation=(xv, yv), epochs=3, batch_size=64)
    ...                                  # on every rerun of the page:
    snap = job.poll()                    # snap.state, snap.steps, snap.epochs, snap.latest,
                                         # snap.steps_per_second, snap.seconds_left, snap.error
    job.stop()                           # the Stop button
    history = job.poll().result          # the loop's History once snap.done

Several trainings in one job (one net after another) use :class:`Job` directly::

    job = Job(lambda j: [fit(l, x, y, **j.callbacks()) for l in learners]).start()
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from cnnviz.train.loop import Learner, fit

MAX_EPOCHS = 50
MAX_TRAIN_IMAGES = 60_000  # all of MNIST's training set
MAX_RUNNING_JOBS = 4  # a shared 2-core server trains a few networks at once, not a class's worth
DEFAULT_MAX_SECONDS = 900.0
DEFAULT_IDLE_SECONDS = 60.0

_running: set["Job"] = set()
_running_lock = threading.Lock()


class JobLimitError(RuntimeError):
    """Too many trainings at once in this process, or one larger than the bounds allow."""


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of a job's progress, safe to read while the job goes on.

    ``state`` is ``"running"``, ``"finished"``, ``"stopped"`` (``stop_reason``: ``"requested"``,
    ``"lifetime"`` or ``"idle"``) or ``"failed"`` (``error`` says why).
    """

    state: str
    steps: list[dict]
    epochs: list[dict]
    seconds: float
    max_seconds: float
    result: Any = None
    error: str | None = None
    stop_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.state != "running"

    @property
    def latest(self) -> dict | None:
        return self.steps[-1] if self.steps else None

    @property
    def fraction(self) -> float:
        """How much of the planned steps are done, in [0, 1]."""
        last = self.latest
        return min(last["step"] / last["total_steps"], 1.0) if last else 0.0

    @property
    def steps_per_second(self) -> float | None:
        last = self.latest
        return last["step"] / last["seconds"] if last and last["seconds"] > 0 else None

    @property
    def seconds_left(self) -> float | None:
        """Time to the last planned step at the pace so far, or to the end of the job's
        lifetime if that comes first."""
        rate = self.steps_per_second
        if rate is None or self.done:
            return None
        last = self.latest
        return min((last["total_steps"] - last["step"]) / rate, self.max_seconds - self.seconds)


class Job:
    """``work(job)`` run once in a daemon thread; see the module's docstring.

    ``work`` receives the job and should pass ``**job.callbacks()`` to :func:`fit` (or call
    :meth:`should_stop`, :meth:`on_step`, :meth:`on_epoch` itself); its return value becomes
    ``poll().result``.
    """

    def __init__(self, work: Callable[["Job"], Any], *, max_seconds: float = DEFAULT_MAX_SECONDS,
                 idle_seconds: float = DEFAULT_IDLE_SECONDS, name: str = "cnnviz-training"):
        self._work, self.max_seconds, self.idle_seconds = work, max_seconds, idle_seconds
        self._lock = threading.Lock()
        self._steps: list[dict] = []
        self._epochs: list[dict] = []
        self._state, self._result, self._error, self._stop_reason = "new", None, None, None
        self._started = self._last_poll = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Job":
        with _running_lock:
            alive = {job for job in _running if job._thread.is_alive()}
            _running.intersection_update(alive)
            if len(alive) >= MAX_RUNNING_JOBS:
                raise JobLimitError(f"{len(alive)} trainings are already running on this server "
                                    f"(at most {MAX_RUNNING_JOBS} at once); try again when one "
                                    "has finished")
            _running.add(self)
        self._started = self._last_poll = time.monotonic()
        self._state = "running"
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            result, error = self._work(self), None
        except Exception:  # the page shows it; the server goes on
            result, error = None, traceback.format_exc(limit=-3)
        self._work = None  # often a method of the job's owner, who holds the job: no cycle left
        with self._lock:
            self._result, self._error = result, error
            self._state = ("failed" if error else "stopped" if self._stop_reason else "finished")
        with _running_lock:
            _running.discard(self)

    # ----- called from the worker thread (the loop's callbacks) -----
    def should_stop(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._stop_reason is None:
                if now - self._started >= self.max_seconds:
                    self._stop_reason = "lifetime"
                elif now - self._last_poll >= self.idle_seconds:
                    self._stop_reason = "idle"
            return self._stop_reason is not None

    def on_step(self, record: dict) -> None:
        with self._lock:
            self._steps.append(record)

    def on_epoch(self, record: dict) -> None:
        with self._lock:
            self._epochs.append(record)

    def callbacks(self) -> dict:
        """Keyword arguments that connect :func:`fit` to this job."""
        return {"on_step": self.on_step, "on_epoch": self.on_epoch,
                "should_stop": self.should_stop}

    # ----- called from the page -----
    def poll(self) -> Snapshot:
        """The progress so far; also tells the job that someone is still watching."""
        now = time.monotonic()
        with self._lock:
            self._last_poll = now
            return Snapshot(self._state, list(self._steps), list(self._epochs),
                            now - self._started, self.max_seconds, self._result, self._error,
                            self._stop_reason)

    def stop(self) -> None:
        """Ask the work to end at its next step (the weights learnt so far are kept)."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = "requested"

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._state != "new":
            self._thread.join(timeout)
        return not self._thread.is_alive()


def running_jobs() -> int:
    """How many jobs are training in this process right now."""
    with _running_lock:
        return sum(job._thread.is_alive() for job in _running)


def training_job(learner: Learner, x, y, *, validation=None, epochs: int = 1,
                 batch_size: int = 64, seed: int = 0, max_seconds: float = DEFAULT_MAX_SECONDS,
                 idle_seconds: float = DEFAULT_IDLE_SECONDS) -> Job:
    """Start :func:`fit` on a job, within the bounds; ``poll().result`` is its History."""
    if epochs > MAX_EPOCHS or len(y) > MAX_TRAIN_IMAGES:
        raise JobLimitError(f"a training here is at most {MAX_EPOCHS} epochs of "
                            f"{MAX_TRAIN_IMAGES:,} images (asked: {epochs} epochs of "
                            f"{len(y):,})")

    def work(job: Job):
        return fit(learner, x, y, validation=validation, epochs=epochs, batch_size=batch_size,
                   seed=seed, **job.callbacks())

    return Job(work, max_seconds=max_seconds, idle_seconds=idle_seconds).start()
