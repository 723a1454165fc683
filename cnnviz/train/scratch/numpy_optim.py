"""SGD (plain, as the chapter's lab, or with momentum) and Adam in NumPy, step for step what
``torch.optim`` does.

Both update the network's arrays in place from the gradients its last ``backward`` left in
each layer's ``grads``.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """v ← μ·v + g;  θ ← θ − lr·v  (PyTorch's form: the first step sets v = g). With μ = 0, as
    by default, this is the chapter's plain θ ← θ − lr·g."""

    def __init__(self, network, lr=0.01, momentum=0.0):
        self.network, self.lr, self.momentum = network, lr, momentum
        self.velocity: dict = {}

    def step(self):
        for name, key, layer in self.network.parameters():
            g = layer.grads[key]
            v = self.velocity.get((name, key))
            v = g.copy() if v is None else self.momentum * v + g
            self.velocity[(name, key)] = v
            layer.params[key] -= (self.lr * v).astype(layer.params[key].dtype)


class Adam:
    """Kingma & Ba (2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr·m̂ / (√v̂ + ε)
    with the bias corrections m̂ = m / (1−β₁ᵗ), v̂ = v / (1−β₂ᵗ)."""

    def __init__(self, network, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.network, self.lr, self.betas, self.eps = network, lr, betas, eps
        self.moments: dict = {}
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for name, key, layer in self.network.parameters():
            g = layer.grads[key]
            m, v = self.moments.get((name, key), (np.zeros_like(g), np.zeros_like(g)))
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            self.moments[(name, key)] = (m, v)
            m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
            layer.params[key] -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(
                layer.params[key].dtype)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
