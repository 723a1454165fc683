"""What a channel responds to, found by optimisation: start from noise and change the image,
by gradient ascent, until one channel's mean activation is as large as it can make it.

Plain gradient ascent on pixels finds high-frequency noise that excites a channel but that no
person can read. Olah, Mordvintsev & Schubert ("Feature Visualization", Distill, 2017,
doi:10.23915/distill.00007) make it legible with two things, both here:

- a *parameterisation* in which each step changes the image smoothly: the image is the inverse
  Fourier transform of learnt coefficients scaled by 1/frequency (so every frequency learns at
  a comparable rate, not the high ones fastest), in colour channels decorrelated by the square
  root of the photos' own colour covariance (computed here from the bundled sample photos);
- *transformation robustness*: each step sees the image randomly shifted, scaled and rotated,
  so only a pattern that excites the channel wherever it lands survives.

Written in cnnviz because the library that does this for PyTorch (torch-lucent 0.1.8, its last
release in 2021) pins kornia <= 0.4.1 and makes pytest, coverage, coveralls and IPython run-time
requirements; it runs with this torch only through deprecated APIs.
"""

import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz import activations, images
from cnnviz.models import ModelBundle

Progress = Callable[[int, int, float, np.ndarray | None], None]  # step, steps, activation, preview


@dataclass(frozen=True)
class Settings:
    """Everything that decides the picture (with the model, layer and channel): a cache key."""

    size: int = 128  # the image's side in pixels; the network sees it at this size
    steps: int = 256
    seed: int = 0
    learning_rate: float = 0.05  # Adam's, on the Fourier coefficients
    jitter: int = 8  # largest random shift per step, in pixels
    scale: float = 0.1  # random zoom in [1 − scale, 1 + scale]
    rotation: float = 10.0  # random rotation in [−rotation, +rotation] degrees
    decay: float = 1.0  # coefficient scale 1 / frequency ** decay

    def __post_init__(self):
        if not 16 <= self.size <= 512:
            raise ValueError(f"size must be between 16 and 512 pixels, not {self.size}")
        if not 1 <= self.steps <= 4096:
            raise ValueError(f"steps must be between 1 and 4096, not {self.steps}")

    def key(self) -> tuple:
        return tuple(asdict(self).items())


@dataclass(frozen=True)
class Visualisation:
    image: np.ndarray  # (size, size, 3) uint8
    activation: float  # the channel's mean activation on the image, untransformed
    history: tuple[float, ...]  # the objective (on the transformed image) at every step
    steps: int  # steps done (fewer than planned when stopped)
    seconds: float


LEAK = 0.1  # the share of an activation layer's input in the objective (see ``optimise``)


class _Reached(Exception):
    """Raised by the hook once the layer has its output: the rest of the network is skipped."""


@lru_cache(maxsize=1)
def colour_sqrt() -> torch.Tensor:
    """A 3×3 matrix M with M·Mᵀ proportional to the RGB covariance of the bundled photos:
    independent unit-variance channels times M have the photos' colour correlations. Scaled so
    that its largest column has norm 1."""
    pixels = np.concatenate([np.asarray(images.load_image(path), dtype=np.float64)
                             .reshape(-1, 3) / 255 for path in images.sample_images().values()])
    values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
    root = vectors * np.sqrt(np.clip(values, 0, None))
    return torch.tensor(root / np.linalg.norm(root, axis=0).max(), dtype=torch.float32)


class FourierImage(torch.nn.Module):
    """An RGB image in [0, 1] made from learnable Fourier coefficients (see the module's
    docstring): decorrelated colours, each frequency scaled by 1 / max(f, 1/size)^decay."""

    def __init__(self, size: int, generator: torch.Generator, decay: float = 1.0):
        super().__init__()
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        frequency = torch.sqrt(fx ** 2 + fy ** 2).clamp(min=1.0 / size)
        self.register_buffer("scale", frequency ** -decay)
        shape = (3, size, size // 2 + 1, 2)
        self.coefficients = torch.nn.Parameter(0.01 * torch.randn(shape, generator=generator))
        self.size = size

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.coefficients) * self.scale
        decorrelated = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4
        rgb = torch.einsum("ij,jhw->ihw", colour_sqrt(), decorrelated)
        return torch.sigmoid(rgb).unsqueeze(0)


def random_view(image: torch.Tensor, settings: Settings, generator: torch.Generator):
    """The image randomly shifted, zoomed and rotated (one affine warp, edges reflected)."""
    u = torch.rand(4, generator=generator) * 2 - 1
    angle = math.radians(settings.rotation * float(u[0]))
    zoom = 1 + settings.scale * float(u[1])
    shift = 2 * settings.jitter / settings.size  # in the [-1, 1] coordinates of affine_grid
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    theta = torch.tensor([[[cos, -sin, shift * float(u[2])], [sin, cos, shift * float(u[3])]]])
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, padding_mode="reflection", align_corners=False)


def is_activation(module: torch.nn.Module) -> bool:
    """Whether a module is an element-wise activation function (ReLU, ReLU6, GELU, …)."""
    return type(module).__module__ == "torch.nn.modules.activation"


def channel_mean(bundle: ModelBundle, pixels: torch.Tensor, layer: str, *,
                 leak: float = 0.0) -> torch.Tensor:
    """(N, C) mean activation of every channel of ``layer`` for images (N, 3, H, W) in [0, 1];
    differentiable; the network stops at that layer. At an activation layer, ``leak`` times
    the mean of its input is added (see ``optimise``)."""
    module = dict(bundle.model.named_modules()).get(layer)
    if not layer or module is None:
        raise activations.LayerError(f"{bundle.name} has no layer {layer!r}.")
    offset, scale = (t.to(bundle.device) for t in activations.normalisation(bundle))
    found = {}

    def hook(module, args, output):
        found["output"] = output + leak * args[0] if leak and is_activation(module) else output
        raise _Reached

    handle = module.register_forward_hook(activations.this_thread_only(hook))
    try:
        bundle.model((pixels * 255) * scale + offset)
    except _Reached:
        pass
    finally:
        handle.remove()
    if "output" not in found:
        raise activations.LayerError(f"{layer} of {bundle.name} did not run.")
    output = found["output"]
    if output.dim() != 4:
        raise activations.LayerError(f"{layer} of {bundle.name} has no feature map.")
    return output.mean(dim=(2, 3))


def optimise(bundle: ModelBundle, layer: str, channel: int, settings: Settings = Settings(), *,
             on_step: Progress | None = None, should_stop: Callable[[], bool] | None = None,
             preview_every: int = 16) -> Visualisation:
    """Gradient ascent on ``channel``'s mean activation at ``layer``. ``on_step`` hears every
    step (with a preview image every ``preview_every`` steps); ``should_stop`` ends it early.

    At an activation layer (a ReLU) the ascent also climbs a tenth of its input: from noise a
    ReLU is often silent everywhere, and a silent ReLU passes no gradient (EfficientNet-Lite0's
    head would never start); once it fires, its own output dominates. The result reports the
    activation alone."""
    channels = dict((info.name, info.shape[0]) for info in activations.layers(bundle))
    if layer in channels and not 0 <= channel < channels[layer]:
        raise ValueError(f"{layer} has channels 0 to {channels[layer] - 1}, not {channel}")
    generator = torch.Generator().manual_seed(settings.seed)
    image = FourierImage(settings.size, generator, settings.decay).to(bundle.device)
    optimiser = torch.optim.Adam(image.parameters(), lr=settings.learning_rate)
    history, started = [], time.perf_counter()
    for step in range(1, settings.steps + 1):
        if should_stop is not None and should_stop():
            break
        view = random_view(image(), settings, generator)
        with bundle.lock:  # the hook sits on the shared model for one pass
            objective = channel_mean(bundle, view, layer, leak=LEAK)[0, channel]
        optimiser.zero_grad()
        (-objective).backward()
        optimiser.step()
        history.append(objective.item())
        if on_step is not None:
            preview = to_uint8(image) if step % preview_every == 0 else None
            on_step(step, settings.steps, history[-1], preview)
    with torch.no_grad(), bundle.lock:
        final = image()
        activation = float(channel_mean(bundle, final, layer)[0, channel])
    return Visualisation(to_uint8(image), activation, tuple(history), len(history),
                         time.perf_counter() - started)


def to_uint8(image: FourierImage) -> np.ndarray:
    with torch.no_grad():
        pixels = image()[0].permute(1, 2, 0).cpu().numpy()
    return np.round(pixels * 255).astype(np.uint8)


def feature_visualization(bundle: ModelBundle, layer: str, channel: int, *, size: int = 128,
                          steps: int = 256, seed: int = 0) -> np.ndarray:
    """The image, (size, size, 3) uint8, that maximises ``channel``'s mean activation at
    ``layer`` (a module name, as in ``activations.layer_names``)."""
    return optimise(bundle, layer, channel, Settings(size=size, steps=steps, seed=seed)).image
