"""The depth problem's numbers: seconds per epoch of plain-56 and ResNet-56 on the offline MNIST
subset on this CPU, the gradient-norm ratio between the first and the last block at
initialisation, the final training losses of the shipped degradation runs, and (``--switch``)
how long the "Why ResNets work" page takes to show a new setting.

An epoch is the training split (3,500 digits padded to 32×32) in batches of 128, as the shipped
runs train. The machine may be shared, so the networks are timed in interleaved rounds of a few
steps, and each deep network's time is also given as a ratio to ResNet-20's in the same rounds
(a burst of load hits both alike); the load average is printed beside the seconds.

Switching a setting: before the precomputed table, the page measured the two networks' gradient
flow on every new setting (``flow_table.measure``, what ``--rebuild`` runs); now it reruns with
them read from ``assets/gradient_flow.json``. Both are timed here in the same process, the page
through Streamlit's AppTest (the whole script, figures included; no browser).

    python bench/bench_depth.py [--rounds 3] [--steps 4] [--threads N] [--switch]
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

from cnnviz.train import TorchLearner, cifar_net  # noqa: E402
from cnnviz.train.depth import degradation, flow_table, gradient_flow, verdict  # noqa: E402
from cnnviz.train.depth.images32 import digits32  # noqa: E402
from cnnviz.train.loop import batches_per_epoch  # noqa: E402

NETS = {"plain-56": (56, False), "ResNet-56": (56, True), "ResNet-20": (20, True)}
REFERENCE = "ResNet-20"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per round")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--switch", action="store_true",
                        help="only time the page's settings switch, before and after the table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.switch:
        switch_times(args.rounds)
        return
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

    print("final training loss (last epoch's mean) of the shipped runs, over seeds:")
    for record in degradation.load()["settings"]:
        s = record["setting"]
        print(f"  {s['label']}, {s['epochs']} epochs, seeds {s['seeds']}: " + "; ".join(
            f"{label} {v['mean_loss']:.3f} (range {v['loss_range']:.3f})"
            for label, v in record["summary"].items() if v["mean_loss"] is not None))
        for found in verdict.verdict(record).values():
            print(f"    {found.shallow} against {found.deep}: {found.outcome}"
                  + ("" if found.gap is None or found.spread is None else
                     f", gap {found.gap:+.3f} against a spread of {found.spread:.3f}"))


SWITCHES = ((32, True, "ReLU", "A"), (56, False, "sigmoid", "A"), (110, True, "ReLU", "B"),
            (110, False, "sigmoid", "A"))


def switch_times(rounds: int) -> None:
    """Seconds from a changed setting to the page's figure: the old page's measurement against
    the new page's rerun, each setting in ``SWITCHES`` (medians of ``rounds``)."""
    from streamlit.testing.v1 import AppTest

    page = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "views" /
                                 "why_resnets.py"), default_timeout=600)
    page.query_params["depth"] = "20"
    page.run()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'setting':32s} {'measured (before)':>18s} {'page rerun (after)':>19s}  ratio")
    for depth, batch_norm, activation, shortcut in SWITCHES:
        before, after = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            for residual in (False, True):
                flow_table.measure(depth, batch_norm, activation.lower(), residual, shortcut)
            before.append(time.perf_counter() - start)
            for other in (20, depth):  # away and back: a rerun with a new setting each time
                page.select_slider(key="depth").set_value(other)
                page.toggle(key="batch_norm").set_value(batch_norm)
                page.segmented_control(key="activation").set_value(activation)
                page.segmented_control(key="shortcut").set_value(shortcut)
                start = time.perf_counter()
                page.run()
                seconds = time.perf_counter() - start
            assert not page.exception, page.exception
            after.append(seconds)
        b, a = statistics.median(before), statistics.median(after)
        name = f"{depth}, {'BN' if batch_norm else 'no BN'}, {activation}, {shortcut}"
        print(f"{name:32s} {b:16.2f} s {a:17.2f} s  {a / b:.3f}")


if __name__ == "__main__":
    main()
