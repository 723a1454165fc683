"""The loaded models, shared by every session and bounded by the memory their weights take.

A server for a class must neither load a model twice when two students pick it at once, nor
make everybody wait while one model downloads, nor keep every model anyone ever opened
(opening each of the ten zoo models once took a server from 1.1 GB to 2.9 GB). So:

- each model has its own lock: a download holds up only the sessions that asked for that
  model, and two sessions asking at once build it once;
- the models' weights are bounded (``CNNVIZ_MODEL_CACHE_MB``); the least recently used model
  goes first, except pinned ones (the offline default, which every page falls back on);
- a failure (no network, a broken mirror) is remembered for a few minutes, so a page that
  reruns does not wait for the same timeout again and again.

Evicting a model only drops this cache's reference; nothing else may hold one for long (the
per-model results in ``cnnviz.models.memo`` are weak, the pages' caches key on
``activations.model_key``), so its memory is freed.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from torch import nn

from cnnviz.models.registry import ModelError
from cnnviz.settings import mebibytes

BUDGET_ENV = "CNNVIZ_MODEL_CACHE_MB"
# Streamlit Community Cloud gives an app at most about 2.7 GB of memory (its documentation,
# "Manage your app", limits as of February 2024). Python with torch, Streamlit and the default
# model takes about 1.1 GB, the activation cache 256 MiB, and 30 sessions computing at once
# about 0.5 GB more: 768 MiB is left for models, enough for VGG-16 (528 MiB) or several
# smaller ones at a time.
DEFAULT_BUDGET_MB = 768
FAILURE_MEMORY_S = 180.0


def model_bytes(model: nn.Module) -> int:
    """The bytes of a model's parameters and buffers (what loading it costs)."""
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def default_budget_bytes() -> int:
    """The budget from ``CNNVIZ_MODEL_CACHE_MB`` (MiB), else 768 MiB."""
    return mebibytes(BUDGET_ENV, DEFAULT_BUDGET_MB)


@dataclass(frozen=True)
class Failure:
    at: float
    error: ModelError


class ModelCache:
    """Values with a ``.model`` by key, least recently used out beyond ``budget_bytes``."""

    def __init__(self, budget_bytes: int | None = None,
                 failure_memory_s: float = FAILURE_MEMORY_S,
                 clock: Callable[[], float] = time.monotonic):
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else budget_bytes
        self.failure_memory_s = failure_memory_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._pinned: set[Hashable] = set()
        self._failures: dict[Hashable, Failure] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()  # held only for bookkeeping, never while building
        self.evictions = 0

    def get(self, key: Hashable, build: Callable[[], object], *, pinned: bool = False):
        """The value of ``key``, built by ``build()`` on first use (under ``key``'s own lock).
        A ``ModelError`` from ``build`` is remembered for ``failure_memory_s`` and raised
        again, without building, until then."""
        with self._lock:
            value = self._hit(key)
            if value is not None:
                return value
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                value = self._hit(key)  # another session may have built it meanwhile
                if value is not None:
                    return value
            try:
                value = build()
            except ModelError as error:
                with self._lock:
                    self._failures[key] = Failure(self._clock(), error)
                raise
            with self._lock:
                self._failures.pop(key, None)
                self._entries[key] = value
                self._sizes[key] = model_bytes(value.model)
                if pinned:
                    self._pinned.add(key)
                self._evict(keep=key)
            return value

    def _hit(self, key: Hashable):
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        failure = self._failures.get(key)
        if failure is not None:
            if self._clock() - failure.at < self.failure_memory_s:
                raise type(failure.error)(str(failure.error))
            del self._failures[key]
        return None

    def _evict(self, keep: Hashable) -> None:
        """Drop least recently used models, never pinned ones nor ``keep``, until the rest
        fits the budget (a single model larger than the budget stays until the next load)."""
        for key in list(self._entries):
            if self._total() <= self.budget_bytes:
                return
            if key in self._pinned or key == keep:
                continue
            del self._entries[key]
            del self._sizes[key]
            self.evictions += 1

    def _total(self) -> int:
        return sum(self._sizes.values())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._total()

    def keys(self) -> list:
        """Loaded keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def failed(self, key: Hashable) -> ModelError | None:
        """The remembered failure of ``key``, if it is still remembered."""
        with self._lock:
            failure = self._failures.get(key)
            if failure is None or self._clock() - failure.at >= self.failure_memory_s:
                return None
            return failure.error

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._pinned.clear()
            self._failures.clear()
