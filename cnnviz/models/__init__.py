"""The model zoo: which models exist, how each is built, where its weights come from, which
device runs it, and the shared, frozen bundles every page uses."""

from cnnviz.models.devices import device_choices, device_description, select_device
from cnnviz.models.registry import (
    DEFAULT_MODEL,
    TORCHVISION_MODELS,
    ModelError,
    UnknownModelError,
    WeightsUnavailableError,
    available_models,
    build,
)
from cnnviz.models.weights import (
    cached_models,
    cached_weights_path,
    ensure_cached,
    pretrained_on_disk,
    weights_mirror,
)
from cnnviz.models.zoo import (
    IMAGENET_CATEGORIES,
    UNTRAINED_SEED,
    ModelBundle,
    lite0_preprocess,
    load_model,
    remembered_failure,
)

__all__ = [
    "DEFAULT_MODEL", "IMAGENET_CATEGORIES", "TORCHVISION_MODELS", "UNTRAINED_SEED",
    "ModelBundle", "ModelError", "UnknownModelError", "WeightsUnavailableError",
    "available_models", "build", "cached_models", "cached_weights_path", "device_choices",
    "device_description", "ensure_cached", "lite0_preprocess", "load_model",
    "pretrained_on_disk", "remembered_failure", "select_device", "weights_mirror",
]
