"""Animations that play in the browser (``cnnviz.figures.animation``), mounted as one small
Streamlit component with its own script and style (``animation.js``, ``animation.css`` beside
this file): no iframe, no network, nothing loaded from elsewhere."""

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from cnnviz.figures.animation import Animation

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "cnnviz.animation", js=(_HERE / "dom.js").read_text() + (_HERE / "animation.js").read_text(),
    css=(_HERE / "animation.css").read_text(), isolate_styles=False)


def animate(animation: Animation, *, key: str, on_step: Callable[[int], None] | None = None):
    """Show ``animation``. Its frames play in the browser; only an animation with ``server``
    set (one frame, the server decides the step) calls ``on_step(k)`` (0-based) when the
    student asks for step k."""

    def stepped() -> None:
        target = st.session_state[key].get("step")
        if on_step is not None and target is not None:
            on_step(int(target))

    return _COMPONENT(data=animation.to_data(), key=key, on_step_change=stepped)
