"""The top-k predictions of a classifier as a horizontal bar chart."""

import plotly.graph_objects as go

from cnnviz.figures import style


def top_k_bars(predictions: list[tuple[int, str, float]]) -> go.Figure:
    """Bars of (index, class name, probability), the most likely on top."""
    names = [name for _, name, _ in predictions][::-1]
    probs = [p for _, _, p in predictions][::-1]
    fig = go.Figure(go.Bar(
        x=probs, y=names, orientation="h", marker_color=style.ACCENT,
        text=[f"{p:.1%}" for p in probs], textposition="auto",
        hovertemplate="%{y}: %{x:.2%} (softmax probability)<extra></extra>",
    ))
    fig.update_layout(**style.layout(height=60 + 48 * len(names), xaxis=dict(
        range=[0, 1], tickformat=".0%", title="probability")))
    return fig
