"""Figures of small numeric grids with every number written in its cell: an input with its
padding and a sliding window, a kernel, the products, an output filling up cell by cell.

``grids_figure`` lays out several grids in one figure (cells the same size everywhere) and
``grid_figure`` draws one; both are general (values, which cells are padding, which are
highlighted, which are still hidden), so any page that shows numbers on a grid can reuse them.
"""

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures.colours import (
    colour_limits,
    palette,
    scale_stops,
    shade,
    signed_scale,
)
from cnnviz.figures.style import (
    ACCENT,
    CELL_FONT_SIZE,
    FONT_SIZE,
    HIGHLIGHT,
    MINUS,
    PADDING_FILL,
    fmt_number,
    layout,
)
from cnnviz.ops.steps import StepTrace, channel_names

DARK_TEXT, LIGHT_TEXT = "#111111", "#ffffff"
TITLE_CELLS = 0.8  # room above each grid for its title, in cells
GAP_CELLS = 1.5  # space between grids, in cells


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
    it: dark on light cells, white on dark ones (relative luminance, ITU-R BT.709)."""
    filled = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    rgb = palette(scale)[shade(filled, (low, high))].astype(float)
    luminance = (rgb @ np.array([0.2126, 0.7152, 0.0722])) / 255
    text = np.where(luminance > 0.5, DARK_TEXT, LIGHT_TEXT).reshape(values.shape)
    return rgb, text


def _cell_box(r: float, c: float, colour: str, width: float, dash: str = "solid", fill=None,
              layer: str = "above", inset: float = 0.0) -> dict:
    half = 0.5 - inset
    return dict(type="rect", x0=c - half, x1=c + half, y0=r - half, y1=r + half, layer=layer,
                line=dict(color=colour, width=width, dash=dash),
                fillcolor=fill or "rgba(0,0,0,0)")


@dataclass
class Panel:
    """One grid of numbers on a board.

    values: 2-D array. The optional boolean masks of the same shape mark ``padding`` (drawn
    grey with a dotted border, so it reads as "not part of the input"), ``highlight`` (thick
    orange outline: the window, the current cell), ``accent`` (purple outline inside it: e.g.
    the maximum of a pooling window) and ``hidden`` (no colour, no number: not computed yet).
    ``text`` overrides what is written in each cell, hidden or not; ``zrange`` fixes the colour
    range (so colours do not shift while an output fills up). A ``clickable`` panel gets one
    invisible marker per cell (see ``grids_figure``).
    """

    values: np.ndarray
    title: str = ""
    padding: np.ndarray | None = None
    highlight: np.ndarray | None = None
    accent: np.ndarray | None = None
    hidden: np.ndarray | None = None
    text: np.ndarray | None = None
    zrange: tuple[float, float] | None = None
    clickable: bool = False


def _labels(panel: Panel) -> np.ndarray:
    """What each cell of ``panel`` shows: its ``text`` where given (even on a hidden cell, e.g.
    a '?'), else its value, and nothing on a hidden cell."""
    if panel.text is not None:
        return np.asarray(panel.text, dtype=object)
    labels = np.vectorize(cell_text, otypes=[object])(np.asarray(panel.values, dtype=float))
    return labels if panel.hidden is None else np.where(panel.hidden, "", labels)


def _draw_panel(fig: go.Figure, panel: Panel, dx: float, dy: float, font: int) -> list[dict]:
    """Add one panel's cells and numbers at offset (dx, dy) cells; return its shapes."""
    values = np.asarray(panel.values, dtype=float)
    none = np.zeros(values.shape, dtype=bool)
    padding = none if panel.padding is None else np.asarray(panel.padding, dtype=bool)
    hidden = none if panel.hidden is None else np.asarray(panel.hidden, dtype=bool)
    shown = np.where(padding | hidden, np.nan, values)
    scale, low, high = colour_scale(shown, panel.zrange)
    labels = _labels(panel)
    colours = np.where(padding | hidden, DARK_TEXT, cell_colours(shown, scale, low, high)[1])
    r, c = np.indices(values.shape)
    fig.add_trace(go.Heatmap(z=shown, x0=dx, dx=1, y0=dy, dy=1, zmin=low, zmax=high,
                             colorscale=scale_stops(scale), showscale=False, hoverinfo="skip", xgap=2,
                             ygap=2))
    fig.add_trace(go.Scatter(x=(c + dx).ravel(), y=(r + dy).ravel(), mode="text",
                             text=labels.ravel(), hoverinfo="skip", showlegend=False,
                             textfont=dict(size=font, color=colours.ravel().tolist())))
    fig.add_annotation(x=dx - 0.5, y=dy - 0.6, text=f"<b>{panel.title}</b>", showarrow=False,
                       xanchor="left", yanchor="bottom", font=dict(size=FONT_SIZE, color=DARK_TEXT))
    shapes = [_cell_box(i + dy, j + dx, "#7f7f7f", 1, "dot", PADDING_FILL, "below")
              for i, j in zip(*np.nonzero(padding))]
    shapes += [_cell_box(i + dy, j + dx, "#bdbdbd", 1, "dot") for i, j in zip(*np.nonzero(hidden))]
    for mask, colour, inset in ((panel.highlight, HIGHLIGHT, 0.0), (panel.accent, ACCENT, 0.12)):
        if mask is not None:  # the accent sits inside the highlight, so both stay visible
            shapes += [_cell_box(i + dy, j + dx, colour, 5, inset=inset)
                       for i, j in zip(*np.nonzero(mask))]
    return shapes


def grids_figure(rows: list[list[Panel]], cell_px: int = 64) -> go.Figure:
    """Panels side by side (one list per row of panels) in one figure, every cell the same
    size, so an input, its kernel and the output line up and scale together with the page.

    ``cell_px`` is the height of one cell; the figure takes its container's width and the
    cells stay square. The markers of a ``clickable`` panel are the figure's last trace, one
    per cell in reading order: a click selects the point whose index is row · cols + col.
    """
    fig, shapes, clickable = go.Figure(), [], None
    longest = max(len(str(t)) for line in rows for p in line for t in _labels(p).ravel())
    font = max(10, min(CELL_FONT_SIZE, int(cell_px / (0.62 * max(longest, 1) + 0.5))))
    top, width = 0.0, 0.0
    for line in rows:
        left = 0.0
        for panel in line:
            shapes += _draw_panel(fig, panel, left, top + TITLE_CELLS, font)
            if panel.clickable:
                clickable = (panel, left, top + TITLE_CELLS)
            # A title longer than its grid pushes the next grid along (bold ≈ 0.6 em a letter).
            title_cells = len(panel.title) * 0.6 * FONT_SIZE / cell_px
            left += max(np.shape(panel.values)[1], title_cells) + GAP_CELLS
        width = max(width, left - GAP_CELLS)
        top += TITLE_CELLS + max(np.shape(p.values)[0] for p in line) + GAP_CELLS
    height = top - GAP_CELLS
    if clickable is not None:
        panel, dx, dy = clickable
        r, c = np.indices(np.shape(panel.values))
        fig.add_trace(go.Scatter(
            x=(c + dx).ravel(), y=(r + dy).ravel(), mode="markers", showlegend=False,
            marker=dict(symbol="square", size=cell_px * 0.9, opacity=0.01, color="#000000"),
            customdata=np.stack([r.ravel(), c.ravel()], axis=1),
            hovertemplate="row %{customdata[0]}, column %{customdata[1]}<extra></extra>"))
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", fixedrange=True)
    fig.update_layout(**layout(
        shapes=shapes, height=int(height * cell_px) + 20, margin=dict(l=10, r=10, t=10, b=10),
        dragmode=False, clickmode="event+select" if clickable else "none",
        # Square cells; where the container is narrow, the board shrinks towards the top left.
        xaxis=dict(axis, range=[-0.55, width - 0.45], constrain="domain", constraintoward="left"),
        yaxis=dict(axis, range=[height - 0.45, -0.55], scaleanchor="x", constrain="domain",
                   constraintoward="top"),
    ))
    return fig


def grid_figure(values, *, cell_px: int = 64, **panel) -> go.Figure:
    """One grid of numbers, each written in its coloured cell; the keywords are ``Panel``'s."""
    return grids_figure([[Panel(values, **panel)]], cell_px)


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


def step_board(trace: StepTrace, index: int, *, hide: bool = False,
               flipped: bool = False) -> go.Figure:
    """Step ``index`` of a trace in one figure, one row per channel with every cell the same
    size: the input with the window (and max pooling's choice), the kernel, the products, and
    the output filled up to this step. With ``hide`` (predict, then reveal) the products and
    the current output cell stay blank and the output reads "?" there; the output's cells are
    the figure's last trace, so a click on one can select its step."""
    step = trace.step(index)
    window = np.zeros(trace.is_padding.shape, dtype=bool)
    window[np.ix_(step.rows, step.cols)] = True
    chosen = None
    if step.chosen is not None:
        chosen = np.zeros_like(window)
        chosen[step.rows[step.chosen[0]], step.cols[step.chosen[1]]] = True
    out = trace.output
    order = np.arange(out.size).reshape(out.shape)
    current = order == index
    done = np.vectorize(fmt_number, otypes=[object])(out)
    output = Panel(
        out, f"Output {out.shape[0]} × {out.shape[1]}", highlight=current,
        hidden=(order > index) | (current & hide), clickable=True,
        text=np.where(current, "?", np.where(order < index, done, "")) if hide else None,
        zrange=(float(out.min()), float(out.max())) if out.max() > out.min() else None)
    names = channel_names(len(trace.padded))
    rows = []
    for c, name in enumerate(names):
        label = f" {name}" if len(names) > 1 else ""
        row = [Panel(trace.padded[c], f"Input{label}", padding=trace.is_padding,
                     highlight=window, accent=None if hide else chosen)]
        if trace.kernel is not None:
            row += [Panel(trace.kernel[c], f"Kernel{label}{' (flipped)' if flipped else ''}"),
                    Panel(step.products[c], f"Products{label}",
                          hidden=np.full(step.products[c].shape, hide))]
        rows.append(row + [output] if c == 0 else row)
    cells = max(sum(np.shape(p.values)[1] + GAP_CELLS for p in row) for row in rows)
    # Cells as large as fit in about 1000 pixels: readable from the back of a classroom.
    return grids_figure(rows, cell_px=int(np.clip(1000 / cells, 26, 80)))
