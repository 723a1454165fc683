"""Convolution arithmetic, the chapter's by-hand topic: output sizes, parameters and
operations, receptive fields, stacks of layers traced layer by layer, the chapter's networks as
presets, a stack written as PyTorch code, and exam questions with fresh numbers."""

from cnnviz.arithmetic.formulas import (
    PADDING_MODES,
    SizeWork,
    bottleneck_params,
    conv_macs,
    conv_params,
    depthwise_separable_params,
    flops,
    linear_macs,
    linear_params,
    output_size,
    padding_amounts,
    parse_padding,
    plain_block_params,
    receptive_field,
    receptive_step,
    size_work,
    span,
    transposed_output_size,
    transposed_padding,
    uncovered,
    uncovered_padding,
    window_taps,
)

__all__ = [
    "PADDING_MODES", "SizeWork", "bottleneck_params", "conv_macs", "conv_params",
    "depthwise_separable_params", "flops", "linear_macs", "linear_params", "output_size",
    "padding_amounts", "parse_padding", "plain_block_params", "receptive_field",
    "receptive_step", "size_work", "span", "transposed_output_size", "transposed_padding",
    "uncovered", "uncovered_padding", "window_taps",
]
