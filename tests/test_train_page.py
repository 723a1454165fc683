"""The "Train a CNN" page headlessly (AppTest): train, stop, reset, results, weights in and out,
your own digit, the network seen whole and its link into the convolution page."""

import io
import json
import time
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnviz.formatting import plain
from cnnviz.train.scratch import networks, numpy_net
from cnnviz.train.scratch.mnist_convnet import MNISTConvNet
from cnnviz.train.scratch.own_digit import DRAWING_SIDE
from cnnviz.train.scratch.twin import torch_twin
from tests.hostile_weights import npz, scratch_arrays
from tests.pagetest import animations, assert_clean, open_page, shown
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
    assert any(plain("notes.npz") in e.value and "not a NumPy weights file" in e.value
               for e in at.error)
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


def test_weights_that_do_not_fit_are_refused_and_the_results_stay(page_after_training):
    """Issue 21: a file for 20 classes used to load, then crash the Results tab on every rerun."""
    at, run = page_after_training
    learner = run.learner
    uploader = next(u for u in at.file_uploader if u.key == "train_upload")
    uploader.set_value(("twenty.npz", npz(scratch_arrays(classes=20)),
                        "application/octet-stream")).run()
    assert any(plain("twenty.npz") in e.value and "784 × 20 where the network needs 784 × 10"
               in e.value for e in at.error)
    at.run()
    assert_clean(at)
    assert run.learner is learner and run.loaded_from != "twenty.npz"
    assert next(m for m in at.metric if m.label == "Test accuracy")


def test_your_own_digit_is_drawn_first_then_prepared_step_by_step_and_read(page_after_training):
    at, _ = page_after_training
    pads = [json.loads(e.proto.json) for e in at.get("bidi_component")
            if e.proto.component_name == "cnnviz.drawing_pad"]
    assert len(pads) == 1 and pads[0]["exportSide"] == DRAWING_SIDE  # drawing comes first
    assert any("Draw one digit on the pad" in i.value for i in at.info)
    at.segmented_control(key="train_own_source").set_value("Upload").run()
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
    at.toggle(key="twin_bn").set_value(True).run()
    click(at, "Run 20 steps of both")
    text = " ".join(m.value for m in at.markdown)
    loss = float(text.split("Largest loss difference **")[1].split("**")[0])
    grad = float(text.split("gradient difference **")[1].split("**")[0])
    assert loss < 1e-6 and grad < 1e-6
    table = next(d for d in at.dataframe if "relative error" in d.value.columns).value
    rows = dict(zip(table["parameter"], zip(table["entries checked"], table["relative error"])))
    sizes = {f"{n}.{k}": layer.params[k].size for n, k, layer in
             numpy_net.scratch_cnn(batch_norm=True).parameters()}
    assert {name: entries for name, (entries, _) in rows.items()} == {
        name: f"{size:,} of {size:,}" for name, size in sizes.items()}  # every entry
    # Biases just before batch norm: both gradients zero, shown as not tested (not 0.0e+00).
    assert rows["conv1.b"][1] == rows["conv2.b"][1] == "not tested"
    tested = [float(error) for _, error in rows.values() if error != "not tested"]
    assert len(tested) == len(rows) - 2 and max(tested) < 1e-5


def test_the_chapters_block_3_disagreement_is_at_its_convolution(page_after_training):
    at, _ = page_after_training
    table = next(d for d in at.dataframe if "agrees" in d.value.columns).value
    assert {"chapter's shape (C × H × W)", "PyTorch's shape (C × H × W)"} <= set(table.columns)
    wrong = table[table["agrees"] == "no"]
    assert len(wrong) == 1
    row = wrong.iloc[0]
    assert "3×3×128" in row["chapter's comment (H × W × C)"]
    assert row["chapter's shape (C × H × W)"] == "128 × 3 × 3"
    model = MNISTConvNet()  # block 3's convolution, by PyTorch
    assert row["PyTorch's shape (C × H × W)"] == " × ".join(
        map(str, model.features[:9](torch.zeros(1, 1, 28, 28)).shape[1:])) == "128 × 5 × 5"


def test_plain_sgd_from_a_link_and_momentum_as_its_own_setting():
    """The chapter's NumPy lab: plain SGD at lr 0.01, from a shared link."""
    at = open_page(PAGE, {"train_optimizer": "sgd", "train_momentum": "0", "train_lr": "0.01"})
    recipe = at.session_state["training_run"].recipe
    assert (recipe.optimizer, recipe.momentum, recipe.lr) == ("sgd", 0.0, 0.01)
    momentum = at.select_slider(key="train_momentum")
    assert not momentum.disabled and momentum.value == 0
    momentum.set_value(0.9).run()
    assert at.session_state["training_run"].recipe.momentum == 0.9
    assert at.query_params["train_momentum"] == "0.9"
    at.radio(key="train_optimizer").set_value("adam").run()
    assert at.select_slider(key="train_momentum").disabled
    assert at.session_state["training_run"].recipe.momentum == 0.0  # Adam has its own
    at = open_page(PAGE, {"train_momentum": "0.3"})  # not an offered value
    assert any("train_momentum=0.3" in shown(w.value) for w in at.warning)
    assert at.session_state["training_run"].recipe.optimizer == "adam"


def test_cifar10_shows_colour_filters_and_the_test_set_it_really_has(monkeypatch, tmp_path):
    """CIFAR-10 (real photographs, in its real file format, from loopback), with a test set
    whose classes are not balanced as the training set's are: the page shows the first
    layer's kernels in colour, trains on a stratified sample of the training part, and says
    by how much the class shares differ."""
    from cnnviz.ui.training import load_split
    from tests.test_torchvision_data import serve_cifar10
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(tmp_path))
    test_labels = [0] * 12 + [i % 10 for i in range(18)]  # class 0: 14 of 30
    server, _ = serve_cifar10(monkeypatch, [i % 10 for i in range(6000)], test_labels)
    load_split.clear()
    try:
        at = open_page(PAGE, {"train_data": "cifar10", "train_epochs": "1",
                              "train_images": "2000", "train_watch": "weights"})
        run = at.session_state["training_run"]
        assert run.data_name == "cifar10" and len(run.split.train) == 5400
        assert run.train.counts().tolist() == [200] * 10  # not the first 2,000 of a shuffle
        assert any("8 kernels of 3 × 3 × 3" in m.value for m in at.markdown)
        assert any("red, green and blue weights as one colour patch" in c.value
                   for c in at.caption)
        click(at, "Start")
        run = at.session_state["training_run"]
        wait_for(lambda: not run.training)
        at.run()
        assert_clean(at)
    finally:
        server.close()
        load_split.clear()  # no other test finds this small CIFAR-10 in the cache
    text = next(m.value for m in at.markdown if "largest difference in a class's share" in m.value)
    assert "test is CIFAR-10's own test set" in text
    assert "the 2,000 training images are a stratified sample of the 5,400" in text
    train_share = np.bincount(run.train.labels, minlength=10) / len(run.train)
    test_share = np.bincount(test_labels, minlength=10) / len(test_labels)
    gap = 100 * np.abs(train_share - test_share).max()  # class 0: 14/30 against 1/10
    assert f"training against test **{gap:.2f}**" in text


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
            assert "**conv1**: its 8 kernels of 1 × 3 × 3" in text
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
