"""Home: what cnnviz is, where its models run, and every page, grouped as in the sidebar."""

import streamlit as st

from cnnviz import models
from cnnviz.ui.navigation import SECTIONS

st.title("cnnviz: see how a convolutional network works")
st.markdown(
    "cnnviz turns the ideas of a CNN course into things you can watch and change: a "
    "convolution computed cell by cell, padding and stride, feature maps, and what a trained "
    "network looks at in your own photo. Everything runs here, on real models with real "
    "weights, and the pages load no fonts, scripts or icons from other servers."
)
cached = models.cached_models()
st.markdown(
    f"**Without an internet connection** every page works with EfficientNet-Lite0, the default "
    f"model, whose ImageNet weights come with the app, and with every model untrained (random "
    f"weights). The {len(models.TORCHVISION_MODELS)} pretrained torchvision models need their "
    f"weights in PyTorch's cache, downloaded once while online. Cached on this machine: "
    f"{', '.join(cached) if cached else 'none yet'}."
)
try:
    st.info(f"Models run on: **{models.device_description()}**", icon=":material/memory:")
except models.ModelError as err:
    st.error(str(err))

for section, pages in SECTIONS.items():
    others = [page for page in pages if page.path != "views/home.py"]
    if not others:
        continue
    st.subheader(section)
    for page in others:
        st.page_link(page.path, label=page.title, icon=page.icon)
        st.caption(page.summary)
