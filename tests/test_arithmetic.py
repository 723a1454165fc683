"""cnnviz.arithmetic against PyTorch on random configurations, and the chapter's exam
questions worked out by hand."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnviz import arithmetic, ops
from cnnviz.arithmetic import sliding
from cnnviz.figures.stride_diagram import stride_animation

RANDOM = settings(max_examples=500, derandomize=True, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread start-up costs more than the work (25 ms against 0.7 ms a
    convolution on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
META = torch.device("meta")  # modules without initialising their weights: counting is all we do
PADDING = st.one_of(st.integers(0, 6), st.sampled_from(arithmetic.PADDING_MODES))


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def zeros(c: int, n: int) -> torch.Tensor:
    return torch.zeros(1, c, n, n)


@st.composite
def convolutions(draw):
    groups = draw(st.integers(1, 3))
    return dict(n=draw(st.integers(1, 20)), f=draw(st.integers(1, 7)), p=draw(PADDING),
                s=draw(st.integers(1, 5)), d=draw(st.integers(1, 3)), groups=groups,
                c_in=groups * draw(st.integers(1, 3)), c_out=groups * draw(st.integers(1, 3)),
                bias=draw(st.booleans()))


def torch_conv_output(c: dict) -> int:
    """The output size PyTorch produces; modes are spelled out as explicit padding: valid is
    none, full is span − 1 per side, same is TensorFlow's split (checked on its own below)."""
    x, p = zeros(c["c_in"], c["n"]), c["p"]
    if p == "same":
        before, after = arithmetic.padding_amounts(c["n"], c["f"], p, c["s"], c["d"])
        x, p = F.pad(x, (before, after, before, after)), 0
    elif p in ("valid", "full"):
        p = 0 if p == "valid" else c["d"] * (c["f"] - 1)
    w = torch.zeros(c["c_out"], c["c_in"] // c["groups"], c["f"], c["f"])
    return F.conv2d(x, w, stride=c["s"], padding=p, dilation=c["d"], groups=c["groups"]).shape[-1]


@RANDOM
@given(convolutions())
def test_output_size_matches_torch(c):
    try:
        expected = torch_conv_output(c)
    except RuntimeError:  # the kernel does not fit: we must refuse too, with the numbers
        with pytest.raises(ValueError, match="does not fit"):
            arithmetic.output_size(c["n"], c["f"], c["p"], c["s"], c["d"])
        return
    assert arithmetic.output_size(c["n"], c["f"], c["p"], c["s"], c["d"]) == expected


@RANDOM
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 5), st.integers(1, 3))
def test_same_padding_follows_tensorflow(n, f, s, d):
    """TensorFlow's rule (tf.nn.convolution docs): out = ⌈n / s⌉, total padding
    max((out − 1)·s + (f − 1)·d + 1 − n, 0), the smaller half at the top / left."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + (f - 1) * d + 1 - n, 0)
    assert arithmetic.output_size(n, f, "same", s, d) == out
    assert arithmetic.padding_amounts(n, f, "same", s, d) == (total // 2, total - total // 2)
    # cnnviz.ops pads the same way, so the two pages never disagree about a picture
    g = ops.geometry((n, n), (f, f), s, "same", d)
    assert g.pad[0] == arithmetic.padding_amounts(n, f, "same", s, d) and g.out[0] == out


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 3))
def test_same_padding_places_windows_like_torch_at_stride_1(n, f, d):
    """PyTorch's padding="same" (stride 1 only) also puts the odd pixel at the bottom/right:
    the same windows give the same values."""
    torch.manual_seed(0)
    x, w = torch.randn(1, 1, n, n), torch.randn(1, 1, f, f)
    before, after = arithmetic.padding_amounts(n, f, "same", 1, d)
    ours = F.conv2d(F.pad(x, (before, after, before, after)), w, dilation=d)
    assert torch.allclose(ours, F.conv2d(x, w, padding="same", dilation=d), atol=1e-5)


@RANDOM
@given(st.integers(1, 20), st.integers(1, 5), st.integers(0, 3), st.integers(1, 5),
       st.integers(1, 3), st.booleans())
def test_pooling_output_matches_torch(n, f, p, s, d, average):
    pool = nn.AvgPool2d(f, s, p) if average else nn.MaxPool2d(f, s, p, dilation=d)
    d = 1 if average else d
    try:
        expected = pool(zeros(1, n)).shape[-1]
    except RuntimeError:
        if 2 * p > f:  # PyTorch's own pooling rule, not a size question
            return
        with pytest.raises(ValueError):
            arithmetic.output_size(n, f, p, s, d)
        return
    assert arithmetic.output_size(n, f, p, s, d) == expected


@RANDOM
@given(convolutions())
def test_conv_params_match_torch(c):
    with META:
        conv = nn.Conv2d(c["c_in"], c["c_out"], c["f"], groups=c["groups"], bias=c["bias"])
    expected = count(conv)
    assert arithmetic.conv_params(c["c_in"], c["c_out"], c["f"], c["bias"], c["groups"]) == expected


def test_conv_params_refuses_groups_that_do_not_divide():
    with pytest.raises(ValueError):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="groups 4 must divide"):
        arithmetic.conv_params(4, 6, 3, groups=4)


@RANDOM
@given(st.integers(1, 8), st.integers(1, 5), st.integers(0, 5), st.integers(1, 4),
       st.integers(1, 3), st.integers(0, 3), st.integers(1, 2), st.integers(1, 3),
       st.booleans())
def test_transposed_convolution_matches_torch(n, f, p, s, d, output_padding, groups, k, bias):
    c_in, c_out = groups * k, groups * 2
    try:
        conv = nn.ConvTranspose2d(c_in, c_out, f, s, p, output_padding, groups, bias, d)
        expected = conv(zeros(c_in, n)).shape[-1]
        if expected < 1:  # PyTorch returns an empty tensor
            raise RuntimeError
    except RuntimeError:  # output padding too large, or nothing left after cropping
        with pytest.raises(ValueError):
            arithmetic.transposed_output_size(n, f, p, s, d, output_padding)
        return
    assert arithmetic.transposed_output_size(n, f, p, s, d, output_padding) == expected
    # a transposed convolution has as many weights as the convolution it transposes
    assert arithmetic.conv_params(c_in, c_out, f, bias, groups) == count(conv)


@RANDOM
@given(st.integers(1, 8), st.integers(1, 6), st.integers(1, 4), st.integers(1, 3),
       st.sampled_from(arithmetic.PADDING_MODES))
def test_transposed_padding_modes_in_torch(n, f, s, d, mode):
    try:
        p, extra = arithmetic.transposed_padding(f, mode, s, d)
    except ValueError:  # "same" with an even kernel at stride 1: no symmetric padding exists
        assert mode == "same" and s == 1 and d == 1 and f % 2 == 0
        return
    try:
        out = nn.ConvTranspose2d(1, 1, f, s, p, extra, dilation=d)(zeros(1, n)).shape[-1]
    except RuntimeError:  # "output size is too small" (sometimes an empty tensor instead)
        out = 0
    if out < 1:  # full padding can crop a small input to nothing
        with pytest.raises(ValueError, match="crops the whole output"):
            arithmetic.transposed_output_size(n, f, p, s, d, extra)
        return
    assert arithmetic.transposed_output_size(n, f, p, s, d, extra) == out
    # the convolution with the same mode takes the transposed output back to n
    assert arithmetic.output_size(out, f, mode, s, d) == n
    if mode == "same":
        assert out == n * s


def test_macs_and_flops_match_torch_flop_counter():
    """500 random convolutions and linear layers in one counting session (entering
    FlopCounterMode costs 75 ms, so a seeded loop replaces hypothesis here)."""
    rng = np.random.default_rng(0)
    with FlopCounterMode(display=False) as counter:
        for _ in range(500):
            groups = int(rng.integers(1, 4))
            c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
            f, s, d = (int(v) for v in rng.integers(1, [6, 4, 3]))
            n = d * (f - 1) + int(rng.integers(1, 12))
            before = counter.get_total_flops()
            h = F.conv2d(zeros(c_in, n), torch.zeros(c_out, c_in // groups, f, f), stride=s,
                         dilation=d, groups=groups).shape[-1]
            macs = arithmetic.conv_macs(c_in, c_out, f, h, h, groups)
            assert arithmetic.flops(macs) == counter.get_total_flops() - before
            n_in, n_out = (int(v) for v in rng.integers(1, 300, size=2))
            before = counter.get_total_flops()
            F.linear(torch.zeros(1, n_in), torch.zeros(n_out, n_in))
            assert arithmetic.flops(arithmetic.linear_macs(n_in, n_out)) == (
                counter.get_total_flops() - before)


@RANDOM
@given(st.integers(1, 300), st.integers(1, 300), st.booleans())
def test_linear_params_match_torch(n_in, n_out, bias):
    with META:
        layer = nn.Linear(n_in, n_out, bias)
    assert arithmetic.linear_params(n_in, n_out, bias) == count(layer)


def _support(grad: torch.Tensor, axis: int) -> list[int]:
    """Input positions along ``axis`` whose gradient is non-zero."""
    return torch.nonzero(grad.abs().sum(dim=1 - axis) > 0).flatten().tolist()


@RANDOM
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 2), st.integers(1, 2)),
                min_size=1, max_size=4))
def test_receptive_field_matches_autograd(layers):
    """With all-ones kernels, output (0, 0) of the last layer has a non-zero gradient on
    exactly the input pixels it sees: a square of side r, and the jump between neighbouring
    outputs is the distance between their squares."""
    size = 1 + sum(d * (f - 1) * 2 ** k for k, (f, _, d) in enumerate(layers)) + 2 ** len(layers)
    x = torch.ones(1, 1, size, size, requires_grad=True)
    y = x
    for f, s, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, f, f), stride=s, dilation=d)
    r, jump = arithmetic.receptive_field(layers)[-1]
    first = torch.autograd.grad(y[0, 0, 0, 0], x, retain_graph=True)[0][0, 0]
    rows = _support(first, 0)
    assert rows[0] == 0 and rows[-1] == r - 1
    if y.shape[-1] > 1:
        second = torch.autograd.grad(y[0, 0, 0, 1], x)[0][0, 0]
        assert _support(second, 1)[0] == jump


@RANDOM
@given(st.integers(1, 16), st.integers(1, 5), PADDING, st.integers(1, 5), st.integers(1, 3))
def test_uncovered_pixels_get_no_gradient(n, f, p, s, d):
    """The padded input as a leaf: the input pixels and the padded ones whose gradient is zero
    are those no tap touches."""
    try:
        missed = arithmetic.uncovered(n, f, p, s, d)
        missed_padding = arithmetic.uncovered_padding(n, f, p, s, d)
    except ValueError:
        return
    before, after = arithmetic.padding_amounts(n, f, p, s, d)  # checked against TF above
    padded = torch.ones(1, 1, before + n + after, 1, requires_grad=True)
    y = F.conv2d(padded, torch.ones(1, 1, f, 1), stride=(s, 1), dilation=(d, 1))
    zero = torch.autograd.grad(y.sum(), padded)[0][0, 0, :, 0] == 0
    assert [i for i in range(n) if zero[before + i]] == missed
    assert int(zero[:before].sum() + zero[before + n:].sum()) == missed_padding


@RANDOM
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from((1, 3, 5, 7)), st.booleans())
def test_depthwise_separable_params_match_torch(c_in, c_out, f, bias):
    with META:
        block = nn.Sequential(nn.Conv2d(c_in, c_in, f, groups=c_in, bias=bias),
                              nn.Conv2d(c_in, c_out, 1, bias=bias))
    assert arithmetic.depthwise_separable_params(c_in, c_out, f, bias) == count(block)


@RANDOM
@given(st.integers(1, 96), st.integers(1, 32), st.sampled_from((1, 3, 5)), st.booleans())
def test_bottleneck_and_plain_block_params_match_torch(c, mid, f, bias):
    with META:
        bottleneck = nn.Sequential(nn.Conv2d(c, mid, 1, bias=bias),
                                   nn.Conv2d(mid, mid, f, bias=bias),
                                   nn.Conv2d(mid, c, 1, bias=bias))
        plain = nn.Sequential(nn.Conv2d(c, c, f, bias=bias), nn.Conv2d(c, c, f, bias=bias))
    assert arithmetic.bottleneck_params(c, mid, f, bias) == count(bottleneck)
    assert arithmetic.plain_block_params(c, f, 2, bias) == count(plain)


def test_torchvision_bottleneck_convolutions():
    """ResNet-50's first bottleneck (torchvision) has the weights bottleneck_params counts,
    plus a scale and a shift per channel in its three batch norms."""
    from torchvision.models.resnet import Bottleneck

    with META:
        block = Bottleneck(256, 64)
    convs = sum(count(m) for m in block.modules() if isinstance(m, nn.Conv2d))
    assert arithmetic.bottleneck_params(256, 64, bias=False) == convs


@pytest.mark.parametrize("call, message", [
    (lambda: arithmetic.output_size(3, 5), "kernel of 5 does not fit in the padded input of "
                                           "3 + 0 + 0 = 3"),
    (lambda: arithmetic.output_size(5, 3, d=3), "spanning 7 pixels with dilation 3"),
    (lambda: arithmetic.output_size(5, 3, s=0), "stride must be at least 1, got 0"),
    (lambda: arithmetic.output_size(5, 3, p=-1), "padding must be at least 0, got -1"),
    (lambda: arithmetic.output_size(5, 3, p="half"), "one of valid, same, full"),
    (lambda: arithmetic.output_size(5.0, 3), "input size must be an integer"),
    (lambda: arithmetic.transposed_output_size(3, 3, output_padding=1),
     "output padding 1 must be smaller than the stride 1 or the dilation 1"),
    (lambda: arithmetic.transposed_output_size(1, 1, p=1), "crops the whole output"),
    (lambda: arithmetic.transposed_padding(4, "same"), "no padding gives 'same'"),
])
def test_impossible_settings_say_why(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_worked_formula_shows_each_step():
    work = arithmetic.size_work(64, 5, 1, 2)
    assert (work.numerator, work.remainder, work.out) == (61, 1, 31)
    assert "64 - 5 + 2 \\times 1" in work.latex() and "\\frac{61}{2}" in work.latex()
    assert work.latex().endswith("30 + 1 = 31")
    asymmetric = arithmetic.size_work(6, 2, "same", 1)
    assert (asymmetric.before, asymmetric.after) == (0, 1) and "(0 + 1)" in asymmetric.latex()
    dilated = arithmetic.size_work(9, 3, 0, 1, 2).latex()
    assert "2 \\times (3 - 1) + 1 = 5" in dilated and dilated.endswith("= 5")


# ---------------------------------------------------------------- the chapter's exam questions


def test_gate_output_dimension_question():
    """64×64×3 input, 32 filters of 5×5, stride 2, padding 1: ⌊(64 − 5 + 2)/2⌋ + 1 =
    ⌊61/2⌋ + 1 = 30 + 1 = 31, so 31×31×32 (option b)."""
    assert arithmetic.output_size(64, 5, p=1, s=2) == 31


def test_gate_parameter_question():
    """28×28×16 input, 32 filters of 3×3: (3·3·16 + 1)·32 = 145·32 = 4,640; the 28×28 does
    not matter."""
    assert arithmetic.conv_params(16, 32, 3) == 145 * 32 == 4_640


def test_multichannel_example():
    """32×32×3 input, 16 filters of 5×5×3, stride 1, no padding: 28×28×16 and
    (5·5·3 + 1)·16 = 76·16 = 1,216 parameters."""
    assert arithmetic.output_size(32, 5) == 28
    assert arithmetic.conv_params(3, 16, 5) == 76 * 16 == 1_216


def test_first_layer_against_fully_connected():
    """64 filters of 3×3×3: 28 each, 1,792 in all; a fully connected layer from the
    flattened 224×224×3 image to 64 units: 150,528·64 + 64 = 9,633,856."""
    assert arithmetic.conv_params(3, 64, 3) == 28 * 64 == 1_792
    assert arithmetic.linear_params(224 * 224 * 3, 64) == 150_528 * 64 + 64 == 9_633_856


def test_exercise_b1():
    """64×64×3, 128 filters 3×3, stride 1, padding 1: 64×64×128, (27 + 1)·128 = 3,584."""
    assert arithmetic.output_size(64, 3, 1, 1) == 64
    assert arithmetic.conv_params(3, 128, 3) == 28 * 128 == 3_584


def test_exercise_b2():
    """32×32×64, 256 filters 3×3, stride 2, padding 1: ⌊31/2⌋ + 1 = 16, (576 + 1)·256 =
    147,712."""
    assert arithmetic.output_size(32, 3, 1, 2) == 16
    assert arithmetic.conv_params(64, 256, 3) == 577 * 256 == 147_712


def test_exercise_b3_resnet_stem():
    """224 → 7×7 conv stride 2 pad 3: ⌊223/2⌋ + 1 = 112 → 3×3 max pool stride 2 pad 1:
    ⌊111/2⌋ + 1 = 56."""
    after_conv = arithmetic.output_size(224, 7, 3, 2)
    assert after_conv == 112
    assert arithmetic.output_size(after_conv, 3, 1, 2) == 56


def test_exercise_b4_vgg_first_fully_connected_layer():
    """7·7·512·4096 + 4096 = 102,764,544 parameters, 74.3 % of VGG-16's 138,357,544."""
    fc = arithmetic.linear_params(7 * 7 * 512, 4096)
    assert fc == 25_088 * 4_096 + 4_096 == 102_764_544
    assert round(100 * fc / 138_357_544, 1) == 74.3


def test_exercise_b5_depthwise_separable():
    """256 → 256, 3×3, weights only: 589,824 against 2,304 + 65,536 = 67,840, 8.7× fewer."""
    standard = arithmetic.conv_params(256, 256, 3, bias=False)
    separable = arithmetic.depthwise_separable_params(256, 256, 3, bias=False)
    assert standard == 9 * 256 * 256 == 589_824
    assert separable == 2_304 + 65_536 == 67_840
    assert round(standard / separable, 1) == 8.7


def test_exercise_b6_receptive_field():
    """Three 3×3 stride 1: 3, 5, 7. With stride 2 in the second layer: 3, 3 + 2·1 = 5,
    then 5 + 2·2 = 9."""
    assert [r for r, _ in arithmetic.receptive_field([(3, 1)] * 3)] == [3, 5, 7]
    assert arithmetic.receptive_field([(3, 1), (3, 2), (3, 1)]) == [(3, 1), (5, 2), (9, 2)]


def test_exercise_b7_bottleneck_against_plain():
    """256·64 + 9·64·64 + 64·256 = 69,632 against 2·9·256·256 = 1,179,648: 16.9× fewer."""
    bottleneck = arithmetic.bottleneck_params(256, 64, bias=False)
    plain = arithmetic.plain_block_params(256, bias=False)
    assert bottleneck == 16_384 + 36_864 + 16_384 == 69_632
    assert plain == 1_179_648
    assert round(plain / bottleneck, 1) == 16.9


def test_one_by_one_convolutions():
    """(512 + 1)·64 = 32,832 against (9·512 + 1)·64 = 294,976; (256 + 1)·64 = 16,448
    against (9·256 + 1)·256 = 590,080."""
    assert arithmetic.conv_params(512, 64, 1) == 32_832
    assert arithmetic.conv_params(512, 64, 3) == 294_976
    assert arithmetic.conv_params(256, 64, 1) == 16_448
    assert arithmetic.conv_params(256, 256, 3) == 590_080


def test_mobilenet_depthwise_example():
    """64 → 128, 3×3: 73,728 against 576 + 8,192 = 8,768, an 8.4× reduction."""
    standard = arithmetic.conv_params(64, 128, 3, bias=False)
    separable = arithmetic.depthwise_separable_params(64, 128, 3, bias=False)
    assert (standard, separable) == (73_728, 8_768)
    assert round(standard / separable, 1) == 8.4


def test_two_3x3_equal_one_5x5():
    """Same receptive field; 2·9C = 18C against 25C weights per filter, and three 3×3
    against one 7×7: 27C against 49C."""
    two_3x3 = arithmetic.receptive_field([(3, 1), (3, 1)])
    assert two_3x3[-1][0] == arithmetic.receptive_field([(5, 1)])[-1][0] == 5
    assert arithmetic.receptive_field([(3, 1)] * 3)[-1][0] == 7
    c = 10  # per filter: C input channels, one output channel
    assert 2 * arithmetic.conv_params(c, 1, 3, bias=False) == 18 * c
    assert arithmetic.conv_params(c, 1, 5, bias=False) == 25 * c
    assert 3 * arithmetic.conv_params(c, 1, 3, bias=False) == 27 * c


def test_padding_modes_table():
    """Valid: (W − F)/S + 1; same at stride 1 with an odd kernel: P = ⌊F/2⌋ and W out;
    full: P = F − 1 and W + F − 1 out."""
    assert arithmetic.output_size(32, 5, "valid") == 32 - 5 + 1
    for f in (3, 5, 7):
        assert arithmetic.padding_amounts(32, f, "same") == (f // 2, f // 2)
        assert arithmetic.output_size(32, f, "same") == 32
        assert arithmetic.output_size(32, f, "full") == 32 + f - 1


def test_p1_with_a_5x5_kernel_shrinks():
    """The misconception: P = 1 with a 5×5 filter loses 2 pixels per layer, 20 after ten."""
    size = 64
    for _ in range(10):
        size = arithmetic.output_size(size, 5, 1)
    assert size == 64 - 20


def test_mnist_convnet_block_3():
    """The chapter's MNISTConvNet: 7 → unpadded 3×3 conv → 5 → 2×2 pool → ⌊5/2⌋ = 2."""
    assert arithmetic.output_size(arithmetic.output_size(7, 3), 2, s=2) == 2


# ---------------------------------------------------------------- the diagrams' grids


@RANDOM
@given(st.integers(1, 8), st.integers(1, 5), st.integers(0, 5), st.integers(1, 4),
       st.integers(1, 3), st.integers(0, 3))
def test_transposed_layout_is_a_stride_1_convolution_with_the_flipped_kernel(n, f, p, s, d, op):
    """Dumoulin & Visin's picture is exact: the input placed s cells apart on the layout's
    grid, convolved at stride 1 with the flipped kernel, is PyTorch's conv_transpose2d."""
    try:
        grid = sliding.transposed_layout(n, f, p, s, d, op)
    except ValueError:
        return
    torch.manual_seed(n * 1000 + f * 100 + p * 10 + s)
    x = torch.randn(1, 1, n, n, dtype=torch.float64)
    w = torch.randn(1, 1, f, f, dtype=torch.float64)
    m = grid.cells.shape[0]
    placed = torch.zeros(1, 1, m, m, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            r, c = grid.origin[0] + i * grid.step, grid.origin[1] + j * grid.step
            if 0 <= r < m and 0 <= c < m:
                assert grid.cells[r, c] == sliding.INPUT
                placed[0, 0, r, c] = x[0, 0, i, j]
    assert (grid.cells == sliding.INPUT).sum() == (placed != 0).sum()
    ours = F.conv2d(placed, w.flip(-1, -2), dilation=d)
    expected = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
    assert ours.shape[-1] == grid.out and torch.allclose(ours, expected)


@RANDOM
@given(st.integers(1, 12), st.integers(1, 5), PADDING, st.integers(1, 5), st.integers(1, 3))
def test_conv_layout_marks_padding_and_never_covered_pixels(n, f, p, s, d):
    try:
        grid = sliding.conv_layout(n, f, p, s, d)
    except ValueError:
        return
    before, after = arithmetic.padding_amounts(n, f, p, s, d)
    assert grid.cells.shape == (n + before + after,) * 2
    inside = grid.cells[before:before + n, before:before + n]
    assert (grid.cells == sliding.PADDING).sum() == grid.cells.size - n * n
    missed = set(arithmetic.uncovered(n, f, p, s, d))
    for i in range(n):
        for j in range(n):
            assert (inside[i, j] == sliding.UNCOVERED) == (i in missed or j in missed)
    touched = {cell for k in range(grid.out ** 2) for cell in grid.taps(k)}
    assert all(grid.cells[cell] != sliding.UNCOVERED for cell in touched)
    assert max(max(cell) for cell in touched) < grid.cells.shape[0]


def test_stride_diagram_animates_every_position():
    grid = sliding.conv_layout(7, 3, 1, 2)
    animation = stride_animation(grid, start=5)
    assert len(animation.frames) == grid.out ** 2 == 16 and animation.start == 5

    def cells(mark):
        return {(r, c) for a, b in mark[2] for r in range(a, b + 1)
                for e, f in mark[3] for c in range(e, f + 1)}

    for k, frame in enumerate(animation.frames):
        taps, _, current = frame.marks
        assert taps[:2] == [0, "tap"] and cells(taps) == set(grid.taps(k))
        assert current[:2] == [1, "current"] and cells(current) == {divmod(k, grid.out)}
        assert frame.params == {"pos": k}
    # Every cell says what it holds: padding and inserted zeros read 0, uncovered pixels ×.
    source = animation.grids[0]
    marks = dict(zip(grid.cells.ravel().tolist(), source.text))
    assert marks[sliding.PADDING] == "0" and marks[sliding.INPUT] == ""
    gaps = stride_animation(sliding.transposed_layout(3, 3, 1, 2))
    inserted = [t for t, c in zip(gaps.grids[0].text, sliding.transposed_layout(3, 3, 1, 2)
                                  .cells.ravel()) if c == sliding.INSERTED]
    assert inserted and set(inserted) == {"0"}
    # Dilation spreads the taps: runs with gaps, and every position plays, however many.
    dilated = stride_animation(sliding.conv_layout(9, 3, 0, 1, 2))
    assert dilated.frames[0].marks[0][2] == [[0, 0], [2, 2], [4, 4]]
    big = stride_animation(sliding.conv_layout(16, 1, "full", 1))
    assert len(big.frames) == 16 ** 2
