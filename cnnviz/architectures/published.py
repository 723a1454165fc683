"""What papers and the chapter say about each architecture, with where each number comes from.

Nothing here is measured: the architecture comparison measures the models and puts these
published numbers beside them. Years are the year of first public release (arXiv or the
proceedings), the convention the chapter follows.
"""

from dataclasses import dataclass, field

LECUN_1998 = ("LeCun, Bottou, Bengio & Haffner (1998), Gradient-Based Learning Applied to "
              "Document Recognition, Proc. IEEE 86(11)")
KRIZHEVSKY_2012 = ("Krizhevsky, Sutskever & Hinton (2012), ImageNet Classification with Deep "
                   "Convolutional Neural Networks, NIPS")
SIMONYAN_2014 = ("Simonyan & Zisserman (2014), Very Deep Convolutional Networks for "
                 "Large-Scale Image Recognition, arXiv:1409.1556 (ICLR 2015)")
SZEGEDY_2014 = ("Szegedy et al. (2014), Going Deeper with Convolutions, arXiv:1409.4842 "
                "(CVPR 2015)")
HE_2015 = ("He, Zhang, Ren & Sun (2015), Deep Residual Learning for Image Recognition, "
           "arXiv:1512.03385 (CVPR 2016)")
SANDLER_2018 = ("Sandler et al. (2018), MobileNetV2: Inverted Residuals and Linear "
                "Bottlenecks, CVPR")
HOWARD_2019 = "Howard et al. (2019), Searching for MobileNetV3, ICCV"
TAN_2019 = ("Tan & Le (2019), EfficientNet: Rethinking Model Scaling for Convolutional Neural "
            "Networks, ICML")
LITE_2020 = ("TensorFlow TPU repository (2020), models/official/efficientnet/lite/README.md "
             "(github.com/tensorflow/tpu)")
LIU_2022 = "Liu et al. (2022), A ConvNet for the 2020s, CVPR"
TORCHVISION = "torchvision weight metadata (torchvision.models.get_weight(...).meta)"


@dataclass(frozen=True)
class Published:
    label: str
    year: int
    paper: str
    innovation: str
    variant: str = ""  # how the model measured here differs from the paper's, if it does
    paper_result: str = ""  # the paper's own single-model number, with its protocol
    # the competition entry (an ensemble, scored on the test set), as (top-5 error %, what)
    competition: tuple[float, str] | None = None
    accuracy: dict = field(default_factory=dict)  # for models without torchvision metadata


PUBLISHED: dict[str, Published] = {
    "lenet5": Published(
        "LeNet-5", 1998, LECUN_1998,
        "Convolution and subsampling layers trained end to end by back-propagation",
        variant="cnnviz's own LeNet-5 (cnnviz/models/lenet5.py), built as the paper describes it: "
                "C3's partial connection table, trainable subsampling, fixed RBF output; "
                "60,000 parameters where the common PyTorch version has 61,706.",
        paper_result="0.95 % test error on MNIST (top-1, 10 classes); 0.8 % when trained "
                     "with distorted images",
        accuracy={"dataset": "MNIST test set", "top1": None, "top5": None, "source": LECUN_1998},
    ),
    "alexnet": Published(
        "AlexNet", 2012, KRIZHEVSKY_2012,
        "ReLU, dropout, data augmentation and training on two GPUs",
        variant="torchvision builds the single-GPU network of Krizhevsky's 'One weird trick' "
                "paper (arXiv:1404.5997, 2014): 64-192-384-256-256 filters and no local "
                "response normalisation, where the 2012 network had 96-256-384-384-256 filters "
                "split over two GPUs.",
        paper_result="18.2 % top-5 error, one CNN, ILSVRC-2012 validation set (Table 2)",
        competition=(15.3, "ILSVRC-2012 winner: 7 CNNs averaged, two of them pre-trained on "
                           "ImageNet Fall 2011 (Table 2)"),
    ),
    "vgg16": Published(
        "VGG-16", 2014, SIMONYAN_2014,
        "Only 3×3 convolutions, stacked 16 weight layers deep",
        variant="torchvision's VGG-16 is configuration D of the paper, plus an adaptive 7×7 "
                "average pooling so that other input sizes work.",
        competition=(7.3, "ILSVRC-2014 submission (2nd in classification): 7 networks "
                          "(Table 7)"),
    ),
    "googlenet": Published(
        "GoogLeNet", 2014, SZEGEDY_2014,
        "Inception module: 1×1, 3×3, 5×5 convolutions and pooling in parallel, with 1×1 "
        "bottlenecks",
        variant="torchvision's GoogLeNet adds batch normalisation after every convolution, "
                "uses a 3×3 kernel where each Inception module's '5×5' branch has 5×5 (a known "
                "bug kept for its weights: pytorch/vision issue 906), and drops the two "
                "auxiliary classifiers, which only help training.",
        paper_result="10.07 % top-5 error, one model, one crop, ILSVRC-2014 validation set "
                     "(Table 3)",
        competition=(6.67, "ILSVRC-2014 winner: 7 models × 144 crops each (Tables 2 and 3)"),
    ),
    "resnet18": Published(
        "ResNet-18", 2015, HE_2015,
        "Residual (skip) connections, with basic two-layer blocks",
        paper_result="27.88 % top-1 error, 10 crops, ImageNet validation set (Table 2)",
    ),
    "resnet50": Published(
        "ResNet-50", 2015, HE_2015,
        "Residual (skip) connections make very deep networks trainable; bottleneck blocks",
        variant="torchvision's ResNet-50 is 'ResNet v1.5': a downsampling bottleneck strides "
                "in its 3×3 convolution instead of its first 1×1, which is slightly more "
                "accurate and costs more MACs.",
        paper_result="6.71 % top-5 error (22.85 % top-1), one ResNet-50, 10 crops, ImageNet "
                     "validation set (Table 3)",
        competition=(3.57, "ILSVRC-2015 winner: an ensemble of 6 ResNets of different depths "
                           "(only two of them 152 layers deep), test set (Table 5)"),
    ),
    "mobilenet_v2": Published(
        "MobileNetV2", 2018, SANDLER_2018,
        "Inverted residuals with linear bottlenecks, built on depthwise-separable convolutions",
        paper_result="72.0 % top-1, ImageNet (Table 4)",
    ),
    "mobilenet_v3_large": Published(
        "MobileNetV3-Large", 2019, HOWARD_2019,
        "Architecture search for phone CPUs, squeeze-and-excitation, hard-swish",
        paper_result="75.2 % top-1, ImageNet (Table 3)",
    ),
    "efficientnet_b0": Published(
        "EfficientNet-B0", 2019, TAN_2019,
        "A searched MBConv network, scaled in depth, width and resolution together",
        paper_result="77.1 % top-1, 93.3 % top-5 (6.7 % top-5 error), 5.3 M parameters, "
                     "0.39 B FLOPs in the paper's sense of multiply-adds (Table 2)",
    ),
    "efficientnet_lite0": Published(
        "EfficientNet-Lite0", 2020, LITE_2020,
        "EfficientNet-B0 without squeeze-and-excitation and with ReLU6: fit for mobile "
        "accelerators and int8",
        variant="cnnviz's own EfficientNet-Lite0 (cnnviz/models/efficientnet_lite.py), with "
                "TensorFlow's SAME padding so that the ported TensorFlow weights keep their "
                "accuracy; no torchvision weight metadata.",
        paper_result="75.1 % top-1 in float32, 4.7 M parameters, 407 M multiply-adds; no top-5 "
                     "published",
        accuracy={"dataset": "ImageNet-1K, TensorFlow's own evaluation", "top1": 75.1,
                  "top5": None, "source": LITE_2020 + ": the model card of the float32 model",
                  "recipe": "TensorFlow's, as its model card reports (not torchvision's)"},
    ),
    "convnext_tiny": Published(
        "ConvNeXt-T", 2022, LIU_2022,
        "A ResNet modernised with Transformer-era choices: 7×7 depthwise convolutions, "
        "LayerNorm, GELU, inverted bottlenecks",
        paper_result="82.1 % top-1, ImageNet-1K, 224×224 (Table 1)",
    ),
}
DEFAULT_MODELS: tuple[str, ...] = tuple(PUBLISHED)

# Year and paper of every other torchvision classification family, by name prefix (longest
# prefix wins), so any model a user adds can be placed on the timeline.
FAMILIES: dict[str, tuple[int, str]] = {
    "alexnet": (2012, KRIZHEVSKY_2012),
    "convnext": (2022, LIU_2022),
    "densenet": (2016, "Huang et al. (2016), Densely Connected Convolutional Networks"),
    "efficientnet_b": (2019, TAN_2019),
    "efficientnet_v2": (2021, "Tan & Le (2021), EfficientNetV2: Smaller Models and Faster "
                              "Training"),
    "googlenet": (2014, SZEGEDY_2014),
    "inception_v3": (2015, "Szegedy et al. (2015), Rethinking the Inception Architecture for "
                           "Computer Vision"),
    "maxvit": (2022, "Tu et al. (2022), MaxViT: Multi-Axis Vision Transformer"),
    "mnasnet": (2018, "Tan et al. (2018), MnasNet: Platform-Aware Neural Architecture Search "
                      "for Mobile"),
    "mobilenet_v2": (2018, SANDLER_2018),
    "mobilenet_v3": (2019, HOWARD_2019),
    "regnet": (2020, "Radosavovic et al. (2020), Designing Network Design Spaces"),
    "resnet": (2015, HE_2015),
    "resnext": (2016, "Xie et al. (2016), Aggregated Residual Transformations for Deep Neural "
                      "Networks"),
    "shufflenet_v2": (2018, "Ma et al. (2018), ShuffleNet V2: Practical Guidelines for "
                            "Efficient CNN Architecture Design"),
    "squeezenet": (2016, "Iandola et al. (2016), SqueezeNet: AlexNet-level accuracy with 50x "
                         "fewer parameters"),
    "swin_v2": (2021, "Liu et al. (2021), Swin Transformer V2: Scaling Up Capacity and "
                      "Resolution"),
    "swin": (2021, "Liu et al. (2021), Swin Transformer: Hierarchical Vision Transformer using "
                   "Shifted Windows"),
    "vgg": (2014, SIMONYAN_2014),
    "vit": (2020, "Dosovitskiy et al. (2020), An Image is Worth 16x16 Words: Transformers for "
                  "Image Recognition at Scale"),
    "wide_resnet": (2016, "Zagoruyko & Komodakis (2016), Wide Residual Networks"),
}


def family(name: str) -> tuple[int, str] | None:
    """(year, paper) of the torchvision family ``name`` belongs to, or None."""
    prefixes = [p for p in FAMILIES if name.startswith(p)]
    return FAMILIES[max(prefixes, key=len)] if prefixes else None


# The chapter's "Architecture Timeline" table, cell by cell as printed.
CHAPTER: dict[str, dict[str, str]] = {
    "lenet5": {"Year": "1998", "Depth": "5", "Params": "60K", "Top-5 Error": "~1% (MNIST)"},
    "alexnet": {"Year": "2012", "Depth": "8", "Params": "61M", "Top-5 Error": "15.3%"},
    "vgg16": {"Year": "2014", "Depth": "16", "Params": "138M", "Top-5 Error": "7.3%"},
    "googlenet": {"Year": "2014", "Depth": "22", "Params": "6.8M", "Top-5 Error": "6.7%"},
    "resnet50": {"Year": "2015", "Depth": "50", "Params": "25.6M", "Top-5 Error": "3.57%"},
    "efficientnet_b0": {"Year": "2019", "Depth": "~18", "Params": "5.3M",
                        "Top-5 Error": "~5.3%"},
}


@dataclass(frozen=True)
class Note:
    """Why a chapter cell differs from what was measured or published, and the source."""
    verdict: str  # what kind of discrepancy: see VERDICTS
    why: str
    source: str
    found: str = ""  # the number the source gives; measured columns show the measurement


VERDICTS = {
    "agrees": "agrees with the model and its paper",
    "ensemble": "a competition ensemble on the test set, not the single model of the row",
    "wrong": "does not match the primary source",
    "different measure": "measures something else than the column says",
    "different count": "counts differently from the measured definition",
    "different variant": "describes the paper's network, not torchvision's",
}

# The explanation of every chapter cell that does not simply agree. Measured columns (depth,
# parameters) are compared automatically; a discrepancy found there without a note here is
# an error (the tests check it). The top-5 column cannot be measured, so every cell has one.
CHAPTER_NOTES: dict[tuple[str, str], Note] = {
    ("lenet5", "Depth"): Note(
        "wrong",
        "The paper gives LeNet-5 seven layers, \"not counting the input, all of which "
        "contain trainable parameters (weights)\": C1, S2, C3, S4, C5, F6 and the output. "
        "The 5 in the name is a version, not a depth. By this page's rule the depth "
        "is 6: the subsampling layers S2 and S4 have trained weights (a coefficient and a bias "
        "per map) and count, while the output layer's RBF centres are fixed by hand, not "
        "trained, so it does not.",
        LECUN_1998 + ", section II-B",
        found="7 (the paper)"),
    ("lenet5", "Top-5 Error"): Note(
        "different measure",
        "LeNet-5 was never run on ImageNet: about 1 % is its error on the 10 MNIST digit "
        "classes (top-1), not a top-5 error over 1,000 classes, so it does not belong in the "
        "same column.", LECUN_1998,
        found="0.95 % top-1 error on MNIST"),
    ("alexnet", "Top-5 Error"): Note(
        "ensemble",
        "15.3 % is the winning ILSVRC-2012 entry: seven CNNs averaged, scored on the test "
        "set. One AlexNet scores 18.2 % in the paper.", KRIZHEVSKY_2012 + ", Table 2",
        found="18.2 % (one CNN, validation); 15.3 % (7 CNNs, test)"),
    ("vgg16", "Top-5 Error"): Note(
        "ensemble",
        "7.3 % is the ILSVRC-2014 submission, an ensemble of seven networks scored on the "
        "test set, not one VGG-16.", SIMONYAN_2014 + ", Table 7",
        found="7.3 % (7 networks, test)"),
    ("googlenet", "Params"): Note(
        "different variant",
        "The paper's Table 1 lists per-layer weights that add up to about 6.8 M. torchvision's "
        "GoogLeNet has fewer: its '5×5' branches use 3×3 kernels (pytorch/vision issue 906), "
        "and it has no auxiliary classifiers (it does add batch normalisation).",
        SZEGEDY_2014 + ", Table 1; torchvision.models.googlenet"),
    ("googlenet", "Top-5 Error"): Note(
        "ensemble",
        "6.67 % is the winning ILSVRC-2014 entry: seven models, each on 144 crops of every "
        "image, scored on the test set. One GoogLeNet on one crop scores 10.07 % in the paper.",
        SZEGEDY_2014 + ", Tables 2 and 3",
        found="10.07 % (1 model, 1 crop, validation); 6.67 % (7 models × 144 crops, test)"),
    ("resnet50", "Top-5 Error"): Note(
        "ensemble",
        "3.57 % is the winning ILSVRC-2015 entry, an ensemble of six ResNets of different "
        "depths (two of them 152 layers), scored on the test set. It is not a ResNet-50 "
        "result: one ResNet-50 scores 6.71 % top-5 error with 10 crops in the same paper.",
        HE_2015 + ", Tables 3 and 5",
        found="6.71 % (one ResNet-50, 10 crops, validation); 3.57 % (6-net ensemble, test)"),
    ("efficientnet_b0", "Depth"): Note(
        "different count",
        "About 18 is the sum of the '#Layers' column of the paper's Table 1: the stem, 16 "
        "MBConv blocks and the head, each block counted as one layer. Every MBConv block "
        "chains four or five layers with weights (expansion where the block expands, "
        "depthwise, two squeeze-and-excitation, projection), so the longest chain of weight "
        "layers is much longer.",
        TAN_2019 + ", Table 1"),
    ("efficientnet_b0", "Top-5 Error"): Note(
        "wrong",
        "The paper reports 93.3 % top-5 accuracy for EfficientNet-B0, a 6.7 % top-5 error. "
        "5.3 is its parameter count in millions, one column to the left.",
        TAN_2019 + ", Table 2",
        found="6.7 % (93.3 % top-5 accuracy)"),
}
