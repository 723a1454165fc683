"""Exam-style questions with fresh numbers, the same for everyone who uses the same seed.

Each question is drawn from its own generator seeded by (seed, position), so a class sharing a
link sees identical questions. Answers come from ``cnnviz.arithmetic``; the wrong choices of a
multiple-choice question are the results of the mistakes students really make (forgetting the
bias, the floor, the +1, the input channels; taking P = 1 as "same" for a 5×5 kernel).
"""

import random
import re
from dataclasses import dataclass, field

from cnnviz.arithmetic import formulas

TOPICS = {
    "output_size": "Output size of a convolution",
    "conv_params": "Parameters of a convolution",
    "receptive_field": "Receptive field of a stack",
    "depthwise": "Depthwise-separable savings",
    "bottleneck": "Bottleneck vs plain block",
    "pooling": "Output size of a pooling layer",
    "pointwise": "Cost of a 1×1 convolution",
}
FORMATS = ("mixed", "multiple choice", "numeric")


@dataclass(frozen=True)
class Question:
    topic: str
    text: str  # Markdown
    answer: int | float
    explanation: str  # Markdown with LaTeX: the worked formula
    numbers: dict = field(default_factory=dict)  # the inputs, to recompute the answer
    choices: tuple[str, ...] = ()  # empty for numeric entry
    digits: int = 0  # decimals the answer is given to

    def format(self, value) -> str:
        return f"{value:,.{self.digits}f}"

    @property
    def answer_text(self) -> str:
        return self.format(self.answer)

    def check(self, response) -> bool:
        """Whether ``response`` (a chosen option or typed text) is right; typed numbers may
        use thousands separators and must be right to the digits asked for."""
        if response is None:
            return False
        if self.choices:
            return response == self.answer_text
        try:
            value = float(str(response).replace(",", "").replace(" ", "").replace("\u2212", "-"))
        except ValueError:
            return False
        return abs(value - self.answer) <= 0.5 * 10 ** -self.digits * (1 + 1e-9)


def _choices(rng: random.Random, answer, mistakes, digits: int) -> tuple[str, ...]:
    """The answer and three distinct wrong values: the first mistakes (listed most common
    first) that give a different number, then near misses."""
    wrong = []
    for value in mistakes:
        value = round(value, digits) if digits else int(value)
        if value > 0 and value != answer and value not in wrong:
            wrong.append(value)
    step = 1 if digits == 0 else 10 ** -digits * 5
    offset = 1
    while len(wrong) < 3:
        for value in (answer + offset * step, answer - offset * step):
            value = round(value, digits) if digits else value
            if value > 0 and value != answer and value not in wrong and len(wrong) < 3:
                wrong.append(value)
        offset += 1
    options = [answer, *wrong[:3]]
    rng.shuffle(options)
    return tuple(f"{v:,.{digits}f}" for v in options)


def _rows(count: int, kind: str) -> str:
    return f"{count} {kind} row{'' if count == 1 else 's'}"


def _never_covered(work: formulas.SizeWork) -> str:
    """What no window reads, split into real input rows and padding (the same holds for the
    columns): the floor drops the padded input's last ``remainder`` rows, padding first, and
    a stride longer than the window skips rows between windows."""
    n, f, p, s = work.n, work.f, work.before, work.s
    real = len(formulas.uncovered(n, f, p, s))
    padded = formulas.uncovered_padding(n, f, p, s)
    if not real and not padded:
        return ""
    reasons = []
    if work.remainder:
        last = "last" if work.remainder == 1 else f"last {work.remainder}"
        reasons.append(f"the floor drops the {last} of the {work.padded} rows of the padded "
                       f"input")
    if s > f:
        reasons.append(f"stride {s} is longer than the {f}-row window, so rows between windows "
                       f"are skipped")
    return (f" No window reads {_rows(real, 'real input')} and {_rows(padded, 'padded')} "
            f"(the same for the columns): {' and '.join(reasons)}.")


def _output_size(rng):
    while True:
        n = rng.choice((28, 32, 48, 56, 64, 96, 112, 128, 224, 227))
        f = rng.choice((1, 3, 5, 7, 11))
        s, p = rng.choice((1, 2, 2, 3, 4)), rng.choice((0, 1, 1, 2, 3))
        if f <= n + 2 * p:
            break
    c, k = rng.choice((1, 3, 16, 32, 64)), rng.choice((16, 32, 64, 128, 256))
    work = formulas.size_work(n, f, p, s)
    text = (f"An input of {n}×{n}×{c} passes through a convolution with {k} filters of size "
            f"{f}×{f}, stride {s} and padding {p}. What are the output's height and width "
            f"(one number: they are equal)?")
    explanation = (f"$${work.latex()}$$\n\nThe output is {work.out}×{work.out}×{k}: the "
                   f"depth is the number of filters, {k}.")
    explanation += _never_covered(work)
    mistakes = [-(-work.numerator // s) + 1,  # ceiling instead of floor
                -(-n // s),  # took the padding for "same" (P = 1 with a 5×5 kernel)
                work.numerator // s,  # forgot the +1
                (n - f) // s + 1 if n >= f else 0,  # forgot the padding
                (n - f + p) // s + 1,  # padded one side only
                work.numerator + 1]  # forgot the stride
    return text, work.out, explanation, dict(n=n, f=f, p=p, s=s), mistakes, 0


def _conv_params(rng):
    n, c = rng.choice((14, 28, 32, 56, 64, 224)), rng.choice((1, 3, 16, 32, 64, 128))
    f, k = rng.choice((1, 3, 5, 7)), rng.choice((8, 16, 32, 64, 128, 256))
    answer = formulas.conv_params(c, k, f)
    text = (f"How many learnable parameters (weights and biases) does a convolutional layer "
            f"have that takes a {n}×{n}×{c} input and applies {k} filters of size {f}×{f}?")
    explanation = (f"Each filter has $F \\times F \\times C_{{in}} = {f} \\times {f} \\times {c} "
                   f"= {f * f * c:,}$ weights and 1 bias:\n\n$$(F^2 C_{{in}} + 1) C_{{out}} = "
                   f"({f * f * c:,} + 1) \\times {k} = {answer:,}$$\n\nThe input's {n}×{n} "
                   f"does not appear: the same filters slide over every position.")
    mistakes = [f * f * c * k,  # forgot the bias
                (f * f + 1) * k,  # forgot the input channels
                f * f * c + 1,  # one filter only
                (f * c + 1) * k,  # forgot to square the kernel
                answer + f * f * c * k]  # a bias per weight
    return text, answer, explanation, dict(c_in=c, c_out=k, f=f), mistakes, 0


def _receptive_field(rng):
    layers = [(rng.choice((1, 3, 3, 3, 5, 7)), rng.choice((1, 1, 1, 2)))
              for _ in range(rng.randint(2, 5))]
    steps = formulas.receptive_field(layers)
    answer = steps[-1][0]
    described = "; ".join(f"{f}×{f} stride {s}" for f, s in layers)
    text = (f"A stack of {len(layers)} convolution layers, in order: {described}. "
            f"How many input pixels wide is the receptive field of one output of the last "
            f"layer?")
    lines, r, j = [r"r_0 = 1,\ j_0 = 1"], 1, 1
    for k, ((f, s), (r_new, j_new)) in enumerate(zip(layers, steps), start=1):
        lines.append(f"r_{k} = {r} + ({f} - 1) \\times {j} = {r_new},\\ j_{k} = {j} \\times {s} "
                     f"= {j_new}")
        r, j = r_new, j_new
    explanation = ("$r_k = r_{k-1} + (f_k - 1) \\cdot j_{k-1}$, where the jump $j_{k-1}$ is "
                   "the product of the earlier strides:\n\n" + "\n\n".join(f"${x}$" for x in lines))
    jumps = [1] + [j for _, j in steps]
    mistakes = [1 + sum(f - 1 for f, _ in layers),  # ignored the strides
                sum(f for f, _ in layers),  # added the kernel sizes
                # multiplied each kernel by its own layer's jump, not the one before
                1 + sum((f - 1) * jumps[k + 1] for k, (f, _) in enumerate(layers)),
                layers[-1][0]]  # only the last kernel
    return text, answer, explanation, dict(layers=layers), mistakes, 0


def _depthwise(rng):
    c_in, c_out = rng.choice((16, 32, 64, 128, 256)), rng.choice((32, 64, 128, 256, 512))
    f = rng.choice((3, 5))
    standard = formulas.conv_params(c_in, c_out, f, bias=False)
    separable = formulas.depthwise_separable_params(c_in, c_out, f, bias=False)
    numbers = dict(c_in=c_in, c_out=c_out, f=f)
    working = (f"Standard: $F^2 C_{{in}} C_{{out}} = {f}^2 \\times {c_in} \\times {c_out} = "
               f"{standard:,}$.\n\nDepthwise separable: $F^2 C_{{in}} + C_{{in}} C_{{out}} = "
               f"{f * f * c_in:,} + {c_in * c_out:,} = {separable:,}$.\n\n")
    question = (f"A {f}×{f} convolution maps {c_in} channels to {c_out} (biases not counted). ")
    if rng.random() < 0.5:
        answer = round(standard / separable, 1)
        text = question + ("By what factor does a depthwise-separable convolution reduce the "
                           "parameters? (one decimal)")
        explanation = working + (f"Reduction: ${standard:,} / {separable:,} \\approx {answer}$, "
                                 f"close to $F^2 = {f * f}$ when $C_{{out}}$ is large.")
        mistakes = [f * f,  # counted only the depthwise saving
                    c_out,  # forgot the pointwise convolution
                    standard / (f * f * c_in * c_out / c_in + c_in * c_out)]  # F²·C_out depthwise
        return text, answer, explanation, dict(numbers, ask="factor"), mistakes, 1
    text = question + "How many parameters does its depthwise-separable version have?"
    explanation = working + f"That is {standard / separable:.1f} times fewer."
    mistakes = [f * f * c_in,  # forgot the pointwise convolution
                c_in * c_out,  # forgot the depthwise convolution
                f * f * c_out + c_in * c_out,  # depthwise filters counted per output channel
                f * f + c_in * c_out]  # one depthwise filter for all channels
    return text, separable, explanation, dict(numbers, ask="params"), mistakes, 0


def _bottleneck(rng):
    c = rng.choice((64, 128, 256, 512, 1024, 2048))
    mid = c // rng.choice((4, 4, 2))
    answer = formulas.bottleneck_params(c, mid, bias=False)
    plain = formulas.plain_block_params(c, bias=False)
    text = (f"A ResNet bottleneck block on {c} channels uses a 1×1 convolution down to {mid} "
            f"channels, a 3×3 convolution on {mid} channels and a 1×1 convolution back to {c}. "
            f"How many weights does it have (no biases: batch norm follows each convolution)?")
    explanation = (f"$$\\underbrace{{{c} \\times {mid}}}_{{1\\times1}} + \\underbrace{{3^2 \\times "
                   f"{mid} \\times {mid}}}_{{3\\times3}} + \\underbrace{{{mid} \\times {c}}}_{{1"
                   f"\\times1}} = {answer:,}$$\n\nA plain block of two 3×3 convolutions on {c} "
                   f"channels has $2 \\times 3^2 \\times {c}^2 = {plain:,}$: "
                   f"{plain / answer:.1f} times more.")
    mistakes = [c * mid + 9 * mid * mid,  # forgot the expanding 1×1
                2 * c * mid + 9 * c * mid,  # 3×3 on the full width
                2 * c * mid + 9 * mid,  # 3×3 without its input channels
                plain, plain // 2]
    return text, answer, explanation, dict(c=c, mid=mid), mistakes, 0


def _pooling(rng):
    n, f = rng.choice((7, 13, 14, 15, 27, 28, 31, 55, 56, 112, 113)), rng.choice((2, 3))
    s, p = rng.choice((f, 2, 2)), rng.choice((0, 0, 1)) if f == 3 else 0
    work = formulas.size_work(n, f, p, s)
    kind = rng.choice(("max", "average"))
    text = (f"A {f}×{f} {kind} pooling layer with stride {s}" + (f" and padding {p}" if p else "")
            + f" is applied to a {n}×{n}×64 feature map. What are the output's height and "
              f"width?")
    explanation = (f"Pooling slides a window like a convolution (it just has no weights):\n\n"
                   f"$${work.latex()}$$\n\nThe channels stay 64.{_never_covered(work)}")
    mistakes = [n // f, work.numerator // s, -(-work.numerator // s) + 1, -(-n // s),
                (n - f) // s + 1 if p else n // s + 1]
    return text, work.out, explanation, dict(n=n, f=f, p=p, s=s), mistakes, 0


def _pointwise(rng):
    n, c_in = rng.choice((7, 14, 28, 56)), rng.choice((64, 128, 256, 512, 1024))
    c_out = rng.choice((16, 32, 64, 128, 256))
    numbers = dict(n=n, c_in=c_in, c_out=c_out)
    setting = f"A 1×1 convolution maps a {n}×{n}×{c_in} input to {n}×{n}×{c_out}. "
    if rng.random() < 0.5:
        answer = formulas.conv_params(c_in, c_out, 1)
        text = setting + "How many parameters does it have, biases included?"
        explanation = (f"$$(1 \\times 1 \\times C_{{in}} + 1) \\times C_{{out}} = ({c_in} + 1) "
                       f"\\times {c_out} = {answer:,}$$\n\nA 3×3 convolution would need "
                       f"{formulas.conv_params(c_in, c_out, 3):,}.")
        mistakes = [c_in * c_out, formulas.conv_params(c_in, c_out, 3), answer * n * n,
                    (c_in + 1) * c_in]
        return text, answer, explanation, dict(numbers, ask="params"), mistakes, 0
    answer = formulas.conv_macs(c_in, c_out, 1, n, n)
    text = setting + "How many multiply-accumulate operations does it perform?"
    explanation = (f"Each of the {n}×{n}×{c_out} outputs is a dot product over {c_in} channels:"
                   f"\n\n$${n} \\times {n} \\times {c_out} \\times {c_in} = {answer:,}$$")
    mistakes = [c_in * c_out, n * n * c_out, 9 * answer, n * n * (c_in + 1) * c_out]
    return text, answer, explanation, dict(numbers, ask="macs"), mistakes, 0


_MATH = re.compile(r"(\$\$?)(.+?)\1", re.S)


def _group_digits(match: re.Match) -> str:
    """Thousands separators inside LaTeX as {,}: a bare comma gets a space after it."""
    return match[1] + re.sub(r"(?<=\d),(?=\d{3})", "{,}", match[2]) + match[1]


_MAKERS = {
    "output_size": _output_size,
    "conv_params": _conv_params,
    "receptive_field": _receptive_field,
    "depthwise": _depthwise,
    "bottleneck": _bottleneck,
    "pooling": _pooling,
    "pointwise": _pointwise,
}


def question(seed: int, index: int, topic: str, fmt: str = "mixed") -> Question:
    """Question ``index`` of a quiz: the same numbers for the same (seed, index, topic)."""
    if topic not in _MAKERS:
        raise ValueError(f"unknown topic {topic!r}; use one of {', '.join(_MAKERS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    rng = random.Random(f"cnnviz-practice/{seed}/{index}/{topic}")
    text, answer, explanation, numbers, mistakes, digits = _MAKERS[topic](rng)
    explanation = _MATH.sub(_group_digits, explanation)
    choice = fmt == "multiple choice" or (fmt == "mixed" and rng.random() < 0.5)
    choices = _choices(rng, answer, mistakes, digits) if choice else ()
    return Question(topic, text, answer, explanation, numbers, choices, digits)


def quiz(seed: int, count: int = 7, topics=None, fmt: str = "mixed") -> list[Question]:
    """``count`` questions cycling through ``topics`` (all by default) in a seeded order."""
    topics = list(topics or TOPICS)
    if not topics or count < 1:
        raise ValueError("a quiz needs at least one topic and one question")
    order = topics[:]
    random.Random(f"cnnviz-practice/{seed}").shuffle(order)
    return [question(seed, i, order[i % len(order)], fmt) for i in range(count)]
