"""Classify a photo: the model zoo at work, and the shared image and model pickers."""

import streamlit as st

from cnnviz.figures.predictions import top_k_bars
from cnnviz.formatting import plain, shape_text
from cnnviz.ui import cached, presentation
from cnnviz.ui.charts import plot
from cnnviz.ui.pickers import image_picker, model_picker

page = presentation.page_header(
    "Classify a photo",
    "Pick a photo and a network trained on ImageNet's 1,000 classes, and see its five most "
    "likely answers. The same models drive every other page.")
controls, main = page.split((1, 2))
with controls:
    img = image_picker()
    bundle = model_picker()
left, right = main.columns([1, 1.3], gap="large")
if img is not None:
    left.image(img, caption=f"{img.width} × {img.height} pixels", width="stretch")
with right:
    if img is not None:
        if not bundle.pretrained:
            st.warning("This network has random weights: its answers are noise. Untrained "
                       "models are here for exploring architectures, not for predictions.")
        st.subheader(f"Top 5 of {len(bundle.categories):,} classes · {plain(bundle.label)}")
        plot(top_k_bars(cached.top_classes(bundle, img)), width="stretch")
        params = sum(p.numel() for p in bundle.model.parameters())
        st.caption(f"{params:,} parameters · input {shape_text(bundle.preprocess(img).shape)}")
