"""Where a kernel slides, cell by cell, for the convolution-arithmetic diagrams.

A convolution slides over the padded input with stride s. A transposed convolution is drawn
the way Dumoulin & Visin ("A guide to convolution arithmetic for deep learning", 2016) draw
it: s − 1 zeros inserted between input pixels, span − 1 − p pixels of padding around them
(output_padding more at the bottom / right; a negative amount crops), and a stride-1
convolution with the flipped kernel over that grid.
"""

from dataclasses import dataclass

import numpy as np

from cnnviz.arithmetic import formulas

# What each cell of the grid the kernel slides over holds.
INPUT, PADDING, INSERTED, UNCOVERED = 0, 1, 2, 3


@dataclass(frozen=True)
class SlideGrid:
    """The grid a kernel slides over, cell by cell, and how it slides."""

    cells: np.ndarray  # (m, m) of INPUT / PADDING / INSERTED / UNCOVERED
    origin: tuple[int, int]  # grid position of input pixel (0, 0) (may lie outside the grid)
    step: int  # grid cells between neighbouring input pixels (s for transposed, else 1)
    f: int
    d: int
    s: int  # stride of the sliding
    out: int  # the output is out × out

    def taps(self, position: int) -> list[tuple[int, int]]:
        """Grid cells (row, col) the kernel's f·f weights touch at output ``position``
        (row-major)."""
        i, j = divmod(position, self.out)
        rows = formulas.window_taps(i, self.f, self.s, self.d)
        cols = formulas.window_taps(j, self.f, self.s, self.d)
        return [(r, c) for r in rows for c in cols]


def conv_layout(n: int, f: int, p=0, s: int = 1, d: int = 1) -> SlideGrid:
    """The padded n × n input of a convolution; input cells that no window touches are
    UNCOVERED."""
    work = formulas.size_work(n, f, p, s, d)
    cells = np.full((work.padded, work.padded), PADDING)
    inside = slice(work.before, work.before + n)
    cells[inside, inside] = INPUT
    missed = np.zeros(n, bool)
    missed[formulas.uncovered(n, f, p, s, d)] = True
    cells[inside, inside][missed[:, None] | missed[None, :]] = UNCOVERED
    return SlideGrid(cells, (work.before, work.before), 1, f, d, s, work.out)


def transposed_layout(n: int, f: int, p: int = 0, s: int = 1, d: int = 1,
                      output_padding: int = 0) -> SlideGrid:
    """The grid on which a transposed convolution of an n × n input is a stride-1
    convolution: input pixels s cells apart, zeros between them, span − 1 − p around."""
    out = formulas.transposed_output_size(n, f, p, s, d, output_padding)
    margin = formulas.span(f, d) - 1 - p  # negative: cropped
    size = out + formulas.span(f, d) - 1
    coords = np.arange(size) - margin  # position in the zero-inserted input, per grid cell
    inside = (coords >= 0) & (coords <= (n - 1) * s)
    pixel = inside & (coords % s == 0)
    cells = np.where(inside[:, None] & inside[None, :], INSERTED, PADDING)
    cells[pixel[:, None] & pixel[None, :]] = INPUT
    return SlideGrid(cells, (margin, margin), s, f, d, 1, out)
