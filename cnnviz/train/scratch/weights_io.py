"""Trained weights as files: NumPy ``.npz`` for the network from scratch, PyTorch state dicts
for the twin and MNISTConvNet. A file that is not such a file, or was made for another network,
raises :class:`WeightsFileError` with a sentence that says which.

A NumPy file needs no description of its network: the layers, channels and batch norm are read
back from the names and shapes of its arrays (``conv1.W`` (8, 1, 3, 3), ``bn1.gamma``, …).
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import torch
from torch import nn

from cnnviz.train.scratch.numpy_net import Network, scratch_cnn


class WeightsFileError(ValueError):
    """The uploaded file cannot be read as weights for this network."""


def numpy_bytes(network: Network) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **network.state())
    return buffer.getvalue()


def _check_shapes(expected: dict, found: dict, what: str) -> None:
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        raise WeightsFileError(f"This file does not fit {what}: "
                               + "; ".join(part for part in (
                                   f"missing {', '.join(missing[:4])}" if missing else "",
                                   f"unexpected {', '.join(extra[:4])}" if extra else "") if part)
                               + ".")
    for key, value in expected.items():
        if tuple(found[key].shape) != tuple(value.shape):
            raise WeightsFileError(f"In this file {key} has shape {tuple(found[key].shape)}, "
                                   f"but {what} needs {tuple(value.shape)}.")


def read_numpy(data: bytes) -> Network:
    """A network built to the file's shapes, holding the file's weights."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if any(key.endswith("data.pkl") for key in npz.files):
                raise WeightsFileError("This is a PyTorch weights file (.pt), not the NumPy "
                                       "network's .npz: choose a PyTorch network to load it.")
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise WeightsFileError("This is not a NumPy weights file (.npz): "
                               f"{str(err).rstrip('.')}.") from None
    return network_from_arrays(arrays)


def network_from_arrays(arrays: dict[str, np.ndarray]) -> Network:
    """The NumPy network whose ``state()`` has these names and shapes, holding these values."""
    convs = sorted(k for k in arrays if k.startswith("conv") and k.endswith(".W"))
    if not convs or any(arrays[k].ndim != 4 for k in convs):
        raise WeightsFileError("This file holds no convolution weights named like conv1 (4-D): "
                               "it was not saved from this network.")
    channels = tuple(int(arrays[k].shape[0]) for k in convs)
    dense = arrays.get("dense.W", np.zeros((channels[-1] * 49, 10)))
    side = int(round(np.sqrt(dense.shape[0] / channels[-1]))) if dense.ndim == 2 else 7
    dtype = arrays[convs[0]].dtype
    network = scratch_cnn(channels, in_channels=int(arrays[convs[0]].shape[1]),
                          size=side * 2 ** len(channels), classes=dense.shape[-1],
                          batch_norm="bn1.gamma" in arrays,
                          dtype=dtype if dtype in (np.float32, np.float64) else np.float32)
    target = network.state()
    _check_shapes(target, arrays, f"the NumPy network with channels {channels}")
    for key, value in target.items():
        value[...] = arrays[key]
    return network


def torch_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def read_torch_state(data: bytes) -> dict[str, torch.Tensor]:
    """The state dict in a file written by ``torch.save`` (tensors only, nothing executed)."""
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile,
            OSError) as err:
        raise WeightsFileError("This is not a PyTorch weights file (.pt, saved with "
                               f"torch.save): {str(err).splitlines()[0].rstrip('.')}.") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError("This PyTorch file holds something other than a state dict "
                               "(a dictionary of tensors).")
    return state


def load_torch(data: bytes, model: nn.Module, what: str) -> None:
    """Load the file's state dict into ``model`` in place, after checking every name and shape
    (the model is untouched when the file does not fit)."""
    state = read_torch_state(data)
    _check_shapes(model.state_dict(), state, what)
    model.load_state_dict(state)
