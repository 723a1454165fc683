"""A fine-tuned network as the rest of the app sees models: a :class:`models.ModelBundle` that
the Grad-CAM and feature-map pages can open, and a file to download and upload again.

The file is ``torch.save`` of ``{"format", "backbone", "classes", "state_dict"}``: a state
dict with its class names, read back with ``weights_only=True`` (no code in a pickle runs).
The state dict holds every weight, so loading builds the backbone's architecture untrained
and needs no download.
"""

from __future__ import annotations

import io
import pickle
import time

import torch

from cnnviz import models
from cnnviz.train.transfer import augment
from cnnviz.train.transfer.network import BACKBONES, TransferNet, build
from cnnviz.train.transfer.report import EvalTransform

FORMAT = "cnnviz-transfer-learning-1"


class CheckpointError(ValueError):
    """An uploaded file is not a fine-tuned model this app saved; the message says why."""


def as_bundle(net: TransferNet, backbone: models.ModelBundle, classes, how: str) -> models.ModelBundle:
    """``net`` (frozen, in eval mode) with the backbone's preprocessing and the class names.

    ``how`` (for example "fine-tuned on 419 photos") goes into ``weights`` with the time, so
    two fine-tunings in one session never share a cache entry.
    """
    net.requires_grad_(False)
    net.eval()
    classes = list(classes)
    shown = ", ".join(classes[:4]) + (", …" if len(classes) > 4 else "")
    return models.ModelBundle(
        f"{backbone.name} fine-tuned ({shown})", net,
        EvalTransform(augment.normalisation(backbone)), classes, backbone.device, True,
        f"{how}, from {backbone.name} ImageNet weights, {time.strftime('%H:%M:%S')}")


def save(net: TransferNet, backbone: str, classes) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "backbone": backbone, "classes": list(classes),
                "state_dict": {k: v.cpu() for k, v in net.state_dict().items()}}, buffer)
    return buffer.getvalue()


def load(data: bytes, name: str = "the file") -> models.ModelBundle:
    """The bundle saved in ``data``; ``CheckpointError`` when it is anything else."""
    checkpoint = _unpickle(data, name)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        if isinstance(checkpoint, dict) and checkpoint and all(
                isinstance(v, torch.Tensor) for v in checkpoint.values()):
            raise CheckpointError(f"{name} is a bare state dict: it has weights but no class "
                                  f"names or backbone. Upload a model downloaded from this "
                                  f"page.")
        raise CheckpointError(f"{name} is a PyTorch file, but not a model downloaded from "
                              f"this page. Upload the .pt file its download button saved.")
    backbone, classes = checkpoint.get("backbone"), checkpoint.get("classes")
    if backbone not in BACKBONES:
        raise CheckpointError(f"{name} was fine-tuned from {backbone!r}, which this app does "
                              f"not offer (it offers {', '.join(BACKBONES)}).")
    if (not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, str) for c in classes)):
        raise CheckpointError(f"{name} has no list of at least two class names.")
    architecture = models.load_model(backbone, pretrained=False)  # every weight comes from the file
    net = build(architecture, len(classes))
    try:
        net.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(f"{name}'s weights do not fit {backbone} with {len(classes)} "
                              f"classes ({first[1].strip() if len(first) > 1 else first[0]}).") from None
    return as_bundle(net, architecture, classes, f"uploaded ({name})")


def _unpickle(data: bytes, name: str):
    if not data:
        raise CheckpointError(f"{name} is empty (0 bytes).")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{name} holds Python objects other than weights, which are not "
                              f"opened here for safety ({str(err).splitlines()[0]}).") from None
    except Exception as err:  # torch.load on arbitrary bytes raises many kinds (IndexError too)
        raise CheckpointError(f"{name} is not a PyTorch model file "
                              f"({str(err).splitlines()[0] if str(err) else type(err).__name__}). "
                              f"Upload the .pt file this page's download button saved.") from None
