"""Every chart the same way: plotly's toolbar hidden (on a projector it only covers the
figure, and nothing in it is needed to read one), and its text legible from the back of a
room (``cnnviz.figures.style.legible``)."""

import streamlit as st

from cnnviz.figures.style import legible

CONFIG = {"displayModeBar": False}


def plot(figure, **kwargs):
    """``st.plotly_chart`` with the app's configuration; returns what it returns (the
    selection event when ``on_select`` is given)."""
    return st.plotly_chart(legible(figure), config=CONFIG, **kwargs)
