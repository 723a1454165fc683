"""Kernel presets for the convolution page: the classic hand-made filters a CNN's first layer
ends up rediscovering, plus the chapter's own examples."""

import numpy as np

_SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]

KERNELS: dict[str, np.ndarray] = {
    name: np.asarray(values, dtype=np.float64)
    for name, values in {
        "vertical edge (chapter)": [[1, 0, -1]] * 3,
        "horizontal edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
        "diagonal (chapter exercise)": [[1, 0], [0, 1]],
        "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
        "box blur": np.full((3, 3), 1 / 9),
        "Gaussian blur": np.outer([1, 2, 1], [1, 2, 1]) / 16,  # binomial approximation
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "Sobel x": _SOBEL_X,
        "Sobel y": np.transpose(_SOBEL_X),
        "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    }.items()
}
