"""Architectures: LeNet-5 to ConvNeXt, measured from the models themselves, beside the
published numbers and the chapter's table."""

import pandas as pd
import streamlit as st

from cnnviz import architectures, models
from cnnviz.architectures import ACTIVATION_RULE, DEPTH_RULE, MACS_RULE, VERDICTS
from cnnviz.figures.architectures import (
    accuracy_vs_latency,
    accuracy_vs_macs,
    block_diagram,
)
from cnnviz.formatting import shape_text, si_count
from cnnviz.ui import cached, presentation, url_state, viewport
from cnnviz.ui.charts import plot

MB = 2 ** 20
DEVICES = models.device_choices()  # label -> torch device
MISSING = "—"  # what a table shows where a number does not exist (LeNet-5's ImageNet top-1)
ROW_PX = 36  # a table row, so a table can be as tall as its rows

page = presentation.page_header(
    "Architectures: LeNet-5 to ConvNeXt",
    "Every size and cost below is measured from the model itself, built here with random "
    "weights; accuracies are the published ones, with their sources. The chapter's table sits "
    "beside them, and where it disagrees with a primary source the page says so and why.")
chart_px = viewport.chart_width(page.presenting)  # a bubble chart names as many as fit


def table(frame: pd.DataFrame, key: str, column_config: dict | None = None, **kwargs):
    """A table as every table on this page is drawn: "—" for a missing value, the first
    column pinned so it stays in view when a wide table scrolls sideways inside its frame,
    and tall enough for all its rows (up to a screenful) with the header always on top."""
    config = {frame.columns[0]: st.column_config.Column(pinned=True), **(column_config or {})}
    height = min(ROW_PX * (len(frame) + 1) + 3, 600)
    return st.dataframe(frame, hide_index=True, key=key, column_config=config,
                        placeholder=MISSING, height=height, row_height=ROW_PX, **kwargs)


def count_text(count: float) -> str:
    """MACs and FLOPs in M or G, three significant digits: 0.341 M for LeNet-5, not 0.000."""
    return si_count(count, smallest="M")


url_state.bind("add", [])
url_state.bind("sort", "Year", allowed=tuple(architectures.SORT_KEYS))
url_state.bind("descending", False)
url_state.bind("max_params", 0.0)
url_state.bind("max_gmacs", 0.0)
url_state.bind("max_ms", 0.0)
url_state.bind("device", "CPU", allowed=tuple(DEVICES))
url_state.bind("accuracy", "top1", allowed=tuple(architectures.ACCURACY_KEYS))

records = cached.chapter_models()
chosen = {r["name"] for r in records}
others = [n for n in architectures.available() if n not in chosen]
st.session_state["add"] = [n for n in st.session_state["add"] if n in others]
page.controls().multiselect("Add torchvision models to the comparison", others, key="add",
               help="Any torchvision classifier: it is built and measured now (large ones take "
                    "a while on a CPU).")
for name in st.session_state["add"]:
    try:
        records.append(cached.measured(name))
    except (ValueError, RuntimeError) as err:
        st.error(f"{name} could not be measured: {err}")
latency = st.session_state.setdefault("latency", {})  # device → {model: ms}


def mb(n_bytes: int) -> float:
    return n_bytes / MB


def error_5(record: dict) -> float | None:
    return None if record["top5"] is None else 100 - record["top5"]


def recipes(record: dict) -> str:
    """How the DEFAULT weights were trained, and the V1 weights when they differ."""
    if record["recipe"] is None:
        return ""
    default = record["weights"].rpartition(".")[2] if record["weights"] else ""
    text = f"{default}: {record['recipe']}" if default else record["recipe"]
    if record["weights_v1"] and record["weights_v1"] != record["weights"]:
        text += f"; IMAGENET1K_V1: {record['recipe_v1']}"
    return text


def chapter_check(record: dict) -> str:
    flags = [f for f in record["flags"] if f["flagged"]]
    if not record["flags"]:
        return ""
    return f"⚠ {len(flags)} flagged" if flags else "✓ agrees"


# ---- the comparison, and accuracy against compute ----------------------------------------------
# Presenting, the page opens on the chart, the tables one click away.
if page.presenting:
    chart_place, table_place = st.tabs(["Accuracy against compute", "The comparison"])
else:
    table_place, chart_place = st.container(), st.container()
with table_place:
    if not page.presenting:
        st.header("The comparison")
    left, right = page.controls().columns([3, 2])
    left.selectbox("Sort by", list(architectures.SORT_KEYS), key="sort")
    right.toggle("Largest first", key="descending")
    ordered = architectures.sort_records(records, st.session_state["sort"],
                                         st.session_state["descending"])

    table(pd.DataFrame([{
        "Model": r["label"], "Year": r["year"], "Depth": r["depth"],
        "Params (M)": r["params"] / 1e6, "MACs": count_text(r["macs"]),
        "FLOPs": count_text(r["flops"]),
        "Activations (MB)": mb(r["activation_bytes"]), "File (MB)": mb(r["file_bytes"]),
        "Top-1 %": r["top1"], "Top-1 % (V1)": r["top1_v1"], "Recipe": recipes(r),
        "Top-5 error %": error_5(r),
        "Competition top-5 error %": r["competition"]["top5_error"] if r["competition"] else None,
        "Chapter's top-5 error": r["chapter"].get("Top-5 Error") or None,
        "Chapter check": chapter_check(r) or None,
    } for r in ordered]), "comparison", {
        "Year": st.column_config.NumberColumn(format="%d"),
        "Params (M)": st.column_config.NumberColumn(format="%.2f"),
        "MACs": st.column_config.TextColumn(help=MACS_RULE, alignment="right"),
        "FLOPs": st.column_config.TextColumn(help=MACS_RULE, alignment="right"),
        "Depth": st.column_config.NumberColumn(help=DEPTH_RULE),
        "Activations (MB)": st.column_config.NumberColumn(format="%.1f", help=ACTIVATION_RULE),
        "File (MB)": st.column_config.NumberColumn(format="%.1f",
                                                   help="float32 weights, MiB (2²⁰ bytes)"),
        "Top-1 %": st.column_config.NumberColumn(
            format="%.1f", help="Single model, single centre crop, ImageNet-1K validation set, "
                                "torchvision's DEFAULT weights (its best); EfficientNet-Lite0's "
                                "is from TensorFlow's model card. The Recipe column names how "
                                "each was trained."),
        "Top-1 % (V1)": st.column_config.NumberColumn(
            format="%.1f", help="The same for torchvision's first weights (IMAGENET1K_V1), which "
                                "for most models follow the paper's recipe: compare architectures "
                                "here, not training recipes."),
        "Top-5 error %": st.column_config.NumberColumn(
            format="%.1f", help="100 − top-5 accuracy: single model, single crop, validation set "
                                "(torchvision)"),
        "Competition top-5 error %": st.column_config.NumberColumn(
            format="%.2f", help="The ILSVRC entry: an ensemble of models, scored on the test set"),
    })
    st.caption(f"{MACS_RULE} {DEPTH_RULE}")

    flags = [(r, f) for r in records for f in r["flags"]]
    with st.expander(f"The chapter's table, checked: {sum(f['flagged'] for _, f in flags)} of "
                     f"{len(flags)} cells flagged", expanded=True):
        table(pd.DataFrame([{
            "Model": r["label"], "Column": f["column"], "Chapter says": f["chapter"],
            "Source says": f["found"], "Verdict": ("⚠ " if f["flagged"] else "✓ ") + f["verdict"],
            "Why": f["why"] or None, "Source": f["source"] or None,
        } for r, f in flags]), "flags", {
            "Why": st.column_config.TextColumn(width="large"),
            "Source": st.column_config.TextColumn(width="large"),
        })
        st.caption(" · ".join(f"**{v}**: {text}" for v, text in VERDICTS.items()))

with chart_place:
    if not page.presenting:
        st.header("Accuracy against compute")
    # Presenting, which weights is a setting: the chart comes first.
    (page.controls() if page.presenting else st.container()).segmented_control(
        "Top-1 of", list(architectures.ACCURACY_KEYS), key="accuracy", required=True,
        format_func=architectures.ACCURACY_KEYS.__getitem__)
    accuracy = st.session_state["accuracy"]
    on_imagenet = [r for r in records if r["top1"] is not None]
    bubbles = accuracy_vs_macs(on_imagenet, accuracy, width_px=chart_px)
    plot(bubbles, width="stretch", key="bubbles")
    new_recipe = [r["label"] for r in on_imagenet
                  if r["recipe" + accuracy.removeprefix("top1")] == architectures.NEW_RECIPE]
    st.caption(
        ("DEFAULT weights: torchvision's best for each model, trained by different recipes, so a "
         "bubble's height mixes architecture and training. Choose V1 weights to compare "
         "architectures."
         if accuracy == "top1" else
         "V1 weights: torchvision's first for each model, which mostly follow the paper's recipe.")
        + (f" Trained by torchvision's new recipe (2021): {', '.join(new_recipe)}."
           if new_recipe else "")
        + " The comparison's Recipe column names each; EfficientNet-Lite0's 75.1 % is TensorFlow's, "
          "from its model card.")
    left_out = [r["label"] for r in records if r["top1"] is None]
    if left_out:
        st.caption(f"Not shown, no ImageNet accuracy: {', '.join(left_out)}.")
    unnamed = [r["label"] for r, text in zip(on_imagenet, bubbles.data[0].text) if not text]
    if unnamed:
        st.caption(f"No room to name {', '.join(unnamed)} here: point at a bubble (or tap it) for "
                   f"its name and numbers.")

# ---- which backbone for my device? ------------------------------------------------------------
st.header("Which backbone for my device?")
st.markdown("Set a budget (0 = no limit) and see which networks fit, most accurate first: the "
            "chapter's mobile-deployment question, answered with measured numbers.")
c1, c2, c3 = st.columns(3)
c1.number_input("Most parameters (millions)", min_value=0.0, step=1.0, key="max_params")
c2.number_input("Most GMACs per image", min_value=0.0, step=0.1, key="max_gmacs")
device = st.session_state["device"]
measured_ms = latency.get(device, {})
c3.number_input(f"Most latency on this {device} (ms)", min_value=0.0, step=5.0, key="max_ms",
                disabled=not measured_ms, help="Measure latency below first.")


fitting = architectures.within_budget(
    records, max_params_m=st.session_state["max_params"],
    max_gmacs=st.session_state["max_gmacs"], max_ms=st.session_state["max_ms"],
    latency_ms=measured_ms)
if fitting:
    st.success(f"{len(fitting)} of {len(records)} networks fit: "
               + ", ".join(r["label"] for r in fitting) + ".")
    table(pd.DataFrame([{
        "Model": r["label"], "Params (M)": r["params"] / 1e6, "MACs": count_text(r["macs"]),
        "Latency (ms)": measured_ms.get(r["name"]), "Top-1 %": r["top1"],
    } for r in fitting]), "fitting", {
        "Params (M)": st.column_config.NumberColumn(format="%.2f"),
        "MACs": st.column_config.TextColumn(alignment="right"),
        "Latency (ms)": st.column_config.NumberColumn(format="%.1f"),
        "Top-1 %": st.column_config.NumberColumn(format="%.1f"),
    })
else:
    st.warning("No network fits this budget: raise a limit.")

# ---- latency, on demand --------------------------------------------------------------------
st.header("Latency on this machine")
st.markdown("Measured only when you ask: the median of several forward passes of one image, "
            "after a warm-up pass. It depends on this machine and on what else it is doing.")
l1, l2 = st.columns(2)
l1.segmented_control("Device", list(DEVICES), key="device", required=True)
l2.slider("Timed passes per model", 1, 10, 3, key="repeats")
st.toggle("Only the networks that fit the budget above", value=True, key="only_fitting")
to_time = [r["name"] for r in (fitting if st.session_state["only_fitting"] else records)]
if st.button(f"Measure latency of {len(to_time)} networks", type="primary",
             disabled=not to_time, key="measure"):
    bar = st.progress(0.0, text="Starting…")

    def report(done: int, total: int, name: str) -> None:
        bar.progress(done / total, text=f"{name}: pass {done} of {total}")

    try:
        times = architectures.latencies(to_time, DEVICES[device], st.session_state["repeats"],
                                        progress=report)
    except (ValueError, RuntimeError) as err:
        bar.empty()
        st.error(f"Latency could not be measured: {err}")
    else:
        latency.setdefault(device, {}).update(times)
        st.rerun()  # so that the budget above can use the new latencies
timed = [r for r in records if r["name"] in measured_ms and r["top1"] is not None]
if timed:
    plot(accuracy_vs_latency(timed, measured_ms, device, width_px=chart_px),
         width="stretch", key="latency_chart")
elif measured_ms:
    st.info("The models timed have no ImageNet accuracy to plot.")

# ---- one model in detail --------------------------------------------------------------------
st.header("One model in detail")
names = [r["name"] for r in records]
url_state.bind("model", "resnet50", allowed=names)
if st.session_state["model"] not in names:  # an added model that was removed again
    st.session_state["model"] = "resnet50"
st.selectbox("Model", names, key="model",
             format_func=lambda n: next(r["label"] for r in records if r["name"] == n))
record = next(r for r in records if r["name"] == st.session_state["model"])

st.subheader(f"{record['label']} ({record['year']:d})")
m = st.columns(3) + st.columns(3)
m[0].metric("Parameters", f"{record['params']:,}")
m[1].metric("MACs (FLOPs ÷ 2)", count_text(record["macs"]), help=MACS_RULE)
m[2].metric("Depth", record["depth"], help=DEPTH_RULE)
m[3].metric("Activations", f"{mb(record['activation_bytes']):.1f} MB", help=ACTIVATION_RULE)
m[4].metric("File (float32)", f"{mb(record['file_bytes']):.1f} MB")
m[5].metric("Top-1", "—" if record["top1"] is None else f"{record['top1']:.1f} %")
c, h, w = record["input_shape"]
lines = [f"**Key innovation:** {record['innovation'] or '—'}",
         f"**Paper:** {record['paper'] or '—'}",
         f"**Input:** {shape_text((c, h, w))}"]
if record["variant"]:
    lines.append(f"**This implementation:** {record['variant']}")
if record["paper_result"]:
    lines.append(f"**The paper's own result:** {record['paper_result']}")
if record["competition"]:
    lines.append(f"**Competition entry:** {record['competition']['top5_error']} % top-5 error, "
                 f"{record['competition']['what']}")
lines.append(f"**Accuracy source:** {record['accuracy_dataset']}; {record['accuracy_source']}"
             + (f" ({record['weights']})" if record["weights"] else ""))
if record["recipe"]:
    lines.append(f"**Recipe:** {recipes(record)}")
if record["other_weights"]:
    lines.append("**Other torchvision weights:** " + "; ".join(
        f"{w['weights']}: top-1 {w['top1']:.1f} %, top-5 {w['top5']:.1f} %"
        for w in record["other_weights"]))
st.markdown("\n\n".join(lines))
for flag in (f for f in record["flags"] if f["flagged"]):
    st.warning(f"**The chapter's {flag['column']}: {flag['chapter']}** — {flag['why']} "
               f"(source: {flag['source']})")

block = record["block"]
if block:
    st.markdown(f"#### Key building block: {block['title']}")
    # a block with parallel branches needs the full width; a chain fits beside its arithmetic
    wide = max(node["col"] for node in block["nodes"]) > 1
    left, right = (st.container(), st.container()) if wide else st.columns(2, gap="medium")
    with left:
        plot(block_diagram(block), width="stretch", key="block")
    with right:
        st.caption(f"`{block['module']}` — {block['caption']}")
        table(pd.DataFrame([
            *({"Layer": t["what"], "Weights": t["formula"], "=": t["value"]}
              for t in block["arithmetic"]),
            {"Layer": "total", "Weights": None, "=": block["total"]},
        ]), "arithmetic", {"=": st.column_config.NumberColumn(format="localized")})
        for pair in block["compare"]:
            ours, other = pair["ours"], pair["alternative"]
            st.markdown(f"- {ours['what']}: {ours['formula']} = **{ours['value']:,}** vs "
                        f"{other['what']}: {other['formula']} = **{other['value']:,}** → "
                        f"{pair['saving']}")
else:
    st.info("No building-block diagram for this family yet; its layer table is below.")

st.markdown("#### Layer table")
deepest = max(layer["level"] for layer in record["layers"])
url_state.bind("level", min(2, deepest))
st.session_state["level"] = min(max(st.session_state["level"], 1), deepest)
if deepest > 1:
    st.slider("Nesting levels shown", 1, deepest, key="level")
rows = [layer for layer in record["layers"] if layer["level"] <= st.session_state["level"]]
table(pd.DataFrame([{
    "Layer": "  " * (layer["level"] - 1) + layer["name"], "Type": layer["kind"],
    "Output shape": None if layer["output_shape"] is None else shape_text(layer["output_shape"]),
    "Parameters": layer["params"], "MACs": layer["macs"],
} for layer in rows]), "layers", {
    "Parameters": st.column_config.NumberColumn(format="localized"),
    "MACs": st.column_config.NumberColumn(format="localized"),
})
st.caption("Output shapes are per image (channels × height × width); parameters and MACs of a "
           "layer include its children's.")

url_state.publish("add", "sort", "descending", "max_params", "max_gmacs", "max_ms", "device",
                  "accuracy", "model", "level")
