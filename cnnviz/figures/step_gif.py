"""A trace's animation as a GIF for slides: the padded input with the window, the kernel and
the output filling up, one frame per output cell, drawn with Pillow (no browser needed)."""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnviz.figures.grids import DARK_TEXT, cell_colours, cell_text, colour_scale
from cnnviz.figures.style import ACCENT, HIGHLIGHT, PADDING_FILL
from cnnviz.ops.steps import StepTrace, written_sum

FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
GAP = 30  # pixels between panels


def _font(size: int):
    """DejaVu Sans where installed (it has the real minus and ∞); Pillow's own font otherwise."""
    if FONT_FILE.exists():
        return ImageFont.truetype(str(FONT_FILE), size)
    return ImageFont.load_default(size)


def _panel(draw, origin, values, cell, font, *, padding=None, highlight=None, accent=None,
           hidden=None, zrange=None, title=""):
    """Draw one grid at ``origin`` (x, y): coloured cells, their numbers and outlines."""
    x0, y0 = origin
    draw.text((x0, y0), title, fill=DARK_TEXT, font=font)
    y0 += int(cell * 0.7)
    empty = np.zeros(values.shape, dtype=bool)
    padding, hidden = (empty if m is None else m for m in (padding, hidden))
    shown = np.where(padding | hidden, np.nan, values)
    fills, texts = cell_colours(shown, *colour_scale(shown, zrange))
    for (r, c), value in np.ndenumerate(values):
        box = (x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell - 2, y0 + (r + 1) * cell - 2)
        if hidden[r, c]:
            draw.rectangle(box, fill="#ffffff", outline="#bdbdbd")
            continue
        fill = PADDING_FILL if padding[r, c] else tuple(int(v) for v in fills[r, c])
        draw.rectangle(box, fill=fill)
        colour = DARK_TEXT if padding[r, c] else texts[r, c]
        draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), cell_text(value),
                  fill=colour, font=font, anchor="mm")
    for mask, colour, inset in ((highlight, HIGHLIGHT, 0), (accent, ACCENT, 5)):
        if mask is not None:  # the accent sits inside the highlight, so both stay visible
            for r, c in zip(*np.nonzero(mask)):
                draw.rectangle((x0 + c * cell + inset, y0 + r * cell + inset,
                                x0 + (c + 1) * cell - 2 - inset, y0 + (r + 1) * cell - 2 - inset),
                               outline=colour, width=4)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Break a written sum between its terms so each line fits in ``width`` pixels."""
    lines = [""]
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}".strip()
        if lines[-1] and draw.textlength(candidate, font=font) > width:
            lines.append(word)
        else:
            lines[-1] = candidate
    return lines


def trace_gif(trace: StepTrace, ms_per_frame: int = 800, cell: int = 48, channel: int = 0) -> bytes:
    """One frame per step of ``trace`` (channel ``channel`` of the input and kernel), as the
    bytes of a looping GIF."""
    font = _font(max(10, cell // 3))
    padded = trace.padded[channel]
    out = trace.output
    kernel = None if trace.kernel is None else trace.kernel[channel]
    widths = [padded.shape[1], 0 if kernel is None else kernel.shape[1], out.shape[1]]
    width = sum(w * cell for w in widths) + GAP * 4
    grid_rows = max(padded.shape[0], out.shape[0], 0 if kernel is None else kernel.shape[0])
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    sums = [_wrap(measure, written_sum(trace, trace.step(k))[-1], font, width - 2 * GAP)
            for k in range(len(trace))]
    line_px = int(font.size * 1.4)
    top = 10 + int(cell * 0.7)
    height = top + grid_rows * cell + 20 + line_px * max(len(lines) for lines in sums)
    out_range = (float(out.min()), float(out.max()) if out.max() > out.min() else out.min() + 1)
    frames = []
    for index in range(len(trace)):
        step = trace.step(index)
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        window = np.zeros(padded.shape, dtype=bool)
        window[np.ix_(step.rows, step.cols)] = True
        chosen = None
        if step.chosen is not None:
            chosen = np.zeros(padded.shape, dtype=bool)
            chosen[step.rows[step.chosen[0]], step.cols[step.chosen[1]]] = True
        x = GAP
        _panel(draw, (x, 10), padded, cell, font, padding=trace.is_padding, highlight=window,
               accent=chosen, title="input")
        x += widths[0] * cell + GAP
        if kernel is not None:
            _panel(draw, (x, 10), kernel, cell, font, title="kernel")
            x += widths[1] * cell + GAP
        done = np.arange(out.size).reshape(out.shape) > index
        current = np.zeros(out.shape, dtype=bool)
        current[step.cell] = True
        _panel(draw, (x, 10), out, cell, font, hidden=done, highlight=current, zrange=out_range,
               title="output")
        draw.multiline_text((GAP, top + grid_rows * cell + 15), "\n".join(sums[index]),
                            fill=DARK_TEXT, font=font, spacing=line_px - font.size)
        frames.append(image)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                   duration=ms_per_frame, loop=0)
    return buffer.getvalue()
