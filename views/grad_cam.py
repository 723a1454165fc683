"""Grad-CAM explorer: where in a photo a network finds the evidence for a class."""

import streamlit as st

from cnnviz import activations, cam
from cnnviz.cam import sanity, uncertainty
from cnnviz.figures import colours
from cnnviz.figures.cam import sanity_curve, uncertainty_bars
from cnnviz.figures.predictions import top_k_bars
from cnnviz.figures.style import fmt_number
from cnnviz.ui import cached
from cnnviz.ui.charts import plot
from cnnviz.ui import url_state
from cnnviz.ui.pickers import image_picker, layer_picker, model_picker
from cnnviz.ui.url_state import SHARED

SANITY_THRESHOLD = 0.2

st.title("Grad-CAM: what is the network looking at?")
st.markdown(
    "Grad-CAM answers \"why did it say *cat*?\": it weights each channel of a layer by how "
    "much the class score rises with it, and shows where in the photo those channels fire. "
    "Compare the map of the answer with the map of a wrong class, look through the depth of "
    "the network, put two networks side by side, and check that the map really comes from "
    "what the network learnt.")


def show_map(view, result, colour_map, opacity, *, caption, download_key) -> None:
    """The overlay, a note when the map is empty, and its PNG download."""
    picture = colours.overlay(view, result.heatmap, colour_map, opacity)
    st.image(picture, caption=caption, width="stretch")
    if not result.heatmap.any():
        st.info("This map is empty: no position has positive evidence for this class at "
                "this layer (every weighted sum is ≤ 0). Try another layer or method.")
    st.download_button("Download PNG", lambda: colours.png_bytes(picture), key=download_key,
                       file_name=f"{result.method}-{result.category}-{result.layer}.png"
                       .replace(" ", "_"), mime="image/png", on_click="ignore",
                       icon=":material/download:")


def class_title(categories, index: int) -> str:
    return f"{categories[index]} ({index})"


controls, main = st.columns([1.25, 2], gap="large")
with controls:
    img = image_picker()
    bundle = model_picker()
    url_state.choice("cam_method", cam.METHODS, label=cam.METHODS.__getitem__)
    method = st.segmented_control("Method", list(cam.METHODS), required=True,
                                  format_func=cam.METHODS.__getitem__, key="cam_method",
                                  **SHARED)
    default_layer = cam.default_layer(bundle)
    layer = layer_picker(bundle, "cam_layer", default_layer,
                         help=f"Default: the last convolutional stage, "
                              f"“{activations.layer_titles(bundle)[default_layer]}”. Deeper "
                              f"layers see whole objects, earlier ones edges.")
    url_state.choice("cam_colours", colours.COLOUR_MAPS)
    colour_map = st.selectbox("Colour map", list(colours.COLOUR_MAPS), key="cam_colours",
                              **SHARED, help="Viridis and cividis read well for everyone, "
                              "including with colour-vision deficiency; jet is the rainbow of "
                              "many papers, for comparison.")
    url_state.number("cam_opacity", 0.5, 0.0, 1.0)
    opacity = st.slider("Opacity of the map", 0.0, 1.0, step=0.05, key="cam_opacity",
                        **SHARED)

if img is None:
    st.stop()

titles = activations.layer_titles(bundle)
view = activations.network_input(bundle, img)
top = cached.top_classes(bundle, img)
predicted = top[0][0]

with main:
    if not bundle.pretrained:
        st.warning("**The map of an untrained network means nothing.** Its weights are "
                   "random, so neither its answer nor the place it \"looks at\" says anything "
                   "about the photo. Untick *Untrained* to see a trained network.")
    st.subheader(f"Top 5 · {bundle.label}")
    plot(top_k_bars(top), width="stretch")
    categories = bundle.categories
    url_state.choice("cam_class", range(len(categories)), top[1][0],
                     label=lambda i: class_title(categories, i))
    chosen = st.selectbox(
        f"Compare with another class (type to search all {len(categories):,})",
        range(len(categories)), key="cam_class",
        format_func=lambda i: class_title(categories, i), **SHARED)
    pair = cached.class_maps(bundle, img, (layer,), method, (predicted, chosen))
    answer, other = pair[predicted, layer], pair[chosen, layer]
    left, right = st.columns(2)
    with left:
        show_map(view, answer, colour_map, opacity, download_key="download_predicted",
                 caption=f"Predicted: {answer.category} · p = {answer.probability:.1%}")
    with right:
        show_map(view, other, colour_map, opacity, download_key="download_chosen",
                 caption=f"Chosen: {other.category} · p = {other.probability:.1%}")
    if chosen == predicted:
        st.caption("Both maps show the predicted class: pick a wrong class to compare.")
    else:
        st.caption("How to read them: each map is scaled to its own maximum, so compare "
                   "*where* they are bright, not how bright. Where the two overlap, the same "
                   "evidence supports both classes; where the wrong class lights up elsewhere, "
                   "the network has found something in the photo that looks like it.")
    st.caption(f"{cam.METHODS[method]} at “{titles[layer]}” (`{layer}`, "
               f"{' × '.join(map(str, answer.feature_map.shape))} positions), upsampled "
               f"bilinearly to the {view.shape[1]} × {view.shape[0]} pixels the network saw.")

st.subheader("Through the depth")
strip = cam.depth_layers(bundle, layer)
depth = cached.class_maps(bundle, img, strip, method, (predicted,), priority=cached.LATER)
for column, name in zip(st.columns(len(strip)), strip):
    result = depth[predicted, name]
    h, w = result.feature_map.shape
    column.image(colours.overlay(view, result.heatmap, colour_map, opacity), width="stretch",
                 caption=f"{titles[name]} · {h} × {w}")
st.caption(f"The map of “{answer.category}” at the last layer of each resolution, and at the "
           f"chosen layer, from the input side to the output side. Early layers are sharp but "
           f"see only edges and colours; the last stage is coarse (one cell per 32 pixels) but "
           f"knows about objects, which is why Grad-CAM is usually read there.")

st.subheader("One photo, two networks")
url_state.flag("cam_two_models")
if st.toggle("Compare with a second network", key="cam_two_models", **SHARED):
    st.session_state.setdefault("model2", "resnet18")
    first, second = st.columns(2)
    with second:
        bundle2 = model_picker(key="model2")
    if bundle2.categories != categories:
        st.warning(f"{bundle2.label} has other classes than {bundle.label}: their maps cannot "
                   f"be compared class for class.")
    else:
        layer2 = cam.default_layer(bundle2)
        answer2 = cached.class_map(bundle2, img, layer2, method, predicted,
                                   priority=cached.LATER)
        view2 = activations.network_input(bundle2, img)
        with first:
            st.image(colours.overlay(view, answer.heatmap, colour_map, opacity),
                     width="stretch", caption=f"{bundle.label} · p = {answer.probability:.1%}")
        with second:
            st.image(colours.overlay(view2, answer2.heatmap, colour_map, opacity),
                     width="stretch", caption=f"{bundle2.label} · p = {answer2.probability:.1%}")
            if not bundle2.pretrained:
                st.warning("The map of an untrained network means nothing: this one has "
                           "random weights.")
        if bundle2 is bundle:
            st.info("Both sides show the same network: choose another one on the right.")
        st.caption(f"Both maps are for “{answer.category}” at each network's last "
                   f"convolutional stage, by {cam.METHODS[method]}. A saliency map describes "
                   f"one model, not the photo: two networks that give the same answer can "
                   f"base it on different parts of the image.")

st.subheader("Sanity check")
url_state.flag("cam_sanity")
if st.toggle("Randomise the weights, from the top layer down", key="cam_sanity", **SHARED):
    count = len(sanity.units(bundle.model))
    checkpoints = tuple(sorted({c for c in (1, 2, 4, 8, 16) if c < count} | {count}))
    steps = cached.randomisation(bundle, img, layer, method, predicted, checkpoints)
    for column, step in zip(st.columns(len(steps)), steps):
        label = ("trained" if not step.count else
                 f"{step.count} of {count} random · ρ = {fmt_number(step.spearman)}")
        column.image(colours.overlay(view, step.heatmap, colour_map, opacity),
                     width="stretch", caption=label)
    plot(sanity_curve(steps, SANITY_THRESHOLD), width="stretch")
    st.caption(f"Adebayo et al. (2018), *Sanity checks for saliency maps*: the units of "
               f"{bundle.label} are re-initialised one by one from the output down (a copy; "
               f"the shared model is untouched), and ρ is the Spearman rank correlation with "
               f"the trained map. It matters because a map that survives the loss of the "
               f"learnt weights was showing the photo's edges, not what the network learnt; "
               f"a faithful method loses its picture (ρ near 0, below the dashed "
               f"{fmt_number(SANITY_THRESHOLD)}). On one photo ρ scatters by about ±0.2, since "
               f"a coarse map has few independent cells: read the trend, or try other photos.")

st.subheader("How sure is it? MC dropout")
url_state.flag("cam_dropout")
if st.toggle("Sample the prediction with dropout left on", key="cam_dropout", **SHARED):
    try:
        rates = uncertainty.dropout_rates(bundle)
    except uncertainty.NoDropoutError as err:
        st.info(str(err))
    else:
        url_state.number("cam_passes", 30, 10, 100)
        passes = st.slider("Stochastic passes", 10, 100, step=10, key="cam_passes", **SHARED)
        spreads = cached.dropout_spread(bundle, img, passes)
        plot(uncertainty_bars(spreads), width="stretch")
        st.caption(f"{passes} forward passes with {bundle.label}'s dropout (drop rate "
                   f"{', '.join(fmt_number(r) for r in rates)}) left on, as Gal & Ghahramani "
                   f"(2016) propose: the bars are the mean probability, the whiskers one "
                   f"standard deviation. Long whiskers mean the answer hangs on a few units.")
