"""Feature maps: what each layer of a network computes from a photo, channel by channel."""

import streamlit as st

from cnnviz import activations, images
from cnnviz.figures import feature_maps as fm
from cnnviz.formatting import fmt_number, shape_text
from cnnviz.ui import cached, presentation, url_state, viewport
from cnnviz.ui.charts import plot
from cnnviz.ui.pickers import image_picker, layer_picker, model_picker

ORDERS = {"mean": "by mean", "max": "by peak", "index": "in order"}
PAGE_SIZES = (16, 36, 64)
SECOND_SAMPLE = "Espresso cup"  # the second photo's default, so a comparison starts with two
GRID_PX = {False: fm.GRID_WIDTH_PX, True: 400}  # the channel grid's width, presenting or not
PHONE_PX = 320  # a picture's width on a phone: the page less its margins and the figure's

page = presentation.page_header(
    "Feature maps",
    "Each layer of a CNN turns its input into a stack of maps, one per channel: where in the "
    "photo that channel's pattern occurs. Early layers respond to edges and colours, middle "
    "layers to textures and parts, deep layers to whole objects. Walk down the network and "
    "see it on your own photo.")


def pick_layer(bundle) -> str:
    """A searchable list of every layer with a spatial output and a depth slider over the
    same list, kept in step; the layer is in the URL (by its readable name)."""
    names = activations.layer_names(bundle)
    stages = activations.stage_outputs(bundle)
    layer = layer_picker(bundle, "layer", stages[len(stages) // 2].name)
    st.session_state.depth = names.index(layer) + 1

    def follow_slider():
        st.session_state.layer = names[st.session_state.depth - 1]

    st.slider(f"Depth: layer {names.index(layer) + 1} of {len(names)}, from the input to the "
              f"last convolution", 1, len(names), key="depth", on_change=follow_slider)
    return layer


def pick_channel(layer: str, ranked, count: int) -> int:
    """The channel to enlarge: from the URL, a click on the grid, or the number box; the
    strongest channel of a layer when the student moves to it (a channel number means
    nothing in another layer)."""
    url_state.bind("channel", int(ranked[0]))
    moved = st.session_state.get("_channel_layer", layer) != layer
    if moved or not 0 <= st.session_state.channel < count:
        st.session_state.channel = int(ranked[0])
    st.session_state._channel_layer = layer
    st.number_input(f"Channel (0 to {count - 1}; or click a map)", 0, count - 1, step=1,
                    key="channel")
    url_state.publish("channel")
    return st.session_state.channel


def select_clicked_channel(chart_key: str) -> None:
    points = st.session_state[chart_key].selection.points
    if points:
        channel = points[0].get("customdata")
        st.session_state.channel = int(channel[0] if isinstance(channel, list) else channel)


def phone_width() -> dict:
    """On a phone a picture is drawn as wide as the screen, not shrunk by the browser into a
    frame made for a wider one (which leaves blank bands above and below it)."""
    return {"width_px": PHONE_PX} if viewport.narrow() else {}


def show_grid(fmap, shown, channel, shared, *, chart_key, title):
    width = PHONE_PX if viewport.narrow() else GRID_PX[page.presenting]
    plot(fm.channel_grid(fmap, shown, shared_scale=shared, selected=channel, title=title,
                         width_px=width),
         key=chart_key, on_select=lambda: select_clicked_channel(chart_key),
         selection_mode="points", width="content")


def show_channel(bundle, img, fmap, channel) -> None:
    """The chosen channel large, over the photo, and as a histogram with its statistics."""
    values = fmap[channel]
    stats = activations.channel_stats(values)
    plot(fm.channel_view(values, f"Channel {channel}", signed=bool(fmap.min() < 0)),
         width="stretch")
    plot(fm.overlay(activations.network_input(bundle, img), values,
                    f"Channel {channel} over the photo: where it fires", **phone_width()),
         width="content")
    plot(fm.value_histogram(values, "Values of this channel"), width="stretch")
    row, col = stats["argmax"]
    st.markdown(
        f"min **{fmt_number(stats['min'], 3)}** · max **{fmt_number(stats['max'], 3)}** "
        f"(row {row}, column {col}) · mean **{fmt_number(stats['mean'], 3)}** · standard "
        f"deviation **{fmt_number(stats['std'], 3)}** · exactly zero: "
        f"**{stats['zeros']:.0%}** of {values.size:,} positions")


def show_strip(bundle, img, layer: str) -> None:
    """One map per stage, stem to head, the stage of the current layer outlined."""
    ends = activations.stage_ends(bundle)
    captured = cached.feature_maps(bundle, img, [end.name for _, end in ends])
    strip = []
    for name, end in ends:
        fmap = activations.to_float32(captured[end.name])
        strip.append((name, end.shape, fmap[int(activations.rank_channels(fmap)[0])]))
    order = activations.layer_names(bundle)
    later = [k for k, (_, end) in enumerate(ends) if order.index(end.name) >= order.index(layer)]
    st.html(fm.stage_strip(strip, current=later[0] if later else None))
    st.caption("The strongest channel where each stage ends, every map from its lowest (dark "
               "blue) to its highest value (yellow); the current layer's stage is outlined. "
               "Stage by stage the resolution falls and channels are added: the maps get "
               "coarser, and the network looks for more kinds of thing.")


def show_filters(bundle) -> None:
    name, weights = activations.first_filters(bundle)
    f, c, kh, kw = weights.shape
    plot(fm.filter_patches(weights, **phone_width()), width="content")
    st.caption(f"The {f} filters of `{name}`, each {c} × {kh} × {kw}, as colour patches on one "
               f"scale for all: zero is mid-grey, a weight of +{fmt_number(abs(weights).max())} "
               f"(the largest) adds its full colour, −{fmt_number(abs(weights).max())} its "
               f"complement. A filter responds most where the photo looks like its patch."
               + ("" if bundle.pretrained else " This network is untrained: its filters are "
                  "random noise, and so are its feature maps."))


def second_photo():
    """The photo to compare with, from its own picker; a different sample by default."""
    url_state.choice("image2_sample", images.sample_images(), SECOND_SAMPLE)
    st.markdown("**Second photo**")
    return image_picker(key="image2")


controls, overview = page.split((1, 2))
with controls:
    img = image_picker()
    bundle = model_picker()
    url_state.flag("compare")
    compare = st.toggle("Compare with a second photo", key="compare")
    img2 = second_photo() if compare else None

if img is not None:
    # Presenting, the grid and the large map come first and the strip below them.
    strip_place = None if page.presenting else overview.container()
    layer_place = page.controls() if page.presenting else overview
    with layer_place:
        layer = pick_layer(bundle)
    fmap = activations.to_float32(cached.feature_maps(bundle, img, layer)[layer])
    count = fmap.shape[0]
    kind = {info.name: info.kind for info in activations.layers(bundle)}[layer]
    layer_place.caption(f"Module `{layer}` ({kind}) · output {shape_text(fmap.shape)}: {count} "
                        f"maps of {fmap.shape[1]} × {fmap.shape[2]}")
    order_col, size_col, page_col = page.controls().columns([3, 2, 2])
    scale_col = page.controls()  # a row of its own: its label is long
    url_state.choice("order", ORDERS, label=ORDERS.__getitem__)
    order = order_col.segmented_control("Order", list(ORDERS), format_func=ORDERS.__getitem__,
                                        required=True, key="order")
    url_state.choice("per_page", PAGE_SIZES)
    per_page = size_col.selectbox("Maps per page", PAGE_SIZES, key="per_page")
    pages = -(-count // per_page)
    if st.session_state.get("grid_page", 1) > pages:
        st.session_state.grid_page = 1
    grid_page = page_col.number_input(f"Page (of {pages})", 1, pages, key="grid_page")
    url_state.flag("shared_scale", True)
    shared = scale_col.toggle("Shared colour scale", key="shared_scale",
                              help="On: strong channels stand out. Off: each map uses its own "
                                   "range, which shows the pattern in weak channels too.")
    ranked = activations.rank_channels(fmap, order)
    shown = ranked[(grid_page - 1) * per_page:grid_page * per_page]
    grid_col, channel_col = st.columns([3, 2], gap="large")
    with channel_col:
        channel = pick_channel(layer, ranked, count)
        st.page_link("views/what_layers_learn.py", label="What does this channel respond to?",
                     icon=":material/visibility:", query_params={
                         "model": bundle.name, "layer": layer, "channel": str(channel),
                         "model_untrained": str(not bundle.pretrained).lower()})
        show_channel(bundle, img, fmap, channel)
    with grid_col:
        show_grid(fmap, shown, channel, shared, chart_key="grid",
                  title=f"{activations.layer_titles(bundle)[layer]}<br>Channels "
                        f"{(grid_page - 1) * per_page + 1}–{min(grid_page * per_page, count)} "
                        f"of {count}, {ORDERS[order]}")
    with strip_place or st.container():
        st.subheader("From input to output")
        show_strip(bundle, img, layer)

    if img2 is not None:
        st.subheader("The same channels on the second photo")
        fmap2 = activations.to_float32(cached.feature_maps(bundle, img2, layer)[layer])
        grid2_col, channel2_col = st.columns([3, 2], gap="large")
        with grid2_col:
            show_grid(fmap2, shown, channel, shared, chart_key="grid_second",
                      title="Second photo, channels ranked by the first")
        with channel2_col:
            plot(fm.overlay(activations.network_input(bundle, img2), fmap2[channel],
                            f"Channel {channel} over the second photo", **phone_width()),
                 width="content")
            means = [float(maps[channel].mean()) for maps in (fmap, fmap2)]
            st.markdown(f"Mean of channel {channel}: **{fmt_number(means[0], 3)}** on the "
                        f"first photo, **{fmt_number(means[1], 3)}** on the second.")

    st.subheader("The first layer's filters")
    show_filters(bundle)
    with st.expander("Activation cache (shared by every session)"):
        stats = activations.CACHE.stats()
        st.caption(f"{stats['entries']} maps, {stats['bytes'] / 2**20:.1f} of "
                   f"{stats['budget_bytes'] / 2**20:.0f} MiB · {stats['hits']} hits, "
                   f"{stats['misses']} misses, {stats['evictions']} evictions")
