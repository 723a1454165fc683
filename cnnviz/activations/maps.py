"""What a layer's maps are made of and how to read them: readable layer titles and where each
layer sits, one layer per resolution (the strip from input to output), the photo as the
network saw it, the first layer's filters, and channels ranked and summarised."""

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.activations import titles
from cnnviz.activations.taps import FeatureLayer, LayerError, layer_names, layers
from cnnviz.models import ModelBundle
from cnnviz.models.memo import per_bundle


@per_bundle
def layer_titles(bundle: ModelBundle) -> dict[str, str]:
    """A readable, unique title for every layer of ``layers(bundle)``, such as "stage 3 ·
    block 2 · depthwise conv 5×5" (see cnnviz.activations.titles)."""
    return titles.titles(bundle.name, bundle.model, layer_names(bundle))


@per_bundle
def layer_places(bundle: ModelBundle) -> dict[str, str]:
    """Where each layer of ``layers(bundle)`` sits, as the first word of its title: "stem",
    "stage 3", "head", "block 2"."""
    return {name: titles.title_parts(bundle.name, bundle.model, name)[0]
            for name in layer_names(bundle)}


def stage_outputs(bundle: ModelBundle) -> list[FeatureLayer]:
    """One layer per resolution, in order: the outermost block (a module with children of its
    own) whose output has that size, the last of them when several are equally outermost, or
    the last layer of that size when no block has it. The strip of these shows what a CNN does
    overall: resolution falls, channels rise."""
    modules = dict(bundle.model.named_modules())
    by_size: dict[tuple[int, int], list[FeatureLayer]] = {}
    for layer in layers(bundle):
        by_size.setdefault(layer.shape[1:], []).append(layer)
    chosen = []
    for group in by_size.values():
        blocks = [layer for layer in group if next(modules[layer.name].children(), None)]
        candidates = blocks or group
        outermost = min(layer.name.count(".") for layer in candidates)
        chosen.append([layer for layer in candidates if layer.name.count(".") == outermost][-1])
    return sorted(chosen, key=layers(bundle).index)


def stage_ends(bundle: ModelBundle) -> list[tuple[str, FeatureLayer]]:
    """(name, layer) where each part of the network ends, in order: the stem, every stage
    (its block outputs' last: "stage 4"), and the head when it still has a map. The strip of
    these shows every stage, also those that keep the previous one's resolution. Models
    without numbered stages fall back to one layer per resolution."""
    places = layer_places(bundle)
    ordered = layers(bundle)
    staged = [layer for layer in ordered if places[layer.name].startswith("stage ")]
    if not staged:
        return [(places[layer.name], layer) for layer in stage_outputs(bundle)]
    ends: dict[str, FeatureLayer] = {}
    for layer in staged:
        ends[places[layer.name]] = layer  # the last layer of a stage is where it ends
    first, last = ordered.index(staged[0]), ordered.index(staged[-1])
    stem = [("stem", ordered[first - 1])] if first else []
    # After the stages: the head, but not a container that holds the stages themselves.
    tail = [layer for layer in ordered[last + 1:]
            if not any(s.name.startswith(layer.name + ".") for s in staged)]
    head = [("head", tail[-1])] if tail else []
    return stem + list(ends.items()) + head


@per_bundle
def normalisation(bundle: ModelBundle) -> tuple[torch.Tensor, torch.Tensor]:
    """Offset b and scale a of the preprocessing's per-channel x = a·pixel + b, read off a
    black and a white image (a resize and crop leave a uniform image uniform)."""
    black, white = (bundle.preprocess(Image.new("RGB", (64, 64), (v, v, v)))[:, :1, :1]
                    for v in (0, 255))
    return black, (white - black) / 255


def network_input(bundle: ModelBundle, img: Image.Image) -> np.ndarray:
    """The photo as the model sees it, (H, W, 3) uint8: cropped and resized by its
    preprocessing, with the normalisation undone, so a feature map lines up with it."""
    offset, scale = normalisation(bundle)
    pixels = (bundle.preprocess(img) - offset) / scale
    return pixels.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def first_filters(bundle: ModelBundle) -> tuple[str, np.ndarray]:
    """The first convolution that reads the RGB image, and its weights (F, 3, kh, kw)."""
    for name, module in bundle.model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3 and module.groups == 1:
            return name, module.weight.detach().to("cpu", torch.float32).numpy()
    raise LayerError(f"{bundle.name} has no convolution that reads the RGB image.")


CHANNEL_ORDERS = ("mean", "max", "index")


def rank_channels(fmap: np.ndarray, order: str = "mean") -> np.ndarray:
    """Channel indices of a (C, H, W) map, strongest first by mean or by max activation, or
    in channel order."""
    if order not in CHANNEL_ORDERS:
        raise ValueError(f"order must be one of {', '.join(CHANNEL_ORDERS)}, not {order!r}.")
    if order == "index":
        return np.arange(fmap.shape[0])
    flat = np.asarray(fmap, dtype=np.float32).reshape(fmap.shape[0], -1)
    strength = flat.mean(axis=1) if order == "mean" else flat.max(axis=1)
    return np.argsort(-strength, kind="stable")


def channel_stats(channel: np.ndarray) -> dict:
    """Summary of one (H, W) map: min, max, mean, standard deviation, the fraction of exact
    zeros (after a ReLU, the units that stay silent) and where the maximum is (row, column)."""
    values = np.asarray(channel, dtype=np.float32)
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return dict(min=float(values.min()), max=float(values.max()), mean=float(values.mean()),
                std=float(values.std()), zeros=float(np.mean(values == 0)),
                argmax=(int(row), int(col)))

