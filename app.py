"""cnnviz entry point: page configuration and navigation, nothing else."""

from pathlib import Path

import streamlit as st

from cnnviz.ui import presentation
from cnnviz.ui.navigation import SECTIONS

# A file, not a Material icon: Streamlit loads a Material page icon from Google's font server.
ICON = Path(__file__).parent / "assets" / "icon.svg"
st.set_page_config(page_title="cnnviz", page_icon=str(ICON), layout="wide")
pages = {
    section: [
        st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path,
                default=spec.path == "views/home.py")
        for spec in specs
    ]
    for section, specs in SECTIONS.items()
    if specs
}
# Presenting, the page list moves to the top bar and leaves the whole width to the figure.
st.navigation(pages, position="top" if presentation.is_on() else "sidebar").run()
