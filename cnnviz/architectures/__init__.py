"""The chapter's architecture timeline, measured: parameters, multiply-accumulates, depth and
memory of each model from one instrumented forward pass, the published numbers with their
sources, the chapter's table checked cell by cell, each family's key building block, and a
budget filter for choosing a backbone."""

from cnnviz.architectures.choose import SORT_KEYS, fits, sort_records, within_budget
from cnnviz.architectures.profile import (
    ACTIVATION_RULE,
    DEPTH_RULE,
    MACS_RULE,
    LayerStats,
    Profile,
    profile,
)
from cnnviz.architectures.published import DEFAULT_MODELS, PUBLISHED, VERDICTS
from cnnviz.architectures.table import (
    ACCURACY_KEYS,
    NEW_RECIPE,
    TABLE_PATH,
    available,
    chapter_flags,
    compare,
    latencies,
    load_table,
    measure,
    rebuild,
    recipe,
)

__all__ = [
    "ACCURACY_KEYS", "ACTIVATION_RULE", "DEFAULT_MODELS", "DEPTH_RULE", "MACS_RULE",
    "NEW_RECIPE", "PUBLISHED", "SORT_KEYS", "TABLE_PATH", "VERDICTS", "LayerStats", "Profile", "available", "chapter_flags", "compare",
    "fits", "latencies", "load_table", "measure", "profile", "rebuild", "recipe", "sort_records",
    "within_budget",
]
