"""Background training jobs: they train, report progress, stop when asked, when nobody watches
or when their time is up, keep the weights learnt, and keep a bounded history. (How jobs
share the machine is tests/test_scheduler.py's.)"""

import time

import numpy as np
import pytest
import torch

from cnnviz import train
from cnnviz.train import jobs
from tests.test_training_loop import learner_for


@pytest.fixture(scope="module")
def split():
    return train.mnist_split(seed=0)


def wait_until(condition, timeout=30.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def poll_until_done(job, timeout=60.0):
    wait_until(lambda: job.poll().done, timeout)
    return job.poll()


def test_a_job_trains_to_the_end_and_reports_every_step(split):
    torch.set_num_threads(1)
    learner = learner_for(split)
    job = train.training_job(learner, split.validation.images, split.validation.labels,
                             validation=(split.test.images[:200], split.test.labels[:200]),
                             epochs=2, batch_size=50)
    first = job.poll()
    assert first.state in ("queued", "running") and not first.done
    snap = poll_until_done(job)
    assert snap.state == "finished" and snap.error is None and snap.stop_reason is None
    assert [r["step"] for r in snap.steps] == list(range(1, 21))
    assert [r["epoch"] for r in snap.epochs] == [1, 2] and "val_accuracy" in snap.epochs[-1]
    assert snap.result.steps == snap.steps and snap.fraction == 1.0
    assert snap.steps_per_second > 0 and snap.seconds_left is None
    assert job.join(5)


def test_stop_keeps_the_weights_trained_so_far(split):
    learner = learner_for(split)
    job = train.training_job(learner, split.train.images, split.train.labels, epochs=20)
    wait_until(lambda: len(job.poll().steps) >= 20)
    running = job.poll()
    assert 0 < running.fraction < 1 and 0 < running.seconds_left < job.max_seconds
    job.stop()
    snap = poll_until_done(job)
    assert snap.state == "stopped" and snap.stop_reason == "requested"
    assert snap.result.ended == "stopped" and len(snap.steps) < 20 * (3500 // 64)
    # the trained weights are those of the learner, and they have learnt something
    loss, acc = train.evaluate(learner, split.test.images, split.test.labels)
    assert acc > 0.3


def counting_work(job):
    """Work that runs until told to stop, as the loop does, and counts its steps."""
    n = 0
    while not job.should_stop():
        n += 1
        time.sleep(0.01)
    return n


def test_a_job_nobody_polls_stops_by_itself():
    job = train.Job(counting_work, idle_seconds=0.3).start()
    assert job.join(10), "the thread should end once nobody polls"
    assert job.poll().stop_reason == "idle" and job.poll().state == "stopped"


def test_polling_keeps_a_job_alive_until_its_lifetime_ends():
    job = train.Job(counting_work, idle_seconds=0.3, max_seconds=1.0).start()
    end = time.monotonic() + 0.7
    while time.monotonic() < end:
        assert job.poll().state == "running"  # polled: not idle
        time.sleep(0.05)
    snap = poll_until_done(job, timeout=5)
    assert snap.stop_reason == "lifetime" and snap.result > 10


def test_a_failing_job_reports_its_error_and_frees_its_place():
    def broken(job):
        raise RuntimeError("shapes do not match")

    job = train.Job(broken).start()
    snap = poll_until_done(job)
    assert snap.state == "failed" and "shapes do not match" in snap.error
    wait_until(lambda: train.running_jobs() == 0)


def test_a_long_run_keeps_a_bounded_evenly_thinned_history():
    def many_steps(job):
        for k in range(1, 5001):
            if job.should_stop():
                break
            job.on_step({"step": k, "epoch": 1, "loss": 1.0 / k, "total_steps": 5000})

    job = train.Job(many_steps).start()
    snap = poll_until_done(job)
    assert snap.step_count == 5000 and snap.latest["step"] == 5000
    assert jobs.MAX_STEP_RECORDS // 2 <= len(snap.steps) <= jobs.MAX_STEP_RECORDS
    kept = [r["step"] for r in snap.steps]
    assert kept[0] == 1 and len(set(np.diff(kept))) == 1  # evenly spaced from the start
    assert kept[-1] > 5000 - 2 * (kept[1] - kept[0])  # ... to the end


def test_training_jobs_are_bounded(split):
    learner = learner_for(split)
    with pytest.raises(train.JobLimitError, match="at most"):
        train.training_job(learner, split.train.images, split.train.labels,
                           epochs=jobs.MAX_EPOCHS + 1)


def test_a_finished_job_leaves_no_cycle_with_its_owner():
    """A run that keeps its job and gives it its own method (FineTuning, TrainingRun) must be
    freed as soon as the page drops it: the server turns Streamlit's collection off, so a
    cycle would keep a fine-tuned network until Python's collector happened to run."""
    import gc
    import weakref

    class Run:
        def __init__(self):
            self.weights = torch.zeros(1000)
            self.job = jobs.Job(self.work).start()

        def work(self, job):
            return self.weights.sum()

    gc.disable()
    try:
        run = Run()
        poll_until_done(run.job)
        run.job.join()
        alive = weakref.ref(run.weights)
        del run
        assert alive() is None
    finally:
        gc.enable()
