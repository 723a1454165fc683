"""Layer stacks to start from: the networks the chapter traces, counts or debugs."""

from dataclasses import dataclass

from cnnviz.arithmetic.stacks import LayerSpec


@dataclass(frozen=True)
class Preset:
    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[LayerSpec, ...]
    note: str  # where the stack comes from and what to look at


def _vgg16_features() -> list[LayerSpec]:
    """VGG-16's configuration D (Simonyan & Zisserman, 2015, Table 1): 3×3 convolutions with
    padding 1, a 2×2 max pool after each of the five groups."""
    layers = []
    for width, repeats in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(repeats):
            layers += [LayerSpec("conv", width, 3, p=1), LayerSpec("relu")]
        layers.append(LayerSpec("maxpool", f=2))
    return layers


def _classifier(*widths: int, dropout: float) -> list[LayerSpec]:
    layers = [LayerSpec("flatten")]
    for width in widths[:-1]:
        layers += [LayerSpec("linear", width), LayerSpec("relu"),
                   LayerSpec("dropout", rate=dropout)]
    return layers + [LayerSpec("linear", widths[-1])]


PRESETS = {preset.name: preset for preset in (
    Preset(
        "CIFAR-10 worked example", (3, 32, 32),
        (LayerSpec("conv", 64, 3, p=1), LayerSpec("relu"), LayerSpec("maxpool", f=2),
         LayerSpec("conv", 128, 3, p=1), LayerSpec("relu"), LayerSpec("maxpool", f=2),
         LayerSpec("flatten"), LayerSpec("linear", 10)),
        "The chapter's Example 1: 1,792 + 73,856 + 81,930 = 157,578 parameters."),
    Preset(
        "MNIST ConvNet", (1, 28, 28),
        (LayerSpec("conv", 32, 3, p=1), LayerSpec("batchnorm"), LayerSpec("relu"),
         LayerSpec("maxpool", f=2),
         LayerSpec("conv", 64, 3, p=1), LayerSpec("batchnorm"), LayerSpec("relu"),
         LayerSpec("maxpool", f=2),
         LayerSpec("conv", 128, 3), LayerSpec("batchnorm"), LayerSpec("relu"),
         LayerSpec("maxpool", f=2),
         LayerSpec("flatten"), LayerSpec("linear", 128, n_in=512), LayerSpec("relu"),
         LayerSpec("dropout", rate=0.3), LayerSpec("linear", 10)),
        "The chapter's PyTorch MNISTConvNet. Its comment says block 3 gives 3×3×128, but the "
        "unpadded 3×3 convolution makes 7 → 5, and the pool ⌊5/2⌋ = 2: 2×2×128 = 512 inputs "
        "for the first linear layer, as the code declares."),
    Preset(
        "BrokenCNN", (1, 28, 28),
        (LayerSpec("conv", 16, 5, n_in=1), LayerSpec("relu"), LayerSpec("maxpool", f=2),
         LayerSpec("conv", 32, 5, n_in=16), LayerSpec("relu"), LayerSpec("maxpool", f=2),
         LayerSpec("flatten"), LayerSpec("linear", 10, n_in=32 * 5 * 5)),
        "The chapter's debugging exercise: the student declared nn.Linear(32 * 5 * 5, 10). "
        "Trace the shapes to find what the linear layer really receives."),
    Preset(
        "LeNet-5 (1998 layout)", (1, 32, 32),
        (LayerSpec("conv", 6, 5), LayerSpec("tanh"), LayerSpec("avgpool", f=2),
         LayerSpec("conv", 16, 5), LayerSpec("tanh"), LayerSpec("avgpool", f=2),
         LayerSpec("conv", 120, 5), LayerSpec("tanh"), LayerSpec("flatten"),
         LayerSpec("linear", 84), LayerSpec("tanh"), LayerSpec("linear", 10)),
        "LeCun et al. (1998): C1-S2-C3-S4-C5-F6-output on a 32×32 image. The paper counts "
        "60,000 trainable parameters because C3 connects each of its 16 maps to only some of "
        "S2's 6 maps (1,516 parameters instead of 2,416), S2 and S4 learn a coefficient and a "
        "bias per map (12 + 32), and the 84 → 10 output units are fixed RBF centres. This "
        "stack uses the full connections, plain average pooling and a linear output that "
        "PyTorch code usually writes, hence 61,706."),
    Preset(
        "VGG-16", (3, 224, 224),
        (*_vgg16_features(), *_classifier(4096, 4096, 1000, dropout=0.5)),
        "Simonyan & Zisserman (2015), configuration D, as torchvision builds it: 138,357,544 "
        "parameters, 102,764,544 of them in the first linear layer (7×7×512 → 4096). "
        "torchvision's adaptive average pool to 7×7 does nothing at 224×224 and is left out."),
    Preset(
        "ResNet-50 stem", (3, 224, 224),
        (LayerSpec("conv", 64, 7, s=2, p=3, bias=False), LayerSpec("batchnorm"), LayerSpec("relu"),
         LayerSpec("maxpool", f=3, s=2, p=1)),
        "He et al. (2015): a 7×7 stride-2 convolution and a 3×3 stride-2 max pool take "
        "224×224 down to 56×56 before the first residual stage (the chapter's exercise B3)."),
    Preset(
        "ResNet bottleneck block", (256, 56, 56),
        (LayerSpec("conv", 64, 1, bias=False), LayerSpec("batchnorm"), LayerSpec("relu"),
         LayerSpec("conv", 64, 3, p=1, bias=False), LayerSpec("batchnorm"), LayerSpec("relu"),
         LayerSpec("conv", 256, 1, bias=False), LayerSpec("batchnorm"), LayerSpec("relu")),
        "The second and third blocks of ResNet-50's conv2_x stage (torchvision's "
        "layer1[1] and layer1[2]): 1×1 reduce to 64, 3×3, 1×1 expand to 256. Their identity "
        "shortcut adds the input x before the last ReLU; it has no parameters, and a "
        "Sequential cannot express the addition. The stage's first block, layer1[0], differs: "
        "it takes the stem's 64 channels, and its shortcut is a 1×1 projection to 256."),
)}
