"""Results worth keeping across reruns and sessions, cached by Streamlit under the core's own
keys: a model by ``activations.model_key`` (its weights, device, preprocessing and identity),
a photo by ``activations.image_key`` (its pixels). The bundle and the image themselves are
passed unhashed (leading underscore), so Streamlit never hashes a model or a photo."""

import streamlit as st

from cnnviz import activations, architectures, cam
from cnnviz.cam import sanity, uncertainty


def _keys(bundle, img) -> tuple:
    return activations.model_key(bundle), activations.image_key(img)


@st.cache_data(max_entries=256, show_spinner=False)
def _class_map(_bundle, _img, model_key, image_key, layer, method, target):
    return cam.grad_cam(_bundle, _img, target=target, layer=layer, method=method)


def class_map(bundle, img, layer: str, method: str, target: int) -> cam.CamResult:
    return _class_map(bundle, img, *_keys(bundle, img), layer, method, target)


@st.cache_data(max_entries=64, show_spinner=False)
def _top_classes(_bundle, _img, model_key, image_key, k):
    return _bundle.classify(_img, k=k)


def top_classes(bundle, img, k: int = 5) -> list[tuple[int, str, float]]:
    return _top_classes(bundle, img, *_keys(bundle, img), k)


@st.cache_data(max_entries=16, show_spinner="Randomising the weights, layer by layer…")
def _randomisation(_bundle, _img, model_key, image_key, layer, method, target, checkpoints):
    return sanity.cascading_randomisation(_bundle, _img, target, layer, method,
                                          checkpoints=checkpoints)


def randomisation(bundle, img, layer: str, method: str, target: int, checkpoints: tuple):
    return _randomisation(bundle, img, *_keys(bundle, img), layer, method, target, checkpoints)


@st.cache_data(max_entries=16, show_spinner="Sampling dropout passes…")
def _dropout_spread(_bundle, _img, model_key, image_key, passes):
    return uncertainty.mc_dropout(_bundle, _img, passes=passes, k=5)


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
