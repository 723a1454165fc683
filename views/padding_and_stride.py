"""Padding & stride: the output-size formula as a diagram, worked with the user's numbers."""

import pandas as pd
import streamlit as st

from cnnviz import arithmetic
from cnnviz.arithmetic import sliding
from cnnviz.figures.stride_diagram import stride_diagram
from cnnviz.ui import url_state
from cnnviz.ui.charts import plot

PADDINGS = ("0", "1", "2", "3", "4", "5", "6", "valid", "same", "full")
DIRECTIONS = ("Convolution", "Transposed convolution")
URL_KEYS = ("n", "f", "p", "s", "d", "direction", "pos", "op", "tpos")

st.title("Padding & stride")
st.markdown(
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

columns = st.columns(5)
n = columns[0].slider("Input size W", 1, 16, key="n")
f = columns[1].slider("Kernel size F", 1, 7, key="f")
padding_choice = columns[2].selectbox("Padding P", PADDINGS, key="p",
                                      help="pixels on each side, or a named mode")
s = columns[3].slider("Stride S", 1, 5, key="s")
d = columns[4].slider("Dilation D", 1, 3, key="d",
                      help="spacing between kernel taps: the kernel spans D·(F − 1) + 1 pixels")
padding = arithmetic.parse_padding(padding_choice)


@st.cache_data(max_entries=64, show_spinner=False)
def diagram(kind: str, args: tuple, position: int, input_title: str, output_title: str):
    grid = (sliding.conv_layout if kind == "conv" else sliding.transposed_layout)(*args)
    return stride_diagram(grid, position, input_title=input_title, output_title=output_title)


def position_slider(key: str, out: int) -> int:
    """The output cell the kernel sits at, row-major; every position is reachable."""
    last = out * out - 1
    if st.session_state[key] > last or st.session_state[key] < 0:
        st.session_state[key] = min(max(st.session_state[key], 0), last)
    if last == 0:
        return 0
    return st.slider("Kernel position (output cell, row by row)", 0, last, key=key)


def describe_window(grid: sliding.SlideGrid, position: int, before: int) -> str:
    """Which input rows and columns (0-based, negative = padding) the window covers."""
    i, j = divmod(position, grid.out)
    rows = arithmetic.window_taps(i, grid.f, grid.s, grid.d, before)
    cols = arithmetic.window_taps(j, grid.f, grid.s, grid.d, before)
    return (f"Output cell ({i}, {j}) is computed from input rows {rows[0]} to {rows[-1]} and "
            f"columns {cols[0]} to {cols[-1]} (negative or ≥ {n}: padding).")


def convolution_tab() -> None:
    try:
        work = arithmetic.size_work(n, f, padding, s, d)
    except ValueError as error:
        st.error(f"This convolution is impossible: {error}. Add padding, or make the kernel "
                 f"or the dilation smaller.")
        return
    grid = sliding.conv_layout(n, f, padding, s, d)
    position = position_slider("pos", work.out)
    pad_text = (f"padding {work.before}" if work.before == work.after
                else f"padding {work.before} top/left, {work.after} bottom/right")
    plot(diagram("conv", (n, f, padding, s, d), position, f"Input {n}×{n}, {pad_text}",
                 f"Output {work.out}×{work.out}"), width="stretch")
    st.caption("Blue: the input; grey 0: padding; dark ×: input pixels no window touches; "
               "orange: the kernel's taps and the output cell they make. ▶ Play slides it. "
               + describe_window(grid, position, work.before))
    st.subheader("The formula with your numbers")
    if d != 1:
        st.markdown(f"With dilation the kernel spans $D(F - 1) + 1 = {work.span}$ pixels, which "
                    f"takes the place of $F$.")
    if isinstance(padding, str):
        st.markdown(f"Padding *{padding}* means {work.before} pixel(s) before and {work.after} "
                    f"after" + (" (the odd pixel goes to the bottom / right, as in TensorFlow)."
                                if work.before != work.after else "."))
    st.latex(work.latex())
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


def transposed_tab() -> None:
    st.markdown(
        "A transposed convolution runs the other way: each input pixel spreads over an "
        "$F × F$ patch of a larger output. It is drawn here as an ordinary stride-1 "
        "convolution (with the kernel flipped) over the input with $S - 1$ zeros inserted "
        "between its pixels and $D(F - 1) - P$ pixels of padding around them.")
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
        output_padding = st.slider("Output padding", 0, max(s, d) - 1, key="op",
                                   help="extra rows and columns at the bottom / right, to pick "
                                        "one of the sizes a stride-S convolution maps to W")
    else:
        output_padding = 0
    try:
        out = arithmetic.transposed_output_size(n, f, pad, s, d, output_padding)
    except ValueError as error:
        st.error(f"This transposed convolution is impossible: {error}.")
        return
    position = position_slider("tpos", out)
    plot(diagram("transposed", (n, f, pad, s, d, output_padding), position,
                 f"Input {n}×{n}, spread {s} apart", f"Output {out}×{out}"), width="stretch")
    st.caption("Blue: input pixels; white 0: inserted zeros; grey 0: padding; orange: the "
               "kernel and the output cell it makes. ▶ Play slides it.")
    st.latex(rf"(W - 1) S - 2P + D(F - 1) + \text{{output padding}} + 1 = ({n} - 1) \times {s} "
             rf"- 2 \times {pad} + {d} \times ({f} - 1) + {output_padding} + 1 = {out}")
    try:
        back = arithmetic.output_size(out, f, pad, s, d)
        st.markdown(f"The convolution with the same $F$, $P$, $S$, $D$ takes {out}×{out} back "
                    f"to {back}×{back}: the transposed convolution undoes its sizes, not its "
                    f"values.")
    except ValueError as error:
        st.markdown(f"The forward convolution with these numbers cannot run on {out}×{out}: "
                    f"{error}.")


tabs = st.tabs(DIRECTIONS, key="direction", on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        convolution_tab()
with tabs[1]:
    if tabs[1].open:
        transposed_tab()

url_state.publish(*URL_KEYS)
