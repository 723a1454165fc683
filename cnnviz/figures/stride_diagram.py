"""The convolution-arithmetic diagram (after Dumoulin & Visin, 2016) as a browser animation:
the grid the kernel slides over on the left, the output on the right, the kernel's taps and
the output cell they produce marked, one frame per output position.

Every cell says what it holds where its text fits: 0 for padding and for the zeros a
transposed convolution inserts (white cells), × for input pixels no window touches; the
input itself is plain blue, so the structure reads at a glance at any size.
"""

from cnnviz.arithmetic.sliding import INPUT, INSERTED, PADDING, UNCOVERED, SlideGrid
from cnnviz.figures.animation import Animation, Frame, Grid, box, lattice
from cnnviz.figures.style import PADDING_FILL

FILLS = {INPUT: "#9ecae1", PADDING: PADDING_FILL, INSERTED: "#ffffff", UNCOVERED: "#525252"}
MARKS = {INPUT: "", PADDING: "0", INSERTED: "0", UNCOVERED: "×"}
INKS = {INPUT: "#111111", PADDING: "#111111", INSERTED: "#111111", UNCOVERED: "#ffffff"}
OUTPUT_FILL = "#cbc9e2"


def stride_animation(grid: SlideGrid, *, input_title: str = "Input",
                     output_title: str = "Output", captions: list[str] | None = None,
                     start: int = 0, param: str = "pos") -> Animation:
    """Input grid and output grid, the kernel at every output position (row-major), the
    dashed outline of the input inside its padding; ``captions`` (one per position) say what
    each position computes, and ``param`` carries the position into the page's URL."""
    cells = grid.cells.ravel().tolist()
    m, out = grid.cells.shape[0], grid.out
    source = Grid(input_title, m, m, fill=[FILLS[c] for c in cells],
                  text=[MARKS[c] for c in cells], ink=[INKS[c] for c in cells])
    target = Grid(output_title, out, out, fill=[OUTPUT_FILL] * out * out,
                  text=[""] * out * out, ink=["#111111"] * out * out, clickable=True)
    frames = []
    for k in range(out * out):
        taps = grid.taps(k)
        rows = sorted({r for r, _ in taps})
        cols = sorted({c for _, c in taps})
        frame = Frame(marks=[lattice(0, "tap", rows, cols),
                             box(0, "window", rows[0], cols[0], rows[-1], cols[-1]),
                             box(1, "current", *divmod(k, out))],
                      links=[(1, 2)], params={param: k},
                      caption=captions[k] if captions else "")
        frames.append(frame)
    marks = []
    inside = [(r, c) for r in range(m) for c in range(m) if grid.cells[r, c] != PADDING]
    if inside:
        rows, cols = [r for r, _ in inside], [c for _, c in inside]
        marks.append(box(0, "region", min(rows), min(cols), max(rows), max(cols)))
    return Animation([source, target], [[0, 1]], frames, start=start, label="Position",
                     caption_class="cnnviz-note", max_unit=44, min_unit=6, height=0.5,
                     marks=marks)
