"""The Architectures page, driven as a person would: headlessly (AppTest) and in Chromium."""

import re

import pytest

from cnnviz import architectures
from tests.conftest import assert_no_exception, choose, wait_for_app
from tests.pagetest import assert_clean, open_page

PAGE = "views/architectures.py"
RECORDS = {r["name"]: r for r in architectures.compare()}
LABELS = {r["label"]: r for r in RECORDS.values()}


def table_with(at, column: str):
    """The first table on the page that has ``column`` (AppTest does not expose the keys of
    read-only dataframes)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def test_the_page_opens_on_the_comparison_with_the_chapters_flags():
    at = open_page(PAGE)
    table = at.dataframe[0].value
    assert list(table["Model"]) == [r["label"] for r in sorted(RECORDS.values(),
                                                               key=lambda r: r["year"])]
    resnet = table[table["Model"] == "ResNet-50"].iloc[0]
    assert resnet["Params (M)"] == pytest.approx(25.557032)
    assert resnet["Chapter's top-5 error"] == "3.57%" and resnet["Chapter check"].startswith("⚠")
    assert resnet["Competition top-5 error %"] == 3.57
    assert (resnet["Top-1 %"], resnet["Top-1 % (V1)"]) == (80.858, 76.13)
    assert resnet["Recipe"].startswith("IMAGENET1K_V2: torchvision's new recipe")
    assert "IMAGENET1K_V1: torchvision's simple recipe" in resnet["Recipe"]
    lite = table[table["Model"] == "EfficientNet-Lite0"].iloc[0]
    assert "TensorFlow" in lite["Recipe"] and "model card" in lite["Recipe"]
    flags = at.dataframe[1].value
    assert len(flags) == sum(len(r["flags"]) for r in RECORDS.values())
    assert flags["Source"].str.len().min() > 0
    # the detail opens on ResNet-50, whose chapter top-5 is flagged
    assert at.subheader[0].value == "ResNet-50 (2015)"
    assert any("3.57" in w.value for w in at.warning)


def test_the_chart_plots_either_accuracy_and_says_which():
    at = open_page(PAGE)
    assert at.session_state["accuracy"] == "top1"
    chart = next(c for c in at.caption if "DEFAULT weights" in c.value).value
    assert "mixes architecture and training" in chart
    assert "ResNet-50" in chart and "MobileNetV2" in chart  # V2: the new recipe
    at.segmented_control(key="accuracy").set_value("top1_v1").run()
    assert_clean(at)
    chart = next(c for c in at.caption if c.value.startswith("V1 weights")).value
    assert "ResNet-50" not in chart and "ConvNeXt-T" in chart  # its V1 is the new recipe
    assert at.query_params["accuracy"] == "top1_v1"


def test_every_table_reads_one_way_per_column():
    at = open_page(PAGE)
    assert all(frame.proto.placeholder == "—" for frame in at.dataframe)  # never "None"
    table = at.dataframe[0].value
    for _, row in table.iterrows():  # MACs and FLOPs in M or G, three significant digits
        record = LABELS[row["Model"]]
        for column, count in (("MACs", record["macs"]), ("FLOPs", record["flops"])):
            number, unit = row[column].split(" ")
            assert unit in ("M", "G")
            assert float(number) * {"M": 1e6, "G": 1e9}[unit] == pytest.approx(count, rel=5e-3)
    assert table.loc[table["Model"] == "LeNet-5", "MACs"].item() != "0 M"
    config = at.dataframe[0].proto.columns
    assert '"format": "%.1f"' in config and '"format": "%d"' in config  # top-1, years
    assert '"pinned": true' in config  # the model stays in view when the table scrolls


def test_sort_filter_and_open_one_models_detail():
    at = open_page(PAGE)
    at.selectbox(key="sort").set_value("Parameters").run()
    at.toggle(key="descending").set_value(True).run()
    order = list(at.dataframe[0].value["Model"])
    assert order[:2] == ["VGG-16", "AlexNet"] and order[-1] == "LeNet-5"

    at.number_input(key="max_params").set_value(6.0).run()
    at.number_input(key="max_gmacs").set_value(0.4).run()
    assert_clean(at)
    fitting = list(table_with(at, "Latency (ms)")["Model"])
    expected = {r["label"] for r in RECORDS.values()
                if r["params"] <= 6e6 and r["macs"] <= 0.4e9}
    assert set(fitting) == expected and "ResNet-50" not in fitting
    accuracies = [LABELS[m]["top1"] or 0 for m in fitting]
    assert accuracies == sorted(accuracies, reverse=True)  # most accurate first

    at.selectbox(key="model").set_value("googlenet").run()
    assert_clean(at)
    assert at.subheader[0].value == "GoogLeNet (2014)"
    assert any("Params: 6.8M" in w.value for w in at.warning)
    assert at.get("plotly_chart")  # the bubble chart and the Inception diagram
    arithmetic = table_with(at, "=")
    assert arithmetic.iloc[-1]["="] == RECORDS["googlenet"]["block"]["total"]
    at.slider(key="level").set_value(1).run()
    assert set(table_with(at, "Output shape")["Layer"]) == {
        row["name"] for row in RECORDS["googlenet"]["layers"] if row["level"] == 1}


def test_latency_is_measured_only_on_demand_for_the_models_that_fit():
    at = open_page(PAGE)
    assert not at.session_state["latency"]  # nothing measured at page load
    at.number_input(key="max_params").set_value(4.0).run()  # LeNet-5 and MobileNetV2
    at.slider(key="repeats").set_value(1).run()
    at.button(key="measure").click().run()
    assert_clean(at)
    measured = at.session_state["latency"]["CPU"]
    assert set(measured) == {"lenet5", "mobilenet_v2"} and min(measured.values()) > 0
    at.number_input(key="max_ms").set_value(measured["lenet5"] * 1.01).run()
    assert list(table_with(at, "Latency (ms)")["Model"]) == ["LeNet-5"]


def test_the_view_is_shared_through_the_url_and_bad_links_fall_back():
    at = open_page(PAGE, {"model": "vgg16", "sort": "GMACs", "max_gmacs": "1.5"})
    assert at.selectbox(key="model").value == "vgg16"
    assert at.selectbox(key="sort").value == "GMACs"
    assert at.subheader[0].value == "VGG-16 (2014)"
    at = open_page(PAGE, {"model": "resnet51", "sort": "nonsense", "max_params": "lots"})
    assert at.selectbox(key="model").value == "resnet50"
    assert at.selectbox(key="sort").value == "Year"


def test_another_torchvision_model_can_be_added():
    at = open_page(PAGE)
    at.multiselect(key="add").set_value(["squeezenet1_1"]).run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == len(RECORDS) + 1 and "squeezenet1_1" in set(table["Model"])
    at.selectbox(key="model").set_value("squeezenet1_1").run()
    assert_clean(at)
    assert any("No building-block diagram" in i.value for i in at.info)


@pytest.mark.browser
def test_in_the_browser_sort_filter_and_open_a_detail(visit, page, artefacts):
    visit("architectures")
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("The chapter's table, checked").is_visible()

    choose(page, "Sort by", "Parameters")  # sort: the URL follows the choice
    page.wait_for_url(re.compile(r"sort=Parameters"))

    budget = main.get_by_label("Most parameters (millions)")  # filter
    budget.fill("6")
    budget.press("Enter")
    wait_for_app(page)
    fits = main.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    assert "MobileNetV2" in fits and "VGG-16" not in fits

    choose(page, "Model", "GoogLeNet")  # one model's detail
    assert main.get_by_role("heading", name="GoogLeNet (2014)").is_visible()
    assert main.get_by_text("Key building block: Inception module (3a)").is_visible()
    assert_no_exception(page)
    page.screenshot(path=artefacts / "architectures-detail.png", full_page=True)
