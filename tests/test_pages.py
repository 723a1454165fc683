"""Every page runs headlessly (AppTest); the shared pickers work as a user drives them."""

import pytest
import torchvision

from cnnviz import images
from cnnviz.ui.navigation import all_pages
from tests.pagetest import assert_clean, open_page, shown
from tests.test_models import closed_port_url


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Pretrained torchvision downloads fail at once, as on a machine without a network."""
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())


def test_app_opens_on_the_home_page_with_the_device_line():
    at = open_page()
    assert at.title[0].value.startswith("cnnviz")
    assert any("Models run on" in caption.value for caption in at.caption)


def test_home_invites_in_with_a_numbered_lesson_path_and_a_picture_for_every_page():
    at = open_page()
    steps = [m.value for m in at.markdown if "lesson-step" in m.value]
    assert [s.split(">")[1].split("<")[0] for s in steps] == [f"Step {k}" for k in range(1, 10)]
    links = at.get("page_link")
    labels = [link.proto.label for link in links]
    # The chapter's order: why convolution, convolution, padding & stride, pooling, feature
    # maps, what layers learn, architectures, Grad-CAM, practice; then every other page.
    assert labels[:9] == ["Why convolution", "Convolution by hand", "Padding & stride",
                          "Pooling", "Feature maps", "What layers learn", "Architectures",
                          "Grad-CAM", "Practice"]
    assert {page.title for page in all_pages()[1:]} <= set(labels)
    assert links[3].proto.query_string == "source=pooling+example&mode=pooling"
    assert len(at.image) == len(labels)  # a picture for each


def test_the_home_page_says_exactly_what_works_offline(monkeypatch, tmp_path):
    """The offline model and untrained models always; each pretrained torchvision model once
    its weights are cached, and the page names the ones that are."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    offline = next(m.value for m in open_page().markdown
                   if "Without an internet connection" in m.value)
    assert "EfficientNet-Lite0" in offline and "untrained" in offline
    assert "The 9 pretrained torchvision models need their weights" in offline
    assert offline.endswith("Cached on this machine: none yet.")
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / torchvision.models.VGG16_Weights.DEFAULT.url.rsplit("/", 1)[1]).touch()
    offline = next(m.value for m in open_page().markdown
                   if "Without an internet connection" in m.value)
    assert offline.endswith("Cached on this machine: vgg16.")


@pytest.mark.parametrize("page", all_pages(), ids=lambda p: p.url_path or "home")
def test_every_page_runs_through_the_navigation(page):
    at = open_page()
    at.switch_page(page.path).run()
    assert_clean(at)
    assert at.title, f"{page.path} shows no title"


def test_classify_an_uploaded_photo():
    at = open_page("views/classify.py")
    at.segmented_control(key="image_source").set_value("Upload").run()
    assert "No photo yet" in at.info[0].value
    photo = images.sample_images()["Espresso cup"].read_bytes()
    at.file_uploader[0].upload("my coffee.jpg", photo, "image/jpeg").run()
    assert_clean(at)
    assert at.subheader[0].value.startswith("Top 5")


def test_a_corrupt_upload_gets_a_message_and_nothing_breaks():
    at = open_page("views/classify.py")
    at.segmented_control(key="image_source").set_value("Upload").run()
    at.file_uploader[0].upload("cat.jpg", b"%PDF-1.4 not a cat", "image/jpeg").run()
    assert_clean(at)
    assert "cat.jpg" in shown(at.error[0].value) and "PDF" in at.error[0].value
    at.segmented_control(key="image_source").set_value("Sample").run()  # the page still works
    assert_clean(at)
    assert not at.error and at.subheader[0].value.startswith("Top 5")


def test_unavailable_weights_fall_back_to_the_offline_model(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty weight cache
    at = open_page("views/classify.py", query={"model": "resnet50"})
    assert "could not be downloaded" in at.warning[0].value
    assert "Showing efficientnet_lite0 instead" in at.warning[0].value
    assert "efficientnet_lite0" in shown(at.subheader[0].value)
    # One plain sentence (no errno, no cache path), and the picker shows the model used.
    assert "Errno" not in at.warning[0].value and str(tmp_path) not in at.warning[0].value
    assert at.selectbox(key="model").value == "efficientnet_lite0"
    labels = at.selectbox(key="model").options
    assert "resnet50 (needs download)" in labels
    assert "efficientnet_lite0 (offline, pretrained)" in labels


def test_a_model_that_failed_is_said_once_and_the_picker_shows_the_model_used():
    at = open_page("views/classify.py", query={"model": "resnet50"})
    assert "could not be downloaded" in at.warning[0].value
    assert at.selectbox(key="model").value == "efficientnet_lite0"  # what the page really uses
    assert at.query_params["model"] == "efficientnet_lite0"  # and the link says so
    at.run()  # any rerun of the page: no second message, no second wait for the network
    assert_clean(at)
    assert not any("could not be downloaded" in w.value for w in at.warning)


def test_removing_a_bad_upload_leaves_no_error_behind():
    at = open_page("views/classify.py", via_app=True)
    at.segmented_control(key="image_source").set_value("Upload").run()
    at.file_uploader[0].upload("notes.jpg", b"just some notes", "image/jpeg").run()
    assert "notes.jpg" in shown(at.error[0].value)
    at.file_uploader[0].clear().run()  # the user removes it (its ×)
    assert_clean(at)
    assert not at.error and "No photo yet" in at.info[0].value
    at.switch_page("views/feature_maps.py").run()  # and it does not follow to other pages
    assert_clean(at)
    assert not at.error


def test_untrained_models_say_so():
    at = open_page("views/classify.py", query={"model": "resnet18", "model_untrained": "true"})
    assert "resnet18 (untrained)" in shown(at.subheader[0].value)
    assert "random weights" in at.warning[0].value


def test_choices_survive_a_visit_to_another_page():
    at = open_page()
    at.switch_page("views/classify.py").run()
    at.selectbox(key="image_sample").set_value("Espresso cup").run()
    at.checkbox(key="model_untrained").check().run()  # no weights to download
    at.selectbox(key="model").set_value("mobilenet_v2").run()
    at.switch_page("views/home.py").run()
    at.switch_page("views/classify.py").run()
    assert_clean(at)
    assert at.selectbox(key="image_sample").value == "Espresso cup"
    assert at.selectbox(key="model").value == "mobilenet_v2"
    assert at.checkbox(key="model_untrained").value
