"""Classic filters and learned ones: the hand-made kernels of image processing, computed with
OpenCV, beside a trained network's first-layer kernels, each matched to its nearest Gabor
filter (an oriented edge or stripe detector of a given wavelength).

OpenCV's ``filter2D`` computes a correlation (the kernel is not flipped), as a CNN's layer
does; ``tests/test_insight.py`` checks it against ``cnnviz.ops.conv2d``.
"""

from dataclasses import dataclass

import cv2
import numpy as np

ORIENTATIONS = tuple(range(0, 180, 15))  # degrees
PHASES = (0.0, np.pi / 2, np.pi, 3 * np.pi / 2)  # even and odd, both signs
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as OpenCV's RGB2GRAY


def wavelengths(size: int) -> tuple[float, ...]:
    """Wavelengths (pixels per cycle) a size × size kernel can show: from 2 (the finest a
    grid samples) to twice its width."""
    return tuple(float(w) for w in np.geomspace(2, max(2 * size, 3), 8))


def gabor(size: int, orientation: float, wavelength: float, phase: float) -> np.ndarray:
    """``cv2.getGaborKernel`` of one octave's bandwidth (σ = 0.56 λ), round (γ = 1), zero
    mean and unit norm so that correlations compare shapes, not brightness."""
    kernel = cv2.getGaborKernel((size, size), 0.56 * wavelength, np.deg2rad(orientation),
                                wavelength, 1.0, phase, ktype=cv2.CV_64F)
    return _normalised(kernel)


def _normalised(kernel: np.ndarray) -> np.ndarray:
    kernel = kernel - kernel.mean()
    norm = np.linalg.norm(kernel)
    return kernel / norm if norm > 0 else kernel


def classic_kernels(size: int = 5) -> dict[str, np.ndarray]:
    """Hand-made kernels, all made by OpenCV: Sobel derivatives, a Gaussian blur, a Laplacian
    and two Gabor filters, each size × size (the Sobel and Laplacian at most 7)."""
    sobel = min(size, 7) | 1
    dx = cv2.getDerivKernels(1, 0, sobel)
    dy = cv2.getDerivKernels(0, 1, sobel)
    gauss = cv2.getGaussianKernel(size, -1)
    laplacian = _kernel_of(lambda image: cv2.Laplacian(image, cv2.CV_64F, ksize=sobel), sobel)
    return {
        "Sobel x (vertical edges)": np.outer(dx[1], dx[0]),
        "Sobel y (horizontal edges)": np.outer(dy[1], dy[0]),
        "Gaussian blur": gauss @ gauss.T,
        "Laplacian (spots)": laplacian,
        "Gabor 0° (vertical stripes)": cv2.getGaborKernel((size, size), 0.56 * size / 2, 0,
                                                          size / 2, 1.0, 0, ktype=cv2.CV_64F),
        "Gabor 45°": cv2.getGaborKernel((size, size), 0.56 * size / 2, np.pi / 4, size / 2, 1.0,
                                        0, ktype=cv2.CV_64F),
    }


def _kernel_of(linear_filter, size: int) -> np.ndarray:
    """The size × size kernel of an OpenCV filter: its response to a single 1 in the middle of
    zeros, far enough from the border (flipped, but these kernels are symmetric)."""
    image = np.zeros((3 * size, 3 * size))
    image[3 * size // 2, 3 * size // 2] = 1
    centre = 3 * size // 2 - size // 2
    return linear_filter(image)[centre:centre + size, centre:centre + size]


def filter_photo(grey: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.filter2D`` of a (H, W) photo, float64, borders reflected."""
    return cv2.filter2D(np.asarray(grey, dtype=np.float64), cv2.CV_64F, kernel,
                        borderType=cv2.BORDER_REFLECT_101)


@dataclass(frozen=True)
class GaborMatch:
    orientation: float  # degrees, 0: the stripes run vertically (the kernel varies along x)
    wavelength: float  # pixels per cycle
    phase: float  # radians
    correlation: float  # Pearson correlation with the learned kernel's luminance
    kernel: np.ndarray  # the Gabor filter, zero mean, unit norm

    @property
    def frequency(self) -> float:
        """Cycles per pixel."""
        return 1 / self.wavelength


def luminance(kernel: np.ndarray) -> np.ndarray:
    """A learned (3, k, k) colour kernel's response to grey: the weights of the three colour
    channels summed as RGB2GRAY weighs them."""
    return np.tensordot(LUMA, np.asarray(kernel, dtype=np.float64), axes=1)


def best_gabor(kernel: np.ndarray) -> GaborMatch:
    """The Gabor filter of the bank (12 orientations × 8 wavelengths × 4 phases) that
    correlates best with the kernel's luminance."""
    grey = _normalised(luminance(kernel) if kernel.ndim == 3 else np.asarray(kernel, float))
    size = grey.shape[-1]
    best = None
    for orientation in ORIENTATIONS:
        for wavelength in wavelengths(size):
            for phase in PHASES:
                candidate = gabor(size, orientation, wavelength, phase)
                r = float((candidate * grey).sum())  # both zero mean, unit norm
                if best is None or r > best.correlation:
                    best = GaborMatch(orientation, wavelength, phase, r, candidate)
    return best


def match_first_layer(weights: np.ndarray) -> list[GaborMatch]:
    """The best Gabor for each first-layer kernel (F, 3, k, k)."""
    return [best_gabor(kernel) for kernel in weights]


def chance_correlation(size: int, count: int = 64, seed: int = 0) -> float:
    """The median best-Gabor correlation of random (3, size, size) kernels: what a match
    means at this size. A 3 × 3 kernel has so few values that some Gabor of the bank fits
    noise about as well as a trained kernel."""
    rng = np.random.default_rng(seed)
    return float(np.median([best_gabor(rng.normal(size=(3, size, size))).correlation
                            for _ in range(count)]))
