"""Grids of numbers as text a person can type: one row per line, numbers separated by spaces
or commas, channels separated by a blank line. Fractions such as 1/9 and a real minus sign
are accepted, so a kernel can be typed exactly as it is written on a slide. Numbers are
bounded (±1,000,000), so a hand-edited link cannot overflow the arithmetic."""

from fractions import Fraction

import numpy as np

from cnnviz.formatting import MINUS

LIMIT = 1_000_000  # larger numbers help no one by hand, and products of them overflow


def _number(token: str, where: str) -> float:
    try:
        value = Fraction(token.replace(MINUS, "-"))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{where}: {token!r} is not a number") from None
    if abs(value) > LIMIT:
        raise ValueError(f"{where}: {token} is too large; numbers here are at most "
                         f"{LIMIT:,} either way")
    return float(value)


def parse_grid(text: str) -> np.ndarray:
    """Text → array (channels, rows, cols); ValueError naming the line that is wrong."""
    blocks, current = [], []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        tokens = line.replace(",", " ").replace(";", " ").split()
        if tokens:
            current.append([_number(t, f"line {number}") for t in tokens])
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    if not blocks:
        raise ValueError("the grid is empty: type one row of numbers per line")
    shape = (len(blocks[0]), len(blocks[0][0]))
    for c, block in enumerate(blocks, start=1):
        for r, row in enumerate(block, start=1):
            if len(row) != shape[1]:
                raise ValueError(f"channel {c}, row {r} has {len(row)} numbers but the first "
                                 f"row has {shape[1]}: every row needs the same count")
        if len(block) != shape[0]:
            raise ValueError(f"channel {c} has {len(block)} rows but channel 1 has "
                             f"{shape[0]}: every channel needs the same size")
    return np.array(blocks, dtype=float)


def _token(x: float) -> str:
    """Integers as integers, simple fractions (1/9, 1/16) exactly, the rest to 4 decimals."""
    fraction = Fraction(float(x)).limit_denominator(256)
    text = str(fraction) if abs(float(fraction) - x) < 1e-12 else f"{x:.4f}".rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


def format_grid(grid: np.ndarray) -> str:
    """Array (rows, cols) or (channels, rows, cols) → text that ``parse_grid`` reads back."""
    grid = np.asarray(grid, dtype=float)
    channels = grid[None] if grid.ndim == 2 else grid
    tokens = np.vectorize(_token, otypes=[object])(channels)
    width = max(len(t) for t in tokens.ravel())  # right-aligned columns read as a grid
    return "\n\n".join("\n".join(" ".join(t.rjust(width) for t in row) for row in channel)
                       for channel in tokens)
