"""The NumPy network in the training loop: a :class:`cnnviz.train.loop.Learner` adapter."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from cnnviz.train.scratch.numpy_net import Network, softmax_cross_entropy


class NumpyLearner:
    """forward → softmax cross-entropy → backward → optimiser step, all in NumPy.

    ``prepare`` turns the loop's batch into the network's input (e.g. ``Standardise``);
    ``lock`` is held during each step, so the page can copy the weights between steps.
    With ``watch`` on, each step leaves its learning rate and every layer's gradient norm
    (√Σg² over its weights and biases) in ``last_step``, for the page's live view.
    """

    def __init__(self, network: Network, optimizer, *,
                 prepare: Callable[[np.ndarray], np.ndarray] | None = None):
        self.network, self.optimizer, self.prepare = network, optimizer, prepare
        self.lock = threading.Lock()
        self.watch, self.last_step = False, {}

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.lr)

    @learning_rate.setter
    def learning_rate(self, lr: float) -> None:
        with self.lock:  # between two steps
            self.optimizer.lr = float(lr)

    def inputs(self, x):
        x = self.prepare(x) if self.prepare is not None else x
        return np.asarray(x, self.network.dtype)

    def train_step(self, x, y):
        x = self.inputs(x)
        with self.lock:
            logits = self.network.forward(x, train=True)
            loss, dlogits = softmax_cross_entropy(logits, y)
            self.network.backward(dlogits)
            if self.watch:
                self.last_step = {"lr": self.learning_rate,
                                  "grad_norms": self._gradient_norms()}
            self.optimizer.step()
        return loss, int((logits.argmax(axis=1) == y).sum())

    def _gradient_norms(self) -> dict[str, float]:
        squares: dict[str, float] = {}
        for name, key, layer in self.network.parameters():
            g = layer.grads[key]
            squares[name] = squares.get(name, 0.0) + float(np.vdot(g, g))
        return {name: s ** 0.5 for name, s in squares.items()}

    def logits(self, x):
        x = self.inputs(x)
        with self.lock:
            return self.network.forward(x, train=False)
