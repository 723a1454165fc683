"""The class-activation methods, one small function each: how much every channel of a layer
counts, from its activations A and the class score's gradients g = ∂y_c/∂A, both
(N, C, h, w). The map is then ReLU(Σ_k weight_k ⊙ A_k), computed once in ``weighted_maps``.

A new method is one function registered here; nothing else changes.
"""

from typing import Callable

import torch

Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
WEIGHTINGS: dict[str, Weighting] = {}
METHODS: dict[str, str] = {}  # key -> the name the papers and the page use


def method(key: str, label: str):
    """Register a weighting function under ``key``."""
    def register(weighting: Weighting) -> Weighting:
        WEIGHTINGS[key], METHODS[key] = weighting, label
        return weighting
    return register


@method("gradcam", "Grad-CAM")
def gradcam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Selvaraju et al. (2017): α_k = mean_ij g_kij, one weight per channel."""
    return grads.mean(dim=(2, 3), keepdim=True)


@method("gradcam++", "Grad-CAM++")
def gradcam_plus_plus(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Chattopadhyay et al. (2018), eq. 19, the exponential-score closed form:
    α_k = Σ_ij a_kij ReLU(g_kij), a = g² / (2g² + Σ_ab A_kab · g³), 0 where the denominator is
    0. Some implementations get this wrong (torchcam's boolean-indexed copy yields
    Σ g²·ReLU(g))."""
    g2 = grads * grads
    denominator = 2 * g2 + acts.sum(dim=(2, 3), keepdim=True) * g2 * grads
    alpha = g2 / torch.where(denominator == 0, 1.0, denominator)  # g = 0 -> 0 / 1 = 0
    return (alpha * grads.clamp(min=0)).sum(dim=(2, 3), keepdim=True)


@method("layercam", "Layer-CAM")
def layercam(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Jiang et al. (2021), eq. 5: a weight per position, ReLU(g_kij)."""
    return grads.clamp(min=0)


def check_method(key: str) -> str:
    if key not in WEIGHTINGS:
        raise ValueError(f"Unknown method {key!r}; choose one of {', '.join(METHODS)}.")
    return key


def weighted_maps(acts: torch.Tensor, grads: torch.Tensor, method: str) -> torch.Tensor:
    """(N, C, h, w) activations and score gradients -> (N, h, w) maps after the final ReLU."""
    weights = WEIGHTINGS[check_method(method)](acts, grads)
    return (weights * acts).sum(dim=1).clamp(min=0)
