"""The "Train a CNN" page headlessly (AppTest): train, stop, reset, results, weights in and out,
your own digit, the network seen whole and its link into the convolution page."""

import io
import time
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnviz.train.scratch import networks
from cnnviz.train.scratch.twin import torch_twin
from tests.pagetest import animations, assert_clean, open_page
from tests.test_convolution_page import value_in, written_sum

PAGE = "views/train_cnn.py"


def click(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert_clean(at)
    return at


def wait_for(condition, timeout=240):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def trained_page(epochs=1, net="numpy"):
    torch.set_num_threads(1)
    at = open_page(PAGE)
    at.radio(key="train_net").set_value(net)
    at.number_input(key="train_epochs").set_value(epochs).run()
    click(at, "Start")
    run = at.session_state["training_run"]
    wait_for(lambda: not run.training)
    at.run()
    assert_clean(at)
    return at, run


@pytest.fixture(scope="module")
def page_after_training():
    return trained_page()


def test_training_ends_in_test_accuracy_confusion_matrices_and_mistakes(page_after_training):
    at, run = page_after_training
    assert run.state == "trained" and run.history()[0][-1]["step"] == 3500 // 32
    accuracy = next(m for m in at.metric if m.label == "Test accuracy")
    assert float(accuracy.value.rstrip("%")) > 70
    assert float(accuracy.value.rstrip("%")) == pytest.approx(100 * run.test_accuracy(), abs=0.01)
    assert np.trace(run.confusion()) == round(run.test_accuracy() * 1000)
    assert "The most confident mistakes" in [s.value for s in at.subheader]
    assert any("read as" in c.value for c in at.caption)


def test_stop_keeps_the_weights_and_reset_starts_afresh():
    at = open_page(PAGE)
    at.number_input(key="train_epochs").set_value(20).run()
    click(at, "Start")
    run = at.session_state["training_run"]
    wait_for(lambda: len(run.history()[0]) >= 30)
    assert next(b for b in at.button if b.label == "Start").disabled
    click(at, "Stop")
    wait_for(lambda: not run.training)
    at.run()
    assert run.state == "trained" and run.poll().stop_reason == "requested"
    assert len(run.history()[0]) < 20 * (3500 // 32)
    assert any("Stopped" in i.value for i in at.info)
    assert run.test_accuracy() > 0.3  # learnt something in those steps, and kept it
    click(at, "Reset")
    fresh = at.session_state["training_run"]
    assert fresh is not run and fresh.state == "new" and not at.metric


def test_changed_settings_ask_for_a_reset(page_after_training):
    at, run = page_after_training
    at.radio(key="train_optimizer").set_value("sgd").run()
    assert next(b for b in at.button if b.label == "Start").disabled
    assert any("Reset builds the new network" in i.value for i in at.info)
    at.radio(key="train_optimizer").set_value("adam").run()


def test_weights_download_upload_and_clear_errors(page_after_training):
    at, run = page_after_training
    data, name = networks.weights_file(run.learner, "numpy")
    uploader = next(u for u in at.file_uploader if u.key == "train_upload")
    uploader.set_value(("notes.npz", b"these are not weights", "application/octet-stream")).run()
    assert any("notes.npz" in e.value and "not a NumPy weights file" in e.value for e in at.error)
    twin = networks.build_learner(networks.Recipe("twin"), run.prepare)
    uploader = next(u for u in at.file_uploader if u.key == "train_upload")
    uploader.set_value(("twin.pt", networks.weights_file(twin, "twin")[0],
                        "application/octet-stream")).run()
    assert any("PyTorch weights file" in e.value for e in at.error)
    before = run.test_accuracy()
    uploader = next(u for u in at.file_uploader if u.key == "train_upload")
    uploader.set_value((name, data, "application/octet-stream")).run()
    assert_clean(at)
    assert not at.error and run.learner is not None
    assert run.test_accuracy() == before  # the same weights, loaded back


def test_your_own_digit_is_prepared_step_by_step_and_read(page_after_training):
    at, _ = page_after_training
    sheet = Image.new("RGB", (300, 400), (235, 235, 230))
    ImageDraw.Draw(sheet).line([(150, 60), (160, 330)], fill=(20, 20, 40), width=22)  # a "1"
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    uploader = next(u for u in at.file_uploader if u.key == "train_own_upload")
    uploader.set_value(("one.png", buffer.getvalue(), "image/png")).run()
    assert_clean(at)
    reads = [m.value for m in at.markdown if "The network reads" in m.value]
    assert reads and "**1**" in reads[0]
    uploader = next(u for u in at.file_uploader if u.key == "train_own_upload")
    uploader.set_value(("blank.png", _png(Image.new("RGB", (99, 99), "white")), "image/png")).run()
    assert any("No digit found" in e.value for e in at.error)


def _png(img) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def clicked_conv2(at):
    """The page with the whole network shown and conv2's channel 3 clicked (8 inputs)."""
    at.session_state["train_watch"] = "whole"
    at.session_state["_train_channel"] = (4, 3)
    at.run()
    assert_clean(at)
    return at


def test_a_clicked_channel_is_computed_in_place_with_the_trained_numbers(page_after_training):
    at, run = page_after_training
    clicked_conv2(at)
    [board] = animations(at)
    titles = [g["title"] for g in board["grids"]]
    assert sum(t.startswith("Input") for t in titles) == 8  # every input channel
    assert sum(t.startswith("Kernel") for t in titles) == 8 and len(board["frames"]) == 16
    # The reference: PyTorch's convolution of conv2's input (pool1's output for digit 0) with
    # the trained kernel, at the 4×4 outputs from row 7, column 7.
    twin = torch_twin(run.learner.network).double()  # the trained weights, in PyTorch
    x = torch.from_numpy(run.prepare(run.split.test.images[:1]).astype(np.float64))
    with torch.no_grad():
        expected = twin.conv2(twin[:3](x))[0, 3, 7:11, 7:11]  # after conv1, relu1, pool1
    output = next(g for g in board["grids"] if g["title"].startswith("Output"))
    shown = [float(t.replace("\u2212", "-")) for t in output["text"]]
    assert shown == pytest.approx(expected.flatten().tolist(), abs=0.006)  # 2 decimals


def test_a_clicked_channel_opens_in_convolution_by_hand_with_the_same_numbers(page_after_training):
    at = clicked_conv2(page_after_training[0])
    link = next(b for b in at.link_button if b.label == "Open in Convolution by hand")
    url = urllib.parse.urlsplit(link.proto.url)
    assert url.path == "./convolution"
    query = dict(urllib.parse.parse_qsl(url.query))
    conv = open_page("views/convolution.py", query)
    first = value_in(written_sum(conv))  # the page's first output cell
    caption = next(c.value for c in at.caption if "computes these 4×4 outputs" in c.value)
    expected = float(caption.split("outputs: ")[1].split(",")[0].replace("\u2212", "-"))
    assert first == pytest.approx(expected, abs=0.05)
    assert conv.session_state["grid"].count("\n\n") == 7  # 8 input channels


def test_twin_agreement_and_gradient_check_on_the_page(page_after_training):
    at, _ = page_after_training
    click(at, "Run 20 steps of both")
    text = " ".join(m.value for m in at.markdown)
    loss = float(text.split("Largest loss difference **")[1].split("**")[0])
    grad = float(text.split("gradient difference **")[1].split("**")[0])
    assert loss < 1e-6 and grad < 1e-6
    table = next(d for d in at.dataframe if "relative error" in d.value.columns)
    assert max(float(v) for v in table.value["relative error"]) < 1e-5


def test_a_data_set_that_cannot_be_had_falls_back_to_the_subset(monkeypatch, tmp_path):
    from tests.test_models import closed_port_url
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_DATA_MIRROR", closed_port_url())
    at = open_page(PAGE)
    at.selectbox(key="train_data").set_value("fashion-mnist").run()
    assert_clean(at)
    assert any("could not be downloaded" in w.value and "offline MNIST subset" in w.value
               for w in at.warning)
    assert at.session_state["training_run"].data_name == "subset"
    at.run()  # not tried again: the message stays, nothing waits
    assert any("offline MNIST subset instead" in w.value for w in at.warning)


def _values(array) -> list:
    """A trace's values as plotly writes them: a list, or NumPy's bytes in base64."""
    if isinstance(array, dict):
        import base64
        return np.frombuffer(base64.b64decode(array["bdata"]), array["dtype"]).tolist()
    return list(array)


def _chart(at, trace_names) -> dict:
    """The first plotly figure on the page that has a trace named each of ``trace_names``."""
    import json
    for element in at.get("plotly_chart"):
        figure = json.loads(element.proto.spec)
        if set(trace_names) <= {t.get("name") for t in figure["data"]}:
            return figure
    raise AssertionError(f"no chart with traces {trace_names}")


def test_the_views_inside_the_network_draw_what_it_is_now():
    at, run = trained_page()
    for view in ("layers", "weights", "gradients", "stream"):
        at.session_state["train_watch"] = view
        at.run()
        assert_clean(at)
        text = " ".join(m.value for m in at.markdown)
        if view == "layers":
            assert "**conv1** (conv): 8 maps of 28×28" in text and "**pool2**" in text
        elif view == "weights":
            assert "**conv1**: its 8 kernels of 3×3" in text
            histograms = _chart(at, ["conv2", "dense"])
            counts = {t["name"]: sum(_values(t["y"])) for t in histograms["data"]}
            assert counts == {"conv2": 16 * 8 * 9, "dense": 784 * 10}  # every weight, once
        elif view == "gradients":
            norms = _chart(at, ["conv1", "conv2", "dense"])
            assert norms["layout"]["yaxis"]["type"] == "log"
            steps = run.history()[0]
            assert _values(norms["data"][0]["x"]) == [r["step"] for r in steps]
        else:
            right = int(text.split(" of 12** right")[0].rsplit("**", 1)[1])
            truth = run.split.test.labels[:12]
            assert right == int((run.test_probabilities()[:12].argmax(1) == truth).sum())
