"""Transfer learning on this CPU: images per second in each phase, with and without cached
features; the demo set's test accuracy after the page's default run; peak memory of a run.

Speeds are measured on one batch of demo photos, in interleaved rounds, and reported with
their ratio to a plain forward pass of the backbone (the reference, measured in the same
rounds, so a burst of load from other programs hits both alike):

- phase 1, cached: one head step on cached features (computing the features is the forward
  pass, paid once per image and augmented copy);
- phase 1, uncached: the frozen backbone's forward pass and a head step, every step;
- phase 2: the last two blocks and the head trained, the rest frozen;
- phase 3: everything trained.

    python bench/bench_transfer.py [--rounds 5] [--batch 16]
    python bench/bench_transfer.py --default-run        # the page's default plan on the demo
    python bench/bench_transfer.py --memory 1000        # peak memory of a 1,000-photo run
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz import models  # noqa: E402
from cnnviz.train import TorchLearner, read_image_folders, transfer  # noqa: E402
from cnnviz.train.transfer import augment  # noqa: E402
from cnnviz.train.transfer.backbone_features import features  # noqa: E402
from cnnviz.train.transfer.finetune import FineTuning, PhotoInputs, Plan  # noqa: E402
from cnnviz.train.transfer.group_split import grouped_split  # noqa: E402
from cnnviz.train.transfer.texture_demo import TEXTURES, as_zip, demo_split, texture_demo  # noqa: E402


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speeds(rounds: int, batch: int) -> None:
    bundle = models.load_model()
    photos, split = demo_split()
    norm = augment.normalisation(bundle)
    prepare = PhotoInputs(photos, norm, tuple(augment.TRANSFORMS), np.random.default_rng(0))
    x = prepare(split.train[:batch]).numpy()
    y = photos.labels[split.train[:batch]]
    net = transfer.build(bundle, len(photos.classes))
    feats = features(net, torch.from_numpy(x)).numpy()

    def learner(phase: str, cached: bool = False) -> TorchLearner:
        net.set_phase(phase)
        model = net.head if cached else net
        return TorchLearner(model, torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad], lr=1e-5))

    cases = {
        "backbone forward (reference)": lambda: features(net, torch.from_numpy(x)),
        "phase 1, cached features": (lambda l=learner("head", True): l.train_step(feats, y)),
        "phase 1, uncached": (lambda l=learner("head"): l.train_step(x, y)),
        "phase 2 (last two blocks)": (lambda l=learner("last_blocks"): l.train_step(x, y)),
        "phase 3 (everything)": (lambda l=learner("all"): l.train_step(x, y)),
        "augmenting the photos": lambda: prepare(split.train[:batch]),
    }
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            if name.startswith("phase"):
                net.set_phase({"1": "head", "2": "last_blocks", "3": "all"}[name[6]])
            times[name].append(seconds(case))
    reference = statistics.median(times["backbone forward (reference)"])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, batch {batch}, median of {rounds} rounds")
    print(f"{'':32} {'images/s':>10} {'time / forward':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:32} {batch / median:10.1f} {median / reference:15.2f}")


def default_run(photos_wanted: int | None = None) -> None:
    """The page's default plan (no time budget); with ``photos_wanted``, on that many demo
    patches read back from a zip of class folders, as an upload would be."""
    bundle = models.load_model()
    if photos_wanted is None:
        photos, split = demo_split()
    else:
        photos = read_image_folders(as_zip(texture_demo(patches_per_class=photos_wanted // len(TEXTURES))))
        split = grouped_split(photos.labels, photos.groups)
    plan = Plan(max_seconds=1e9)
    run = FineTuning(transfer.build(bundle, len(photos.classes)), photos, split,
                     augment.normalisation(bundle), plan)
    start = time.perf_counter()
    result = run.run()
    total = time.perf_counter() - start
    print(f"load average {os.getloadavg()[0]:.1f}; {len(photos)} photos "
          f"({len(split.train)}/{len(split.validation)}/{len(split.test)}); plan: "
          f"{', '.join(f'{k} {plan.epochs[k]} epochs' for k in plan.phases)}, "
          f"{plan.copies} cached copies")
    for r in result.reports:
        cached = (f", features {r.feature_images / r.feature_seconds:.1f} images/s"
                  if r.feature_seconds else "")
        print(f"  {r.key:12} {r.images_per_second:8.1f} images/s training{cached}, "
              f"{r.seconds + r.feature_seconds:.0f} s, {r.ended}")
    evaluation = result.evaluation
    print(f"test accuracy {evaluation.accuracy:.1%} (best validation {result.best_val_accuracy:.1%}"
          f" at {result.best_at}); {total:.0f} s in all; inference "
          f"{evaluation.ms_per_image:.1f} ms per image")
    print(f"peak memory (max RSS of this process) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--default-run", action="store_true")
    parser.add_argument("--memory", type=int, metavar="PHOTOS",
                        help="peak memory of the default plan on this many demo photos")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.default_run:
        default_run()
    elif args.memory:
        default_run(args.memory)
    else:
        speeds(args.rounds, args.batch)


if __name__ == "__main__":
    main()
