"""The chapter's "Complete CNN from scratch": layers with forward and backward side by side.

Each layer keeps what its backward pass needs from the forward pass (the input, a mask), and
its learnable arrays in ``params`` with their gradients, after ``backward``, under the same
names in ``grads``. The sliding-window arithmetic is :mod:`cnnviz.ops` (vectorised, checked
against PyTorch); what is left here is the chain rule, one layer at a time.

The network, as in the chapter (28×28×1 → 10 classes)::

    Conv 3×3, 1→8, pad 1 → ReLU → MaxPool 2 (28→14) → Conv 3×3, 8→16, pad 1 → ReLU →
    MaxPool 2 (14→7) → Flatten (7×7×16 = 784) → Dense 784→10 → softmax cross-entropy

with He initialisation (weights ~ N(0, 2 / fan_in), biases 0) and, optionally, batch
normalisation after each convolution.
"""

from __future__ import annotations

import numpy as np

from cnnviz import ops


class Conv2D:
    """y = x ⋆ W + b; the gradients of W, b and x are again cross-correlations (ops)."""

    def __init__(self, in_channels, out_channels, kernel_size, *, padding=0, rng, dtype):
        fan_in = in_channels * kernel_size * kernel_size
        w = rng.standard_normal((out_channels, in_channels, kernel_size, kernel_size))
        self.params = {"W": (w * np.sqrt(2.0 / fan_in)).astype(dtype),
                       "b": np.zeros(out_channels, dtype)}
        self.padding = padding

    def forward(self, x, train=True):
        self.x = x
        return ops.conv2d(x, self.params["W"], self.params["b"], padding=self.padding)

    def backward(self, dy):
        dx, dw, db = ops.conv2d_backward(dy, self.x, self.params["W"], padding=self.padding)
        self.grads = {"W": dw, "b": db}
        return dx


class BatchNorm2D:
    """Per channel: x̂ = (x − μ) / √(σ² + ε), y = γ·x̂ + β.

    Training uses the batch's μ and σ² (biased) and updates running averages (with the unbiased
    variance, as PyTorch does); evaluation uses the running averages, so one image's answer
    does not depend on the others in its batch.
    """

    def __init__(self, channels, *, momentum=0.1, eps=1e-5, dtype):
        self.params = {"gamma": np.ones(channels, dtype), "beta": np.zeros(channels, dtype)}
        self.running_mean, self.running_var = np.zeros(channels, dtype), np.ones(channels, dtype)
        self.momentum, self.eps = momentum, eps

    def forward(self, x, train=True):
        axes, shape = (0, 2, 3), (1, -1, 1, 1)
        if train:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            m = x.size // x.shape[1]
            self.running_mean += self.momentum * (mean - self.running_mean)
            self.running_var += self.momentum * (var * m / max(m - 1, 1) - self.running_var)
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps).reshape(shape)
        self.x_hat = (x - mean.reshape(shape)) * self.inv_std
        return self.params["gamma"].reshape(shape) * self.x_hat + self.params["beta"].reshape(shape)

    def backward(self, dy):
        # Training mode: μ and σ² depend on every x in the batch, which gives the two mean terms.
        axes, shape = (0, 2, 3), (1, -1, 1, 1)
        self.grads = {"gamma": (dy * self.x_hat).sum(axis=axes), "beta": dy.sum(axis=axes)}
        dx_hat = dy * self.params["gamma"].reshape(shape)
        return self.inv_std * (dx_hat - dx_hat.mean(axis=axes, keepdims=True)
                               - self.x_hat * (dx_hat * self.x_hat).mean(axis=axes, keepdims=True))


class ReLU:
    """max(0, x); the gradient passes where the input was positive."""

    params: dict = {}

    def forward(self, x, train=True):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class MaxPool2D:
    """Largest value of each k×k window (stride k, no padding; a last row or column that does
    not fill a window is dropped, like PyTorch's floor). The gradient goes back to where that
    value was: the first one in reading order on a tie, as PyTorch does."""

    params: dict = {}

    def __init__(self, size=2):
        self.size = size

    def forward(self, x, train=True):
        self.x = x
        return ops.max_pool2d(x, self.size)

    def backward(self, dy):
        return ops.max_pool2d_backward(dy, self.x, self.size)


class Flatten:
    """(N, C, H, W) → (N, C·H·W), in PyTorch's order (channel, then row, then column)."""

    params: dict = {}

    def forward(self, x, train=True):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Dense:
    """y = x·W + b with W (in, out), as the chapter writes it (PyTorch's Linear stores W.T)."""

    def __init__(self, in_features, out_features, *, rng, dtype):
        w = rng.standard_normal((in_features, out_features)) * np.sqrt(2.0 / in_features)
        self.params = {"W": w.astype(dtype), "b": np.zeros(out_features, dtype)}

    def forward(self, x, train=True):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.grads = {"W": self.x.T @ dy, "b": dy.sum(axis=0)}
        return dy @ self.params["W"].T


def softmax_cross_entropy(logits, labels):
    """Mean −log softmax(logits)[label] and its gradient (softmax − one-hot) / N."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_probs[np.arange(n), labels].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n


class Network:
    """Layers in order; ``forward`` then ``backward`` fills every layer's ``grads``."""

    def __init__(self, layers, names):
        self.layers, self.names = list(layers), list(names)

    def forward(self, x, train=True):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dlogits):
        for layer in reversed(self.layers):
            dlogits = layer.backward(dlogits)
        return dlogits

    def parameters(self):
        """(layer name, parameter name, layer) for every learnable array, input to output."""
        return [(name, key, layer) for name, layer in zip(self.names, self.layers)
                for key in layer.params]

    def state(self) -> dict[str, np.ndarray]:
        """Every array that defines the network (parameters and running statistics), by name."""
        out = {f"{name}.{key}": value for name, layer in zip(self.names, self.layers)
               for key, value in layer.params.items()}
        for name, layer in zip(self.names, self.layers):
            if isinstance(layer, BatchNorm2D):
                out[f"{name}.running_mean"] = layer.running_mean
                out[f"{name}.running_var"] = layer.running_var
        return out

    @property
    def dtype(self):
        return self.layers[0].params["W"].dtype


def scratch_cnn(channels=(8, 16), *, in_channels=1, size=28, classes=10, batch_norm=False,
                seed=0, dtype=np.float32) -> Network:
    """The chapter's network (for 28×28 digits by default), He-initialised from ``seed``."""
    rng = np.random.default_rng(seed)
    layers, names, c_in = [], [], in_channels
    for i, c_out in enumerate(channels, start=1):
        block = [(f"conv{i}", Conv2D(c_in, c_out, 3, padding=1, rng=rng, dtype=dtype))]
        if batch_norm:
            block.append((f"bn{i}", BatchNorm2D(c_out, dtype=dtype)))
        block += [(f"relu{i}", ReLU()), (f"pool{i}", MaxPool2D(2))]
        for name, layer in block:
            names.append(name)
            layers.append(layer)
        c_in = c_out
    side = size // 2 ** len(channels)
    names += ["flatten", "dense"]
    layers += [Flatten(), Dense(c_in * side * side, classes, rng=rng, dtype=dtype)]
    return Network(layers, names)
