"""Training on the offline MNIST subset: accuracy within a time budget, and the NumPy step's
cost against its PyTorch twin's.

    python bench/bench_training.py [--threads N] [--seconds S] [--only steps|accuracy]
                                   [--device cpu|cuda]

Prints one JSON line per measurement:

- ``step_ratio``: one training step (forward, backward, Adam) of the NumPy network against the
  PyTorch twin on the same batch of 32 digits, float32 both, the same thread count for NumPy's
  BLAS and torch; medians of alternating runs in this process, so both see the same load.
  Target: at most 3.
- ``accuracy``: the NumPy network (the chapter's 8 and 16 channels) and MNISTConvNet trained
  for at most ``--seconds`` (60) through the same loop the page uses, then tested on the
  1,000 held-out digits. Targets: NumPy ≥ 95 %, MNISTConvNet ≥ 97 %. These are absolute
  times: note the machine's load (printed from /proc/loadavg) next to them.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--threads", type=int, default=1, help="threads for NumPy and torch")
_parser.add_argument("--seconds", type=float, default=60.0, help="training budget per network")
_parser.add_argument("--only", choices=("steps", "accuracy"))
_parser.add_argument("--device", default="cpu", help="for the PyTorch network's accuracy run")
ARGS = _parser.parse_args()
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)  # read by the BLAS libraries when they load, below

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cnnviz import train  # noqa: E402
from cnnviz.train.scratch import networks  # noqa: E402
from cnnviz.train.scratch.networks import Recipe  # noqa: E402

torch.set_num_threads(ARGS.threads)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def step_ratio(split, prepare, repeats: int = 30) -> dict:
    x, y = split.train.images[:32], split.train.labels[:32]
    numpy_learner = networks.build_learner(Recipe("numpy"), prepare)
    twin = networks.build_learner(Recipe("twin"), prepare, device="cpu")
    times = {"numpy": [], "twin": []}
    for _ in range(5):  # warm-up
        numpy_learner.train_step(x, y)
        twin.train_step(x, y)
    for _ in range(repeats):
        for name, learner in (("numpy", numpy_learner), ("twin", twin)):
            start = time.perf_counter()
            learner.train_step(x, y)
            times[name].append(time.perf_counter() - start)
    numpy_ms, twin_ms = (1000 * statistics.median(times[k]) for k in ("numpy", "twin"))
    return {"measure": "step_ratio", "numpy_ms": round(numpy_ms, 2), "twin_ms": round(twin_ms, 2),
            "ratio": round(numpy_ms / twin_ms, 2), "target": "<= 3", "threads": ARGS.threads,
            "load": load()}


def accuracy(split, prepare, recipe: Recipe, target: float) -> dict:
    learner = networks.build_learner(recipe, prepare, device=ARGS.device)
    history = train.fit(learner, split.train.images, split.train.labels,
                        validation=(split.validation.images, split.validation.labels),
                        epochs=recipe.epochs, batch_size=recipe.batch_size, seed=recipe.seed,
                        max_seconds=ARGS.seconds)
    _, test = train.evaluate(learner, split.test.images, split.test.labels)
    return {"measure": "accuracy", "net": recipe.net, "test_accuracy": test,
            "target": f">= {target}", "seconds": round(history.seconds, 1),
            "epochs": len(history.epochs), "steps": len(history.steps), "ended": history.ended,
            "threads": ARGS.threads, "device": str(ARGS.device) if recipe.net != "numpy"
            else "cpu", "load": load()}


def main() -> None:
    split = train.mnist_split(seed=0)
    prepare = train.Standardise.fit(split.train.images)
    if ARGS.only != "accuracy":
        print(json.dumps(step_ratio(split, prepare)), flush=True)
    if ARGS.only != "steps":
        print(json.dumps(accuracy(split, prepare, Recipe("numpy", epochs=50), 0.95)), flush=True)
        print(json.dumps(accuracy(split, prepare, Recipe("mnistconvnet", batch_size=64,
                                                         epochs=50), 0.97)), flush=True)


if __name__ == "__main__":
    main()
