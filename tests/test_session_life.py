"""Nothing lost silently, nothing kept for ever (issue 21): a finished fine-tune is kept on the
server's disk for the student's link and offered again after a restart; an ended session's
networks are freed when it ends, not whenever Python's collector runs; and a chart drawn while
another session imports pandas no longer fails."""

import gc
import os
import subprocess
import sys
import time
import weakref

import pytest
import torch

from cnnviz.train import transfer
from cnnviz.train.transfer import fine_tuned, kept_models
from tests.conftest import ROOT, assert_no_exception, running_app, wait_for_app
from tests.pagetest import TIMEOUT, assert_clean, open_page

CLASSES = ["red", "black", "desert"]


@pytest.fixture(scope="module")
def saved_model(lite0) -> bytes:
    net = transfer.build(lite0, len(CLASSES))
    torch.nn.init.normal_(net.head[3].weight)
    return fine_tuned.save(net, lite0.name, CLASSES)


@pytest.fixture
def store(tmp_path, monkeypatch):
    from cnnviz.ui import session_models

    kept = kept_models.ModelStore(tmp_path / "kept", max_bytes=10**9)
    monkeypatch.setattr(session_models, "STORE", kept)
    return kept


# ------------------------------------------------------------------ the store on disk
def test_the_store_is_bounded_per_student_in_bytes_and_in_time(tmp_path):
    store = kept_models.ModelStore(tmp_path, max_bytes=2800, max_age_s=3600)
    a, b = kept_models.new_key(), kept_models.new_key()
    for i in range(4):
        store.keep(a, bytes(500), f"model {i}")
    assert [k.label for k in store.kept(a)] == ["model 3", "model 2", "model 1"]  # 3 per key
    assert store.kept(a)[0].data() == bytes(500) and store.kept(b) == []
    store.keep(b, bytes(1500), "big")  # 3 × ~550 (model and label) + ~1,550 > 2,800: oldest out
    assert [k.label for k in store.kept(a)] == ["model 3", "model 2"]
    assert [k.label for k in store.kept(b)] == ["big"]
    store.max_age_s = 0
    time.sleep(0.01)
    assert store.kept(a) == [] and not any((tmp_path / a).iterdir())


@pytest.mark.parametrize("key", ["", "../../etc", "a" * 21, "a" * 23, "a/b" + "c" * 19])
def test_a_key_from_a_link_never_names_another_folder(tmp_path, key):
    store = kept_models.ModelStore(tmp_path / "kept", max_bytes=10**6)
    assert store.kept(key) == []
    with pytest.raises(ValueError):
        store.keep(key, b"x", "label")
    assert not (tmp_path / "kept").exists() or not any((tmp_path / "kept").iterdir())


# ------------------------------------------------------------------ offered again after a restart
def test_a_kept_model_is_offered_again_on_a_new_session_with_the_link(store, saved_model):
    """A restarted server has no session of the student's: the link's key finds the model,
    the Transfer learning page says so, and the Grad-CAM page's model list loads it."""
    key = kept_models.new_key()
    label = "efficientnet_lite0 fine-tuned (red, black, desert)"
    store.keep(key, saved_model, label)
    at = open_page("views/transfer_learning.py", {"keep": key})
    assert any("Kept on this server for this page" in i.value for i in at.info)
    at = open_page("views/grad_cam.py", {"keep": key})
    picker = at.selectbox(key="model")
    offered = next(option for option in picker.options if option.startswith(label))
    assert "(kept at " in offered
    picker.set_value(label).run()
    assert_clean(at)
    bundle = at.session_state["session_models"][label]
    assert bundle.categories == CLASSES and at.query_params["keep"] == key
    other = open_page("views/grad_cam.py")  # another student, without the link
    assert not any(label in option for option in other.selectbox(key="model").options)


def finish_script():
    """The transfer page's finish(): a fine-tuned bundle registered and kept."""
    import streamlit as st

    from cnnviz import models
    from cnnviz.train import transfer
    from cnnviz.train.transfer import fine_tuned
    from cnnviz.ui.session_models import register

    if "done" not in st.session_state:
        net = transfer.build(models.load_model(), 3)
        bundle = fine_tuned.as_bundle(net, models.load_model(), ["red", "black", "desert"],
                                      "fine-tuned in a test")
        st.session_state.done = register(bundle, keep=lambda: fine_tuned.save(
            net, "efficientnet_lite0", ["red", "black", "desert"]))


def test_a_finished_fine_tune_is_kept_under_a_key_the_link_then_carries(store):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(finish_script, default_timeout=TIMEOUT)
    at.run()
    assert_clean(at)
    key = at.query_params["keep"]
    assert kept_models.is_key(key)
    assert [k.label for k in store.kept(key)] == [at.session_state.done]
    at.run()  # a rerun keeps nothing more
    assert len(store.kept(key)) == 1


# ------------------------------------------------------------------ freed when the session ends
def test_an_ended_sessions_networks_are_freed_at_once_and_a_returning_ones_are_not(
        lite0, monkeypatch):
    from cnnviz.ui import session_models

    ttl = {"server.disconnectedSessionTTL": 1}
    monkeypatch.setattr(session_models.st, "get_option", ttl.__getitem__)
    gc.disable()  # as the server runs: nothing collected behind our back
    try:
        owned, returned = session_models.Owned(), session_models.Owned()
        nets = [transfer.build(lite0, 3) for _ in range(2)]
        weight = weakref.ref(nets[0].head[0].weight)
        owned.own(nets[0])
        returned.own(nets[1])
        owned.visits = returned.visits = 1
        session_models._left((owned, 1))
        session_models._left((returned, 1))
        returned.visits = 2  # it came back before Streamlit dropped it
        deadline = time.monotonic() + 1 + 5 + 30  # Streamlit's TTL, the margin, a slow CPU
        while nets[0].head[0].weight.device.type != "meta":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert weight() is None  # the weights are gone now, without a collection
        assert nets[1].head[0].weight.device.type == "cpu"
    finally:
        gc.enable()


@pytest.mark.browser
def test_the_server_frees_a_closed_tabs_networks_when_its_session_ends(browser, tmp_path,
                                                                        saved_model,
                                                                        artefacts):
    log = artefacts / "session-end-server.log"
    path = tmp_path / "mine.pt"
    path.write_bytes(saved_model)
    with running_app(log, extra_args=("--server.disconnectedSessionTTL", "2")) as url:
        tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        tab.goto(f"{url}/transfer-learning")
        wait_for_app(tab)
        tab.get_by_text("Upload a model fine-tuned here before").click()
        tab.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(
            str(path))
        wait_for_app(tab)
        assert_no_exception(tab)
        assert tab.get_by_text("is now in the model list").count() == 1
        tab.context.close()
        deadline = time.monotonic() + 60
        while "Freed 1 network(s) of a session that ended." not in log.read_text():
            assert time.monotonic() < deadline, "the closed tab's network was not freed"
            time.sleep(0.5)


# ------------------------------------------------------------------ imports and threads
def test_a_chart_drawn_while_another_session_imports_pandas_does_not_fail():
    """plotly looks pandas up in sys.modules without waiting: a training tab's curves drawn
    while the Transfer learning page was importing pandas failed (12 tracebacks on a fresh
    server). Every page imports cnnviz.ui first, which imports pandas whole."""
    script = """
import threading
import cnnviz.ui  # what app.py imports before any page runs
from cnnviz.figures import training as fig

errors, done = [], threading.Event()
record = {"step": 1, "loss": 1.0, "epoch": 1, "accuracy": 0.5, "seconds": 1.0,
          "total_steps": 2}


def draw():
    while not done.is_set():
        try:
            fig.learning_curves([record], [], 2)
        except Exception as err:
            errors.append(repr(err))
            return


thread = threading.Thread(target=draw)
thread.start()
import pandas  # the Transfer learning page's first import

pandas.DataFrame({"a": [1]})
done.set()
thread.join()
print(errors)
"""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]", done.stdout
