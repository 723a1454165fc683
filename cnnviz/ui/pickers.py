"""The image, model and layer pickers every page shares.

Their choices live in the URL (through ``cnnviz.ui.url_state``, which checks them), so a
shared link opens the same photo, model and layer, and the choice survives page switches; an upload is kept for the session: a student who uploads a
photo on one page finds it on the next.
"""

import streamlit as st
from PIL import Image

from cnnviz import activations, cam, images, models
from cnnviz.formatting import plain
from cnnviz.train.transfer import kept_models
from cnnviz.ui import session_models, url_state

IMAGE_SOURCES = ("Sample", "Upload", "Camera")
UPLOAD_TYPES = ["jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp"]


def upload_limit_text() -> str:
    """Streamlit's upload limit as it applies it: ``server.maxUploadSize`` is in decimal
    megabytes (a 19.5 MiB file is over a 20 MB limit)."""
    megabytes = st.get_option("server.maxUploadSize")
    return f"{megabytes} MB ({megabytes * 1_000_000:,} bytes)"


def image_picker(key: str = "image") -> Image.Image | None:
    """A sample photo, an upload or a camera shot as an RGB image; None (with the reason on
    screen) when the chosen source has nothing usable yet."""
    samples = images.sample_images()
    url_state.choice(f"{key}_source", IMAGE_SOURCES)
    source = st.segmented_control("Image", IMAGE_SOURCES, required=True,
                                  key=f"{key}_source")
    if source == "Upload":
        return _from_file(key, "Upload a photo", st.file_uploader, type=UPLOAD_TYPES,
                          help=f"JPEG, PNG, GIF, BMP, TIFF or WebP, up to "
                               f"{upload_limit_text()}.")
    if source == "Camera":
        return _from_file(key, "Take a photo", st.camera_input)
    url_state.choice(f"{key}_sample", samples)
    title = st.selectbox("Sample photo", list(samples), key=f"{key}_sample")
    return images.load_image(samples[title])


def _from_file(key: str, label: str, widget, **kwargs) -> Image.Image | None:
    """Decode an upload or camera shot; keep its bytes, once they decode, so other pages can
    reuse the photo. A file that does not decode is explained here and kept nowhere, so
    removing it leaves no error behind."""
    kept = f"_kept_{key}_file"
    upload = widget(label, key=f"{key}_{widget.__name__}", **kwargs)
    if upload is not None:
        try:
            img = images.load_image(upload.getvalue())
        except images.ImageError as err:
            st.error(f"**{plain(upload.name)}**: {plain(err)}")
            return None
        st.session_state[kept] = (upload.name, upload.getvalue())
        return img
    if kept not in st.session_state:
        st.info(f"No photo yet: choose one above, or pick a sample photo instead. A file "
                f"over {upload_limit_text()}, or of another type than JPEG, PNG, GIF, BMP, "
                f"TIFF or WebP, is refused before it reaches the page.")
        return None
    name, data = st.session_state[kept]
    st.caption(f"Using your earlier photo: {plain(name)}")
    return images.load_image(data)


def model_picker(key: str = "model", *, allow_untrained: bool = True) -> models.ModelBundle:
    """Choose a model of the zoo (those whose weights would have to be downloaded say so) or
    one made in this session (``session_models``: a network fine-tuned on the Transfer
    learning page, or kept on disk for this student's link). The model is loaded before its picker is drawn: when its weights cannot be
    had, the picker switches to the offline default, says why in one plain sentence, and
    shows the model the page really uses. A download shows its progress to the session that
    asked."""
    mine = session_models.session_bundles()
    options = [*models.available_models(), *mine]
    untrained_key = f"{key}_untrained"
    name = url_state.choice(key, options, label=lambda n: _model_title(n, mine))
    untrained = allow_untrained and name not in mine and url_state.flag(untrained_key)
    fallback = None
    try:
        chosen = mine.get(name)
        if isinstance(chosen, kept_models.Kept):  # kept on disk: a restart, or a later visit
            with st.spinner(f"Loading the model kept at {session_models.kept_time(chosen)}…"):
                chosen = session_models.reopen(chosen)
        bundle = chosen or _load(name, not untrained)
    except models.ModelError as err:
        if name == models.DEFAULT_MODEL:  # nothing to fall back to
            st.error(str(err))
            st.stop()
        fallback = (f"The pretrained weights of {name} are not on this machine and could not "
                    f"be downloaded (is it offline?)."
                    if isinstance(err, models.WeightsUnavailableError) else str(err))
        st.session_state[key] = models.DEFAULT_MODEL
        url_state.publish(key)
        bundle = models.load_model(models.DEFAULT_MODEL, pretrained=not untrained)
    st.selectbox("Model", options, key=key, format_func=lambda n: _model_title(n, mine))
    if allow_untrained and name not in mine:
        st.checkbox("Untrained (random weights)", key=untrained_key,
                    help="The same architecture with random weights: for exploring shapes, "
                         "not predictions.")
    if fallback:
        st.warning(f"{fallback} Showing {models.DEFAULT_MODEL} instead, which works without "
                   f"a network.", icon=":material/cloud_off:")
    st.caption(f"{plain(bundle.label)} · weights: {plain(bundle.weights)} · runs on "
               f"{models.device_description(bundle.device)}")
    return bundle


def _load(name: str, pretrained: bool) -> models.ModelBundle:
    """``models.load_model`` with a progress bar while weights download (only this session
    sees it; others keep working with their own models)."""
    bar = None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        text = f"Downloading {name}'s weights: {done / 1e6:.1f} MB" + (
            f" of {total / 1e6:.1f} MB" if total else "")
        if bar is None:
            bar = st.progress(0.0, text=text)
        bar.progress(min(done / total, 1.0) if total else 0.0, text=text)

    with st.spinner(f"Loading {name}…"):
        bundle = models.load_model(name, pretrained=pretrained, progress=progress)
    if bar is not None:
        bar.empty()
    return bundle


def _model_title(name: str, mine=()) -> str:
    if name in mine:  # its label says what it is ("… fine-tuned (brick, grass, gravel)")
        kept = mine[name]
        return (f"{name} (kept at {session_models.kept_time(kept)})"
                if isinstance(kept, kept_models.Kept) else name)
    if name == models.DEFAULT_MODEL:
        return f"{name} (offline, pretrained)"
    return name if models.pretrained_on_disk(name) else f"{name} (needs download)"


def layer_picker(bundle: models.ModelBundle, key: str, default: str, *, help=None) -> str:
    """Every layer of ``bundle`` with a feature map, by readable title. A link may name a
    layer by its title or its module name (``_blocks.10``); a module it names that has no map
    gets a message saying why."""
    names, titles = activations.layer_names(bundle), activations.layer_titles(bundle)

    def explain(raw: str) -> str | None:
        try:
            cam.check_layer(bundle, raw)
        except activations.LayerError as err:
            return str(err).rstrip(".")
        return None

    url_state.choice(key, names, default, label=titles.__getitem__, explain=explain)
    return st.selectbox("Layer (type to search)", names, key=key,
                        format_func=titles.__getitem__, help=help)
