"""Feature maps, the chapter's "what does each layer see": which layers of a model output a
map, a forward pass that taps them on a shared model, a byte-bounded cache shared by every
session, readable layer titles, and the statistics a page shows of a channel."""

from cnnviz.activations.cache import ActivationCache
from cnnviz.activations.capture import (
    CACHE,
    cache_key,
    capture,
    compact,
    image_key,
    model_key,
    photo_key,
    to_float32,
)
from cnnviz.activations.maps import (
    CHANNEL_ORDERS,
    channel_stats,
    first_filters,
    layer_places,
    layer_titles,
    network_input,
    normalisation,
    rank_channels,
    stage_ends,
    stage_outputs,
)
from cnnviz.activations.taps import (
    FeatureLayer,
    LayerError,
    forward_with_taps,
    layer_names,
    layers,
    this_thread_only,
)

__all__ = [
    "CACHE", "CHANNEL_ORDERS", "ActivationCache", "FeatureLayer", "LayerError", "cache_key",
    "capture", "channel_stats", "compact", "first_filters", "forward_with_taps", "image_key",
    "layer_names", "layer_places", "layer_titles", "layers", "model_key", "network_input",
    "normalisation", "photo_key", "rank_channels", "stage_ends", "stage_outputs", "this_thread_only", "to_float32",
]
