"""The fair queue every background training goes through: nobody is refused for lack of room,
runs take turns on a few slots, and the app's interactive model work goes first.

A class presses Start at once. Giving every run its own free-running thread makes all of
them slow (30 runs on 2 cores each take 30 times as long, and a Grad-CAM page waits behind
them); refusing runs beyond a fixed number, as before, turns most of a class away. Here each
run still has a thread, but it trains only while it holds a *slot* of its device's *lane*
(the CPU: as many slots as cores, each with one BLAS and one torch thread; a GPU: a few), and
it asks for its turn between steps (``Job.should_stop`` calls :meth:`Scheduler.checkpoint`):

- **Turns.** A run trains for at most :data:`QUANTUM_SECONDS` of its own work while others
  wait, then goes to the back of the queue (round robin with a quantum), unless it is nearly
  done (under half a quantum left). Work is its thread's CPU time on the CPU lane (so a turn
  holds as much training on a busy machine as on a quiet one: counted in wall-clock seconds,
  a run that needs 2 s of a core took 40 s under a load of 20, and every run was cut into
  turns) and wall-clock time on a GPU. The default from-scratch run needs about 2 s of one
  core, so a class's default runs finish one after another in the order pressed, and a
  10-minute run takes its turns among them instead of holding a slot for 10 minutes.
- **Interactive work first.** While the app's ``ModelWorkers`` have work (a Grad-CAM map, a
  feature map, a classification), each lane has that many fewer slots: a training run gives
  its slot back at its next step and waits until the model work is done.
- **Bounds.** One live run per owner (a browser session); at most :data:`MAX_QUEUE` live runs
  in all (``JobLimitError`` beyond, with a message); a run leaves the queue as soon as its job
  stops (its page stopped polling, its session closed, Stop pressed).
- **Estimates.** :meth:`Scheduler.outlook` replays the queue's round robin with each run's
  remaining steps times its measured work and seconds per step (before its first step, the
  pace measured on runs of the same kind), so a page can say "place 4, about 40 s".
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from cnnviz.models import workers

QUANTUM_SECONDS = 10.0  # a turn's work: the default from-scratch run (2 s of a core) fits whole
MAX_QUEUE = 64  # live runs in a process: two classes' worth
GPU_SLOTS = 4  # runs training at once on one GPU (small networks; CNNVIZ_GPU_TRAINING_SLOTS)
DEFAULT_PACE = 0.05  # seconds per step before anything of a kind was measured
WAIT_POLL = 0.5  # a waiting run re-checks its bounds this often (seconds)
BUSY_POLL = 0.05  # ... and this often while interactive work holds its slot


class QueueFullError(RuntimeError):
    """Raised by :meth:`Scheduler.admit`; ``cnnviz.train.jobs`` turns it into its own
    ``JobLimitError`` for pages."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def lane_of(device) -> str:
    """The lane a run on ``device`` (a torch device or its name) trains in: ``"cpu"`` or the
    GPU's name (``"cuda:0"``)."""
    name = str(device or "cpu")
    return "cpu" if not name.startswith("cuda") else (name if ":" in name else "cuda:0")


@dataclass(eq=False)
class Ticket:
    """A run's place with the scheduler; only the scheduler writes it, under its lock."""

    job: object  # the Job: asked ``stop_due(used)``, ``steps_left()``, ``max_seconds``
    lane: str
    owner: object
    kind: str
    state: str = "queued"  # queued, running, paused, stopping, gone
    used: float = 0.0  # wall-clock seconds holding a slot, all turns
    work: float = 0.0  # its work in the slot: the thread's CPU seconds (wall on a GPU)
    turn_work: float = 0.0  # ... in the current turn
    checkpoints: int = 0  # steps asked for while holding a slot
    mark: float = 0.0  # when the time in the slot was last counted (wall clock)
    work_mark: float = 0.0  # ... (work clock)
    paused: bool = False
    credits: int = 0  # single steps granted while paused
    order: int = 0


@dataclass(frozen=True)
class Outlook:
    """Where a run stands, for its page. ``place`` counts from 1 among the runs waiting in its
    lane (None while it trains or is paused); ``ahead`` is how many runs train before it
    starts (those training now included); times are estimates in seconds from now."""

    state: str
    place: int | None
    ahead: int
    training: int
    waiting: int
    starts_in: float | None
    done_in: float | None


@dataclass
class _Lane:
    slots: int
    running: list = field(default_factory=list)
    ready: deque = field(default_factory=deque)


class Scheduler:
    """The queue of one process (see the module's docstring). ``slots`` maps a lane to its
    slot count (default: the CPU lane one per core, a GPU lane :data:`GPU_SLOTS`);
    ``interactive`` says how much interactive model work is waiting or running (default: the
    app's ``ModelWorkers``); ``threads`` sets the BLAS and torch threads of the process once,
    at the first run (None leaves them)."""

    def __init__(self, *, slots: dict[str, int] | None = None,
                 quantum: float = QUANTUM_SECONDS, max_queue: int = MAX_QUEUE,
                 interactive: Callable[[], int] = workers.pending, threads: int | None = 1):
        self.quantum, self.max_queue, self.interactive = quantum, max_queue, interactive
        self._slots = dict(slots or {})
        self._threads = threads
        self._lanes: dict[str, _Lane] = {}
        self._live: set[Ticket] = set()  # every ticket until it leaves
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._order = itertools.count()
        self._pace: dict[str, float] = {}  # kind -> work per step, measured
        self._wall: dict[str, float] = {}  # kind -> wall-clock seconds per second of work
        self._typical: dict[str, float] = {}  # kind -> work a whole run took

    # ----- lanes -----
    def _lane(self, name: str) -> _Lane:
        if name not in self._lanes:
            default = (_env_int("CNNVIZ_TRAINING_SLOTS", workers.cores()) if name == "cpu"
                       else _env_int("CNNVIZ_GPU_TRAINING_SLOTS", GPU_SLOTS))
            self._lanes[name] = _Lane(self._slots.get(name, default))
        return self._lanes[name]

    def _free(self, lane: _Lane) -> int:
        """Slots a waiting run may take now: the lane's, less those interactive work needs."""
        return max(0, lane.slots - self.interactive()) - len(lane.running)

    # ----- called by a job -----
    def admit(self, job, *, owner=None, device="cpu", kind: str = "training") -> Ticket:
        """A place in the queue for ``job``; ``QueueFullError`` when its owner already has a
        live run or the queue is full."""
        with self._lock:
            self._limit_threads()
            if owner is not None:
                mine = next((t for t in self._live if t.owner == owner), None)
                if mine is not None:
                    raise QueueFullError(
                        f"this session already has a training run ({mine.kind}, "
                        f"{mine.state}); stop it or let it finish before starting another")
            if len(self._live) >= self.max_queue:
                raise QueueFullError(
                    f"the training queue is full ({len(self._live)} runs on this server, at "
                    f"most {self.max_queue}); try again in a minute or two")
            ticket = Ticket(job, lane_of(device), owner, kind, order=next(self._order))
            self._lane(ticket.lane).ready.append(ticket)
            self._live.add(ticket)
            self._changed.notify_all()
            return ticket

    def wait_turn(self, ticket: Ticket) -> bool:
        """Block until ``ticket`` holds a slot (True), or its job must stop first (False)."""
        with self._lock:
            return self._wait(ticket)

    def checkpoint(self, ticket: Ticket) -> bool:
        """Between two steps: count the time, then keep the slot, or give it back (paused,
        interactive work waiting, the turn over) and wait for it again. False when the job
        must stop (it then trains no further)."""
        with self._lock:
            self._count(ticket)
            ticket.checkpoints += 1
            if ticket.job.stop_due(ticket.used):
                return False
            lane = self._lanes[ticket.lane]
            if ticket.paused and ticket.credits == 0:
                self._release(ticket, lane, "paused")
            elif len(lane.running) > max(0, lane.slots - self.interactive()):
                self._release(ticket, lane, "queued", front=True)
            elif ticket.turn_work >= self.quantum and lane.ready and \
                    self._estimate(ticket)[0] > self.quantum / 2:
                self._learn(ticket)
                ticket.turn_work = 0.0
                self._release(ticket, lane, "queued")
            else:
                if ticket.paused:
                    ticket.credits -= 1
                return True
            return self._wait(ticket)

    def leave(self, ticket: Ticket) -> None:
        """The job's work has ended (or never started): free its slot or its place."""
        with self._lock:
            lane = self._lanes[ticket.lane]
            if ticket in lane.running:
                self._count(ticket)
                lane.running.remove(ticket)
            if ticket in lane.ready:
                lane.ready.remove(ticket)
            if ticket in self._live:
                self._live.discard(ticket)
                self._learn(ticket)
                if ticket.checkpoints:
                    self._typical[ticket.kind] = self._blend(self._typical.get(ticket.kind),
                                                             ticket.work)
            ticket.state = "gone"
            self._changed.notify_all()

    # ----- called by a page (through the job) -----
    def pause(self, ticket: Ticket, paused: bool) -> None:
        """Pause (at the next step) or resume; a resumed run joins the back of the queue."""
        with self._lock:
            ticket.paused, ticket.credits = paused, 0
            if paused and ticket.state == "queued":
                self._lanes[ticket.lane].ready.remove(ticket)
                ticket.state = "paused"
            elif not paused and ticket.state == "paused":
                self._requeue(ticket)
            self._changed.notify_all()

    def step(self, ticket: Ticket) -> None:
        """One more step for a paused run (it queues for a slot, trains one step, pauses)."""
        with self._lock:
            if ticket.paused:
                ticket.credits += 1
                if ticket.state == "paused":
                    self._requeue(ticket)
            self._changed.notify_all()

    def wake(self) -> None:
        """Make waiting runs check their bounds now (a Stop was pressed)."""
        with self._lock:
            self._changed.notify_all()

    def outlook(self, ticket: Ticket) -> Outlook | None:
        """Where ``ticket`` stands now; None once it has left."""
        with self._lock:
            if ticket.state == "gone":
                return None
            lane = self._lanes[ticket.lane]
            training, waiting = len(lane.running), len(lane.ready)
            if ticket.state == "paused":
                return Outlook("paused", None, 0, training, waiting, None, None)
            starts, ends = self._replay(lane)
            place = list(lane.ready).index(ticket) + 1 if ticket.state == "queued" else None
            ahead = training + place - 1 if place else 0
            return Outlook(ticket.state, place, ahead, training, waiting,
                           starts.get(ticket), ends.get(ticket))

    def counts(self) -> dict[str, int]:
        """Runs training, waiting and paused now, over all lanes."""
        with self._lock:
            return {"training": sum(len(lane.running) for lane in self._lanes.values()),
                    "waiting": sum(len(lane.ready) for lane in self._lanes.values()),
                    "paused": sum(t.state == "paused" for t in self._live)}

    # ----- inside, with the lock held -----
    def _release(self, ticket: Ticket, lane: _Lane, state: str, *, front: bool = False):
        lane.running.remove(ticket)
        ticket.state = state
        if state == "queued":
            lane.ready.appendleft(ticket) if front else lane.ready.append(ticket)
        self._changed.notify_all()

    def _requeue(self, ticket: Ticket) -> None:
        ticket.state = "queued"
        self._lanes[ticket.lane].ready.append(ticket)

    def _wait(self, ticket: Ticket) -> bool:
        lane = self._lanes[ticket.lane]
        while True:
            if ticket.job.stop_due(ticket.used):
                if ticket in lane.ready:
                    lane.ready.remove(ticket)
                ticket.state = "stopping"
                self._changed.notify_all()
                return False
            if ticket.state == "queued":
                free = self._free(lane)
                if free > 0 and ticket in itertools.islice(lane.ready, free):
                    lane.ready.remove(ticket)
                    lane.running.append(ticket)
                    ticket.state = "running"
                    ticket.mark, ticket.work_mark = time.monotonic(), self._clock(ticket)()
                    if ticket.paused:
                        ticket.credits -= 1
                    return True
            busy = ticket.state == "queued" and lane.slots - len(lane.running) > 0
            self._changed.wait(BUSY_POLL if busy else WAIT_POLL)

    @staticmethod
    def _clock(ticket: Ticket) -> Callable[[], float]:
        """What a turn is counted in: the run's thread's CPU time on the CPU (read in that
        thread: every caller of ``_count`` is), wall-clock time on a GPU."""
        return time.thread_time if ticket.lane == "cpu" else time.monotonic

    def _count(self, ticket: Ticket) -> None:
        now, work = time.monotonic(), self._clock(ticket)()
        ticket.used += now - ticket.mark
        ticket.work += work - ticket.work_mark
        ticket.turn_work += work - ticket.work_mark
        ticket.mark, ticket.work_mark = now, work

    def _learn(self, ticket: Ticket) -> None:
        """Remember the pace of ``ticket``'s kind (work per step, wall time per work)."""
        if ticket.checkpoints >= 3 and ticket.work > 0:
            kind = ticket.kind
            self._pace[kind] = self._blend(self._pace.get(kind), ticket.work / ticket.checkpoints)
            self._wall[kind] = self._blend(self._wall.get(kind), ticket.used / ticket.work)

    @staticmethod
    def _blend(old: float | None, new: float) -> float:
        return new if old is None else 0.7 * old + 0.3 * new

    def _estimate(self, ticket: Ticket) -> tuple[float, float]:
        """(work ``ticket`` still needs, wall-clock seconds per second of its work)."""
        measured = ticket.checkpoints >= 3 and ticket.work > 0
        pace = (ticket.work / ticket.checkpoints if measured
                else self._pace.get(ticket.kind, DEFAULT_PACE))
        wall = ticket.used / ticket.work if measured else self._wall.get(ticket.kind, 1.0)
        left = ticket.job.steps_left()
        typical = self._typical.get(ticket.kind)
        if left is not None:
            work = max(left, 0) * pace
        else:
            work = max(typical - ticket.work, pace) if typical else self.quantum
        return min(work, max(ticket.job.max_seconds - ticket.used, 0.0) / wall), wall

    def _turn(self, work: float, turn_work: float) -> float:
        """How much of ``work`` a run does in one turn, ``turn_work`` of it already done."""
        allowed = max(self.quantum - turn_work, 0.0)
        return work if work - allowed <= self.quantum / 2 else allowed

    def _replay(self, lane: _Lane) -> tuple[dict, dict]:
        """Each run's estimated start and end (seconds from now): the lane's round robin
        played forward with the runs' remaining work, all slots free of interactive work."""
        estimates = {t: self._estimate(t) for t in itertools.chain(lane.running, lane.ready)}
        left = {t: work for t, (work, _) in estimates.items()}
        starts, ends, slots = {}, {}, []
        queue = deque(lane.ready)
        order = itertools.count()

        def launch(ticket: Ticket, at: float, turn_work: float) -> None:
            starts.setdefault(ticket, at)
            work = self._turn(left[ticket], turn_work)
            left[ticket] -= work
            heapq.heappush(slots, (at + work * estimates[ticket][1], next(order), ticket))

        for ticket in lane.running:
            launch(ticket, 0.0, ticket.turn_work)
        while queue and len(slots) < lane.slots:
            launch(queue.popleft(), 0.0, 0.0)
        while slots:
            at, _, ticket = heapq.heappop(slots)
            if left[ticket] > 1e-9:
                queue.append(ticket)
            else:
                ends[ticket] = at
            if queue:
                launch(queue.popleft(), at, 0.0)
        return starts, ends

    def _limit_threads(self) -> None:
        """One BLAS thread and one torch thread per slot, set once: two runs with the
        default two threads each on two cores wait for each other's sleeping threads."""
        if self._threads is None:
            return
        threads, self._threads = self._threads, None
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
