"""The NumPy network's PyTorch twin: the same layers, the same weights, the same answers.

:func:`torch_twin` builds the ``nn.Sequential`` that matches a :class:`Network` layer for
layer (module names are the NumPy layer names, so ``conv1.weight`` is ``conv1.W``) and copies
the weights across. :func:`agreement` trains both side by side in float64 on the same batches
and measures how far their losses and gradients drift apart.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.train.loop import fit
from cnnviz.train.scratch.numpy_learner import NumpyLearner
from cnnviz.train.scratch.numpy_net import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Network,
    ReLU,
    scratch_cnn,
    softmax_cross_entropy,
)
from cnnviz.train.scratch.numpy_optim import OPTIMIZERS

# NumPy parameter name → PyTorch's, per layer type
_TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias",
                "running_mean": "running_mean", "running_var": "running_var"}
_TORCH_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def _torch_layer(layer) -> nn.Module:
    if isinstance(layer, Conv2D):
        f, c, k, _ = layer.params["W"].shape
        return nn.Conv2d(c, f, k, padding=layer.padding)
    if isinstance(layer, BatchNorm2D):
        return nn.BatchNorm2d(len(layer.params["gamma"]), eps=layer.eps, momentum=layer.momentum)
    if isinstance(layer, Dense):
        return nn.Linear(*layer.params["W"].shape)
    if isinstance(layer, MaxPool2D):
        return nn.MaxPool2d(layer.size)
    return {ReLU: nn.ReLU, Flatten: nn.Flatten}[type(layer)]()


def torch_name(numpy_name: str) -> str:
    """``"conv1.W"`` → ``"conv1.weight"``: the twin's state-dict key for a NumPy array."""
    layer, key = numpy_name.rsplit(".", 1)
    return f"{layer}.{_TORCH_NAMES[key]}"


def _is_dense(network: Network, numpy_name: str) -> bool:
    layer = network.layers[network.names.index(numpy_name.rsplit(".", 1)[0])]
    return isinstance(layer, Dense) and numpy_name.endswith(".W")


def to_torch_state(network: Network) -> dict[str, torch.Tensor]:
    """The network's arrays as the twin's state dict (Dense's W transposed to Linear's)."""
    return {torch_name(k): torch.from_numpy(np.ascontiguousarray(v.T if _is_dense(network, k)
                                                                 else v).copy())
            for k, v in network.state().items()}


def torch_twin(network: Network) -> nn.Sequential:
    """An ``nn.Sequential`` with the same layers, weights and dtype as ``network``."""
    model = nn.Sequential(OrderedDict((name, _torch_layer(layer))
                                      for name, layer in zip(network.names, network.layers)))
    model = model.to(torch.float64 if network.dtype == np.float64 else torch.float32)
    model.load_state_dict(to_torch_state(network), strict=False)  # + num_batches_tracked
    return model


@dataclass
class PairedLearner:
    """Trains the NumPy network and its twin on every batch and compares them before the
    optimiser steps: a :class:`Learner`, so the loop feeds both exactly the same batches."""

    numpy: NumpyLearner
    twin: nn.Module
    optimizer: torch.optim.Optimizer
    numpy_losses: list = field(default_factory=list)
    torch_losses: list = field(default_factory=list)
    gradient_differences: list = field(default_factory=list)

    def train_step(self, x, y):
        net = self.numpy.network
        inputs = self.numpy.inputs(x)
        logits = net.forward(inputs, train=True)
        loss, dlogits = softmax_cross_entropy(logits, y)
        net.backward(dlogits)
        self.twin.train()
        self.optimizer.zero_grad()
        torch_loss = F.cross_entropy(self.twin(torch.from_numpy(inputs)), torch.from_numpy(y))
        torch_loss.backward()
        grads = dict(self.twin.named_parameters())
        worst = 0.0
        for name, key, layer in net.parameters():
            g = layer.grads[key].T if isinstance(layer, Dense) and key == "W" else layer.grads[key]
            theirs = grads[torch_name(f"{name}.{key}")].grad.numpy()
            worst = max(worst, float(np.abs(g - theirs).max()))
        self.numpy_losses.append(loss)
        self.torch_losses.append(torch_loss.item())
        self.gradient_differences.append(worst)
        self.numpy.optimizer.step()
        self.optimizer.step()
        return loss, int((logits.argmax(axis=1) == y).sum())

    def logits(self, x):
        return self.numpy.logits(x)


def agreement(images, labels, *, steps: int = 10, optimizer: str = "adam", lr: float = 1e-3,
              batch_size: int = 32, batch_norm: bool = False, seed: int = 0,
              prepare=None) -> PairedLearner:
    """Train the NumPy network and its float64 twin for ``steps`` steps from the same weights
    on the same batches; the result holds both loss curves and the gradient differences."""
    network = scratch_cnn(batch_norm=batch_norm, seed=seed, dtype=np.float64)
    twin = torch_twin(network)
    kwargs = {"momentum": 0.9} if optimizer == "sgd" else {}
    paired = PairedLearner(
        NumpyLearner(network, OPTIMIZERS[optimizer](network, lr=lr, **kwargs), prepare=prepare),
        twin, _TORCH_OPTIMIZERS[optimizer](twin.parameters(), lr=lr, **kwargs))
    fit(paired, images, labels, epochs=1 + steps * batch_size // len(labels),
        batch_size=batch_size, seed=seed,
        should_stop=lambda: len(paired.numpy_losses) >= steps)
    return paired
