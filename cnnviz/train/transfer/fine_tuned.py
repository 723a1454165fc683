"""A fine-tuned network as the rest of the app sees models: a :class:`models.ModelBundle` that
the Grad-CAM and feature-map pages can open, and a file to download and upload again.

The file is ``torch.save`` of ``{"format", "backbone", "classes", "state_dict"}``: a state
dict with its class names, read back with ``weights_only=True`` (no code in a pickle runs).
The state dict holds every weight, so loading builds the backbone's architecture untrained
and needs no download. An upload never sizes that network: the backbone is one of
``BACKBONES``, the classes at most as many as an upload of photos can hold, and every tensor
must have the shape the network has before any value is read (:mod:`cnnviz.weight_files`).
"""

from __future__ import annotations

import io
import time

import torch

from cnnviz import models, weight_files
from cnnviz.train.transfer import augment
from cnnviz.train.transfer.image_folders import MAX_FILES, MIN_PER_CLASS
from cnnviz.train.transfer.network import BACKBONES, TransferNet, build
from cnnviz.train.transfer.report import EvalTransform

FORMAT = "cnnviz-transfer-learning-1"
MAX_CLASSES = MAX_FILES // MIN_PER_CLASS  # the most an upload of photos can hold: 4,000
MAX_NAME = 255  # characters in a class name (a folder name in a zip)
MAX_FILE_BYTES = 160 << 20  # ResNet-50's weights (98 MB) with the largest head, and more


class CheckpointError(weight_files.WeightsFileError):
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
    try:
        checkpoint = weight_files.read_pt(data, MAX_FILE_BYTES, "a fine-tuned model")
    except weight_files.WeightsFileError as err:
        raise CheckpointError(f"{name}: {err}") from None
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
        raise CheckpointError(f"{name} was fine-tuned from {str(backbone)[:40]!r}, which this "
                              f"app does not offer (it offers {', '.join(BACKBONES)}).")
    if (not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES
            or not all(isinstance(c, str) and 0 < len(c) <= MAX_NAME for c in classes)):
        raise CheckpointError(f"{name} has no list of 2 to {MAX_CLASSES:,} class names (each "
                              f"1 to {MAX_NAME} characters).")
    architecture = models.load_model(backbone, pretrained=False)  # every weight comes from the file
    net = build(architecture, len(classes))
    state = checkpoint.get("state_dict")
    try:
        weight_files.check_tensors(state, net.state_dict(),
                                   f"{backbone} with {len(classes)} classes")
        weight_files.check_finite(state, "the network")  # shapes checked: sizes are the net's
    except weight_files.WeightsFileError as err:
        raise CheckpointError(f"{name}: {err}") from None
    net.load_state_dict(state)
    return as_bundle(net, architecture, classes, f"uploaded ({name})")
