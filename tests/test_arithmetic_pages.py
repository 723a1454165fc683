"""The padding & stride, receptive field and practice pages: headless (AppTest) and in a real
browser; every page's state survives a trip through its URL."""

import json
import re

import pytest

from cnnviz import arithmetic
from cnnviz.arithmetic import practice
from cnnviz.arithmetic.presets import PRESETS
from tests.conftest import ServerMessages, assert_no_exception, choose, wait_for_app
from tests.pagetest import animations, assert_clean, open_page, shown

PADDING_PAGE = "views/padding_and_stride.py"
STACK_PAGE = "views/receptive_field.py"
PRACTICE_PAGE = "views/practice.py"


def reopen(path: str, at):
    """The page opened afresh from the link the first one left in the address bar."""
    return open_page(path, dict(at.query_params))


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def trace_table(at):
    """The read-only result table (the editable layer table comes first)."""
    return next(d.value for d in at.dataframe if d not in at.data_editor)


def result_of(latex) -> int:
    """The number a worked formula ends with (on one line, or the last of aligned lines)."""
    return int(re.search(r"= (\d+)\s*(\\end\{aligned\})?\s*\$*\s*$", latex.value).group(1))


# ---------------------------------------------------------------- padding & stride


def test_padding_page_works_the_formula_with_the_users_numbers():
    at = open_page(PADDING_PAGE, {"n": "7", "f": "3", "p": "1", "s": "4"})
    assert arithmetic.size_work(7, 3, 1, 4).latex(aligned=True) in at.latex[0].value
    assert "7 - 3 + 2 \\times 1" in at.latex[0].value and result_of(at.latex[0]) == 2
    warnings = " ".join(texts(at.warning))
    assert "not divisible by $S = 4$" in warnings and "remainder of 2" in warnings
    assert "never covered by any window (0-based): 2, 6" in warnings
    table = at.table[0].value
    assert list(table["padding"]) == ["valid", "same", "full"]
    assert list(table["output size"]) == ["2×2", "2×2", "3×3"]


def test_padding_page_says_when_the_kernel_does_not_fit():
    at = open_page(PADDING_PAGE, {"n": "2", "f": "7", "p": "0", "s": "1"})
    assert "does not fit in the padded input of 2 + 0 + 0 = 2 pixels" in at.error[0].value
    at.selectbox(key="p").set_value("full").run()
    assert_clean(at)
    assert not at.error and result_of(at.latex[0]) == 2 + 7 - 1


def test_padding_page_animation_reaches_every_cell():
    at = open_page(PADDING_PAGE, {"n": "5", "f": "3", "p": "1", "s": "2", "pos": "8"})
    diagram = animations(at)[0]
    assert len(diagram["frames"]) == 9 and diagram["start"] == 8
    assert "Output cell (2, 2) is computed from input rows 3 to 5 and columns 3 to 5" in (
        diagram["frames"][8]["caption"])
    at.slider(key="s").set_value(3).run()  # 2×2 output: the position is clamped, not an error
    assert_clean(at)
    assert animations(at)[0]["start"] == 3 and at.session_state["pos"] == 3


def test_transposed_tab_inverts_the_sizes():
    at = open_page(PADDING_PAGE, {"n": "3", "f": "3", "p": "1", "s": "2",
                                  "direction": "Transposed convolution"})
    at.slider(key="op").set_value(1).run()
    assert result_of(at.latex[0]) == 6
    assert "takes 6×6 back to 3×3" in " ".join(texts(at.markdown))
    at.selectbox(key="p").set_value("same").run()
    assert "padding=1, output_padding=1" in at.info[0].value
    at.slider(key="f").set_value(4).run()
    at.slider(key="s").set_value(1).run()
    assert "no padding gives 'same'" in at.error[0].value


def test_padding_page_state_round_trips_through_the_url():
    query = {"n": "9", "f": "4", "p": "same", "s": "3", "d": "2", "direction": "Convolution",
             "pos": "5", "op": "1", "tpos": "7"}
    at = open_page(PADDING_PAGE, query)
    assert [at.slider(key=k).value for k in ("n", "f", "s", "d")] == [9, 4, 3, 2]
    assert animations(at)[0]["start"] == 5
    assert at.selectbox(key="p").value == "same"
    assert {k: at.query_params[k] for k in query} == query
    at.slider(key="n").set_value(12).run()
    at.selectbox(key="p").set_value("2").run()
    at.session_state["direction"] = "Transposed convolution"
    at.run()
    again = reopen(PADDING_PAGE, at)
    assert again.session_state["direction"] == "Transposed convolution"
    assert (again.slider(key="n").value, again.selectbox(key="p").value) == (12, "2")
    assert again.latex[0].value == at.latex[0].value


def test_padding_page_ignores_a_broken_link():
    at = open_page(PADDING_PAGE, {"n": "999", "p": "lots", "direction": "sideways",
                                  "pos": "-4", "op": "9", "tpos": "x"})
    assert at.slider(key="n").value == 5 and at.selectbox(key="p").value == "1"
    assert animations(at)[0]["start"] == 0
    at.session_state["direction"] = "Transposed convolution"
    at.run()
    assert_clean(at)
    assert at.slider(key="op").value == 1


# ---------------------------------------------------------------- receptive field & stacks


def test_stack_page_finds_the_broken_cnn_bug_and_the_fix_clears_it():
    layers = [layer.to_dict() for layer in PRESETS["BrokenCNN"].layers]
    at = open_page(STACK_PAGE, {"preset": "BrokenCNN", "layers": json.dumps(layers)})
    assert "Linear expects 800 inputs but receives 512 = 32 × 4 × 4" in at.error[0].value
    table = trace_table(at)
    assert table["output"].iloc[-2] == "✗ Linear expects 800 inputs but receives 512 = 32 × 4 × 4"
    assert table["layer"].iloc[-1] == "Total (up to the error)"
    editor = f"stack_editor_{at.session_state['stack_version']}"
    at.session_state[editor] = {"edited_rows": {7: {"in": 512}}, "added_rows": [],
                                "deleted_rows": []}
    at.run()
    assert_clean(at)
    assert not at.error
    assert texts(at.metric)[0] == f"{16 * 26 + 32 * 401 + 512 * 10 + 10:,}"
    assert json.loads(at.query_params["layers"])[-1] == {"kind": "linear", "out": 10, "n_in": 512}


def test_stack_page_shows_every_stride_and_says_when_the_preset_was_edited():
    at = open_page(STACK_PAGE)
    table = at.data_editor[0].value
    pools = table[table["layer"] == "Max pool"]
    assert list(pools["stride"]) == [2, 2]  # a pool's stride is its size, and it shows
    assert at.caption[0].value == PRESETS["CIFAR-10 worked example"].note
    editor = f"stack_editor_{at.session_state['stack_version']}"
    at.session_state[editor] = {"edited_rows": {0: {"out": 32}}, "added_rows": [],
                                "deleted_rows": []}
    at.run()
    assert_clean(at)
    assert at.caption[0].value.startswith("Your own stack, started from the preset "
                                          "“CIFAR-10 worked example”")


def test_stack_page_presets_give_the_published_totals():
    at = open_page(STACK_PAGE)
    assert texts(at.metric)[0] == "157,578"
    at.selectbox(key="preset").set_value("VGG-16").run()
    assert texts(at.metric)[0] == "138,357,544" and texts(at.metric)[2] == "1000"
    assert "nn.Linear(25088, 4096)" in at.code[0].value


def footprints(at) -> dict[tuple[int, int], str]:
    """Each output position the footprint animation steps through, and its caption."""
    frames = animations(at)[0]["frames"]
    return {(int(f["params"]["rf_row"]), int(f["params"]["rf_col"])): f["caption"]
            for f in frames}


def test_stack_page_receptive_field_of_a_chosen_output():
    at = open_page(STACK_PAGE, {"rf_layer": "6", "rf_row": "3", "rf_col": "5"})
    footprint = animations(at)[0]
    assert len(footprint["frames"]) == 8 * 8  # every output of the 8 × 8 pool
    assert footprint["frames"][footprint["start"]]["params"] == {"rf_row": "3", "rf_col": "5"}
    assert "depends on input rows 9–18 and columns 17–26 (100 pixels)" in footprints(at)[3, 5]
    text = " ".join(texts(at.markdown))
    assert "$r = 10$" in text and "$j = 4$" in text
    # The recurrence with the numbers of layers 5 and 6 substituted.
    assert "= 8 + (2 - 1) \\times 2 = 10$" in text and "= 2 \\times 2 = 4$" in text
    assert "input rows 0–6" in footprints(at)[0, 5]  # clipped: part falls on padding


def test_stack_page_bad_cells_and_links_get_a_message():
    at = open_page(STACK_PAGE, {"layers": "[{\"kind\": \"transformer\"}]", "c": "0",
                                "h": "99999", "channels": "-1", "rf_layer": "77"})
    warnings = [w.value for w in at.warning]
    assert any("could not be read" in w for w in warnings), warnings
    for key in ("c=0", "h=99999", "channels=-1"):  # each bad value named, the default shown
        assert any(f"link's {key} is not" in shown(w) for w in warnings), (key, warnings)
    assert texts(at.metric)[0] == "157,578"
    editor = f"stack_editor_{at.session_state['stack_version']}"
    at.session_state[editor] = {"edited_rows": {0: {"padding": "half"}}, "added_rows": [],
                                "deleted_rows": []}
    at.run()
    assert_clean(at)
    assert "row 1: padding must be a number or one of valid, same, full" in at.error[0].value


def test_stack_page_state_round_trips_through_the_url():
    layers = [{"kind": "conv", "out": 8, "f": 3, "s": 2, "p": "same"}, {"kind": "relu"},
              {"kind": "maxpool", "f": 3, "s": 2, "p": 1}]
    query = {"preset": "ResNet-50 stem", "c": "3", "h": "40", "w": "30",
             "layers": json.dumps(layers, separators=(",", ":")), "rf_layer": "3",
             "rf_row": "2", "rf_col": "1", "channels": "16"}
    at = open_page(STACK_PAGE, query)
    assert {k: at.query_params[k] for k in query} == query
    assert texts(at.metric)[2] == "8 × 10 × 8"
    footprint = animations(at)[0]
    assert footprint["frames"][footprint["start"]]["params"] == {"rf_row": "2", "rf_col": "1"}
    at.number_input(key="channels").set_value(100).run()
    at.number_input(key="w").set_value(64).run()
    again = reopen(STACK_PAGE, at)
    assert texts(again.metric) == texts(at.metric)
    assert again.number_input(key="channels").value == 100
    assert trace_table(again).equals(trace_table(at))


# ---------------------------------------------------------------- practice


def quiz_texts(at) -> list[str]:
    return [m.value for m in at.markdown if "?" in m.value]


def test_practice_page_asks_the_seeds_questions_and_checks_answers():
    at = open_page(PRACTICE_PAGE, {"quiz": "4242", "count": "3", "format": "numeric"})
    questions = practice.quiz(4242, 3, fmt="numeric")
    assert quiz_texts(at) == [q.text for q in questions]
    first, second = questions[0], questions[1]
    key = lambda number, q: f"answer-4242-{number}-{q.topic}-False"  # noqa: E731
    at.text_input(key=key(1, first)).input(first.answer_text)
    at.text_input(key=key(2, second)).input("1")
    at.button(key=key(1, first) + "-button").click().run()
    at.button(key=key(2, second) + "-button").click().run()
    assert at.success[0].value == f"Right: {first.answer_text}."
    assert at.error[0].value.startswith("Not quite: you answered 1")
    assert first.explanation in texts(at.markdown)
    assert at.metric[0].value == "1 / 2 checked"


def test_practice_page_reveals_every_answer_for_the_teacher_and_scores_on_top():
    at = open_page(PRACTICE_PAGE, {"quiz": "99", "count": "3", "format": "numeric"})
    questions = practice.quiz(99, 3, fmt="numeric")
    assert at.metric[0].value == "—" and not at.info  # nothing checked, nothing shown
    at.toggle(key="reveal").set_value(True).run()
    assert [i.value for i in at.info] == [f"Answer: {q.answer_text}." for q in questions]
    assert all(q.explanation in texts(at.markdown) for q in questions)
    # The score is drawn above the questions: before the first question's text.
    order = [getattr(e, "value", None) for e in at.main if e.type in ("metric", "markdown")]
    assert order.index("—") < order.index(next(m for m in order if m and "**Question 1**"
                                               in str(m)))


def test_practice_page_multiple_choice():
    at = open_page(PRACTICE_PAGE, {"quiz": "7", "count": "1", "format": "multiple choice"})
    q = practice.quiz(7, 1, fmt="multiple choice")[0]
    radio = at.radio[0]
    assert list(radio.options) == list(q.choices)
    wrong = next(choice for choice in q.choices if choice != q.answer_text)
    radio.set_value(wrong).run()
    at.button(key=f"answer-7-1-{q.topic}-True-button").click().run()
    assert "the answer is " + q.answer_text in at.error[0].value


def test_practice_page_state_round_trips_through_the_url():
    query = {"quiz": "31337", "topics": json.dumps(["pooling", "receptive_field"],
                                                   separators=(",", ":")),
             "count": "4", "format": "numeric"}
    at = open_page(PRACTICE_PAGE, query)
    assert {k: at.query_params[k] for k in query} == query
    assert {q.topic for q in practice.quiz(31337, 4, ["pooling", "receptive_field"])} <= {
        "pooling", "receptive_field"}
    at.button[0].click().run()  # "New questions"
    assert at.query_params["quiz"] != "31337"
    again = reopen(PRACTICE_PAGE, at)
    assert quiz_texts(again) == quiz_texts(at)
    assert again.multiselect(key="topics").value == ["pooling", "receptive_field"]


def test_practice_page_without_topics_asks_about_all():
    at = open_page(PRACTICE_PAGE, {"quiz": "0", "topics": "[\"essays\"]", "count": "99"})
    assert 1 <= at.number_input(key="quiz").value < 100_000 and len(quiz_texts(at)) == 7
    at.multiselect(key="topics").set_value([]).run()
    assert_clean(at)
    assert len(quiz_texts(at)) == 7


# ---------------------------------------------------------------- in a real browser


def slider(tab, label: str):
    return tab.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")


@pytest.mark.browser
def test_browser_padding_page_slider_tab_and_play(visit, page, artefacts):
    messages = ServerMessages(page)
    visit("padding-stride?n=7&f=3&p=1&s=3")
    assert page.get_by_text("is not divisible by").count() == 0
    slider(page, "Stride S").press("ArrowRight")
    wait_for_app(page)
    page.get_by_text("not divisible by").first.wait_for(timeout=30_000)
    assert "s=4" in page.url
    # ▶ Play moves the kernel in the browser, without a rerun
    diagram = page.locator(".cnnviz-anim").first
    before, sent = diagram.get_attribute("data-step"), messages.count
    diagram.get_by_role("button", name="Play").click()
    page.wait_for_function(f"() => document.querySelector('.cnnviz-anim').dataset.step "
                           f"!== '{before}'", timeout=10_000)
    assert messages.count == sent
    page.screenshot(path=artefacts / "padding-stride.png", full_page=True)
    page.get_by_role("tab", name="Transposed convolution").click()
    wait_for_app(page)
    assert "direction=Transposed" in page.url
    assert page.get_by_text("spreads over").first.is_visible()
    assert_no_exception(page)


@pytest.mark.browser
def test_browser_stack_page_finds_the_bug_then_changes_preset(streamlit_server, page, artefacts):
    url, _ = streamlit_server
    page.goto(f"{url}/receptive-field?preset=BrokenCNN&c=1&h=28&w=28&layers="
              + json.dumps([x.to_dict() for x in PRESETS["BrokenCNN"].layers]))
    wait_for_app(page)
    assert_no_exception(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Linear expects 800")
    assert "receives 512 = 32 × 4 × 4" in alert.inner_text()
    page.screenshot(path=artefacts / "receptive-field-broken.png", full_page=True)
    choose(page, "Preset", "VGG-16")
    page.get_by_text("138,357,544").first.wait_for(timeout=30_000)
    assert "preset=VGG-16" in page.url
    assert page.locator('[data-testid="stAlert"]').filter(has_text="Linear expects").count() == 0
    assert_no_exception(page)


@pytest.mark.browser
def test_browser_practice_link_gives_the_same_quiz(streamlit_server, browser, page):
    url, _ = streamlit_server
    link = f"{url}/practice?quiz=2468&count=2&format=numeric"
    first = practice.quiz(2468, 2, fmt="numeric")[0]
    page.goto(link)
    wait_for_app(page)
    assert page.get_by_text(first.text).first.is_visible()
    field = page.get_by_label(re.compile("Your answer")).first
    field.fill(first.answer_text)
    field.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Check").first.click()
    wait_for_app(page)
    page.get_by_text(f"Right: {first.answer_text}.").wait_for(timeout=30_000)
    # a classmate opening the same link sees the same first question
    other = browser.new_context().new_page()
    other.goto(link)
    wait_for_app(other)
    assert other.get_by_text(first.text).first.is_visible()
    assert_no_exception(other)
    other.context.close()
