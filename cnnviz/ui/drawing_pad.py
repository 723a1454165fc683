"""A pad to draw on with a mouse, a pen or a finger, mounted as a small Streamlit component
with its own script and style (``drawing_pad.js``, ``drawing_pad.css`` beside this file; its
buttons share the animation's style, its DOM helper ``dom.js``): no iframe, no network,
nothing loaded from elsewhere."""

from pathlib import Path

import streamlit as st

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "cnnviz.drawing_pad",
    js=(_HERE / "dom.js").read_text() + (_HERE / "drawing_pad.js").read_text(),
    css=(_HERE / "animation.css").read_text() + (_HERE / "drawing_pad.css").read_text(),
    isolate_styles=False)


def drawing_pad(*, key: str, export_side: int, label: str, placeholder: str, hint: str = "",
                max_side_px: int = 320, stroke_width: float = 1 / 11,
                delay_ms: int = 300) -> str | None:
    """Show a square pad (as wide as its column, at most ``max_side_px``) and return what is
    drawn on it: a PNG data URL, ``export_side`` pixels square, dark ink on white, or None
    while it is empty. The browser sends the drawing while the student draws (at most once
    per ``delay_ms``) and when a stroke ends, so the caller can answer as the digit forms;
    every rerun this triggers is the caller's, so call it inside a fragment. The ink is
    ``stroke_width`` of the side wide."""
    result = _COMPONENT(
        data={"key": key, "exportSide": export_side, "label": label, "placeholder": placeholder,
              "hint": hint, "maxSide": max_side_px, "strokeWidth": stroke_width,
              "delayMs": delay_ms},
        key=key, default={"drawing": None}, on_drawing_change=lambda: None)
    return result.drawing
