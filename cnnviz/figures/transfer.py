"""Figures of transfer learning: the learning curves across the fine-tuning phases, and the
share of the network each phase trains."""

from __future__ import annotations

import plotly.graph_objects as go

from cnnviz.figures.style import ACCENT, FONT_SIZE, MIN_TEXT, fmt_number, layout, wrap
from cnnviz.figures.training import learning_curves

LINE_PX = 24  # a line of figure text at FONT_SIZE, as plotly spaces them
BAR_PX = 28
GAP_PX = 18  # between one bar and the next phase's name


def phase_curves(steps: list[dict], epochs: list[dict], titles: dict[str, str],
                 total_steps: int | None = None, *, stacked: bool = False) -> go.Figure:
    """The loop's learning curves over the whole run, with a dotted line and the phase's
    name where each phase begins (records carry the phase's key in ``"phase"``). The names
    stand inside the accuracy plot at its foot, one above the other, where the curve seldom
    runs: above the plot they lay over its title on a phone, and side by side over each
    other when a phase is short. ``stacked``: accuracy below loss, for a phone's width."""
    fig = learning_curves(steps, epochs, total_steps, stacked=stacked)
    starts: dict[str, int] = {}
    for record in steps:
        starts.setdefault(record["phase"], record["step"] - 1)
    for k, (key, step) in enumerate(starts.items()):
        for row, col in ((1, 1), (2, 1)) if stacked else ((1, 1), (1, 2)):
            fig.add_vline(x=step, line=dict(color=ACCENT, dash="dot", width=2), row=row, col=col)
        fig.add_annotation(x=step, y=0, yref="y2 domain", xref="x2", text=titles[key],
                           showarrow=False, xanchor="left", yanchor="bottom",
                           yshift=2 + k * LINE_PX, bgcolor="rgba(255,255,255,0.8)",
                           font=dict(color=ACCENT, size=MIN_TEXT))
    return fig


def trainable_bars(counts: dict[str, int], total: int, titles: dict[str, str],
                   width_px: float = 700) -> go.Figure:
    """Trainable parameters per phase, as a share of the whole network: each bar under its
    phase's name and count, wrapped to ``width_px`` (about how wide it is drawn), so that on a
    phone no number sits beside a bar that leaves it no room."""
    width = width_px - 20
    labels = [wrap(titles[key], width, FONT_SIZE) + "<br>"
              + wrap(f"{count:,} ({fmt_number(100 * count / total, 1)}\u00a0%)", width)
              for key, count in counts.items()]
    label_px = [LINE_PX * (label.count("<br>") + 1) for label in labels]
    # The y axis counts pixels down the plot, so that a label is as tall as its lines.
    tops = [sum(h + BAR_PX + GAP_PX for h in label_px[:k]) for k in range(len(labels))]
    fig = go.Figure(go.Bar(
        x=[c / total for c in counts.values()],
        y=[top + h + BAR_PX / 2 for top, h in zip(tops, label_px)],
        width=BAR_PX, orientation="h", marker_color=ACCENT, hoverinfo="skip"))
    plot_px = tops[-1] + label_px[-1] + BAR_PX
    axis_title = wrap(f"trainable, as a share of all {total:,} parameters", width)
    bottom = 40 + LINE_PX * (axis_title.count("<br>") + 1)
    fig.update_layout(**layout(
        height=plot_px + 10 + bottom,
        xaxis=dict(range=[0, 1], tickformat=".0%", title=axis_title, fixedrange=True),
        yaxis=dict(range=[plot_px, 0], visible=False, fixedrange=True),
        annotations=[dict(x=0, y=top + h, xref="x", yref="y", text=label, showarrow=False,
                          xanchor="left", yanchor="bottom", align="left")
                     for top, h, label in zip(tops, label_px, labels)],
        margin=dict(l=10, r=30, t=10, b=bottom)))
    return fig
