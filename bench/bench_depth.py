"""The depth problem's numbers: seconds per epoch of plain-56 and ResNet-56 on the offline MNIST
subset on this CPU, the gradient-norm ratio between the first and the last block at
initialisation, and the final training losses of the shipped degradation runs.

An epoch is the training split (3,500 digits padded to 32×32) in batches of 128, as the shipped
runs train. The machine may be shared, so the networks are timed in interleaved rounds of a few
steps, and each deep network's time is also given as a ratio to ResNet-20's in the same rounds
(a burst of load hits both alike); the load average is printed beside the seconds.

    python bench/bench_depth.py [--rounds 3] [--steps 4] [--threads N]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz.train import TorchLearner, cifar_net, degradation, gradient_flow  # noqa: E402
from cnnviz.train.depth.images32 import digits32  # noqa: E402
from cnnviz.train.loop import batches_per_epoch  # noqa: E402

NETS = {"plain-56": (56, False), "ResNet-56": (56, True), "ResNet-20": (20, True)}
REFERENCE = "ResNet-20"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per round")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    setting = degradation.Setting()
    data = digits32()
    per_epoch = batches_per_epoch(len(data.train), setting.batch_size)
    learners = {}
    for name, (depth, residual) in NETS.items():
        net = cifar_net(depth, residual, in_channels=1, seed=0)
        learners[name] = TorchLearner(net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9),
                                      prepare=data.standardise)
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(data.train), setting.batch_size, replace=False)
               for _ in range(args.steps)]

    def step_seconds(learner) -> float:
        start = time.perf_counter()
        for index in batches:
            learner.train_step(data.train.images[index], data.train.labels[index])
        return (time.perf_counter() - start) / len(batches)

    for learner in learners.values():  # warm-up
        learner.train_step(data.train.images[batches[0]], data.train.labels[batches[0]])
    load_before = os.getloadavg()[0]
    times = {name: [] for name in learners}
    for _ in range(args.rounds):
        for name, learner in learners.items():
            times[name].append(step_seconds(learner))
    load_after = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load_before:.2f} → {load_after:.2f}")
    print(f"one epoch = {per_epoch} steps of {setting.batch_size} digits (32×32)")
    for name in NETS:
        seconds = statistics.median(times[name]) * per_epoch
        ratio = statistics.median(a / b for a, b in zip(times[name], times[REFERENCE]))
        print(f"  {name:9s} {seconds:6.1f} s per epoch   ({ratio:.2f} × {REFERENCE})")

    images, labels = data.tensors(data.train, setting.gradient_batch)
    print(f"gradient norm at initialisation, first block's input ÷ last block's input "
          f"({setting.gradient_batch} digits, seed 0):")
    for label in ("batch norm", "no batch norm"):
        for residual in (False, True):
            net = cifar_net(56, residual, in_channels=1, batch_norm=label == "batch norm",
                            seed=0)
            ratio = gradient_flow.measure(net, images, labels).first_to_last
            print(f"  {degradation.run_label(56, residual):9s} ({label}): {ratio:.3g}")

    print("final training loss (last epoch's mean) of the shipped runs:")
    for record in degradation.load()["settings"]:
        s = record["setting"]
        finals = degradation.verdict(record)["final_losses"]
        print(f"  {s['label']}, {s['epochs']} epochs: " + ", ".join(
            f"{k} {'diverged' if v is None else f'{v:.3f}'}" for k, v in finals.items()))


if __name__ == "__main__":
    main()
