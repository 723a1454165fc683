"""The "Why ResNets work" page, run headlessly: the numbers it prints against independent ones."""

import re

import pytest

from cnnviz.train import cifar_net
from cnnviz.train.depth import degradation
from cnnviz.train.depth.images32 import digits32
from tests.pagetest import open_page
from tests.test_gradient_flow import backward_with_hooks

PAGE = "views/why_resnets.py"


NUMBER = r"([−\d.]+(?: × 10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?)"  # as cnnviz.figures.depth.sci writes it


def number(text: str) -> float:
    """A number as the page writes it: "0.0123", "7040" or "1.23 × 10⁻⁵"."""
    mantissa, _, power = text.replace("−", "-").partition(" × 10")
    digits = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
    return float(mantissa) * 10 ** int(power.translate(digits) or 0)


def autograd_norms(depth: int, residual: bool, **options) -> list[float]:
    """‖∂L/∂x‖ at every block's input as torch.autograd gives it, on the page's batch."""
    data = digits32()
    net = cifar_net(depth, residual, in_channels=1, seed=0, **options).train()
    return [g.norm().item() for g in backward_with_hooks(net, *data.tensors(data.train, 128))]


@pytest.fixture(scope="module")
def page20():
    return open_page(PAGE, {"depth": "20"})


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_parameter_counts_are_torchs_and_the_papers(page20):
    table = page20.dataframe[0].value.set_index("Network")
    for name, residual in (("plain-20", False), ("ResNet-20", True)):
        assert table.loc[name, "Parameters (counted by torch)"] == sum(
            p.numel() for p in cifar_net(20, residual).parameters())
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


def test_other_settings_redraw_without_error(page20):
    page20.toggle(key="batch_norm").set_value(False).run()
    page20.segmented_control(key="activation").set_value("sigmoid").run()
    assert not page20.exception
    text = markdown(page20)
    plain = autograd_norms(20, False, batch_norm=False, activation="sigmoid")
    shown = re.search(rf"= \*\*{NUMBER}\*\*: 9 factors", text)
    assert number(shown.group(1)) == pytest.approx(plain[0], rel=6e-3)


def test_degradation_section_states_what_the_shipped_runs_show(page20):
    text = markdown(page20)
    for record in degradation.load()["settings"]:
        found = degradation.verdict(record)
        deep = record["setting"]["depths"][1]
        if found["plain_degrades"]:
            assert f"the deeper plain network ends **worse** (plain-{deep}" in text
        else:
            assert f"the deeper plain network does **not** end worse here (plain-{deep}" in text
