"""The precomputed gradient flow of the "Why ResNets work" page: every setting is in it, and it
matches a fresh computation within the spread that other CPUs give."""

import json

import pytest

from cnnviz.train.depth import flow_table

# How far a fresh measurement may be from the table made on another machine. bench/float_spread.py
# measured the depth-20 networks (float64 from float32 weights and inputs) under torch's scalar
# kernels (ATEN_CPU_CAPABILITY=default) against the table (AVX-512, 1 thread): at most 3.3e-3
# relative (plain-20 with batch norm and ReLU, which amplifies the last bits of its inputs);
# 2 threads against 1: no difference at all. The tolerance is 5 × that; the sigmoid networks'
# norms, down to 1e-70, agreed to 5e-6, so tiny values are held to it too (a table computed in
# float32 had 0 there).
REL = 2e-2


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
        assert a == pytest.approx(b, rel=REL, abs=0), (k, f"run `{flow_table.COMMAND}`")


def test_a_setting_missing_from_the_table_is_measured(tmp_path):
    path = tmp_path / "flows.json"
    path.write_text(json.dumps({"flows": {}}))
    plain, residual = flow_table.flows(8, True, "relu", "B", path=path)
    assert plain == flow_table.measure(8, True, "relu", False)
    assert residual == flow_table.measure(8, True, "relu", True, "B")
