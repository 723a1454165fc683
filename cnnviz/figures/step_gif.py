"""An animation (``cnnviz.figures.animation``) as a looping GIF for slides, drawn with Pillow
from the same data the browser plays, so the slide looks like the page: the grids side by
side, the window and the current cell outlined, the lines that join them, the caption below.
At least ``width`` pixels wide (1280 by default: a slide's resolution)."""

import html
import io
import re
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from cnnviz.figures.animation import (
    GAP_UNITS,
    HIDDEN_FILL,
    HIDDEN_LINE,
    LINK_STYLE,
    MARK_STYLES,
    Animation,
)
from cnnviz.figures.grids import DARK_TEXT

SLIDE_WIDTH = 1280
MARGIN = 24  # pixels around the board
FONTS = Path("/usr/share/fonts/truetype/dejavu")


@lru_cache(maxsize=64)
def font(size: int, bold: bool = False):
    """DejaVu Sans where installed (it has the real minus and ∞); Pillow's own font otherwise."""
    path = FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def wrap(draw, text: str, font, width: int) -> list[str]:
    """Break a caption between its words so each line fits in ``width`` pixels."""
    lines = [""]
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}".strip()
        if lines[-1] and draw.textlength(candidate, font=font) > width:
            lines.append(word)
        else:
            lines[-1] = candidate
    return lines


def _plain(caption: str) -> list[str]:
    """A caption's HTML as lines of plain text."""
    return [html.unescape(re.sub(r"<[^>]+>", "", part))
            for part in re.split(r"<br\s*/?>", caption)]


class _Slide:
    """Where every grid of an animation goes on a slide ``width`` pixels wide, one row of
    grids per layout row (no wrapping: a slide is wide); a title wider than its grid pushes
    the next grid along, as in the browser."""

    def __init__(self, animation: Animation, width: int):
        grids = animation.grids
        measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        self.unit = (width - 2 * MARGIN) / max(
            sum(grids[g].units or grids[g].cols for g in row) + GAP_UNITS * (len(row) - 1)
            for row in animation.layout)
        for _ in range(3):  # titles are measured at the unit they are drawn at
            self.title_font = font(max(10, min(28, round(self.unit * 0.36))), bold=True)
            wide = {g: max(grids[g].units or grids[g].cols,
                           (measure.textlength(grids[g].title, font=self.title_font) + 6)
                           / self.unit) for row in animation.layout for g in row}
            self.unit = (width - 2 * MARGIN) / max(
                sum(wide[g] for g in row) + GAP_UNITS * (len(row) - 1)
                for row in animation.layout)
        band = round(self.title_font.size * 1.7)
        self.boxes = {}
        y = MARGIN
        for row in animation.layout:
            x = MARGIN
            tallest = 0.0
            for g in row:
                w = (grids[g].units or grids[g].cols) * self.unit
                cell = w / grids[g].cols
                self.boxes[g] = (x, y + band, cell)
                tallest = max(tallest, grids[g].rows * cell)
                x += wide[g] * self.unit + GAP_UNITS * self.unit
            y += band + tallest + GAP_UNITS * self.unit * 0.5
        self.board_height = round(y)
        self.width = width


def _draw_grid(draw, slide: _Slide, g: int, grid, frame, hidden: dict) -> None:
    x0, y0, cell = slide.boxes[g]
    draw.text((x0, y0 - slide.title_font.size * 1.4), grid.title, fill=DARK_TEXT,
              font=slide.title_font)
    over = frame.cells.get(g, {})
    fill, text, ink = (over.get(name, getattr(grid, name)) for name in ("fill", "text", "ink"))
    if fill is None:
        draw.rectangle((x0, y0, x0 + grid.cols * cell, y0 + grid.rows * cell),
                       fill=grid.background, outline="#999999")
        return
    longest = max([len(t) for t in text or [""]] + [1])
    cell_font = font(max(8, round(min(30, cell * 0.56, cell * 0.92 / (0.58 * longest + 0.25)))))
    upto = frame.upto if grid.filling and frame.upto is not None else None
    for k in range(grid.rows * grid.cols):
        r, c = divmod(k, grid.cols)
        cell_box = (x0 + c * cell + 1, y0 + r * cell + 1, x0 + (c + 1) * cell - 1,
                    y0 + (r + 1) * cell - 1)
        if upto is not None and k > upto:
            draw.rectangle(cell_box, fill=hidden["fill"], outline=hidden["line"])
            continue
        draw.rectangle(cell_box, fill=fill[k], outline="#e0e0e0")
        if text and text[k]:
            draw.text(((cell_box[0] + cell_box[2]) / 2, (cell_box[1] + cell_box[3]) / 2),
                      text[k], fill=ink[k] if ink else DARK_TEXT, font=cell_font, anchor="mm")


def _extent(mark, slide: _Slide) -> tuple[float, float, float, float]:
    g, _, rows, cols = mark
    x0, y0, cell = slide.boxes[g]
    return (x0 + cols[0][0] * cell, y0 + rows[0][0] * cell, x0 + (cols[-1][1] + 1) * cell,
            y0 + (rows[-1][1] + 1) * cell)


def _draw_marks(image: Image.Image, frame, styles: dict, link: dict, slide: _Slide):
    """The frame's lines and marks over ``image`` (RGB); shaded marks are blended in."""
    shade = Image.new("RGBA", image.size, (0, 0, 0, 0))
    shading, draw = ImageDraw.Draw(shade), ImageDraw.Draw(image)
    for a, b in frame.links:
        p, q = _extent(frame.marks[a], slide), _extent(frame.marks[b], slide)
        for y_from, y_to in ((p[1], q[1]), (p[3], q[3])):
            draw.line((p[2], y_from, q[0], y_to), fill=link["stroke"], width=link["width"])
    outlines = []
    for g, kind, rows, cols in frame.marks:
        style = styles.get(kind)
        if not style:
            continue
        x0, y0, cell = slide.boxes[g]
        inset = style.get("inset", 0) * cell
        for r0, r1 in rows:
            for c0, c1 in cols:
                rect = (x0 + c0 * cell + inset, y0 + r0 * cell + inset,
                        x0 + (c1 + 1) * cell - inset, y0 + (r1 + 1) * cell - inset)
                if style.get("fill"):
                    colour = ImageColor.getrgb(style["fill"])
                    shading.rectangle(rect, fill=(*colour, round(255 * style.get("opacity", 1))))
                if style.get("stroke"):
                    outlines.append((rect, style))
    if shade.getbbox():  # blend only when something is shaded
        image = Image.alpha_composite(image.convert("RGBA"), shade).convert("RGB")
    draw = ImageDraw.Draw(image)
    for rect, style in outlines:
        draw.rectangle(rect, outline=style["stroke"], width=style["width"])
    return image


def animation_gif(animation: Animation, width: int = SLIDE_WIDTH, ms_per_frame: int = 800) -> bytes:
    """Every frame of ``animation`` (predict-then-reveal's single frame included) as the bytes
    of a looping GIF at least ``width`` pixels wide."""
    slide = _Slide(animation, width)
    hidden = dict(fill=HIDDEN_FILL, line=HIDDEN_LINE)  # the browser's look, from one place
    caption_font = font(max(18, round(slide.unit * 0.4)))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    captions = [[line for part in _plain(f.caption)
                 for line in wrap(measure, part, caption_font, width - 2 * MARGIN)]
                if f.caption else [] for f in animation.frames]
    line_px = round(caption_font.size * 1.4)
    height = slide.board_height + line_px * max(len(c) for c in captions) + MARGIN
    # Grids no frame changes are drawn once; each frame draws only the others on a copy.
    changing = {g for g, grid in enumerate(animation.grids)
                if grid.filling or any(g in f.cells for f in animation.frames)}
    base = Image.new("RGB", (width, height), "white")
    for g, grid in enumerate(animation.grids):
        if g not in changing:
            _draw_grid(ImageDraw.Draw(base), slide, g, grid, animation.frames[0], hidden)
    images = []
    for frame, caption in zip(animation.frames, captions):
        image = base.copy()
        draw = ImageDraw.Draw(image)
        for g in sorted(changing):
            _draw_grid(draw, slide, g, animation.grids[g], frame, hidden)
        image = _draw_marks(image, frame, MARK_STYLES, LINK_STYLE, slide)
        ImageDraw.Draw(image).multiline_text((MARGIN, slide.board_height), "\n".join(caption), fill=DARK_TEXT,
                            font=caption_font, spacing=line_px - caption_font.size)
        images.append(image)
    # One palette for every frame, from the first frame and every colour any frame uses:
    # quantising each frame on its own is most of the time a GIF takes.
    used = {c for g in animation.grids for c in (g.fill or []) + (g.ink or [])}
    used |= {c for f in animation.frames for cells in f.cells.values()
             for c in cells.get("fill", []) + cells.get("ink", [])}
    swatch = Image.new("RGB", (max(1, len(used)), 1))
    swatch.putdata([ImageColor.getrgb(c) for c in sorted(used)] or [(255, 255, 255)])
    sample = Image.new("RGB", (images[0].width, images[0].height + 1), "white")
    sample.paste(images[0])
    sample.paste(swatch, (0, images[0].height))
    palette = sample.quantize(256, method=Image.Quantize.MEDIANCUT)
    frames = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                   duration=ms_per_frame, loop=0)
    return buffer.getvalue()
