"""A byte-bounded, least-recently-used store of NumPy arrays, shared by every browser session.

Activations are large (one photo's spatial layers: 2 MiB for AlexNet, 28 MiB for
EfficientNet-Lite0, 70 MiB for ConvNeXt-Tiny in float16) and every session of the app shares
one process, so the cache counts bytes, not entries. The default budget of 256 MiB leaves
room, in Streamlit Community Cloud's 2 GiB container, for Python with torch and Streamlit
(about 0.5 GiB) and a few models (18 MiB for the default, 0.5 GiB for VGG-16).
``CNNVIZ_ACTIVATION_CACHE_MB`` changes it for a deployment, the ``budget_bytes`` keyword for a
test.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

from cnnviz.settings import mebibytes

DEFAULT_BUDGET_MB = 256
BUDGET_ENV = "CNNVIZ_ACTIVATION_CACHE_MB"


def default_budget_bytes() -> int:
    """The budget from ``CNNVIZ_ACTIVATION_CACHE_MB`` (MiB), else 256 MiB."""
    return mebibytes(BUDGET_ENV, DEFAULT_BUDGET_MB, "0 turns the cache off")


class ActivationCache:
    """Arrays by key, evicting the least recently used when their bytes would exceed the budget.

    Stored arrays are made read-only, so a caller that got one from ``get`` cannot change what
    the next caller sees. Every method takes one lock: sessions run on their own threads.
    """

    def __init__(self, budget_bytes: int | None = None):
        budget = default_budget_bytes() if budget_bytes is None else int(budget_bytes)
        if budget < 0:
            raise ValueError(f"The cache budget must be at least 0 bytes, not {budget}.")
        self.budget_bytes = budget
        self._entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        """The array stored under ``key`` (now the most recently used), or None; counted as a
        hit or a miss."""
        with self._lock:
            array = self._entries.get(key)
            if array is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return array

    def put(self, key: Hashable, array: np.ndarray) -> bool:
        """Store ``array`` (read-only from now on) as the most recently used entry, evicting the
        least recently used ones until everything fits. An array larger than the whole budget
        is not stored: False."""
        array.flags.writeable = False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._nbytes -= old.nbytes
            if array.nbytes > self.budget_bytes:
                return False
            while self._nbytes + array.nbytes > self.budget_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._nbytes -= evicted.nbytes
                self.evictions += 1
            self._entries[key] = array
            self._nbytes += array.nbytes
            return True

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` is stored; neither counted nor moved to the most recent end."""
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of all stored arrays; never more than ``budget_bytes``."""
        with self._lock:
            return self._nbytes

    def keys(self) -> list:
        """Stored keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> dict:
        """Counters and sizes for a debug panel."""
        with self._lock:
            return dict(entries=len(self._entries), bytes=self._nbytes,
                        budget_bytes=self.budget_bytes, hits=self.hits, misses=self.misses,
                        evictions=self.evictions)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._nbytes = 0
            self.hits = self.misses = self.evictions = 0
