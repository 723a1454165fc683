"""Convolution and pooling by hand: a vectorised NumPy engine (forward and backward, checked
against torch), step traces that replay an op one output cell at a time with its sum written
out, the chapter's loop version, and the inputs and kernels the convolution page starts from."""

from cnnviz.ops.engine import (
    PADDING_MODES,
    Geometry,
    avg_pool2d,
    avg_pool2d_backward,
    conv2d,
    conv2d_backward,
    geometry,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    pad,
    pool_geometry,
    windows,
)

__all__ = [
    "PADDING_MODES", "Geometry", "avg_pool2d", "avg_pool2d_backward", "conv2d",
    "conv2d_backward", "geometry", "global_avg_pool2d", "global_avg_pool2d_backward",
    "max_pool2d", "max_pool2d_backward", "pad", "pool_geometry", "windows",
]
