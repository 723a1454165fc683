"""The fair queue that every training goes through (cnnviz.train.scheduler), with real
from-scratch networks training on real digits: nobody is refused below the queue's limit, a
short run is not stuck behind a long one started earlier, interactive model work goes first,
one run per session, a closed page leaves the queue within seconds, estimates come from
measured steps, and each device has its own lane."""

import threading
import time

import pytest

from cnnviz import train
from cnnviz.models.workers import ModelWorkers
from cnnviz.train import jobs
from cnnviz.train.scheduler import Scheduler
from cnnviz.train.scratch import networks
from tests.test_jobs import poll_until_done, wait_until


@pytest.fixture(scope="module")
def split():
    return train.mnist_split(seed=0)


def one_slot(**kwargs) -> Scheduler:
    """One CPU slot, nothing interactive (unless given), threads left as they are."""
    kwargs.setdefault("interactive", lambda: 0)
    return Scheduler(slots={"cpu": 1}, threads=None, **kwargs)


def numpy_job(split, scheduler, *, images=3500, epochs=1, **options):
    """The page's default network (NumPy, from scratch) training on ``images`` digits."""
    learner = networks.build_learner(networks.Recipe("numpy"),
                                     train.Standardise.fit(split.train.images))
    return train.training_job(learner, split.train.images[:images],
                              split.train.labels[:images], epochs=epochs, batch_size=32,
                              scheduler=scheduler, kind="numpy", **options)


def held(scheduler, **options):
    """A job that holds its slot until ``release`` is set (and counts as one step)."""
    release = threading.Event()

    def work(job):
        job.should_stop()
        release.wait(30)

    return jobs.Job(work, scheduler=scheduler, **options).start(), release


def test_a_short_run_finishes_before_a_long_one_started_earlier(split):
    queue = one_slot(quantum=0.3)
    long = numpy_job(split, queue, epochs=20)  # about 2,200 steps: many turns
    wait_until(lambda: long.poll().step_count >= 5)
    short = numpy_job(split, queue, images=320)  # 10 steps
    most = 0
    while not short.poll().done:
        most = max(most, queue.counts()["training"])
        assert not long.poll().done, "the long run finished first"
        time.sleep(0.01)
    assert short.poll().state == "finished" and short.poll().step_count == 10
    assert most == 1  # never two at once on one slot: they took turns
    assert 5 <= long.poll().step_count < 2200
    long.stop()
    assert poll_until_done(long).stop_reason == "requested"


def test_nobody_is_refused_and_waiting_runs_see_their_place_and_estimate(split):
    queue = one_slot()
    first = numpy_job(split, queue, images=1600)  # 50 steps: measures the pace
    poll_until_done(first)
    runs = [numpy_job(split, queue, images=1600) for _ in range(4)]  # none refused
    snaps = [run.poll() for run in runs]
    waiting = [s for s in snaps if s.state == "queued"]
    assert len(waiting) >= 3
    places = [s.queue.place for s in waiting]
    assert places == list(range(places[0], places[0] + len(places)))
    starts = [s.queue.starts_in for s in waiting]
    assert starts == sorted(starts) and all(s.queue.done_in > s.queue.starts_in
                                            for s in waiting)
    last = runs[-1]
    estimate, asked = last.poll().queue.starts_in, time.monotonic()
    wait_until(lambda: last.poll().step_count > 0, timeout=120)
    actual = time.monotonic() - asked
    # From the pace measured on the first run: right within a factor of 3, even under load.
    assert actual / 3 <= estimate <= actual * 3, (estimate, actual)
    for run in runs:
        assert poll_until_done(run, timeout=120).state == "finished"


def test_interactive_model_work_goes_ahead_of_training(split):
    workers = ModelWorkers(1, torch_threads=None)
    queue = Scheduler(slots={"cpu": 1}, threads=None)  # interactive: every ModelWorkers' work
    run = numpy_job(split, queue, epochs=20)
    wait_until(lambda: run.poll().step_count >= 3)
    release = threading.Event()
    answer = workers.submit(release.wait, 30)  # a Grad-CAM map, say, in progress
    time.sleep(0.2)  # the step in flight ends; no further one starts
    paused_at = run.poll().step_count
    time.sleep(0.5)
    assert run.poll().step_count == paused_at and run.poll().state == "queued"
    assert run.poll().queue.place == 1  # first in line when the model work is done
    release.set()
    assert answer.result(5)
    wait_until(lambda: run.poll().step_count > paused_at + 5)
    run.stop()
    poll_until_done(run)


def test_the_queue_has_a_limit_and_says_so(split):
    queue = one_slot(max_queue=3)
    holders = [held(queue) for _ in range(3)]  # one trains, two wait: all admitted
    with pytest.raises(train.JobLimitError, match="training queue is full"):
        jobs.Job(lambda job: None, scheduler=queue).start()
    for _, release in holders:
        release.set()
    assert all(job.join(10) for job, _ in holders)
    assert jobs.Job(lambda job: None, scheduler=queue).start().join(10)  # room again


def test_one_live_run_per_session(split):
    queue = one_slot()
    mine, release = held(queue, owner="session-a")
    with pytest.raises(train.JobLimitError, match="already has a training run"):
        numpy_job(split, queue, owner="session-a")
    other = numpy_job(split, queue, images=320, owner="session-b")  # another student: queued
    release.set()
    assert poll_until_done(other).state == "finished"
    assert poll_until_done(numpy_job(split, queue, images=320, owner="session-a")).step_count \
        == 10  # the first has ended: the session may start again


def test_a_closed_page_leaves_the_queue_within_seconds(split):
    queue = one_slot()
    open_tabs = {"b": True, "c": True}
    blocker, release = held(queue)
    b = numpy_job(split, queue, images=320, alive=lambda: open_tabs["b"])
    c = numpy_job(split, queue, epochs=5, alive=lambda: open_tabs["c"])
    assert (b.poll().queue.place, c.poll().queue.place) == (1, 2)
    open_tabs["b"] = False  # the tab is closed (it stops polling too, but much later counts)
    closed = time.monotonic()
    snap = poll_until_done(b, timeout=jobs.GONE_SECONDS + 5)
    assert time.monotonic() - closed < jobs.GONE_SECONDS + 2 < b.idle_seconds
    assert snap.stop_reason == "gone" and snap.step_count == 0  # it never trained
    assert c.poll().queue.place == 1  # the one behind moved up
    release.set()
    wait_until(lambda: c.poll().step_count > 0)
    open_tabs["c"] = False  # closed while training: it ends too
    assert poll_until_done(c, timeout=jobs.GONE_SECONDS + 5).stop_reason == "gone"


def test_each_device_has_its_own_lane(split):
    queue = one_slot()
    blocker, release = held(queue)  # the CPU's one slot is taken
    on_gpu, gpu_release = held(queue, device="cuda:0")  # a GPU run needs no CPU slot
    wait_until(lambda: on_gpu.poll().state == "running", timeout=5)
    assert blocker.poll().state == "running"
    release.set()
    gpu_release.set()
    assert blocker.join(10) and on_gpu.join(10)
