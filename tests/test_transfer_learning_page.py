"""The Transfer learning page: opened headlessly with the demo set, and in the real browser with
an uploaded zip, trained, evaluated, and its model opened on the Grad-CAM page."""

import io
import re
import time
import zipfile

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnviz import images, models
from cnnviz.train import transfer
from cnnviz.train.transfer import augment, fine_tuned
from cnnviz.train.transfer.finetune import FineTuning, Plan
from cnnviz.train.transfer.group_split import SplitIndex
from cnnviz.train.transfer.report import evaluate
from cnnviz.train.transfer.texture_demo import SOURCES, demo_split, source_photo, texture_demo
from tests.conftest import assert_no_exception, choose, wait_for_app
from tests.pagetest import assert_clean, open_page
from tests.test_presentation import PHONE, violations

PAGE = "views/transfer_learning.py"


def test_the_page_opens_on_the_demo_with_counts_the_chapter_check_and_the_normalisation_note():
    at = open_page(PAGE)
    assert [h.value for h in at.header][:4] == [
        "1 · The photos", "2 · The backbone and the chapter's head", "3 · Augmentation",
        "4 · Fine-tuning in three phases"]
    table = at.dataframe[0].value
    assert list(table["class"]) == ["gravel", "plants", "wood"]
    assert list(table["photos"]) == [160] * 3
    assert (table["train"] + table["validation"] + table["test"] == table["photos"]).all()
    about = " ".join(c.value for c in at.caption)
    assert "tested on the third" in about and "the test by photo, validation by region" in about
    assert "wood from vpython textures.wood_old" in about  # the test photos are named
    assert "Batch norm stays frozen" in about and "Measured on the demo" in about
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
        archive.writestr("__MACOSX/soil/._gravel", "junk")
        archive.writestr("soil/plants/broken.jpg", b"\xff\xd8\xff not a photo")
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
        # the switch's label, not the text: the bars of section 2 name the phases too
        main.locator("label").filter(has=page.get_by_role("switch", name=label)).click()
        wait_for_app(page)
    main.get_by_role("button", name="Start").click()
    page.get_by_text("5 · What the network learnt").wait_for(timeout=600_000)  # a loaded CPU
    wait_for_app(page)
    assert_no_exception(page)
    assert main.get_by_text("Test accuracy", exact=True).count() == 1
    assert main.get_by_text("Row-normalised (share of each true class)").count() == 1
    page.screenshot(path=artefacts / "transfer-learning-trained.png", full_page=True)
    # On a phone nothing of the results is cut or scrolls sideways: the five tabs wrap.
    viewport = page.viewport_size
    page.set_viewport_size(PHONE)
    wait_for_app(page)
    cut = [v for v in violations(page) if v.startswith("overflow")]
    assert not cut, "\n".join(cut)
    page.set_viewport_size(viewport)
    wait_for_app(page)

    # The fine-tuned network is in this session's model picker on the Grad-CAM page.
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Grad-CAM").click()
    wait_for_app(page)
    choose(page, "Model", "efficientnet_lite0 fine-tuned (gravel, plants, wood)")
    assert_no_exception(page)
    assert page.get_by_text("gravel").count() + page.get_by_text("wood").count() > 0
    page.screenshot(path=artefacts / "transfer-learning-grad-cam.png", full_page=True)


def test_a_backbone_without_weights_says_so_and_offers_the_offline_one():
    at = open_page(PAGE)
    at.selectbox(key="tl_backbone").set_value("resnet50").run()
    assert not at.exception
    (error,) = at.error
    assert "could not be downloaded" in error.value and "works offline" in error.value
    assert "3 · Augmentation" not in [h.value for h in at.header]  # nothing trains without it


# ------------------------------------------------------------------ uploads, headless
def cells_of(photo: str) -> list[Image.Image]:
    """The demo's cells of one source photo: different photos of one texture (their hashes
    lie at least 16 bits apart, more than the near-duplicate threshold)."""
    source = next(s for _, s in SOURCES if s.photo == photo)
    img = source_photo(source)
    return [img.crop((x, y, x + side, y + side)) for x, y, side in source.cells]


def as_jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload_headless(data: bytes):
    at = open_page(PAGE)
    at.segmented_control(key="tl_source").set_value("Your photos (.zip)").run()
    at.file_uploader(key="tl_zip").upload("photos.zip", data, "application/zip").run()
    assert_clean(at)
    return at


@settings(max_examples=4, deadline=None)
@given(st.integers(5, 9), st.integers(5, 9), st.booleans())
@example(5, 5, False)
@example(5, 7, True)
def test_classes_of_any_size_from_the_minimum_up_open_the_page(wood, gravel, broken):
    """Each class at least the 5 photos the uploader asks for; with ``broken``, one more
    file in the first class that cannot be decoded (the class is left with its minimum)."""
    entries = {f"wood/{i}.jpg": as_jpeg(img)
               for i, img in enumerate(cells_of("textures/vpython_wood.jpg")[:wood])}
    entries.update({f"gravel/{i}.jpg": as_jpeg(img)
                    for i, img in enumerate(cells_of("textures/gravel.jpg")[:gravel])})
    if broken:
        entries["wood/broken.jpg"] = b"\xff\xd8\xff not a photo"
    at = upload_headless(zip_of(entries))
    table = at.dataframe[0].value
    assert list(table["photos"]) == [gravel, wood]
    assert "3 · Augmentation" in [h.value for h in at.header]


def test_near_duplicates_in_an_upload_are_grouped_and_the_page_says_how_many():
    photos = [p for p in sorted((images.ASSETS / "samples").glob("*.jpg")) if p.stem != "brick"]
    entries = {}
    for i, path in enumerate(photos):  # 7 different photos, each sent three times
        img = Image.open(path)
        folder = "ab"[i % 2]
        entries[f"{folder}/{path.stem}.jpg"] = as_jpeg(img)
        entries[f"{folder}/{path.stem} (WhatsApp).jpg"] = as_jpeg(
            Image.open(io.BytesIO(as_jpeg(img, 40))).resize((img.width // 2, img.height // 2)))
        entries[f"{folder}/{path.stem} burst.jpg"] = as_jpeg(
            img.crop((img.width // 50, 0, img.width, img.height)))
    at = upload_headless(zip_of(entries))
    (note,) = [i.value for i in at.info if "near-duplicates" in i.value]
    assert "21 photos are near-duplicates" in note and "in 7 groups" in note


def test_a_readme_beside_the_folder_of_classes_is_skipped_on_the_page():
    entries = {"README.txt": b"soil photos, May", **{
        f"soil/{name}/{i}.jpg": as_jpeg(img) for name, photo in (
            ("wood", "textures/vpython_wood.jpg"), ("gravel", "textures/gravel.jpg"))
        for i, img in enumerate(cells_of(photo)[:6])}}
    at = upload_headless(zip_of(entries))
    assert list(at.dataframe[0].value["class"]) == ["gravel", "wood"]
    assert any("files outside class folders" in i.value for i in at.info)


# ------------------------------------------------------------------ the results, headless
@pytest.fixture(scope="module")
def trained(lite0):
    """A real short run on part of the demo (phase 1, then phase 2), its test re-run on a
    sample of half the test photos, as the time budget would when short."""
    photos, split = demo_split()
    small = SplitIndex(split.train[:24], split.validation[:9], split.test[:12])
    net = transfer.build(lite0, len(photos.classes))
    norm = augment.normalisation(lite0)
    plan = Plan(phases=("head", "last_blocks"), copies=1, batch_size=4).with_epochs(
        head=2, last_blocks=1)
    result = FineTuning(net, photos, small, norm, plan).run()
    result.evaluation = evaluate(result.net, photos, small.test[::2], norm, planned=12)
    bundle = fine_tuned.as_bundle(result.net, lite0, photos.classes, "fine-tuned in a test")
    return photos, result, bundle


def test_the_results_name_phases_fill_every_cell_and_pair_top_and_wrong_class_maps(trained):
    photos, result, bundle = trained
    at = open_page(PAGE, via_app=True)  # its "Open Grad-CAM" link needs the navigation
    at.session_state["tl_result"] = (models.DEFAULT_MODEL, photos.classes, result, bundle)
    at.run()
    assert_clean(at)
    text = " ".join(c.value for c in at.caption)
    assert "best validation accuracy" in text and "Phase " in text
    assert "last_blocks" not in text and "(at " not in text
    speeds = next(d.value for d in at.dataframe if "images/s" in d.value.columns)
    assert list(speeds["part"]) == ["Phase 1: the new head only — computing features",
                                    "Phase 1: the new head only — training",
                                    "Phase 2: the last two blocks and the head — training"]
    assert not speeds.isna().any().any()
    (metric,) = [m for m in at.metric if m.label == "Test accuracy"]
    assert "chance (33%)" in metric.delta and "85" not in metric.delta
    assert any("random sample of 6 of the 12 test photos" in w.value for w in at.warning)
    cams = [c for image in at.image for c in image.captions
            if c.startswith(("✓ top:", "✗ top:")) or c.endswith(("(wrong)", "(true)"))]
    tops = [c for c in cams if "top:" in c]
    assert tops and len(cams) == 2 * len(tops)  # every top map has its wrong-class map
    assert any("percentage points at the median" in c.value for c in at.caption)


def test_a_fine_tuning_waiting_for_a_turn_shows_its_place_in_the_queue():
    """Every CPU slot held by other sessions' runs: Start queues the fine-tuning instead of
    refusing it, and the page says where it stands; it trains once a slot is free."""
    from cnnviz.models.workers import cores
    from cnnviz.train import jobs
    from tests.test_scheduler import held

    others = [held(jobs.scheduler(), owner=f"another session {k}") for k in range(cores())]
    try:
        at = open_page(PAGE)
        next(b for b in at.button if b.label == "Start").click().run()
        assert_clean(at)
        run = at.session_state["tl_run"][0]
        lines = [p.proto.text for p in at.get("progress")]
        waiting = re.compile(r"Waiting for a turn: place \d+ in the queue")
        assert any(waiting.search(t) for t in lines), lines
        assert run.job.poll().state == "queued" and run.job.poll().step_count == 0
    finally:
        for _, release in others:
            release.set()
    for job, _ in others:
        assert job.join(30)
    for _ in range(600):  # its turn comes
        if run.job.poll().state != "queued":
            break
        time.sleep(0.1)
    assert run.job.poll().state == "running"
    run.job.stop()
    assert run.job.join(120)
