"""Trained weights as files: NumPy ``.npz`` for the network from scratch, PyTorch state dicts
for the twin and MNISTConvNet.

A file is read into the network the page's settings build, and only if it fits that network
exactly: names, shapes and sizes are checked before any value is read
(:mod:`cnnviz.weight_files`), so an upload never decides how large a network the server builds
or how much work one prediction is. A file that is not such a file, or was made for another
network, raises :class:`WeightsFileError` saying what was expected and what was found; when it
is this page's network with other settings, the message says which.
"""

from __future__ import annotations

import io
import re
from typing import Mapping

import numpy as np
import torch
from torch import nn

from cnnviz import weight_files
from cnnviz.train.scratch.numpy_net import Network
from cnnviz.weight_files import WeightsFileError

__all__ = ["WeightsFileError", "numpy_bytes", "torch_bytes", "load_numpy", "load_torch"]


def numpy_bytes(network: Network) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **network.state())
    return buffer.getvalue()


def torch_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def load_numpy(data: bytes, network: Network, what: str) -> None:
    """The ``.npz`` in ``data`` copied into ``network`` in place (untouched when it does not
    fit)."""
    target = network.state()
    expected = {key: value.shape for key, value in target.items()}
    try:
        arrays = weight_files.read_npz(data, expected, what)
    except WeightsFileError as err:
        raise _explained(err, expected) from None
    for key, value in target.items():
        value[...] = arrays[key]


def load_torch(data: bytes, model: nn.Module, what: str) -> None:
    """The state dict in ``data`` loaded into ``model`` (untouched when it does not fit)."""
    expected = model.state_dict()
    shapes = {key: tuple(value.shape) for key, value in expected.items()}
    state = weight_files.read_pt(data, weight_files.size_limit(shapes), what)
    try:
        weight_files.check_tensors(state, expected, what)
    except WeightsFileError as err:
        raise _explained(err, shapes) from None
    weight_files.check_finite(state, what)  # shapes checked: no view is larger than the model
    model.load_state_dict(state)


def _explained(err: WeightsFileError, expected: Mapping[str, tuple]) -> WeightsFileError:
    """``err``, plus the settings the file was saved with, when it names its layers as this
    page's networks do."""
    found, wanted = _settings(err.found or {}), _settings(expected)
    if found is None or wanted is None or found == wanted:
        return err
    fix = ("choose its channels and batch norm above, press Reset, and upload it again"
           if found[1] == wanted[1] else "it was trained on other data (other image channels "
           "or classes)")
    return WeightsFileError(f"{err} The file holds a network with {_words(*found)}; the "
                            f"settings above build one with {_words(*wanted)}: {fix}.",
                            err.found)


def _settings(shapes: Mapping[str, tuple]) -> tuple | None:
    """((channels, batch norm), (image channels, classes)) of a from-scratch network or its
    twin (NumPy or PyTorch names), or None for any other state."""
    convs = sorted((k for k in shapes if re.fullmatch(r"conv\d+\.(W|weight)", k)),
                   key=lambda k: int(k[4:k.index(".")]))
    dense = shapes.get("dense.W") or tuple(reversed(shapes.get("dense.weight", ())))
    if not convs or len(dense) != 2 or any(len(shapes[k]) != 4 for k in convs):
        return None
    return ((tuple(shapes[k][0] for k in convs), any(k.startswith("bn") for k in shapes)),
            (shapes[convs[0]][1], dense[1]))


def _words(layers: tuple, data: tuple) -> str:
    (channels, norm), (images, classes) = layers, data
    return (f"channels {', '.join(map(str, channels))}, {'' if norm else 'no '}batch norm, "
            f"for {images}-channel images and {classes} classes")
