"""The convolution-arithmetic diagram (after Dumoulin & Visin, 2016): the grid the kernel
slides over on the left, the output on the right, the kernel's taps and the output cell they
produce highlighted, one animation frame per position.

Both grids and the animation live in one figure so the play button moves them together;
``grids.grid_figure`` draws one grid of numbers per figure, which does not allow that.
"""

import numpy as np
import plotly.graph_objects as go

from cnnviz.arithmetic.sliding import INPUT, INSERTED, PADDING, UNCOVERED, SlideGrid
from cnnviz.figures.style import (
    CELL_FONT_SIZE,
    FONT_SIZE,
    HIGHLIGHT,
    PADDING_FILL,
    layout,
)

FILLS = {INPUT: "#9ecae1", PADDING: PADDING_FILL, INSERTED: "#ffffff", UNCOVERED: "#525252"}
MARKS = {INPUT: "", PADDING: "0", INSERTED: "0", UNCOVERED: "×"}
OUTPUT_FILL = "#cbc9e2"
GAP = 2  # cells between the two grids
MAX_FRAMES = 256  # beyond this the animation skips positions; the page's slider reaches all


_CORNERS_X = np.array([-0.5, 0.5, 0.5, -0.5, -0.5, np.nan])
_CORNERS_Y = np.array([-0.5, -0.5, 0.5, 0.5, -0.5, np.nan])


def _squares(cells, dx: float = 0.0, dy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Outline coordinates of unit squares centred on (row, col) cells, NaN between them, so
    one filled scatter trace draws them all (NumPy arrays keep plotly's validation cheap)."""
    rows, cols = np.asarray(cells, dtype=np.float32).T
    return ((cols[:, None] + dx + _CORNERS_X).ravel().astype(np.float32),
            (rows[:, None] + dy + _CORNERS_Y).ravel().astype(np.float32))


def _grid_trace(categories: np.ndarray, dx: float, dy: float, fill_of: dict, marks: bool):
    """A heatmap of categories with a discrete colour per category, cells separated by gaps."""
    present = sorted(fill_of)
    index = {category: k for k, category in enumerate(present)}
    z = np.vectorize(index.get)(categories)
    steps = len(present)
    scale = [[k / steps + e / steps, fill_of[category]]
             for k, category in enumerate(present) for e in (0, 1)]
    text = np.vectorize(lambda c: MARKS.get(c, ""))(categories) if marks else None
    rows, cols = categories.shape
    return go.Heatmap(
        z=z, x=np.arange(cols) + dx, y=np.arange(rows) + dy, zmin=-0.5, zmax=steps - 0.5,
        colorscale=scale, showscale=False, xgap=1, ygap=1, hoverinfo="skip",
        text=text, texttemplate="%{text}" if marks else None,
        textfont=dict(size=CELL_FONT_SIZE - 6))  # plotly picks a legible colour per cell


def _highlights(grid: SlideGrid, position: int, dx: float, dy: float) -> list[dict]:
    """The kernel's taps and the output cell at ``position``, as two scatter-trace updates."""
    taps_x, taps_y = _squares(grid.taps(position))
    cell_x, cell_y = _squares([divmod(position, grid.out)], dx, dy)
    return [dict(x=taps_x, y=taps_y), dict(x=cell_x, y=cell_y)]


def stride_diagram(grid: SlideGrid, position: int = 0, *, input_title: str = "Input",
                   output_title: str = "Output", cell_px: int = 34) -> go.Figure:
    """Input grid (padding grey, inserted zeros white, never-covered pixels dark with ×),
    output grid, and the kernel at output ``position`` (row-major), with a play button that
    slides it over every position."""
    m, out = grid.cells.shape[0], grid.out
    dx, dy = m + GAP, (m - out) / 2
    small = m <= 24
    fig = go.Figure([
        _grid_trace(grid.cells, 0, 0, {c: FILLS[c] for c in np.unique(grid.cells)}, small),
        _grid_trace(np.zeros((out, out), int), dx, dy, {0: OUTPUT_FILL}, False),
    ])
    for update, opacity in zip(_highlights(grid, position, dx, dy), (0.55, 0.9)):
        fig.add_trace(go.Scatter(**update, mode="lines", fill="toself", fillcolor=HIGHLIGHT,
                                 opacity=opacity, line=dict(color=HIGHLIGHT, width=2),
                                 hoverinfo="skip", showlegend=False))
    inside = np.argwhere(grid.cells != PADDING)
    if len(inside):
        (r0, c0), (r1, c1) = inside.min(axis=0), inside.max(axis=0)
        fig.add_shape(type="rect", x0=c0 - 0.5, x1=c1 + 0.5, y0=r0 - 0.5, y1=r1 + 0.5,
                      line=dict(color="#08519c", width=3, dash="dash"))
    step = max(1, -(-out * out // MAX_FRAMES))
    fig.frames = [go.Frame(data=_highlights(grid, k, dx, dy), traces=[2, 3], name=str(k))
                  for k in range(0, out * out, step)]
    play = dict(label="▶ Play", method="animate", args=[None, dict(
        frame=dict(duration=500, redraw=True), transition=dict(duration=0), fromcurrent=True)])
    pause = dict(label="❚❚ Pause", method="animate", args=[[None], dict(
        frame=dict(duration=0, redraw=False), mode="immediate")])
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", fixedrange=True)
    width = m + GAP + out
    fig.update_layout(**layout(
        xaxis=dict(axis, range=[-0.5, width - 0.5], constrain="domain"),
        yaxis=dict(axis, range=[m - 0.5 + 1.2, -1.6], scaleanchor="x", constrain="domain"),
        height=min(max((m + 3) * cell_px, 320), 640) + 60, dragmode=False, showlegend=False,
        margin=dict(l=10, r=10, t=10, b=50),
        annotations=[
            dict(x=(m - 1) / 2, y=-1, text=input_title, showarrow=False, yanchor="bottom",
                 font=dict(size=FONT_SIZE)),
            dict(x=dx + (out - 1) / 2, y=dy - 1, text=output_title, showarrow=False,
                 yanchor="bottom", font=dict(size=FONT_SIZE)),
        ],
        updatemenus=[dict(type="buttons", direction="left", x=0, y=0, xanchor="left",
                          yanchor="top", pad=dict(t=10), buttons=[play, pause])],
    ))
    return fig
