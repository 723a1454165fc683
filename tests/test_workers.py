"""ModelWorkers: the order jobs run in, results and errors handed to the right caller, never
more workers than asked, no deadlock (a failing job, a job that submits another), idle
workers that end, the core count a container allows, and real Grad-CAM work from many
threads giving the sequential results."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from cnnviz import cam, images
from cnnviz.models import workers as workers_module
from cnnviz.models.workers import ModelWorkers, cores, workers_wanted

WAIT = 30  # seconds: a test that waits this long has deadlocked


def blocked(pool: ModelWorkers):
    """Occupy every worker of ``pool`` until the returned event is set; the futures of the
    jobs that hold them, and the worker threads."""
    release, started, held = threading.Event(), threading.Semaphore(0), set()

    def hold():
        held.add(threading.current_thread())
        started.release()
        assert release.wait(WAIT)

    futures = [pool.submit(hold) for _ in range(pool.workers)]
    for _ in futures:
        assert started.acquire(timeout=WAIT)
    return release, futures, held


def test_jobs_run_by_priority_then_in_the_order_asked():
    pool = ModelWorkers(1, torch_threads=None)
    release, _, _ = blocked(pool)
    ran = []
    jobs = [("strip a", 1), ("map a", 0), ("strip b", 1), ("map b", 0), ("map c", 0)]
    futures = [pool.submit(ran.append, name, priority=priority) for name, priority in jobs]
    release.set()
    for future in futures:
        future.result(timeout=WAIT)
    assert ran == ["map a", "map b", "map c", "strip a", "strip b"]


def test_each_caller_gets_its_own_result_from_many_threads_and_workers_stay_bounded():
    pool = ModelWorkers(2, torch_threads=None)
    running, most, lock = 0, 0, threading.Lock()

    def square(x):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.001)
        with lock:
            running -= 1
        return x * x

    with ThreadPoolExecutor(16) as sessions:
        results = list(sessions.map(lambda x: pool.run(square, x), range(400)))
    assert results == [x * x for x in range(400)]
    assert most == 2 and pool.threads() <= 2


def test_a_failing_job_raises_in_its_caller_and_the_workers_carry_on():
    pool = ModelWorkers(1, torch_threads=None)

    def fail():
        raise KeyError("no such layer")

    with pytest.raises(KeyError, match="no such layer"):
        pool.run(fail)
    futures = [pool.submit(fail) for _ in range(3)] + [pool.submit(int, "7")]
    assert [type(f.exception(timeout=WAIT)) for f in futures[:3]] == [KeyError] * 3
    assert futures[3].result(timeout=WAIT) == 7


def test_a_job_that_asks_for_more_work_does_not_wait_for_itself():
    pool = ModelWorkers(1, torch_threads=None)

    def outer():
        return pool.run(lambda: "inner done", priority=5) + ", outer done"

    future = pool.submit(outer)
    assert future.result(timeout=WAIT) == "inner done, outer done"


def test_idle_workers_end_and_start_again_for_the_next_job():
    pool = ModelWorkers(2, idle_s=0.2, torch_threads=None)
    release, futures, held = blocked(pool)
    assert pool.threads() == len(held) == 2
    release.set()
    for future in futures:
        future.result(timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while pool.threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.threads() == 0
    for thread in held:
        thread.join(timeout=WAIT)
        assert not thread.is_alive()
    assert pool.run(sum, [1, 2, 3]) == 6


def test_workers_give_torch_one_thread_each_from_the_start():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        ModelWorkers(2, idle_s=0.1)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        ModelWorkers(2, torch_threads=None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_cores_follow_a_containers_cpu_quota(tmp_path, monkeypatch):
    available = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(workers_module, "CGROUP_CPU", str(quota))
    quota.write_text("max 100000\n")
    assert cores() == available
    quota.write_text("50000 100000\n")  # half a core still gets one worker
    assert cores() == 1
    quota.write_text(f"{100000 * (available + 4)} 100000\n")  # more than the machine has
    assert cores() == available
    monkeypatch.setattr(workers_module, "CGROUP_CPU", str(tmp_path / "absent"))
    assert cores() == available


def test_the_number_of_workers_can_be_set(monkeypatch):
    monkeypatch.setenv("CNNVIZ_MODEL_WORKERS", "6")
    assert workers_wanted() == 6 and ModelWorkers(torch_threads=None).workers == 6
    for wrong in ("", "0", "-2", "many"):
        monkeypatch.setenv("CNNVIZ_MODEL_WORKERS", wrong)
        assert workers_wanted() == cores()


def test_grad_cam_maps_from_many_sessions_equal_the_sequential_ones(lite0):
    photos = [images.load_image(p) for p in images.sample_images().values()]
    layer = cam.default_layer(lite0)
    strip = tuple(cam.depth_layers(lite0, layer))
    jobs = [(img, (target,), strip if i % 2 else (layer,))
            for i, (img, target) in enumerate(zip(photos, [281, 404, 817, 5, 999, 0, 1, 2]))]
    expected = [cam.grad_cams(lite0, img, targets, layers) for img, targets, layers in jobs]
    pool = ModelWorkers(2, torch_threads=None)
    with ThreadPoolExecutor(len(jobs)) as sessions:
        got = list(sessions.map(
            lambda job: pool.run(cam.grad_cams, lite0, job[0], job[1], job[2],
                                 priority=len(job[2]) > 1), jobs))
    for mine, reference in zip(got, expected):
        assert list(mine) == list(reference)
        for key in mine:
            np.testing.assert_array_equal(mine[key].heatmap, reference[key].heatmap)
