"""The NumPy engine on the chapter's worked examples (values worked out by hand here, and equal
to PyTorch's), its error messages, and the step traces the convolution page animates."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnviz import ops
from cnnviz.formatting import fmt_number
from cnnviz.ops import examples, filtering, loops, steps
from cnnviz.ops.examples import KERNELS
from cnnviz.ops.grid_text import format_grid, parse_grid

VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=float)


def tensor(a):
    return None if a is None else torch.tensor(np.asarray(a, dtype=float))


def torch_conv(x, w, b=None, **kwargs) -> np.ndarray:
    return F.conv2d(tensor(x), tensor(w), tensor(b), **kwargs).numpy()


def nchw(grid) -> np.ndarray:
    return np.asarray(grid, dtype=float)[None, None]


# ---------------------------------------------------------------- the chapter's examples

def test_worked_example_by_hand():
    # Window (0, 0): rows [1 2 3], [0 1 2], [3 0 1]; the kernel adds the left column and
    # subtracts the right one: (1 + 0 + 3) − (3 + 2 + 1) = −2. Likewise (0, 1): 3 − 5 = −2,
    # (1, 0): 5 − 3 = 2, (1, 1): 2 − 6 = −4.
    by_hand = np.array([[-2, -2], [2, -4]], dtype=float)
    x, w = nchw(examples.WORKED_INPUT), nchw(VERTICAL_EDGE)
    np.testing.assert_array_equal(torch_conv(x, w)[0, 0], by_hand)
    np.testing.assert_array_equal(ops.conv2d(x, w)[0, 0], by_hand)
    np.testing.assert_array_equal(KERNELS["vertical edge (chapter)"], VERTICAL_EDGE)


def test_exercise_checkerboard_by_hand():
    # [[1, 0], [0, 1]] adds a window's top-left and bottom-right: on a checkerboard both are 1
    # where (i + j) is even and both 0 where it is odd.
    by_hand = np.array([[2, 0, 2], [0, 2, 0], [2, 0, 2]], dtype=float)
    x = nchw([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]])
    w = nchw(KERNELS["diagonal (chapter exercise)"])
    np.testing.assert_array_equal(x[0, 0], examples.EXERCISE_INPUT)
    np.testing.assert_array_equal(torch_conv(x, w)[0, 0], by_hand)
    np.testing.assert_array_equal(ops.conv2d(x, w)[0, 0], by_hand)


def test_pooling_example_by_hand():
    # 2×2 windows, stride 2: {1 3 2 1} {2 4 1 2} {4 2 1 3} {3 1 2 1}.
    x = nchw(examples.POOLING_INPUT)
    max_by_hand = np.array([[3, 4], [4, 3]], dtype=float)
    avg_by_hand = np.array([[7 / 4, 9 / 4], [10 / 4, 7 / 4]])
    xt = torch.tensor(x)
    np.testing.assert_array_equal(F.max_pool2d(xt, 2).numpy()[0, 0], max_by_hand)
    np.testing.assert_allclose(F.avg_pool2d(xt, 2).numpy()[0, 0], avg_by_hand, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ops.max_pool2d(x, 2)[0, 0], max_by_hand)
    np.testing.assert_allclose(ops.avg_pool2d(x, 2)[0, 0], avg_by_hand, rtol=0, atol=1e-15)


def test_chapter_multichannel_shapes():
    # The chapter: a 32×32×3 input, 16 filters of 5×5×3, stride 1, no padding → 28×28×16.
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(1, 3, 32, 32)), rng.normal(size=(16, 3, 5, 5)), rng.normal(size=16)
    y = ops.conv2d(x, w, b)
    assert y.shape == (1, 16, 28, 28)
    np.testing.assert_allclose(y, torch_conv(x, w, b), rtol=0, atol=1e-9)


def test_same_padding_is_the_chapters_half_kernel():
    # Stride 1, odd F: "same" is P = ⌊F/2⌋ on each side, as the chapter says.
    rng = np.random.default_rng(1)
    for f in (3, 5, 7):
        x, w = rng.normal(size=(1, 1, 9, 9)), rng.normal(size=(1, 1, f, f))
        np.testing.assert_allclose(ops.conv2d(x, w, padding="same"),
                                   torch_conv(x, w, padding=f // 2), rtol=0, atol=1e-9)


def test_global_average_pooling_and_gradient():
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(2, 5, 7, 7)), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    dy = rng.normal(size=(2, 5))
    y.backward(torch.tensor(dy))
    np.testing.assert_allclose(ops.global_avg_pool2d(x.detach().numpy()), y.detach().numpy(),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(ops.global_avg_pool2d_backward(dy, x.detach().numpy()),
                               x.grad.numpy(), rtol=0, atol=1e-12)


def test_integer_input_computes_in_float64():
    y = ops.conv2d(np.ones((1, 1, 3, 3), dtype=int), np.ones((1, 1, 2, 2), dtype=int))
    assert y.dtype == np.float64


def test_chapter_loops_agree_with_torch():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, stride=2, padding=1)
    dy = rng.normal(size=y.shape)
    y.backward(torch.tensor(dy))
    np.testing.assert_allclose(loops.conv2d(x, w, b, 2, 1), y.detach().numpy(),
                               rtol=0, atol=1e-9)
    for ours, theirs in zip(loops.conv2d_backward(dy, x, w, 2, 1),
                            (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-9)


# ---------------------------------------------------------------- errors name their numbers

@pytest.mark.parametrize("call, words", [
    (lambda: ops.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5))),
     ["kernel 5 does not fit in 3 + 2·0 = 3 input pixels", "⌊(3 − 5) / 1⌋ + 1 = −1"]),
    (lambda: ops.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), dilation=2),
     ["kernel 5 (1 + 2·(3 − 1), dilation 2) does not fit in 4 + 2·0 = 4"]),
    (lambda: ops.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), stride=0),
     ["stride must be a positive integer, got 0", "⌊(W + 2P − F) / S⌋ + 1"]),
    (lambda: ops.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), stride=(1, -2)),
     ["stride must be a positive integer, got -2"]),
    (lambda: ops.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((2, 2, 3, 3))),
     ["the input has 3 channels but the kernel expects 2 channels × 1 group = 2"]),
    (lambda: ops.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2),
     ["groups 2 must divide both the input channels 4 and the filters 3"]),
    (lambda: ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding="half"),
     ["'half'", "valid", "same", "full"]),
    (lambda: ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1),
     ["padding must be at least 0, got -1"]),
    (lambda: ops.conv2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 5, 5)),
                                 np.zeros((1, 1, 3, 3))),
     ["(1, 1, 2, 2)", "(1, 1, 3, 3)"]),
    (lambda: ops.max_pool2d(np.zeros((1, 1, 2, 2)), 3),
     ["kernel 3 does not fit in 2 + 2·0 = 2"]),
    (lambda: ops.max_pool2d(np.zeros((1, 1, 6, 6)), 2, padding=2),
     ["padding 2 is more than half the pooling window 2", "⌊2/2⌋ = 1"]),
    (lambda: ops.avg_pool2d(np.zeros((1, 1, 6, 6)), 2, stride=0),
     ["stride must be a positive integer, got 0"]),
])
def test_errors_name_the_numbers(call, words):
    with pytest.raises(ValueError) as caught:
        call()
    for text in words:
        assert text in str(caught.value)


# ---------------------------------------------------------------- step traces

def test_trace_of_worked_example_steps_through_the_chapter():
    t = steps.conv_trace(examples.WORKED_INPUT, VERTICAL_EDGE)
    assert len(t) == 4 and not t.is_padding.any()
    first = t.step(0)
    np.testing.assert_array_equal(first.rows, [0, 1, 2])
    np.testing.assert_array_equal(first.products[0], [[1, 0, -3], [0, 0, -2], [3, 0, -1]])
    assert first.result == -2
    assert steps.written_sum(t, first) == [
        "1·1 + 2·0 + 3·(−1) + 0·1 + 1·0 + 2·(−1) + 3·1 + 0·0 + 1·(−1) = −2"]
    assert [t.step(k).result for k in range(4)] == [-2, -2, 2, -4]
    with pytest.raises(IndexError):
        t.step(4)


def test_trace_matches_torch_cell_by_cell_with_channels_padding_stride_dilation():
    rng = np.random.default_rng(4)
    x, w, bias = rng.normal(size=(3, 7, 6)), rng.normal(size=(3, 3, 2)), 0.75
    kwargs = dict(stride=(2, 1), padding="same", dilation=(1, 2))
    t = steps.conv_trace(x, w, bias, **kwargs)
    # Padding on each side as TensorFlow's "same" rule gives it, written out independently:
    # rows: out = ⌈7/2⌉ = 4, total = (4 − 1)·2 + 3 − 7 = 2 → 1 + 1; columns: out = 6,
    # span 1 + 2·(2 − 1) = 3, total = 5 + 3 − 6 = 2 → 1 + 1.
    xp = F.pad(torch.tensor(x)[None], (1, 1, 1, 1))
    expected = F.conv2d(xp, tensor(w)[None], tensor([bias]), stride=(2, 1),
                        dilation=(1, 2)).numpy()[0, 0]
    per_channel = F.conv2d(xp, torch.tensor(w)[:, None], stride=(2, 1), dilation=(1, 2),
                           groups=3).numpy()[0]  # one filter slice per channel, no bias
    columns = F.unfold(xp, (3, 2), dilation=(1, 2), stride=(2, 1)).numpy()[0]
    assert len(t) == expected.size
    np.testing.assert_array_equal(t.is_padding, F.pad(torch.zeros(7, 6), (1, 1, 1, 1), value=1)
                                  .numpy().astype(bool))
    for k in range(len(t)):
        step = t.step(k)
        i, j = step.cell
        np.testing.assert_allclose(step.values.ravel(), columns[:, k], rtol=0, atol=0)
        np.testing.assert_allclose(step.channel_sums, per_channel[:, i, j], rtol=0, atol=1e-12)
        assert step.result == pytest.approx(expected[i, j], abs=1e-12)
        assert t.output[i, j] == pytest.approx(expected[i, j], abs=1e-12)
    lines = steps.written_sum(t, t.step(0))
    assert [line.split(":")[0] for line in lines] == ["R", "G", "B", "total"]
    assert lines[-1].endswith(" + 0.75 = " + fmt_number(t.step(0).result))


@pytest.mark.parametrize("kind", steps.POOLING_KINDS)
def test_pool_trace_matches_torch(kind):
    x = np.random.default_rng(5).normal(size=(5, 5))
    t = steps.pool_trace(x, 3, kind, stride=2, padding=1)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    expected = pool(torch.tensor(x)[None, None], 3, 2, 1).numpy()[0, 0]
    np.testing.assert_allclose(t.output, expected, rtol=0, atol=1e-12)
    for k in range(len(t)):
        step = t.step(k)
        assert step.result == pytest.approx(expected[step.cell], abs=1e-12)
        if kind == "max":
            assert step.values[0][step.chosen] == expected[step.cell]
    assert steps.written_sum(t, t.step(0))[0].startswith("max(−∞" if kind == "max" else "(0 + ")


def test_pool_trace_rejects_unknown_kind():
    with pytest.raises(ValueError, match="'median'"):
        steps.pool_trace(np.zeros((4, 4)), 2, "median")


# ---------------------------------------------------------------- typed grids, photos

def test_grid_text_round_trip_and_errors():
    grid = np.stack([KERNELS["box blur"], KERNELS["Sobel x"]])
    text = format_grid(grid)
    assert "1/9" in text and "−1" in text
    np.testing.assert_array_equal(parse_grid(text), grid)
    np.testing.assert_array_equal(parse_grid("1, −2\n3 4/2"), [[[1, -2], [3, 2]]])
    with pytest.raises(ValueError, match="row 2 has 1 numbers but the first row has 2"):
        parse_grid("1 2\n3")
    with pytest.raises(ValueError, match="line 1: 'x' is not a number"):
        parse_grid("1 x")
    with pytest.raises(ValueError, match="empty"):
        parse_grid("  \n ")
    for huge in ("1e309", "1e300", "-2000001/2", "nan", "inf"):  # from a hand-edited link
        with pytest.raises(ValueError, match="line 1: .*(too large|not a number)"):
            parse_grid(f"1 {huge}")
    assert parse_grid("1000000 −1e6")[0, 0].tolist() == [1e6, -1e6]


def test_photo_patch_and_whole_image_filter():
    pixels = np.random.default_rng(6).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    np.testing.assert_array_equal(examples.photo_patch(img, 2, 5, 4, rgb=True),
                                  pixels[2:6, 5:9].transpose(2, 0, 1))
    assert examples.photo_patch(img, 0, 0, 4, rgb=False).shape == (1, 4, 4)
    with pytest.raises(ValueError, match="does not fit in a 30×20 image"):
        examples.photo_patch(img, 18, 0, 4, rgb=True)
    sobel = KERNELS["Sobel x"]
    colour = filtering.filter_image(img, sobel, rgb=True)
    reference = torch_conv(pixels.transpose(2, 0, 1)[:, None].astype(float), nchw(sobel),
                           padding=1)[:, 0]
    np.testing.assert_allclose(colour, reference, rtol=0, atol=1e-9)
    picture = filtering.to_picture(colour)
    assert picture.size == (30, 20) and picture.mode == "RGB"
    pooled = filtering.pool_image(img, "max", 2)
    np.testing.assert_array_equal(
        pooled, F.max_pool2d(torch.tensor(pixels.transpose(2, 0, 1), dtype=torch.float64), 2))
