"""Training labs: real MNIST offline, a NumPy CNN from scratch, its PyTorch twin, one loop.

No Streamlit here: pages drive training through :mod:`cnnviz.train.jobs`, and progress
reaches them through callbacks.
"""

from cnnviz.train.offline_mnist import (DIGITS, ImageSet, Split, mnist_split, mnist_subset,
                                        stratified_split, to_nchw)

__all__ = ["DIGITS", "ImageSet", "Split", "mnist_split", "mnist_subset", "stratified_split",
           "to_nchw"]
