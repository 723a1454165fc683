"""The "Why ResNets work" page, run headlessly: the numbers it prints against independent ones,
every combination of its settings, and what it concludes from the shipped runs."""

import itertools
import re

import pytest

from cnnviz.figures import thumbnails
from cnnviz.figures.depth import sci
from cnnviz.train import cifar_net
from cnnviz.train.depth import degradation, verdict
from cnnviz.train.depth.cifar_net import DEPTHS
from cnnviz.train.depth.images32 import digits32
from cnnviz.ui import lessons
from tests.pagetest import assert_clean, open_page
from tests.test_gradient_flow import backward_with_hooks

PAGE = "views/why_resnets.py"


NUMBER = r"([−\d.]+(?: × 10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?)"  # as cnnviz.figures.depth.sci writes it


def number(text: str) -> float:
    """A number as the page writes it: "0.0123", "7040" or "1.23 × 10⁻⁵"."""
    mantissa, _, power = text.replace("−", "-").partition(" × 10")
    digits = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
    return float(mantissa) * 10 ** int(power.translate(digits) or 0)


def autograd_norms(depth: int, residual: bool, **options) -> list[float]:
    """‖∂L/∂x‖ at every block's input as torch.autograd gives it on the page's batch, in float64
    as the page's table computes them."""
    data = digits32()
    images, labels = data.tensors(data.train, 128)
    net = cifar_net(depth, residual, in_channels=1, seed=0, **options).train().double()
    return [g.norm().item() for g in backward_with_hooks(net, images.double(), labels)]


@pytest.fixture(scope="module")
def page20():
    return open_page(PAGE, {"depth": "20"})


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_parameter_counts_are_torchs_and_the_papers(page20):
    table = page20.dataframe[0].value.set_index("Network")
    for name, residual in (("plain-20", False), ("ResNet-20", True)):
        assert table.loc[name, "Parameters (counted by torch)"] == sum(
            p.numel() for p in cifar_net(20, residual, in_channels=1).parameters())
        assert table.loc[name, "Weighted layers"] == 20
    assert table.loc["ResNet-20", "He et al. (2015), Table 6"] == "0.27M"


def test_derivation_shows_autograds_norms(page20):
    text = markdown(page20)
    plain, residual = autograd_norms(20, False), autograd_norms(20, True)
    shown = re.search(rf"= \*\*{NUMBER}\*\*: 9 factors", text)
    assert number(shown.group(1)) == pytest.approx(plain[0], rel=6e-3)
    shown = re.search(rf"‖∂L/∂x₁‖ = \*\*{NUMBER}\*\* \(output: {NUMBER}\)", text)
    assert number(shown.group(1)) == pytest.approx(residual[0], rel=6e-3)
    assert number(shown.group(2)) == pytest.approx(residual[-1], rel=6e-3)
    ratios = re.search(rf"plain \*\*{NUMBER}\*\*, residual \*\*{NUMBER}\*\*", text)
    assert number(ratios.group(1)) == pytest.approx(plain[0] / plain[-2], rel=6e-3)
    assert number(ratios.group(2)) == pytest.approx(residual[0] / residual[-2], rel=6e-3)


def test_every_combination_of_settings_opens():
    """Depth × batch norm × activation × shortcut, all 48: depth 56 without batch norm with
    sigmoid crashed with a ZeroDivisionError (its gradient underflows to exactly 0)."""
    at = open_page(PAGE)
    for depth, batch_norm, activation, shortcut in itertools.product(
            DEPTHS, (True, False), ("ReLU", "sigmoid"), ("A", "B")):
        at.select_slider(key="depth").set_value(depth)
        at.toggle(key="batch_norm").set_value(batch_norm)
        at.segmented_control(key="activation").set_value(activation)
        at.segmented_control(key="shortcut").set_value(shortcut).run()
        assert_clean(at)
        assert at.query_params["depth"] == str(depth)  # the page shows this setting


def test_a_gradient_below_float32s_range_is_shown_as_vanished():
    """Plain-110 without batch norm with sigmoid: the first blocks' gradients are below float32's
    smallest number, so in float32 (as autograd computes it in training) every entry is 0."""
    at = open_page(PAGE, {"depth": "110", "batch_norm": "false", "activation": "sigmoid"})
    norms = autograd_norms(110, False, batch_norm=False, activation="sigmoid")
    vanished = next(k for k, v in enumerate(norms) if v >= 2.0 ** -149)
    assert vanished > 0
    data = digits32()
    net = cifar_net(110, False, batch_norm=False, activation="sigmoid", in_channels=1,
                    seed=0).train()
    first = backward_with_hooks(net, *data.tensors(data.train, 128))[0]
    assert first.count_nonzero() == 0  # float32's own: nothing left
    text = markdown(at)
    assert (f"at block {vanished} and below the gradient's norm (down to "
            f"{sci(norms[0])} at the first block) is below float32's smallest positive "
            "number") in text
    assert "**in float32, as the network trains, it is exactly 0: it vanished**" in text


def test_default_plain_56_with_batch_norm_shows_the_gradient_growing_towards_the_input():
    at = open_page(PAGE)
    plain = autograd_norms(56, False)
    shown = re.search(rf"plain-56 with batch norm and ReLU, the page's default, grows {NUMBER}×",
                      captions(at))
    assert plain[0] > plain[-2]
    assert number(shown.group(1)) == pytest.approx(plain[0] / plain[-2], rel=6e-3)


def test_degradation_sections_state_what_the_shipped_runs_show(page20):
    text = markdown(page20)
    for record in degradation.load()["settings"]:
        for found in verdict.verdict(record).values():
            assert verdict.sentence(found, record) in text, found.kind
    assert "unlikely to be caused by vanishing gradients" in text


def test_the_home_card_says_what_the_page_says():
    record = next(r for r in degradation.load()["settings"] if r["setting"]["batch_norm"])
    assert lessons._why_resnets() == thumbnails.question_card(*verdict.headline(record))


def test_without_batch_norm_the_help_states_what_was_measured(page20):
    record = next(r for r in degradation.load()["settings"] if not r["setting"]["batch_norm"])
    measured = verdict.outcomes(record)
    assert measured in page20.toggle(key="live_bn").help
    assert "at 0.1 the networks diverge" not in page20.toggle(key="live_bn").help
    assert f"Measured without batch norm: {measured}." in markdown(page20)
