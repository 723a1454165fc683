"""Animations that play in the browser: every frame is computed once, here, and handed to the
page as data, so stepping, playing and scrubbing never wait for the server.

An animation is a set of grids (``Grid``: cells with a colour and a text each, laid out in
rows, side by side) and a list of frames (``Frame``: which cells are outlined or filled, the
lines that join them, the cells a frame replaces, how far an output has filled up, and a
caption). ``cnnviz/ui/animation.js`` draws it with one set of controls (back, play / pause,
forward, a step slider, the speed); ``cnnviz.figures.step_gif`` draws the same data into a
GIF for slides. Everything here is plain data: the builders for the convolution board, the
convolution-arithmetic diagram and the receptive-field footprint live beside their figures
(``grids``, ``stride_diagram``, ``stacks``).

Marks say *what* they are ("window", "current", ...); how each kind looks is set once, in
``MARK_STYLES``, from the colours of ``cnnviz.figures.style``.
"""

from dataclasses import dataclass, field

from cnnviz.figures.style import ACCENT, HIGHLIGHT, PADDING_FILL

# How each kind of mark is drawn. The outline of the current window and output cell uses
# HIGHLIGHT, a colour that none of the value scales contains (see tests/test_animation.py).
MARK_STYLES = {
    "window": dict(stroke=HIGHLIGHT, width=5, fill=None),  # the cells a kernel covers
    "current": dict(stroke=HIGHLIGHT, width=5, fill=None),  # the output cell being computed
    "tap": dict(stroke=None, width=0, fill=HIGHLIGHT, opacity=0.35),  # one kernel tap
    "area": dict(stroke=None, width=0, fill=HIGHLIGHT, opacity=0.75),  # what an output sees
    "target": dict(stroke=None, width=0, fill=ACCENT, opacity=0.9),  # that output itself
    "accent": dict(stroke=ACCENT, width=4, fill=None, inset=0.14),  # max pooling's choice
    "region": dict(stroke="#08519c", width=3, fill=None, dash="6 4"),  # the input inside padding
    "anchor": None,  # an invisible mark a line can join (a whole grid)
}
LINK_STYLE = dict(stroke=HIGHLIGHT, width=2, dash="5 4", opacity=0.8)
HIDDEN_FILL, HIDDEN_LINE = "#ffffff", "#bdbdbd"  # a cell not computed yet
GAP_UNITS = 1.2  # space between grids, in layout units (a unit is a cell, usually)
SPEEDS = {"slow": 1600, "medium": 800, "fast": 400}  # milliseconds per frame


@dataclass
class Grid:
    """One panel: ``rows`` × ``cols`` cells, row-major lists of a fill colour, a text and the
    text's colour (``ink``) per cell. Without ``fill`` the panel is one ``background`` colour
    (large feature maps), with cell borders when ``lines``.

    ``dotted`` cells (padding) get a dotted border; ``units`` is the panel's width in layout
    units (its column count by default: one unit per cell, so panels side by side share a cell
    size); a ``filling`` panel shows only the cells up to the frame's ``upto`` (an output
    filling up); a ``clickable`` panel's cell k jumps to frame k.
    """

    title: str
    rows: int
    cols: int
    fill: list[str] | None = None
    text: list[str] | None = None
    ink: list[str] | None = None
    dotted: list[int] = field(default_factory=list)
    background: str = PADDING_FILL
    lines: bool = True
    units: float | None = None
    filling: bool = False
    clickable: bool = False

    def to_data(self) -> dict:
        data = dict(title=self.title, rows=self.rows, cols=self.cols, units=self.units or self.cols,
                    background=self.background, lines=self.lines)
        for name in ("fill", "text", "ink", "dotted"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.filling:
            data["filling"] = True
        if self.clickable:
            data["clickable"] = True
        return data


def box(grid: int, kind: str, r0: int, c0: int, r1: int | None = None,
        c1: int | None = None) -> list:
    """A mark over the cells (r0, c0) to (r1, c1) of grid ``grid``, corners included."""
    return [grid, kind, [[int(r0), int(r1 if r1 is not None else r0)]],
            [[int(c0), int(c1 if c1 is not None else c0)]]]


def runs(positions) -> list[list[int]]:
    """Sorted positions as [first, last] runs of neighbours: (1, 2, 3, 7) -> [[1, 3], [7, 7]]."""
    positions = sorted(int(p) for p in positions)
    out: list[list[int]] = []
    for p in positions:
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return out


def lattice(grid: int, kind: str, rows, cols) -> list:
    """A mark over every cell (r, c) with r in ``rows`` and c in ``cols`` (a dilated window,
    a footprint with gaps), stored as runs so that a wide footprint stays small."""
    return [grid, kind, runs(rows), runs(cols)]


@dataclass
class Frame:
    """What one step shows on top of the grids.

    ``marks`` come from ``box`` and ``lattice``; ``links`` join two marks (by their index in
    ``marks``) with lines from the first's right edge to the second's left edge; ``cells``
    replaces a grid's fill / text / ink for this frame ({grid: {"fill": [...], ...}});
    ``upto`` is the last cell a filling grid shows; ``params`` go into the page's URL while
    this frame is shown, so a link opens it again.
    """

    marks: list[list] = field(default_factory=list)
    links: list[tuple[int, int]] = field(default_factory=list)
    cells: dict[int, dict] = field(default_factory=dict)
    upto: int | None = None
    caption: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def to_data(self) -> dict:
        data: dict = {"marks": self.marks}
        if self.links:
            data["links"] = [list(link) for link in self.links]
        if self.cells:
            data["cells"] = {str(k): v for k, v in self.cells.items()}
        if self.upto is not None:
            data["upto"] = int(self.upto)
        if self.caption:
            data["caption"] = self.caption
        if self.params:
            data["params"] = {k: str(v) for k, v in self.params.items()}
        return data


@dataclass
class Animation:
    """Grids laid out in ``layout`` (rows of grid indices, left to right; a row that does not
    fit the screen at ``min_unit`` pixels a unit wraps, so panels stack on a phone), the
    frames, and how to show them.

    ``start`` is the frame shown first; ``label`` names a frame in the controls ("Step",
    "Position"); ``caption_class`` is the caption's CSS class (the page and its tests find the
    written sum by it); ``height`` caps the board at that fraction of the window's height, so
    board, caption and controls fit on a projector; ``marks`` are drawn in every frame.
    ``server`` (``{"index": k, "count": n}``) makes a single-frame animation whose controls
    ask the server for step k instead of playing in the browser (predict, then reveal).
    """

    grids: list[Grid]
    layout: list[list[int]]
    frames: list[Frame]
    start: int = 0
    label: str = "Step"
    caption_class: str = ""
    speed: str = "medium"
    min_unit: float = 30
    max_unit: float = 80
    height: float | None = 0.55
    marks: list[list] = field(default_factory=list)
    server: dict | None = None

    def __len__(self) -> int:
        return self.server["count"] if self.server else len(self.frames)

    def to_data(self) -> dict:
        """The JSON-able dict ``cnnviz/ui/animation.js`` reads."""
        if not self.frames:
            raise ValueError("An animation needs at least one frame.")
        return dict(
            grids=[g.to_data() for g in self.grids], layout=self.layout,
            frames=[f.to_data() for f in self.frames],
            start=int(min(max(self.start, 0), len(self.frames) - 1)), label=self.label,
            captionClass=self.caption_class, speeds=SPEEDS, speed=self.speed,
            gap=GAP_UNITS, minUnit=self.min_unit, maxUnit=self.max_unit, height=self.height,
            marks=self.marks, styles=MARK_STYLES, link=LINK_STYLE,
            hidden=dict(fill=HIDDEN_FILL, line=HIDDEN_LINE), server=self.server)
