"""One look for every figure: large type for a projector, colour-blind-safe scales, a real minus.

Scales: cividis and viridis are perceptually uniform and readable with colour-vision
deficiency (Nuñez et al., 2018, "Optimizing colormaps with consideration for color vision
deficiency"); for signed values, the blue-orange diverging scale avoids the red-green axis.
"""

import pandas  # noqa: F401  (see below)

from cnnviz.formatting import MINUS, fmt_number  # noqa: F401  (figures write numbers too)

# Plotly looks for pandas in sys.modules without importing it (get_module(should_load=False)):
# while one session's thread was still importing it, another's figure met a half-imported
# pandas ("partially initialized module 'pandas' has no attribute 'Series"), with 8 sessions
# drawing their first training curves at once. Importing it here, before any figure is
# made, takes the import lock and finishes it first.

FONT_SIZE = 18  # figure text, readable from the back of a classroom
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"

SEQUENTIAL = "Cividis"  # magnitudes: activations, heatmaps
DIVERGING = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#e66101"]]  # signed values: blue-white-orange
HIGHLIGHT = "#d01c8b"  # the current window / cell: a magenta no value scale contains
ACCENT = "#5e3c99"  # a second highlight distinguishable from HIGHLIGHT
PADDING_FILL = "#d9d9d9"  # padding cells, visibly different from real input



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
