"""Why convolution, and what each layer learns, measured on real networks: the parameter
problem, equivariance and shift invariance, feature visualisation by optimisation with its
dataset examples, and the first layer's kernels beside the classic filters of image
processing."""

from cnnviz.insight.examples import Example, photos_at_hand, top_examples
from cnnviz.insight.feature_vis import Settings, Visualisation, feature_visualization, optimise
from cnnviz.insight.filters import (
    GaborMatch,
    best_gabor,
    chance_correlation,
    classic_kernels,
    filter_photo,
    match_first_layer,
)
from cnnviz.insight.parameters import CHAPTER, Claim, ParameterProblem, chapter_claims, \
    parameter_problem
from cnnviz.insight.receptive import receptive_fields
from cnnviz.insight.shifts import (
    ZHANG_RESNET50,
    Consistency,
    StageShift,
    consistency,
    diagonal_predictions,
    stage_shifts,
)

__all__ = [
    "CHAPTER", "ZHANG_RESNET50", "Claim", "Consistency", "Example", "GaborMatch",
    "ParameterProblem", "Settings", "StageShift", "Visualisation", "best_gabor",
    "chance_correlation", "chapter_claims", "classic_kernels", "consistency",
    "diagonal_predictions", "feature_visualization", "filter_photo", "match_first_layer",
    "optimise", "parameter_problem", "photos_at_hand", "receptive_fields", "stage_shifts", "top_examples",
]
