"""The lesson path on the home page: the chapter's order (why convolution, convolution,
padding and stride, pooling, feature maps, what layers learn, architectures, Grad-CAM,
practice), each step a page opened on its example, and a picture of every page drawn from what that page shows, made once per process.
"""

from dataclasses import dataclass, field

import numpy as np
import streamlit as st
from PIL import Image

from cnnviz import activations, architectures, arithmetic, cam, images, insight, models, train
from cnnviz.arithmetic import sliding
from cnnviz.arithmetic.presets import PRESETS
from cnnviz.arithmetic.stacks import footprint, trace
from cnnviz.figures import colours, thumbnails
from cnnviz.figures.grids import step_animation
from cnnviz.figures.stacks import footprint_animation
from cnnviz.figures.stride_diagram import stride_animation
from cnnviz.insight import hierarchy
from cnnviz.ops import examples, steps
from cnnviz.train.depth import degradation, verdict
from cnnviz.train.transfer import texture_demo

PHOTO = "Cat (Chelsea)"


@dataclass(frozen=True)
class Lesson:
    page: str  # the page's file, as in cnnviz.ui.navigation
    title: str
    what: str  # one line: what the student does there
    picture: str  # the name of its picture in PICTURES
    query: dict = field(default_factory=dict)  # opens the page on this lesson's example


LESSON_PATH = (
    Lesson("views/why_convolution.py", "Why convolution", "150,528 weights per neuron, or 75: "
           "the parameter problem, and shifts measured on a real network.", "why_convolution"),
    Lesson("views/convolution.py", "Convolution by hand", "Slide a kernel over the chapter's worked "
           "example and write out every sum.", "convolution"),
    Lesson("views/padding_and_stride.py", "Padding & stride", "Where the kernel lands, and "
           "⌊(W − F + 2P) / S⌋ + 1 worked on a grid.", "padding"),
    Lesson("views/convolution.py", "Pooling", "Max and average pooling, step by step, on the "
           "chapter's example.", "pooling", {"source": "pooling example", "mode": "pooling"}),
    Lesson("views/feature_maps.py", "Feature maps", "Every layer's channels on a photo: edges, "
           "textures, parts, objects.", "feature_maps"),
    Lesson("views/what_layers_learn.py", "What layers learn", "Images made to excite one "
           "channel, stage by stage, and the photo patches that excite it.", "what_layers_learn"),
    Lesson("views/architectures.py", "Architectures", "LeNet-5 to ConvNeXt, measured: size, "
           "compute, depth, latency.", "architectures"),
    Lesson("views/grad_cam.py", "Grad-CAM", "Where in the photo the network finds its answer, "
           "or a wrong one.", "grad_cam"),
    Lesson("views/practice.py", "Practice", "Exam questions with fresh numbers, checked and "
           "worked out.", "practice"),
)
MORE = (
    Lesson("views/classify.py", "Classify a photo", "A pretrained network's five best guesses "
           "for a sample, an upload or a camera photo.", "classify"),
    Lesson("views/receptive_field.py", "Receptive field & layer stacks", "Trace shapes, "
           "parameters and how far one output sees, layer by layer.", "receptive_field"),
    Lesson("views/train_cnn.py", "Train a CNN", "The chapter's network from scratch and its "
           "PyTorch twin, trained live on real handwritten digits.", "train_cnn"),
    Lesson("views/why_resnets.py", "Why ResNets work", "Plain and residual networks side by "
           "side: where gradients vanish, and degradation, measured apart.", "why_resnets"),
    Lesson("views/transfer_learning.py", "Transfer learning", "The chapter's soil lab: "
           "fine-tune a pretrained network on your own class folders.", "transfer"),
)


def _convolution() -> bytes:
    kernel = examples.KERNELS["vertical edge (chapter)"]
    return thumbnails.animation(step_animation(steps.conv_trace(examples.WORKED_INPUT, kernel)))


def _padding() -> bytes:
    grid = sliding.conv_layout(5, 3, 1, 2)
    return thumbnails.animation(stride_animation(grid, input_title="Input 5×5, padding 1",
                                                 output_title="Output 3×3"))


def _pooling() -> bytes:
    return thumbnails.animation(step_animation(steps.pool_trace(examples.POOLING_INPUT, 2)))


def _photo():
    return images.load_image(images.sample_images()[PHOTO])


def _why_convolution() -> bytes:
    problem = insight.parameter_problem(**insight.CHAPTER)
    dense, conv = problem.fully_connected.params, problem.convolution.params
    return thumbnails.question_card(
        "A 224 × 224 × 3 photo, 1,000 outputs: a dense layer against 5 × 5 filters?",
        f"{dense:,} against {conv:,} parameters")


def _what_layers_learn() -> bytes:
    """Four precomputed images of the default network, one from each of four stages."""
    rows = hierarchy.load()["stages"]
    picks = [rows[k]["channels"][1]["image"] for k in (1, 3, 5, 7) if k < len(rows)]
    tiles = [np.asarray(Image.fromarray(p).resize((112, 112))) for p in picks]
    mosaic = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])])
    return thumbnails.photo_card(mosaic, "stages 1 · 3 · 5 · 7")


def _feature_maps() -> bytes:
    bundle = models.load_model()
    layer = activations.stage_outputs(bundle)[1].name
    fmap = activations.to_float32(activations.capture(bundle, _photo(), layer)[layer])
    return thumbnails.channel_mosaic(fmap, activations.rank_channels(fmap, "max")[:8])


def _architectures() -> bytes:
    return thumbnails.accuracy_card(architectures.compare())


def _grad_cam() -> bytes:
    bundle = models.load_model()
    img = _photo()
    result = cam.grad_cam(bundle, img)
    view = activations.network_input(bundle, img)
    return thumbnails.photo_card(colours.cam_overlay(view, result.heatmap), result.category)


def _practice() -> bytes:
    work = arithmetic.size_work(32, 5, 2, 1)
    return thumbnails.question_card(
        "A 32 × 32 input, a 5 × 5 kernel, padding 2, stride 1: how big is the output?",
        f"⌊(32 − 5 + 2·2) / 1⌋ + 1 = {work.out}")


def _classify() -> bytes:
    bundle = models.load_model()
    img = _photo()
    _, category, probability = bundle.classify(img, k=1)[0]
    return thumbnails.photo_card(activations.network_input(bundle, img),
                                 f"{category} · {probability:.0%}")


def _receptive_field() -> bytes:
    preset = PRESETS["CIFAR-10 worked example"]
    result = trace(preset.input_shape, preset.layers)
    maps = [3, 6]  # the input, the first pool, the second pool
    positions = [(k, k) for k in range(8)]
    seen = [[part for k, part in enumerate(footprint(result, 6, *p)) if k in (0, *maps)]
            for p in positions]
    return thumbnails.animation(footprint_animation(result, maps, seen, positions,
                                                    [""] * len(positions)))


def _train_cnn() -> bytes:
    digits, labels = train.mnist_subset()
    first = [int(np.flatnonzero(labels == d)[0]) for d in range(8)]  # one of each of 0–7
    return thumbnails.channel_mosaic(digits[first].astype(np.float32), range(8))


def _why_resnets() -> bytes:
    """The shipped degradation runs' verdict on the plain pair, in the page's own words."""
    record = next(r for r in degradation.load()["settings"] if r["setting"]["batch_norm"])
    return thumbnails.question_card(*verdict.headline(record))


def _transfer() -> bytes:
    photos, _ = texture_demo.demo_split()
    per_class = [np.flatnonzero(photos.labels == c) for c in range(len(photos.classes))]
    picks = [int(per_class[i % len(per_class)][i // len(per_class)]) for i in range(4)]
    tiles = [np.asarray(photos.image(i).convert("RGB").resize((112, 112))) for i in picks]
    mosaic = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])])
    return thumbnails.photo_card(mosaic, " · ".join(photos.classes[:4]))


PICTURES = {"why_convolution": _why_convolution, "what_layers_learn": _what_layers_learn,
            "convolution": _convolution, "padding": _padding, "pooling": _pooling,
            "feature_maps": _feature_maps, "architectures": _architectures,
            "grad_cam": _grad_cam, "practice": _practice, "classify": _classify,
            "receptive_field": _receptive_field, "train_cnn": _train_cnn,
            "why_resnets": _why_resnets, "transfer": _transfer}


@st.cache_data(show_spinner=False)
def picture(name: str) -> bytes:
    """The picture of a lesson (PNG or GIF bytes), drawn once per process."""
    return PICTURES[name]()
