"""Why convolution: the parameter problem counted, and equivariance and shift invariance
measured on a real network."""

import pandas as pd
import streamlit as st

from cnnviz import activations, insight
from cnnviz.figures import insight as figures
from cnnviz.figures.style import fmt_number
from cnnviz.insight import shifts
from cnnviz.ui import presentation, url_state
from cnnviz.ui.cached import LATER, WORKERS
from cnnviz.ui.charts import plot
from cnnviz.ui.pickers import image_picker, model_picker

PRESETS = {
    "chapter": ("The chapter: 224 × 224 × 3, 1,000 neurons, 5 × 5", insight.CHAPTER),
    "chapter64": ("The chapter: 64 filters of 3 × 3",
                  dict(size=224, channels=3, outputs=64, kernel=3)),
    "custom": ("Your own", None),
}
SLIDERS = {  # key: (label, low, high)
    "size": ("Image side (pixels)", 8, 512),
    "channels": ("Channels", 1, 64),
    "outputs": ("Neurons / filters", 1, 2048),
    "kernel": ("Kernel size", 1, 11),
}
SHIFT = shifts.MARGIN // 2

page = presentation.page_header(
    "Why convolution",
    "The chapter's first lesson in two parts. **The parameter problem:** a fully connected "
    "layer gives every neuron a weight for every pixel; a convolution reads a small window "
    "(local connectivity) with the same weights everywhere (weight sharing). **Equivariance "
    "and invariance:** move the photo and a convolution's map moves with it; the prediction "
    "should not change. Both are measured here, the second on a real network.")

# ---- the parameter problem -------------------------------------------------------------------
st.header("The parameter problem")
with page.controls():
    url_state.choice("preset", PRESETS, label=lambda k: PRESETS[k][0])
    preset = st.segmented_control("Numbers", list(PRESETS), format_func=lambda k: PRESETS[k][0],
                                  required=True, key="preset")
    values = PRESETS[preset][1]
    for key, (label, low, high) in SLIDERS.items():
        url_state.number(key, insight.CHAPTER[key], low, high)
        if values is not None:
            st.session_state[key] = values[key]
            url_state.publish(key)
        st.slider(label, low, high, key=key, disabled=values is not None)
size, channels, outputs, kernel = (st.session_state[k] for k in SLIDERS)
try:
    problem = insight.parameter_problem(size, channels, outputs, kernel)
except ValueError as err:
    st.warning(f"{err}: choose a smaller kernel or a larger image.")
    st.stop()

dense, local, conv = problem.fully_connected, problem.locally_connected, problem.convolution
c1, c2, c3 = st.columns(3)
c1.metric("Inputs per dense neuron", f"{problem.inputs:,}",
          help=f"{size} × {size} × {channels}, flattened")
c2.metric("Weights per conv neuron", f"{conv.weights_per_neuron:,}",
          help=f"{kernel} × {kernel} × {channels}: its window")
c3.metric("Fewer per neuron", f"{problem.per_neuron_ratio:,.0f}×")
plot(figures.parameter_bars(problem), width="stretch")
st.markdown(
    f"With {outputs:,} outputs the dense layer needs **{dense.params:,}** parameters "
    f"({figures.megabytes(dense.megabytes)} MB as float32). Reading only a {kernel} × {kernel} "
    f"window (local connectivity) but with its own weights at each of the {size * size:,} "
    f"positions: **{local.params:,}** ({figures.megabytes(local.megabytes)} MB). Sharing one set "
    f"of weights across positions: **{conv.params:,}** ({figures.megabytes(conv.megabytes)} MB), "
    f"{problem.layer_ratio:,.1f} times fewer than the dense layer, and the same for "
    f"any image size.")
with st.expander("The chapter's numbers, recomputed", expanded=not page.presenting):
    claims = insight.chapter_claims()
    st.dataframe(pd.DataFrame({
        "the chapter says": [c.text for c in claims],
        "computed": [f"{c.computed:,.2f}".rstrip("0").rstrip(".") for c in claims],
        "holds": ["yes" if c.holds else "no" for c in claims]}),
        hide_index=True, width="stretch")
    wrong = [c for c in claims if not c.holds]
    st.caption("Every count from `cnnviz.arithmetic`, the same formulas as the layer-stack "
               "page; the tests compare them with PyTorch's own `nn.Linear` and `nn.Conv2d`. "
               + " ".join(f"The chapter's “{c.text}” is off: the quotient is "
                          f"{fmt_number(c.computed, 2)}." for c in wrong))

# ---- equivariance -------------------------------------------------------------------------
st.header("Shift the photo: equivariance, stage by stage")
with page.controls():
    img = image_picker()
    bundle = model_picker()
    url_state.number("dx", 8, -SHIFT, SHIFT)
    url_state.number("dy", 0, -SHIFT, SHIFT)
    st.slider("Shift right (pixels)", -SHIFT, SHIFT, key="dx",
              help="Click the slider, then ← and → move it a pixel at a time.")
    st.slider("Shift down (pixels)", -SHIFT, SHIFT, key="dy")
if img is None:
    st.stop()
dx, dy = st.session_state.dx, st.session_state.dy


@st.cache_data(max_entries=32, show_spinner="Running both crops through the network…")
def _stage_shifts(_bundle, _img, model_key, image_key, dx, dy):
    return WORKERS.run(shifts.stage_shifts, _bundle, _img, dx, dy)


results = _stage_shifts(bundle, img, activations.model_key(bundle),
                        activations.image_key(img), dx, dy)
plot(figures.shift_agreement(results), width="stretch")
st.caption(
    f"Each bar: the correlation between the stage's maps of the photo moved ({dx}, {dy}) "
    f"pixels and of the photo itself moved by ({dx}, {dy}) ÷ the stage's cumulative stride, "
    f"over the positions both maps have. Green: the shift is a whole number of that stage's "
    f"cells; orange: it is not and was rounded.")
rows = []
for r in results:
    exact = r.interior_difference
    rows.append({"stage": r.stage, "stride": r.jump,
                 "shift in cells": f"{fmt_number(r.cells[1], 2)}, {fmt_number(r.cells[0], 2)}",
                 "correlation": round(r.correlation, 4),
                 "largest difference (share of the map's peak)": round(r.max_difference, 3),
                 "positions away from the border": r.interior,
                 "largest difference there": "—" if exact is None else f"{exact:.2g}"})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
exact_stages = [r.stage for r in results if r.multiple and r.interior
                and r.interior_difference < 1e-4]
broken = [r.stage for r in results if not r.multiple and r.interior
          and (r.interior_difference or 0) >= 1e-4]
st.markdown(
    ("Measured here: " if exact_stages or broken else "")
    + (f"at {', '.join(exact_stages)} the maps agree to within float rounding wherever a "
       f"position's receptive field stays inside the photo: equivariance. " if exact_stages
       else "")
    + (f"At {', '.join(broken)} the shift is not a whole number of cells and the maps differ "
       f"even there: a strided layer samples the photo on its own grid. " if broken else "")
    + "Near the borders, padding makes every map differ; stages whose receptive field is wider "
      "than the photo have no position free of it.")
pick = st.select_slider("Stage to show", [r.stage for r in results],
                        value=results[min(3, len(results) - 1)].stage, key="shift_stage")
chosen = next(r for r in results if r.stage == pick)
limits = (float(min(chosen.shifted.min(), chosen.expected[chosen.expected == chosen.expected]
                    .min(initial=chosen.shifted.min()))),
          float(max(chosen.shifted.max(), chosen.expected[chosen.expected == chosen.expected]
                    .max(initial=chosen.shifted.max()))))
left, right = st.columns(2)
left.image(figures.map_picture(chosen.shifted, limits), width="stretch",
           caption=f"{pick}: the map of the shifted photo (its strongest channel)")
right.image(figures.map_picture(chosen.expected, limits), width="stretch",
            caption="The photo's map, moved by the shift ÷ stride (grey: not in view)")

# ---- invariance ---------------------------------------------------------------------------
st.header("The prediction under shifts")


@st.cache_data(max_entries=32, show_spinner="Classifying 33 shifted crops…")
def _diagonal(_bundle, _img, model_key, image_key):
    return WORKERS.run(shifts.diagonal_predictions, _bundle, _img)


predictions = _diagonal(bundle, img, activations.model_key(bundle), activations.image_key(img))
plot(figures.diagonal_chart(predictions), width="stretch")
names = sorted({p.category for p in predictions})
probabilities = [p.probability for p in predictions]
st.markdown(
    f"Moving the 224-pixel window 0 to 32 pixels down and right, {bundle.label} names "
    f"**{len(names)}** class{'es' if len(names) > 1 else ''} ({', '.join(names)}); the "
    f"top-1 probability runs from {min(probabilities):.0%} to {max(probabilities):.0%}.")


@st.cache_data(max_entries=16, show_spinner="Classifying two random crops of every photo…")
def _consistency(_bundle, model_key, pairs):
    return WORKERS.run(shifts.consistency, _bundle, insight.photos_at_hand(), pairs=pairs,
                       priority=LATER)


pairs = 16
if st.button(f"Measure consistency on the {len(insight.photos_at_hand())} photos at hand",
             key="measure_consistency") or st.session_state.get("_consistency_shown"):
    st.session_state["_consistency_shown"] = True
    result = _consistency(bundle, activations.model_key(bundle), pairs)
    low, high = result.interval()
    zhang = insight.ZHANG_RESNET50
    st.markdown(
        f"**Consistency** (Zhang 2019): how often two random 224-pixel crops of the same photo, "
        f"offset 0–31 pixels each way, get the same top-1 class. {bundle.label}: "
        f"**{result.rate:.1%}** of {result.pairs} pairs ({pairs} per photo; 95 % interval "
        f"{low:.0%}–{high:.0%}, few photos make it wide). Zhang measured ResNet-50 on the "
        f"50,000 ImageNet validation photos: {zhang['baseline']:.2f} %, and "
        f"{zhang['blurred']:.2f} % with a blur before every downsampling (his repository's "
        f"table, adobe/antialiased-cnns).")
    st.dataframe(pd.DataFrame({"photo": list(result.per_photo),
                               "pairs that agree": [f"{v:.0%}" for v in
                                                    result.per_photo.values()]}),
                 hide_index=True)
