"""``python -m cnnviz.insight --rebuild``: remake the precomputed feature hierarchy of the
default model in ``assets/feature_hierarchy/`` (one torch thread, some minutes).
``python -m cnnviz.insight --consistency efficientnet_lite0 resnet18:untrained``: Zhang's
consistency of each model on the photos at hand."""

import argparse

import torch

from cnnviz import models
from cnnviz.insight import hierarchy
from cnnviz.insight.examples import photos_at_hand
from cnnviz.insight.shifts import consistency
from cnnviz.insight.feature_vis import Settings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cnnviz.insight", description=__doc__)
    parser.add_argument("--rebuild", action="store_true",
                        help="optimise every stage's channels and write the PNGs and the index")
    parser.add_argument("--consistency", nargs="+", metavar="MODEL[:untrained]", default=[])
    parser.add_argument("--pairs", type=int, default=16, help="crop pairs per photo")
    parser.add_argument("--steps", type=int, default=Settings.steps)
    parser.add_argument("--size", type=int, default=Settings.size)
    args = parser.parse_args(argv)
    if not (args.rebuild or args.consistency):
        parser.error("say --rebuild or --consistency MODEL")
    torch.set_num_threads(1)
    if args.rebuild:
        hierarchy.rebuild(models.load_model(), Settings(size=args.size, steps=args.steps))
    photos = photos_at_hand()
    for spec in args.consistency:
        name, _, untrained = spec.partition(":")
        bundle = models.load_model(name, pretrained=untrained != "untrained")
        result = consistency(bundle, photos, pairs=args.pairs)
        low, high = result.interval()
        print(f"{bundle.label}: {result.rate:.1%} of {result.pairs} pairs agree (95 % "
              f"{low:.1%}–{high:.1%}); per photo: " + ", ".join(
                  f"{title} {rate:.0%}" for title, rate in result.per_photo.items()))


if __name__ == "__main__":
    main()
