"""One instrumented forward pass that measures a model the way the architecture comparison
needs: FLOPs (torch's own counter), depth, activation memory and a per-layer table like
torchinfo's.

Why not count from the module list? Modules do not say how data flows: an Inception module's
four branches run side by side, a ResNet shortcut skips layers, a functional ``x + y`` or
``torch.cat`` is no module at all. Following every tensor through the real forward pass gets
all of these right for any model, including ones we have never seen.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count
from torch.utils.weak import WeakTensorKeyDictionary

aten = torch.ops.aten

# The operations torch's FLOP counter counts as matrix products or convolutions. One of them
# is a *layer with weights* when one of its operands is a parameter of the model: a weight
# that training learns. A buffer is fixed (LeNet-5's RBF centres), so it does not count.
WEIGHTED_OPS = frozenset({
    aten.convolution, aten._convolution, aten.mm, aten.addmm, aten.bmm, aten.baddbmm,
})

# The CPU's fused attention kernel, which torch's counter does not list although it counts the
# same kernel on a GPU: without it a Vision Transformer's attention would count on one device
# and not on the other.
def _attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(query_shape, key_shape, value_shape)


CPU_ATTENTION = {aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops}

DEPTH_RULE = (
    "Depth = the longest chain of layers with trained weights (convolutions and fully "
    "connected layers, and LeNet-5's subsampling layers, each a 2×2 convolution with one "
    "trained coefficient per map) from the input to the output, found by following every "
    "tensor through one forward pass. Normalisation, activation and pooling layers do not "
    "count, nor does a layer whose weights are fixed (LeNet-5's RBF output); parallel "
    "branches (an Inception module, a shortcut projection) count once, along the longest of "
    "them; a squeeze-and-excitation gate lies on such a chain and counts."
)
MACS_RULE = (
    "MACs = multiply-accumulates of the convolutions and matrix products in one forward pass "
    "of one image, counted by torch.utils.flop_counter.FlopCounterMode, which reports "
    "FLOPs = 2 × MACs (a multiply and an add); attention's products count too. torchvision's "
    "metadata field named GFLOPS holds GMACs."
)
ACTIVATION_RULE = (
    "Activation memory = the bytes of every new tensor the forward pass of one image writes "
    "(in-place results and views excluded): what training keeps for the backward pass, before "
    "any memory reuse."
)


@dataclass(frozen=True)
class LayerStats:
    """One module's row of the layer table."""

    name: str  # as in named_modules
    kind: str  # the module's class name
    level: int  # nesting depth: 1 for the model's direct children
    output_shape: tuple[int, ...] | None  # without the batch axis; None if never called
    params: int  # trainable and frozen parameters of the module and its children
    macs: int


@dataclass(frozen=True)
class Profile:
    flops: int
    macs: int
    depth: int
    activation_bytes: int
    layers: tuple[LayerStats, ...]


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


class _Dataflow(TorchDispatchMode):
    """Gives every tensor a depth: the most weighted layers on any path from the input to it;
    and adds up the bytes of freshly written tensors."""

    def __init__(self, weight_storages: set[int]):
        super().__init__()
        self.weight_storages = weight_storages
        self.depth = WeakTensorKeyDictionary()
        self.fresh_bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        depth = max((self.depth.get(t, 0) for t in inputs), default=0)
        if func.overloadpacket in WEIGHTED_OPS and any(
                _storage(t) in self.weight_storages for t in inputs):
            depth += 1
        input_storages = {_storage(t) for t in inputs}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.depth[t] = depth  # in-place results are inputs too, so never lower
                if _storage(t) not in input_storages:
                    self.fresh_bytes += t.numel() * t.element_size()
        return out


def _first_tensor(value) -> torch.Tensor | None:
    return next((t for t in tree_leaves(value) if isinstance(t, torch.Tensor)), None)


def profile(model: nn.Module, input_shape: tuple[int, ...]) -> Profile:
    """Run ``model`` (in eval mode) once on a random batch of one ``input_shape`` image.

    Autograd stays on: some layers (nn.MultiheadAttention) switch to a fused kernel under
    no_grad that the FLOP counter does not know.
    """
    model.eval()
    x = torch.randn(1, *input_shape)
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name):
        def hook(module, args, output):
            t = _first_tensor(output)
            if t is not None:
                shapes[name] = tuple(t.shape[1:])
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n]
    weight_storages = {_storage(t) for t in model.parameters()}
    counter = FlopCounterMode(display=False, depth=None, custom_mapping=CPU_ATTENTION)
    dataflow = _Dataflow(weight_storages)
    try:
        with counter, dataflow:
            out = model(x)
        depth = dataflow.depth.get(_first_tensor(out), 0)
    finally:
        for h in handles:
            h.remove()

    counts = counter.get_flop_counts()
    root = type(model).__name__
    layers = tuple(
        LayerStats(name=name, kind=type(module).__name__, level=name.count(".") + 1,
              output_shape=shapes.get(name),
              params=sum(p.numel() for p in module.parameters()),
              macs=sum(counts.get(f"{root}.{name}", {}).values()) // 2)
        for name, module in model.named_modules() if name
    )
    flops = counter.get_total_flops()
    return Profile(flops=flops, macs=flops // 2, depth=depth,
                   activation_bytes=dataflow.fresh_bytes, layers=layers)
