"""Property tests: the NumPy engine against PyTorch (forward) and autograd (backward) on random
shapes, strides, paddings (every mode), dilations and groups, in float64, to 1e-9."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz import ops

CASES = settings(max_examples=200, deadline=None)
TOL = 1e-9
# torch's own "same" with an even kernel pads a copy of the input and says so; that is the point.
SAME_COPY = pytest.mark.filterwarnings("ignore:Using padding='same'")


def same_pads(n: int, span: int, s: int) -> tuple[int, int]:
    """TensorFlow's "same" padding for one axis, written out from its definition (output
    ⌈n / s⌉, the odd pixel after), to pad the input for torch, which has no strided "same"."""
    total = max((-(-n // s) - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def torch_padded(x: torch.Tensor, padding, spans, strides, fill=0.0):
    """x padded explicitly as ``padding`` says, so torch's op can run with padding 0."""
    if padding == "valid":
        return x
    if padding == "full":
        pads = [(s - 1, s - 1) for s in spans]
    elif padding == "same":
        pads = [same_pads(x.shape[2 + a], spans[a], strides[a]) for a in range(2)]
    else:
        pads = [(padding[0],) * 2, (padding[1],) * 2]
    return F.pad(x, (*pads[1], *pads[0]), value=fill)


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(st.sampled_from(["valid", "same", "full"]),
                             st.tuples(st.integers(0, 3), st.integers(0, 3))))
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    # Big enough for one window even with "valid" padding, plus up to 6 more pixels.
    pad = (0, 0) if isinstance(padding, str) else padding
    size = [max(1, spans[a] - 2 * pad[a]) + draw(st.integers(0, 6)) for a in range(2)]
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c_in, *size))
    w = rng.normal(size=(c_out, c_in // groups, *kernel))
    b = rng.normal(size=c_out) if draw(st.booleans()) else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups), spans


def torch_conv(x, w, b, kw, spans):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    if kw["padding"] == "same" and kw["stride"] == (1, 1):
        # torch's own "same" (stride 1 only): an independent check of our padding rule.
        y = F.conv2d(xt, wt, bt, padding="same", dilation=kw["dilation"], groups=kw["groups"])
    else:
        y = F.conv2d(torch_padded(xt, kw["padding"], spans, kw["stride"]), wt, bt,
                     stride=kw["stride"], dilation=kw["dilation"], groups=kw["groups"])
    return xt, wt, bt, y


@SAME_COPY
@CASES
@given(conv_cases())
def test_conv2d_matches_torch(case):
    x, w, b, kw, spans = case
    y = torch_conv(x, w, b, kw, spans)[-1]
    ours = ops.conv2d(x, w, b, **kw)
    assert ours.shape == y.shape
    np.testing.assert_allclose(ours, y.detach().numpy(), rtol=0, atol=TOL)


@SAME_COPY
@CASES
@given(conv_cases())
def test_conv2d_backward_matches_autograd(case):
    x, w, b, kw, spans = case
    xt, wt, bt, y = torch_conv(x, w, b, kw, spans)
    dy = np.random.default_rng(y.numel()).normal(size=tuple(y.shape))
    y.backward(torch.tensor(dy))
    dx, dw, db = ops.conv2d_backward(dy, x, w, **kw)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=0, atol=TOL)
    if bt is not None:
        np.testing.assert_allclose(db, bt.grad.numpy(), rtol=0, atol=TOL)


@st.composite
def pool_cases(draw):
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, size[0] // 2)), draw(st.integers(0, size[1] // 2)))
    hw = [max(1, size[a] - 2 * padding[a]) + draw(st.integers(0, 6)) for a in range(2)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw)
    # Small integers make ties in a max window common, where the gradient's route matters.
    x = rng.integers(-3, 4, shape).astype(float) if draw(st.booleans()) else rng.normal(size=shape)
    return x, size, stride, padding


def check_pool(ours_forward, ours_backward, theirs, case, **options):
    x, size, stride, padding = case
    xt = torch.tensor(x, requires_grad=True)
    y = theirs(xt, size, stride, padding, **options)
    ours = ours_forward(x, size, stride, padding, **options)
    np.testing.assert_allclose(ours, y.detach().numpy(), rtol=0, atol=TOL)
    dy = np.random.default_rng(y.numel()).normal(size=tuple(y.shape))
    y.backward(torch.tensor(dy))
    np.testing.assert_allclose(ours_backward(dy, x, size, stride, padding, **options),
                               xt.grad.numpy(), rtol=0, atol=TOL)


@CASES
@given(pool_cases())
def test_max_pool2d_and_backward_match_torch(case):
    check_pool(ops.max_pool2d, ops.max_pool2d_backward, F.max_pool2d, case)


@CASES
@given(pool_cases(), st.booleans())
def test_avg_pool2d_and_backward_match_torch(case, count_include_pad):
    check_pool(ops.avg_pool2d, ops.avg_pool2d_backward, F.avg_pool2d, case,
               count_include_pad=count_include_pad)
