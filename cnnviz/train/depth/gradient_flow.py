"""How big the gradient is at every block of a plain or residual network, and which path it took.

For block l with input x_l the network computes z_l = S(x_l) + F(x_l) (no S in a plain block)
and x_{l+1} = act(z_l), so the chain rule gives

    ∂L/∂x_l = S^T g_l + J_F^T g_l,   g_l = act'(z_l) ⊙ ∂L/∂x_{l+1}.

A plain network has only the second term, so the gradient at the first block is the gradient at
the output times a product of one factor per block. A residual network also has the first: with
the identity for S it hands g_l back unchanged, and following it through every block gives the
chapter's "1·1·…·1" term of ∂x_L/∂x_l = 1 + ∂/∂x_l Σ F, the *highway*, measured here with the
activations' derivatives it really passes through.

Everything is measured on a real batch in training mode (batch statistics, as training sees
them) on a copy of the network, so a shared model is never touched.
"""

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.train.depth.cifar_net import CifarNet


@dataclass
class GradientFlow:
    """The norms of one backward pass. Index i of the ``input_norms`` is block i's input
    (i = 0 the first block's), the last entry the last block's output (what the head reads)."""

    residual: bool
    loss: float
    input_norms: list[float]  # ‖∂L/∂x_i‖ for each block's input, then the last block's output
    shortcut_norms: list[float]  # ‖S^T g_i‖ per block (zeros for a plain network)
    branch_norms: list[float]  # ‖J_F^T g_i‖ per block
    highway_norms: list[float]  # ‖the shortcut-only path from the output back to block i's input‖
    rest_norms: list[float]  # ‖∂L/∂x_i minus that highway term‖: every path through some F
    weight_norms: dict[str, float] = field(default_factory=dict)  # ‖∂L/∂W‖ per weighted layer

    @property
    def factors(self) -> list[float]:
        """‖∂L/∂x_i‖ / ‖∂L/∂x_{i+1}‖ for each block: their product, from the output back to
        block i, is exactly how much the gradient grew or shrank on the way."""
        norms = self.input_norms
        return [norms[i] / norms[i + 1] for i in range(len(norms) - 1)]

    @property
    def first_to_last(self) -> float:
        """The gradient at the first block's input over the gradient at the last block's."""
        return self.input_norms[0] / self.input_norms[-2]

    def as_dict(self) -> dict:
        return {"residual": self.residual, "loss": self.loss, "input_norms": self.input_norms,
                "shortcut_norms": self.shortcut_norms, "branch_norms": self.branch_norms,
                "highway_norms": self.highway_norms, "rest_norms": self.rest_norms,
                "weight_norms": self.weight_norms}


def norm(gradient: torch.Tensor) -> float:
    """‖gradient‖, summed in float64. In float32 the squares of entries below about 1e-19
    underflow: a gradient of entries near 1e-24 has a float32 norm of 0 (or a third of its
    true value), though not one entry is 0. 0 here means every entry is exactly 0."""
    return torch.linalg.vector_norm(gradient, dtype=torch.float64).item()


def weighted_layers(net: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The convolution and linear weights from input to output, with their module names."""
    return [(name, module.weight) for name, module in net.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear))]


def measure(net: CifarNet, images: torch.Tensor, labels: torch.Tensor) -> GradientFlow:
    """One forward and backward pass of the cross-entropy loss on (``images``, ``labels``)
    through a training-mode copy of ``net``, and the norms of every gradient above."""
    net = copy.deepcopy(net).train()
    device = next(net.parameters()).device
    images, labels = images.to(device), labels.to(device)
    x = net.stem(images)
    inputs, shortcuts, branches, sums, outputs = [], [], [], [], []
    for block in net.blocks:  # the block's own forward, unrolled to keep its parts
        inputs.append(x)
        branch = block.branch(x)
        shortcut = block.shortcut(x) if block.shortcut is not None else None
        z = branch if shortcut is None else branch + shortcut
        x = block.act(z)
        shortcuts.append(shortcut)
        branches.append(branch)
        sums.append(z)
        outputs.append(x)
    loss = F.cross_entropy(net.head(x), labels)

    weights = weighted_layers(net)
    grads = torch.autograd.grad(loss, [*inputs, x, *sums] + [w for _, w in weights],
                                retain_graph=True)
    n = len(inputs)
    input_grads, sum_grads = grads[:n + 1], grads[n + 1:2 * n + 1]
    weight_grads = grads[2 * n + 1:]

    def back(output: torch.Tensor, wrt: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(output, wrt, grad, retain_graph=True)[0]

    shortcut_norms, branch_norms = [], []
    for x_i, s, b, g in zip(inputs, shortcuts, branches, sum_grads):
        shortcut_norms.append(0.0 if s is None else norm(back(s, x_i, g)))
        branch_norms.append(norm(back(b, x_i, g)))

    # the highway: at the output the whole gradient, then only through act' and S, block by block
    highway = [torch.zeros_like(g) for g in input_grads[:-1]] + [input_grads[-1]]
    if net.residual:
        for i in reversed(range(n)):
            highway[i] = back(shortcuts[i], inputs[i], back(outputs[i], sums[i], highway[i + 1]))
    return GradientFlow(
        residual=net.residual, loss=loss.item(),
        input_norms=[norm(g) for g in input_grads],
        shortcut_norms=shortcut_norms, branch_norms=branch_norms,
        highway_norms=[norm(h) for h in highway],
        rest_norms=[norm(g - h) for g, h in zip(input_grads, highway)],
        weight_norms={name: norm(g) for (name, _), g in zip(weights, weight_grads)})
