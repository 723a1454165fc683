"""Tapping a shared model: which of its layers output a spatial feature map, and a forward
pass that returns any of their outputs.

Taps are forward hooks, registered and removed under the bundle's lock. The model is shared
by every browser session, and per-call hooks on a shared model would otherwise capture other
sessions' tensors. torchvision's FX ``create_feature_extractor`` needs no lock, and measured
against it (bench/bench_feature_maps.py, EfficientNet-Lite0, one CPU thread) a capture
through an extractor already built is 8–25 % faster, and four threads capturing at once
finish 1.2–2 times sooner. But each new set of layers costs a trace of 0.2–0.5 s (6 to 9
captures; tracing is not thread-safe either, so it needs a lock of its own), and an extractor
returns wrong tensors where these hooks do not: for 8 of Lite0's 118 layers (a block without
shortcut is traced to a weight) and for 9 of ResNet-18's 57 (its in-place ReLU overwrites the
batch norms' outputs inside the traced graph), 3 more missing. Hooks also work for every
model, traceable or not. Tapped outputs are copied at once: ResNet's ``ReLU(inplace=True)``
and ``out += identity`` overwrite a module's output after its hook ran.
"""

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from cnnviz.models import ModelBundle
from cnnviz.models.memo import per_bundle

PROBE_SCALE = 1.25  # the second probe's size, relative to the model's input


class LayerError(ValueError):
    """A layer name the model does not have, or one without a spatial output."""


@dataclass(frozen=True)
class FeatureLayer:
    """A layer whose output is a feature map: one (H, W) map per channel."""

    name: str  # as in model.named_modules()
    kind: str  # the module's class name
    shape: tuple[int, int, int]  # (C, H, W) of its output at the model's input size


@per_bundle
def layers(bundle: ModelBundle) -> tuple[FeatureLayer, ...]:
    """Every module whose output is a (1, C, H, W) map with H·W > 1, in execution order (a
    module is listed when it returns, so a block comes right after its last layer).

    Found by forward passes of a grey image at the model's input size and at a larger size.
    Modules called more than once per pass (a ReLU object that ResNet blocks reuse three
    times) are left out: their output is ambiguous. So are channels-last outputs, whose
    dimension 1 is a height, not channels (ConvNeXt's LayerNorm and Linear layers between two
    ``Permute``): channels are the dimension that does not change with the input's size.
    """
    calls: dict[str, list] = {}
    modules = dict(bundle.model.named_modules())

    def record(name):
        return lambda module, args, output: calls.setdefault(name, []).append(output)

    grey = Image.new("RGB", (256, 256), (128, 128, 128))
    with bundle.lock, torch.inference_mode():
        probes = [bundle.batch(grey)]
        probes.append(F.interpolate(probes[0], scale_factor=PROBE_SCALE, mode="nearest"))
        handles = [m.register_forward_hook(this_thread_only(record(n)))
                   for n, m in modules.items() if n]
        try:
            for probe in probes:
                bundle.model(probe)
        finally:
            for handle in handles:
                handle.remove()
    return tuple(
        FeatureLayer(name, type(modules[name]).__name__, tuple(outputs[0].shape[1:]))
        for name, outputs in calls.items() if _is_feature_map(outputs, len(probes))
    )


def _is_feature_map(outputs: list, probes: int) -> bool:
    """One (N, C, H, W) output per probe, H·W > 1, with C the same for every input size."""
    return (len(outputs) == probes
            and all(isinstance(o, torch.Tensor) and o.dim() == 4 for o in outputs)
            and outputs[0].shape[2] * outputs[0].shape[3] > 1
            and len({o.shape[1] for o in outputs}) == 1)


def this_thread_only(hook):
    """The lock keeps tapping passes apart, but a hook on the shared model also fires inside
    other sessions' plain forward passes (``classify``), which take no lock: it must ignore
    them, or it would record their tensors and splice its leaf into their graph."""
    owner = threading.get_ident()

    def guarded(module, args, output):
        if threading.get_ident() == owner:
            return hook(module, args, output)
        return None

    return guarded


def layer_names(bundle: ModelBundle) -> list[str]:
    """Names (as in ``named_modules()``) of the modules with a spatial output, in order."""
    return [layer.name for layer in layers(bundle)]


def forward_with_taps(bundle: ModelBundle, batch: torch.Tensor, names, *,
                      differentiable=None):
    """Run ``batch`` through the model and return ``(logits, {name: output})``.

    Outputs are detached copies. The outputs of ``differentiable`` (a name, or several) are
    instead kept in the graph, so ``torch.autograd.grad(score, [taps[n] for n in ...])``
    differentiates from the score back to them: the first of them to run (and any on a
    branch that does not depend on it) becomes a leaf that requires grad, so the parameters
    stay frozen and nothing before it is recorded for backward; the later ones are the
    graph's own tensors, and one backward pass reaches every one of them. Each hook hands the
    model a clone, so later in-place operations (ResNet's ``out += identity``) act on the
    clone, not on the tapped tensor.
    """
    wanted = {differentiable} if isinstance(differentiable, str) else set(differentiable or ())
    modules = dict(bundle.model.named_modules())
    missing = [name for name in [*names, *wanted] if not name or name not in modules]
    if missing:
        raise LayerError(f"{bundle.name} has no layer {', '.join(map(repr, missing))}.")
    taps: dict[str, torch.Tensor] = {}

    def tap(name):
        def hook(module, args, output):
            if name not in wanted:
                taps[name] = output.detach().clone()
                return None
            if not output.requires_grad:  # the first (or on a parallel branch): a leaf
                output = output.detach().requires_grad_()
            taps[name] = output
            return output.clone()
        return hook

    with bundle.lock, torch.set_grad_enabled(bool(wanted)):
        handles = [modules[name].register_forward_hook(this_thread_only(tap(name)))
                   for name in dict.fromkeys([*names, *wanted])]
        try:
            logits = bundle.model(batch)
        finally:
            for handle in handles:
                handle.remove()
    return logits, taps
