"""Any PyTorch classifier in the training loop: a :class:`cnnviz.train.loop.Learner` adapter."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class TorchLearner:
    """Trains ``model`` with ``optimizer`` on cross-entropy.

    ``prepare`` turns a NumPy batch from the loop into the model's input (for example
    :class:`cnnviz.train.Standardise` on uint8 images); the result goes to the model's device
    and dtype. ``lock`` is held for each step and each evaluation, so a page can copy the
    weights between steps without seeing half an update. With ``watch`` on, each step leaves
    its learning rate and the gradient norm of every module with weights in ``last_step``.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *,
                 prepare: Callable[[np.ndarray], np.ndarray] | None = None):
        self.model, self.optimizer, self.prepare = model, optimizer, prepare
        self.lock = threading.Lock()
        reference = next(model.parameters())
        self.device, self.dtype = reference.device, reference.dtype
        self.watch, self.last_step = False, {}

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, lr: float) -> None:
        with self.lock:  # between two steps
            for group in self.optimizer.param_groups:
                group["lr"] = float(lr)

    def _gradient_norms(self) -> dict[str, float]:
        norms = {name: torch.linalg.vector_norm(torch.stack([
            torch.linalg.vector_norm(p.grad) for p in m.parameters(recurse=False)
            if p.grad is not None])) for name, m in self.model.named_modules()
            if any(p.grad is not None for p in m.parameters(recurse=False))}
        values = torch.stack(list(norms.values())).tolist() if norms else []
        return dict(zip(norms, values))  # one transfer from the device, not one per layer

    def inputs(self, x: np.ndarray) -> torch.Tensor:
        x = self.prepare(x) if self.prepare is not None else x
        return torch.as_tensor(np.asarray(x)).to(self.device, self.dtype)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        inputs, labels = self.inputs(x), torch.as_tensor(y, device=self.device)
        with self.lock:
            self.model.train()
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(inputs)
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            if self.watch:
                self.last_step = {"lr": self.learning_rate,
                                  "grad_norms": self._gradient_norms()}
            self.optimizer.step()
        return loss.item(), int((logits.detach().argmax(1) == labels).sum())

    def logits(self, x: np.ndarray) -> np.ndarray:
        inputs = self.inputs(x)
        with self.lock, torch.inference_mode():
            self.model.eval()
            return self.model(inputs).double().cpu().numpy()
