"""Training in a background thread that a page polls, pauses, stops, and cannot forget.

A Streamlit script must return quickly, so a page starts a :class:`Job`, keeps it in
``st.session_state`` and redraws from :meth:`Job.poll` every second or so (an
``st.fragment(run_every=...)``). The job's work runs in a daemon thread, but trains only in
its turns: every job goes through the process's fair queue (:mod:`cnnviz.train.scheduler`),
which is never refused for lack of room, lets runs take turns on as many slots as the device
has, and lets the app's interactive model work go first. ``poll().queue`` says where the run
stands (its place, the runs ahead, estimated seconds to its start and end).

Work is bounded, so no thread runs for ever:

- ``max_seconds``: the time the job may train (in its turns; waiting does not count);
- ``idle_seconds``: the job stops when nobody has polled it for that long (the student left
  the page), and within :data:`GONE_SECONDS` once ``alive()`` says its session is closed;
- :func:`training_job` refuses more than :data:`MAX_EPOCHS` epochs or
  :data:`MAX_TRAIN_IMAGES` training images; one live job per ``owner`` and at most
  ``scheduler.MAX_QUEUE`` in the process (:class:`JobLimitError` otherwise);
- a snapshot holds at most :data:`MAX_STEP_RECORDS` step records, evenly thinned, so polling
  costs the same at step 10 and at step 100,000.

Stopping (asked for, or by a bound) ends the work at the next step: what the model learnt
so far is kept, since the learner is trained in place. :meth:`Job.pause`,
:meth:`Job.resume` and :meth:`Job.step` (one more step while paused) act at the next step too.

Usage, for any learner the loop takes (see :mod:`cnnviz.train.loop`)::

    job = training_job(learner, x, y, validation=(xv, yv), epochs=3, batch_size=64)
    ...                                  # on every rerun of the page:
    snap = job.poll()                    # snap.state, snap.steps, snap.epochs, snap.latest,
                                         # snap.queue, snap.steps_per_second, snap.seconds_left
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

from cnnviz.train import scheduler as queue
from cnnviz.train.loop import Learner, Thinned, batches_per_epoch, fit

MAX_EPOCHS = 50
MAX_TRAIN_IMAGES = 60_000  # all of MNIST's training set
DEFAULT_MAX_SECONDS = 900.0
DEFAULT_IDLE_SECONDS = 60.0
GONE_SECONDS = 3.0  # a closed session's run ends this long after (a reconnecting phone is back)
MAX_STEP_RECORDS = 1000  # per snapshot: enough for a smooth curve, whatever the run's length
DONE = ("finished", "stopped", "failed")

_scheduler: queue.Scheduler | None = None
_scheduler_lock = threading.Lock()


def scheduler() -> queue.Scheduler:
    """The process's fair queue, shared by every lab (made at its first use)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = queue.Scheduler()
        return _scheduler


class JobLimitError(RuntimeError):
    """A run larger than the bounds allow, a second live run of one owner, or a full queue."""


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of a job's progress, safe to read while the job goes on.

    ``state`` is ``"queued"`` (waiting for its turn: ``queue`` says where), ``"running"``,
    ``"paused"``, ``"finished"``, ``"stopped"`` (``stop_reason``: ``"requested"``,
    ``"lifetime"``, ``"idle"`` or ``"gone"``) or ``"failed"`` (``error`` says why). ``steps``
    is thinned to at most :data:`MAX_STEP_RECORDS` records; ``last_step`` is the newest one.
    ``seconds`` is the time spent training (in turns), ``waited`` the time spent waiting.
    """

    state: str
    steps: list[dict]
    epochs: list[dict]
    seconds: float
    max_seconds: float
    result: Any = None
    error: str | None = None
    stop_reason: str | None = None
    last_step: dict | None = None
    step_count: int = 0
    waited: float = 0.0
    queue: queue.Outlook | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE

    @property
    def latest(self) -> dict | None:
        return self.last_step or (self.steps[-1] if self.steps else None)

    @property
    def fraction(self) -> float:
        """How much of the planned steps are done, in [0, 1]."""
        last = self.latest
        return min(last["step"] / last["total_steps"], 1.0) if last else 0.0

    @property
    def steps_per_second(self) -> float | None:
        """Steps per second of training time (the pace in its turns)."""
        return self.step_count / self.seconds if self.step_count and self.seconds > 0 else None

    @property
    def seconds_left(self) -> float | None:
        """Time to the end, waiting for turns included, as the queue estimates it (else at the
        pace so far); never past the end of the job's training time."""
        if self.done:
            return None
        if self.queue is not None and self.queue.done_in is not None:
            return self.queue.done_in
        rate, last = self.steps_per_second, self.latest
        if rate is None or last is None:
            return None
        return min((last["total_steps"] - last["step"]) / rate, self.max_seconds - self.seconds)


class Job:
    """``work(job)`` run once in a daemon thread, in its turns; see the module's docstring.

    ``work`` receives the job and should pass ``**job.callbacks()`` to :func:`fit` (or call
    :meth:`should_stop`, :meth:`on_step`, :meth:`on_epoch` itself); its return value becomes
    ``poll().result``. Keyword arguments for the queue: ``owner`` (one live job each, e.g. a
    browser session), ``alive`` (says False once the owner is gone for good: the job then
    ends within :data:`GONE_SECONDS`), ``device`` (its lane: ``"cpu"`` or a GPU), ``kind``
    (runs of one kind share a measured pace for estimates) and ``planned_steps`` (the steps
    the work will take, for an estimate before its first step).
    """

    def __init__(self, work: Callable[["Job"], Any], *, max_seconds: float = DEFAULT_MAX_SECONDS,
                 idle_seconds: float = DEFAULT_IDLE_SECONDS, name: str = "cnnviz-training",
                 owner=None, alive: Callable[[], bool] | None = None, device="cpu",
                 kind: str | None = None, planned_steps: int | None = None,
                 scheduler: queue.Scheduler | None = None):
        self._work, self.max_seconds, self.idle_seconds = work, max_seconds, idle_seconds
        self.owner, self.alive, self.device = owner, alive, device
        self.kind, self.planned_steps = kind or name, planned_steps
        self._scheduler = scheduler
        self._ticket: queue.Ticket | None = None
        self._lock = threading.Lock()
        self._steps = Thinned(MAX_STEP_RECORDS)
        self._last_step: dict | None = None
        self._count = 0
        self._epochs: list[dict] = []
        self._state, self._result, self._error, self._stop_reason = "new", None, None, None
        self._created = self._last_poll = time.monotonic()
        self._gone_since: float | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Job":
        """Join the queue (``JobLimitError`` when the owner has a live job or the queue is
        full) and start the thread, which waits for its turn."""
        self._scheduler = self._scheduler or scheduler()
        try:
            self._ticket = self._scheduler.admit(self, owner=self.owner, device=self.device,
                                                 kind=self.kind)
        except queue.QueueFullError as err:
            raise JobLimitError(str(err)) from None
        self._created = self._last_poll = time.monotonic()
        self._state = "queued"
        self._thread.start()
        return self

    def _run(self) -> None:
        result = error = None
        try:
            if self._scheduler.wait_turn(self._ticket):
                result = self._work(self)
        except Exception:  # the page shows it; the server goes on
            error = traceback.format_exc(limit=-3)
        finally:
            self._scheduler.leave(self._ticket)  # before the state: the owner may start again
        self._work = None  # often a method of the job's owner, who holds the job: no cycle left
        with self._lock:
            self._result, self._error = result, error
            self._state = ("failed" if error else "stopped" if self._stop_reason else "finished")

    # ----- called by the scheduler (under its lock: take only this job's lock here) -----
    def stop_due(self, used: float) -> bool:
        """Whether the job must end now: asked to, out of training time, unwatched, or its
        owner gone; records why."""
        now = time.monotonic()
        gone = self.alive is not None and not self.alive()
        with self._lock:
            if not gone:
                self._gone_since = None
            elif self._gone_since is None:
                self._gone_since = now
            if self._stop_reason is None:
                if used >= self.max_seconds:
                    self._stop_reason = "lifetime"
                elif now - self._last_poll >= self.idle_seconds:
                    self._stop_reason = "idle"
                elif gone and now - self._gone_since >= GONE_SECONDS:
                    self._stop_reason = "gone"
            return self._stop_reason is not None

    def steps_left(self) -> int | None:
        """Steps still to train, from the latest record (or the plan before the first)."""
        with self._lock:
            last = self._last_step
        if last is not None and "total_steps" in last:
            return last["total_steps"] - last["step"]
        return None if self.planned_steps is None else self.planned_steps - self._count

    # ----- called from the worker thread (the loop's callbacks) -----
    def should_stop(self) -> bool:
        """Asked before every step: waits for the job's turn, True when it must end."""
        return not self._scheduler.checkpoint(self._ticket)

    def on_step(self, record: dict) -> None:
        with self._lock:
            self._steps.append(record)
            self._last_step = record
            self._count += 1

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
        outlook = (self._scheduler.outlook(self._ticket) if self._ticket is not None
                   else None)
        now = time.monotonic()
        with self._lock:
            self._last_poll = now
            state = self._state
            if state not in DONE and outlook is not None:
                state = outlook.state if outlook.state in ("queued", "paused") else "running"
            used = self._ticket.used if self._ticket is not None else 0.0
            return Snapshot(state, list(self._steps), list(self._epochs), used,
                            self.max_seconds, self._result, self._error, self._stop_reason,
                            self._last_step, self._count, max(now - self._created - used, 0.0),
                            outlook if state not in DONE else None)

    def stop(self) -> None:
        """Ask the work to end at its next step (the weights learnt so far are kept)."""
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = "requested"
        if self._scheduler is not None:
            self._scheduler.wake()

    def pause(self) -> None:
        """Hold the work at its next step, giving the slot to the next run."""
        if self._ticket is not None:
            self._scheduler.pause(self._ticket, True)

    def resume(self) -> None:
        """Go on training (the run joins the back of the queue)."""
        if self._ticket is not None:
            self._scheduler.pause(self._ticket, False)

    def step(self) -> None:
        """While paused: train one more step, then pause again."""
        if self._ticket is not None:
            self._scheduler.step(self._ticket)

    @property
    def paused(self) -> bool:
        return self._ticket is not None and self._ticket.paused

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._state != "new":
            self._thread.join(timeout)
        return not self._thread.is_alive()


def running_jobs() -> int:
    """How many jobs are training (holding a slot) in this process right now."""
    return scheduler().counts()["training"]


def training_job(learner: Learner, x, y, *, validation=None, epochs: int = 1,
                 batch_size: int = 64, seed: int = 0, max_seconds: float = DEFAULT_MAX_SECONDS,
                 idle_seconds: float = DEFAULT_IDLE_SECONDS, **queue_options) -> Job:
    """Start :func:`fit` on a job, within the bounds; ``poll().result`` is its History.
    ``queue_options``: :class:`Job`'s ``owner``, ``alive``, ``device``, ``kind``."""
    if epochs > MAX_EPOCHS or len(y) > MAX_TRAIN_IMAGES:
        raise JobLimitError(f"a training here is at most {MAX_EPOCHS} epochs of "
                            f"{MAX_TRAIN_IMAGES:,} images (asked: {epochs} epochs of "
                            f"{len(y):,})")

    def work(job: Job):
        return fit(learner, x, y, validation=validation, epochs=epochs, batch_size=batch_size,
                   seed=seed, step_records=MAX_STEP_RECORDS, **job.callbacks())

    return Job(work, max_seconds=max_seconds, idle_seconds=idle_seconds,
               planned_steps=epochs * batches_per_epoch(len(y), batch_size),
               **queue_options).start()
