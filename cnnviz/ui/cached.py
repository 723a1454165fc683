"""Results worth keeping across reruns and sessions, cached by Streamlit under the core's own
keys: a model by ``activations.model_key`` (its weights, device, preprocessing and identity),
a photo by ``activations.image_key`` (its pixels). The bundle and the image themselves are
passed unhashed (leading underscore), so Streamlit never hashes a model or a photo.

Model work runs on the app's ``ModelWorkers`` (``cnnviz.models.workers``), not on the
session's own thread: a class computing at once takes turns on as many workers as there are
cores, what a student waits for (``FIRST``) ahead of what fills in below it (``LATER``).
"""

import streamlit as st

from cnnviz import activations, architectures, cam
from cnnviz.cam import sanity, uncertainty
from cnnviz.models.workers import ModelWorkers
from cnnviz.train.transfer import report as transfer_report

# The app's workers, shared by every session; creating them gives torch one thread per worker
# for the whole server, before any page runs a model.
WORKERS = ModelWorkers()
FIRST, LATER = 0, 1  # priorities on the workers


def _keys(bundle, img) -> tuple:
    return activations.model_key(bundle), activations.image_key(img)


@st.cache_data(max_entries=64, show_spinner=False)  # a depth strip's maps: about 1.3 MB
def _class_maps(_bundle, _img, model_key, image_key, layers, method, targets, _priority):
    return WORKERS.run(cam.grad_cams, _bundle, _img, targets, layers, method,
                       priority=_priority)


def class_maps(bundle, img, layers: tuple[str, ...], method: str, targets: tuple[int, ...],
               *, priority: int = FIRST) -> dict[tuple[int, str], cam.CamResult]:
    """Every (class, layer) map of a photo, from one forward pass (``cam.grad_cams``)."""
    return _class_maps(bundle, img, *_keys(bundle, img), tuple(layers), method, tuple(targets),
                       priority)


def class_map(bundle, img, layer: str, method: str, target: int, *,
              priority: int = FIRST) -> cam.CamResult:
    return class_maps(bundle, img, (layer,), method, (target,), priority=priority)[target, layer]


@st.cache_data(max_entries=64, show_spinner=False)
def _top_classes(_bundle, _img, model_key, image_key, k):
    return WORKERS.run(_bundle.classify, _img, k=k)


def top_classes(bundle, img, k: int = 5) -> list[tuple[int, str, float]]:
    return _top_classes(bundle, img, *_keys(bundle, img), k)


def feature_maps(bundle, img, layers) -> dict:
    """``activations.capture`` on the workers (it keeps its own cache, shared by every
    session, in the core)."""
    return WORKERS.run(activations.capture, bundle, img, layers)


@st.cache_data(max_entries=2, show_spinner="Computing Grad-CAM maps…")
def _transfer_gallery(_bundle, _photos, _evaluation, model_key):
    return WORKERS.run(transfer_report.cam_gallery, _bundle, _photos, _evaluation,
                       priority=LATER)


def transfer_gallery(bundle, photos, evaluation) -> dict:
    """``transfer_report.cam_gallery`` of a fine-tuned network, whose key (with its serial
    number) is its own: its photos and evaluation come with it from the same training."""
    return _transfer_gallery(bundle, photos, evaluation, activations.model_key(bundle))


@st.cache_data(max_entries=16, show_spinner="Randomising the weights, layer by layer…")
def _randomisation(_bundle, _img, model_key, image_key, layer, method, target, checkpoints):
    return WORKERS.run(sanity.cascading_randomisation, _bundle, _img, target, layer, method,
                       checkpoints=checkpoints, priority=LATER)


def randomisation(bundle, img, layer: str, method: str, target: int, checkpoints: tuple):
    return _randomisation(bundle, img, *_keys(bundle, img), layer, method, target, checkpoints)


@st.cache_data(max_entries=16, show_spinner="Sampling dropout passes…")
def _dropout_spread(_bundle, _img, model_key, image_key, passes):
    return WORKERS.run(uncertainty.mc_dropout, _bundle, _img, passes=passes, k=5,
                       priority=LATER)


def dropout_spread(bundle, img, passes: int):
    return _dropout_spread(bundle, img, *_keys(bundle, img), passes)


@st.cache_data(show_spinner=False)
def chapter_models() -> list[dict]:
    """The precomputed comparison of the chapter's models."""
    return architectures.compare()


@st.cache_data(show_spinner="Building the model and measuring one forward pass…",
               max_entries=16)
def measured(name: str) -> dict:
    """One more torchvision model, measured now."""
    return architectures.measure(name)
