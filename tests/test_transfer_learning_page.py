"""The Transfer learning page: opened headlessly with the demo set, and in the real browser with
an uploaded zip, trained, evaluated, and its model opened on the Grad-CAM page."""

import io
import zipfile

import pytest

from cnnviz.train.transfer.texture_demo import texture_demo
from tests.conftest import assert_no_exception, choose, wait_for_app
from tests.pagetest import open_page

PAGE = "views/transfer_learning.py"


def test_the_page_opens_on_the_demo_with_counts_the_chapter_check_and_the_normalisation_note():
    at = open_page(PAGE)
    assert [h.value for h in at.header][:4] == [
        "1 · The photos", "2 · The backbone and the chapter's head", "3 · Augmentation",
        "4 · Fine-tuning in three phases"]
    table = at.dataframe[0].value
    assert list(table["class"]) == ["brick", "grass", "gravel", "wood"]
    assert list(table["photos"]) == [150] * 4
    assert (table["train"] + table["validation"] + table["test"] == table["photos"]).all()
    text = " ".join(m.value for m in at.markdown)
    assert "526,086" in text and "24,034,118" in text and "25,557,032" in text
    assert any("4.8 times the variance" in i.value for i in at.info)
    switches = [t.label for t in at.toggle if t.key != "_present_switch"]
    assert switches[:5] == ["RandomResizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
                            "ColorJitter", "RandomRotation"]


def small_zip() -> bytes:
    """Three texture classes, eight photos each, in a wrapping folder, with some junk."""
    photos = texture_demo()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for c in range(3):
            chosen = [i for i in range(len(photos)) if photos.labels[i] == c][::19][:8]
            for i in chosen:
                archive.writestr(f"soil/{photos.classes[c]}/{i}.png", photos.encoded[i])
        archive.writestr("soil/readme.txt", "three classes")
        archive.writestr("__MACOSX/soil/._brick", "junk")
        archive.writestr("soil/grass/broken.jpg", b"\xff\xd8\xff not a photo")
    return buffer.getvalue()


def upload(page, tmp_path, name: str, data: bytes) -> None:
    main = page.locator('[data-testid="stMain"]')
    if main.get_by_text("No archive yet").count() == 0:
        main.get_by_text("Your photos (.zip)", exact=True).click()
        wait_for_app(page)
    path = tmp_path / name
    path.write_bytes(data)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
    wait_for_app(page)
    assert_no_exception(page)


@pytest.mark.browser
def test_a_bad_zip_gets_its_message_in_the_page(visit, page, tmp_path):
    visit("transfer-learning")
    upload(page, tmp_path, "photos.zip", b"not an archive at all" * 10)
    assert page.get_by_text("This file is not a zip archive").first.is_visible()


@pytest.mark.browser
def test_upload_a_zip_train_and_open_the_model_on_the_grad_cam_page(visit, page, tmp_path,
                                                                   artefacts):
    visit("transfer-learning")
    upload(page, tmp_path, "soil.zip", small_zip())
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("24 photos in 3 classes").count() == 1
    assert main.get_by_text("1 images that could not be decoded").count() == 1
    for label in ("Phase 2: the last two blocks and the head", "Phase 3: everything"):
        main.get_by_text(label, exact=True).click()
        wait_for_app(page)
    main.get_by_role("button", name="Start").click()
    page.get_by_text("5 · What the network learnt").wait_for(timeout=600_000)  # a loaded CPU
    wait_for_app(page)
    assert_no_exception(page)
    assert main.get_by_text("Test accuracy", exact=True).count() == 1
    assert main.get_by_text("Row-normalised (share of each true class)").count() == 1
    page.screenshot(path=artefacts / "transfer-learning-trained.png", full_page=True)

    # The fine-tuned network is in this session's model picker on the Grad-CAM page.
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Grad-CAM").click()
    wait_for_app(page)
    choose(page, "Model", "efficientnet_lite0 fine-tuned (brick, grass, gravel)")
    assert_no_exception(page)
    assert page.get_by_text("brick").count() + page.get_by_text("grass").count() > 0
    page.screenshot(path=artefacts / "transfer-learning-grad-cam.png", full_page=True)


def test_a_backbone_without_weights_says_so_and_offers_the_offline_one():
    at = open_page(PAGE)
    at.selectbox(key="tl_backbone").set_value("resnet50").run()
    assert not at.exception
    (error,) = at.error
    assert "could not be downloaded" in error.value and "works offline" in error.value
    assert "3 · Augmentation" not in [h.value for h in at.header]  # nothing trains without it
