"""The parameter problem, the chapter's first argument for convolution: a fully connected layer
on an image needs a weight per input pixel per neuron; local connectivity cuts that to a
kernel's worth, and weight sharing makes it independent of the image's size.

Counts come from ``cnnviz.arithmetic`` (``linear_params``, ``conv_params``), so this page and
the layer-stack page count the same way; ``tests/test_insight.py`` checks them against
``sum(p.numel())`` of the ``nn.Linear`` and ``nn.Conv2d`` they describe.
"""

from dataclasses import dataclass

from cnnviz import arithmetic

BYTES_PER_WEIGHT = 4  # float32


@dataclass(frozen=True)
class Layer:
    """One way to connect an image to ``outputs`` neurons (filters)."""

    name: str
    weights_per_neuron: int  # inputs one neuron reads (no bias)
    params: int  # weights and biases of the whole layer

    @property
    def megabytes(self) -> float:
        """float32 weights, in MB (10⁶ bytes)."""
        return self.params * BYTES_PER_WEIGHT / 1e6


@dataclass(frozen=True)
class ParameterProblem:
    size: int  # the image is size × size
    channels: int
    outputs: int  # neurons of the fully connected layer, filters of the convolution
    kernel: int
    fully_connected: Layer
    locally_connected: Layer  # a kernel-sized window, but its own weights at every position
    convolution: Layer  # the same window, one set of weights shared by every position

    @property
    def inputs(self) -> int:
        return self.size * self.size * self.channels

    @property
    def per_neuron_ratio(self) -> float:
        """How many times fewer inputs a convolution's neuron reads than a dense one's."""
        return self.fully_connected.weights_per_neuron / self.convolution.weights_per_neuron

    @property
    def layer_ratio(self) -> float:
        """How many times fewer parameters (with biases) the whole convolution has."""
        return self.fully_connected.params / self.convolution.params


def parameter_problem(size: int, channels: int, outputs: int, kernel: int) -> ParameterProblem:
    """The three layers for a size × size × channels image and ``outputs`` neurons or filters
    of kernel × kernel (stride 1, 'same' padding, so the locally connected layer has one
    window per pixel). ``ValueError`` for a kernel larger than the image."""
    if kernel > size:
        raise ValueError(f"a {kernel}×{kernel} kernel does not fit in a {size}×{size} image")
    inputs = size * size * channels
    window = kernel * kernel * channels
    conv = arithmetic.conv_params(channels, outputs, kernel)
    return ParameterProblem(
        size, channels, outputs, kernel,
        Layer("fully connected", inputs, arithmetic.linear_params(inputs, outputs)),
        Layer("locally connected", window, conv * size * size),
        Layer("convolution", window, conv),
    )


@dataclass(frozen=True)
class Claim:
    """A number the chapter states, and what the formulas give."""

    text: str  # the chapter's sentence, shortened
    stated: float
    computed: float
    tolerance: float  # relative: "about 2000×" holds within 5 %

    @property
    def holds(self) -> bool:
        return abs(self.computed - self.stated) <= self.tolerance * abs(self.stated)


# The chapter's stated case: a 224 × 224 × 3 image; its learning objectives speak of "~75 weights
# per neuron" (a 5 × 5 kernel on 3 channels) and a "2000×" reduction; its worked examples use
# 1,000 dense neurons, and 64 filters of 3 × 3.
CHAPTER = dict(size=224, channels=3, outputs=1000, kernel=5)


def chapter_claims() -> list[Claim]:
    """The chapter's numbers of the parameter problem, each recomputed."""
    five = parameter_problem(224, 3, 1000, 5)
    three = parameter_problem(224, 3, 64, 3)
    return [
        Claim("224 × 224 × 3 flattened: 150,528 inputs per neuron", 150_528, five.inputs, 0),
        Claim("~75 weights per neuron (5 × 5 × 3)", 75, five.convolution.weights_per_neuron,
              0),
        Claim("local connectivity and weight sharing reduce this by about 2000×", 2000,
              five.per_neuron_ratio, 0.05),
        Claim("1,000 dense neurons: 150 million parameters", 150e6, five.fully_connected.params,
              0.01),
        Claim("… 600 MB of float32", 600, five.fully_connected.megabytes, 0.01),
        Claim("3 × 3 neuron: 27 weights, a 5,575× reduction", 5575, three.per_neuron_ratio,
              0.0005),
        Claim("no sharing: 27 × 224 × 224 = 1,354,752 weights per filter", 1_354_752,
              three.convolution.weights_per_neuron * 224 * 224, 0),
        Claim("64 filters of 3 × 3 × 3: 1,792 parameters", 1792, three.convolution.params, 0),
        Claim("the dense layer with 64 neurons: 9,633,856 parameters", 9_633_856,
              three.fully_connected.params, 0),
        Claim("reduction: 5,375×", 5375, three.layer_ratio, 0.0001),
    ]
