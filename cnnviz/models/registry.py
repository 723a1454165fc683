"""Which models exist and how each is built: one builder for every model the app knows, so
the model zoo (with weights) and the architecture comparison (random weights) construct them
the same way.

Two models are defined in cnnviz itself (EfficientNet-Lite0, whose offline weights are the
app's default, and LeNet-5 as the 1998 paper describes it); every other name is a torchvision
classifier, built by ``torchvision.models.get_model``.
"""

from typing import Callable

import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights, list_models

from cnnviz.models.efficientnet_lite import efficientnet_lite0
from cnnviz.models.lenet5 import LeNet5

DEFAULT_MODEL = "efficientnet_lite0"
# torchvision classifiers the pickers offer; any other name that torchvision knows works too.
TORCHVISION_MODELS = (
    "resnet18", "resnet50", "vgg16", "alexnet", "googlenet", "mobilenet_v2",
    "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
)
# Models cnnviz defines itself, with the (C, H, W) input they were trained on.
OWN_MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "efficientnet_lite0": (efficientnet_lite0, (3, 224, 224)),
    "lenet5": (LeNet5, LeNet5.input_shape),
}
# Built without weights, these builders default to extra heads their pretrained weights drop.
UNTRAINED_KWARGS = {"googlenet": dict(aux_logits=False, init_weights=True)}


class ModelError(Exception):
    """A model could not be provided; the message says why, for a person."""


class UnknownModelError(ModelError, ValueError):
    pass


class WeightsUnavailableError(ModelError):
    """Pretrained weights are neither on disk nor downloadable (no network, a blocked host)."""


def available_models() -> tuple[str, ...]:
    """The models the pickers offer: the offline default first."""
    return (DEFAULT_MODEL, *TORCHVISION_MODELS)


def torchvision_names() -> list[str]:
    return list_models(module=torchvision.models)


def default_weights(name: str):
    """torchvision's DEFAULT weight entry for ``name`` (its URL, transforms and metadata)."""
    try:
        return get_model_weights(name).DEFAULT
    except (ValueError, KeyError) as err:
        raise UnknownModelError(
            f"Unknown model {name!r}. Choose one of: {', '.join(available_models())}.") from err


def build(name: str, weights=None) -> tuple[nn.Module, tuple[int, int, int]]:
    """The model ``name`` and the (C, H, W) input it was trained on.

    ``weights`` is a torchvision weight entry, loaded by torchvision from its cache (see
    ``cnnviz.models.weights.ensure_cached``); without it the model has random weights and is
    shaped as its pretrained weights define it (e.g. GoogLeNet without the auxiliary heads).
    Our own models are always built with random weights here.
    """
    if name in OWN_MODELS:
        builder, shape = OWN_MODELS[name]
        return builder(), shape
    if name not in torchvision_names():
        raise UnknownModelError(f"Unknown model {name!r}. Choose one of: "
                                f"{', '.join(available_models())}, or another torchvision "
                                f"classifier.")
    meta = default_weights(name)
    size = meta.transforms().crop_size[0]
    if weights is not None:
        return get_model(name, weights=weights), (3, size, size)
    kwargs = dict(UNTRAINED_KWARGS.get(name, {}))
    if name.startswith("vit_"):  # a ViT's position embedding is sized for its weights' input
        kwargs["image_size"] = meta.meta["min_size"][0]
    return get_model(name, weights=None, **kwargs), (3, size, size)
