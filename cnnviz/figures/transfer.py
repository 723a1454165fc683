"""Figures of transfer learning: the learning curves across the fine-tuning phases, and the
share of the network each phase trains."""

from __future__ import annotations

import plotly.graph_objects as go

from cnnviz.figures.style import ACCENT, fmt_number, layout
from cnnviz.figures.training import learning_curves


def phase_curves(steps: list[dict], epochs: list[dict], titles: dict[str, str],
                 total_steps: int | None = None) -> go.Figure:
    """The loop's learning curves over the whole run, with a dotted line and the phase's
    name where each phase begins (records carry the phase's key in ``"phase"``)."""
    fig = learning_curves(steps, epochs, total_steps)
    starts: dict[str, int] = {}
    for record in steps:
        starts.setdefault(record["phase"], record["step"] - 1)
    for key, step in starts.items():
        for col in (1, 2):
            fig.add_vline(x=step, line=dict(color=ACCENT, dash="dot", width=2), row=1, col=col)
        fig.add_annotation(x=step, y=1.0, yref="y2 domain", xref="x2", text=titles[key],
                           showarrow=False, xanchor="left", yanchor="bottom",
                           font=dict(color=ACCENT, size=13))
    return fig


def trainable_bars(counts: dict[str, int], total: int, titles: dict[str, str]) -> go.Figure:
    """Trainable parameters per phase, as a share of the whole network."""
    names = [titles[k] for k in counts]
    fig = go.Figure(go.Bar(
        x=[c / total for c in counts.values()], y=names, orientation="h", marker_color=ACCENT,
        text=[f"{c:,} ({fmt_number(100 * c / total, 1)} %)" for c in counts.values()],
        textposition="auto"))
    fig.update_layout(**layout(height=90 + 50 * len(counts),
                               xaxis=dict(range=[0, 1], tickformat=".0%",
                                          title=f"share of all {total:,} parameters"),
                               yaxis=dict(autorange="reversed"),
                               margin=dict(l=10, r=10, t=10, b=10)))
    return fig
