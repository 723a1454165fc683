"""The degradation problem, measured: plain-20 against plain-56 and ResNet-20 against ResNet-56,
trained on the same digits, in the same order, for the same number of steps, under several seeds.

He et al. (2015, Fig. 1 and §4.2) found that on CIFAR-10 the 56-layer plain network ends with a
*higher training error* than the 20-layer one, so it is not overfitting, while the residual
networks improve with depth. This module trains the four networks with the paper's optimiser
(SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 after a warm-up) on the
offline MNIST subset, records every step's loss, each epoch's validation accuracy and the gradient norm
at every block at a few checkpoints, and returns plain, JSON-ready data. Whether a record shows
degradation is :mod:`cnnviz.train.depth.verdict`'s question.

Training takes a while on a laptop CPU, so the app ships the runs:

    python -m cnnviz.train.depth.degradation --rebuild --jobs 2

writes ``assets/degradation.json`` with the data's fingerprint, the seeds, the budget, the wall
time, the machine and the versions beside the curves and the spread over seeds; ``--jobs`` trains
that many networks at once, one process and one torch thread each.
"""

import argparse
import datetime
import functools
import hashlib
import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision

from cnnviz.images import ASSETS
from cnnviz.train import torchvision_data
from cnnviz.train.depth import gradient_flow, verdict
from cnnviz.train.depth.cifar_net import cifar_net, parameter_count
from cnnviz.train.depth.images32 import Images32, images32
from cnnviz.train.jobs import Job
from cnnviz.train.loop import batches_per_epoch, fit
from cnnviz.train.torch_learner import TorchLearner

RESULTS_PATH = ASSETS / "degradation.json"
COMMAND = "python -m cnnviz.train.depth.degradation --rebuild"


def run_label(depth: int, residual: bool) -> str:
    return f"{'ResNet' if residual else 'plain'}-{depth}"


@dataclass(frozen=True)
class Setting:
    """Everything that decides a run's numbers; the results file records it, and the same
    setting reproduces them up to the float rounding of the machine (see the tests)."""

    depths: tuple[int, int] = (20, 56)
    epochs: int = 10
    batch_size: int = 128  # He et al. §4.2
    # §4.2; the paper divides it by 10 at 32k and 48k iterations, far beyond these runs. Held
    # constant, a loss that stops falling has reached a plateau, not the end of a schedule.
    lr: float = 0.1
    # The learning rate rises linearly to ``lr`` over these first steps (an epoch of the subset).
    # Without it ResNet-56's loss rose from 2.9 to 11.8 by step 5 and was still 2.27 after two
    # epochs, as the paper's ResNet-110 did ("0.1 is slightly too large to start converging").
    warmup_steps: int = 27
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seeds: tuple[int, ...] = (0,)  # initial weights (torch) and batch order (the loop), per run
    split_seed: int = 0  # the data set's train / validation split
    batch_norm: bool = True
    activation: str = "relu"
    zero_init: bool = False  # residual branches start at zero (cifar_net's zero_init)
    width: int = 16
    checkpoints: int = 4  # gradient norms at initialisation and at this many evenly spaced steps
    gradient_batch: int = 128  # the first training digits, the same batch at every checkpoint
    data: str = "subset"  # the offline MNIST subset, or a torchvision_data name ("cifar10")
    train_images: int | None = None  # the first this many training images (None: all of them)
    validation_images: int | None = None  # likewise for validation

    @property
    def label(self) -> str:
        return (f"{'batch norm' if self.batch_norm else 'no batch norm'}, "
                f"{'ReLU' if self.activation == 'relu' else self.activation}"
                + (", residual branches starting at zero" if self.zero_init else ""))

    def networks(self) -> list[tuple[str, int, bool]]:
        """(label, depth, residual) of the four networks: shallow and deep, plain then residual."""
        return [(run_label(depth, residual), depth, residual)
                for residual in (False, True) for depth in self.depths]

    def runs(self) -> list[tuple[str, int, bool, int]]:
        """(label, depth, residual, seed) of every run, a seed's four networks together."""
        return [(*network, seed) for seed in self.seeds for network in self.networks()]

    def steps(self, train_size: int) -> int:
        return self.epochs * batches_per_epoch(train_size, self.batch_size)

    def checkpoint_steps(self, train_size: int) -> list[int]:
        total = self.steps(train_size)
        return sorted({round(total * k / self.checkpoints)
                       for k in range(1, self.checkpoints + 1)})

    def learning_rate(self, done: int) -> float:
        """The rate of step ``done`` + 1: a linear warm-up (Goyal et al., 2017), then ``lr``."""
        warm = min(1.0, (done + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return self.lr * warm


# What the shipped file holds, as much as fits in about two and a half hours of a shared 2-core
# machine (two runs at a time, one thread each):
DEFAULT_SETTINGS = (
    # the paper's comparison, with batch norm: three seeds, for the spread a verdict needs
    Setting(epochs=5, seeds=(0, 1, 2)),
    # without batch norm, the residual branches starting at zero (an unnormalised ResNet's
    # output grows with depth otherwise), the plain networks initialised as usual: one seed,
    # long enough to learn (without batch norm they start slowly: ResNet-8 needed about 200
    # steps to pass 50 % validation accuracy)
    Setting(epochs=10, seeds=(0,), batch_norm=False, zero_init=True),
)


def _flow(net, images, labels) -> dict:
    """The gradient norms of one checkpoint, as the page draws them."""
    flow = gradient_flow.measure(net, images, labels)
    keep = ("loss", "input_norms", "highway_norms", "weight_norms")
    return {k: v for k, v in flow.as_dict().items() if k in keep}


def describe(setting: Setting) -> str:
    """The data of ``setting`` in words, for the results file and the page."""
    if setting.data == "subset":
        return ("the offline MNIST subset (assets/mnist_5k.npz) in its seeded stratified split, "
                "28×28 digits padded to 32×32 and standardised with the training digits' mean "
                "and standard deviation")
    return (f"{torchvision_data.TITLES[setting.data]} from torchvision, its training set split "
            "with a seeded stratified validation part, padded to 32×32 where smaller and "
            "standardised with the training images' statistics")


def fingerprint(data: Images32) -> str:
    """SHA-256 of the training and validation images and labels: the same data, bit for bit."""
    digest = hashlib.sha256()
    for part in (data.train, data.validation):
        digest.update(np.ascontiguousarray(part.images).tobytes())
        digest.update(np.ascontiguousarray(part.labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def build(depth: int, residual: bool, setting: Setting, data: Images32, seed: int) -> TorchLearner:
    """A fresh network of ``setting`` with its optimiser, at the warm-up's first rate."""
    net = cifar_net(depth, residual, width=setting.width, batch_norm=setting.batch_norm,
                    activation=setting.activation, in_channels=data.channels, seed=seed,
                    zero_init=setting.zero_init and residual)
    optimizer = torch.optim.SGD(net.parameters(), lr=setting.learning_rate(0),
                                momentum=setting.momentum, weight_decay=setting.weight_decay)
    return TorchLearner(net, optimizer, prepare=data.standardise)


def train_one(depth: int, residual: bool, setting: Setting, data: Images32, seed: int, *,
              max_steps: int | None = None, on_step: Callable[[dict], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict:
    """Train one network of ``setting`` from ``seed`` and return its record: every step's loss,
    every epoch's means and validation scores, and the gradient norms at the checkpoints (step 0
    first). ``max_steps`` ends it early (a short live run, or a test)."""
    learner = build(depth, residual, setting, data, seed)
    net, optimizer = learner.model, learner.optimizer
    probe = data.tensors(data.train, setting.gradient_batch)
    checkpoints = set(setting.checkpoint_steps(len(data.train)))
    gradients = [{"step": 0, **_flow(net, *probe)}]
    steps: list[dict] = []

    def step(record: dict) -> None:
        steps.append(record)
        for group in optimizer.param_groups:
            group["lr"] = setting.learning_rate(record["step"])
        if record["step"] in checkpoints or record["step"] == max_steps:
            gradients.append({"step": record["step"], **_flow(net, *probe)})
        if on_step is not None:
            on_step(record)

    def stop() -> bool:
        return ((max_steps is not None and len(steps) >= max_steps)
                or (should_stop is not None and should_stop()))

    try:
        history = fit(learner, data.train.images, data.train.labels,
                      validation=(data.validation.images, data.validation.labels),
                      epochs=setting.epochs, batch_size=setting.batch_size, seed=seed,
                      on_step=step, should_stop=stop)
        ended, epochs, seconds = history.ended, history.epochs, history.seconds
    except FloatingPointError:  # the loss became infinite: recorded with its steps until then
        ended, epochs, seconds = "diverged", [], steps[-1]["seconds"] if steps else 0.0
    return {
        "label": run_label(depth, residual), "depth": depth, "residual": residual, "seed": seed,
        "params": parameter_count(depth, residual, width=setting.width,
                                  batch_norm=setting.batch_norm,
                                  in_channels=data.channels)["total"],
        "seconds": seconds, "ended": ended,
        "loss": [s["loss"] for s in steps],  # step k+1's training batch loss at index k
        "epochs": [{k: e[k] for k in ("step", "epoch", "loss", "accuracy", "val_loss",
                                       "val_accuracy", "seconds")} for e in epochs],
        "gradients": gradients,
    }


def prepare(setting: Setting, data: Images32 | None = None) -> Images32:
    """The setting's data, cut to its size and standardised as before with all training
    images' statistics. ``data``: the data set already loaded (a page's cache)."""
    data = data or _load(setting.data, setting.split_seed)
    return replace(data, train=data.train.subset(slice(0, setting.train_images)),
                   validation=data.validation.subset(slice(0, setting.validation_images)))


@functools.lru_cache(maxsize=2)
def _load(name: str, split_seed: int) -> Images32:
    return images32(torchvision_data.load_split(name, split_seed))


def _record(setting: Setting, data: Images32, runs: list[dict], train_seconds: float) -> dict:
    """A setting's runs with its data, sizes and spread over seeds; ``train_seconds``: the runs'
    training time added up (a rebuild trains several at once)."""
    record = {"setting": {**asdict(setting), "label": setting.label},
              "train_size": len(data.train), "validation_size": len(data.validation),
              "classes": len(data.train.classes), "data_sha256": fingerprint(data),
              "standardise": {"mean": data.standardise.mean, "std": data.standardise.std},
              "train_seconds": train_seconds, "runs": runs}
    record["summary"] = verdict.summary(record)
    return record


def run_setting(setting: Setting, data: Images32 | None = None, *,
                max_steps: int | None = None,
                progress: Callable[[str, int, dict], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict:
    """Every run of ``setting``, one after another; ``progress(label, seed, step_record)`` after
    every step."""
    data = prepare(setting, data)
    start = time.perf_counter()
    runs = []
    for label, depth, residual, seed in setting.runs():
        if should_stop is not None and should_stop():
            break
        on_step = None if progress is None else (
            lambda r, label=label, seed=seed: progress(label, seed, r))
        runs.append(train_one(depth, residual, setting, data, seed, max_steps=max_steps,
                              on_step=on_step, should_stop=should_stop))
    return _record(setting, data, runs, time.perf_counter() - start)


# ---- the live run: time the first steps, then train ------------------------------------------

def time_first_steps(setting: Setting, data: Images32) -> dict[str, float]:
    """Seconds for one training step of each of the setting's networks on this machine, now
    (a fresh network, the first batch): what a live run's time left is estimated from."""
    index = np.arange(min(setting.batch_size, len(data.train)))
    images, labels = data.train.images[index], data.train.labels[index]
    seconds = {}
    for label, depth, residual in setting.networks():
        learner = build(depth, residual, setting, data, seed=0)
        start = time.perf_counter()
        learner.train_step(images, labels)
        seconds[label] = time.perf_counter() - start
    return seconds


def seconds_left(setting: Setting, train_size: int, first_steps: dict[str, float],
                 last: dict) -> float:
    """The time a live run still needs after step record ``last``: the run in progress at its
    own measured pace, the runs not started at the pace of their timed first step, scaled by
    how much slower or faster the run in progress goes than its own first step did (the
    server's load)."""
    keys = [(label, seed) for label, _, _, seed in setting.runs()]
    pace = last["seconds"] / last["step"]
    load = pace / first_steps[last["run"]]
    later = sum(first_steps[label] for label, _ in keys[keys.index((last["run"], last["seed"]))
                                                         + 1:])
    return (last["total_steps"] - last["step"]) * pace + setting.steps(train_size) * later * load


def live_job(setting: Setting, data: Images32 | None = None, **bounds) -> Job:
    """The runs of ``setting`` in a background :class:`~cnnviz.train.jobs.Job` that a page
    polls. It first times one training step of each network, then trains: each step record in
    ``poll().steps`` names its ``run`` and ``seed`` and carries ``seconds_left``, estimated from
    those timings; ``poll().result`` is :func:`run_setting`'s record. ``bounds``: the job's
    ``max_seconds`` and ``idle_seconds``."""

    def work(job: Job) -> dict:
        prepared = prepare(setting, data)
        first = time_first_steps(setting, prepared)

        def progress(label: str, seed: int, record: dict) -> None:
            record = {**record, "run": label, "seed": seed}
            job.on_step({**record, "seconds_left": seconds_left(
                setting, len(prepared.train), first, record)})

        return run_setting(setting, prepared, should_stop=job.should_stop, progress=progress)

    return Job(work, name="cnnviz-degradation", **bounds).start()


def live_runs(setting: Setting, steps: list[dict]) -> list[dict]:
    """The runs seen so far in a live job's step records, shaped as :func:`train_one`'s records
    (losses only, no epochs yet), for the same figures."""
    return [{"label": label, "depth": depth, "residual": residual, "seed": seed,
             "ended": "running",
             "loss": [s["loss"] for s in steps if (s["run"], s["seed"]) == (label, seed)]}
            for label, depth, residual, seed in setting.runs()
            if any((s["run"], s["seed"]) == (label, seed) for s in steps)]


def live_fraction(setting: Setting, steps: list[dict]) -> float:
    """How much of a live job's runs is done, in [0, 1]."""
    if not steps:
        return 0.0
    keys = [(label, seed) for label, _, _, seed in setting.runs()]
    last = steps[-1]
    done = keys.index((last["run"], last["seed"])) + last["step"] / last["total_steps"]
    return min(done / len(keys), 1.0)


# ---- the shipped file ---------------------------------------------------------------------

def setting_of(record: dict) -> Setting:
    """The :class:`Setting` a results file records (its ``label`` is derived, not a field)."""
    fields = {k: v for k, v in record["setting"].items() if k != "label"}
    return Setting(**{**fields, **{k: tuple(fields[k]) for k in ("depths", "seeds")}})


def processor() -> str | None:
    """The CPU's model name (Linux), which ``platform.processor()`` leaves empty there."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict:
    """Where and with what a run was measured."""
    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "numpy": np.__version__,
        "machine": platform.machine(), "processor": processor(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "device": "cpu", "load_average": os.getloadavg(),
    }


def _one_thread() -> None:
    torch.set_num_threads(1)


def _train_unit(setting: Setting, label: str, depth: int, residual: bool, seed: int,
                log: bool) -> dict:
    """One run of a rebuild, in a worker process; ``log`` prints its progress."""
    def progress(record: dict) -> None:
        if record["step"] % 27 == 0 or record["step"] == record["total_steps"]:
            print(f"{setting.label} {label} seed {seed}: step {record['step']}/"
                  f"{record['total_steps']}, loss {record['loss']:.4f}, "
                  f"{record['seconds']:.0f} s", flush=True)

    return train_one(depth, residual, setting, prepare(setting), seed,
                     on_step=progress if log else None)


def rebuild(path: Path = RESULTS_PATH, settings: tuple[Setting, ...] = DEFAULT_SETTINGS, *,
            jobs: int = 1, log: bool = False) -> dict:
    """Train every run of every setting and write the results file (the page's data).

    ``jobs`` > 1 trains that many runs at once, each in its own process with one torch thread
    (the deepest first, so that the last to finish are short). Each finished run is appended to
    ``path`` + ``.partial``, and a rebuild that was interrupted starts from the runs found
    there with the same setting (``wall_seconds`` then counts only the runs trained since)."""
    started = datetime.datetime.now(datetime.timezone.utc)
    before = environment()
    partial = path.with_name(path.name + ".partial")
    done = {}
    if partial.exists():
        for line in partial.read_text().splitlines():
            entry = json.loads(line)
            done[json.dumps(entry["setting"]), entry["run"]["label"], entry["run"]["seed"]] = (
                entry["run"])
    units = [(setting, label, depth, residual, seed)
             for setting in settings for label, depth, residual, seed in setting.runs()
             if (json.dumps(asdict(setting)), label, seed) not in done]
    units.sort(key=lambda u: -u[2])
    start = time.perf_counter()

    def keep(setting: Setting, run: dict) -> None:
        done[json.dumps(asdict(setting)), run["label"], run["seed"]] = run
        with partial.open("a") as f:
            f.write(json.dumps({"setting": asdict(setting), "run": run}) + "\n")

    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            futures = {pool.submit(_train_unit, *unit, log): unit[0] for unit in units}
            for future, setting in futures.items():
                keep(setting, future.result())
    else:
        for unit in units:
            keep(unit[0], _train_unit(*unit, log))
    wall = time.perf_counter() - start
    results = []
    for setting in settings:
        key = json.dumps(asdict(setting))
        runs = [done[key, label, seed] for label, _, _, seed in setting.runs()]
        results.append(_record(setting, prepare(setting), runs, sum(r["seconds"] for r in runs)))
    document = {
        "generated_by": COMMAND + (f" --jobs {jobs}" if jobs > 1 else ""),
        "data": "; ".join(dict.fromkeys(describe(s) for s in settings)),
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": wall,
        "processes": jobs,
        "environment": {**before, "torch_threads": 1 if jobs > 1 else before["torch_threads"],
                        "load_average_after": os.getloadavg()},
        "settings": results,
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    partial.unlink(missing_ok=True)
    return document


def load(path: Path = RESULTS_PATH) -> dict:
    """The shipped results; a clear error when the file is missing (run the rebuild)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: run `{COMMAND}`") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help=f"train and write {RESULTS_PATH}")
    parser.add_argument("--epochs", type=int, help="override the budget of every setting")
    parser.add_argument("--seeds", type=int, nargs="+", help="override every setting's seeds")
    parser.add_argument("--data", choices=["subset", *torchvision_data.DATASETS],
                        help="train on another data set, when this machine has it")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained at once, each in a process with one torch thread")
    parser.add_argument("--threads", type=int, help="torch threads with --jobs 1")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    if not args.rebuild:
        parser.error("nothing to do: pass --rebuild")
    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {k: v for k, v in (("epochs", args.epochs), ("data", args.data),
                                 ("seeds", args.seeds and tuple(args.seeds))) if v}
    settings = tuple(replace(s, **changes) for s in DEFAULT_SETTINGS)
    try:
        document = rebuild(args.out, settings, jobs=args.jobs, log=True)
    except torchvision_data.DataUnavailableError as err:
        raise SystemExit(str(err)) from None
    print(f"wrote {args.out} in {document['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
