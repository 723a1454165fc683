"""Models made in this browser session (a network fine-tuned on the Transfer learning page, or
uploaded there), offered by the model picker beside the zoo's, so the Grad-CAM and
feature-map pages can look inside them. They live in this session only: another student's
fine-tuned network never appears in your list.

A finished fine-tune is also kept on the server's disk (``cnnviz.train.transfer.kept_models``)
under a key that this session's links carry (``keep=…``): after a server restart, or with the
link opened again that day, the model list offers it again and loads it from disk when picked.

The networks are freed when the session ends. Streamlit keeps a closed tab's session for
``server.disconnectedSessionTTL`` seconds in case it comes back, then drops it without
collecting it (its objects form reference cycles, and this app turns Streamlit's collection
after every run off), so a network referenced from the session would stay until Python's
collector happened to run. A session-scoped resource hears the disconnect; when the session
has not come back by the time Streamlit drops it, its networks are emptied.
"""

import threading
import time
import weakref

import streamlit as st
from streamlit.logger import get_logger

from cnnviz import models
from cnnviz.train.transfer import fine_tuned, kept_models
from cnnviz.ui import url_state

KEY = "session_models"  # label -> ModelBundle, oldest first
OWNED = "_session_owned"  # the networks this session made (Owned)
KEEP = "keep"  # the URL parameter: this student's key to their kept models
MAX_MODELS = 3  # each holds a whole network; older ones make way
STORE = kept_models.default_store()
_LOG = get_logger(__name__)


class Owned:
    """The networks a session made (with the job training one, if any), and how many times
    the session has connected."""

    def __init__(self):
        self._items: list[tuple[weakref.ref, weakref.ref | None]] = []
        self.visits = 0

    def own(self, module, job=None) -> None:
        self._items.append((weakref.ref(module), weakref.ref(job) if job else None))

    def free(self) -> int:
        """Stop their jobs and empty the networks (their weights go; the modules remain, on
        PyTorch's meta device); returns how many were freed."""
        freed = 0
        for module_ref, job_ref in self._items:
            job = job_ref() if job_ref else None
            if job is not None:
                job.stop()
                job.join()
            module = module_ref()
            if module is not None:
                module.to_empty(device="meta")
                freed += 1
        self._items.clear()
        return freed


def _left(visit: tuple[Owned, int]) -> None:
    """The session disconnected: free its networks if it has not come back when Streamlit
    drops it."""
    owned, number = visit

    def end() -> None:
        if owned.visits == number:
            freed = owned.free()
            if freed:
                _LOG.info("Freed %d network(s) of a session that ended.", freed)

    ttl = float(st.get_option("server.disconnectedSessionTTL"))
    timer = threading.Timer(ttl + 5, end)
    timer.daemon = True
    timer.start()


@st.cache_resource(scope="session", on_release=_left, show_spinner=False)
def _visit(_owned: Owned) -> tuple[Owned, int]:
    _owned.visits += 1  # once per connection: a disconnect clears the session's cache
    return _owned, _owned.visits


def keep_alive() -> Owned:
    """This session's networks, and a note that the session is here (``page_header`` calls it
    on every page)."""
    owned = st.session_state.setdefault(OWNED, Owned())
    return _visit(owned)[0]


def own(module, job=None) -> None:
    """Free ``module`` (stopping ``job`` first) when this session ends."""
    keep_alive().own(module, job)


def register(bundle: models.ModelBundle, *, keep=None) -> str:
    """Offer ``bundle`` in this session's model pickers (its network is freed when the session
    ends); returns its label there. ``keep()``, when given, saves the model
    (``fine_tuned.save``) to keep it on the server's disk for this student's link."""
    own(bundle.model)
    kept = st.session_state.setdefault(KEY, {})
    kept.pop(bundle.label, None)
    kept[bundle.label] = bundle
    while len(kept) > MAX_MODELS:
        kept.pop(next(iter(kept)))
    if keep is not None:
        STORE.keep(link_key(create=True), keep(), bundle.label)
    return bundle.label


def link_key(*, create: bool = False) -> str | None:
    """This student's key to the models kept for them, from the link (``keep=…``) or made
    now; None when there is none yet. It enters the address bar only once something is kept,
    so a link shared before that carries none."""
    if KEEP in st.session_state or KEEP in st.query_params:
        key = url_state.bind(KEEP, "", valid=kept_models.is_key)
        if key:
            return key
    if not create:
        return None
    st.session_state[KEEP] = st.session_state[f"_kept_{KEEP}"] = kept_models.new_key()
    url_state.publish(KEEP)
    return st.session_state[KEEP]


def session_bundles() -> dict[str, models.ModelBundle | kept_models.Kept]:
    """This session's models by label, oldest first, then the models kept on disk for this
    student's link that are not loaded (as a ``Kept``, which :func:`reopen` loads)."""
    keep_alive()
    mine = dict(st.session_state.get(KEY, {}))
    key = link_key()
    for kept in reversed(STORE.kept(key) if key else []):
        mine.setdefault(kept.label, kept)
    return mine


def kept_time(kept: kept_models.Kept) -> str:
    return time.strftime("%H:%M", time.localtime(kept.saved))


def reopen(kept: kept_models.Kept) -> models.ModelBundle:
    """A kept model loaded from disk (with every check an upload gets) and registered."""
    try:
        bundle = fine_tuned.load(kept.data(), f"the model kept at {kept_time(kept)}")
    except (fine_tuned.CheckpointError, OSError) as err:
        raise models.ModelError(f"The model kept at {kept_time(kept)} cannot be read again "
                                f"({err}).") from None
    register(bundle)
    return bundle
