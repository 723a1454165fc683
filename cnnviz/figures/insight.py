"""Figures of the "why convolution" and "what layers learn" pages: parameter counts on a log
scale, a stage's map beside the map it should equal after a shift, the prediction along a
diagonal shift, kernels as pictures, and a receptive field outlined on its photo."""

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from cnnviz.figures import colours
from cnnviz.figures.style import ACCENT, HIGHLIGHT, PADDING_FILL, fmt_number, layout

BAR_COLOURS = {"fully connected": "#b2182b", "locally connected": "#ef8a62",
               "convolution": ACCENT}


def megabytes(mb: float) -> str:
    """MB as people read them: 15,254 · 602 · 1.5 · 0.304."""
    return f"{mb:,.0f}" if mb >= 100 else fmt_number(mb, 1 if mb >= 1 else 3)


def parameter_bars(problem) -> go.Figure:
    """Parameters of the three layers (``insight.ParameterProblem``), log scale, each labelled
    with its name, count and float32 memory above its bar: a bar's length spans 1 to 10⁹ here,
    so text on the bar would run off a phone or sit on a colour it cannot be read on, and
    labels beside the axis would leave a phone no room for the bars. The bars start at 1 (the
    log axis has no 0)."""
    layers = [problem.fully_connected, problem.locally_connected, problem.convolution]
    top = np.log10(max(layer.params for layer in layers))
    fig = go.Figure(
        go.Bar(y=list(range(len(layers))), x=[layer.params - 1 for layer in layers], base=1,
               orientation="h", width=0.4,
               marker_color=[BAR_COLOURS[layer.name] for layer in layers],
               customdata=[[layer.name, layer.params] for layer in layers],
               hovertemplate="%{customdata[0]}: %{customdata[1]:,} parameters<extra></extra>"),
        layout(height=330, xaxis=dict(type="log", title="parameters (log scale)",
                                      range=[0, top * 1.02]),
               yaxis=dict(autorange="reversed", visible=False),
               margin=dict(l=10, r=10, t=10, b=10)))
    for row, layer in enumerate(layers):
        fig.add_annotation(x=0, xref="paper", xanchor="left", y=row - 0.22, yanchor="bottom",
                           showarrow=False, align="left",
                           text=f"<b>{layer.name}</b><br>{layer.params:,} · "
                                f"{megabytes(layer.megabytes)} MB")
    return fig


def map_picture(values: np.ndarray, limits: tuple[float, float], px: int = 160) -> np.ndarray:
    """A map coloured between ``limits`` and enlarged pixel for pixel to about ``px`` wide;
    NaN (where nothing can be compared) in the padding grey."""
    values = np.asarray(values, dtype=np.float32)
    pixels = colours.colourise(np.nan_to_num(values, nan=limits[0]), limits)
    pixels[np.isnan(values)] = tuple(int(PADDING_FILL[k:k + 2], 16) for k in (1, 3, 5))
    factor = max(1, px // values.shape[1])
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def shift_agreement(results) -> go.Figure:
    """Per stage: the correlation of the shifted photo's map with the photo's map shifted
    (``insight.StageShift``), bars coloured by whether the shift is a whole number of cells."""
    colour = ["#1b7837" if r.multiple else "#e66101" for r in results]
    text = [f"{r.correlation:.3f}" for r in results]
    return go.Figure(
        go.Bar(x=[r.stage for r in results], y=[r.correlation for r in results], text=text,
               marker_color=colour, textposition="auto",
               customdata=[[r.jump, f"{r.cells[1]:g}, {r.cells[0]:g}"] for r in results],
               hovertemplate="%{x}: r = %{y:.4f}<br>stride %{customdata[0]}, shift "
                             "(%{customdata[1]}) cells<extra></extra>"),
        layout(height=300, yaxis=dict(title="correlation", range=[min(0.0, *[
            r.correlation for r in results if np.isfinite(r.correlation)]), 1.02]),
               margin=dict(l=10, r=10, t=10, b=10)))


def diagonal_chart(predictions) -> go.Figure:
    """The top-1 probability for each diagonal shift, one colour (and legend entry) per
    class the network named."""
    figure = go.Figure(layout=layout(
        height=320, xaxis=dict(title="shift down and right (pixels)", dtick=4),
        yaxis=dict(title="top-1 probability", range=[0, 1.02]),
        legend=dict(orientation="h", y=-0.3), margin=dict(l=10, r=10, t=10, b=10)))
    for category in dict.fromkeys(p.category for p in predictions):
        mine = [p for p in predictions if p.category == category]
        figure.add_trace(go.Scatter(
            x=[p.shift for p in mine], y=[p.probability for p in mine], mode="markers",
            name=category, marker=dict(size=11),
            hovertemplate=f"{category}<br>shift %{{x}} px: %{{y:.1%}}<extra></extra>"))
    return figure


def kernel_picture(kernel: np.ndarray, px: int = 72) -> np.ndarray:
    """A 2-D kernel on the diverging scale centred on zero, or a (3, k, k) colour kernel as
    a colour patch (zero mid-grey), enlarged pixel for pixel to about ``px``."""
    kernel = np.asarray(kernel, dtype=np.float64)
    peak = float(np.abs(kernel).max()) or 1.0
    if kernel.ndim == 3:
        pixels = (np.transpose(kernel, (1, 2, 0)) / peak * 127.5 + 127.5).round().astype(np.uint8)
    else:
        pixels = colours.colourise(kernel, (-peak, peak), "diverging")
    factor = max(1, px // kernel.shape[-1])
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def with_window(photo: np.ndarray, window, width: int = 3) -> np.ndarray:
    """The photo with a receptive field (top, left, bottom, right) outlined in the highlight
    colour."""
    img = Image.fromarray(photo)
    top, left, bottom, right = window
    ImageDraw.Draw(img).rectangle([left, top, right - 1, bottom - 1], outline=HIGHLIGHT,
                                  width=width)
    return np.asarray(img)
