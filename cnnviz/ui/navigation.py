"""The app's pages in one list, so app.py, the home page and the tests never disagree about them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str  # file, relative to the repository root
    title: str
    icon: str  # a Streamlit material icon
    url_path: str  # what follows the server address in a link ("" for the home page)
    summary: str  # one line for the home page


SECTIONS: dict[str, list[PageSpec]] = {
    "Start": [
        PageSpec("views/home.py", "Home", ":material/home:", "",
                 "What cnnviz is and where its models run."),
    ],
    "Convolution": [
        PageSpec("views/why_convolution.py", "Why convolution", ":material/compress:",
                 "why-convolution", "The parameter problem counted, and shifts measured: "
                 "equivariance and invariance on a real network."),
        PageSpec("views/convolution.py", "Convolution by hand", ":material/grid_on:",
                 "convolution", "Watch the sliding dot product fill the output, cell by cell."),
        PageSpec("views/padding_and_stride.py", "Padding & stride", ":material/padding:",
                 "padding-stride", "Where the kernel lands and how big the output is."),
    ],
    "Networks": [
        PageSpec("views/classify.py", "Classify a photo", ":material/image_search:", "classify",
                 "A pretrained network's top-5 answers for a sample, uploaded or camera photo."),
        PageSpec("views/feature_maps.py", "Feature maps", ":material/layers:", "feature-maps",
                 "Every layer's channels on your photo: edges, textures, parts, objects."),
        PageSpec("views/what_layers_learn.py", "What layers learn", ":material/visibility:",
                 "what-layers-learn", "Images made to excite a channel, the photo patches "
                 "that do, and learned kernels beside classic filters."),
        PageSpec("views/grad_cam.py", "Grad-CAM", ":material/center_focus_strong:", "grad-cam",
                 "Upload a photo and see where the network finds its answer, or a wrong one."),
        PageSpec("views/architectures.py", "Architectures", ":material/account_tree:",
                 "architectures", "LeNet-5 to ConvNeXt, measured: size, compute, depth, latency."),
        PageSpec("views/receptive_field.py", "Receptive field & layer stacks",
                 ":material/stacks:", "receptive-field",
                 "Trace shapes, parameters and receptive fields through a network."),
    ],
    "Training": [
        PageSpec("views/train_cnn.py", "Train a CNN", ":material/model_training:", "train-cnn",
                 "Train the chapter's network on real digits and watch the loss fall."),
        PageSpec("views/why_resnets.py", "Why ResNets work", ":material/trending_down:",
                 "why-resnets", "Plain and residual networks side by side: gradient flow and "
                 "degradation, measured."),
        PageSpec("views/transfer_learning.py", "Transfer learning", ":material/transform:",
                 "transfer-learning",
                 "Fine-tune a pretrained network on your own photos: the chapter's soil lab."),
    ],
    "Practice": [
        PageSpec("views/practice.py", "Practice", ":material/quiz:", "practice",
                 "Exam questions with fresh numbers, checked and worked out."),
    ],
}


def all_pages() -> list[PageSpec]:
    return [page for pages in SECTIONS.values() for page in pages]
