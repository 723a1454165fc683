"""The three networks the page and the CLI train, built from one :class:`Recipe`.

- ``numpy``: the chapter's network from scratch (:mod:`cnnviz.train.scratch.numpy_net`);
- ``twin``: the same network in PyTorch (:mod:`cnnviz.train.scratch.twin`), same initial weights;
- ``mnistconvnet``: the chapter's ``MNISTConvNet`` (:mod:`cnnviz.train.scratch.mnist_convnet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cnnviz import models
from cnnviz.train.scratch import weights_io
from cnnviz.train.scratch.mnist_convnet import MNISTConvNet
from cnnviz.train.scratch.numpy_learner import NumpyLearner
from cnnviz.train.scratch.numpy_net import Network, scratch_cnn
from cnnviz.train.scratch.numpy_optim import OPTIMIZERS
from cnnviz.train.torch_learner import TorchLearner
from cnnviz.train.scratch.twin import torch_twin

NETS = {"numpy": "NumPy network from scratch", "twin": "PyTorch twin",
        "mnistconvnet": "Chapter's MNISTConvNet"}
TORCH_OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


@dataclass(frozen=True)
class Recipe:
    net: str = "numpy"
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 3
    channels: tuple[int, ...] = (8, 16)  # the from-scratch network and its twin only
    batch_norm: bool = False
    seed: int = 0
    momentum: float = 0.0  # SGD's; 0 is the chapter's plain SGD (Adam has its own moments)

    def __post_init__(self):
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), not {self.momentum}")
        if self.momentum and self.optimizer != "sgd":
            raise ValueError(f"momentum is a setting of SGD, not of {self.optimizer}")


def _kwargs(recipe: Recipe) -> dict:
    return {"lr": recipe.lr, **({"momentum": recipe.momentum} if recipe.optimizer == "sgd"
                                else {})}


def _torch_learner(model, recipe: Recipe, prepare, device) -> TorchLearner:
    model = model.to(device if device is not None else models.select_device())
    optimizer = TORCH_OPTIMIZERS[recipe.optimizer](model.parameters(), **_kwargs(recipe))
    return TorchLearner(model, optimizer, prepare=prepare)


def _scratch(recipe: Recipe, shape) -> Network:
    c, h, _ = shape
    return scratch_cnn(recipe.channels, in_channels=c, size=h, batch_norm=recipe.batch_norm,
                       seed=recipe.seed)


def build_learner(recipe: Recipe, prepare, *, shape=(1, 28, 28), device=None):
    """A fresh learner for images of ``shape`` (C, H, W), seeded by ``recipe.seed``. PyTorch
    networks go to ``device`` (default: CUDA when available, see ``models.select_device``);
    the NumPy network always runs on the CPU."""
    if recipe.net == "numpy":
        network = _scratch(recipe, shape)
        return NumpyLearner(network, OPTIMIZERS[recipe.optimizer](network, **_kwargs(recipe)),
                            prepare=prepare)
    if recipe.net == "twin":
        return _torch_learner(torch_twin(_scratch(recipe, shape)), recipe, prepare, device)
    if recipe.net == "mnistconvnet":
        if tuple(shape) != (1, 28, 28):
            raise ValueError(f"MNISTConvNet is written for 28×28 grey digits, not "
                             f"{shape[1]}×{shape[2]}×{shape[0]} images; pick another network")
        torch.manual_seed(recipe.seed)
        return _torch_learner(MNISTConvNet(), recipe, prepare, device)
    raise ValueError(f"unknown network {recipe.net!r}; choose one of {', '.join(NETS)}")


def model_of(learner):
    """The network inside a learner: a NumPy ``Network`` or an ``nn.Module``."""
    return learner.network if isinstance(learner, NumpyLearner) else learner.model


def weights_file(learner, net: str) -> tuple[bytes, str]:
    """(file contents, file name) of the learner's weights."""
    with learner.lock:
        if isinstance(learner, NumpyLearner):
            return weights_io.numpy_bytes(learner.network), "cnnviz-numpy-cnn.npz"
        return weights_io.torch_bytes(learner.model), f"cnnviz-{net}.pt"


def describe(recipe: Recipe, shape=(1, 28, 28)) -> str:
    """The network ``recipe`` builds for images of ``shape`` (C, H, W), in words."""
    if recipe.net == "mnistconvnet":
        return "the chapter's MNISTConvNet"
    c, h, w = shape
    norm = "batch norm" if recipe.batch_norm else "no batch norm"
    return (f"the {NETS[recipe.net]} (channels {', '.join(map(str, recipe.channels))}, {norm}, "
            f"for {h}×{w}×{c} images)")


def learner_from_file(data: bytes, recipe: Recipe, prepare, *, shape=(1, 28, 28), device=None):
    """A learner for ``recipe`` and images of ``shape`` holding the weights in ``data`` (a
    file from :func:`weights_file`). The network is the recipe's; the file must fit it exactly
    and never decides its size. Raises ``weights_io.WeightsFileError`` saying what was
    expected and what was found."""
    learner = build_learner(recipe, prepare, shape=shape, device=device)
    what = describe(recipe, shape)
    if isinstance(learner, NumpyLearner):
        weights_io.load_numpy(data, learner.network, what)
    else:
        weights_io.load_torch(data, learner.model, what)
    return learner


def first_layer_filters(learner) -> np.ndarray:
    """The first convolution's kernels (F, C, k, k) as they are now, copied between steps."""
    with learner.lock:
        if isinstance(learner, NumpyLearner):
            return learner.network.layers[0].params["W"].astype(np.float64)
        first = next(m for m in learner.model.modules() if isinstance(m, torch.nn.Conv2d))
        return first.weight.detach().double().cpu().numpy().copy()
