"""cnnviz: the backend of a visual explorer for convolutional neural networks.

Importable and testable without Streamlit; only ``cnnviz.ui`` talks to the screen.
"""
