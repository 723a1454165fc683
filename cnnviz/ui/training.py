"""Streamlit pieces for background training: the data sets behind a cache, and the progress
line of a job (any :class:`cnnviz.train.jobs.Snapshot`)."""

import streamlit as st

from cnnviz.figures.style import fmt_number
from cnnviz.train import offline_mnist, torchvision_data
from cnnviz.train.jobs import Snapshot

DATA_CHOICES = {"subset": "MNIST subset (5,000 digits, offline)", **torchvision_data.TITLES}


@st.cache_resource(show_spinner=False, max_entries=4)
def load_split(name: str, seed: int = 0):
    """A data set's split, shared by every session (its arrays are never written to)."""
    return torchvision_data.load_split(name, seed)


def data_or_fallback(name: str, seed: int = 0) -> tuple[str, offline_mnist.Split]:
    """The chosen data set, or the offline subset with the reason on screen. A download shows
    its progress, to the session that started it and to any other that asks for the same data
    set meanwhile (outside the cache, whose lock would keep the others waiting in silence). A
    data set that could not be had is not tried again in this session (each try may wait for
    timeouts)."""
    failed = st.session_state.setdefault("_data_unavailable", {})
    if name not in failed:
        bar = st.empty()

        def show(state: torchvision_data.Progress) -> None:
            text = f"Downloading {state.file}: {state.done / 1e6:.1f} MB" + (
                f" of {state.total / 1e6:.1f} MB" if state.total else "")
            bar.progress(min(state.done / state.total, 1.0) if state.total else 0.0, text=text)

        try:
            if name in torchvision_data.DATASETS:
                torchvision_data.fetch_files(name, progress=show)
            with st.spinner(f"Loading {DATA_CHOICES[name]}…"):
                return name, load_split(name, seed)
        except torchvision_data.DataUnavailableError as err:
            failed[name] = str(err)
        finally:
            bar.empty()
    st.warning(f"{failed[name]}\n\nUsing the offline MNIST subset instead.")
    return "subset", load_split("subset", seed)


def progress_line(snap: Snapshot) -> None:
    """A progress bar with the step, the pace and the time left, and why a job ended."""
    last = snap.latest
    if last is None:
        st.progress(0.0, text="Starting…")
    else:
        rate = snap.steps_per_second or 0
        left = snap.seconds_left
        text = (f"Step {last['step']:,} of {last['total_steps']:,} · epoch {last['epoch']} · "
                f"{fmt_number(rate, 1)} steps/s · "
                + (f"about {fmt_number(left, 0)} s left" if left is not None
                   else f"{fmt_number(last['seconds'], 1)} s"))
        st.progress(snap.fraction, text=text)
    job_messages(snap)


def job_messages(snap: Snapshot) -> None:
    """Why a job ended, if it failed or was stopped."""
    if snap.state == "failed":
        st.error(f"Training failed:\n\n```\n{snap.error.strip().splitlines()[-1]}\n```")
    elif snap.stop_reason == "lifetime":
        st.info("Stopped: the time limit was reached. The weights trained so far are kept.")
    elif snap.stop_reason == "idle":
        st.info("Stopped because the page was left. The weights trained so far are kept.")
    elif snap.stop_reason == "requested":
        st.info("Stopped. The weights trained so far are kept; Start trains further.")
