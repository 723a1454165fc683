"""One look for every figure: large type for a projector, colour-blind-safe scales, a real minus.

Scales: cividis and viridis are perceptually uniform and readable with colour-vision
deficiency (Nuñez et al., 2018, "Optimizing colormaps with consideration for color vision
deficiency"); for signed values, the blue-orange diverging scale avoids the red-green axis.
"""

import math
import textwrap

import pandas  # noqa: F401  (see below)

from cnnviz.formatting import MINUS, fmt_number  # noqa: F401  (figures write numbers too)

# Plotly looks for pandas in sys.modules without importing it (get_module(should_load=False)):
# while one session's thread was still importing it, another's figure met a half-imported
# pandas ("partially initialized module 'pandas' has no attribute 'Series"), with 8 sessions
# drawing their first training curves at once. Importing it here, before any figure is
# made, takes the import lock and finishes it first.

FONT_SIZE = 18  # figure text, readable from the back of a classroom
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"
TICK_SIZE = 16  # tick labels, legends and colour bars
MIN_TEXT = 14  # no text on a figure is smaller (WCAG's "large print" starts at 18.7 px bold)
BOLD_EM = 0.66  # the mean width of a bold DejaVu Sans character, in ems (measured on titles)
INK = "#31333f"  # Streamlit's text colour: 12.6:1 on white (WCAG AA asks 4.5:1)

SEQUENTIAL = "Cividis"  # magnitudes: activations, heatmaps
DIVERGING = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#e66101"]]  # signed values: blue-white-orange
HIGHLIGHT = "#d01c8b"  # the current window / cell: a magenta no value scale contains
ACCENT = "#5e3c99"  # a second highlight distinguishable from HIGHLIGHT
PADDING_FILL = "#d9d9d9"  # padding cells, visibly different from real input



def legible(figure):
    """``figure`` with text a class can read, in place: Streamlit's chart theme draws tick
    labels, axis titles, legends, colour bars and the texts of traces in grey at 12.75 px
    (3.7:1 on white); here every one of them that does not name its own font gets ``INK``
    at ``TICK_SIZE`` (titles and the texts of traces at ``FONT_SIZE``), and no font named
    anywhere is below ``MIN_TEXT``. (Plotly writes a log axis's labels between decades
    smaller still: give such an axis ``log_ticks``.)"""

    def font(current, size: int = TICK_SIZE) -> dict:
        return dict(color=current.color or INK, size=max(current.size or size, MIN_TEXT))

    for axis in (*figure.select_xaxes(), *figure.select_yaxes()):
        axis.tickfont = font(axis.tickfont)
        axis.title.font = font(axis.title.font, FONT_SIZE)
    bars = []
    for trace in figure.data:
        if "colorbar" in trace and trace.showscale is not False:
            bars.append(trace.colorbar)
        if "marker" in trace and "colorbar" in trace.marker and trace.marker.showscale:
            bars.append(trace.marker.colorbar)
        if "textfont" in trace and trace.text is not None:
            text = font(trace.textfont, FONT_SIZE)
            if trace.type != "scatter":  # a bar's text takes white or black by its bar
                text["color"] = trace.textfont.color
            trace.textfont = text
        if "outsidetextfont" in trace:  # beside its bar, on the page
            trace.outsidetextfont = font(trace.outsidetextfont, FONT_SIZE)
    for bar in bars:
        bar.tickfont = font(bar.tickfont)
        bar.title.font = font(bar.title.font)
    figure.layout.legend.font = font(figure.layout.legend.font)
    figure.layout.title.font = font(figure.layout.title.font, FONT_SIZE)
    for note in figure.layout.annotations:
        note.font = font(note.font, FONT_SIZE)
    return figure


def wrap(text: str, width_px: float, size: int = FONT_SIZE) -> str:
    """``text`` broken into lines (plotly's ``<br>``) that fit ``width_px`` in bold type of
    ``size`` pixels (a line break already there stays): plotly never wraps a title, and
    cuts what does not fit."""
    chars = max(8, int(width_px / (BOLD_EM * size)))
    return "<br>".join(part for line in text.split("<br>")
                       for part in (textwrap.wrap(line, chars) or [line]))


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2, 5 × 10ⁿ from ``low`` to ``high``: the ticks of a log axis as ``tickvals``, so
    that every label is drawn at the axis's own size (plotly draws those between decades
    at three quarters of it)."""
    ticks = []
    for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0 ** power for m in (1, 2, 5) if low <= m * 10.0 ** power <= high]
    return ticks


def layout(**overrides) -> dict:
    """Common plotly layout keywords; callers pass their own on top."""
    base = dict(
        font=dict(size=FONT_SIZE, family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=50, b=10),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    base.update(overrides)
    return base
