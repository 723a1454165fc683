"""Finite differences against backpropagation: the test that the NumPy backward passes are right.

For entries θᵢ of every parameter (all of them by default: the chapter's network has about
9,000, a few seconds), the central difference n = (L(θᵢ + ε) − L(θᵢ − ε)) / 2ε is compared
with the gradient a that ``backward`` computed. A parameter's error is the largest |a − n| over
its checked entries divided by the largest gradient among them: entry by entry, |a − n| / |a| would be the
finite difference's rounding (about 1e−16·L / ε ≈ 1e−9 here) divided by whatever tiny gradient
an entry happens to have. In float64 a correct layer gives about 1e−7 or less; a wrong one
1e−2 or more.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from cnnviz.train.scratch.numpy_net import Network, softmax_cross_entropy

TINY = 1e-8  # below this, a gradient counts as zero: the finite difference's rounding is ~1e-9


@dataclass(frozen=True)
class ParameterCheck:
    """One parameter's check: how many of its entries were compared, and how well they agree."""

    entries: int  # the parameter's size
    checked: int  # entries compared (all, or the largest-gradient one and a random sample)
    both_zero: int  # checked entries where both gradients are zero: nothing to compare
    error: float | None  # max |a − n| / max(|a|, |n|) over the rest; None: all were zero

    @property
    def tested(self) -> bool:
        return self.error is not None


def _forward_from(net: Network, start: int, h, y) -> float:
    """The loss from layer ``start`` on, given that layer's input ``h``."""
    for layer in net.layers[start:]:
        h = layer.forward(h, train=True)
    return softmax_cross_entropy(h, y)[0]


def gradient_check(network: Network, x, y, *, entries: int | None = None, eps: float = 1e-6,
                   seed: int = 0) -> dict[str, ParameterCheck]:
    """Each parameter's check, named like ``"conv1.W"``, on the batch (x, y).

    ``entries=None`` checks every entry; a number checks the largest-gradient entry and that
    many random ones (for a network too large to check whole). Runs on a float64 copy of
    ``network`` (the network itself is left as it was); batch norm is checked in training
    mode, where its gradient is the interesting one. A change to layer k's parameters only
    changes what comes after it, so each loss is computed from layer k's input on.
    """
    net = copy.deepcopy(network)
    for layer in net.layers:
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float64)
    inputs = [np.asarray(x, np.float64)]
    for layer in net.layers:
        inputs.append(layer.forward(inputs[-1], train=True))
    net.backward(softmax_cross_entropy(inputs[-1], y)[1])
    rng = np.random.default_rng(seed)
    checks = {}
    for k, (name, layer) in enumerate(zip(net.names, net.layers)):
        for key, param in layer.params.items():
            grad = layer.grads[key].copy()
            picks = (range(param.size) if entries is None else sorted(
                {int(np.abs(grad).argmax()), *rng.integers(0, param.size, entries).tolist()}))
            analytic, numeric = [], []
            for i in picks:
                index = np.unravel_index(i, param.shape)
                saved = param[index]
                param[index] = saved + eps
                up = _forward_from(net, k, inputs[k], y)
                param[index] = saved - eps
                down = _forward_from(net, k, inputs[k], y)
                param[index] = saved
                analytic.append(grad[index])
                numeric.append((up - down) / (2 * eps))
            size = np.maximum(np.abs(analytic), np.abs(numeric))
            live = size > TINY
            error = (float(np.abs(np.subtract(analytic, numeric))[live].max()
                           / size[live].max()) if live.any() else None)
            checks[f"{name}.{key}"] = ParameterCheck(param.size, len(analytic),
                                                     int((~live).sum()), error)
    return checks
