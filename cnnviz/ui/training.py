"""Streamlit pieces for background training: the data sets behind a cache, what a job needs
to know of the session that starts it (``queue_options``), and the progress line of a job
(any :class:`cnnviz.train.jobs.Snapshot`), its place in the queue included."""

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from cnnviz.figures.style import fmt_number
from cnnviz.formatting import duration
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


def queue_options(**more) -> dict:
    """Keyword arguments for a ``Job`` started by this session: it is the job's owner (one
    live run per session), and the job ends a few seconds after the session closes (the tab
    closed) instead of waiting for the idle timeout. ``more``: the job's ``device``, ``kind``…"""
    ctx = get_script_run_ctx()
    session = ctx.session_id if ctx is not None else None

    def alive() -> bool:
        return session is None or not Runtime.exists() or \
            Runtime.instance().is_active_session(session)

    return {"owner": session, "alive": alive, **more}


def queue_text(snap: Snapshot) -> str | None:
    """Where a waiting or paused run stands, in words; None while it trains."""
    q, last = snap.queue, snap.latest
    if snap.state == "paused":
        at = f" after step {last['step']:,} of {last['total_steps']:,}" if last else ""
        return f"Paused{at}: Step trains one batch, Resume goes on."
    if snap.state != "queued" or q is None:
        return None
    again = " (taking turns with the other runs)" if snap.step_count else ""
    ahead = (f"{q.ahead} run{'s' * (q.ahead != 1)} ahead ({q.training} training now)"
             if q.ahead else "next")
    when = (f"; starts in about {duration(q.starts_in)}, done in about {duration(q.done_in)}"
            if q.starts_in is not None and q.done_in is not None else "")
    return f"Waiting for a turn{again}: place {q.place} in the queue, {ahead}{when}."


def progress_line(snap: Snapshot) -> None:
    """A progress bar with the step, the pace and the time left, the place in the queue while
    the job waits, and why a job ended."""
    last, waiting = snap.latest, queue_text(snap)
    if waiting is not None:
        st.progress(snap.fraction, text=waiting)
    elif last is None:
        st.progress(0.0, text="Starting…")
    else:
        rate = snap.steps_per_second or 0
        left = snap.seconds_left
        text = (f"Step {last['step']:,} of {last['total_steps']:,} · epoch {last['epoch']} · "
                f"{fmt_number(rate, 1)} steps/s · "
                + (f"about {duration(left)} left" if left is not None
                   else f"{fmt_number(snap.seconds, 1)} s"))
        st.progress(snap.fraction, text=text)
    job_messages(snap)


def job_messages(snap: Snapshot) -> None:
    """Why a job ended, if it failed or was stopped."""
    if snap.state == "failed":
        st.error(f"Training failed:\n\n```\n{snap.error.strip().splitlines()[-1]}\n```")
    elif snap.stop_reason == "lifetime":
        st.info("Stopped: the time limit was reached. The weights trained so far are kept.")
    elif snap.stop_reason in ("idle", "gone"):
        st.info("Stopped because the page was left. The weights trained so far are kept.")
    elif snap.stop_reason == "requested":
        st.info("Stopped. The weights trained so far are kept; Start trains further.")
