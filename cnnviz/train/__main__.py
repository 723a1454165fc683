"""Train from the command line: ``python -m cnnviz.train --net numpy --epochs 5 --out run.json``.

Also ``--gradcheck`` (finite differences against the NumPy backward passes) and ``--agreement``
(the NumPy network against its float64 PyTorch twin, step by step). Results go to ``--out`` as
JSON, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from cnnviz.train.scratch import networks
from cnnviz.train.scratch.gradcheck import gradient_check
from cnnviz.train.loop import evaluate, fit
from cnnviz.train.scratch.networks import NETS, Recipe
from cnnviz.train.scratch.numpy_net import scratch_cnn
from cnnviz.train.offline_mnist import Standardise, mnist_split
from cnnviz.train.scratch.twin import agreement


def _data(name: str, seed: int):
    if name == "subset":
        return mnist_split(seed=seed)
    from cnnviz.train import torchvision_data
    return torchvision_data.load(name, seed=seed)


def _train(args) -> dict:
    split = _data(args.data, args.seed)
    prepare = Standardise.fit(split.train.images)
    shape = prepare(split.train.images[:1]).shape[1:]
    recipe = Recipe(args.net, args.optimizer, args.lr, args.batch_size, args.epochs,
                    tuple(args.channels), args.batch_norm, args.seed, momentum=args.momentum)
    learner = networks.build_learner(recipe, prepare, shape=shape, device=args.device)

    def report(record):
        print(f"epoch {record['epoch']}: loss {record['loss']:.4f}, accuracy "
              f"{record['accuracy']:.3f}, validation {record.get('val_accuracy', 0):.3f} "
              f"({record['seconds']:.1f} s)", file=sys.stderr)

    history = fit(learner, split.train.images, split.train.labels,
                  validation=(split.validation.images, split.validation.labels),
                  epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                  max_seconds=args.max_seconds, on_epoch=report)
    test_loss, test_accuracy = evaluate(learner, split.test.images, split.test.labels)
    print(f"test accuracy {test_accuracy:.4f} after {len(history.steps)} steps, "
          f"{history.seconds:.1f} s", file=sys.stderr)
    if args.save:
        data, _ = networks.weights_file(learner, args.net)
        Path(args.save).write_bytes(data)
    return {"net": args.net, "data": args.data, "recipe": asdict(recipe),
            "test_accuracy": test_accuracy, "test_loss": test_loss, "seconds": history.seconds,
            "steps": len(history.steps), "ended": history.ended, "history": history.steps,
            "epochs": history.epochs, "torch_threads": torch.get_num_threads(),
            "device": "cpu" if args.net == "numpy" else str(learner.device)}


def _gradcheck(args) -> dict:
    split = mnist_split(seed=args.seed)
    prepare = Standardise.fit(split.train.images, np.float64)
    checks = {}
    for batch_norm in (False, True):
        network = scratch_cnn(tuple(args.channels), batch_norm=batch_norm, seed=args.seed,
                              dtype=np.float64)
        found = gradient_check(network, prepare(split.train.images[:8]), split.train.labels[:8],
                               entries=args.entries, seed=args.seed)
        checks.update({f"{'bn.' if batch_norm else ''}{k}": v for k, v in found.items()})
    for name, check in checks.items():
        verdict = (f"relative error {check.error:.2e}" if check.tested
                   else "not tested: both gradients zero")
        print(f"{name:16} {check.checked:>6,} of {check.entries:>6,} entries, {verdict}",
              file=sys.stderr)
    return {"max_relative_error": max(c.error for c in checks.values() if c.tested),
            "per_parameter": {name: {"entries": c.entries, "checked": c.checked,
                                     "both_zero": c.both_zero, "relative_error": c.error}
                              for name, c in checks.items()}}


def _agreement(args) -> dict:
    split = mnist_split(seed=args.seed)
    prepare = Standardise.fit(split.train.images)
    runs = {}
    for optimizer in ("sgd", "adam"):
        for batch_norm in (False, True):
            paired = agreement(split.train.images, split.train.labels, steps=args.steps,
                               optimizer=optimizer, lr=0.01 if optimizer == "sgd" else 1e-3,
                               batch_norm=batch_norm, seed=args.seed, prepare=prepare)
            runs[f"{optimizer}{'+bn' if batch_norm else ''}"] = {
                "numpy_losses": paired.numpy_losses, "torch_losses": paired.torch_losses,
                "max_loss_difference": float(np.max(np.abs(
                    np.subtract(paired.numpy_losses, paired.torch_losses)))),
                "max_gradient_difference": max(paired.gradient_differences)}
    for name, run in runs.items():
        print(f"{name:8} loss difference {run['max_loss_difference']:.1e}, gradient "
              f"difference {run['max_gradient_difference']:.1e}", file=sys.stderr)
    return {"steps": args.steps,
            "max_loss_difference": max(r["max_loss_difference"] for r in runs.values()),
            "max_gradient_difference": max(r["max_gradient_difference"] for r in runs.values()),
            "runs": runs}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cnnviz.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=tuple(NETS), default="numpy")
    parser.add_argument("--data", choices=("subset", "mnist", "fashion-mnist", "cifar10"),
                        default="subset", help="the offline MNIST subset, or a torchvision "
                        "data set in the data folder (downloaded when possible)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.0,
                        help="SGD's momentum (default 0: the chapter's plain SGD)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default=None, help="for PyTorch networks: cpu, cuda, … "
                        "(default: CUDA when available)")
    parser.add_argument("--save", help="write the trained weights here (.npz or .pt)")
    parser.add_argument("--out", required=True, help="the JSON result")
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--gradcheck", action="store_true")
    check.add_argument("--agreement", action="store_true")
    parser.add_argument("--steps", type=int, default=10, help="steps for --agreement")
    parser.add_argument("--entries", type=int, default=None,
                        help="for --gradcheck: the largest-gradient entry and this many random "
                        "ones per parameter (default: every entry)")
    args = parser.parse_args(argv)
    if args.momentum and args.optimizer != "sgd":
        parser.error("--momentum is a setting of --optimizer sgd")
    if not 0 <= args.momentum < 1:
        parser.error(f"--momentum must be in [0, 1), not {args.momentum}")
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = (_gradcheck(args) if args.gradcheck else _agreement(args) if args.agreement
              else _train(args))
    result["wall_seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
