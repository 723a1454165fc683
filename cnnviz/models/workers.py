"""A few threads that run every session's model work: the most urgent first, then in the order
it was asked for.

A Streamlit server runs each browser session's script on its own thread. Left alone, 30
sessions that upload a photo at once start 30 computations at once on a 2-core CPU: each one
finishes only when all of them do, and with torch's default of one OpenMP thread per core
every parallel region waits for threads the kernel has put to sleep (on a busy 2-core machine
one classification took a median 0.52 s, up to 2.5 s, with 2 threads and 0.09 s with 1, in
alternating runs). Here as many workers as there are cores, each with one torch thread, take
jobs from all sessions: the most urgent first (``priority``: the map a student is waiting for
before the strip below it), in the order asked within a priority, so no more computations
hold memory at once than there are workers, and every student sees a first map before any
strip is computed. Measured with 30 sessions at once on 2 cores (bench/bench_workers.py): on a
busy machine, p95 to the main maps 1.2–2.4 s with the priority and 1.6–3.8 s first come first
served, in 6 paired rounds; on a quiet one both 1.2 s (the strips are asked for after the main
maps anyway when a class uploads at once), 2.3 and 2.4 s to every map, against 3.2 s with a
thread per session and one torch thread each.

Requests for the same model are not batched: on a CPU a batch of 8 photos took 1.2–1.8 times
as long as 8 single passes (EfficientNet-Lite0, one thread; bench/bench_workers.py), so
batching would only make the first student wait for the eighth.

A job that fails hands its exception to the session that asked; the worker carries on. A
job submitted from a worker (a model computation calling another) runs at once on that
worker, so jobs never wait for themselves. Idle workers end after ``idle_s`` seconds and
start again on the next job, so no thread outlives its use.
"""

import heapq
import itertools
import os
import threading
from concurrent.futures import Future
from typing import Callable

import torch

CGROUP_CPU = "/sys/fs/cgroup/cpu.max"  # "QUOTA PERIOD" or "max PERIOD" (cgroup v2)
_pending = [0]  # jobs queued or running on every ModelWorkers of the process
_pending_lock = threading.Lock()


def pending() -> int:
    """Model jobs waiting or running now, all workers together: background training
    (``cnnviz.train.scheduler``) gives way while there are any."""
    return _pending[0]


def _count(change: int) -> None:
    with _pending_lock:
        _pending[0] += change


def cores() -> int:
    """The cores this process may use: those it may run on, fewer when a container's CPU quota
    (cgroup v2, as Docker and most clouds set it) allows less than all of them."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    try:
        with open(CGROUP_CPU) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, round(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def workers_wanted() -> int:
    """``CNNVIZ_MODEL_WORKERS`` when set (a GPU server may want more), else one per core."""
    value = os.environ.get("CNNVIZ_MODEL_WORKERS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else cores()


class ModelWorkers:
    """``workers`` threads (default: one per core) that run submitted calls in priority order,
    first come first served within a priority. Creating it sets torch's intra-op threads for
    the whole process (``torch_threads``; None leaves them), so that model work a page runs on
    its own thread (timing a model, say) runs the same way from the start."""

    def __init__(self, workers: int | None = None, *, idle_s: float = 30.0,
                 torch_threads: int | None = 1):
        self.workers = workers or workers_wanted()
        self.idle_s = idle_s
        if torch_threads:
            torch.set_num_threads(torch_threads)  # process-wide: for all model work alike
        self._queue: list = []  # a heap of (priority, order, future, call)
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._local = threading.local()

    def submit(self, function: Callable, *args, priority: int = 0, **kwargs) -> Future:
        """Queue ``function(*args, **kwargs)``; a lower ``priority`` runs sooner."""
        future: Future = Future()
        if getattr(self._local, "worker", False):  # a job asking for more work: run it now
            _run(future, function, args, kwargs)
            return future
        _count(+1)
        with self._lock:
            heapq.heappush(self._queue, (priority, next(self._order), future,
                                         (function, args, kwargs)))
            # A worker woken a moment ago still counts as idle until it runs: start another
            # whenever more jobs wait than idle workers can take.
            if len(self._queue) > self._idle and len(self._threads) < self.workers:
                self._start()
            self._wakeup.notify()
        return future

    def run(self, function: Callable, *args, priority: int = 0, **kwargs):
        """``function(*args, **kwargs)`` on a worker, once its turn comes; its result, or its
        exception raised here."""
        return self.submit(function, *args, priority=priority, **kwargs).result()

    def threads(self) -> int:
        """How many workers are alive now."""
        with self._lock:
            return len(self._threads)

    def _start(self) -> None:
        thread = threading.Thread(target=self._work, name="cnnviz-model-worker", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        self._local.worker = True
        while True:
            with self._lock:
                while not self._queue:
                    self._idle += 1
                    woken = self._wakeup.wait(self.idle_s)
                    self._idle -= 1
                    if not woken and not self._queue:
                        self._threads.discard(threading.current_thread())
                        return
                _, _, future, (function, args, kwargs) = heapq.heappop(self._queue)
            try:
                if future.set_running_or_notify_cancel():
                    _run(future, function, args, kwargs)
            finally:
                _count(-1)


def _run(future: Future, function: Callable, args, kwargs) -> None:
    try:
        result = function(*args, **kwargs)
    except BaseException as err:  # the asker gets it, whatever it is; the worker goes on
        future.set_exception(err)
    else:
        future.set_result(result)

