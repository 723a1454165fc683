"""The degradation experiment: the shipped results reproduce from their recorded settings, the
rebuild writes what it claims, and the live version runs, reports and stops."""

import contextlib
import json
import sys
import time
import types
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from cnnviz.train.depth import degradation, verdict
from cnnviz.train.depth.cifar_net import cifar_net
from cnnviz.train.depth.degradation import Setting
from cnnviz.train.depth.images32 import images32
from cnnviz.train.offline_mnist import ImageSet, Split

TINY = Setting(depths=(8, 14), epochs=1, batch_size=100, checkpoints=2, gradient_batch=32,
               width=4, train_images=700, seeds=(0, 1))


@pytest.fixture(scope="module")
def shipped() -> dict:
    return degradation.load()


@contextlib.contextmanager
def threads(n: int):
    """Float sums depend on how the work is split among threads: reproduce with the recorded
    number of threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_shipped_file_records_data_seeds_budget_wall_time_and_versions(shipped):
    assert shipped["generated_by"].startswith(degradation.COMMAND)
    assert "MNIST" in shipped["data"]
    env = shipped["environment"]
    for key in ("python", "torch", "torchvision", "numpy", "processor", "cpu_count",
                "torch_threads", "device", "load_average", "load_average_after"):
        assert env[key] is not None, key
    assert shipped["processes"] >= 1 and shipped["wall_seconds"] > 0
    for record in shipped["settings"]:
        setting = degradation.setting_of(record)
        if setting.batch_norm:  # the degradation verdict needs the spread between seeds
            assert len(setting.seeds) >= 3
        assert [(run["label"], run["seed"]) for run in record["runs"]] == [
            (label, seed) for label, _, _, seed in setting.runs()]
        assert record["summary"] == verdict.summary(record)  # the spread, as the page reads it
        assert record["train_seconds"] == pytest.approx(sum(r["seconds"] for r in record["runs"]))
        for run in record["runs"]:
            assert run["params"] == sum(p.numel() for p in cifar_net(
                run["depth"], run["residual"], batch_norm=setting.batch_norm,
                width=setting.width, in_channels=1).parameters())
            if run["ended"] == "diverged":
                continue
            assert run["ended"] == "finished"
            assert len(run["loss"]) == setting.steps(record["train_size"])
            assert [e["epoch"] for e in run["epochs"]] == list(range(1, setting.epochs + 1))
            assert [g["step"] for g in run["gradients"]] == [
                0, *setting.checkpoint_steps(record["train_size"])]
            assert run["seconds"] > 0  # (a resumed rebuild's wall time counts only its own runs)


# How far a fresh run may be from the shipped one on another machine. bench/float_spread.py ran
# the first 4 steps of every network of the shipped settings (the first seed) under torch's scalar
# kernels (ATEN_CPU_CAPABILITY=default, the code path of a CPU without AVX2) and with 2 threads,
# against the shipped runs (AVX-512, 1 thread); the largest relative differences were
#   ATEN default: step 1 2.1e-5, steps 2-4 5.2e-3 (step 2), step-0 gradient norms 4.3e-3;
#   2 threads:    step 1 0 (the same), steps 2-4 5.9e-3 (step 3), step-0 gradient norms 0.
# A step-1 loss comes from the same weights and batch (a forward pass only), the later ones after
# updates, which carry the difference on. Each tolerance is 5 × the largest spread measured.
FIRST_STEP = 1.1e-4  # the loss of the initial weights on the first batch
LATER_STEPS = 3e-2  # steps 2 to 4, after the weights have moved
GRADIENTS = 2.2e-2  # gradient norms at initialisation (float32, as the runs record them)


def test_shipped_file_reproduces_from_its_recorded_settings(shipped):
    """The data bit for bit, the network sizes exactly, and the first steps of every network's
    first seed within the spread that other CPUs give (see the tolerances above)."""
    steps = 4
    for record in shipped["settings"]:
        setting = degradation.setting_of(record)
        data = degradation.prepare(setting)
        assert degradation.fingerprint(data) == record["data_sha256"]
        assert (len(data.train), len(data.validation)) == (record["train_size"],
                                                           record["validation_size"])
        for key in ("mean", "std"):  # float64 sums of the same bytes: at most their rounding
            assert list(getattr(data.standardise, key)) == pytest.approx(
                record["standardise"][key], rel=1e-12)
        again = degradation.run_setting(replace(setting, seeds=setting.seeds[:1]), data,
                                        max_steps=steps)
        first_seed = [run for run in record["runs"] if run["seed"] == setting.seeds[0]]
        for old, new in zip(first_seed, again["runs"], strict=True):
            assert (new["label"], new["params"]) == (old["label"], old["params"])
            assert new["loss"][0] == pytest.approx(old["loss"][0], rel=FIRST_STEP), old["label"]
            assert new["loss"][1:] == pytest.approx(old["loss"][1:steps], rel=LATER_STEPS), (
                old["label"])
            fresh, first = new["gradients"][0], old["gradients"][0]
            assert fresh["step"] == first["step"] == 0
            assert fresh["loss"] == pytest.approx(first["loss"], rel=FIRST_STEP)
            assert fresh["input_norms"] == pytest.approx(first["input_norms"], rel=GRADIENTS)


def test_learning_rate_warms_up_then_holds():
    setting = Setting(lr=0.1, warmup_steps=27)
    rates = [setting.learning_rate(done) for done in range(60)]
    assert rates[0] == pytest.approx(0.1 / 27) and rates[26] == rates[59] == 0.1
    assert all(a < b for a, b in zip(rates[:26], rates[1:27]))
    assert Setting(warmup_steps=0).learning_rate(0) == 0.1


def test_rebuild_writes_what_the_page_reads(tmp_path):
    path = tmp_path / "results.json"
    with threads(1):
        written = degradation.rebuild(path, (TINY,))
    assert degradation.load(path) == json.loads(json.dumps(written))
    assert not (tmp_path / "results.json.partial").exists()
    record = written["settings"][0]
    assert record["setting"]["label"] == "batch norm, ReLU"
    assert [(r["label"], r["seed"]) for r in record["runs"]] == [
        (label, seed) for seed in (0, 1) for label in ("plain-8", "plain-14", "ResNet-8",
                                                       "ResNet-14")]
    steps = TINY.steps(record["train_size"])
    assert record["train_size"] == 700 and steps == 7
    for run in record["runs"]:
        assert len(run["loss"]) == steps and len(run["epochs"]) == 1
        assert run["epochs"][0]["loss"] == pytest.approx(sum(run["loss"]) / steps)
        assert 0 <= run["epochs"][0]["val_accuracy"] <= 1
        assert [g["step"] for g in run["gradients"]] == [0, 4, 7]
    # the seeds differ: other initial weights, other batches
    assert record["runs"][0]["loss"][0] != record["runs"][4]["loss"][0]
    with pytest.raises(FileNotFoundError, match="--rebuild"):
        degradation.load(tmp_path / "missing.json")


def test_a_rebuild_in_processes_equals_one_in_this_process_and_resumes(tmp_path, monkeypatch):
    """Two processes with one thread each give the numbers of one process with one thread, and
    a rebuild that was interrupted keeps the runs it had finished."""
    # A spawned worker first runs the parent's __main__ again. After a page test, Streamlit has
    # left the page's script there (views/…py, which needs a browser session), not the command
    # line's module that the rebuild's own command has: give the workers an empty one.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    one = replace(TINY, seeds=(0,), train_images=300)
    with threads(1):
        here = degradation.rebuild(tmp_path / "here.json", (one,))
    apart = degradation.rebuild(tmp_path / "apart.json", (one,), jobs=2)
    assert apart["processes"] == 2 and apart["environment"]["torch_threads"] == 1
    assert [r["loss"] for r in apart["settings"][0]["runs"]] == [
        r["loss"] for r in here["settings"][0]["runs"]]

    partial = tmp_path / "resumed.json.partial"
    finished = {**here["settings"][0]["runs"][0], "seconds": 12345.0}  # marked as the old one
    partial.write_text(json.dumps({"setting": asdict(one), "run": finished}) + "\n")
    with threads(1):
        resumed = degradation.rebuild(tmp_path / "resumed.json", (one,))
    assert resumed["settings"][0]["runs"][0] == finished
    assert [r["loss"] for r in resumed["settings"][0]["runs"]] == [
        r["loss"] for r in here["settings"][0]["runs"]]
    assert not partial.exists()


def wait(job, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while not job.poll().done:
        assert time.monotonic() < deadline, "the live job did not finish"
        time.sleep(0.2)
    return job.poll()


def test_live_job_trains_every_run_and_estimates_the_time_left():
    with threads(1):
        job = degradation.live_job(TINY)
        snap = wait(job)
    assert snap.state == "finished", snap.error
    runs = [(label, seed) for label, _, _, seed in TINY.runs()]
    assert [(r["label"], r["seed"]) for r in snap.result["runs"]] == runs
    assert list(dict.fromkeys((s["run"], s["seed"]) for s in snap.steps)) == runs
    assert degradation.live_fraction(TINY, snap.steps) == 1.0
    live = degradation.live_runs(TINY, snap.steps)
    for partial, done in zip(live, snap.result["runs"], strict=True):
        assert partial["loss"] == done["loss"]
    # the time left falls to 0 at the last step, and is positive before it
    assert snap.steps[-1]["seconds_left"] == 0
    assert all(s["seconds_left"] > 0 for s in snap.steps[:-1])


def test_time_left_is_the_pace_so_far_and_the_timed_first_steps():
    first = {"plain-8": 0.1, "plain-14": 0.2, "ResNet-8": 0.1, "ResNet-14": 0.3}
    # plain-14 of seed 0 at step 3 of 7, going twice as slowly as its timed first step
    last = {"run": "plain-14", "seed": 0, "step": 3, "total_steps": 7, "seconds": 1.2}
    left = degradation.seconds_left(TINY, 700, first, last)
    later = 0.1 + 0.3 + (0.1 + 0.2 + 0.1 + 0.3)  # seed 0's residual networks, then seed 1
    assert left == pytest.approx(4 * 0.4 + 7 * later * 2)


def test_first_steps_are_timed_for_every_network():
    data = degradation.prepare(TINY)
    with threads(1):
        seconds = degradation.time_first_steps(TINY, data)
    assert list(seconds) == [label for label, _, _ in TINY.networks()]
    assert all(s > 0 for s in seconds.values())


def test_live_job_stops_when_asked():
    with threads(1):
        job = degradation.live_job(TINY)
        while not job.poll().steps:
            time.sleep(0.05)
        job.stop()
        snap = wait(job)
    assert snap.state == "stopped"
    assert len(snap.result["runs"]) < 8 or len(snap.result["runs"][-1]["loss"]) < 7
    assert 0 < degradation.live_fraction(TINY, snap.steps) < 1


def test_colour_images_train_networks_with_three_input_channels():
    """CIFAR-10's shape (the real set needs a download): 32×32×3 uint8 images."""
    rng = np.random.default_rng(0)
    classes = tuple(str(c) for c in range(10))

    def part(n):
        return ImageSet(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                        np.arange(n) % 10, classes)

    data = images32(Split(part(300), part(100), part(10)))
    assert data.channels == 3 and data.tensors(data.train, 5)[0].shape == (5, 3, 32, 32)
    with threads(1):
        record = degradation.run_setting(replace(TINY, train_images=200, seeds=(0,)), data,
                                         max_steps=2)
    assert [len(r["loss"]) for r in record["runs"]] == [2, 2, 2, 2]
    assert record["runs"][0]["params"] == sum(
        p.numel() for p in cifar_net(8, False, width=TINY.width, in_channels=3).parameters())
