"""Whether the page is on a phone, for the figures the server lays out.

Plotly draws a figure at the size the server gives it, and no figure can change its labels or
its layout in the browser. A figure that must look different on a phone (fewer labels, tiles
that fit the width) asks ``narrow()``. A tiny component in every page's header tells the
server the window's width class once the page has first been drawn, and again when it
changes (a phone turned sideways); only then does the page run once more, in the new
layout. Until it has heard, the server assumes a wide window.
"""

import streamlit as st

NARROW_PX = 640  # below this width Streamlit stacks columns, and so do our layouts
KEY = "_cnnviz_viewport"

_JS = """
export default function ({ data, setStateValue }) {
  let told = data.narrow;
  let timer = null;
  // Reported once the page is idle for 300 ms: a rerun asked for while the page is still
  // running would cut that run short and lose the state of widgets it had not drawn yet.
  const tell = (narrow, quiet = 0) => {
    const running = document.querySelector('[data-testid="stStatusWidget"]');
    quiet = running ? 0 : quiet + 1;
    if (quiet < 3) { timer = setTimeout(() => tell(narrow, quiet), 100); return; }
    timer = null;
    setStateValue("narrow", narrow);
  };
  const report = () => {
    const narrow = window.innerWidth < data.px;
    // "settled" once the page was drawn for this width (tests wait for it)
    document.documentElement.dataset.cnnvizViewport = narrow === data.narrow ? "settled" : "asked";
    if (narrow !== told) {
      told = narrow;
      clearTimeout(timer);
      tell(narrow);
    }
  };
  report();
  window.addEventListener("resize", report);
  return () => { clearTimeout(timer); window.removeEventListener("resize", report); };
}
"""
_PROBE = st.components.v2.component("cnnviz.viewport", js=_JS)
HIDE = f".st-key-{KEY} {{ display: none; }}"  # the probe has nothing to show


def narrow() -> bool:
    """Whether the browser reported a window narrower than ``NARROW_PX`` (a phone)."""
    state = st.session_state.get(KEY)
    return bool(state and state.get("narrow"))


def chart_width(presenting: bool) -> int:
    """About how wide a full-width chart is drawn, for a figure that lays out its labels: on a
    phone, on a projector (presentation mode), on a laptop (with the page list beside it)."""
    return 340 if narrow() else 960 if presenting else 700


def probe() -> None:
    """Mount the probe (once per page run, by ``presentation.page_header``)."""
    _PROBE(key=KEY, data={"narrow": narrow(), "px": NARROW_PX}, default={"narrow": False},
           on_narrow_change=lambda: None)
