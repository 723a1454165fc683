"""The degradation problem, measured: plain-20 against plain-56 and ResNet-20 against ResNet-56,
trained on the same digits, in the same order, for the same number of steps.

He et al. (2015, Fig. 1 and §4.2) found that on CIFAR-10 the 56-layer plain network ends with a
*higher training error* than the 20-layer one, so it is not overfitting, while the residual
networks improve with depth. This module trains the four networks with the paper's optimiser
(SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 after a one-epoch warm-up)
on the offline MNIST subset, records every step's loss, each epoch's validation accuracy and
the gradient norm at every block at a few checkpoints, and returns plain, JSON-ready data.

Training four networks takes a while on a laptop CPU, so the app ships one run:

    python -m cnnviz.train.depth.degradation --rebuild

writes ``assets/degradation.json`` with the data, seed, budget, wall time, machine and versions
beside the curves; the page opens it instantly and can rerun a short version live.
"""

import argparse
import datetime
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision

from cnnviz.images import ASSETS
from cnnviz.train import torchvision_data
from cnnviz.train.depth import gradient_flow
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
    setting with the same thread count reproduces them."""

    depths: tuple[int, int] = (20, 56)
    epochs: int = 10
    batch_size: int = 128  # He et al. §4.2
    lr: float = 0.1  # §4.2 (divided by 10 at 32k and 48k iterations: far beyond these runs)
    # The learning rate rises linearly to ``lr`` over these first steps (an epoch of the subset).
    # Without it ResNet-56's loss rose from 2.9 to 11.8 by step 5 and was still 2.27 after two
    # epochs, as the paper's ResNet-110 did ("0.1 is slightly too large to start converging").
    warmup_steps: int = 27
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0  # initial weights (torch) and batch order (the loop)
    split_seed: int = 0  # the data set's train / validation split
    batch_norm: bool = True
    activation: str = "relu"
    width: int = 16
    checkpoints: int = 4  # gradient norms at initialisation and at this many evenly spaced steps
    gradient_batch: int = 128  # the first training digits, the same batch at every checkpoint
    data: str = "subset"  # the offline MNIST subset, or a torchvision_data name ("cifar10")
    train_images: int | None = None  # the first this many training images (None: all of them)
    validation_images: int | None = None  # likewise for validation

    @property
    def label(self) -> str:
        return (f"{'batch norm' if self.batch_norm else 'no batch norm'}, "
                f"{'ReLU' if self.activation == 'relu' else self.activation}")

    def runs(self) -> list[tuple[str, int, bool]]:
        """(label, depth, residual) of the four networks: shallow and deep, plain then residual."""
        return [(run_label(depth, residual), depth, residual)
                for residual in (False, True) for depth in self.depths]

    def steps(self, train_size: int) -> int:
        return self.epochs * batches_per_epoch(train_size, self.batch_size)

    def checkpoint_steps(self, train_size: int) -> list[int]:
        total = self.steps(train_size)
        return sorted({round(total * k / self.checkpoints)
                       for k in range(1, self.checkpoints + 1)})


DEFAULT_SETTINGS = (Setting(),)  # what the shipped file holds


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


def train_one(depth: int, residual: bool, setting: Setting, data: Images32, *,
              max_steps: int | None = None, on_step: Callable[[dict], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict:
    """Train one network of ``setting`` and return its record: every step's loss, every epoch's
    means and validation scores, and the gradient norms at the checkpoints (step 0 first).
    ``max_steps`` ends it early (a short live run, or a test)."""
    net = cifar_net(depth, residual, width=setting.width, batch_norm=setting.batch_norm,
                    activation=setting.activation, in_channels=data.channels, seed=setting.seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=setting.lr, momentum=setting.momentum,
                                weight_decay=setting.weight_decay)
    learner = TorchLearner(net, optimizer, prepare=data.standardise)
    probe = data.tensors(data.train, setting.gradient_batch)
    checkpoints = set(setting.checkpoint_steps(len(data.train)))
    gradients = [{"step": 0, **_flow(net, *probe)}]
    steps: list[dict] = []

    def set_learning_rate(done: int) -> None:
        """Before step done + 1: a linear warm-up to ``lr`` (Goyal et al., 2017), then ``lr``."""
        warm = min(1.0, (done + 1) / setting.warmup_steps) if setting.warmup_steps else 1.0
        for group in optimizer.param_groups:
            group["lr"] = setting.lr * warm

    set_learning_rate(0)

    def step(record: dict) -> None:
        steps.append(record)
        set_learning_rate(record["step"])
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
                      epochs=setting.epochs, batch_size=setting.batch_size, seed=setting.seed,
                      on_step=step, should_stop=stop)
        ended, epochs, seconds = history.ended, history.epochs, history.seconds
    except FloatingPointError:  # the loss became infinite: recorded with its steps until then
        ended, epochs, seconds = "diverged", [], steps[-1]["seconds"] if steps else 0.0
    return {
        "label": run_label(depth, residual), "depth": depth, "residual": residual,
        "params": parameter_count(depth, residual, width=setting.width,
                                  batch_norm=setting.batch_norm,
                                  in_channels=data.channels)["total"],
        "seconds": seconds, "ended": ended,
        "loss": [s["loss"] for s in steps],  # step k+1's training batch loss at index k
        "epochs": [{k: e[k] for k in ("step", "epoch", "loss", "accuracy", "val_loss",
                                       "val_accuracy", "seconds")} for e in epochs],
        "gradients": gradients,
    }


def run_setting(setting: Setting, data: Images32 | None = None, *,
                max_steps: int | None = None,
                progress: Callable[[str, dict], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict:
    """The four networks of ``setting``, one after another; ``progress(label, step_record)``
    after every step. ``data``: the setting's data set already loaded (a page's cache)."""
    data = data or images32(torchvision_data.load_split(setting.data, setting.split_seed))
    # cut to the setting's size, standardised as before with all training images' statistics
    data = replace(data, train=data.train.subset(slice(0, setting.train_images)),
                   validation=data.validation.subset(slice(0, setting.validation_images)))
    start = time.perf_counter()
    runs = []
    for label, depth, residual in setting.runs():
        if should_stop is not None and should_stop():
            break
        on_step = None if progress is None else (lambda r, label=label: progress(label, r))
        runs.append(train_one(depth, residual, setting, data, max_steps=max_steps,
                              on_step=on_step, should_stop=should_stop))
    return {"setting": {**asdict(setting), "label": setting.label},
            "train_size": len(data.train), "validation_size": len(data.validation),
            "standardise": {"mean": data.standardise.mean, "std": data.standardise.std},
            "wall_seconds": time.perf_counter() - start, "runs": runs}


def final_losses(record: dict) -> dict[str, float | None]:
    """Each run's training loss at the end: its last epoch's mean (None when it diverged)."""
    return {run["label"]: run["epochs"][-1]["loss"] if run.get("epochs") else None
            for run in record["runs"]}


def verdict(record: dict) -> dict:
    """What one setting's runs show: did the deeper plain network end with a higher training
    loss than the shallower one (degradation), and the deeper residual network with a lower
    one? A run that diverged counts as the worse of its pair."""
    shallow, deep = record["setting"]["depths"]
    final = final_losses(record)

    def worse(a: str, b: str) -> bool | None:
        """Whether run ``a`` ended worse than run ``b``; None when either is missing."""
        if a not in final or b not in final:
            return None
        if final[a] is None or final[b] is None:
            return final[a] is None and final[b] is not None
        return final[a] > final[b]

    return {"final_losses": final,
            "plain_degrades": worse(f"plain-{deep}", f"plain-{shallow}"),
            "residual_degrades": worse(f"ResNet-{deep}", f"ResNet-{shallow}")}


def setting_of(record: dict) -> Setting:
    """The :class:`Setting` a results file records (its ``label`` is derived, not a field)."""
    fields = {k: v for k, v in record["setting"].items() if k != "label"}
    return Setting(**{**fields, "depths": tuple(fields["depths"])})


def live_job(setting: Setting, data: Images32 | None = None, **bounds) -> Job:
    """The four runs of ``setting`` in a background :class:`~cnnviz.train.jobs.Job` that a page
    polls: each step record in ``poll().steps`` names its ``run``; ``poll().result`` is
    :func:`run_setting`'s record. ``bounds``: the job's ``max_seconds`` and ``idle_seconds``."""

    def work(job: Job) -> dict:
        return run_setting(setting, data, should_stop=job.should_stop,
                           progress=lambda label, r: job.on_step({**r, "run": label}))

    return Job(work, name="cnnviz-degradation", **bounds).start()


def live_runs(setting: Setting, steps: list[dict]) -> list[dict]:
    """The runs seen so far in a live job's step records, shaped as :func:`train_one`'s records
    (losses only, no epochs yet), for the same figures."""
    return [{"label": label, "depth": depth, "residual": residual, "ended": "running",
             "loss": [s["loss"] for s in steps if s["run"] == label]}
            for label, depth, residual in setting.runs()
            if any(s["run"] == label for s in steps)]


def live_fraction(setting: Setting, steps: list[dict]) -> float:
    """How much of a live job's four runs is done, in [0, 1]."""
    if not steps:
        return 0.0
    labels = [label for label, _, _ in setting.runs()]
    last = steps[-1]
    return min((labels.index(last["run"]) + last["step"] / last["total_steps"]) / len(labels), 1.0)


def environment() -> dict:
    """Where and with what a run was measured."""
    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "numpy": np.__version__,
        "machine": platform.machine(), "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "device": "cpu", "load_average": os.getloadavg(),
    }


def rebuild(path: Path = RESULTS_PATH, settings: tuple[Setting, ...] = DEFAULT_SETTINGS,
            progress: Callable[[str, dict], None] | None = None) -> dict:
    """Run every setting and write the results file (the page's data)."""
    started = datetime.datetime.now(datetime.timezone.utc)
    before = environment()
    results = [run_setting(s, progress=progress) for s in settings]
    document = {
        "generated_by": COMMAND,
        "data": "; ".join(dict.fromkeys(describe(s) for s in settings)),
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": sum(r["wall_seconds"] for r in results),
        "environment": {**before, "load_average_after": os.getloadavg()},
        "settings": results,
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
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
    parser.add_argument("--data", choices=["subset", *torchvision_data.DATASETS],
                        help="train on another data set, when this machine has it")
    parser.add_argument("--threads", type=int, help="torch threads (the file records them: "
                                                     "the same count reproduces its numbers)")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    if not args.rebuild:
        parser.error("nothing to do: pass --rebuild")
    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {k: v for k, v in (("epochs", args.epochs), ("data", args.data)) if v is not None}
    settings = tuple(replace(s, **changes) for s in DEFAULT_SETTINGS)

    def progress(label: str, record: dict) -> None:
        if record["step"] % 10 == 0 or record["step"] == record["total_steps"]:
            print(f"{label}: step {record['step']}/{record['total_steps']}, "
                  f"loss {record['loss']:.3f}, {record['seconds']:.0f} s", flush=True)

    try:
        document = rebuild(args.out, settings, progress)
    except torchvision_data.DataUnavailableError as err:
        raise SystemExit(str(err)) from None
    print(f"wrote {args.out} in {document['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
