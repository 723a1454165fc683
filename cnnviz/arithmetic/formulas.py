"""Convolution arithmetic: output sizes, parameter and operation counts, receptive fields.

The chapter's formulas, made exact for every setting PyTorch accepts:

- output size ⌊(W − F + 2P) / S⌋ + 1, with a dilated kernel spanning d·(F − 1) + 1 pixels;
- parameters (F·F·C_in / groups + 1)·C_out;
- receptive field r_k = r_{k−1} + (f_k − 1)·j_{k−1}, jump j_k = j_{k−1}·s_k (j_0 = 1).

Padding is a number of pixels on each side or one of the named modes:

- ``"valid"``: none;
- ``"same"``: TensorFlow's rule, output = ⌈n / s⌉; the total padding
  max((out − 1)·s + span − n, 0) is split with the odd pixel at the bottom / right, as
  ``cnnviz.ops`` does (for stride 1 and an odd kernel this is the chapter's P = ⌊F/2⌋);
- ``"full"``: span − 1 on each side, so every input pixel meets every kernel weight.

Impossible settings raise ``ValueError`` with the numbers, so a page can show the sentence.
"""

from dataclasses import dataclass

PADDING_MODES = ("valid", "same", "full")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def span(f: int, d: int = 1) -> int:
    """How many input pixels a kernel of size ``f`` with dilation ``d`` reaches across."""
    return _check_int("dilation", d, 1) * (_check_int("kernel size", f, 1) - 1) + 1


def parse_padding(text) -> int | str:
    """Padding as a person types it ("2", " same ") -> 2 or "same"; ``ValueError`` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _check_int("padding", text, 0)
    value = str(text).strip()
    if value.isdigit():
        return int(value)
    if value in PADDING_MODES:
        return value
    raise ValueError(f"padding must be a number or one of {', '.join(PADDING_MODES)}, "
                     f"not {value!r}")


def padding_amounts(n: int, f: int, p=0, s: int = 1, d: int = 1) -> tuple[int, int]:
    """The padding (before, after) one axis of size ``n`` gets; ``p`` is a number or a mode."""
    _check_int("input size", n, 1)
    _check_int("stride", s, 1)
    reach = span(f, d)
    p = parse_padding(p) if isinstance(p, str) else p
    if p == "valid":
        return 0, 0
    if p == "full":
        return reach - 1, reach - 1
    if p == "same":
        total = max((-(-n // s) - 1) * s + reach - n, 0)
        return total // 2, total - total // 2
    _check_int("padding", p, 0)
    return p, p


@dataclass(frozen=True)
class SizeWork:
    """Every intermediate number of the output-size formula, for showing the working."""

    n: int
    f: int
    d: int
    s: int
    before: int
    after: int

    @property
    def span(self) -> int:
        return span(self.f, self.d)

    @property
    def padded(self) -> int:
        return self.n + self.before + self.after

    @property
    def numerator(self) -> int:
        """W − F + 2P, with the dilated span for F and both sides' padding for 2P."""
        return self.padded - self.span

    @property
    def remainder(self) -> int:
        """Pixels of the padded input at the bottom / right that the last window does not
        reach: padding first, then real input pixels when it exceeds the padding after."""
        return self.numerator % self.s

    @property
    def out(self) -> int:
        return self.numerator // self.s + 1

    def latex(self, aligned: bool = False) -> str:
        """The formula with these numbers substituted, step by step, as LaTeX: on one line,
        or ``aligned``, one step a line (so a narrow screen never cuts off the result)."""
        pad = f"2 \\times {self.before}" if self.before == self.after else (
            f"({self.before} + {self.after})")
        kernel = str(self.f) if self.d == 1 else f"{self.span}"
        steps = [
            r"\left\lfloor \frac{W - F + 2P}{S} \right\rfloor + 1",
            rf"\left\lfloor \frac{{{self.n} - {kernel} + {pad}}}{{{self.s}}} \right\rfloor + 1",
            rf"\left\lfloor \frac{{{self.numerator}}}{{{self.s}}} \right\rfloor + 1",
            rf"{self.numerator // self.s} + 1",
            str(self.out),
        ]
        if self.s == 1:
            del steps[2]
        dilated = (rf"F = d(F_k - 1) + 1 = {self.d} \times ({self.f} - 1) + 1 = {self.span}"
                   if self.d != 1 else "")
        if aligned:
            lines = ([dilated.replace(" = ", " &= ", 1)] if dilated else []) + [
                "W_{out} &= " + steps[0]] + [f"&= {step}" for step in steps[1:]]
            return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"
        text = " = ".join(steps)
        if dilated:
            text = dilated + r",\quad " + text
        return text


def size_work(n: int, f: int, p=0, s: int = 1, d: int = 1) -> SizeWork:
    """The output-size computation for one axis; ``ValueError`` when the kernel does not fit."""
    before, after = padding_amounts(n, f, p, s, d)
    work = SizeWork(n, f, d, s, before, after)
    if work.span > work.padded:
        kernel = f"{f}" if d == 1 else f"{f} (spanning {work.span} pixels with dilation {d})"
        raise ValueError(f"a kernel of {kernel} does not fit in the padded input of "
                         f"{n} + {before} + {after} = {work.padded} pixels")
    return work


def output_size(n: int, f: int, p=0, s: int = 1, d: int = 1) -> int:
    """⌊(n − span + P_before + P_after) / s⌋ + 1: the output size of a convolution or pooling
    along one axis."""
    return size_work(n, f, p, s, d).out


def window_taps(o: int, f: int, s: int = 1, d: int = 1, before: int = 0) -> list[int]:
    """The input positions the f taps of output ``o``'s window read along one axis:
    o·s + k·d − before for k = 0 … f − 1 (``before`` = padding at the start; without it the
    positions are in the padded input). Negative or too large positions are padding."""
    return [o * s + k * d - before for k in range(f)]


def _touched(work: SizeWork) -> set[int]:
    """Positions of the padded input that some kernel tap reads."""
    return {x for o in range(work.out) for x in window_taps(o, work.f, work.s, work.d)}


def uncovered(n: int, f: int, p=0, s: int = 1, d: int = 1) -> list[int]:
    """Input positions (0-based) that no kernel tap ever touches: the rows the floor drops at
    the end, and the gaps a stride larger than the (dilated) kernel leaves."""
    work = size_work(n, f, p, s, d)
    touched = _touched(work)
    return [x for x in range(n) if x + work.before not in touched]


def uncovered_padding(n: int, f: int, p=0, s: int = 1, d: int = 1) -> int:
    """How many padded positions (before and after the input) no kernel tap touches."""
    work = size_work(n, f, p, s, d)
    padding = [*range(work.before), *range(work.before + n, work.padded)]
    return len(set(padding) - _touched(work))


def transposed_output_size(n: int, f: int, p: int = 0, s: int = 1, d: int = 1,
                           output_padding: int = 0) -> int:
    """(n − 1)·s − 2p + d·(f − 1) + output_padding + 1: the size a transposed convolution
    (``nn.ConvTranspose2d``) produces, the inverse direction of ``output_size``."""
    _check_int("input size", n, 1)
    _check_int("stride", s, 1)
    _check_int("padding", p, 0)
    _check_int("output padding", output_padding, 0)
    reach = span(f, d)
    if output_padding >= max(s, d):
        raise ValueError(f"output padding {output_padding} must be smaller than the stride "
                         f"{s} or the dilation {d}")
    out = (n - 1) * s - 2 * p + reach + output_padding
    if out < 1:
        raise ValueError(f"padding {p} crops the whole output: (n − 1)·s − 2p + d·(f − 1) + "
                         f"output padding + 1 = ({n} − 1)·{s} − 2·{p} + {reach - 1} + "
                         f"{output_padding} + 1 = {out}")
    return out


def transposed_padding(f: int, p=0, s: int = 1, d: int = 1) -> tuple[int, int]:
    """(padding, output_padding) for ``nn.ConvTranspose2d`` given a number or a mode.

    "valid" is no padding; "full" crops span − 1 on each side; "same" gives an output of
    exactly n·s (TensorFlow's meaning), which needs 2·padding − output_padding = span − s.
    """
    reach = span(f, d)
    _check_int("stride", s, 1)
    p = parse_padding(p)
    if not isinstance(p, str):
        return p, 0
    if p in ("valid", "full"):
        return (0 if p == "valid" else reach - 1), 0
    if reach < s:
        return 0, s - reach
    pad = -(-(reach - s) // 2)
    extra = 2 * pad - (reach - s)
    if extra >= max(s, d):
        raise ValueError(f"no padding gives 'same' for a kernel spanning {reach} pixels with "
                         f"stride {s}: it needs 2·padding − output padding = {reach - s}, and "
                         f"output padding must stay below {max(s, d)}")
    return pad, extra


def conv_params(c_in: int, c_out: int, f: int, bias: bool = True, groups: int = 1) -> int:
    """(f·f·c_in / groups + bias)·c_out: weights shared over every position, so the input's
    height and width never appear."""
    _check_int("input channels", c_in, 1)
    _check_int("output channels", c_out, 1)
    _check_int("kernel size", f, 1)
    _check_int("groups", groups, 1)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups {groups} must divide both the input channels {c_in} and the "
                         f"output channels {c_out}")
    return (f * f * (c_in // groups) + int(bias)) * c_out


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """(N_in + bias)·N_out."""
    return conv_params(n_in, n_out, 1, bias)


def conv_macs(c_in: int, c_out: int, f: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """Multiply-accumulates of one convolution: every output value is a dot product of
    f·f·c_in / groups pairs (the bias add is not counted, as in torch's FLOP counter)."""
    return conv_params(c_in, c_out, f, bias=False, groups=groups) * h_out * w_out


def linear_macs(n_in: int, n_out: int) -> int:
    return conv_macs(n_in, n_out, 1, 1, 1)


def flops(macs: int) -> int:
    """Floating-point operations: a multiply and an add per MAC (``torch.utils.flop_counter``
    counts the same way)."""
    return 2 * macs


def receptive_step(r: int, j: int, f: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """One layer of the receptive-field recurrence: r_k = r_{k−1} + (span − 1)·j_{k−1},
    j_k = j_{k−1}·s. The jump j is the distance in input pixels between neighbouring outputs,
    so each new layer widens the field by (span − 1) of those steps."""
    return r + (span(f, d) - 1) * j, j * _check_int("stride", s, 1)


def receptive_field(layers) -> list[tuple[int, int]]:
    """(receptive field, jump) after each layer of a stack given as (f, s) or (f, s, d) tuples,
    starting from one pixel (r_0 = 1, j_0 = 1)."""
    r, j, result = 1, 1, []
    for layer in layers:
        r, j = receptive_step(r, j, *layer)
        result.append((r, j))
    return result


def depthwise_separable_params(c_in: int, c_out: int, f: int, bias: bool = True) -> int:
    """A depthwise f×f convolution (one filter per input channel) then a pointwise 1×1 mixing
    channels: F²·C_in + C_in·C_out weights instead of F²·C_in·C_out."""
    return conv_params(c_in, c_in, f, bias, groups=c_in) + conv_params(c_in, c_out, 1, bias)


def bottleneck_params(c_in: int, c_mid: int, f: int = 3, bias: bool = True) -> int:
    """ResNet's bottleneck: 1×1 reduce (c_in → c_mid), f×f (c_mid → c_mid), 1×1 expand back
    to c_in, so the identity shortcut can be added."""
    return (conv_params(c_in, c_mid, 1, bias) + conv_params(c_mid, c_mid, f, bias)
            + conv_params(c_mid, c_in, 1, bias))


def plain_block_params(c: int, f: int = 3, layers: int = 2, bias: bool = True) -> int:
    """``layers`` f×f convolutions that keep ``c`` channels: the block a bottleneck replaces."""
    return _check_int("layers", layers, 1) * conv_params(c, c, f, bias)
