"""The degradation experiment: the shipped results reproduce from their recorded settings, the
rebuild writes what it claims, and the live version runs, reports and stops."""

import contextlib
import json
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from cnnviz.train.depth import degradation
from cnnviz.train.depth.cifar_net import cifar_net
from cnnviz.train.depth.degradation import Setting
from cnnviz.train.depth.images32 import images32
from cnnviz.train.offline_mnist import ImageSet, Split

TINY = Setting(depths=(8, 14), epochs=1, batch_size=100, checkpoints=2, gradient_batch=32,
               width=4, train_images=700)


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


def test_shipped_file_records_data_seed_budget_wall_time_and_versions(shipped):
    assert shipped["generated_by"] == degradation.COMMAND
    assert "MNIST" in shipped["data"]
    env = shipped["environment"]
    for key in ("python", "torch", "torchvision", "numpy", "cpu_count", "torch_threads",
                "load_average", "load_average_after"):
        assert env[key] is not None, key
    assert shipped["wall_seconds"] == pytest.approx(
        sum(r["wall_seconds"] for r in shipped["settings"]))
    for record in shipped["settings"]:
        setting = degradation.setting_of(record)
        labels = [label for label, _, _ in setting.runs()]
        assert [run["label"] for run in record["runs"]] == labels
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
            assert 0 < run["seconds"] <= record["wall_seconds"]


def test_shipped_file_reproduces_from_its_recorded_settings(shipped):
    """The rebuild, on a budget of four steps, gives the file's first points."""
    steps = 4
    with threads(shipped["environment"]["torch_threads"]):
        for record in shipped["settings"]:
            again = degradation.run_setting(degradation.setting_of(record), max_steps=steps)
            assert again["train_size"] == record["train_size"]
            for key in ("mean", "std"):
                assert list(again["standardise"][key]) == pytest.approx(
                    record["standardise"][key])
            for old, new in zip(record["runs"], again["runs"], strict=True):
                assert new["label"] == old["label"]
                assert new["loss"] == pytest.approx(old["loss"][:steps], rel=1e-4), old["label"]
                first, fresh = old["gradients"][0], new["gradients"][0]
                assert fresh["step"] == first["step"] == 0
                assert fresh["loss"] == pytest.approx(first["loss"], rel=1e-5)
                assert fresh["input_norms"] == pytest.approx(first["input_norms"], rel=1e-4)


def test_verdict_reads_the_final_epoch_losses():
    def run(label, loss):
        depth = int(label.split("-")[1])
        return {"label": label, "depth": depth, "residual": label.startswith("ResNet"),
                "epochs": [] if loss is None else [{"loss": 9.0}, {"loss": loss}]}

    record = {"setting": {"depths": [20, 56]},
              "runs": [run("plain-20", 0.3), run("plain-56", 1.9), run("ResNet-20", 0.3),
                       run("ResNet-56", 0.2)]}
    found = degradation.verdict(record)
    assert found["final_losses"]["plain-56"] == 1.9
    assert found["plain_degrades"] is True and found["residual_degrades"] is False
    record["runs"][1] = run("plain-56", 0.1)
    assert degradation.verdict(record)["plain_degrades"] is False
    record["runs"][1] = run("plain-56", None)  # diverged
    assert degradation.verdict(record)["plain_degrades"] is True


def test_rebuild_writes_what_the_page_reads(tmp_path):
    path = tmp_path / "results.json"
    with threads(1):
        written = degradation.rebuild(path, (TINY,))
    assert degradation.load(path) == json.loads(json.dumps(written))
    record = written["settings"][0]
    assert record["setting"]["label"] == "batch norm, ReLU"
    assert [r["label"] for r in record["runs"]] == ["plain-8", "plain-14", "ResNet-8",
                                                    "ResNet-14"]
    steps = TINY.steps(record["train_size"])
    assert record["train_size"] == 700 and steps == 7
    for run in record["runs"]:
        assert len(run["loss"]) == steps and len(run["epochs"]) == 1
        assert run["epochs"][0]["loss"] == pytest.approx(sum(run["loss"]) / steps)
        assert 0 <= run["epochs"][0]["val_accuracy"] <= 1
        assert [g["step"] for g in run["gradients"]] == [0, 4, 7]
    with pytest.raises(FileNotFoundError, match="--rebuild"):
        degradation.load(tmp_path / "missing.json")


def wait(job, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while not job.poll().done:
        assert time.monotonic() < deadline, "the live job did not finish"
        time.sleep(0.2)
    return job.poll()


def test_live_job_trains_the_four_networks_with_progress():
    with threads(1):
        job = degradation.live_job(TINY)
        snap = wait(job)
    assert snap.state == "finished", snap.error
    assert [r["label"] for r in snap.result["runs"]] == [l for l, _, _ in TINY.runs()]
    assert {s["run"] for s in snap.steps} == {l for l, _, _ in TINY.runs()}
    assert degradation.live_fraction(TINY, snap.steps) == 1.0
    live = degradation.live_runs(TINY, snap.steps)
    for partial, done in zip(live, snap.result["runs"], strict=True):
        assert partial["loss"] == done["loss"]


def test_live_job_stops_when_asked():
    with threads(1):
        job = degradation.live_job(TINY)
        while not job.poll().steps:
            time.sleep(0.05)
        job.stop()
        snap = wait(job)
    assert snap.state == "stopped"
    assert len(snap.result["runs"]) < 4 or len(snap.result["runs"][-1]["loss"]) < 7
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
        record = degradation.run_setting(replace(TINY, train_images=200), data, max_steps=2)
    assert [len(r["loss"]) for r in record["runs"]] == [2, 2, 2, 2]
    assert record["runs"][0]["params"] == sum(
        p.numel() for p in cifar_net(8, False, width=TINY.width, in_channels=3).parameters())
