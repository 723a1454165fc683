"""Figures of layer stacks: how far one output sees, layer by layer (an animation over the
chosen layer's outputs, played in the browser), and why stacked 3×3 kernels beat one large
kernel."""

import math

import plotly.graph_objects as go

from cnnviz import arithmetic
from cnnviz.arithmetic.stacks import Footprint, StackTrace
from cnnviz.figures.animation import Animation, Frame, Grid, lattice
from cnnviz.figures.style import ACCENT, HIGHLIGHT, layout
from cnnviz.formatting import shape_text

MAP_FILL = "#deebf7"
GRID_LINES = 32  # draw cell borders on maps at most this many cells wide


MAP_UNITS = 6  # every map drawn the same width, in layout units, whatever its resolution
MAX_POSITIONS = 1024  # a larger layer is stepped through every k-th row and column


def footprint_positions(h: int, w: int) -> tuple[list[tuple[int, int]], int]:
    """The output positions an animation of an h × w layer steps through, row by row, and
    the stride k between them: every position up to ``MAX_POSITIONS``, else every k-th row
    and column."""
    k = max(1, math.ceil(math.sqrt(h * w / MAX_POSITIONS)))
    return [(r, c) for r in range(0, h, k) for c in range(0, w, k)], k


def footprint_animation(result: StackTrace, maps: list[int],
                        seen: list[list[Footprint | None]], positions: list[tuple[int, int]],
                        captions: list[str], *, start: int = 0) -> Animation:
    """One panel per feature map, the input (map 0) and the outputs of rows ``maps``
    (1-based row indices, the chosen layer last), all drawn the same width; one frame per
    output position of the chosen layer, with what it depends on filled in on every map
    (``seen[k]``: the footprints of ``positions[k]``, input first) and the position itself
    in the accent colour."""
    shapes = [result.input_shape] + [result.rows[i - 1].out_shape for i in maps]
    names = ["input"] + [f"layer {i}" for i in maps]  # numbered as in the table
    grids = [Grid(f"{name} · {shape_text(shape[1:])}", shape[1], shape[2], background=MAP_FILL,
                  lines=max(shape[1:]) <= GRID_LINES, units=MAP_UNITS)
             for name, shape in zip(names, shapes)]
    frames = []
    for parts, (row, col), caption in zip(seen, positions, captions):
        marks = [lattice(g, "target" if g == len(grids) - 1 else "area", *part)
                 for g, part in enumerate(parts) if part is not None]
        frames.append(Frame(marks=marks, caption=caption,
                            params={"rf_row": row, "rf_col": col}))
    layout = [list(range(k, min(k + 4, len(grids)))) for k in range(0, len(grids), 4)]
    return Animation(grids, layout, frames, start=start, label="Position",
                     caption_class="cnnviz-note", min_unit=16, max_unit=40, height=0.6)


def growth_figure(result: StackTrace) -> go.Figure:
    """Receptive field and jump after each layer, as long as outputs have a position. Layers
    are numbered along the axis as in the table (their names in the hover): numbers never
    overlap, however narrow the screen."""
    rows = [row for row in result.rows if row.rf is not None]
    numbers = [row.index for row in rows]
    names = [f"{row.index}: {row.layer.label()}" for row in rows]
    fig = go.Figure([
        go.Scatter(x=numbers, y=[row.rf for row in rows], name="receptive field (pixels)",
                   mode="lines+markers", line=dict(color=HIGHLIGHT, width=4, shape="hv"),
                   marker=dict(size=9), customdata=names,
                   hovertemplate="%{customdata}: %{y} pixels<extra></extra>"),
        go.Scatter(x=numbers, y=[row.jump for row in rows], name="jump (pixels between outputs)",
                   mode="lines+markers", line=dict(color=ACCENT, width=3, dash="dot", shape="hv"),
                   customdata=names, hovertemplate="%{customdata}: jump %{y}<extra></extra>"),
    ])
    fig.update_layout(**layout(
        title="How far one output sees", height=460,
        xaxis=dict(title="layer (as in the table)", tickmode="array",
                   tickvals=numbers, automargin=True),
        yaxis=dict(title="input pixels", rangemode="tozero"), **LEGEND_BELOW))
    return fig


# A legend under the plot, in rows that wrap on a narrow screen, clear of the title above.
LEGEND_BELOW = dict(legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0),
                    margin=dict(l=10, r=10, t=60, b=110))


def stacked_kernels_figure(channels: int, depth: int = 4) -> go.Figure:
    """n stacked 3×3 convolutions against the single (2n + 1)×(2n + 1) convolution with the
    same receptive field, C channels in and out, weights only: 9n·C² against (2n + 1)²·C²."""
    depths = range(1, depth + 1)
    field = [arithmetic.receptive_field([(3, 1)] * n)[-1][0] for n in depths]
    stacked = [n * arithmetic.conv_params(channels, channels, 3, bias=False) for n in depths]
    single = [arithmetic.conv_params(channels, channels, r, bias=False) for r in field]
    names = [f"{r}×{r}" for r in field]
    fig = go.Figure([
        go.Bar(x=names, y=stacked, name="stack of 3×3 convolutions", marker_color=HIGHLIGHT,
               text=[f"{9 * n}C²" for n in depths], textposition="outside"),
        go.Bar(x=names, y=single, name="one large convolution", marker_color=ACCENT,
               text=[f"{r * r}C²" for r in field], textposition="outside"),
    ])
    fig.update_layout(**layout(
        title=f"Same field, fewer weights (C = {channels})", barmode="group",
        height=460, xaxis=dict(title="receptive field"),
        yaxis=dict(title="weights", rangemode="tozero"), **LEGEND_BELOW))
    return fig
