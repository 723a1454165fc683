"""Figures of layer stacks: how far one output sees, layer by layer, and why stacked 3×3
kernels beat one large kernel."""

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz import arithmetic
from cnnviz.arithmetic.stacks import Footprint, StackTrace
from cnnviz.figures.style import ACCENT, FONT_SIZE, HIGHLIGHT, layout
from cnnviz.formatting import shape_text

MAP_FILL = "#deebf7"
GRID_LINES = 32  # draw cell borders on maps at most this many cells wide


def _cell_lines(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row and column border of an h × w grid as one NaN-separated polyline."""
    xs, ys = [], []
    for r in range(h + 1):
        xs += [-0.5, w - 0.5, np.nan]
        ys += [r - 0.5, r - 0.5, np.nan]
    for c in range(w + 1):
        xs += [c - 0.5, c - 0.5, np.nan]
        ys += [-0.5, h - 0.5, np.nan]
    return np.array(xs), np.array(ys)


def _span_text(positions) -> str:
    """"7" for 7 contiguous positions, "7 of 13" when gaps leave some out."""
    width = positions[-1] - positions[0] + 1
    return str(width) if len(positions) == width else f"{len(positions)} of {width}"


def footprint_figure(result: StackTrace, maps: list[int], seen: list[Footprint | None],
                     columns: int = 4) -> go.Figure:
    """One panel per feature map: the input (map 0) and the outputs of rows ``maps`` (1-based
    row indices), each with the positions the chosen output depends on filled in."""
    shapes = [result.input_shape] + [result.rows[i - 1].out_shape for i in maps]
    names = ["input"] + [f"layer {i}" for i in maps]  # numbered as in the table
    cols = min(columns, len(shapes))
    rows = math.ceil(len(shapes) / cols)
    titles = []
    for name, shape, part in zip(names, shapes, seen):
        extent = ("nothing" if part is None else
                  f"{_span_text(part[0])}×{_span_text(part[1])}")
        titles.append(f"{name} · {shape_text(shape[1:])}<br>sees {extent}")
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.04, vertical_spacing=0.12 / rows + 0.04)
    for k, (shape, part) in enumerate(zip(shapes, seen)):
        _, h, w = shape
        row, col = divmod(k, cols)
        mask = np.zeros((h, w), np.uint8)
        if part is not None:
            mask[np.ix_(part[0], part[1])] = 1
        colour = ACCENT if k == len(shapes) - 1 else HIGHLIGHT
        fig.add_trace(go.Heatmap(z=mask, zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                                 colorscale=[[0, MAP_FILL], [1, colour]]),
                      row=row + 1, col=col + 1)
        if max(h, w) <= GRID_LINES:
            x, y = _cell_lines(h, w)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", hoverinfo="skip", showlegend=False,
                                     line=dict(color="rgba(0,0,0,0.25)", width=1)),
                          row=row + 1, col=col + 1)
        axis = dict(showgrid=False, zeroline=False, showticklabels=False, fixedrange=True)
        fig.update_xaxes(axis, range=[-0.5, w - 0.5], constrain="domain", row=row + 1,
                         col=col + 1)
        fig.update_yaxes(axis, range=[h - 0.5, -0.5], constrain="domain", row=row + 1,
                         col=col + 1, scaleanchor="x" if k == 0 else f"x{k + 1}")
    fig.update_annotations(font_size=FONT_SIZE - 4)
    fig.update_layout(**layout(height=300 * rows + 40, showlegend=False, dragmode=False,
                               margin=dict(l=10, r=10, t=70, b=10)))
    return fig


def growth_figure(result: StackTrace) -> go.Figure:
    """Receptive field and jump after each layer, as long as outputs have a position."""
    rows = [row for row in result.rows if row.rf is not None]
    labels = [f"{row.index}: {row.layer.label()}" for row in rows]
    fig = go.Figure([
        go.Scatter(x=labels, y=[row.rf for row in rows], name="receptive field (pixels)",
                   mode="lines+markers", line=dict(color=HIGHLIGHT, width=4, shape="hv"),
                   marker=dict(size=9)),
        go.Scatter(x=labels, y=[row.jump for row in rows], name="jump (pixels between outputs)",
                   mode="lines+markers", line=dict(color=ACCENT, width=3, dash="dot", shape="hv")),
    ])
    fig.update_layout(**layout(
        title="How far one output sees, layer by layer", height=460,
        xaxis=dict(tickangle=-40, automargin=True),
        yaxis=dict(title="input pixels", rangemode="tozero"),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        margin=dict(l=10, r=10, t=90, b=10)))
    return fig


def stacked_kernels_figure(channels: int, depth: int = 4) -> go.Figure:
    """n stacked 3×3 convolutions against the single (2n + 1)×(2n + 1) convolution with the
    same receptive field, C channels in and out, weights only: 9n·C² against (2n + 1)²·C²."""
    depths = range(1, depth + 1)
    field = [arithmetic.receptive_field([(3, 1)] * n)[-1][0] for n in depths]
    stacked = [n * arithmetic.conv_params(channels, channels, 3, bias=False) for n in depths]
    single = [arithmetic.conv_params(channels, channels, r, bias=False) for r in field]
    names = [f"{r}×{r} field" for r in field]
    fig = go.Figure([
        go.Bar(x=names, y=stacked, name="stack of 3×3 convolutions", marker_color=HIGHLIGHT,
               text=[f"{9 * n}C²" for n in depths], textposition="outside"),
        go.Bar(x=names, y=single, name="one large convolution", marker_color=ACCENT,
               text=[f"{r * r}C²" for r in field], textposition="outside"),
    ])
    fig.update_layout(**layout(
        title=f"Same receptive field, fewer weights (C = {channels})", barmode="group",
        height=460, yaxis=dict(title="weights", rangemode="tozero"),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        margin=dict(l=10, r=10, t=90, b=10)))
    return fig
