"""The image and model pickers every page shares.

Their choices live in the URL (Streamlit's ``bind="query-params"``), so a shared link opens
the same photo and model and the choice survives page switches; an upload is kept for the
session: a student who uploads a photo on one page finds it on the next.
"""

import streamlit as st
from PIL import Image

from cnnviz import images, models

# In the URL, and kept across page switches.
SHARED = dict(bind="query-params", persist_state="session")
IMAGE_SOURCES = ("Sample", "Upload", "Camera")
UPLOAD_TYPES = ["jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp"]


def image_picker(key: str = "image") -> Image.Image | None:
    """A sample photo, an upload or a camera shot as an RGB image; None (with the reason on
    screen) when the chosen source has nothing usable yet."""
    samples = images.sample_images()
    source = st.segmented_control("Image", IMAGE_SOURCES, default=IMAGE_SOURCES[0],
                                  required=True, key=f"{key}_source", **SHARED)
    if source == "Upload":
        return _from_file(key, "Upload a photo", st.file_uploader, type=UPLOAD_TYPES)
    if source == "Camera":
        return _from_file(key, "Take a photo", st.camera_input)
    title = st.selectbox("Sample photo", list(samples), key=f"{key}_sample", **SHARED)
    return images.load_image(samples[title])


def _from_file(key: str, label: str, widget, **kwargs) -> Image.Image | None:
    """Decode an upload or camera shot; keep its bytes so other pages can reuse the photo."""
    kept = f"_kept_{key}_file"
    upload = widget(label, key=f"{key}_{widget.__name__}", **kwargs)
    if upload is not None:
        st.session_state[kept] = (upload.name, upload.getvalue())
    if kept not in st.session_state:
        st.info("No photo yet: choose one above, or pick a sample photo instead.")
        return None
    name, data = st.session_state[kept]
    try:
        img = images.load_image(data)
    except images.ImageError as err:
        st.error(f"**{name}**: {err}")
        return None
    if upload is None:
        st.caption(f"Using your earlier photo: {name}")
    return img


def model_picker(key: str = "model", *, allow_untrained: bool = True) -> models.ModelBundle:
    """Choose a model of the zoo (those whose weights would have to be downloaded say so).
    The model is loaded before its picker is drawn: when its weights cannot be had, the
    picker switches to the offline default, says why in one plain sentence, and shows the
    model the page really uses."""
    options = models.available_models()
    untrained_key = f"{key}_untrained"
    name = _chosen(key, options, models.DEFAULT_MODEL)
    untrained = allow_untrained and _chosen(untrained_key, (True, False), False)
    fallback = None
    try:
        with st.spinner(f"Loading {name}…"):
            bundle = models.load_model(name, pretrained=not untrained)
    except models.ModelError as err:
        if name == models.DEFAULT_MODEL:  # nothing to fall back to
            st.error(str(err))
            st.stop()
        fallback = (f"The pretrained weights of {name} are not on this machine and could not "
                    f"be downloaded (is it offline?)."
                    if isinstance(err, models.WeightsUnavailableError) else str(err))
        st.session_state[key] = models.DEFAULT_MODEL
        bundle = models.load_model(models.DEFAULT_MODEL, pretrained=not untrained)
    st.selectbox("Model", options, key=key, format_func=_model_title, **SHARED)
    if allow_untrained:
        st.checkbox("Untrained (random weights)", key=untrained_key, **SHARED,
                    help="The same architecture with random weights: for exploring shapes, "
                         "not predictions.")
    if fallback:
        st.warning(f"{fallback} Showing {models.DEFAULT_MODEL} instead, which works without "
                   f"a network.", icon=":material/cloud_off:")
    st.caption(f"{bundle.label} · weights: {bundle.weights} · runs on "
               f"{models.device_description(bundle.device)}")
    return bundle


def _chosen(key: str, options, default):
    """A widget's value before it is drawn: this session's, else the link's, else the
    default (a link's value that is not an option is ignored, as the widget would)."""
    if key in st.session_state:
        return st.session_state[key]
    raw = st.query_params.get(key)
    by_text = {str(option).lower(): option for option in options}
    return by_text.get(str(raw).lower(), default) if raw is not None else default


def _model_title(name: str) -> str:
    if name == models.DEFAULT_MODEL:
        return f"{name} (offline, pretrained)"
    return name if models.pretrained_on_disk(name) else f"{name} (needs download)"
