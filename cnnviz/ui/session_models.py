"""Models made in this browser session (a network fine-tuned on the Transfer learning page, or
uploaded there), offered by the model picker beside the zoo's, so the Grad-CAM and
feature-map pages can look inside them. They live in this session only: another student's
fine-tuned network never appears in your list.
"""

import streamlit as st

from cnnviz import models

KEY = "session_models"  # label -> ModelBundle, oldest first
MAX_MODELS = 3  # each holds a whole network; older ones make way


def register(bundle: models.ModelBundle) -> str:
    """Offer ``bundle`` in this session's model pickers; returns its label there."""
    kept = st.session_state.setdefault(KEY, {})
    kept.pop(bundle.label, None)
    kept[bundle.label] = bundle
    while len(kept) > MAX_MODELS:
        kept.pop(next(iter(kept)))
    return bundle.label


def session_bundles() -> dict[str, models.ModelBundle]:
    """This session's models by label, oldest first."""
    return dict(st.session_state.get(KEY, {}))
