"""Home: what cnnviz is, the lesson path through the chapter with a picture of every step,
the other pages, and where the models run."""

import streamlit as st

from cnnviz import models
from cnnviz.ui import lessons, presentation

presentation.page_header(
    "cnnviz: see how a convolutional network works",
    "cnnviz turns the ideas of a CNN course into things you can watch and change: a "
    "convolution computed cell by cell, padding and stride, feature maps, and what a trained "
    "network looks at in your own photo. Everything runs here, on real models with real "
    "weights, and the pages load no fonts, scripts or icons from other servers."
)

# A lesson's title is its link: coloured and underlined as links are, so it reads as one.
LINKS = """<style>
[data-testid="stMain"] [data-testid="stPageLink-NavLink"] p { color: #1a56a8; font-weight: 600;
  text-decoration: underline; text-underline-offset: 0.2em; }
[data-testid="stMain"] [data-testid="stPageLink-NavLink"]:hover p { color: #0b3a75; }
</style>"""
st.html(LINKS)


def card(lesson: lessons.Lesson, number: int | None = None) -> None:
    """A lesson as a card: its picture, a link that opens the page on its example, a line."""
    with st.container(border=True):
        with st.spinner("Drawing…"):
            st.image(lessons.picture(lesson.picture), width="stretch")
        if number:
            st.markdown(f'<span class="lesson-step">Step {number}</span>',
                        unsafe_allow_html=True)
        st.page_link(lesson.page, label=lesson.title, query_params=lesson.query or None)
        st.caption(lesson.what)


def cards(row_of_lessons, numbered: bool) -> None:
    """Lessons as cards, COLUMNS to a row."""
    for start in range(0, len(row_of_lessons), COLUMNS):
        row = row_of_lessons[start:start + COLUMNS]
        for column, (number, lesson) in zip(st.columns(COLUMNS),
                                            enumerate(row, start=start + 1)):
            with column:
                card(lesson, number if numbered else None)


COLUMNS = 3
st.subheader("The lesson path, in the chapter's order")
cards(lessons.LESSON_PATH, numbered=True)
st.subheader("More to explore, and the labs")
cards(lessons.MORE, numbered=False)

cached = models.cached_models()
st.markdown(
    f"**Without an internet connection** every page works with EfficientNet-Lite0, the default "
    f"model, whose ImageNet weights come with the app, and with every model untrained (random "
    f"weights). The {len(models.TORCHVISION_MODELS)} pretrained torchvision models need their "
    f"weights in PyTorch's cache, downloaded once while online. Cached on this machine: "
    f"{', '.join(cached) if cached else 'none yet'}."
)

try:
    st.caption(f":material/memory: Models run on: **{models.device_description()}**")
except models.ModelError as err:
    st.error(str(err))
