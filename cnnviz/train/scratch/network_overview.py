"""The trained network seen whole: every layer's output for one digit, its weights layer by
layer, and where a channel comes from.

Works for the NumPy network and for PyTorch networks that are a chain of layers (the twin,
MNISTConvNet): :func:`stages` runs the digit through one layer at a time and keeps each output.
:func:`channel_source` takes one convolution channel apart into the input channels and kernel
slices that make it, and :func:`convolution_query` writes a patch of it as the URL query of
the "Convolution by hand" page, so the student can redo the trained network's arithmetic there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz import ops
from cnnviz.train.scratch.numpy_net import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Network,
    ReLU,
)

_KINDS = {Conv2D: "conv", BatchNorm2D: "batchnorm", ReLU: "relu", MaxPool2D: "pool",
          Flatten: "flatten", Dense: "dense", nn.Conv2d: "conv", nn.BatchNorm2d: "batchnorm",
          nn.ReLU: "relu", nn.MaxPool2d: "pool", nn.Flatten: "flatten", nn.Linear: "dense",
          nn.Dropout: "dropout"}


@dataclass(frozen=True)
class Stage:
    name: str  # the layer's name in its network ("input" for the digit itself)
    kind: str  # input, conv, batchnorm, relu, pool, flatten, dense, dropout
    output: np.ndarray  # (C, H, W) maps, or (features,) after flattening
    layer: object = None  # the layer that made it (None for the input)


def layers_of(model) -> list[tuple[str, object]]:
    """(name, layer) in the order the input meets them."""
    if isinstance(model, Network):
        return list(zip(model.names, model.layers))
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def stages(model, x: np.ndarray) -> list[Stage]:
    """The input (1, C, H, W), already prepared, and every layer's output for it (evaluation
    mode: batch norm's running statistics, no dropout)."""
    out = [Stage("input", "input", np.array(x[0], dtype=np.float64))]
    if isinstance(model, Network):
        for name, layer in layers_of(model):
            x = layer.forward(x, train=False)
            out.append(Stage(name, _KINDS[type(layer)], np.array(x[0], dtype=np.float64), layer))
        return out
    model.eval()
    reference = next(model.parameters())
    t = torch.as_tensor(x).to(reference.device, reference.dtype)
    with torch.no_grad():
        for name, layer in layers_of(model):
            t = layer(t)
            out.append(Stage(name, _KINDS.get(type(layer), type(layer).__name__.lower()),
                             t[0].double().cpu().numpy().copy(), layer))  # copy: ReLU(inplace)
    return out


def layer_weights(model) -> list[tuple[str, np.ndarray]]:
    """(name, weights) of every convolution and dense layer, copied, in the input's order."""
    out = []
    for name, layer in layers_of(model):
        if isinstance(layer, (Conv2D, Dense)):
            out.append((name, layer.params["W"].astype(np.float64)))
        elif isinstance(layer, (nn.Conv2d, nn.Linear)):
            out.append((name, layer.weight.detach().double().cpu().numpy().copy()))
    return out


def conv_weights(layer) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(W (F, C, k, k), b (F,), padding, stride) of a NumPy or PyTorch convolution."""
    if isinstance(layer, Conv2D):
        return layer.params["W"].astype(np.float64), layer.params["b"].astype(np.float64), \
            layer.padding, 1
    w = layer.weight.detach().double().cpu().numpy()
    b = (layer.bias.detach().double().cpu().numpy() if layer.bias is not None
         else np.zeros(len(w)))
    return w, b, int(layer.padding[0]), int(layer.stride[0])


@dataclass(frozen=True)
class ChannelSource:
    """How channel ``channel`` of a convolution is made: Σ_c inputs[c] ⋆ kernels[c] + bias."""

    channel: int
    inputs: np.ndarray  # (C, H, W): the layer's input maps
    kernels: np.ndarray  # (C, k, k): this channel's filter, one slice per input channel
    bias: float
    padding: int
    stride: int
    contributions: np.ndarray  # (C, H', W'): inputs[c] ⋆ kernels[c], one per input channel
    output: np.ndarray  # (H', W'): the contributions summed, plus the bias

    def strongest(self, k: int = 4) -> list[int]:
        """The input channels whose contributions are largest (by mean |value|)."""
        return np.argsort(-np.abs(self.contributions).mean(axis=(1, 2)))[:k].tolist()


def channel_source(all_stages: list[Stage], index: int, channel: int) -> ChannelSource:
    """Take channel ``channel`` of the convolution at ``all_stages[index]`` apart."""
    stage = all_stages[index]
    if stage.kind != "conv":
        raise ValueError(f"{stage.name} is a {stage.kind} layer; only a convolution's channels "
                         "are made from kernels")
    w, b, padding, stride = conv_weights(stage.layer)
    inputs = all_stages[index - 1].output
    contributions = np.stack([
        ops.conv2d(inputs[None, c:c + 1], w[channel:channel + 1, c:c + 1], stride=stride,
                   padding=padding)[0, 0] for c in range(len(inputs))])
    return ChannelSource(channel, inputs, w[channel], float(b[channel]), padding, stride,
                         contributions, contributions.sum(axis=0) + b[channel])


def grid_text(grid: np.ndarray, decimals: int = 3) -> str:
    """(C, H, W) numbers as the convolution page reads them: a row per line, a blank line
    between channels."""
    return "\n\n".join("\n".join(" ".join(f"{v:.{decimals}f}" for v in row) for row in channel)
                       for channel in np.round(grid, decimals))


def convolution_patch(source: ChannelSource, row: int, col: int, outputs: int = 4
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The input patch (zero padding included) under an ``outputs``×``outputs`` block of the
    channel's output whose top-left cell is (row, col), and those output values."""
    k, s, p = source.kernels.shape[-1], source.stride, source.padding
    out_h, out_w = source.output.shape
    row, col = min(max(row, 0), out_h - outputs), min(max(col, 0), out_w - outputs)
    padded = np.pad(source.inputs, ((0, 0), (p, p), (p, p)))
    span = (outputs - 1) * s + k
    patch = padded[:, row * s:row * s + span, col * s:col * s + span]
    return patch, source.output[row:row + outputs, col:col + outputs]


def convolution_query(source: ChannelSource, row: int, col: int, outputs: int = 4,
                      decimals: int = 3) -> dict[str, str]:
    """Query parameters that open "Convolution by hand" on this channel's patch, kernels and
    bias (numbers rounded to ``decimals``; the page then recomputes the same output values)."""
    patch, _ = convolution_patch(source, row, col, outputs)
    return {"mode": "convolution", "source": "random grid", "size": str(patch.shape[-1]),
            "grid": grid_text(patch, decimals), "kernel_preset": "custom (as typed)",
            "kernel": grid_text(source.kernels, decimals),
            "bias": f"{round(source.bias, decimals)}", "stride": str(source.stride),
            "padding": "0", "dilation": "1", "step": "1"}
