"""Receptive field & layer stacks: trace a network by hand, then see how far one output sees."""

import pandas as pd
import streamlit as st

from cnnviz import arithmetic
from cnnviz.arithmetic.export import to_pytorch
from cnnviz.arithmetic.presets import PRESETS
from cnnviz.arithmetic.stacks import (
    KINDS,
    TABLE_COLUMNS,
    LayerSpec,
    footprint,
    layer_rows,
    layers_from_rows,
    trace,
)
from cnnviz.figures.stacks import (
    footprint_figure,
    growth_figure,
    stacked_kernels_figure,
)
from cnnviz.formatting import shape_text
from cnnviz.ui import url_state
from cnnviz.ui.charts import plot

DEFAULT_PRESET = "CIFAR-10 worked example"
URL_KEYS = ("preset", "c", "h", "w", "layers", "rf_layer", "rf_row", "rf_col", "channels")
ERROR_STYLE = "background-color: #fdd0a2; font-weight: bold"
TOTAL_STYLE = "font-weight: bold; border-top: 2px solid #555"

st.title("Receptive field & layer stacks")
st.markdown(
    "Trace a network layer by layer, as the chapter does by hand: the shape after every "
    "layer, its parameters and multiply-accumulates (MACs), and how many input pixels one "
    "output can see. Start from a preset, then edit the table.")


def to_frame(layers: list[LayerSpec]) -> pd.DataFrame:
    """The editable table, with nullable column types so blank cells stay blank."""
    frame = pd.DataFrame.from_records(layer_rows(layers), columns=TABLE_COLUMNS)
    for column in ("out", "kernel", "stride", "dilation", "in"):
        frame[column] = frame[column].astype("Int64")
    frame["dropout"] = frame["dropout"].astype("Float64")
    frame["bias"] = frame["bias"].astype("boolean")
    return frame


def from_frame(frame: pd.DataFrame) -> list[LayerSpec]:
    """The edited table back into layers (blank cells as None)."""
    return layers_from_rows(frame.astype(object).where(frame.notna(), None).to_dict("records"))


def load_preset() -> None:
    """Replace the stack by the chosen preset; a fresh editor key drops the old edits."""
    preset = PRESETS[st.session_state.preset]
    st.session_state.c, st.session_state.h, st.session_state.w = preset.input_shape
    st.session_state.layers = [layer.to_dict() for layer in preset.layers]
    st.session_state.stack_base = st.session_state.layers
    st.session_state.stack_version += 1


def human(count: int) -> str:
    for size, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if count >= size:
            return f"{count / size:.3g}{suffix}"
    return str(count)


def result_table(result):
    """The trace as a read-only table: the failing layer highlighted, totals at the bottom."""
    records = [dict(layer=f"{row.index}: {row.layer.label()}", output=shape_text(row.out_shape),
                    parameters=f"{row.params:,}", MACs=f"{row.macs:,}",
                    **{"receptive field": "whole input" if row.rf is None else f"{row.rf}×{row.rf}",
                       "jump": "" if row.jump is None else str(row.jump)})
               for row in result.rows]
    if result.error:
        records.append(dict(layer=f"{result.error.index}: {result.error.layer.label()}",
                            output="✗ " + result.error.reason, parameters="", MACs="",
                            **{"receptive field": "", "jump": ""}))
    records.append(dict(layer="Total" + (" (up to the error)" if result.error else ""),
                        output=shape_text(result.out_shape), parameters=f"{result.params:,}",
                        MACs=f"{result.macs:,}", **{"receptive field": "", "jump": ""}))
    frame = pd.DataFrame.from_records(records)
    error_row = len(result.rows) if result.error else None

    def style(row):
        if row.name == len(frame) - 1:
            return [TOTAL_STYLE] * len(row)
        return [ERROR_STYLE if row.name == error_row else ""] * len(row)

    return frame.style.apply(style, axis=1)


# ---------------------------------------------------------------- the stack
url_state.bind("preset", DEFAULT_PRESET, allowed=tuple(PRESETS))
default = PRESETS[st.session_state.preset]
for key, value in zip("chw", default.input_shape):
    url_state.bind(key, value, allowed=range(1, 4097))
url_state.bind("layers", [layer.to_dict() for layer in default.layers])
st.session_state.setdefault("stack_version", 0)
if "stack_base" not in st.session_state:
    try:
        st.session_state.stack_base = [LayerSpec.from_dict(x).to_dict()
                                       for x in st.session_state.layers]
    except (TypeError, ValueError, AttributeError):
        st.warning("The link's layer list could not be read; showing the preset instead.")
        st.session_state.stack_base = [layer.to_dict() for layer in default.layers]

top = st.columns([2, 1, 1, 1])
top[0].selectbox("Preset", list(PRESETS), key="preset", on_change=load_preset)
channels = top[1].number_input("Input channels C", 1, 4096, key="c")
height = top[2].number_input("Input height H", 1, 4096, key="h")
width = top[3].number_input("Input width W", 1, 4096, key="w")
st.caption(PRESETS[st.session_state.preset].note)

edited = st.data_editor(
    to_frame([LayerSpec.from_dict(x) for x in st.session_state.stack_base]),
    key=f"stack_editor_{st.session_state.stack_version}", num_rows="dynamic",
    width="stretch", hide_index=True, placeholder="",
    column_config={
        "layer": st.column_config.SelectboxColumn("layer", options=list(KINDS.values()),
                                                  required=True),
        "out": st.column_config.NumberColumn("out", min_value=1, step=1,
                                             help="output channels or features"),
        "kernel": st.column_config.NumberColumn("kernel F", min_value=1, step=1),
        "stride": st.column_config.NumberColumn(
            "stride S", min_value=1, step=1, help="blank: 1 for convolutions, F for pooling"),
        "padding": st.column_config.TextColumn(
            "padding P", validate=r"^(\d+|valid|same|full)$", help="a number, valid, same or full"),
        "dilation": st.column_config.NumberColumn("dilation D", min_value=1, step=1),
        "bias": st.column_config.CheckboxColumn("bias"),
        "in": st.column_config.NumberColumn(
            "declared in", min_value=1, step=1,
            help="in_channels / in_features as the code states them; blank: taken from the "
                 "previous layer"),
        "dropout": st.column_config.NumberColumn("dropout p", min_value=0.0, max_value=1.0),
    },
)
try:
    layers = from_frame(edited)
except ValueError as error:
    st.error(f"The table has a cell the tracer cannot read: {error}.")
    layers = [LayerSpec.from_dict(x) for x in st.session_state.stack_base]
st.session_state.layers = [layer.to_dict() for layer in layers]

result = trace((channels, height, width), layers)
totals = st.columns(3)
totals[0].metric("Parameters", f"{result.params:,}")
totals[1].metric("MACs", human(result.macs), help=f"{result.macs:,} multiply-accumulates; "
                 f"FLOPs ≈ 2 × MACs = {human(arithmetic.flops(result.macs))}")
totals[2].metric("Output", shape_text(result.out_shape))
if result.error:
    st.error(str(result.error))
st.dataframe(result_table(result), hide_index=True, width="stretch")
with st.expander("The same stack as PyTorch code"):
    try:
        st.code(to_pytorch((channels, height, width), layers), language="python")
    except ValueError as error:
        st.info(f"Fix the error first: {error}.")

# ---------------------------------------------------------------- receptive field
st.header("What one output sees")
spatial = [row for row in result.rows if row.pads is not None and row.rf is not None]
if not spatial:
    st.info("No convolution or pooling layer yet: add one to see a receptive field.")
else:
    choices = [row.index for row in spatial]
    url_state.bind("rf_layer", choices[-1])
    if st.session_state.rf_layer not in choices:
        st.session_state.rf_layer = choices[-1]
    labels = {row.index: f"{row.index}: {row.layer.label()} → {shape_text(row.out_shape)}"
              for row in spatial}
    picked = st.selectbox("Layer", choices, key="rf_layer", format_func=labels.get)
    row = result.rows[picked - 1]
    _, out_h, out_w = row.out_shape
    position = []
    for place, key, size, name in zip(st.columns(2), ("rf_row", "rf_col"), (out_h, out_w),
                                      ("Output row", "Output column")):
        url_state.bind(key, size // 2)
        st.session_state[key] = min(max(st.session_state[key], 0), size - 1)
        position.append(place.slider(name, 0, size - 1, key=key) if size > 1 else 0)
    seen = footprint(result, picked, *position)
    maps = [r.index for r in spatial if r.index <= picked]
    shown = [seen[0]] + [seen[i] for i in maps]
    formula = "$r_k = r_{k-1} + (f_k - 1) \\cdot j_{k-1}$, $j_k = j_{k-1} \\cdot s_k$."
    if seen[0] is None:
        st.markdown(f"Output ({position[0]}, {position[1]}) of layer {picked} sees no input "
                    f"pixel at all: its windows lie wholly in padding.  \n{formula}")
    else:
        rows_, cols_ = seen[0]
        notes = []
        if max(rows_[-1] - rows_[0], cols_[-1] - cols_[0]) + 1 < row.rf:
            notes.append("near the border part of the field falls on padding")
        if len(rows_) < rows_[-1] - rows_[0] + 1 or len(cols_) < cols_[-1] - cols_[0] + 1:
            notes.append("strides larger than a kernel, or dilation, leave pixels out")
        st.markdown(
            f"Output ({position[0]}, {position[1]}) of layer {picked} depends on input rows "
            f"{rows_[0]}–{rows_[-1]} and columns {cols_[0]}–{cols_[-1]} "
            f"({len(rows_) * len(cols_):,} pixels). Its receptive field is $r = {row.rf}$ "
            f"pixels wide, with neighbouring outputs $j = {row.jump}$ pixels apart"
            + "".join(f"; {note}" for note in notes) + f".  \n{formula}")
    plot(footprint_figure(result, maps, shown, columns=4 if len(shown) <= 12 else 6),
         width="stretch")
    plot(growth_figure(result), width="stretch")

st.subheader("Two 3×3 layers see as far as one 5×5")
url_state.bind("channels", 64, allowed=range(1, 2049))
c = st.number_input("Channels C (in and out)", 1, 2048, key="channels")
st.markdown(
    f"Two stacked 3×3 convolutions reach 5×5 input pixels, like one 5×5 convolution, with "
    f"$2 \\times 9C = 18C$ weights per filter instead of $25C$ (the chapter's comparison), and "
    f"a non-linearity in between. With C = {c} filters: "
    f"{2 * arithmetic.conv_params(c, c, 3, bias=False):,} against "
    f"{arithmetic.conv_params(c, c, 5, bias=False):,} weights, "
    f"{1 - 18 / 25:.0%} fewer; three 3×3 against one 7×7 saves {1 - 27 / 49:.0%}.")
plot(stacked_kernels_figure(c), width="stretch")

url_state.publish(*URL_KEYS)
