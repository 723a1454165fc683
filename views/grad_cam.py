"""Grad-CAM explorer: where in a photo a network finds the evidence for a class."""

import streamlit as st

from cnnviz import activations, cam
from cnnviz.cam import sanity, uncertainty
from cnnviz.figures import colours
from cnnviz.figures.cam import sanity_curve, uncertainty_bars
from cnnviz.figures.predictions import top_k_bars
from cnnviz.figures.style import fmt_number
from cnnviz.formatting import plain
from cnnviz.ui import cached, presentation, url_state
from cnnviz.ui.charts import plot
from cnnviz.ui.pickers import image_picker, layer_picker, model_picker

SANITY_THRESHOLD = 0.2

page = presentation.page_header(
    "Grad-CAM: what is the network looking at?",
    "Grad-CAM answers \"why did it say *cat*?\": it weights each channel of a layer by how "
    "much the class score rises with it, and shows where in the photo those channels fire. "
    "Compare the map of the answer with the map of a wrong class, look through the depth of "
    "the network, put two networks side by side, and check that the map really comes from "
    "what the network learnt.")


def paint(view, heatmap):
    """A map over the photo as every picture on this page draws it: the chosen colours, and
    by default an opacity that grows with the heat, so cold areas leave the photo as it is."""
    return colours.cam_overlay(view, heatmap, st.session_state.cam_colours,
                               st.session_state.cam_opacity, st.session_state.cam_fade)


def show_map(view, result, *, caption, download_key) -> None:
    """The overlay, a note when the map is empty, and its PNG download."""
    picture = paint(view, result.heatmap)
    st.image(picture, caption=caption, width="stretch")
    if not result.heatmap.any():
        st.info("This map is empty: no position has positive evidence for this class at "
                "this layer (every weighted sum is ≤ 0). Try another layer or method.")
    # "PNG" beside the download icon: a longer label is cut in a third of a laptop's column.
    st.download_button("PNG", lambda: colours.png_bytes(picture), key=download_key,
                       help="Download this picture as a PNG file",
                       file_name=f"{result.method}-{result.category}-{result.layer}.png"
                       .replace(" ", "_"), mime="image/png", on_click="ignore",
                       icon=":material/download:")


def class_title(categories, index: int) -> str:
    return f"{categories[index]} ({index})"


controls, main = page.split((1.25, 2))
with controls:
    img = image_picker()
    bundle = model_picker()
    url_state.choice("cam_method", cam.METHODS, label=cam.METHODS.__getitem__)
    method = st.segmented_control("Method", list(cam.METHODS), required=True,
                                  format_func=cam.METHODS.__getitem__, key="cam_method")
    default_layer = cam.default_layer(bundle)
    layer = layer_picker(bundle, "cam_layer", default_layer,
                         help=f"Default: the last convolution after its activation, "
                              f"“{activations.layer_titles(bundle)[default_layer]}”, where "
                              f"Selvaraju et al. read Grad-CAM. Deeper layers see whole "
                              f"objects, earlier ones edges.")
    url_state.choice("cam_colours", colours.COLOUR_MAPS, colours.CAM_SCALE)
    st.selectbox("Colour map", list(colours.COLOUR_MAPS), key="cam_colours",
                 help="Turbo is ordered from dark blue (cold) to dark red (hot) and stays "
                      "readable on a projector; viridis and cividis read well for everyone, "
                      "including with colour-vision deficiency; jet is the rainbow of many "
                      "papers, for comparison.")
    url_state.number("cam_opacity", colours.CAM_OPACITY, 0.0, 1.0)
    st.slider("Opacity of the map", 0.0, 1.0, step=0.05, key="cam_opacity",
              help="How much of the colour covers the photo where the map is hottest.")
    url_state.flag("cam_fade", True)
    st.toggle("Fade cold areas", key="cam_fade",
              help="On: the colour grows with the heat, so the photo shows through where "
                   "the map is cold. Off: the whole colour map is blended evenly.")

if img is None:
    st.stop()

titles = activations.layer_titles(bundle)
view = activations.network_input(bundle, img)
top = cached.top_classes(bundle, img)
predicted = top[0][0]
# A new photo (or model) has other guesses: the comparison follows its second one, unless
# the class came with the link that opened the page.
seen = (activations.image_key(img), activations.model_key(bundle))
if st.session_state.get("_cam_seen", seen) != seen:
    st.session_state.cam_class = top[1][0]
st.session_state._cam_seen = seen

with main:
    if not bundle.pretrained:
        st.warning("**The map of an untrained network means nothing.** Its weights are "
                   "random, so neither its answer nor the place it \"looks at\" says anything "
                   "about the photo. Untick *Untrained* to see a trained network.")
    categories = bundle.categories
    url_state.choice("cam_class", range(len(categories)), top[1][0],
                     label=lambda i: class_title(categories, i))
    pictures = st.container()  # drawn above the class picker, filled once the class is known
    chosen = st.selectbox(
        f"Compare with another class (type to search all {len(categories):,})",
        range(len(categories)), key="cam_class",
        format_func=lambda i: class_title(categories, i))
    pair = cached.class_maps(bundle, img, (layer,), method, (predicted, chosen))
    answer, other = pair[predicted, layer], pair[chosen, layer]
    photo_col, left, right = pictures.columns(3)
    photo_col.image(view, width="stretch",
                    caption=f"The photo as {plain(bundle.label)} sees it ({view.shape[1]} × "
                            f"{view.shape[0]})")
    with left:
        show_map(view, answer, download_key="download_predicted",
                 caption=f"Predicted: {plain(answer.category)} · p = {answer.probability:.1%}")
    with right:
        show_map(view, other, download_key="download_chosen",
                 caption=f"Chosen: {plain(other.category)} · p = {other.probability:.1%}")
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
    st.subheader(f"Top 5 · {plain(bundle.label)}")
    plot(top_k_bars(top), width="stretch")

st.subheader("Through the depth")
strip = cam.depth_layers(bundle, layer)
depth = cached.class_maps(bundle, img, strip, method, (predicted,), priority=cached.LATER)
for column, name in zip(st.columns(len(strip)), strip):
    result = depth[predicted, name]
    h, w = result.feature_map.shape
    column.image(paint(view, result.heatmap), width="stretch",
                 caption=f"{titles[name]} · {h} × {w}")
st.caption(f"The map of “{plain(answer.category)}” at the last layer of each resolution, and "
           f"at the chosen layer, from the input side to the output side. Early layers are "
           f"sharp but see only edges and colours; the last stage is coarse (one cell per 32 "
           f"pixels) but knows about objects, which is why Grad-CAM is usually read there.")

st.subheader("One photo, two networks")
url_state.flag("cam_two_models")
if st.toggle("Compare with a second network", key="cam_two_models"):
    st.session_state.setdefault("model2", "resnet18")
    first, second = st.columns(2)
    first.markdown(f"**{plain(bundle.label)}**, the network chosen above")
    with second:
        bundle2 = model_picker(key="model2")
    if bundle2.categories != categories:
        st.warning(f"{plain(bundle2.label)} has other classes than {plain(bundle.label)}: "
                   f"their maps cannot be compared class for class.")
    else:
        # The same kind of layer in both: each network's own default, its last
        # convolution after its activation, whatever layer is chosen above for the first.
        layers = (cam.default_layer(bundle), cam.default_layer(bundle2))
        answer1 = (answer if layers[0] == layer else  # the map above, when it is the same
                   cached.class_map(bundle, img, layers[0], method, predicted,
                                    priority=cached.LATER))
        answer2 = cached.class_map(bundle2, img, layers[1], method, predicted,
                                   priority=cached.LATER)
        view2 = activations.network_input(bundle2, img)
        titles2 = activations.layer_titles(bundle2)
        first, second = st.columns(2)  # a row of its own, so the two pictures line up
        first.image(paint(view, answer1.heatmap), width="stretch",
                    caption=f"{plain(bundle.label)} at “{titles[layers[0]]}” · "
                            f"p = {answer1.probability:.1%}")
        second.image(paint(view2, answer2.heatmap), width="stretch",
                     caption=f"{plain(bundle2.label)} at “{titles2[layers[1]]}” · "
                             f"p = {answer2.probability:.1%}")
        if not bundle2.pretrained:
            second.warning("The map of an untrained network means nothing: this one has "
                           "random weights.")
        if bundle2 is bundle:
            st.info("Both sides show the same network: choose another one on the right.")
        st.caption(f"Both maps are for “{plain(answer1.category)}” at each network's own "
                   f"default layer, its last convolution after its activation (not the layer "
                   f"chosen above), by {cam.METHODS[method]}. A saliency map describes one "
                   f"model, not the photo: two networks that give the same answer can base it "
                   f"on different parts of the image.")

st.subheader("Sanity check")
url_state.flag("cam_sanity")
if st.toggle("Randomise the weights, from the top layer down", key="cam_sanity"):
    count = len(sanity.units(bundle.model))
    checkpoints = tuple(sorted({c for c in (1, 2, 4, 8, 16) if c < count} | {count}))
    steps = cached.randomisation(bundle, img, layer, method, predicted, checkpoints)
    for column, step in zip(st.columns(len(steps)), steps):
        label = ("trained" if not step.count else
                 f"{step.count} of {count} random · ρ = {fmt_number(step.spearman)}")
        column.image(paint(view, step.heatmap), width="stretch", caption=label)
    plot(sanity_curve(steps, SANITY_THRESHOLD), width="stretch")
    st.caption(f"Adebayo et al. (2018), *Sanity checks for saliency maps*: the units of "
               f"{plain(bundle.label)} are re-initialised one by one from the output down (a "
               f"copy; the shared model is untouched), and ρ is the Spearman rank correlation "
               f"with the trained map. It matters because a map that survives the loss of the "
               f"learnt weights was showing the photo's edges, not what the network learnt; "
               f"a faithful method loses its picture (ρ near 0, below the dashed "
               f"{fmt_number(SANITY_THRESHOLD)}). On one photo ρ scatters by about ±0.2, since "
               f"a coarse map has few independent cells: read the trend, or try other photos.")

st.subheader("How sure is it? MC dropout")
url_state.flag("cam_dropout")
if st.toggle("Sample the prediction with dropout left on", key="cam_dropout"):
    try:
        rates = uncertainty.dropout_rates(bundle)
    except uncertainty.NoDropoutError as err:
        st.info(str(err))
    else:
        url_state.number("cam_passes", 30, 10, 100)
        passes = st.slider("Stochastic passes", 10, 100, step=10, key="cam_passes")
        spreads = cached.dropout_spread(bundle, img, passes)
        plot(uncertainty_bars(spreads), width="stretch")
        where = ("Dropout sits only in the classifier head here, after the last feature "
                 "map, so the passes sample the head alone: a last-layer approximation, blind "
                 "to what the convolutional layers are unsure of."
                 if uncertainty.samples_head_only(bundle) else
                 "Dropout also sits among the convolutional layers here, so the passes sample "
                 "them too.")
        st.caption(f"{passes} forward passes with {plain(bundle.label)}'s dropout (drop rate "
                   f"{', '.join(fmt_number(r) for r in rates)}) left on, as Gal & Ghahramani "
                   f"(2016) propose: the bars are the mean probability, the whiskers one "
                   f"standard deviation. The spread approximates the model's epistemic "
                   f"uncertainty, its uncertainty about its own weights: long whiskers mean "
                   f"that weights the training data fit about equally well disagree on this "
                   f"photo. {where}")
