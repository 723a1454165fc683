"""Presentation mode, for a projector: one switch on every page (and ``?present=1`` in a link,
so a teacher can bookmark a lesson) folds the introduction and the settings into one compact
bar, moves the page list to the top (no sidebar) and gives the screen to the figure.

Every page starts the same way::

    page = presentation.page_header("Convolution by hand", INTRO)
    with page.controls():
        ...  # the page's settings

Normally the title, the switch and the introduction come one under the other and
``controls()`` is a plain container where it is called; in presentation mode title,
"About", "Settings" and the switch share one row, and ``controls()`` is the "Settings"
pop-over. The mode lives in the session (it survives page switches) and in the URL.
"""

from dataclasses import dataclass, field

import streamlit as st

from cnnviz.ui import session_models, url_state, viewport

KEY = "present"  # the session-state key (not a widget's: it outlives page switches) and the URL's
SWITCH = "_present_switch"  # the switch's own key
ON = ("1", "true", "yes", "on")

# Presentation mode: less empty space above the page, a smaller title, and a figure that may
# use the full width of a 1024-pixel projector.
_PRESENTING = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; padding-bottom: 1rem;
  padding-left: 1.5rem; padding-right: 1.5rem; }
[data-testid="stMain"] h1 { font-size: 1.75rem; padding: 0.1rem 0; }
</style>"""
# Both modes: nothing may push the page sideways on a phone (a formula scrolls inside its own
# box, with room for the brackets that reach past it), and a row of choices too long for its
# column wraps rather than hiding its last one; captions at WCAG AA contrast
# (Streamlit draws them at 60 % opacity, 3.9:1 on white; 75 % is 6:1) and their code no
# smaller than their text.
_ALWAYS = """<style>
[data-testid="stMain"] { overflow-x: hidden; }
[data-testid="stMain"] .katex-display { overflow-x: auto; overflow-y: hidden;
  padding: 0 0.25rem; }
[data-testid="stButtonGroup"] > [role="radiogroup"], [data-testid="stButtonGroup"] > [role="group"],
[data-testid="stTabs"] [role="tablist"] {
  flex-wrap: wrap; row-gap: 0.25rem; }
[data-testid="stCaptionContainer"] { opacity: 0.75; }
[data-testid="stCaptionContainer"] code { font-size: 0.95em; }
""" + viewport.HIDE + "</style>"


def is_on() -> bool:
    """Whether this session presents: as its switch was last set, on any page, else as the
    link says (``?present=1``)."""
    url_state.register(KEY)  # any value is safe here: only "1", "true", "yes", "on" turn it on
    if KEY not in st.session_state:
        st.session_state[KEY] = str(st.query_params.get(KEY, "")).lower() in ON
    return bool(st.session_state[KEY])


def _flip() -> None:
    st.session_state[KEY] = bool(st.session_state[SWITCH])


def _publish() -> None:
    """Keep the URL in step with the switch, so the address bar can be bookmarked."""
    if st.session_state.get(KEY):
        if st.query_params.get(KEY) != "1":
            st.query_params[KEY] = "1"
    elif KEY in st.query_params:
        del st.query_params[KEY]


@dataclass
class PageHeader:
    """A page's title row; ``controls()`` is where its settings go."""

    presenting: bool
    _slot: object = None  # presentation mode: the column that holds the settings button
    _controls: object = field(default=None, repr=False)

    def controls(self, label: str = "Settings"):
        """The container for the page's settings: in presentation mode a pop-over in the
        title row (the same one on every call), otherwise a plain container here."""
        if not self.presenting:
            return st.container()
        if self._controls is None:
            self._controls = self._slot.popover(label, icon=":material/tune:", width="stretch")
        return self._controls

    def split(self, spec=(1, 2), label: str = "Settings"):
        """(settings, main): normally two columns side by side, the settings on the left;
        presenting, the settings pop-over and the full width for the main part."""
        if self.presenting:
            return self.controls(label), st.container()
        side, main = st.columns(spec, gap="large")
        return side, main


def page_header(title: str, intro: str | None = None) -> PageHeader:
    """The page's title, the presentation switch and its introduction (Markdown)."""
    session_models.keep_alive()  # this session is here: its networks are not freed
    presenting = is_on()
    st.html(_ALWAYS + (_PRESENTING if presenting else ""))
    viewport.probe()
    if presenting:
        head, about, slot, switch = st.columns([4.2, 1.2, 1.3, 1.1], vertical_alignment="center")
    else:
        head, switch = st.columns([5, 1], vertical_alignment="center")
        about = slot = None
    head.title(title)
    switch.toggle("Present", value=presenting, key=SWITCH, on_change=_flip,
                  help="Presentation mode, for a projector: the figure takes the screen and "
                       "the settings fold into one bar. Links with ?present=1 open in it.")
    _publish()
    if intro:
        if presenting:
            about.popover("About", icon=":material/info:", width="stretch").markdown(intro)
        else:
            st.markdown(intro)
    return PageHeader(presenting, slot)
