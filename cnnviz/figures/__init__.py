"""Plotly figures and image overlays: pure functions, data in, figure out (no Streamlit)."""
