"""Which backbone for my device? The comparison's records sorted, and filtered by a budget of
parameters, multiply-accumulates and measured latency, most accurate first."""

# A column a user may sort by -> (record key, largest first when chosen).
SORT_KEYS = {
    "Year": ("year", False), "Parameters": ("params", True), "GMACs": ("macs", True),
    "Depth": ("depth", True), "Top-1 accuracy": ("top1", True),
    "Activation memory": ("activation_bytes", True),
}


def sort_records(records: list[dict], column: str, descending: bool = False) -> list[dict]:
    """``records`` ordered by ``column`` (a key of ``SORT_KEYS``); records without the value
    (LeNet-5 has no ImageNet accuracy) come last in either direction."""
    key, _ = SORT_KEYS[column]
    known = sorted((r for r in records if r[key] is not None), key=lambda r: r[key],
                   reverse=descending)
    return known + [r for r in records if r[key] is None]


def fits(record: dict, *, max_params_m: float = 0.0, max_gmacs: float = 0.0,
         max_ms: float = 0.0, latency_ms: dict[str, float] | None = None) -> bool:
    """Whether the model fits every limit that is set (0 = no limit). A latency limit needs a
    measurement: with one set, a model not timed yet does not fit."""
    limits = ((max_params_m * 1e6, record["params"]), (max_gmacs * 1e9, record["macs"]))
    if any(limit and value > limit for limit, value in limits):
        return False
    if not (max_ms and latency_ms):
        return True
    ms = latency_ms.get(record["name"])
    return ms is not None and ms <= max_ms


def within_budget(records: list[dict], **limits) -> list[dict]:
    """The records that ``fits`` (same keywords), the most accurate first."""
    return sorted((r for r in records if fits(r, **limits)), key=lambda r: -(r["top1"] or 0))
