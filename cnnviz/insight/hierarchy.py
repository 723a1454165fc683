"""The hierarchy, shown: four channels of every stage of the default model, each made visible
by optimisation (``feature_vis``), precomputed into ``assets/feature_hierarchy/`` so the page
opens at once and offline. ``python -m cnnviz.insight --rebuild`` remakes it and records the
settings, the versions and, per channel, the activation the image reaches against the highest
the bundled photos reach.

The channels are chosen by index, evenly spread (0, C/4, C/2, 3C/4), not by how they respond:
a sample of the stage, not its most photogenic members.
"""

import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnviz import activations, images
from cnnviz.insight.feature_vis import Settings, optimise
from cnnviz.models import ModelBundle

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets" / "feature_hierarchy"
INDEX = "hierarchy.json"
PER_STAGE = 4


def stage_channels(bundle: ModelBundle, per_stage: int = PER_STAGE):
    """(stage, layer, channels) for every stage of ``activations.stage_ends``."""
    return [(stage, end.name, [round(k * end.shape[0] / per_stage) for k in range(per_stage)])
            for stage, end in activations.stage_ends(bundle)]


def photo_means(bundle: ModelBundle, layer: str) -> np.ndarray:
    """(photos, C): every channel's mean activation on each bundled sample photo, as the app
    shows them (the model's own preprocessing)."""
    return np.stack([activations.to_float32(activations.capture(bundle, images.load_image(p),
                                                                 layer)[layer]).mean(axis=(1, 2))
                     for p in images.sample_images().values()])


def rebuild(bundle: ModelBundle, settings: Settings = Settings(), folder: Path = ASSETS,
            *, log=print) -> dict:
    """Optimise every chosen channel, write its PNG and the index; returns the index."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for stage, layer, channels in stage_channels(bundle):
        best = photo_means(bundle, layer).max(axis=0)
        entries = []
        for channel in channels:
            result = optimise(bundle, layer, channel, settings)
            name = f"{layer}-{channel}.png"
            Image.fromarray(result.image).save(folder / name, optimize=True)
            entries.append(dict(channel=channel, file=name, activation=result.activation,
                                photo_best=float(best[channel]), seconds=result.seconds))
            log(f"{stage:8} {layer:12} channel {channel:4}: {result.activation:8.3f} "
                f"(photos at most {best[channel]:.3f}) in {result.seconds:.1f} s")
        rows.append(dict(stage=stage, layer=layer, channels=entries))
    index = dict(model=bundle.name, weights=bundle.weights, settings=asdict(settings),
                 torch=torch.__version__, machine=platform.machine(),
                 made=time.strftime("%Y-%m-%d"), stages=rows)
    (folder / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return index


def load(folder: Path = ASSETS) -> dict:
    """The precomputed hierarchy, each channel's ``image`` read in as (H, W, 3) uint8.
    ``FileNotFoundError`` when it was never built."""
    index = json.loads((folder / INDEX).read_text())
    for row in index["stages"]:
        for entry in row["channels"]:
            entry["image"] = np.asarray(Image.open(folder / entry["file"]).convert("RGB"))
    return index
