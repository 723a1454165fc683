"""Padding & stride: the output-size formula as a diagram, worked with the user's numbers."""

import dataclasses

import pandas as pd
import streamlit as st

from cnnviz import arithmetic
from cnnviz.arithmetic import sliding
from cnnviz.figures.stride_diagram import stride_animation
from cnnviz.formatting import fmt_number
from cnnviz.ui import presentation, url_state
from cnnviz.ui.animation import animate

PADDINGS = ("0", "1", "2", "3", "4", "5", "6", "valid", "same", "full")
DIRECTIONS = ("Convolution", "Transposed convolution")
URL_KEYS = ("n", "f", "p", "s", "d", "direction", "pos", "op", "tpos")

page = presentation.page_header(
    "Padding & stride",
    "Where does the kernel land, and how big is the output? Change the input size $W$, the "
    "kernel $F$, the padding $P$, the stride $S$ and the dilation $D$, and follow "
    r"$\lfloor (W - F + 2P) / S \rfloor + 1$ on the grid.")

url_state.bind("n", 5, allowed=range(1, 17))
url_state.bind("f", 3, allowed=range(1, 8))
url_state.bind("p", "1", allowed=PADDINGS)
url_state.bind("s", 2, allowed=range(1, 6))
url_state.bind("d", 1, allowed=range(1, 4))
url_state.bind("direction", DIRECTIONS[0], allowed=DIRECTIONS)
for key in ("pos", "op", "tpos"):
    url_state.bind(key, 0)

columns = page.controls().columns(5)
n = columns[0].slider("Input size W", 1, 16, key="n")
f = columns[1].slider("Kernel size F", 1, 7, key="f")
padding_choice = columns[2].selectbox("Padding P", PADDINGS, key="p",
                                      help="pixels on each side, or a named mode")
s = columns[3].slider("Stride S", 1, 5, key="s")
d = columns[4].slider("Dilation D", 1, 3, key="d",
                      help="spacing between kernel taps: the kernel spans D·(F − 1) + 1 pixels")
padding = arithmetic.parse_padding(padding_choice)


def describe_window(grid: sliding.SlideGrid, position: int, before: int) -> str:
    """Which input rows and columns (0-based, negative = padding) the window covers."""
    i, j = divmod(position, grid.out)
    rows = arithmetic.window_taps(i, grid.f, grid.s, grid.d, before)
    cols = arithmetic.window_taps(j, grid.f, grid.s, grid.d, before)
    return (f"Output cell ({i}, {j}) is computed from input rows {fmt_number(rows[0])} to "
            f"{rows[-1]} and columns {fmt_number(cols[0])} to {cols[-1]} (negative or ≥ {n}: "
            f"padding).")


def describe_transposed(grid: sliding.SlideGrid, position: int) -> str:
    """How many of the kernel's taps land on input pixels, not on zeros, at ``position``."""
    i, j = divmod(position, grid.out)
    taps = grid.taps(position)
    hits = [(r, c) for r, c in taps if grid.cells[r, c] == sliding.INPUT]
    if not hits:
        return f"Output cell ({i}, {j}): every tap lands on a zero, so the cell is 0."
    rows = sorted({(r - grid.origin[0]) // grid.step for r, _ in hits})
    cols = sorted({(c - grid.origin[1]) // grid.step for _, c in hits})
    return (f"Output cell ({i}, {j}): {len(hits)} of the kernel's {len(taps)} taps land on "
            f"input pixels (rows {rows[0]}–{rows[-1]}, columns {cols[0]}–{cols[-1]}); the "
            f"others on zeros.")


@st.cache_data(max_entries=64, show_spinner=False)
def _diagram(kind: str, args: tuple, input_title: str, output_title: str):
    grid = (sliding.conv_layout if kind == "conv" else sliding.transposed_layout)(*args)
    positions = range(grid.out * grid.out)
    if kind == "conv":
        before = arithmetic.padding_amounts(*args)[0]
        captions = [describe_window(grid, k, before) for k in positions]
    else:
        captions = [describe_transposed(grid, k) for k in positions]
    return stride_animation(grid, input_title=input_title, output_title=output_title,
                            captions=captions, param="pos" if kind == "conv" else "tpos")


def diagram(kind: str, args: tuple, key: str, input_title: str, output_title: str) -> None:
    """The diagram, starting at the position the URL (or the last visit) gives; every
    position, playing and stepping are in the browser."""
    animation = _diagram(kind, args, input_title, output_title)
    st.session_state[key] = min(max(st.session_state[key], 0), len(animation) - 1)
    animate(dataclasses.replace(animation, start=st.session_state[key]), key=f"{key}_diagram")


def convolution_tab() -> None:
    try:
        work = arithmetic.size_work(n, f, padding, s, d)
    except ValueError as error:
        st.error(f"This convolution is impossible: {error}. Add padding, or make the kernel "
                 f"or the dilation smaller.")
        return
    pad_text = (f"padding {work.before}" if work.before == work.after
                else f"padding {work.before} top/left, {work.after} bottom/right")
    figure, formula = st.columns([3, 2], gap="large")
    with figure:
        diagram("conv", (n, f, padding, s, d), "pos", f"Input {n}×{n}, {pad_text}",
                f"Output {work.out}×{work.out}")
        st.caption("Blue: the input (inside the dashed square); grey 0: padding; dark ×: input "
                   "pixels no window touches; magenta: the kernel's taps and the output cell "
                   "they make. Click an output cell to jump to it.")
    with formula:
        st.subheader("The formula with your numbers")
        if d != 1:
            st.markdown(f"With dilation the kernel spans $D(F - 1) + 1 = {work.span}$ pixels, "
                        f"which takes the place of $F$.")
        if isinstance(padding, str):
            st.markdown(f"Padding *{padding}* means {work.before} pixel(s) before and "
                        f"{work.after} after" + (" (the odd pixel goes to the bottom / right, "
                                                 "as in TensorFlow)."
                                                 if work.before != work.after else "."))
        st.latex(work.latex(aligned=True))
        st.markdown(f"The output is **{work.out}×{work.out}**, with one channel per filter.")
    missed = arithmetic.uncovered(n, f, padding, s, d)
    if work.remainder:
        st.warning(
            f"$W - F + 2P = {work.numerator}$ is not divisible by $S = {s}$: the floor throws "
            f"away a remainder of {work.remainder}, so the last window stops {work.remainder} "
            f"pixel(s) short of the bottom / right edge.")
    if missed:
        st.warning(f"Input rows and columns never covered by any window (0-based): "
                   f"{', '.join(map(str, missed))}. Their pixels do not affect the output at all.")
    st.subheader("Valid, same and full on these numbers")
    st.table(pd.DataFrame(mode_rows(), columns=[
        "padding", "pixels before + after", "output size", "rows / columns never covered"]))


def mode_rows() -> list[tuple]:
    rows = []
    for mode in ("valid", "same", "full"):
        try:
            work = arithmetic.size_work(n, f, mode, s, d)
        except ValueError as error:
            rows.append((mode, "", "impossible", str(error)))
            continue
        missed = len(arithmetic.uncovered(n, f, mode, s, d))
        rows.append((mode, f"{work.before} + {work.after}", f"{work.out}×{work.out}",
                     str(missed)))
    return rows


TRANSPOSED_INTRO = (
    "A transposed convolution runs the other way: each input pixel spreads over an $F × F$ "
    "patch of a larger output. It is drawn here as an ordinary stride-1 convolution (with the "
    "kernel flipped) over the input with $S - 1$ zeros inserted between its pixels and "
    "$D(F - 1) - P$ pixels of padding around them.")


def transposed_tab() -> None:
    # Presenting, the diagram comes first: the introduction goes under it, the output
    # padding into the settings.
    if not page.presenting:
        st.markdown(TRANSPOSED_INTRO)
    try:
        pad, extra = arithmetic.transposed_padding(f, padding, s, d)
    except ValueError as error:
        st.error(f"{error}. Choose a number for the padding.")
        return
    if padding == "same":
        st.info(f"*same* for a transposed convolution means an output of $W \\cdot S$: "
                f"PyTorch writes that as padding={pad}, output_padding={extra}.")
        output_padding = extra
    elif max(s, d) > 1:
        st.session_state.op = min(max(st.session_state.op, 0), max(s, d) - 1)
        where = page.controls() if page.presenting else st.container()
        output_padding = where.slider("Output padding", 0, max(s, d) - 1, key="op",
                                      help="extra rows and columns at the bottom / right, to "
                                           "pick one of the sizes a stride-S convolution maps "
                                           "to W")
    else:
        output_padding = 0
    try:
        out = arithmetic.transposed_output_size(n, f, pad, s, d, output_padding)
    except ValueError as error:
        st.error(f"This transposed convolution is impossible: {error}.")
        return
    # Its grid is larger than the convolution's: presenting, it takes two thirds of the width.
    figure, formula = st.columns([2, 1] if page.presenting else [3, 2], gap="large")
    with figure:
        diagram("transposed", (n, f, pad, s, d, output_padding), "tpos",
                f"Input {n}×{n}, spread {s} apart", f"Output {out}×{out}")
        st.caption("Blue: input pixels; white 0: the zeros inserted between them; grey 0: "
                   "padding; magenta: the kernel and the output cell it makes.")
    with formula:
        # Three short lines a term: a third of a projector's width holds them whole.
        st.latex(rf"\begin{{aligned}}W_{{out}} &= (W - 1) S - 2P \\ &\quad + D(F - 1) "
                 rf"\\ &\quad + \text{{output padding}} + 1 \\ &= ({n} - 1) \times {s} "
                 rf"- 2 \times {pad} \\ &\quad + {d} \times ({f} - 1) \\ &\quad + "
                 rf"{output_padding} + 1 \\ &= {out}\end{{aligned}}")
        try:
            back = arithmetic.output_size(out, f, pad, s, d)
            st.markdown(f"The convolution with the same $F$, $P$, $S$, $D$ takes {out}×{out} "
                        f"back to {back}×{back}: the transposed convolution undoes its sizes, "
                        f"not its values.")
        except ValueError as error:
            st.markdown(f"The forward convolution with these numbers cannot run on "
                        f"{out}×{out}: {error}.")
    if page.presenting:
        st.markdown(TRANSPOSED_INTRO)


tabs = st.tabs(DIRECTIONS, key="direction", on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        convolution_tab()
with tabs[1]:
    if tabs[1].open:
        transposed_tab()

url_state.publish(*URL_KEYS)
