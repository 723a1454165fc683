"""Figures of the architecture comparison: accuracy against cost as bubbles, and a model's key
building block as a box-and-arrow diagram. Pure functions: records in, plotly figure out."""

import math

import plotly.graph_objects as go

from cnnviz.architectures import ACCURACY_KEYS
from cnnviz.figures.style import (
    ACCENT,
    FONT_SIZE,
    SEQUENTIAL,
    TICK_SIZE,
    fmt_number,
    layout,
    log_ticks,
    wrap,
)

BUBBLE_MAX_PX = 70  # diameter of the largest model's bubble


LABEL_SIZE = 16  # px, a bubble's name
CHAR_EM = 0.6  # the mean width of a DejaVu Sans character, in ems


def _two_lines(name: str) -> str | None:
    """``name`` broken after its last hyphen or space ("MobileNetV3-<br>Large"), if it has one."""
    cut = max(name.rfind("-"), name.rfind(" "))
    if min(cut, len(name) - cut - 1) < 4:  # "VGG-16" stays whole
        return None
    return f"{name[:cut + 1].rstrip()}<br>{name[cut + 1:]}"


def _place_labels(x: list[float], y: list[float], sizes: list[float], names: list[str],
                  x_range: list[float], y_range: list[float], width_px: float,
                  height_px: float) -> list[tuple[str, str]]:
    """Each bubble's name as drawn (on one line or two) and where it goes (one of
    eight places around it), or ("", "top center") where it has no room. The bubbles are put where they
    will be drawn on a plot area about ``width_px`` × ``height_px`` (log x), and each name, largest
    bubble first, takes the first place that stays on the plot and crosses no other name and
    no other bubble, on one line if it can. A narrow screen names fewer bubbles rather than
    printing names over each other."""
    plot_w, plot_h = width_px, height_px
    px = [(math.log10(v) - x_range[0]) / (x_range[1] - x_range[0]) * plot_w for v in x]
    py = [(y_range[1] - v) / (y_range[1] - y_range[0]) * plot_h for v in y]  # down
    circles = [(cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2)
               for cx, cy, d in zip(px, py, sizes)]
    taken: list[tuple[float, float, float, float]] = []
    labels = [("", "top center")] * len(x)

    def crosses(a, b) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    def boxes(i: int, text: str) -> dict:
        lines = text.split("<br>")
        w = CHAR_EM * LABEL_SIZE * max(map(len, lines))
        h, r = 1.25 * LABEL_SIZE * len(lines), sizes[i] / 2 + 3
        d = r * 0.7  # a diagonal name starts off the bubble's corner
        return {"top center": (px[i] - w / 2, py[i] - r - h, px[i] + w / 2, py[i] - r),
                "bottom center": (px[i] - w / 2, py[i] + r, px[i] + w / 2, py[i] + r + h),
                "middle right": (px[i] + r, py[i] - h / 2, px[i] + r + w, py[i] + h / 2),
                "middle left": (px[i] - r - w, py[i] - h / 2, px[i] - r, py[i] + h / 2),
                "top right": (px[i] + d, py[i] - d - h, px[i] + d + w, py[i] - d),
                "top left": (px[i] - d - w, py[i] - d - h, px[i] - d, py[i] - d),
                "bottom right": (px[i] + d, py[i] + d, px[i] + d + w, py[i] + d + h),
                "bottom left": (px[i] - d - w, py[i] + d, px[i] - d, py[i] + d + h)}

    def free(i: int, box) -> bool:
        return (box[0] >= 0 and box[2] <= plot_w and box[1] >= 0 and box[3] <= plot_h
                and not any(crosses(box, t) for t in taken)
                and not any(crosses(box, c) for k, c in enumerate(circles) if k != i))

    for i in sorted(range(len(x)), key=lambda k: -sizes[k]):
        for text in filter(None, (names[i], _two_lines(names[i]))):
            place = next((p for p, box in boxes(i, text).items() if free(i, box)), None)
            if place:
                labels[i] = (text, place)
                taken.append(boxes(i, text)[place])
                break
    return labels


def _year_step(years: list[int]) -> int:
    """Whole years between the colour bar's ticks: about five ticks, never a fraction."""
    return max(1, math.ceil((max(years) - min(years)) / 5))


def _bubbles(records: list[dict], x: list[float], x_title: str, title: str,
             accuracy: str = "top1", width_px: float = 700) -> go.Figure:
    """Top-1 accuracy (``accuracy``, a key of ``ACCURACY_KEYS``) against ``x`` (log axis);
    bubble area ∝ parameters, colour = year. ``width_px`` is about how wide it will be drawn:
    a narrow figure (a phone) names fewer bubbles, wraps its title and lays its colour bar
    under the plot. A bubble without room for its name has it in its hover text."""
    narrow = width_px < 500
    largest = max(r["params"] for r in records)
    scale = BUBBLE_MAX_PX * (0.6 if narrow else 1)
    sizes = [scale * math.sqrt(r["params"] / largest) + 8 for r in records]
    weights = accuracy.removeprefix("top1")  # "" or "_v1", as the record's keys end
    top5, recipe = f"top5{weights}", f"recipe{weights}"
    hover = [
        f"<b>{r['label']}</b> ({r['year']})<br>top-1 {fmt_number(r[accuracy], 1)} %"
        + (f", top-5 {fmt_number(r[top5], 1)} %" if r.get(top5) is not None else "")
        + f"<br>recipe: {r[recipe]}"
        + f"<br>{fmt_number(r['params'] / 1e6, 2)} M parameters"
        f"<br>{fmt_number(r['macs'] / 1e9, 3)} GMACs ({fmt_number(r['flops'] / 1e9, 3)} GFLOPs)"
        f"<br>{x_title}: {fmt_number(value, 3)}"
        for r, value in zip(records, x)
    ]
    years = [r["year"] for r in records]
    y = [r[accuracy] for r in records]
    height = 540 if narrow else 560
    x_range = [math.log10(min(x)) - 0.35, math.log10(max(x)) + 0.35]
    y_range = [min(y) - 5, max(y) + 5]  # room above and below for names and bubbles
    title = wrap(title + (", colour = year" if narrow else ""), width_px - 20)
    top = 36 + 26 * (title.count("<br>") + 1)
    bottom = 70 if narrow else 10  # under the plot: the colour bar on a phone
    # The plot area: less the margins, the axes' ticks and titles (about 70 px on the left,
    # 60 below) and, on a wide screen, the colour bar on the right (90 px).
    labels = _place_labels(x, y, sizes, [r["label"] for r in records], x_range, y_range,
                           width_px - 90 - (0 if narrow else 90), height - top - bottom - 60)
    # The title beside the bar, where no year's label can reach it.
    colorbar = dict(title=dict(text="year", side="right"), tickformat="d",
                    dtick=_year_step(years))
    if narrow:  # under the plot, where it takes no width; its years need no title there
        colorbar.update(orientation="h", yref="container", y=0, yanchor="bottom",
                        thickness=12, title=None)
    figure = go.Figure(go.Scatter(
        x=x, y=y, mode="markers+text",
        text=[text for text, _ in labels], textposition=[place for _, place in labels],
        textfont=dict(size=LABEL_SIZE), hovertext=hover, hoverinfo="text",
        marker=dict(size=sizes, color=years, colorscale=SEQUENTIAL, showscale=True,
                    colorbar=colorbar, line=dict(width=1, color="#333333"), opacity=0.85),
    ))
    figure.update_layout(**layout(title=title, height=height, showlegend=False,
                                  margin=dict(l=10, r=10, t=top, b=bottom)))
    axis_width = width_px - 40  # the axis titles wrap to the figure's width
    figure.update_xaxes(type="log", title=wrap(x_title, axis_width, TICK_SIZE), range=x_range,
                        tickvals=log_ticks(min(x) / 2, max(x) * 2), automargin=True)
    figure.update_yaxes(title=wrap(f"ImageNet top-1 (%), {ACCURACY_KEYS[accuracy]}",
                                   height - top - bottom - 60, TICK_SIZE),
                        automargin=True, range=y_range, tickformat="d")
    return figure


def accuracy_vs_macs(records: list[dict], accuracy: str = "top1", *,
                     width_px: float = 700) -> go.Figure:
    """The chapter's trade-off: accuracy (``top1``, torchvision's DEFAULT weights, or
    ``top1_v1``, its first) against compute. Records without an ImageNet top-1 (LeNet-5) are
    left out by the caller."""
    return _bubbles(records, [r["macs"] / 1e9 for r in records],
                    "GMACs per image (log scale; 1 MAC = 2 FLOPs)",
                    "Accuracy against compute (bubble area ∝ parameters)", accuracy, width_px)


def accuracy_vs_latency(records: list[dict], latency_ms: dict[str, float],
                        device: str, *, width_px: float = 700) -> go.Figure:
    shown = [r for r in records if r["name"] in latency_ms]
    return _bubbles(shown, [latency_ms[r["name"]] for r in shown],
                    f"latency of one image on this {device}, ms (log scale)",
                    f"Accuracy against measured latency ({device})", width_px=width_px)


NODE_W, NODE_H = 0.9, 0.66  # box size in grid units (a column is 1 wide, a row 1 tall)


def block_diagram(block: dict) -> go.Figure:
    """Boxes for the block's layers (label, channels, weights), arrows for the data flow;
    an arrow that skips rows in the same column (a shortcut) is routed around the boxes.
    Untitled: the page names the block above it."""
    nodes = {n["id"]: n for n in block["nodes"]}
    figure = go.Figure()
    for node in block["nodes"]:
        x, y = node["col"], -node["row"]
        is_op = node["label"] in ("+", "concatenate", "input")
        figure.add_shape(type="rect", x0=x - NODE_W / 2, x1=x + NODE_W / 2, y0=y - NODE_H / 2,
                         y1=y + NODE_H / 2, line=dict(color="#333333", width=1.5),
                         fillcolor="#f2f2f2" if is_op else "#dcd3ea")
        weights = f"<br>{node['params']:,} weights" if node.get("params") else ""
        figure.add_annotation(x=x, y=y, showarrow=False,
                              text=f"<b>{node['label']}</b><br>{node['detail']}{weights}",
                              font=dict(size=FONT_SIZE - 5))
    skips = sorted((e for e in block["edges"]
                    if nodes[e[0]]["col"] == nodes[e[1]]["col"]
                    and nodes[e[1]]["row"] - nodes[e[0]]["row"] > 1),
                   key=lambda e: nodes[e[1]]["row"] - nodes[e[0]]["row"])
    for src, dst in block["edges"]:
        a, b = nodes[src], nodes[dst]
        if [src, dst] in skips:
            offset = NODE_W / 2 + 0.12 * (1 + skips.index([src, dst]))
            x_out = a["col"] - offset
            figure.add_shape(type="path", line=dict(color=ACCENT, width=2),
                             path=f"M {a['col'] - NODE_W / 2} {-a['row']} L {x_out} {-a['row']} "
                                  f"L {x_out} {-b['row']} L {b['col'] - NODE_W / 2} {-b['row']}")
            start = (x_out, -b["row"])
            end = (b["col"] - NODE_W / 2, -b["row"])
            color = ACCENT
        else:
            start = (a["col"], -a["row"] - NODE_H / 2)
            end = (b["col"], -b["row"] + NODE_H / 2)
            color = "#333333"
        figure.add_annotation(x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y",
                              axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1.2,
                              arrowwidth=2, arrowcolor=color, text="")
    rows = max(n["row"] for n in block["nodes"]) + 1
    cols = [n["col"] for n in block["nodes"]]
    margin = 0.5 + 0.12 * len(skips) + NODE_W / 2
    figure.update_layout(**layout(height=max(300, 100 * rows), showlegend=False,
                                  margin=dict(l=0, r=0, t=10, b=0)))
    figure.update_xaxes(visible=False, range=[min(cols) - margin, max(cols) + NODE_W / 2 + 0.1])
    figure.update_yaxes(visible=False, range=[-rows + 0.4, 0.5], scaleanchor=None)
    return figure
