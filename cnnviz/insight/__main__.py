"""``python -m cnnviz.insight --rebuild``: remake the precomputed feature hierarchy of the
default model in ``assets/feature_hierarchy/`` (one torch thread, a few minutes)."""

import argparse

import torch

from cnnviz import models
from cnnviz.insight import hierarchy
from cnnviz.insight.feature_vis import Settings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cnnviz.insight", description=__doc__)
    parser.add_argument("--rebuild", action="store_true", required=True,
                        help="optimise every stage's channels and write the PNGs and the index")
    parser.add_argument("--steps", type=int, default=Settings.steps)
    parser.add_argument("--size", type=int, default=Settings.size)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    hierarchy.rebuild(models.load_model(), Settings(size=args.size, steps=args.steps))


if __name__ == "__main__":
    main()
