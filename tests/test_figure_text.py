"""Text on figures a class can read: every chart's labels in ink at 14 px or more whatever
Streamlit's theme would draw, numbers on cells at WCAG AA contrast, titles wrapped to their
figure, a log axis labelled at full size, a bubble chart that names no bubble over another,
bars named above themselves on a phone, and the theme's primary colour readable on its tint."""

import tomllib
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from cnnviz import architectures
from cnnviz.figures.architectures import accuracy_vs_macs
from cnnviz.figures.grids import grid_cells, step_animation
from cnnviz.figures.predictions import top_k_bars
from cnnviz.figures.style import BOLD_EM, FONT_SIZE, INK, MIN_TEXT, legible, log_ticks, wrap
from cnnviz.figures.transfer import LINE_PX, phase_curves, trainable_bars
from cnnviz.ops import steps

ROOT = Path(__file__).resolve().parents[1]


def contrast(a: str, b: str) -> float:
    """WCAG 2.1's contrast ratio of two "#rrggbb" colours, written out from its definition."""
    def luminance(colour: str) -> float:
        channels = [int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                   for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("values", [np.linspace(-1, 1, 512), np.linspace(0, 1, 512)],
                         ids=["diverging", "sequential"])
def test_every_cells_number_reads_at_wcag_aa_on_its_colour(values):
    cells = grid_cells(values)
    ratios = [contrast(fill, ink) for fill, ink in zip(cells["fill"], cells["ink"])]
    worst = int(np.argmin(ratios))
    assert ratios[worst] >= 4.5, (f"{cells['ink'][worst]} on {cells['fill'][worst]}: "
                                  f"{ratios[worst]:.2f}:1")


def test_every_chart_text_is_ink_at_fourteen_pixels_or_more():
    figure = go.Figure([go.Bar(x=[0.2], y=["tabby"], orientation="h", text=["20%"]),
                        go.Heatmap(z=[[1, 2]]), go.Scatter(x=[1], y=[1], text=["a"],
                                                           textfont=dict(size=9))])
    figure.update_layout(xaxis=dict(title="p", tickfont=dict(size=10)), legend=dict(),
                         annotations=[dict(text="mean", x=0, y=0)])
    legible(figure)
    fonts = [figure.layout.xaxis.tickfont, figure.layout.yaxis.tickfont,
             figure.layout.xaxis.title.font, figure.layout.legend.font,
             figure.data[1].colorbar.tickfont, figure.data[2].textfont,
             figure.data[0].outsidetextfont, figure.layout.annotations[0].font]
    assert all(f.size >= MIN_TEXT and f.color == INK for f in fonts)
    assert figure.data[0].textfont.color is None  # inside its bar, white or black by the bar
    assert not top_k_bars([(1, "tabby", 0.5)]).data[0].textfont.color


def test_a_title_is_wrapped_to_its_figure():
    title = "stage 3 · block 2 · depthwise conv 5×5<br>Channels 1–16 of 40, by mean"
    for width in (320, 520):
        lines = wrap(title, width).split("<br>")
        assert all(len(line) * BOLD_EM * FONT_SIZE <= width for line in lines)
        assert " ".join(lines).split() == title.replace("<br>", " ").split()


def test_a_log_axis_is_labelled_one_two_five():
    assert log_ticks(0.15, 30) == pytest.approx([0.2, 0.5, 1, 2, 5, 10, 20])


def test_the_bubble_chart_names_fewer_bubbles_on_a_phone_and_puts_its_scale_under_it():
    records = [r for r in architectures.compare() if r["top1"] is not None]
    wide, narrow = (accuracy_vs_macs(records, width_px=w) for w in (960, 340))
    names = [r["label"] for r in records]
    shown = [text.replace("<br>", "") for text in wide.data[0].text]
    assert shown == names  # on a projector every bubble is named
    assert 0 < sum(bool(t) for t in narrow.data[0].text) < len(names)
    assert narrow.data[0].marker.colorbar.orientation == "h"


@pytest.mark.parametrize("width", [340, 960], ids=["phone", "projector"])
def test_the_parameter_shares_name_each_bar_above_it_in_lines_that_fit(width):
    """On a phone the counts beside the bars ran past the screen ("328,964 (8."): each
    phase's name and count now stand above its own bar, in lines as wide as the figure."""
    counts = {"head": 328_707, "last_blocks": 1_822_467, "all": 3_699_715}
    titles = {"head": "Phase 1: the new head only",
              "last_blocks": "Phase 2: the last two blocks and the head",
              "all": "Phase 3: everything"}
    fig = trainable_bars(counts, counts["all"], titles, width_px=width)
    (bars,) = fig.data
    assert bars.text is None  # nothing written beside a bar
    low, high = sorted(fig.layout.yaxis.range)
    previous_bottom = low
    for note, centre, count in zip(fig.layout.annotations, bars.y, counts.values()):
        lines = note.text.split("<br>")
        assert all(len(line) * BOLD_EM * FONT_SIZE <= width for line in lines), lines
        assert any(line.startswith(f"{count:,} (") and line.endswith("%)") for line in lines)
        assert note.yanchor == "bottom" and note.y == centre - bars.width / 2  # on its bar
        assert note.y - LINE_PX * len(lines) >= previous_bottom  # under the bar before
        previous_bottom = centre + bars.width / 2
    assert previous_bottom <= high
    assert fig.layout.xaxis.title.text.replace("<br>", " ").endswith("3,699,715 parameters")


def test_the_phases_are_named_inside_the_accuracy_plot_one_above_the_other():
    """Named above the plot they lay over its title "Accuracy" on a phone, and over each
    other where a phase lasts a few steps."""
    steps = [{"step": s, "loss": 1.0, "accuracy": 0.5, "phase": phase}
             for s, phase in zip(range(1, 9), ["head"] * 6 + ["last_blocks", "all"])]
    titles = {"head": "the new head only", "last_blocks": "the last two blocks", "all": "all"}
    fig = phase_curves(steps, [], titles)
    names = [a for a in fig.layout.annotations if a.text in titles.values()]
    assert [a.text for a in names] == list(titles.values())
    assert all(a.yref == "y2 domain" and a.y == 0 and a.yanchor == "bottom" for a in names)
    shifts = sorted(a.yshift for a in names)
    assert all(b - a >= LINE_PX for a, b in zip(shifts, shifts[1:]))


def test_on_a_phone_the_phase_lines_cross_both_stacked_plots():
    """Stacked for a phone, the accuracy plot is the second row: each phase's line marks the
    loss above it and the accuracy below, not a third column that is not there."""
    steps = [{"step": s, "loss": 1.0, "accuracy": 0.5, "phase": phase}
             for s, phase in zip(range(1, 9), ["head"] * 6 + ["all"] * 2)]
    fig = phase_curves(steps, [], {"head": "the new head only", "all": "all"}, stacked=True)
    assert fig.layout.xaxis2.anchor == "y2" and fig.layout.yaxis2.domain[1] < \
        fig.layout.yaxis.domain[0]  # accuracy below loss
    lines = sorted((shape.x0, shape.xref) for shape in fig.layout.shapes)
    assert lines == [(0, "x"), (0, "x2"), (6, "x"), (6, "x2")]


def test_the_themes_primary_colour_reads_on_its_own_tint():
    """Streamlit writes a selected segmented control or pill in the theme's primary colour on
    a 10 % tint of it (``transparentize(primary, 0.9)`` in its styles) over the white page;
    its own light primary, #C53948, gives 4.48:1 there."""
    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    primary = theme.get("primaryColor", "#C53948")
    tint = "#" + "".join(f"{round(0.1 * int(primary[k:k + 2], 16) + 0.9 * 255):02x}"
                         for k in (1, 3, 5))
    assert contrast(primary, tint) >= 4.5
    assert contrast(primary, "#ffffff") >= 4.5  # white on a primary button


def test_a_board_of_many_channels_gives_each_a_readable_row():
    rng = np.random.default_rng(0)
    many = steps.conv_trace(rng.normal(size=(8, 6, 6)), rng.normal(size=(8, 3, 3)))
    few = steps.conv_trace(rng.normal(size=(3, 6, 6)), rng.normal(size=(3, 3, 3)))
    data = step_animation(many).to_data()
    assert data["height"] is None and data["minUnit"] >= 36  # tall rather than illegible
    assert "cnnviz-small" in data["captionClass"]  # the sum at the size of the page's text
    assert len(data["layout"]) == 8  # a row per input channel
    assert step_animation(few).to_data()["height"]  # the default board still fits a screen
