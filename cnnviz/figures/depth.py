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

from cnnviz.figures.style import HIGHLIGHT, SEQUENTIAL, TICK_SIZE, fmt_number, layout
from cnnviz.figures.style import log_ticks, wrap

PLAIN = HIGHLIGHT
RESIDUAL = "#2166ac"
FLOAT32_SMALLEST = 2.0 ** -149  # the smallest positive float32 (a subnormal)
# under the plot, clear of the x axis's title (a phone wraps it onto more rows)
LEGEND = dict(orientation="h", y=-0.35, yanchor="top")
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


def _positive(values: list[float]) -> list[float | None]:
    """Norms for a log axis: an exact 0 (below float32's range) has no place on it."""
    return [v if v > 0 else None for v in values]


def gradient_flow(plain: dict, residual: dict, depth: int, *,
                  width_px: float = 700) -> go.Figure:
    """‖∂L/∂x‖ at every block's input, plain and residual overlaid, and the residual network's
    highway term (the shortcut-only path) dashed. ``plain`` and ``residual`` are
    ``GradientFlow.as_dict()`` records of the same depth on the same batch. Where a norm falls
    below float32's smallest number, a dashed line marks that floor: a float32 network's
    gradient is 0 beneath it. ``width_px``: the figure's width, that its texts wrap to."""
    blocks = len(plain["input_norms"]) - 1
    x = list(range(1, blocks + 2))
    names = [f"block {i} input" for i in range(1, blocks + 1)] + ["last block's output"]
    figure = go.Figure()
    for record, name in ((plain, f"plain-{depth}"), (residual, f"ResNet-{depth}")):
        norms = record["input_norms"]
        figure.add_scatter(
            x=x, y=_positive(norms), name=name, mode="lines+markers",
            line=dict(color=_colour(record["residual"]), width=3),
            customdata=names, hovertemplate="%{customdata}: ‖∂L/∂x‖ = %{text}<extra>"
            + name + "</extra>", text=[sci(v) for v in norms])

    lowest = min((v for r in (plain, residual) for v in r["input_norms"] if v > 0), default=1)
    if lowest < FLOAT32_SMALLEST:
        figure.add_hline(y=FLOAT32_SMALLEST, line=dict(color="#666666", dash="dash", width=1),
                         annotation_text=wrap("float32's smallest number: below it, 0 in "
                                              "training", width_px - 100, TICK_SIZE),
                         annotation_position="top left")
    highway = residual["highway_norms"]
    figure.add_scatter(
        x=x, y=_positive(highway), name=f"ResNet-{depth}, shortcuts only (“1”)",
        mode="lines", line=dict(color=RESIDUAL, width=2, dash="dot"),
        customdata=names, text=[sci(v) for v in highway],
        hovertemplate="%{customdata}: ‖highway‖ = %{text}<extra></extra>")
    norms = [v for r in (plain, residual) for v in r["input_norms"] + r["highway_norms"]]
    figure.update_yaxes(type="log", title="‖∂L/∂x‖ (log scale)", exponentformat="power",
                        **_log_axis(norms + [FLOAT32_SMALLEST] * (lowest < FLOAT32_SMALLEST)))
    figure.update_xaxes(title=wrap("block (input on the left)", width_px - 80, TICK_SIZE),
                        dtick=max(1, blocks // 9))
    figure.update_layout(**_titled("Gradient at each block's input, at initialisation",
                                   width_px, height=520, legend=LEGEND))
    return figure


def _log_axis(values: list[float]) -> dict:
    """A log axis's ticks for these values: 1, 2 and 5 × 10ⁿ over a few decades (``log_ticks``,
    so that plotly does not draw the ones between decades small), else whole decades only,
    about six of them."""
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    if not values:
        return {}
    low, high = min(values), max(values)
    low_power, high_power = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if high_power - low_power <= 3:
        return dict(tickvals=log_ticks(10 ** low_power, 10 ** high_power))
    step = max(1, math.ceil((high_power - low_power) / 6))
    return dict(tickvals=[10.0 ** p for p in range(low_power, high_power + 1, step)])


def _titled(title: str, width_px: float, *, subplot_titles: bool = False, **overrides) -> dict:
    """``layout`` with ``title`` wrapped to the figure's width and the top margin it needs
    (and room for the subplots' own titles under it)."""
    title = wrap(title, width_px - 20)
    top = 50 + 26 * (title.count("<br>") + 1) + (28 if subplot_titles else 0)
    return layout(title=dict(text=title, yref="container", y=1, yanchor="top", pad=dict(t=20)),
                  margin=dict(l=10, r=10, t=top, b=10), **overrides)


def weight_gradients(plain: dict, residual: dict, depth: int, *,
                     width_px: float = 700) -> go.Figure:
    """‖∂L/∂W‖ of every convolution and the classifier, input to output, plain and residual."""
    figure = go.Figure()
    for record, name in ((plain, f"plain-{depth}"), (residual, f"ResNet-{depth}")):
        layers = list(record["weight_norms"])
        values = list(record["weight_norms"].values())
        figure.add_scatter(
            x=list(range(1, len(layers) + 1)), y=_positive(values), name=name,
            mode="lines+markers",
            line=dict(color=_colour(record["residual"]), width=2), marker=dict(size=5),
            customdata=layers, text=[sci(v) for v in values],
            hovertemplate="%{customdata}: ‖∂L/∂W‖ = %{text}<extra>" + name + "</extra>")
    figure.update_yaxes(type="log", title="‖∂L/∂W‖ (log scale)", exponentformat="power",
                        **_log_axis([v for r in (plain, residual)
                                     for v in r["weight_norms"].values()]))
    figure.update_xaxes(title="weighted layer, input to output")
    figure.update_layout(**_titled("Gradient of each layer's weights, at initialisation",
                                   width_px, height=460, legend=LEGEND))
    return figure


def _by_architecture(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    return [r for r in runs if not r["residual"]], [r for r in runs if r["residual"]]


def _dash(run: dict, runs: list[dict]) -> str:
    return "solid" if run["depth"] == max(r["depth"] for r in runs) else "dash"


def _band(figure: go.Figure, steps: list[int], low: list[float], high: list[float], colour: str,
          row: int, col: int) -> None:
    """The range over seeds, as a faint area between its lowest and highest value."""
    figure.add_scatter(x=steps + steps[::-1], y=high + low[::-1], row=row, col=col,
                       fill="toself", fillcolor=colour, opacity=0.2, line=dict(width=0),
                       mode="lines", showlegend=False, hoverinfo="skip")


def _networks(runs: list[dict]) -> dict[str, list[dict]]:
    """The runs of each network (one per seed), in the order they come."""
    found: dict[str, list[dict]] = {}
    for run in runs:
        found.setdefault(run["label"], []).append(run)
    return found


def training_curves(runs: list[dict], title: str, *, width_px: float = 700) -> go.Figure:
    """Training loss (log scale) and validation accuracy of the runs of one setting, plain
    networks on the left, residual on the right. Each network's epoch means, averaged over its
    seeds, with the range over seeds as a band; with one seed, or before the first epoch ends,
    every step's loss, faint. A run that diverged is drawn up to its last finite step and named
    so. ``width_px``: the figure's width, that its title wraps to."""
    figure = make_subplots(rows=2, cols=2, shared_xaxes=True, vertical_spacing=0.1,
                           horizontal_spacing=0.1, subplot_titles=("plain", "residual", "", ""))
    for col, group in enumerate(_by_architecture(runs), start=1):
        for label, seeds in _networks(group).items():
            first = seeds[0]
            colour, dash = _colour(first["residual"]), _dash(first, group)
            diverged = sum(r["ended"] == "diverged" for r in seeds)
            name = label + (f" ({diverged} of {len(seeds)} diverged)" if diverged > 1 or (
                diverged and len(seeds) > 1) else " (diverged)" if diverged else "")
            finished = [r["epochs"] for r in seeds if r.get("epochs")]
            for run in seeds if len(seeds) == 1 or not finished else []:
                losses = run.get("loss", [])
                figure.add_scatter(x=list(range(1, len(losses) + 1)), y=_positive(losses),
                                   row=1, col=col, mode="lines", name=name, legendgroup=label,
                                   showlegend=not finished and run is first,
                                   line=dict(color=colour, width=1, dash=dash), opacity=0.35,
                                   hoverinfo="skip")
            if not finished:
                continue
            count = min(len(e) for e in finished)
            steps = [e["step"] for e in finished[0][:count]]
            for row, field, scale in ((1, "loss", 1), (2, "val_accuracy", 100)):
                values = [[scale * e[k][field] for e in finished] for k in range(count)]
                mean = [sum(v) / len(v) for v in values]
                if len(finished) > 1:
                    _band(figure, steps, [min(v) for v in values], [max(v) for v in values],
                          colour, row, col)
                what = "mean loss" if row == 1 else "validation accuracy (%)"
                figure.add_scatter(
                    x=steps, y=mean, row=row, col=col, name=name, showlegend=row == 1,
                    legendgroup=label, mode="lines+markers",
                    line=dict(color=colour, width=3, dash=dash),
                    text=[f"epoch {k + 1}: {what} {fmt_number(m, 3 if row == 1 else 1)}"
                          + (f" (seeds {fmt_number(min(v), 3 if row == 1 else 1)} to "
                             f"{fmt_number(max(v), 3 if row == 1 else 1)})"
                             if len(v) > 1 else "") for k, (m, v) in enumerate(zip(mean, values))],
                    hovertemplate="%{text}<extra>" + name + "</extra>")
    losses = [y for trace in figure.data if trace.yaxis in ("y", "y2") and trace.fill is None
              for y in trace.y if y is not None]
    figure.update_yaxes(type="log", exponentformat="power", row=1, **_log_axis(losses))
    figure.update_yaxes(title_text="training loss", row=1, col=1)
    figure.update_yaxes(title_text="validation accuracy (%)", range=[0, 100], row=2, col=1)
    figure.update_yaxes(range=[0, 100], row=2, col=2)
    figure.update_xaxes(title_text="training step", row=2)
    figure.update_layout(**_titled(title, width_px, subplot_titles=True, height=720,
                                   legend=dict(orientation="h", y=-0.12)))
    return figure


def checkpoint_gradients(runs: list[dict], *, width_px: float = 700) -> go.Figure:
    """‖∂L/∂x‖ at every block's input at each gradient checkpoint (lighter = later) for the
    deeper plain and residual networks (their first seed): do the early blocks get a
    gradient?"""
    deep = max(r["depth"] for r in runs)
    first_seed: dict[str, dict] = {}
    for run in runs:
        if run["depth"] == deep and run.get("gradients"):
            first_seed.setdefault(run["label"], run)
    shown = list(first_seed.values())
    figure = make_subplots(rows=1, cols=len(shown), shared_yaxes=True,
                           subplot_titles=[r["label"] for r in shown], horizontal_spacing=0.05)
    for col, run in enumerate(shown, start=1):
        checkpoints = run["gradients"]
        for k, point in enumerate(checkpoints):
            norms = point["input_norms"]
            share = k / max(len(checkpoints) - 1, 1)
            figure.add_scatter(
                x=list(range(1, len(norms) + 1)), y=_positive(norms), row=1, col=col,
                mode="lines",
                name=f"step {point['step']}", legendgroup=str(k), showlegend=col == 1,
                line=dict(width=2, color=_sequential(share)),
                text=[sci(v) for v in norms],
                hovertemplate="block %{x}: %{text}<extra>step " + str(point["step"]) + "</extra>")
    figure.update_yaxes(type="log", exponentformat="power", **_log_axis(
        [v for run in shown for point in run["gradients"] for v in point["input_norms"]]))
    figure.update_yaxes(title_text="‖∂L/∂x‖ at the block's input", row=1, col=1)
    figure.update_xaxes(title_text="block")  # input on the left (the caption says so)
    figure.update_layout(**_titled("Gradient per block during training", width_px,
                                   subplot_titles=True, height=460,
                                   legend=LEGEND))
    return figure


def _sequential(share: float) -> str:
    """A colour of the app's sequential scale (cividis) at ``share`` in [0, 1]."""
    return sample_colorscale(SEQUENTIAL, [0.85 * share])[0]
