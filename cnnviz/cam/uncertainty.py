"""How sure is the network? Monte Carlo dropout (Gal & Ghahramani, 2016): keep dropout on at
test time and read the spread of the class probabilities over many stochastic passes.

The shared model is never switched to training mode: another session could be classifying
with it at that very moment (``ModelBundle.classify`` takes no lock). The passes run on a
private twin instead, a copy of the module tree that shares every weight tensor with the
shared model (so it costs no memory for weights) and has its dropout modules in training
mode. The passes are batched, and cheaply: the twin runs the image once up to its first
dropout module, which repeats its input once per pass, so only the layers after it (the
classifier head, in every model of the zoo) see the whole batch.

The spread over the passes approximates the model's epistemic uncertainty, its uncertainty
about its own weights. It samples only the weights that dropout reaches: where every dropout
module acts on flat feature vectors after the last feature map (``samples_head_only``, true
for every model of the zoo), that is the classifier head alone, a last-layer approximation.
"""

import copy
import itertools
import threading
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from cnnviz.models import ModelBundle
from cnnviz.models.memo import per_bundle


@dataclass(frozen=True)
class ClassSpread:
    index: int
    name: str
    mean: float  # mean softmax probability over the passes
    std: float  # its standard deviation over the passes


class NoDropoutError(ValueError):
    """The model has no dropout module, so every pass would give the same answer."""


def _dropouts(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


class _StochasticTwin:
    def __init__(self, bundle: ModelBundle):
        if not _dropouts(bundle.model):  # said before copying anything, on every call
            raise NoDropoutError(f"{bundle.name} has no dropout layer, so MC dropout has "
                                 f"nothing to sample: every pass gives the same answer.")
        shared = {id(t): t for t in itertools.chain(bundle.model.parameters(),
                                                    bundle.model.buffers())}
        with bundle.lock:  # so no tap hook of a concurrent capture is copied along
            self.model = copy.deepcopy(bundle.model, memo=shared).eval()
        dropouts = _dropouts(self.model)
        for module in dropouts:
            module.train()
        self.rates = tuple(module.p for module in dropouts)
        self.dropouts = dropouts
        self.head_only: bool | None = None  # found by the first ``samples_head_only``
        self.passes = 1
        self.lock = threading.Lock()  # guards ``passes`` for the duration of one call
        dropouts[0].register_forward_pre_hook(
            lambda module, args: (args[0].repeat_interleave(self.passes, dim=0),))


_twin = per_bundle(_StochasticTwin)  # one twin per loaded model, gone with it


def dropout_rates(bundle: ModelBundle) -> tuple[float, ...]:
    """The drop probability of each dropout module; ``NoDropoutError`` when there is none."""
    return _twin(bundle).rates


@torch.inference_mode()
def samples_head_only(bundle: ModelBundle) -> bool:
    """Whether every dropout module acts on flat (N, features) vectors, after the last feature
    map, so that MC dropout samples the classifier head alone; ``NoDropoutError`` when the
    model has no dropout. Found once per model, by a pass of a grey image through the twin."""
    twin = _twin(bundle)
    with twin.lock:
        if twin.head_only is None:
            inputs = []
            handles = [m.register_forward_pre_hook(lambda m, args: inputs.append(args[0].dim()))
                       for m in twin.dropouts]
            try:
                twin.passes = 1
                twin.model(bundle.batch(Image.new("RGB", (256, 256), (128, 128, 128))))
            finally:
                for handle in handles:
                    handle.remove()
            twin.head_only = bool(inputs) and all(dim == 2 for dim in inputs)
        return twin.head_only


@torch.inference_mode()
def mc_dropout(bundle: ModelBundle, img: Image.Image, passes: int = 30,
               k: int = 5) -> list[ClassSpread]:
    """The ``k`` classes with the highest mean probability over ``passes`` dropout passes,
    with the standard deviation of each, most likely first."""
    if passes < 2:
        raise ValueError(f"MC dropout needs at least 2 passes to measure a spread, not {passes}.")
    twin = _twin(bundle)
    with twin.lock:
        twin.passes = passes
        probs = twin.model(bundle.batch(img)).softmax(dim=1)
    if probs.shape[0] != passes:
        raise RuntimeError(f"Expected {passes} passes, got {probs.shape[0]}: {bundle.name}'s "
                           f"first dropout layer runs more than once per forward pass.")
    means, stds = probs.mean(dim=0), probs.std(dim=0)
    top = means.topk(min(k, means.numel())).indices.tolist()
    return [ClassSpread(i, bundle.categories[i], float(means[i]), float(stds[i])) for i in top]
