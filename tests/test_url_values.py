"""Every value a link can carry: a hand-edited, truncated or hostile URL never breaks a page.

Each page records the query parameters it reads (``cnnviz.ui.url_state.KEYS``); the property
test opens every page with random and nasty values for all of them at once."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from cnnviz.formatting import plain
from cnnviz.ui.navigation import all_pages
from cnnviz.ui.url_state import KEYS
from tests.pagetest import assert_clean, open_page
from tests.test_models import closed_port_url

NASTY = ["", " ", "1e309", "-1e309", "1e300", "1e20", "nan", "inf", "-1", "0", "0.5",
         "99999999999999999999", "[{}]", "[[1]]", "[1]", "{}", "null", "true", "[", "\"",
         "é ∞ ✓", "x" * 300, "[" * 2000]
_keys: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())


def url_keys(path: str) -> list[str]:
    """The query parameters the page reads: those of a clean run, and those that appear when
    every one of them says "true" (a toggle that opens a section with more parameters)."""
    if path not in _keys:
        found: set[str] = set()
        for query in ({}, "all true"):
            query = {key: "true" for key in found} if query == "all true" else query
            at = open_page(path, query, via_app=True)
            found |= at.session_state[KEYS] if KEYS in at.session_state else set()
        _keys[path] = sorted(found)
    return _keys[path]


def test_pages_that_keep_state_in_the_url_say_which_parameters():
    keys = {page.path: url_keys(page.path) for page in all_pages()}
    assert {"kernel", "grid", "stride", "step"} <= set(keys["views/convolution.py"])
    assert {"cam_method", "cam_layer", "cam_class", "model", "image_source",
            "cam_passes"} <= set(keys["views/grad_cam.py"])  # cam_passes: behind a toggle
    assert {"layer", "order", "channel"} <= set(keys["views/feature_maps.py"])
    assert {"topics", "quiz"} <= set(keys["views/practice.py"])


@pytest.mark.parametrize("path, query, notice", [
    ("views/practice.py", {"topics": "[{}]"}, "topics"),
    ("views/practice.py", {"topics": "[[1]]"}, "topics"),
    ("views/convolution.py", {"kernel": "1e309"}, None),
    ("views/convolution.py", {"grid": "1e309"}, None),
    ("views/convolution.py", {"kernel": "1e300"}, None),
    ("views/convolution.py", {"grid": "1e20", "kernel": "1e20"}, None),
    ("views/feature_maps.py", {"order": ""}, "order"),
    ("views/grad_cam.py", {"cam_method": ""}, "cam_method"),
])
def test_the_links_that_broke_pages_now_fall_back_with_a_notice(path, query, notice):
    at = open_page(path, query)
    if notice:
        assert any(plain(f"{notice}=") in w.value for w in at.warning), [w.value
                                                                         for w in at.warning]
    else:  # a typed grid that cannot be used is explained where the grid is drawn
        assert any("too large" in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.parametrize("path, query, key, expected", [
    ("views/grad_cam.py", {"cam_method": "layercam"}, "cam_method", "layercam"),
    ("views/grad_cam.py", {"cam_method": "Layer-CAM"}, "cam_method", "layercam"),
    ("views/grad_cam.py", {"cam_layer": "_blocks.10"}, "cam_layer", "_blocks.10"),
    ("views/feature_maps.py", {"layer": "_blocks.2"}, "layer", "_blocks.2"),
    ("views/grad_cam.py", {"model": "efficientnet_lite0"}, "model", "efficientnet_lite0"),
])
def test_links_may_name_options_by_key_or_by_label(path, query, key, expected):
    at = open_page(path, query)
    assert at.session_state[key] == expected
    assert not at.warning or all(f"`{key}=" not in w.value for w in at.warning)


def test_a_module_without_a_map_is_explained_on_both_pages():
    for path, key in (("views/grad_cam.py", "cam_layer"), ("views/feature_maps.py", "layer")):
        at = open_page(path, {key: "_fc"})
        assert any("no spatial extent" in w.value for w in at.warning), path


@pytest.mark.parametrize("page", all_pages(), ids=lambda p: p.url_path or "home")
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=hs.data())
def test_any_value_of_any_parameter_leaves_the_page_working(page, data):
    keys = url_keys(page.path)
    values = hs.one_of(hs.sampled_from(NASTY), hs.text(max_size=12),
                       hs.integers(-10**6, 10**6).map(str), hs.floats().map(str))
    query = {key: data.draw(values, label=key) for key in keys}
    assert_clean(open_page(page.path, query, via_app=True))
