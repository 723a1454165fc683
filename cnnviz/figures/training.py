"""Figures of a training run: curves (with learning-rate changes), filters, weight
histograms, gradient norms, confusion matrix, digits and the network's guesses, the network
whole with the connections of one neuron.

Small maps (filters, 28×28 digits, feature maps) are coloured in NumPy and enlarged by
repeating pixels, so a 3×3 kernel shows nine honest squares; a plotly figure then carries one
PNG instead of thousands of heatmap cells.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from cnnviz.figures import colours
from cnnviz.figures.style import (
    ACCENT,
    FONT_SIZE,
    HIGHLIGHT,
    fmt_number,
    layout,
)

TRAIN_COLOUR, VALIDATION_COLOUR = "#0072b2", HIGHLIGHT  # Okabe-Ito blue, and orange
RIGHT, WRONG = (0, 114, 178), (213, 94, 0)  # Okabe-Ito blue and vermillion: a guess's frame
EDGE_COLOUR = "rgba(94,60,153,0.45)"  # ACCENT, light: the connections of a neuron
LAYER_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
                 "#000000")  # Okabe-Ito, one per layer
GAP = 4  # pixels between tiles
HISTOGRAM_BINS = 40


def colour(values: np.ndarray, signed: bool | None = None, limit: float | None = None
           ) -> np.ndarray:
    """Values → (…, 3) uint8 through the app's one colour pipeline: diverging around 0 when
    ``signed`` (default: any value < 0), else cividis from the minimum to the maximum;
    ``limit`` fixes the scale's end."""
    v = np.asarray(values, dtype=np.float32)
    signed = bool((v < 0).any()) if signed is None else signed
    if signed:
        top = limit or max(float(np.abs(v).max()), 1e-12)
        return colours.colourise(v, (-top, top), "diverging")
    low = float(v.min())
    top = limit or float(v.max())
    return colours.colourise(v, (low, max(top, low + 1e-12)), "sequential")


def tiles(maps: np.ndarray, columns: int, scale: int, *, signed: bool | None = None,
          shared: bool = True) -> np.ndarray:
    """(N, H, W) maps as one RGB image, ``columns`` across, each pixel ``scale``×``scale``.
    ``shared``: one colour scale for all (compare maps), else each map its own."""
    maps = np.asarray(maps, dtype=np.float64)
    n, h, w = maps.shape
    rows = -(-n // columns)
    th, tw = h * scale + GAP, w * scale + GAP
    out = np.full((rows * th - GAP, columns * tw - GAP, 3), 255, np.uint8)
    signed = bool((maps < 0).any()) if signed is None else signed
    limit = (float(np.abs(maps).max()) if signed else float(maps.max())) if shared else None
    for i, m in enumerate(maps):
        rgb = colour(m, signed, limit).repeat(scale, 0).repeat(scale, 1)
        r, c = divmod(i, columns)
        out[r * th:r * th + h * scale, c * tw:c * tw + w * scale] = rgb
    return out


def digits(images: np.ndarray, columns: int = 10, scale: int = 2) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, 3) as one grid, as the data set stores them (MNIST:
    light digits on black), each pixel ``scale``×``scale``."""
    n, h, w = images.shape[:3]
    rows = -(-n // columns)
    th, tw = h * scale + GAP, w * scale + GAP
    out = np.full((rows * th - GAP, columns * tw - GAP) + images.shape[3:], 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * th:r * th + h * scale, c * tw:c * tw + w * scale] = img.repeat(scale, 0).repeat(
            scale, 1)
    return out


def colour_kernels(kernels: np.ndarray, columns: int, scale: int) -> np.ndarray:
    """Colour kernels (F, 3, k, k) as colour patches, as Krizhevsky et al. (2012, Figure 3)
    show AlexNet's first layer. Each kernel is scaled on its own, its lowest weight to 0 and
    its highest to 255 over all three channels, so a kernel that weights red more than blue
    looks red, and one that weights all three alike looks grey."""
    k = np.asarray(kernels, dtype=np.float64)
    low = k.min(axis=(1, 2, 3), keepdims=True)
    span = np.maximum(k.max(axis=(1, 2, 3), keepdims=True) - low, 1e-12)
    patches = np.round((k - low) / span * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return digits(patches, columns, scale)


def png_uri(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _smooth(values: list[float], window: int) -> np.ndarray:
    """Running mean over the last ``window`` steps (the first ones over what there is)."""
    v = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(1, len(v) + 1)
    return (cumulative[idx] - cumulative[np.maximum(idx - window, 0)]) / np.minimum(idx, window)


def learning_curves(steps: list[dict], epochs: list[dict], total_steps: int | None = None,
                    rate_changes: list[dict] = (), *, stacked: bool = False) -> go.Figure:
    """Loss and accuracy against steps: every batch (faint), its running mean, and each
    epoch's training and validation means; a dotted line where the learning rate changed
    (``{"step", "lr"}`` each). ``stacked``: accuracy below loss, for a phone's width."""
    rows, cols = (2, 1) if stacked else (1, 2)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=("Loss (cross-entropy)", "Accuracy"),
                        horizontal_spacing=0.1, vertical_spacing=0.2)

    def at(k: int) -> dict:  # the k-th plot's place (1: loss, 2: accuracy)
        return dict(row=k if stacked else 1, col=1 if stacked else k)

    if steps:
        x = [r["step"] for r in steps]
        window = max(len(steps) // 50, 5)
        for col, key in ((1, "loss"), (2, "accuracy")):
            values = [r[key] for r in steps]
            fig.add_trace(go.Scatter(x=x, y=values, mode="lines", name="each batch",
                                     line=dict(color=TRAIN_COLOUR, width=1), opacity=0.25,
                                     showlegend=col == 1, legendgroup="batch"), **at(col))
            fig.add_trace(go.Scatter(x=x, y=_smooth(values, window), mode="lines",
                                     name=f"training (mean of {window} batches)",
                                     line=dict(color=TRAIN_COLOUR, width=3), showlegend=col == 1,
                                     legendgroup="train"), **at(col))
    for col, key in ((1, "val_loss"), (2, "val_accuracy")):
        points = [r for r in epochs if key in r]
        if points:
            fig.add_trace(go.Scatter(x=[r["step"] for r in points], y=[r[key] for r in points],
                                     mode="lines+markers", name="validation (each epoch)",
                                     marker=dict(size=10, symbol="diamond"),
                                     line=dict(color=VALIDATION_COLOUR, width=3, dash="dot"),
                                     showlegend=col == 1, legendgroup="val"), **at(col))
    for change in rate_changes:
        for col in (1, 2):
            fig.add_vline(x=change["step"], line=dict(color=ACCENT, width=2, dash="dot"),
                          **at(col))
        fig.add_annotation(x=change["step"], y=1, yref="y domain", xref="x",
                           text=f"lr {change['lr']:g}", showarrow=False, xanchor="left",
                           yanchor="top", font=dict(size=FONT_SIZE - 6, color=ACCENT))
    fig.update_xaxes(title_text="step", range=[0, total_steps] if total_steps else None)
    fig.update_yaxes(rangemode="tozero", **at(1))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", **at(2))
    fig.update_layout(**layout(height=640 if stacked else 360,
                               legend=dict(orientation="h", y=-0.15 if stacked else -0.25),
                               margin=dict(l=10, r=10, t=40, b=10)))
    return fig


def agreement_figure(numpy_losses: list[float], torch_losses: list[float]) -> go.Figure:
    """Both networks' losses step by step: two curves that lie on top of each other."""
    steps = list(range(1, len(numpy_losses) + 1))
    fig = go.Figure([
        go.Scatter(x=steps, y=numpy_losses, name="NumPy from scratch", mode="lines+markers",
                   line=dict(color=TRAIN_COLOUR, width=6), marker=dict(size=14)),
        go.Scatter(x=steps, y=torch_losses, name="PyTorch twin", mode="lines+markers",
                   line=dict(color=HIGHLIGHT, width=2, dash="dash"),
                   marker=dict(size=7, symbol="x")),
    ])
    fig.update_layout(**layout(height=320, xaxis_title="step", yaxis_title="loss",
                               legend=dict(orientation="h", y=1.15)))
    return fig


def confusion_figure(matrix: np.ndarray, classes, *, normalised: bool) -> go.Figure:
    """Rows: the true class; columns: the network's answer; counts or row shares written in."""
    text = [[(f"{v:.0%}" if normalised else str(int(v))) if v else "" for v in row]
            for row in matrix]
    names = [str(c) for c in classes]
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, text=text, texttemplate="%{text}",
                               colorscale="Viridis", showscale=False,
                               hovertemplate="true %{y}, answered %{x}: %{text}<extra></extra>",
                               textfont=dict(size=FONT_SIZE - 4)))
    fig.update_layout(**layout(height=480, title="Row-normalised (share of each true class)"
                               if normalised else "Counts",
                               xaxis=dict(title="network's answer", side="bottom", type="category"),
                               yaxis=dict(title="true class", autorange="reversed",
                                          type="category")))
    return fig


def probabilities_figure(probabilities: np.ndarray, classes) -> go.Figure:
    """One digit's class probabilities as bars, the answer highlighted."""
    best = int(np.argmax(probabilities))
    fig = go.Figure(go.Bar(x=[str(c) for c in classes], y=probabilities,
                           marker_color=[HIGHLIGHT if i == best else TRAIN_COLOUR
                                         for i in range(len(classes))],
                           text=[fmt_number(100 * p, 0) + " %" if p >= 0.01 else ""
                                 for p in probabilities], textposition="outside"))
    fig.update_layout(**layout(height=260, yaxis=dict(range=[0, 1.15], visible=False),
                               xaxis=dict(type="category"), margin=dict(l=10, r=10, t=10, b=10)))
    return fig


OVERVIEW_TILE = 36  # px per channel tile in the network overview
OVERVIEW_MAX_CHANNELS = 16  # a column shows at most this many channels


def overview_figure(stages, selected: tuple[int, int] | None = None, classes=None
                    ) -> go.Figure:
    """Every layer's channels for one digit, as columns from the input (left) to the class
    scores (right), like CNN Explainer. Each tile can be clicked (its point carries
    ``customdata = [stage index, channel]``); ``selected`` is outlined, with lines to the
    tiles of the column before that it reads: all of them for a convolution or the class
    scores, its own channel for ReLU, pooling and batch norm."""
    shown = [(i, s) for i, s in enumerate(stages) if s.output.ndim == 3 or i == len(stages) - 1]
    column_w = OVERVIEW_TILE + 40
    rows = OVERVIEW_MAX_CHANNELS
    width, height = column_w * len(shown), (OVERVIEW_TILE + GAP) * rows
    canvas = np.full((height, width, 3), 255, np.uint8)
    xs, ys, data, hover, columns = [], [], [], [], []
    for col, (index, stage) in enumerate(shown):
        maps = stage.output if stage.output.ndim == 3 else stage.output[:, None, None]
        maps = maps[:rows]
        limit = float(np.abs(maps).max()) or 1.0
        signed = bool((maps < 0).any())
        for ch, m in enumerate(maps):
            rgb = np.asarray(Image.fromarray(colour(m, signed, limit)).resize(
                (OVERVIEW_TILE, OVERVIEW_TILE), Image.Resampling.NEAREST))
            y0, x0 = ch * (OVERVIEW_TILE + GAP), col * column_w + 12
            canvas[y0:y0 + OVERVIEW_TILE, x0:x0 + OVERVIEW_TILE] = rgb
            xs.append(x0 + OVERVIEW_TILE / 2)
            ys.append(y0 + OVERVIEW_TILE / 2)
            data.append([index, ch])
            columns.append(col)
            value = (f" = {fmt_number(float(m[0, 0]), 2)}" if m.size == 1 else "")
            hover.append(f"{stage.name} ({stage.kind}) · channel {ch}{value}")
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", customdata=data, hovertext=hover,
                               hoverinfo="text", marker=dict(size=OVERVIEW_TILE - 4,
                                                             symbol="square",
                                                             color="rgba(0,0,0,0.01)")))
    fig.add_layout_image(source=png_uri(canvas), x=0, y=0, sizex=width, sizey=height,
                         xref="x", yref="y", layer="below", sizing="stretch")
    keys = [tuple(d) for d in data]
    if selected is not None and tuple(selected) in keys:
        k = keys.index(tuple(selected))
        half = OVERVIEW_TILE / 2 + 2
        fig.add_shape(type="rect", x0=xs[k] - half, x1=xs[k] + half, y0=ys[k] - half,
                      y1=ys[k] + half, line=dict(color=ACCENT, width=4))
        whole = stages[selected[0]].kind in ("conv", "dense") or columns[k] == len(shown) - 1
        ex, ey = [], []
        for j in range(len(data)):
            if columns[j] == columns[k] - 1 and (whole or data[j][1] == selected[1]):
                ex += [xs[j] + OVERVIEW_TILE / 2, xs[k] - half, None]
                ey += [ys[j], ys[k], None]
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", hoverinfo="skip",
                                 showlegend=False, line=dict(color=EDGE_COLOUR, width=1.5)))
    fig.update_xaxes(range=[0, width], visible=False, fixedrange=True,
                     tickvals=[col * column_w + column_w / 2 for col in range(len(shown))])
    fig.update_yaxes(range=[height, -30], visible=False, fixedrange=True, scaleanchor="x")
    for col, (_, stage) in enumerate(shown):
        fig.add_annotation(x=col * column_w + column_w / 2, y=-15, text=stage.name,
                           showarrow=False, textangle=-30, font=dict(size=FONT_SIZE - 6))
    if classes is not None:  # the last column holds the class scores: name them
        x_last = (len(shown) - 1) * column_w + 12 + OVERVIEW_TILE + 4
        for k, name in enumerate(list(classes)[:rows]):
            fig.add_annotation(x=x_last, y=k * (OVERVIEW_TILE + GAP) + OVERVIEW_TILE / 2,
                               text=str(name), showarrow=False, xanchor="left",
                               font=dict(size=FONT_SIZE - 6))
    fig.update_layout(**layout(height=height + 60, width=max(width, 400),
                               margin=dict(l=0, r=0, t=20, b=0), clickmode="event+select",
                               dragmode=False))
    return fig


def weight_histograms(layers: list[tuple[str, np.ndarray]]) -> go.Figure:
    """One histogram per layer of its weights, side by side (each on its own range, centred
    on 0), so a student sees them spread or shrink as training goes on."""
    fig = make_subplots(rows=1, cols=max(len(layers), 1), subplot_titles=[n for n, _ in layers],
                        horizontal_spacing=0.04)
    for col, ((name, weights), colour) in enumerate(zip(layers, LAYER_COLOURS * 4), start=1):
        top = float(np.abs(weights).max()) or 1.0
        counts, edges = np.histogram(weights, bins=HISTOGRAM_BINS, range=(-top, top))
        fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=edges[1] - edges[0],
                             marker_color=colour, name=name, showlegend=False,
                             hovertemplate="%{x:.3f}: %{y} weights<extra>" + name
                             + "</extra>"), 1, col)
        fig.update_xaxes(range=[-top, top], nticks=3, row=1, col=col)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=FONT_SIZE - 4)
    fig.update_layout(**layout(height=240, bargap=0, margin=dict(l=10, r=10, t=40, b=10)))
    return fig


def gradient_norms_figure(steps: list[dict]) -> go.Figure:
    """Every layer's gradient norm at each step (``record["grad_norms"]``) on one log axis:
    the layers' gradients vanishing or exploding relative to each other, as it happens."""
    records = [r for r in steps if r.get("grad_norms")]
    fig = go.Figure()
    names = list(records[-1]["grad_norms"]) if records else []
    for name, colour in zip(names, LAYER_COLOURS * 4):
        points = [(r["step"], r["grad_norms"][name]) for r in records
                  if r["grad_norms"].get(name, 0) > 0]
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points],
                                 mode="lines", name=name, line=dict(color=colour, width=2)))
    fig.update_layout(**layout(height=320, xaxis_title="step",
                               yaxis=dict(type="log", title="gradient norm ‖∂L/∂θ‖"),
                               legend=dict(orientation="h", y=-0.3),
                               margin=dict(l=10, r=10, t=20, b=10)))
    return fig


def guessed_digits(images: np.ndarray, guesses: np.ndarray, labels: np.ndarray,
                   scale: int = 3) -> list[np.ndarray]:
    """Each digit (uint8, H × W) enlarged, framed in blue when the guess is right and in
    vermillion when it is wrong."""
    out = []
    for img, guess, label in zip(images, guesses, labels):
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
        rgb = rgb.repeat(scale, 0).repeat(scale, 1)
        out.append(np.pad(rgb, ((4, 4), (4, 4), (0, 0)), constant_values=0))
        out[-1][:4], out[-1][-4:], out[-1][:, :4], out[-1][:, -4:] = (
            (RIGHT if guess == label else WRONG),) * 4
    return out
