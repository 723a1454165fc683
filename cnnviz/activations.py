"""Reading what a model's layers output: the list of layers with a spatial feature map, and a
forward pass that taps any of them.

Taps are forward hooks, registered and removed under the bundle's lock. The model is shared
by every browser session, and per-call hooks on a shared model would otherwise capture other
sessions' tensors. A lock costs nothing per call, where a per-layer-set FX feature extractor
costs a trace (about 0.2 s) for every new combination of layers a user picks, and it works
for every model, traceable or not. Tapped outputs are copied at once: ResNet's
``ReLU(inplace=True)`` and ``out += identity`` overwrite a module's output after its hook ran.
"""

from dataclasses import dataclass
from functools import lru_cache

import torch
from PIL import Image

from cnnviz.models import ModelBundle


class LayerError(ValueError):
    """A layer name the model does not have, or one without a spatial output."""


@dataclass(frozen=True)
class Layer:
    name: str  # as in model.named_modules()
    kind: str  # the module's class name
    shape: tuple[int, int, int]  # (C, H, W) of its output at the model's input size


@lru_cache(maxsize=64)
def layers(bundle: ModelBundle) -> tuple[Layer, ...]:
    """Every module whose output is a (1, C, H, W) map with H·W > 1, in execution order (a
    module is listed when it returns, so a block comes right after its last layer).

    Found by one forward pass of a grey image. Modules called more than once per pass (a
    ReLU object that ResNet blocks reuse three times) are left out: their output is ambiguous.
    """
    calls: dict[str, list] = {}
    modules = dict(bundle.model.named_modules())

    def record(name):
        return lambda module, args, output: calls.setdefault(name, []).append(output)

    grey = Image.new("RGB", (256, 256), (128, 128, 128))
    with bundle.lock, torch.inference_mode():
        handles = [m.register_forward_hook(record(n)) for n, m in modules.items() if n]
        try:
            bundle.model(bundle.batch(grey))
        finally:
            for handle in handles:
                handle.remove()
    return tuple(
        Layer(name, type(modules[name]).__name__, tuple(outputs[0].shape[1:]))
        for name, outputs in calls.items()
        if len(outputs) == 1 and isinstance(outputs[0], torch.Tensor) and outputs[0].dim() == 4
        and outputs[0].shape[2] * outputs[0].shape[3] > 1
    )


def layer_names(bundle: ModelBundle) -> list[str]:
    """Names (as in ``named_modules()``) of the modules with a spatial output, in order."""
    return [layer.name for layer in layers(bundle)]


def forward_with_taps(bundle: ModelBundle, batch: torch.Tensor, names, *,
                      differentiable: str | None = None):
    """Run ``batch`` through the model and return ``(logits, {name: output})``.

    Outputs are detached copies. The output of ``differentiable`` is instead a leaf that
    requires grad, spliced into the graph, so ``torch.autograd.grad(score, taps[name])``
    differentiates only from the score back to that layer: the parameters stay frozen and
    nothing before the layer is recorded for backward.
    """
    modules = dict(bundle.model.named_modules())
    missing = [name for name in names if not name or name not in modules]
    if missing:
        raise LayerError(f"{bundle.name} has no layer {', '.join(map(repr, missing))}.")
    taps: dict[str, torch.Tensor] = {}

    def tap(name):
        def hook(module, args, output):
            if name == differentiable:
                taps[name] = output.detach().requires_grad_()
                return taps[name].clone()  # later in-place ops act on the clone, not the leaf
            taps[name] = output.detach().clone()
        return hook

    with bundle.lock, torch.set_grad_enabled(differentiable is not None):
        handles = [modules[name].register_forward_hook(tap(name)) for name in names]
        try:
            logits = bundle.model(batch)
        finally:
            for handle in handles:
                handle.remove()
    return logits, taps
