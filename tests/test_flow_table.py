"""The precomputed gradient flow of the "Why ResNets work" page: every setting is in it, and it
matches a fresh computation within the spread that other CPUs give."""

import json

import pytest

from cnnviz.train.depth import flow_table

# bench/float_spread.py measured how far these norms move with the kernels of another CPU
# (1 and 2 threads, torch's AVX2 and scalar kernels, oneDNN and MKL held to AVX2, oneDNN off,
# float64): the largest relative difference, times a margin of 10, plus the table's rounding
# to 7 significant digits.
REL = None
# Below this a norm is in or near float32's subnormal range, where it keeps few significant
# bits: there both sides must merely be tiny (or exactly 0: vanished).
TINY = 1e-30


@pytest.fixture(scope="module")
def table() -> dict:
    return flow_table.load()["flows"]


def test_the_table_holds_every_network_the_page_offers(table):
    assert len(flow_table.settings()) == 6 * 2 * 2 * 2
    assert sorted(table) == sorted(flow_table.key(*n) for n in flow_table.networks()), (
        f"run `{flow_table.COMMAND}`")
    for depth, batch_norm, activation, shortcut in flow_table.settings():
        plain, residual = flow_table.flows(depth, batch_norm, activation, shortcut)
        assert (plain["residual"], residual["residual"]) == (False, True)
        assert len(plain["input_norms"]) == len(residual["input_norms"]) == (depth - 2) // 2 + 1


def values(record: dict) -> list[float]:
    return [record["loss"], *record["input_norms"], *record["highway_norms"],
            *record["rest_norms"], *record["weight_norms"].values()]


@pytest.mark.parametrize("network", flow_table.spot_checks(),
                         ids=lambda n: flow_table.key(*n))
def test_the_table_matches_a_fresh_computation(network, table):
    stored, fresh = table[flow_table.key(*network)], flow_table.measure(*network)
    assert (stored["layers"], stored["params"]) == (fresh["layers"], fresh["params"])
    assert list(stored["weight_norms"]) == list(fresh["weight_norms"])
    for k, (a, b) in enumerate(zip(values(stored), values(fresh), strict=True)):
        if max(abs(a), abs(b)) < TINY:
            continue
        assert a == pytest.approx(b, rel=REL), (k, f"run `{flow_table.COMMAND}`")


def test_a_setting_missing_from_the_table_is_measured(tmp_path):
    path = tmp_path / "flows.json"
    path.write_text(json.dumps({"flows": {}}))
    plain, residual = flow_table.flows(8, True, "relu", "B", path=path)
    assert plain == flow_table.measure(8, True, "relu", False)
    assert residual == flow_table.measure(8, True, "relu", True, "B")
