"""The Grad-CAM page, headless (AppTest) and in a real browser: upload a photo, pick a wrong
class, change layer and method, download the PNG; its messages and its URL state."""

import io
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from cnnviz import activations, cam, images, models
from cnnviz.cam import sanity
from cnnviz.figures import colours
from tests.conftest import assert_no_exception, choose, wait_for_app
from tests.pagetest import assert_clean, open_page, shown
from tests.test_models import closed_port_url

PAGE = "views/grad_cam.py"
ESPRESSO = images.sample_images()["Espresso cup"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Pretrained torchvision downloads fail at once, as on a machine without a network."""
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", closed_port_url())


def captions(at) -> list[str]:
    return [shown(caption) for image in at.image for caption in image.captions]


def test_upload_pick_a_wrong_class_change_layer_and_method_and_download():
    at = open_page(PAGE)
    at.segmented_control(key="image_source").set_value("Upload").run()
    assert "No photo yet" in at.info[0].value
    at.file_uploader[0].upload("my coffee.jpg", ESPRESSO.read_bytes(), "image/jpeg").run()
    assert_clean(at)
    assert shown(at.subheader[0].value) == "Top 5 · efficientnet_lite0"
    assert captions(at)[0].startswith("The photo as efficientnet_lite0 sees it")
    assert captions(at)[1].startswith("Predicted: espresso · p = ")

    at.selectbox(key="cam_class").set_value(281).run()  # tabby: a wrong class
    assert captions(at)[2].startswith("Chosen: tabby · p = ")
    at.selectbox(key="cam_layer").set_value("_blocks.10").run()
    at.segmented_control(key="cam_method").set_value("layercam").run()
    assert_clean(at)
    assert any("Layer-CAM at “stage 5 · block 3 · output” (`_blocks.10`, 14 × 14 positions)"
               in c.value for c in at.caption)

    buttons = at.get("download_button")
    assert [b.label for b in buttons] == ["PNG", "PNG"]
    # The PNG is made on click (the browser test downloads it), not on every run.
    buttons[1].click().run()
    assert_clean(at)


def test_a_shared_link_opens_the_same_view():
    at = open_page(PAGE, query={"image_sample": "Cat (Chelsea)", "cam_method": "Grad-CAM++",
                                "cam_layer": "stage 5 · block 3 · output",
                                "cam_class": "Egyptian cat (285)", "cam_colours": "cividis"})
    state = at.session_state
    assert (state["cam_method"], state["cam_layer"], state["cam_class"],
            state["cam_colours"]) == ("gradcam++", "_blocks.10", 285, "cividis")
    assert captions(at)[2].startswith("Chosen: Egyptian cat")


def test_the_default_overlay_fades_cold_areas_and_the_class_follows_a_new_photo():
    at = open_page(PAGE)
    state = at.session_state
    assert (state["cam_colours"], state["cam_fade"], state["cam_opacity"]) == ("turbo", True, 0.7)
    bundle, first = models.load_model(), images.load_image(images.sample_images()[
        at.selectbox(key="image_sample").value])
    assert state["cam_class"] == bundle.classify(first, k=2)[1][0]  # its second guess
    at.selectbox(key="image_sample").set_value("Espresso cup").run()
    assert_clean(at)
    second_guess = bundle.classify(images.load_image(ESPRESSO), k=2)[1][0]
    assert at.session_state["cam_class"] == second_guess
    assert captions(at)[2].startswith(f"Chosen: {bundle.categories[second_guess]} · p = ")


def test_a_layer_given_by_its_module_name_in_the_link_is_selected():
    at = open_page(PAGE, query={"cam_layer": "_blocks.4"})
    assert at.session_state["cam_layer"] == "_blocks.4" and not at.warning


def test_a_layer_without_spatial_extent_gets_a_message():
    at = open_page(PAGE, query={"cam_layer": "_avg_pooling"})
    assert ("Layer '_avg_pooling' of efficientnet_lite0 has no spatial extent: its output is "
            "1280 × 1 × 1" in shown(at.warning[0].value))
    assert "showing “head · ReLU6” instead" in shown(at.warning[0].value)
    assert at.session_state["cam_layer"] == "_head_act" and captions(at)


def test_an_untrained_model_says_its_map_means_nothing():
    at = open_page(PAGE, query={"model": "resnet18", "model_untrained": "true"})
    assert "The map of an untrained network means nothing" in at.warning[0].value
    assert shown(at.subheader[0].value) == "Top 5 · resnet18 (untrained)"
    assert at.session_state["cam_layer"] == "layer4"


def test_unavailable_weights_fall_back_to_the_offline_model():
    at = open_page(PAGE, query={"model": "resnet50"})
    assert "could not be downloaded" in at.warning[0].value
    assert "Showing efficientnet_lite0 instead" in at.warning[0].value
    assert shown(at.subheader[0].value) == "Top 5 · efficientnet_lite0"


def test_two_networks_the_sanity_check_and_mc_dropout():
    at = open_page(PAGE)
    at.toggle(key="cam_sanity").set_value(True).run()
    at.toggle(key="cam_dropout").set_value(True).run()
    at.toggle(key="cam_two_models").set_value(True).run()
    assert_clean(at)
    count = len(sanity.units(models.load_model().model))
    assert any(c.startswith(f"{count} of {count} random · ρ = ") for c in captions(at))
    assert any("Sanity checks for saliency maps" in c.value for c in at.caption)
    dropout = next(c.value for c in at.caption if "drop rate 0.2" in c.value)
    assert "epistemic uncertainty" in dropout and "Gal & Ghahramani (2016)" in dropout
    assert "only in the classifier head" in dropout and "last-layer approximation" in dropout
    # resnet18's pretrained weights are not available offline: the picker falls back
    assert any("Both sides show the same network" in i.value for i in at.info)
    # Each network at its own default layer, whatever the layer chosen for the first.
    at.selectbox(key="cam_layer").set_value("_blocks.4").run()
    assert sum("at “head · ReLU6” · p = " in c for c in captions(at)) == 2
    assert at.selectbox(key="model2").value == "efficientnet_lite0"  # the model really used
    at.checkbox(key="model2_untrained").check().run()
    at.selectbox(key="model2").set_value("resnet18").run()  # untrained: nothing to download
    assert_clean(at)
    assert any("resnet18 (untrained)" in c for c in captions(at))
    assert any("map of an untrained network means nothing" in w.value for w in at.warning)


def test_mc_dropout_on_a_model_without_dropout_says_so():
    at = open_page(PAGE, query={"model": "resnet18", "model_untrained": "true",
                                "cam_dropout": "true"})
    assert any("resnet18 has no dropout layer" in i.value for i in at.info)


@pytest.mark.browser
def test_in_the_browser_upload_pick_a_class_change_layer_and_method_download(
        visit, page, artefacts):
    visit("grad-cam")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Upload", exact=True).click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(ESPRESSO))
    page.get_by_text("Predicted: espresso").wait_for(timeout=180_000)
    wait_for_app(page)

    choose(page, "Compare with another class", "tabby", exact=False)
    page.get_by_text("Chosen: tabby").wait_for(timeout=120_000)
    choose(page, "Layer (type to search)", "stage 5 · block 3 · output", exact=False)
    main.get_by_text("Layer-CAM", exact=True).click()
    wait_for_app(page)
    page.get_by_text("Layer-CAM at “stage 5 · block 3 · output”").wait_for(timeout=120_000)
    assert_no_exception(page)
    query = parse_qs(urlparse(page.url).query)  # the view is a shareable link, by keys
    assert query["cam_class"] == ["281"] and query["cam_method"] == ["layercam"]
    assert query["cam_layer"] == ["_blocks.10"]

    with page.expect_download() as download:
        main.get_by_role("button", name="PNG", exact=True).nth(1).click()
    assert download.value.suggested_filename == "layercam-tabby-_blocks.10.png"
    saved = artefacts / "grad-cam-download.png"
    download.value.save_as(saved)
    page.screenshot(path=artefacts / "grad-cam-page.png", full_page=True)

    picture = np.asarray(Image.open(io.BytesIO(saved.read_bytes())).convert("RGB"))
    bundle = models.load_model()
    img = images.load_image(ESPRESSO)
    expected = colours.overlay(activations.network_input(bundle, img), cam.grad_cam(
        bundle, img, target=281, layer="_blocks.10", method="layercam").heatmap, "turbo", 0.7,
        by_value=True)  # the page's default: turbo, more opaque where the map is hotter
    assert picture.shape == (224, 224, 3)
    assert np.abs(picture.astype(int) - expected).max() <= 2
