"""Where models run: CUDA when PyTorch sees a GPU, else the CPU; ``CNNVIZ_DEVICE`` decides
when set, for every page alike."""

import os

import torch

from cnnviz.models.registry import ModelError


def select_device() -> torch.device:
    """CUDA when available, else the CPU; ``CNNVIZ_DEVICE`` (e.g. ``cpu``, ``cuda:1``) decides
    when set."""
    wanted = os.environ.get("CNNVIZ_DEVICE", "").strip()
    if not wanted:
        return _indexed(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        device = torch.device(wanted)
    except RuntimeError as err:
        raise ModelError(f"CNNVIZ_DEVICE={wanted!r} is not a device name such as 'cpu' or "
                         f"'cuda'.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"CNNVIZ_DEVICE={wanted!r} asks for CUDA, but this PyTorch sees no "
                         f"CUDA GPU. Unset it or set CNNVIZ_DEVICE=cpu.")
    return _indexed(device)


def _indexed(device: torch.device) -> torch.device:
    """``cuda`` as the GPU it means (``cuda:0``), so that a bundle's device equals its
    parameters' device and names the same GPU in every cache key."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def device_choices() -> dict[str, str]:
    """Label -> torch device name of the devices a user may time models on: always the CPU,
    and the GPU when the app's models would run there (so ``CNNVIZ_DEVICE=cpu`` hides it, and
    a misspelt ``CNNVIZ_DEVICE``, which the home page reports, leaves the CPU)."""
    choices = {"CPU": "cpu"}
    try:
        device = select_device()
    except ModelError:
        return choices
    if device.type == "cuda":
        choices["GPU"] = str(device)
    return choices


def device_description(device: torch.device | None = None) -> str:
    """'CPU' or the GPU's name, for the home page."""
    device = device or select_device()
    if device.type == "cuda":
        return f"CUDA GPU: {torch.cuda.get_device_name(device)}"
    return "CPU"
