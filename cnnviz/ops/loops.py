"""The chapter's loop implementation of convolution (Chapter 13, "Complete CNN" in NumPy),
kept as written there, with a Python loop over every output pixel: the page shows it as the
definition a student can read, and the benchmark measures ``ops`` against it."""

import numpy as np


def conv2d(x, w, b, stride=1, padding=0):
    """x (N, C, H, W), w (F, C, k, k), b (F,) → (N, F, out_h, out_w), one window at a time."""
    n, _, h, width = x.shape
    filters, _, k, _ = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (h + 2 * padding - k) // stride + 1
    out_w = (width + 2 * padding - k) // stride + 1
    out = np.zeros((n, filters, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = x_pad[:, :, i * stride: i * stride + k, j * stride: j * stride + k]
            for f in range(filters):
                out[:, f, i, j] = np.sum(patch * w[f], axis=(1, 2, 3)) + b[f]
    return out


def conv2d_backward(dy, x, w, stride=1, padding=0):
    """Gradients (dx, dw, db) of ``conv2d``, accumulated window by window."""
    _, _, out_h, out_w = dy.shape
    k = w.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[0])
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * stride, i * stride + k)
            cols = slice(j * stride, j * stride + k)
            patch = x_pad[:, :, rows, cols]
            for f in range(w.shape[0]):
                grad = dy[:, f, i, j].reshape(-1, 1, 1, 1)
                dw[f] += np.sum(patch * grad, axis=0)
                db[f] += np.sum(dy[:, f, i, j])
                dx_pad[:, :, rows, cols] += w[f] * grad
    h, width = x.shape[2:]
    return dx_pad[:, :, padding: padding + h, padding: padding + width], dw, db
