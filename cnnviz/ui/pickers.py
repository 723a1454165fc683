"""The image and model pickers every page shares.

Their choices live in the URL (Streamlit's ``bind="query-params"``), so a shared link opens
the same photo and model and the choice survives page switches; an upload is kept for the
session: a student who uploads a photo on one page finds it on the next.
"""

import streamlit as st
from PIL import Image

from cnnviz import images, models
from cnnviz.ui import session_models

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
    """Choose a model of the zoo or one made in this session (``session_models``); when its
    weights cannot be had, say so once and fall back to the offline default, so the page
    keeps working."""
    mine = session_models.session_bundles()
    name = st.selectbox("Model", [*models.available_models(), *mine], key=key,
                        format_func=_model_title, **SHARED)
    untrained = allow_untrained and name not in mine and st.checkbox(
        "Untrained (random weights)", key=f"{key}_untrained", **SHARED,
        help="The same architecture with random weights: for exploring shapes, not predictions.")
    try:
        with st.spinner(f"Loading {name}…"):
            bundle = mine.get(name) or models.load_model(name, pretrained=not untrained)
    except models.ModelError as err:
        st.warning(f"{err}\n\nShowing {models.DEFAULT_MODEL} instead.")
        bundle = models.load_model(models.DEFAULT_MODEL)
    st.caption(f"{bundle.label} · weights: {bundle.weights} · runs on "
               f"{models.device_description(bundle.device)}")
    return bundle


def _model_title(name: str) -> str:
    return f"{name} (offline, pretrained)" if name == models.DEFAULT_MODEL else name
