"""Where a network finds its answer: Grad-CAM and its variants as small weighting functions
over one shared computation, the model-randomisation sanity check, and MC-dropout
uncertainty."""

from cnnviz.cam.gradcam import (
    CamResult,
    check_layer,
    class_maps,
    default_layer,
    depth_layers,
    grad_cam,
    grad_cams,
    scale,
)
from cnnviz.cam.methods import METHODS, WEIGHTINGS, weighted_maps

__all__ = [
    "METHODS", "WEIGHTINGS", "CamResult", "check_layer", "class_maps", "default_layer",
    "depth_layers", "grad_cam", "grad_cams", "scale", "weighted_maps",
]
