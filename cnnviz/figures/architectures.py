"""Figures of the architecture comparison: accuracy against cost as bubbles, and a model's key
building block as a box-and-arrow diagram. Pure functions: records in, plotly figure out."""

import math

import plotly.graph_objects as go

from cnnviz.architectures import ACCURACY_KEYS
from cnnviz.figures.style import ACCENT, FONT_SIZE, SEQUENTIAL, fmt_number, layout

BUBBLE_MAX_PX = 70  # diameter of the largest model's bubble


def _label_positions(x: list[float], y: list[float]) -> list[str]:
    """Where each bubble's label goes so that close neighbours do not overprint each other:
    side by side when they are about level, else the lower one's label below it."""
    positions = []
    for i in range(len(x)):
        near = [j for j in range(len(x))
                if j != i and abs(math.log10(x[i] / x[j])) < 0.3 and abs(y[i] - y[j]) < 4]
        level = [j for j in near if abs(y[i] - y[j]) < 1.5]
        if level:
            positions.append("middle left" if x[i] < x[level[0]] else "middle right")
        elif any(y[j] > y[i] for j in near):
            positions.append("bottom center")
        else:
            positions.append("top center")
    return positions


LABEL_CHAR = 0.06  # width of one label character in decades of a log axis, roughly


def _padded_range(x: list[float], records: list[dict], positions: list[str]) -> list[float]:
    """The log-axis range, with room for a label written beside the outermost bubble."""
    first, last = x.index(min(x)), x.index(max(x))
    left = 0.3 + (LABEL_CHAR * len(records[first]["label"])
                  if positions[first] == "middle left" else 0)
    right = 0.3 + (LABEL_CHAR * len(records[last]["label"])
                   if positions[last] == "middle right" else 0)
    return [math.log10(x[first]) - left, math.log10(x[last]) + right]


def _year_step(years: list[int]) -> int:
    """Whole years between the colour bar's ticks: about five ticks, never a fraction."""
    return max(1, math.ceil((max(years) - min(years)) / 5))


def _bubbles(records: list[dict], x: list[float], x_title: str, title: str,
             accuracy: str = "top1") -> go.Figure:
    """Top-1 accuracy (``accuracy``, a key of ``ACCURACY_KEYS``) against ``x`` (log axis);
    bubble area ∝ parameters, colour = year."""
    largest = max(r["params"] for r in records)
    sizes = [BUBBLE_MAX_PX * math.sqrt(r["params"] / largest) + 8 for r in records]
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
    positions = _label_positions(x, y)
    figure = go.Figure(go.Scatter(
        x=x, y=y, mode="markers+text",
        text=[r["label"] for r in records], textposition=positions,
        hovertext=hover, hoverinfo="text",
        marker=dict(size=sizes, color=years, colorscale=SEQUENTIAL, showscale=True,
                    colorbar=dict(title="year", tickformat="d", dtick=_year_step(years)),
                    line=dict(width=1, color="#333333"), opacity=0.85),
    ))
    figure.update_layout(**layout(title=title, height=560, showlegend=False,
                                  margin=dict(l=10, r=10, t=60, b=10)))
    figure.update_xaxes(type="log", title=x_title, range=_padded_range(x, records, positions),
                        automargin=True)
    # Room above the highest bubble and below the lowest for their labels and sizes.
    figure.update_yaxes(title=f"ImageNet top-1 (%), {ACCURACY_KEYS[accuracy]}",
                        automargin=True, range=[min(y) - 5, max(y) + 5], tickformat="d")
    return figure


def accuracy_vs_macs(records: list[dict], accuracy: str = "top1") -> go.Figure:
    """The chapter's trade-off: accuracy (``top1``, torchvision's DEFAULT weights, or
    ``top1_v1``, its first) against compute. Records without an ImageNet top-1 (LeNet-5) are
    left out by the caller."""
    return _bubbles(records, [r["macs"] / 1e9 for r in records],
                    "GMACs per image (log scale; 1 MAC = 2 FLOPs)",
                    "Accuracy against compute (bubble area ∝ parameters)", accuracy)


def accuracy_vs_latency(records: list[dict], latency_ms: dict[str, float],
                        device: str) -> go.Figure:
    shown = [r for r in records if r["name"] in latency_ms]
    return _bubbles(shown, [latency_ms[r["name"]] for r in shown],
                    f"latency of one image on this {device}, ms (log scale)",
                    f"Accuracy against measured latency ({device})")


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
