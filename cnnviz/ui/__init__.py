"""The only part of cnnviz that imports Streamlit: cached resources, shared widgets, URL state.

Every page imports this package first (``app.py`` does, before any page runs), so the
libraries that other code imports lazily are imported here, once, under the package's import
lock: plotly's validators look pandas up in ``sys.modules`` without waiting for an import in
progress, so a chart drawn while another session's page was still importing pandas failed with
"partially initialized module 'pandas' has no attribute 'Series'" (issue 21: 12 tracebacks
when three tabs trained on a fresh server and a fourth opened Transfer learning).
"""

import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import pyarrow  # noqa: F401  (Streamlit's tables)
