"""Figures of feature maps: a clickable grid of a layer's channels, one channel large, the same
channel laid over the photo, its histogram, the first layer's filters as colour patches, and a
strip of one map per stage.

Maps are coloured in NumPy and sent as one PNG per figure, not as plotly heatmaps: a grid of
64 maps of 112 × 112 would otherwise be 800,000 numbers of JSON, and a redraw must stay well
under a second. Each map is encoded at the size it is shown: larger maps are area-averaged
down to their tile, smaller ones enlarged by repeating pixels (a 7 × 7 map shows 49 honest
squares instead of a blur), and the PNG is compressed with zlib's run-length strategy, which
takes half the time of the default on maps and makes files no larger. Layers with negative
values (before an activation) use the diverging scale centred on zero; non-negative ones
(after a ReLU) the sequential scale.
"""

import base64
import html
import math
import zlib

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnnviz.figures import colours
from cnnviz.figures.colours import BACKGROUND, SHADES, colour_limits, colourise, shade
from cnnviz.figures.style import (
    ACCENT,
    DIVERGING,
    FONT_SIZE,
    HIGHLIGHT,
    SEQUENTIAL,
    fmt_number,
    layout,
    wrap,
)

GRID_WIDTH_PX = 520  # the channel grid's width, whatever the number of columns
GAP_PX = 6  # between tiles
LABEL_PX = 24  # the band under each tile that holds its channel number
AXIS = dict(visible=False, fixedrange=True)
GRID_LINES = "#e0e0e0"
HOVER_MARKER = "rgba(0,0,0,0.01)"  # invisible, but plotly still reports clicks on it



def _fit(pixels: np.ndarray, px: int) -> np.ndarray:
    """A map (palette indices or RGB) close to ``px`` wide: smaller ones repeat each pixel a
    whole number of times (at most ``px`` wide), larger ones are area-averaged down to
    exactly ``px`` (indices are linear in the value, so averaging them averages values)."""
    h, w = pixels.shape[:2]
    if w > px:
        return np.asarray(Image.fromarray(pixels).resize((px, max(1, round(h * px / w))),
                                                         Image.BOX))
    factor = px // w
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else pixels


def _png(pixels: np.ndarray, palette: np.ndarray | None = None) -> str:
    """A picture as a data URI that plotly draws as an image (fast compression: it is sent
    once and thrown away)."""
    data = colours.png_bytes(pixels, palette, compress_level=1, strategy=zlib.Z_RLE)
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _figure(traces: list, title: str, width: int | None, height: int, *, room: int = 0,
            **extra) -> go.Figure:
    """The figure in one constructor call, its traces given as dicts: plotly validates every
    property it is given, and this way it does so once (a trace object would be validated
    again inside the figure), which halves the time a redraw spends in plotly.

    Without plotly's default template: its defaults are two thirds of the time Streamlit
    takes to send such a figure and 6 kB of its JSON; the few that show (grid lines, a bold
    title as Streamlit's theme draws it) are set here instead. ``room`` leaves that many
    pixels between the title and the plot, for a label above it.
    """
    top = (10 + 34 * (title.count("<br>") + 1) if title else 10) + room
    return go.Figure(data=traces, layout=layout(
        title=f"<b>{title}</b>" if title else "", width=width, height=height + top + 10,
        margin=dict(l=10, r=10, t=top, b=10), template="none", **extra))


def _image_figure(pixels: np.ndarray, title: str, traces=(), *, width_px: int | None = None,
                  palette: np.ndarray | None = None, pad: int = 0, **extra) -> go.Figure:
    """A picture with pixel coordinates (x right, y down), drawn ``width_px`` wide (its own
    width by default), with ``traces`` on top and ``pad`` pixels of room around it (for an
    outline along its edge)."""
    h, w = pixels.shape[:2]
    width_px = width_px or w
    return _figure([dict(type="image", source=_png(pixels, palette), hoverinfo="skip"), *traces],
                   wrap(title, width_px), width_px + 20 + 2 * pad,
                   round(h * width_px / w) + 2 * pad,
                   xaxis=dict(AXIS, range=[-0.5 - pad, w - 0.5 + pad]),
                   yaxis=dict(AXIS, range=[h - 0.5 + pad, -0.5 - pad], scaleanchor="x"),
                   **extra)


def channel_grid(fmap: np.ndarray, channels, *, shared_scale: bool = True,
                 selected: int | None = None, columns: int | None = None,
                 width_px: int = GRID_WIDTH_PX, title: str = "") -> go.Figure:
    """Small maps of ``channels`` of a (C, H, W) layer, in the given order, each labelled
    with its channel number; the ``selected`` channel is outlined. A click on a map selects
    it as a plotly point whose ``customdata`` is the channel number.

    A shared scale (limits of the whole layer) shows which channels are strong; a per-channel
    scale shows the pattern inside weak channels too.
    """
    channels = [int(c) for c in channels]
    if not channels:
        raise ValueError("channel_grid needs at least one channel to show.")
    layer_limits = colour_limits(fmap)
    signed = layer_limits[0] < 0
    columns = columns or math.ceil(math.sqrt(len(channels)))
    rows = math.ceil(len(channels) / columns)
    tile_px = (width_px + GAP_PX) // columns - GAP_PX
    tiles = [_fit(shade(fmap[c], layer_limits if shared_scale else colour_limits(fmap[c])),
                  tile_px) for c in channels]
    th, tw = tiles[0].shape[:2]
    pitch_x, pitch_y = tw + GAP_PX, th + LABEL_PX + GAP_PX
    mosaic = np.full((rows * pitch_y, columns * pitch_x - GAP_PX), SHADES, np.uint8)
    centres_x, centres_y = [], []
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * pitch_y, (i % columns) * pitch_x
        mosaic[top:top + th, left:left + tw] = tile
        centres_x.append(left + tw / 2)
        centres_y.append(top + th / 2)
    scale = width_px / mosaic.shape[1]  # maps are enlarged a whole number of times: fill up
    targets = dict(  # one invisible square per map, to click
        type="scatter", x=centres_x, y=centres_y, customdata=channels, mode="markers",
        showlegend=False, marker=dict(symbol="square", size=tw * scale, color=HOVER_MARKER),
        hovertemplate="channel %{customdata}<extra>click to enlarge</extra>")
    # Each channel number in the band under its map, placed in the picture's own coordinates:
    # a label offset from its marker by pixels would drift onto the next row's maps wherever
    # the browser draws the figure smaller than it was made.
    labels = dict(
        type="scatter", x=centres_x, y=[y + th / 2 + LABEL_PX / 2 for y in centres_y],
        customdata=channels, mode="text", text=[str(c) for c in channels],
        textposition="middle center", textfont=dict(size=FONT_SIZE - 4), showlegend=False,
        hoverinfo="skip")
    outline = []
    if selected in channels:
        i = channels.index(selected)
        top, left = (i // columns) * pitch_y, (i % columns) * pitch_x
        outline.append(dict(type="rect", x0=left - 2.5, x1=left + tw + 1.5, y0=top - 2.5,
                            y1=top + th + 1.5, line=dict(color=HIGHLIGHT, width=4)))
    return _image_figure(mosaic, title, [targets, labels], width_px=width_px,
                         palette=colours.palette("diverging" if signed else "sequential"),
                         pad=4, shapes=outline, clickmode="event+select", dragmode=False)


def channel_view(channel: np.ndarray, title: str = "", *,
                 signed: bool | None = None) -> go.Figure:
    """One (H, W) map as a heatmap with its value under the pointer and a colour bar.

    ``signed`` picks the diverging scale; pass the layer's, so a channel that happens to have
    no negative values keeps the colours it has in the grid.
    """
    low, high = colour_limits(channel)
    signed = low < 0 if signed is None else signed
    if signed:
        low, high = -max(-low, high), max(-low, high)
    h, w = channel.shape
    heatmap = dict(
        type="heatmap", z=np.asarray(channel, dtype=np.float32), zmin=low, zmax=high,
        colorscale=DIVERGING if signed else SEQUENTIAL,
        hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>",
        colorbar=dict(thickness=16, tickfont=dict(size=FONT_SIZE - 4)))
    return _figure([heatmap], title, None, 380,
                   xaxis=dict(AXIS, range=[-0.5, w - 0.5], constrain="domain"),
                   yaxis=dict(AXIS, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain"))


def overlay(photo: np.ndarray, channel: np.ndarray, title: str = "", opacity: float = 0.8,
            width_px: int = 360, scale: str = "turbo") -> go.Figure:
    """The map stretched over the (H, W, 3) uint8 photo the network saw, as Grad-CAM's maps
    are drawn: where the channel fires (from 0, or its minimum when it never goes below, up
    to its maximum) on a bright perceptually ordered scale, more opaque where it fires more,
    so the photo shows as it is where the channel is silent."""
    values = colours.resize_map(channel, *photo.shape[:2])
    low, high = float(values.min()), float(values.max())
    low = max(low, 0.0) if high > 0 else low
    if not high > low:  # a constant map (or NaN): nothing stands out, show the photo
        high = low + 1.0
    blended = colours.overlay(photo, values, scale, opacity, limits=(low, high), by_value=True)
    return _image_figure(blended, title, width_px=width_px)


def value_histogram(channel: np.ndarray, title: str = "", bins: int = 40) -> go.Figure:
    """How the map's values are distributed, with the mean and zero marked."""
    values = np.asarray(channel, dtype=np.float32).ravel()
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    mean = float(values.mean())
    bars = dict(type="bar", x=centres, y=counts, width=np.diff(edges), marker_color=ACCENT,
                  hovertemplate="%{x:.3f}: %{y} positions<extra></extra>")
    marker = dict(type="line", x0=mean, x1=mean, y0=0, y1=1, yref="paper",
                  line=dict(color=HIGHLIGHT, width=3))
    label = dict(x=mean, y=1, yref="paper", yanchor="bottom", showarrow=False,
                 text=f"mean {fmt_number(mean)}", font=dict(size=FONT_SIZE - 4))
    return _figure([bars], title, None, 240, room=24, bargap=0, shapes=[marker], annotations=[label],
                   xaxis=dict(title="activation", zeroline=False),
                   yaxis=dict(title="positions", gridcolor=GRID_LINES, zeroline=False))


def filter_patches(weights: np.ndarray, title: str = "", columns: int = 8,
                   size_px: int = 84, *, width_px: int | None = None) -> go.Figure:
    """First-layer filters (F, 3, k, k) as colour patches, each about ``size_px`` wide: each
    weight scaled by the largest magnitude of all filters (one scale for all), mapped so zero
    is mid-grey, +max full colour, −max its complement. A filter that looks for an orange edge
    shows an orange edge. ``width_px`` caps the whole picture's width instead."""
    if width_px:
        size_px = min(size_px, (width_px + GAP_PX) // columns - GAP_PX)
    scaled = weights / (np.abs(weights).max() or 1.0)
    patches = [_fit((np.transpose(f, (1, 2, 0)) * 127.5 + 127.5).round().astype(np.uint8),
                    size_px) for f in scaled]
    size = patches[0].shape[0]
    rows = math.ceil(len(patches) / columns)
    pitch = size + GAP_PX
    mosaic = np.full((rows * pitch - GAP_PX, columns * pitch - GAP_PX, 3), BACKGROUND, np.uint8)
    for i, patch in enumerate(patches):
        top, left = (i // columns) * pitch, (i % columns) * pitch
        mosaic[top:top + size, left:left + size] = patch
    return _image_figure(mosaic, title)


def stage_strip(maps: list[tuple[str, tuple[int, int, int], np.ndarray]], *,
                current: int | None = None, size_px: int = 120) -> str:
    """HTML: one map per stage, left to right, every one ``size_px`` wide (large enough to
    read at the back of a room, two to a row on a phone) so the falling
    resolution shows as ever coarser squares, under each its name, resolution and channel
    count; the ``current`` one (an index into ``maps``) outlined. Each map goes from its
    lowest (dark blue) to its highest value (yellow) on the one sequential scale. The tiles
    wrap onto a new line where the screen is narrow, so labels never overlap; each map is
    encoded at its own size and enlarged by the browser, pixel for pixel.

    maps: (name, (C, H, W) of the layer, one (H, W) map of it).
    """
    tiles = []
    for k, (name, (c, h, w), values) in enumerate(maps):
        low, high = float(np.min(values)), float(np.max(values))
        pixels = colourise(values, (low, high if high > low else low + 1.0), "sequential")
        outline = HIGHLIGHT if k == current else "transparent"
        tiles.append(
            f'<figure style="margin:0;width:{size_px + 8}px;text-align:center">'
            f'<img src="{_png(pixels)}" alt="{html.escape(name)}" width="{size_px}" '
            f'height="{round(size_px * h / w)}" style="image-rendering:pixelated;'
            f'border:4px solid {outline};display:block">'
            f'<figcaption style="font-size:0.9rem;line-height:1.3;margin-top:2px">'
            f'<b>{html.escape(name)}</b><br>{h} × {w}<br>{c} channels</figcaption></figure>')
    return ('<div class="cnnviz-strip" style="display:flex;flex-wrap:wrap;gap:0.6rem 0.8rem;'
            'align-items:flex-start">' + "".join(tiles) + "</div>")

