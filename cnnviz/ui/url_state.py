"""Page state in the URL, so a teacher can share a link that opens the same view; and the one
place where every value read from the URL is checked.

Before creating a widget with ``key=key`` (and no default of its own), a page seeds its value
once per session: ``choice`` for a selection (the link may name an option by its label or by
its key: ``cam_method=layercam`` or ``Layer-CAM``, ``layer=_blocks.2``), ``flag`` for a toggle,
``number`` for a slider, ``bind`` for anything else (typed grids, layer lists, page numbers).
Each call also writes the value the session has now into the address bar, by its key, so the
link always shows what the page shows; ``publish`` does the same for values a page changes
later in its run. (Streamlit's own ``bind="query-params"`` is not used: it writes options by
their display label, drops any other spelling from the address bar, and cannot be checked.)

A value that does not parse, is not allowed, or is not finite falls back to the default with a
one-line notice, so a hand-edited or truncated link never breaks a page. Every key a page
reads is recorded in ``st.session_state[KEYS]`` (the tests use it to try every parameter).
"""

import json
import math

import streamlit as st

from cnnviz.formatting import plain

KEYS = "_url_keys"
_MISSING = object()


def register(key: str) -> None:
    """Record that the page reads ``key`` from the URL (for a value read elsewhere, as
    presentation mode's own switch is)."""
    st.session_state.setdefault(KEYS, set()).add(key)


def _notice(key: str, raw: str, shown, why: str | None = None) -> None:
    raw = raw if len(raw) <= 40 else raw[:37] + "…"
    st.warning(f"The link's {plain(f'{key}={raw}')} is not something this page can show"
               f"{f' ({plain(why)})' if why else ''}; showing {plain(shown)} instead.",
               icon=":material/link_off:")


def _is_finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_is_finite(v) for v in value.values())
    return True


def _parse(raw: str, default):
    """Read a query-string value as the type of ``default``; _MISSING when it does not."""
    try:
        if isinstance(default, bool):
            return {"true": True, "1": True, "on": True, "yes": True, "false": False,
                    "0": False, "off": False, "no": False}[raw.strip().lower()]
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
        elif isinstance(default, (list, dict)):
            value = json.loads(raw)
            if not isinstance(value, type(default)):
                return _MISSING
        else:
            return raw
    except (ValueError, KeyError, OverflowError, RecursionError):
        return _MISSING
    return value if _is_finite(value) else _MISSING


def _allows(allowed, value) -> bool:
    """Whether ``value`` (or, for a list, each of its items) is in ``allowed``."""
    if allowed is None:
        return True
    items = value if isinstance(value, list) else [value]
    try:
        return all(item in allowed for item in items)
    except TypeError:  # an unhashable item ([{}]) is in no set of choices
        return False


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _seed(key: str, default, read, *, shown=None, explain=None) -> object:
    """Seed ``st.session_state[key]`` once per session: ``read(raw)`` turns the URL's value
    into the value to use, or _MISSING (then the default, named as ``shown``, with a notice
    that says why when ``explain(raw)`` can tell)."""
    register(key)
    kept = f"_kept_{key}"
    if key not in st.session_state:
        if kept in st.session_state:  # the widget was off screen on another page
            value = st.session_state[kept]
        else:
            raw = st.query_params.get(key)
            value = default if raw is None else read(raw)
            if value is _MISSING:
                if shown is None:
                    shown = f"“{default}”" if isinstance(default, str) else default
                _notice(key, raw, shown, explain(raw) if explain else None)
                value = default
        st.session_state[key] = value
    st.session_state[kept] = st.session_state[key]
    publish(key)
    return st.session_state[key]


def bind(key: str, default, *, allowed=None, valid=None):
    """Seed ``st.session_state[key]`` (for a widget created with ``key=key`` and no value, or
    for state a page keeps itself) from the URL or ``default``; keep a copy so the value
    survives visits to other pages (Streamlit drops the state of a widget a run did not
    draw). ``allowed`` is the set of values (for a list, of items) a link may ask for;
    ``valid(value)``, when given, must hold too."""
    def read(raw: str):
        value = _parse(raw, default)
        if value is _MISSING or not _allows(allowed, value):
            return _MISSING
        return value if valid is None or valid(value) else _MISSING

    return _seed(key, default, read)


def choice(key: str, options, default=None, *, label=str, explain=None):
    """Seed a selection widget (selectbox, segmented control, radio): the URL may name an
    option by its ``label`` or by its key (``str(option)``); ``explain(raw)`` may say why a
    value is not an option."""
    options = list(options)
    default = options[0] if default is None else default
    by_label = {label(option): option for option in options}
    by_key = {str(option): option for option in options}

    def read(raw: str):
        return by_label.get(raw, by_key.get(raw, _MISSING))

    value = _seed(key, default, read, shown=f"“{label(default)}”", explain=explain)
    if value not in options:  # the options changed under a kept value (another model)
        value = st.session_state[key] = st.session_state[f"_kept_{key}"] = default
        publish(key)
    return value


def flag(key: str, default: bool = False) -> bool:
    """Seed a toggle or checkbox."""
    return _seed(key, default, lambda raw: _parse(raw, default))


def number(key: str, default, low, high):
    """Seed a slider or number input; values outside [low, high] are refused."""
    def read(raw: str):
        value = _parse(raw, default)
        return value if value is not _MISSING and low <= value <= high else _MISSING

    return _seed(key, default, read)


def publish(*keys: str) -> None:
    """Write the current values of ``keys`` into the address bar."""
    for key in keys:
        if key in st.session_state:
            text = _format(st.session_state[key])
            if st.query_params.get(key) != text:
                st.query_params[key] = text
