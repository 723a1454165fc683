"""Figures of the Grad-CAM page: the MC-dropout spread of the top classes, and the sanity
check's rank correlation as the weights are randomised from the top down."""

import plotly.graph_objects as go

from cnnviz.figures import style


def uncertainty_bars(spreads) -> go.Figure:
    """Horizontal bars of mean probability ± one standard deviation over the dropout passes
    (``uncertainty.ClassSpread`` rows), the most likely on top."""
    rows = list(spreads)[::-1]
    fig = go.Figure(go.Bar(
        x=[r.mean for r in rows], y=[r.name for r in rows], orientation="h",
        marker_color=style.ACCENT,
        error_x=dict(type="data", array=[r.std for r in rows], color=style.HIGHLIGHT,
                     thickness=3, width=8),
        customdata=[r.std for r in rows],
        hovertemplate="%{y}: %{x:.1%} ± %{customdata:.1%}<extra></extra>",
    ))
    fig.update_layout(**style.layout(height=60 + 48 * len(rows), xaxis=dict(
        range=[0, 1], tickformat=".0%", title="mean probability ± 1 standard deviation")))
    return fig


def sanity_curve(steps, threshold: float = 0.2) -> go.Figure:
    """Spearman rank correlation with the trained model's map against the number of units
    re-initialised from the top (``sanity.SanityStep`` rows); a dashed line at ``threshold``."""
    steps = list(steps)
    fig = go.Figure(go.Scatter(
        x=[s.count for s in steps], y=[s.spearman for s in steps], mode="lines+markers",
        line=dict(color=style.ACCENT, width=3), marker=dict(size=9),
        customdata=[s.unit or "none (trained)" for s in steps],
        hovertemplate=("%{x} units random, down to %{customdata}<br>"
                       "Spearman %{y:.2f}<extra></extra>"),
    ))
    fig.add_hline(y=threshold, line=dict(color=style.HIGHLIGHT, dash="dash"),
                  annotation_text=f"{style.fmt_number(threshold)}",
                  annotation_position="top right")
    fig.update_layout(**style.layout(
        height=340,
        xaxis=dict(title="units re-initialised, from the output down", rangemode="tozero"),
        yaxis=dict(title="rank correlation with the trained map", range=[-1.05, 1.05]),
    ))
    fig.update_yaxes(tickvals=[-1, -0.5, 0, 0.5, 1],
                     ticktext=[style.fmt_number(v) for v in (-1, -0.5, 0, 0.5, 1)])
    return fig
