"""Small grids of numbers with every number written in its cell, and the convolution board:
the input with its padding and the sliding window, the kernel, the products and the output
filling up cell by cell, one frame per output cell, played in the browser
(``cnnviz.figures.animation``).

``grid_cells`` colours any grid of numbers the same way (signed values on the diverging
scale centred on 0, non-negative ones on the sequential scale, text that reads on its cell),
so any page that shows numbers on a grid can reuse it.
"""

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures.animation import HIDDEN_FILL, Animation, Frame, Grid, box, lattice
from cnnviz.figures.colours import colour_limits, palette, shade, signed_scale
from cnnviz.figures.style import HIGHLIGHT, MINUS, PADDING_FILL, fmt_number, layout
from cnnviz.ops.steps import Step, StepTrace, channel_names, written_sum

# Black, not a softer near-black: with white, black reaches WCAG's 4.5:1 on every colour (at
# worst 4.6:1, on a mid-tone), where #111111 falls to 4.35:1 on some orange and teal cells.
DARK_TEXT, LIGHT_TEXT = "#000000", "#ffffff"


def cell_text(x: float) -> str:
    """A grid value as written in its cell: real minus, at most two decimals, ±∞ as symbols."""
    if np.isinf(x):
        return ("" if x > 0 else MINUS) + "∞"
    return "" if np.isnan(x) else fmt_number(x)


def colour_scale(values: np.ndarray, zrange=None) -> tuple[str, float, float]:
    """(scale, low, high) for ``values`` (NaN and ±∞ ignored): signed data get the diverging
    scale centred on 0, non-negative data the sequential one (``cnnviz.figures.colours``)."""
    low, high = zrange if zrange is not None else colour_limits(values)
    if high <= low:
        high = low + 1.0
    return signed_scale((low, high)), float(low), float(high)


def cell_colours(values: np.ndarray, scale: str, low: float, high: float):
    """Each cell's fill as (r, g, b) 0–255, shape (..., 3), and the text colour that reads on
    it: black or white, whichever contrasts more (WCAG 2.1's relative luminance)."""
    filled = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    rgb = palette(scale)[shade(filled, (low, high))].astype(float)
    text = np.where(relative_luminance(rgb) > DARK_WINS, DARK_TEXT, LIGHT_TEXT)
    return rgb, text.reshape(values.shape)


DARK_WINS = (1.05 * 0.05) ** 0.5 - 0.05  # the luminance above which black contrasts more


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2.1's relative luminance of sRGB colours (..., 3) in 0–255: 0 black, 1 white."""
    c = np.asarray(rgb, float) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def photo_with_box(pixels: np.ndarray, top: int, left: int, size: int,
                   title: str = "") -> go.Figure:
    """A (small) photo, (H, W, 3) uint8, with the size×size patch at (top, left) outlined."""
    fig = go.Figure(go.Image(z=pixels, hoverinfo="skip"))
    fig.add_shape(type="rect", x0=left - 0.5, x1=left + size - 0.5, y0=top - 0.5,
                  y1=top + size - 0.5, line=dict(color=HIGHLIGHT, width=4))
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, fixedrange=True)
    fig.update_layout(**layout(title=title, xaxis=axis, yaxis=axis, height=320,
                               margin=dict(l=0, r=0, t=40 if title else 0, b=0)))
    return fig




def _hex(rgb: np.ndarray) -> np.ndarray:
    rgb = np.rint(rgb).astype(int)
    return np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.reshape(-1, 3)],
                    dtype=object).reshape(rgb.shape[:-1])


def grid_cells(values, *, padding=None, zrange=None) -> dict:
    """A grid of numbers as the row-major ``fill``, ``ink`` and ``text`` lists of a ``Grid``:
    each cell coloured by its value (``zrange`` fixes the range, so colours mean the same in
    every frame), padding grey with dark text."""
    values = np.asarray(values, dtype=float)
    padding = np.zeros(values.shape, bool) if padding is None else np.asarray(padding, bool)
    shown = np.where(padding, np.nan, values)
    rgb, ink = cell_colours(shown, *colour_scale(shown, zrange))
    fill = np.where(padding, PADDING_FILL, _hex(rgb))
    ink = np.where(padding, DARK_TEXT, ink)
    text = np.vectorize(cell_text, otypes=[object])(values)
    return dict(fill=fill.ravel().tolist(), ink=ink.ravel().tolist(),
                text=text.ravel().tolist())


def _range(values) -> tuple[float, float] | None:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0 or values.max() <= values.min():
        return None
    return colour_limits(values)


class _Board:
    """The grids of a trace's board and where each one is: a row per input channel (input,
    kernel, products), the output at the end of the first row."""

    def __init__(self, trace: StepTrace, flipped: bool, with_output: bool):
        self.trace = trace
        names = channel_names(len(trace.padded))
        self.grids, self.layout = [], []
        self.inputs, self.products = [], []
        out = trace.output
        self.output_range = _range(out)
        self.product_range = None
        if trace.kernel is not None:
            everything = [trace.step(k).products for k in range(len(trace))]
            self.product_range = _range(np.concatenate([p.ravel() for p in everything]))
        dotted = np.flatnonzero(trace.is_padding).tolist()
        for c, name in enumerate(names):
            label = f" {name}" if len(names) > 1 else ""
            row = [self._add(Grid(f"Input{label}", *trace.padded[c].shape, dotted=dotted,
                                  **grid_cells(trace.padded[c], padding=trace.is_padding)))]
            self.inputs.append(row[0])
            if trace.kernel is not None:
                kernel = trace.kernel[c]
                row.append(self._add(Grid(f"Kernel{label}{' (flipped)' if flipped else ''}",
                                          *kernel.shape, **grid_cells(kernel))))
                blank = dict(fill=[HIDDEN_FILL] * kernel.size, ink=[DARK_TEXT] * kernel.size,
                             text=[""] * kernel.size)
                row.append(self._add(Grid(f"Products{label}", *kernel.shape, **blank)))
                self.products.append(row[-1])
            self.layout.append(row)
        self.output = None
        if with_output:
            self.output = self._add(Grid(f"Output {out.shape[0]} × {out.shape[1]}", *out.shape,
                                         filling=True, clickable=True,
                                         **grid_cells(out, zrange=self.output_range)))
            self.layout[0].append(self.output)

    def _add(self, grid: Grid) -> int:
        self.grids.append(grid)
        return len(self.grids) - 1

    def frame(self, index: int, *, hide: bool = False) -> Frame:
        """Step ``index``: the window on every input channel (each tap shaded when dilation
        spreads them), max pooling's choice, the products, the output cell, the lines that
        join them and the written sum. With ``hide`` the products and the value stay blank
        and the output cell reads "?"."""
        trace, step = self.trace, self.trace.step(index)
        frame = Frame(upto=index, caption="" if hide else _sum_html(trace, step),
                      params={"step": index + 1})
        current = None
        if self.output is not None:
            frame.marks.append(box(self.output, "current", *step.cell))
            current = len(frame.marks) - 1
        spread = len(step.rows) > 1 and (np.diff(step.rows) > 1).any()
        for c, grid in enumerate(self.inputs):
            frame.marks.append(box(grid, "window", step.rows[0], step.cols[0], step.rows[-1],
                                   step.cols[-1]))
            window = len(frame.marks) - 1
            if spread:
                frame.marks.append(lattice(grid, "tap", step.rows, step.cols))
            if step.chosen is not None and not hide:
                frame.marks.append(box(grid, "accent", step.rows[step.chosen[0]],
                                       step.cols[step.chosen[1]]))
            if self.products:
                products = self.products[c]
                rows, cols = step.products[c].shape
                frame.marks.append(box(products, "anchor", 0, 0, rows - 1, cols - 1))
                frame.links.append((window, len(frame.marks) - 1))
                if current is not None and c == 0:
                    frame.links.append((len(frame.marks) - 1, current))
                if not hide:
                    frame.cells[products] = grid_cells(step.products[c],
                                                       zrange=self.product_range)
            elif current is not None:
                frame.links.append((window, current))
        if hide and self.output is not None:
            out = grid_cells(trace.output, zrange=self.output_range)
            out["fill"][index], out["ink"][index], out["text"][index] = (HIDDEN_FILL,
                                                                          DARK_TEXT, "?")
            frame.cells[self.output] = out
        return frame


def _sum_html(trace: StepTrace, step: Step) -> str:
    return f"cell ({step.cell[0]}, {step.cell[1]}): " + "<br>".join(written_sum(trace, step))


MANY_CHANNELS = 3  # more input channels than this and the board no longer fits one screen


def _look(trace: StepTrace) -> dict:
    """How the board is shown: its written sum is the caption (class ``written-sum``). A
    board of many input channels (a trained network's layer) gives every channel a row a
    person can read, numbers in their cells, however tall that makes it, and writes the
    sum, a line per channel, at the size of the page's text."""
    if len(trace.padded) <= MANY_CHANNELS:
        return dict(caption_class="written-sum")
    return dict(caption_class="written-sum cnnviz-small", height=None, min_unit=40)


def step_animation(trace: StepTrace, *, start: int = 0, flipped: bool = False) -> Animation:
    """The whole trace as a browser animation, one frame per output cell (row by row),
    starting at frame ``start``."""
    board = _Board(trace, flipped, with_output=True)
    return Animation(board.grids, board.layout, [board.frame(k) for k in range(len(trace))],
                     start=start, **_look(trace))


def predict_animation(trace: StepTrace, index: int, *, hide: bool, show_output: bool = True,
                      flipped: bool = False) -> Animation:
    """Predict, then reveal: step ``index`` alone, its value and products blank while
    ``hide``, the output left out while its size is still to be guessed; the controls ask
    the server for another step, which decides what it may show."""
    board = _Board(trace, flipped, with_output=show_output)
    return Animation(board.grids, board.layout, [board.frame(index, hide=hide)],
                     server={"index": index, "count": len(trace), "locked": not show_output},
                     **_look(trace))
