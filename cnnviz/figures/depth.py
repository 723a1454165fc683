"""Figures of the depth problem: gradient norms block by block on a log scale, and the training
curves of shallow and deep, plain and residual networks. Pure functions: measured records in
(``cnnviz.train.depth.gradient_flow`` and ``cnnviz.train.depth.degradation``), plotly figures out.

One code throughout: colour is the architecture (plain orange, residual blue), a dashed line the
shallower network, a solid one the deeper.
"""

import math

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from cnnviz.figures.style import HIGHLIGHT, SEQUENTIAL, fmt_number, layout

PLAIN = HIGHLIGHT
RESIDUAL = "#2166ac"
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _colour(residual: bool) -> str:
    return RESIDUAL if residual else PLAIN


def sci(x: float) -> str:
    """A gradient norm in words a class can read: 3 significant digits, written out between
    0.001 and 10,000 and as “1.23 × 10⁻⁵” beyond, with a real minus sign."""
    if x == 0 or not math.isfinite(x):
        return fmt_number(x)
    exponent = math.floor(math.log10(abs(x)))
    if -3 <= exponent < 4:
        return fmt_number(x, max(0, 2 - exponent))
    mantissa = round(x / 10 ** exponent, 2)
    if abs(mantissa) >= 10:  # 9.996 rounds up to the next power
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{fmt_number(mantissa, 2)} × 10{str(exponent).translate(SUPERSCRIPT)}"


def gradient_flow(plain: dict, residual: dict, depth: int) -> go.Figure:
    """‖∂L/∂x‖ at every block's input, plain and residual overlaid, and the residual network's
    highway term (the shortcut-only path) dashed. ``plain`` and ``residual`` are
    ``GradientFlow.as_dict()`` records of the same depth on the same batch."""
    blocks = len(plain["input_norms"]) - 1
    x = list(range(1, blocks + 2))
    names = [f"block {i} input" for i in range(1, blocks + 1)] + ["last block's output"]
    figure = go.Figure()
    for record, name in ((plain, f"plain-{depth}"), (residual, f"ResNet-{depth}")):
        figure.add_scatter(
            x=x, y=record["input_norms"], name=name, mode="lines+markers",
            line=dict(color=_colour(record["residual"]), width=3),
            customdata=names, hovertemplate="%{customdata}: ‖∂L/∂x‖ = %{text}<extra>"
            + name + "</extra>", text=[sci(v) for v in record["input_norms"]])
    highway = residual["highway_norms"]
    figure.add_scatter(
        x=x, y=highway, name=f"ResNet-{depth}: shortcuts only (the “1” term)",
        mode="lines", line=dict(color=RESIDUAL, width=2, dash="dot"),
        customdata=names, text=[sci(v) for v in highway],
        hovertemplate="%{customdata}: ‖highway‖ = %{text}<extra></extra>")
    figure.update_yaxes(type="log", title="gradient norm ‖∂L/∂x‖ (log scale)",
                        exponentformat="power")
    figure.update_xaxes(title="block (input on the left; the gradient flows right to left)",
                        dtick=max(1, blocks // 9))
    figure.update_layout(**layout(title="Gradient at each block's input, at initialisation",
                                  legend=dict(orientation="h", y=-0.25), height=520))
    return figure


def weight_gradients(plain: dict, residual: dict, depth: int) -> go.Figure:
    """‖∂L/∂W‖ of every convolution and the classifier, input to output, plain and residual."""
    figure = go.Figure()
    for record, name in ((plain, f"plain-{depth}"), (residual, f"ResNet-{depth}")):
        layers = list(record["weight_norms"])
        values = list(record["weight_norms"].values())
        figure.add_scatter(
            x=list(range(1, len(layers) + 1)), y=values, name=name, mode="lines+markers",
            line=dict(color=_colour(record["residual"]), width=2), marker=dict(size=5),
            customdata=layers, text=[sci(v) for v in values],
            hovertemplate="%{customdata}: ‖∂L/∂W‖ = %{text}<extra>" + name + "</extra>")
    figure.update_yaxes(type="log", title="‖∂L/∂W‖ (log scale)", exponentformat="power")
    figure.update_xaxes(title="weighted layer, input to output")
    figure.update_layout(**layout(title="Gradient of each layer's weights, at initialisation",
                                  legend=dict(orientation="h", y=-0.25), height=460))
    return figure


def _by_architecture(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    return [r for r in runs if not r["residual"]], [r for r in runs if r["residual"]]


def _dash(run: dict, runs: list[dict]) -> str:
    return "solid" if run["depth"] == max(r["depth"] for r in runs) else "dash"


def training_curves(runs: list[dict], title: str) -> go.Figure:
    """Training loss (every step, faint; each epoch's mean, bold) and validation accuracy (each
    epoch) of the runs of one setting: plain networks on the left, residual on the right. A run
    that diverged is drawn up to its last finite step and named so."""
    figure = make_subplots(rows=2, cols=2, shared_xaxes=True, vertical_spacing=0.1,
                           horizontal_spacing=0.08,
                           subplot_titles=("plain: training loss", "residual: training loss",
                                           "plain: validation accuracy",
                                           "residual: validation accuracy"))
    for col, group in enumerate(_by_architecture(runs), start=1):
        for run in group:
            colour, dash = _colour(run["residual"]), _dash(run, group)
            name = run["label"] + (" (diverged)" if run["ended"] == "diverged" else "")
            losses = run.get("loss", [])
            figure.add_scatter(x=list(range(1, len(losses) + 1)), y=losses, row=1, col=col,
                               mode="lines", line=dict(color=colour, width=1, dash=dash),
                               opacity=0.35, showlegend=False, hoverinfo="skip")
            epochs = run.get("epochs", [])
            steps = [e["step"] for e in epochs]
            figure.add_scatter(
                x=steps, y=[e["loss"] for e in epochs], row=1, col=col, name=name,
                mode="lines+markers", line=dict(color=colour, width=3, dash=dash),
                text=[f"epoch {e['epoch']}: mean loss {fmt_number(e['loss'], 3)}"
                      for e in epochs], hovertemplate="%{text}<extra>" + name + "</extra>")
            figure.add_scatter(
                x=steps, y=[100 * e["val_accuracy"] for e in epochs], row=2, col=col,
                mode="lines+markers", line=dict(color=colour, width=3, dash=dash),
                showlegend=False,
                text=[f"epoch {e['epoch']}: {fmt_number(100 * e['val_accuracy'], 1)} %"
                      for e in epochs], hovertemplate="%{text}<extra>" + name + "</extra>")
    figure.update_yaxes(title_text="cross-entropy", row=1, col=1)
    figure.update_yaxes(title_text="accuracy (%)", range=[0, 100], row=2, col=1)
    figure.update_yaxes(range=[0, 100], row=2, col=2)
    figure.update_xaxes(title_text="training step", row=2)
    figure.update_layout(**layout(title=title, height=720, legend=dict(orientation="h", y=-0.12)))
    return figure


def checkpoint_gradients(runs: list[dict]) -> go.Figure:
    """‖∂L/∂x‖ at every block's input at each gradient checkpoint (lighter = later) for the
    deeper plain and residual networks: do the plain network's early blocks get a gradient?"""
    deep = max(r["depth"] for r in runs)
    shown = [r for r in runs if r["depth"] == deep and r.get("gradients")]
    figure = make_subplots(rows=1, cols=len(shown), shared_yaxes=True,
                           subplot_titles=[r["label"] for r in shown], horizontal_spacing=0.05)
    for col, run in enumerate(shown, start=1):
        checkpoints = run["gradients"]
        for k, point in enumerate(checkpoints):
            norms = point["input_norms"]
            share = k / max(len(checkpoints) - 1, 1)
            figure.add_scatter(
                x=list(range(1, len(norms) + 1)), y=norms, row=1, col=col, mode="lines",
                name=f"step {point['step']}", legendgroup=str(k), showlegend=col == 1,
                line=dict(width=2, color=_sequential(share)),
                text=[sci(v) for v in norms],
                hovertemplate="block %{x}: %{text}<extra>step " + str(point["step"]) + "</extra>")
    figure.update_yaxes(type="log", exponentformat="power")
    figure.update_yaxes(title_text="‖∂L/∂x‖ at the block's input", row=1, col=1)
    figure.update_xaxes(title_text="block (input on the left)")
    figure.update_layout(**layout(title="Gradient per block during training",
                                  legend=dict(orientation="h", y=-0.25), height=460))
    return figure


def _sequential(share: float) -> str:
    """A colour of the app's sequential scale (cividis) at ``share`` in [0, 1]."""
    return sample_colorscale(SEQUENTIAL, [0.85 * share])[0]
