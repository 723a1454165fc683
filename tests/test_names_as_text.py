"""Class, file and folder names from uploads are text, not Markdown (issue 21): a classmate's
model whose class is named ``![pixel](http://…/x.gif)`` made every browser that opened it fetch
that address. Streamlit draws messages, captions and labels as Markdown, so every such name goes
through ``formatting.plain`` on its way to the page."""

import re

import pytest

from cnnviz.formatting import plain
from tests.conftest import assert_no_exception, choose, wait_for_app

JOINER = "\u2060"  # invisible; keeps "http://…" from becoming a link
HOST = "203.0.113.7"  # TEST-NET-3 (RFC 5737): never a real server
NAMES = [f"![pixel](http://{HOST}/x.gif)", f"[click](http://{HOST}/y) *bold*",
         f"<img src=http://{HOST}/z.gif> :red[red] $x^2$"]


@pytest.mark.parametrize("name", NAMES + ["a_b*c*", "line one\nline two", "back\\slash`tick`",
                                  "WWW.example.org", "me@example.org"])
def test_plain_escapes_every_punctuation_mark_and_line_break(name):
    text = plain(name)
    assert "\n" not in text
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", text)  # drop every escaped mark
    assert not re.search(r"[!-/:-@\[-`{-~]", unescaped), text
    shown = re.sub(r"\\(.)", r"\1", text).replace(JOINER, "")
    assert shown == " ".join(name.splitlines())
    assert "://" not in text.replace("\\", "") and "www." not in text.replace("\\", "").lower()


@pytest.fixture(scope="module")
def hostile_model_file(lite0, tmp_path_factory):
    from cnnviz.train import transfer
    from cnnviz.train.transfer import fine_tuned

    path = tmp_path_factory.mktemp("model") / "![file](http%3A%2F%2F203.0.113.7%2Ff.gif).pt"
    path.write_bytes(fine_tuned.save(transfer.build(lite0, 3), lite0.name, NAMES))
    return path


@pytest.mark.browser
def test_a_model_with_markdown_class_names_fetches_nothing(visit, page, outside_requests,
                                                           hostile_model_file, artefacts):
    visit("transfer-learning")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Upload a model fine-tuned here before").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(
        str(hostile_model_file))
    wait_for_app(page)
    assert_no_exception(page)
    label = f"efficientnet_lite0 fine-tuned ({', '.join(NAMES)})"
    success = page.locator('[data-testid="stAlertContentSuccess"]')
    assert label in success.inner_text().replace(JOINER, "")  # the names as typed, not drawn

    page.locator('[data-testid="stSidebarNav"]').get_by_text("Grad-CAM").click()
    wait_for_app(page)
    choose(page, "Model", label)
    assert_no_exception(page)
    shown = main.inner_text().replace(JOINER, "")
    assert shown.count(label) >= 2  # the subheader and captions, as text
    assert main.locator(f"img[src*='{HOST}'], a[href*='{HOST}']").count() == 0
    page.screenshot(path=artefacts / "names-as-text-grad-cam.png", full_page=True)
    assert outside_requests == []
