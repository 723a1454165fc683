"""Practice: exam-style questions with fresh numbers, checked and explained."""

import random

import streamlit as st

from cnnviz.arithmetic import practice
from cnnviz.ui import presentation, url_state

URL_KEYS = ("quiz", "topics", "count", "format")
# Buttons and choices a finger or a projector's pointer hits easily.
LARGE_CONTROLS = """<style>
[data-testid="stMain"] [data-testid="stButton"] button { min-height: 3rem; min-width: 7rem;
  font-size: 1.1rem; }
[data-testid="stMain"] [data-testid="stRadio"] label { font-size: 1.15rem;
  padding: 0.35rem 0.6rem 0.35rem 0; }
</style>"""

page = presentation.page_header(
    "Practice",
    "Questions in the style of the GATE and interview questions in the chapter, with fresh "
    "numbers every time. Answer, check, and read the worked formula. The quiz number is in "
    "the link: share it and the whole class gets the same questions.")
st.caption("GATE is India's Graduate Aptitude Test in Engineering, whose papers ask questions "
           "like these; “the chapter” is Chapter 13, Convolutional Neural Networks, the text "
           "this app follows.")
st.html(LARGE_CONTROLS)


def new_quiz() -> None:
    st.session_state.quiz = random.randint(1, 99_999)


url_state.bind("quiz", random.randint(1, 99_999), allowed=range(1, 100_000))
url_state.bind("topics", list(practice.TOPICS), allowed=practice.TOPICS)
url_state.bind("count", 7, allowed=range(1, 21))
url_state.bind("format", practice.FORMATS[0], allowed=practice.FORMATS)

controls = page.controls().columns([1, 1, 1, 1])
controls[0].number_input("Quiz number", 1, 99_999, key="quiz",
                         help="the seed of the questions: the same number gives the same quiz")
controls[1].button("New questions", on_click=new_quiz, width="stretch")
controls[2].slider("Questions", 1, 20, key="count")
controls[3].selectbox("Answer by", practice.FORMATS, key="format")
page.controls().multiselect("Topics", list(practice.TOPICS), key="topics",
                            format_func=practice.TOPICS.get)
score = st.container()  # the score goes above the questions, once it is known
reveal = st.toggle("Reveal all answers (for the teacher)", key="reveal",
                   help="Shows every answer with its working, checked or not: for going "
                        "through the quiz with the class.")

topics = st.session_state.topics or list(practice.TOPICS)
if not st.session_state.topics:
    st.warning("No topic chosen: asking about all of them.")
questions = practice.quiz(st.session_state.quiz, st.session_state.count, topics,
                          st.session_state.format)


def check(question: practice.Question, key: str) -> bool | None:
    """Show the verdict and the working once the student asks (every answer's working when
    the teacher reveals them all); True when right, None when not checked yet."""
    if not st.session_state.get(f"{key}-checked"):
        if reveal:
            st.info(f"Answer: {question.answer_text}.")
            st.markdown(question.explanation)
        return None
    response = st.session_state.get(key)
    if response in (None, ""):
        st.warning("Pick or type an answer first.")
        return None
    right = question.check(response)
    if right:
        st.success(f"Right: {question.answer_text}.")
    else:
        st.error(f"Not quite: you answered {response}; the answer is {question.answer_text}.")
    st.markdown(question.explanation)
    return right


verdicts = []
for number, question in enumerate(questions, start=1):
    key = f"answer-{st.session_state.quiz}-{number}-{question.topic}-{bool(question.choices)}"
    with st.container(border=True):
        st.markdown(f"**Question {number}** · {practice.TOPICS[question.topic]}")
        st.markdown(question.text)
        if question.choices:
            st.radio("Your answer", question.choices, index=None, key=key, horizontal=True)
        else:
            hint = "one decimal" if question.digits else "a whole number"
            st.text_input(f"Your answer ({hint})", key=key)
        st.button("Check", key=f"{key}-button", type="primary",
                  on_click=lambda k=key: st.session_state.update({f"{k}-checked": True}))
        verdicts.append(check(question, key))

checked = [v for v in verdicts if v is not None]
score.metric("Score", f"{sum(checked)} / {len(checked)} checked" if checked else "—",
             help=f"{len(questions) - len(checked)} of {len(questions)} question(s) not "
                  f"checked yet")

url_state.publish(*URL_KEYS)
