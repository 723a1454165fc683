"""The CIFAR-10 networks of He, Zhang, Ren and Sun, "Deep Residual Learning for Image
Recognition" (2015), section 4.2: plain and residual, 6n+2 weighted layers.

A 3×3 convolution, then three stages of n blocks on 32×32, 16×16 and 8×8 maps with 16, 32 and 64
channels (times ``width / 16``), each block two 3×3 convolutions; global average pooling and a
10-way fully connected layer. The first block of stages 2 and 3 halves the map with stride 2.
A residual block adds its input to its two convolutions' output before the last activation,
through an identity shortcut: option A pads the new channels with zeros (no parameters, what the
paper uses on CIFAR), option B projects with a 1×1 convolution where the shape changes. A plain
block is the same block without the addition: same layers, same parameters (under option A).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

STAGE_WIDTHS = (1, 2, 4)  # channels of the three stages, in units of the first stage's width
DEPTHS = (8, 20, 32, 44, 56, 110)  # 6n+2 for n = 1, 3, 5, 7, 9, 18
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
SHORTCUTS = ("A", "B")
# Table 6 of the paper: parameters of its CIFAR-10 ResNets (option A, width 16), as printed.
PAPER_PARAMETERS = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M"}


def blocks_per_stage(depth: int) -> int:
    """n in depth = 6n + 2; a ValueError for a depth the family does not have."""
    n, rest = divmod(depth - 2, 6)
    if rest or n < 1:
        raise ValueError(f"depth must be 6n+2 with n ≥ 1 (8, 20, 32, 44, 56, 110, …), not {depth}")
    return n


class ZeroPadShortcut(nn.Module):
    """Option A: the identity where the shape changes, with no parameters. Stride-2 sampling
    halves the map and the channels the input lacks are zeros."""

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra_channels, self.stride = extra_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra_channels))


def _conv3x3(c_in: int, c_out: int, stride: int, batch_norm: bool) -> nn.Conv2d:
    # batch norm's shift makes a bias redundant; without batch norm the convolution keeps one
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class Block(nn.Module):
    """conv3×3 → BN → act → conv3×3 → BN, (+ shortcut), → act.

    ``branch`` is what a residual block calls F(x); ``shortcut`` is None in a plain block. With
    the branch's output zero a residual block passes its input through unchanged wherever the
    last activation does (ReLU on the non-negative maps a previous ReLU made)."""

    def __init__(self, c_in: int, c_out: int, stride: int, residual: bool, batch_norm: bool,
                 activation: str, shortcut: str):
        super().__init__()
        self.branch = nn.Sequential(
            _conv3x3(c_in, c_out, stride, batch_norm), _norm(c_out, batch_norm),
            ACTIVATIONS[activation](),
            _conv3x3(c_out, c_out, 1, batch_norm), _norm(c_out, batch_norm))
        self.shortcut = None
        if residual:
            if stride == 1 and c_in == c_out:
                self.shortcut = nn.Identity()
            elif shortcut == "A":
                self.shortcut = ZeroPadShortcut(c_out - c_in, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride=stride, bias=not batch_norm),
                    _norm(c_out, batch_norm))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)


class CifarNet(nn.Module):
    """``stem`` (conv3×3 → BN → act), ``blocks`` (3n of them) and ``head`` (pool → linear)."""

    def __init__(self, depth: int, residual: bool, width: int, batch_norm: bool,
                 activation: str, shortcut: str, in_channels: int, num_classes: int,
                 seed: int | None = None, zero_init: bool = False):
        super().__init__()
        n = blocks_per_stage(depth)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"not {activation!r}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be 'A' (zero padding) or 'B' (projection), "
                             f"not {shortcut!r}")
        if width < 1:
            raise ValueError(f"width must be a positive number of channels, not {width}")
        if zero_init and not residual:
            raise ValueError("zero_init is for residual networks: a plain network whose blocks "
                             "all start at zero passes nothing to its classifier")
        self.depth, self.residual, self.activation = depth, residual, activation
        self.stem = nn.Sequential(_conv3x3(in_channels, width, 1, batch_norm),
                                  _norm(width, batch_norm), ACTIVATIONS[activation]())
        blocks, c_in = [], width
        for stage, factor in enumerate(STAGE_WIDTHS):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(c_in, width * factor, stride, residual, batch_norm,
                                    activation, shortcut))
                c_in = width * factor
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c_in, num_classes))
        self._initialise(None if seed is None else torch.Generator().manual_seed(seed))
        if zero_init:
            self._zero_branch_ends()

    def _zero_branch_ends(self) -> None:
        """Start every residual branch at F(x) = 0, so that each block begins as the identity
        (its last activation aside) and the sum of n blocks keeps the scale of its input: the
        last batch norm's scale γ = 0 with batch norm (Goyal et al., 2017), the last
        convolution's weights = 0 without it (Zhang, Dauphin and Ma, 2019, "Fixup")."""
        for block in self.blocks:
            last = block.branch[-1] if isinstance(block.branch[-1], nn.BatchNorm2d) else next(
                m for m in reversed(block.branch) if isinstance(m, nn.Conv2d))
            nn.init.zeros_(last.weight)

    def _initialise(self, generator: torch.Generator | None) -> None:
        """He et al. initialise as in their "Delving deep into rectifiers" (2015): a normal
        distribution with variance 2 / fan, which keeps a ReLU network's signal at one scale.
        That reasoning is for ReLU; a sigmoid network gets Glorot & Bengio's (2010) variance
        instead, the initialisation designed for it. The classifier keeps PyTorch's default,
        redrawn here so that every random number comes from ``generator``."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if self.activation == "relu":
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                            generator=generator)
                else:
                    nn.init.xavier_normal_(module.weight, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(module.in_features)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def cifar_net(depth: int, residual: bool = True, *, width: int = 16, batch_norm: bool = True,
              activation: str = "relu", shortcut: str = "A", in_channels: int = 3,
              num_classes: int = 10, seed: int | None = None,
              zero_init: bool = False) -> CifarNet:
    """The plain (``residual=False``) or residual network of depth 6n+2 from He et al. (2015)
    §4.2. ``width`` is the first stage's channels (16 in the paper; the others are 2× and 4×).
    MNIST fits with ``in_channels=1`` and its digits padded to 32×32; any size works, since
    the head averages whatever map the last stage leaves. ``seed`` draws the initial weights
    from a generator of their own, so the same seed gives the same network in any thread
    (None: from torch's global generator). ``zero_init`` (residual networks only) starts every
    branch at zero, which lets a residual network without batch norm train: otherwise each of
    its sums adds the branch's variance to the shortcut's and the output grows with depth."""
    return CifarNet(depth, residual, width, batch_norm, activation, shortcut, in_channels,
                    num_classes, seed, zero_init)


def parameter_count(depth: int, residual: bool = True, *, width: int = 16,
                    batch_norm: bool = True, shortcut: str = "A", in_channels: int = 3,
                    num_classes: int = 10) -> dict[str, int]:
    """The parameters, worked out by hand the way the paper's 0.27M is: 3×3 convolutions
    (9 · c_in · c_out weights, plus c_out biases without batch norm), 2 per channel for each
    batch norm, the fully connected layer, and the 1×1 projections of option B. Returns the
    parts and their ``total``."""
    n = blocks_per_stage(depth)
    bias = 0 if batch_norm else 1

    def conv(c_in: int, c_out: int, k: int) -> int:
        return k * k * c_in * c_out + bias * c_out

    def bn(c: int) -> int:
        return 2 * c if batch_norm else 0

    parts = {"conv3x3": conv(in_channels, width, 3), "batch_norm": bn(width), "projection": 0}
    c_in = width
    for factor in STAGE_WIDTHS:
        c_out = width * factor
        for i in range(n):
            parts["conv3x3"] += conv(c_in, c_out, 3) + conv(c_out, c_out, 3)
            parts["batch_norm"] += 2 * bn(c_out)
            if residual and shortcut == "B" and c_in != c_out:
                parts["projection"] += conv(c_in, c_out, 1) + bn(c_out)
            c_in = c_out
    parts["fully_connected"] = c_in * num_classes + num_classes
    parts["total"] = sum(parts.values())
    return parts


def paper_rounding(count: int, printed: str) -> str:
    """``count`` in millions, rounded to as many decimals as the paper's ``printed`` figure
    ("0.27M", "1.7M") has, so that the two can be compared as the paper wrote them."""
    decimals = len(printed.rstrip("M").partition(".")[2])
    return f"{count / 1e6:.{decimals}f}M"


def layer_count(net: CifarNet) -> int:
    """Weighted layers on the longest path, as the paper counts depth: convolutions and the
    fully connected layer (option B's 1×1 projections run beside, not along, the path)."""
    convs = sum(1 for b in net.blocks for m in b.branch if isinstance(m, nn.Conv2d))
    return 1 + convs + 1


__all__ = ["cifar_net", "CifarNet", "Block", "ZeroPadShortcut", "blocks_per_stage",
           "parameter_count", "paper_rounding", "layer_count", "DEPTHS", "PAPER_PARAMETERS"]
