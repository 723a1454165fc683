"""Every chart the same way: plotly's toolbar hidden (on a projector it only covers the
figure, and nothing in it is needed to read one)."""

import streamlit as st

CONFIG = {"displayModeBar": False}


def plot(figure, **kwargs):
    """``st.plotly_chart`` with the app's configuration; returns what it returns (the
    selection event when ``on_select`` is given)."""
    return st.plotly_chart(figure, config=CONFIG, **kwargs)
