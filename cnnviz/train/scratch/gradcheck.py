"""Finite differences against backpropagation: the test that the NumPy backward passes are right.

For a few entries θᵢ of every parameter, the central difference
(L(θᵢ + ε) − L(θᵢ − ε)) / 2ε is compared with the gradient ``backward`` computed, as the
relative error |a − n| / max(|a|, |n|). In float64 a correct layer gives about 1e−7 or less;
a wrong one gives 1e−2 or more.
"""

from __future__ import annotations

import copy

import numpy as np

from cnnviz.train.scratch.numpy_net import Network, softmax_cross_entropy

TINY = 1e-8  # below this, both gradients count as zero: their difference is rounding noise


def _loss(network: Network, x, y) -> float:
    return softmax_cross_entropy(network.forward(x, train=True), y)[0]


def gradient_check(network: Network, x, y, *, entries: int = 5, eps: float = 1e-6,
                   seed: int = 0) -> dict[str, float]:
    """Largest relative error per parameter, named like ``"conv1.W"``, on the batch (x, y).

    Checks the largest-gradient entry and ``entries`` random ones of each parameter, on a
    float64 copy of ``network`` (the network itself is left as it was). Batch norm is checked
    in training mode, where its gradient is the interesting one.
    """
    net = copy.deepcopy(network)
    for layer in net.layers:
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float64)
    x = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    net.backward(softmax_cross_entropy(net.forward(x, train=True), y)[1])
    analytic = {(name, key): layer.grads[key].copy() for name, key, layer in net.parameters()}
    errors = {}
    for name, key, layer in net.parameters():
        param, grad = layer.params[key], analytic[(name, key)]
        picks = {int(np.abs(grad).argmax()), *rng.integers(0, param.size, entries).tolist()}
        worst = 0.0
        for i in picks:
            index = np.unravel_index(i, param.shape)
            saved = param[index]
            param[index] = saved + eps
            up = _loss(net, x, y)
            param[index] = saved - eps
            down = _loss(net, x, y)
            param[index] = saved
            a, n = grad[index], (up - down) / (2 * eps)
            scale = max(abs(a), abs(n))
            worst = max(worst, abs(a - n) / scale if scale > TINY else 0.0)
        errors[f"{name}.{key}"] = float(worst)
    return errors
