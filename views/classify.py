"""Classify a photo: the model zoo at work, and the shared image and model pickers."""

import streamlit as st

from cnnviz.figures.predictions import top_k_bars
from cnnviz.formatting import shape_text
from cnnviz.ui import cached
from cnnviz.ui.charts import plot
from cnnviz.ui.pickers import image_picker, model_picker

st.title("Classify a photo")
st.markdown(
    "Pick a photo and a network trained on ImageNet's 1,000 classes, and see its five most "
    "likely answers. The same models drive every other page."
)
left, right = st.columns([1, 1.3], gap="large")
with left:
    img = image_picker()
    bundle = model_picker()
    if img is not None:
        st.image(img, caption=f"{img.width} × {img.height} pixels", width="stretch")
with right:
    if img is not None:
        if not bundle.pretrained:
            st.warning("This network has random weights: its answers are noise. Untrained "
                       "models are here for exploring architectures, not for predictions.")
        st.subheader(f"Top 5 of {len(bundle.categories):,} classes · {bundle.label}")
        plot(top_k_bars(cached.top_classes(bundle, img)), width="stretch")
        params = sum(p.numel() for p in bundle.model.parameters())
        st.caption(f"{params:,} parameters · input {shape_text(bundle.preprocess(img).shape)}")
