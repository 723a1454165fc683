"""Page state that lives in the URL, so a teacher can share a link that opens the same view.

A page calls ``bind(key, default)`` before creating the widget with ``key=key`` (and no
``value=``); the widget then starts from the URL's value (or the default), and
``publish(key, ...)`` after the widgets writes the current values back into the address bar.
"""

import json

import streamlit as st


def _parse(raw: str, default):
    """Read a query-string value as the type of ``default``; None when it does not parse."""
    try:
        if isinstance(default, bool):
            return {"true": True, "false": False}[raw.lower()]
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (list, dict)):
            value = json.loads(raw)
            return value if isinstance(value, type(default)) else None
        return raw
    except (ValueError, KeyError, json.JSONDecodeError):
        return None


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def bind(key: str, default, *, allowed=None):
    """Seed ``st.session_state[key]`` once per session, from the URL or ``default``, and keep
    a copy so the value survives visits to other pages (Streamlit drops the state of a widget
    that a run did not draw). Returns the value.

    A URL value that does not parse, or is not in ``allowed``, falls back to ``default``: a
    hand-edited link must never break the page.
    """
    kept = f"_kept_{key}"
    if key not in st.session_state:
        if kept in st.session_state:
            value = st.session_state[kept]
        else:
            raw = st.query_params.get(key)
            value = None if raw is None else _parse(raw, default)
            if value is None or (allowed is not None and value not in allowed):
                value = default
        st.session_state[key] = value
    st.session_state[kept] = st.session_state[key]
    return st.session_state[key]


def publish(*keys: str) -> None:
    """Write the current values of ``keys`` into the address bar."""
    for key in keys:
        if key in st.session_state:
            text = _format(st.session_state[key])
            if st.query_params.get(key) != text:
                st.query_params[key] = text
