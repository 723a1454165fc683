"""The only part of cnnviz that imports Streamlit: cached resources, shared widgets, URL state."""
