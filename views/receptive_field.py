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
    footprint_animation,
    footprint_positions,
    growth_figure,
    stacked_kernels_figure,
)
from cnnviz.formatting import shape_text, si_count
from cnnviz.ui import presentation, url_state
from cnnviz.ui.animation import animate
from cnnviz.ui.charts import plot

DEFAULT_PRESET = "CIFAR-10 worked example"
URL_KEYS = ("preset", "c", "h", "w", "layers", "rf_layer", "rf_row", "rf_col", "channels")
ERROR_STYLE = "background-color: #fdd0a2; font-weight: bold"
TOTAL_STYLE = "font-weight: bold; border-top: 2px solid #555"

page = presentation.page_header(
    "Receptive field & layer stacks",
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


def describe_footprint(layer: int, position: tuple[int, int], seen, rf: int) -> str:
    """What output ``position`` of ``layer`` sees of the input, in words."""
    if seen is None:
        return (f"Output ({position[0]}, {position[1]}) of layer {layer} sees no input pixel "
                f"at all: its windows lie wholly in padding.")
    rows, cols = seen
    notes = []
    if max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < rf:
        notes.append("near the border part of the field falls on padding")
    if len(rows) < rows[-1] - rows[0] + 1 or len(cols) < cols[-1] - cols[0] + 1:
        notes.append("strides larger than a kernel, or dilation, leave pixels out")
    return (f"Output ({position[0]}, {position[1]}) of layer {layer} depends on input rows "
            f"{rows[0]}–{rows[-1]} and columns {cols[0]}–{cols[-1]} "
            f"({len(rows) * len(cols):,} pixels)" + "".join(f"; {note}" for note in notes)
            + ".")


def field_formula(result, picked: int) -> str:
    """The receptive-field recurrence for layer ``picked``, with its numbers substituted."""
    row = result.rows[picked - 1]
    before = result.rows[picked - 2] if picked > 1 else None
    r0, j0 = (before.rf, before.jump) if before is not None else (1, 1)
    layer = row.layer
    span = arithmetic.span(layer.f, layer.d)
    k, p = picked, picked - 1
    dilated = (f" (the dilated kernel spans $d(F - 1) + 1 = {span}$)" if layer.d != 1 else "")
    return (f"$r_{{{k}}} = r_{{{p}}} + (f_{{{k}}} - 1) \\cdot j_{{{p}}} = {r0} + ({span} - 1) "
            f"\\times {j0} = {row.rf}$, $j_{{{k}}} = j_{{{p}}} \\cdot s_{{{k}}} = {j0} \\times "
            f"{layer.stride} = {row.jump}${dilated}.")


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

top = page.controls().columns([2, 1, 1, 1])
top[0].selectbox("Preset", list(PRESETS), key="preset", on_change=load_preset)
channels = top[1].number_input("Input channels C", 1, 4096, key="c")
height = top[2].number_input("Input height H", 1, 4096, key="h")
width = top[3].number_input("Input width W", 1, 4096, key="w")
# Presenting, the page opens on what one output sees, the table one click away.
if page.presenting:
    field_place, stack_place = st.tabs(["What one output sees", "The layer table"])
else:
    stack_place, field_place = st.container(), st.container()
with stack_place:
    preset_note = st.empty()  # the preset's note, or that the stack has been edited

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
                "padding P", validate=r"^(\d+|valid|same|full)$",
                help="a number, valid, same or full"),
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
    chosen = PRESETS[st.session_state.preset]
    if (layer_rows(layers) == layer_rows(chosen.layers)
            and (channels, height, width) == tuple(chosen.input_shape)):
        preset_note.caption(chosen.note)
    else:
        preset_note.caption(f"Your own stack, started from the preset “{chosen.name}” and "
                            f"edited: its note no longer applies. Choose a preset again to "
                            f"start afresh.")

    result = trace((channels, height, width), layers)
    totals = st.columns(3)
    totals[0].metric("Parameters", f"{result.params:,}")
    totals[1].metric("MACs", si_count(result.macs),
                     help=f"{result.macs:,} multiply-accumulates; FLOPs ≈ 2 × MACs = "
                          f"{si_count(arithmetic.flops(result.macs))}")
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
with field_place:
    if not page.presenting:
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
        # Presenting, the layer is a setting: the animation comes first.
        picked = (page.controls() if page.presenting else st.container()).selectbox(
            "Layer", choices, key="rf_layer", format_func=labels.get)
        row = result.rows[picked - 1]
        _, out_h, out_w = row.out_shape
        for key, size in (("rf_row", out_h), ("rf_col", out_w)):
            url_state.bind(key, size // 2)
            st.session_state[key] = min(max(st.session_state[key], 0), size - 1)
        positions, every = footprint_positions(out_h, out_w)
        wanted = (st.session_state.rf_row, st.session_state.rf_col)
        start = min(range(len(positions)), key=lambda k: (abs(positions[k][0] - wanted[0])
                                                         + abs(positions[k][1] - wanted[1])))
        maps = [r.index for r in spatial if r.index <= picked]
        shown, captions = [], []
        for position in positions:
            seen = footprint(result, picked, *position)
            shown.append([seen[0]] + [seen[i] for i in maps])
            captions.append(describe_footprint(picked, position, seen[0], row.rf))
        formula = None if page.presenting else st.container()  # presenting: under the figure
        animate(footprint_animation(result, maps, shown, positions, captions, start=start),
                key="footprint")
        st.caption("Magenta: the input pixels and map positions the chosen output (purple) "
                   "depends on. Step through the outputs of the layer, or play them."
                   + (f" This layer is large: every {every}th row and column is shown."
                      if every > 1 else ""))
        (formula or st.container()).markdown(
            f"Every output of layer {picked} has a receptive field $r = {row.rf}$ pixels wide, "
            f"and neighbouring outputs are $j = {row.jump}$ pixels apart:  \n"
            + field_formula(result, picked))
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
