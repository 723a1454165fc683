"""The from-scratch lab: the chapter's CNN written in NumPy (layers with forward and backward
side by side), its optimisers, its PyTorch twin, the gradient check, the chapter's
``MNISTConvNet``, one student's run on the page, and what the trained network shows."""
