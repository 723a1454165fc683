"""The model-randomisation sanity check of Adebayo et al. (2018), "Sanity checks for saliency
maps": re-initialise the weights from the top layer down, one unit at a time (cascading
randomisation), and watch the map. A method that explains the model must lose its map as
the learnt weights go; one that keeps its picture was showing edges of the photo, not what
the network learnt.

Everything happens on a private deep copy: the shared model is never touched.
"""

import copy
import dataclasses
import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.cam import gradcam
from cnnviz.models import ModelBundle


@dataclass(frozen=True, eq=False)
class SanityStep:
    count: int  # units re-initialised so far, from the top
    unit: str  # the lowest of them (a module name); "" for the trained model
    heatmap: np.ndarray
    spearman: float  # rank correlation with the trained model's map


def units(model: nn.Module) -> list[str]:
    """The model's units with weights, from the output down: its children, with Sequential
    and ModuleList containers opened up, so each residual or inverted-bottleneck block is one
    unit and so is each layer of a plain stack."""
    found = []

    def walk(prefix: str, module: nn.Module):
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                walk(f"{full}.", child)
            elif any(True for _ in child.parameters()):
                found.append(full)

    walk("", model)
    return found[::-1]


def cascading_randomisation(bundle: ModelBundle, img: Image.Image, target: int | None = None,
                            layer: str | None = None, method: str = "gradcam", *,
                            checkpoints=None, seed: int = 0) -> list[SanityStep]:
    """The map of ``target`` (default: the trained model's top class) at ``layer`` after
    re-initialising the model's ``units`` top down, one by one, until all are random.

    ``checkpoints`` are the numbers of random units after which a map is drawn (default:
    after each one); the map of the trained model always comes first. Re-initialising is
    cheap, a map costs a forward pass.
    """
    layer = (gradcam.default_layer(bundle) if layer is None
             else gradcam.check_layer(bundle, layer))
    batch = bundle.batch(img)
    trained = gradcam.class_maps(bundle, batch, target, layer, method)[0]
    with bundle.lock:  # so no tap hook of a concurrent capture is copied along
        model = copy.deepcopy(bundle.model)
    copy_bundle = dataclasses.replace(bundle, model=model, lock=threading.Lock(),
                                      pretrained=False, weights="cascading randomisation")
    generator = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    names = units(model)
    wanted = set(range(1, len(names) + 1) if checkpoints is None else checkpoints)
    steps = [SanityStep(0, "", trained.heatmap, 1.0)]
    for count, name in enumerate(names, start=1):
        reinitialise(modules[name], generator)
        if count not in wanted:
            continue
        heatmap = gradcam.class_maps(copy_bundle, batch, trained.target, layer,
                                     method)[0].heatmap
        steps.append(SanityStep(count, name, heatmap, spearman(trained.heatmap, heatmap)))
    return steps


@torch.no_grad()
def reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """Random weights in place: He-normal (std √(2 / fan-in)) for convolution and linear
    weights, so activations keep their scale through a deep random stack; normalisation
    layers and biases back to their identity (scale 1, shift 0, running mean 0, variance 1)."""
    for sub in module.modules():
        if hasattr(sub, "reset_running_stats"):
            sub.reset_running_stats()
        for name, param in sub.named_parameters(recurse=False):
            if param.dim() >= 2:
                fan_in = param[0].numel()
                values = torch.randn(param.shape, generator=generator) * math.sqrt(2 / fan_in)
                param.copy_(values)
            else:
                param.fill_(1.0 if name == "weight" else 0.0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties share their mean rank); 0 when either map is
    constant, which ranks nothing and so agrees with nothing."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / norm if norm > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]
