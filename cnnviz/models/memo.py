"""Results computed once per model (its layer list, titles, preprocessing constants), kept as
long as the model is loaded and no longer.

``functools.lru_cache`` would hold every bundle it has seen: a model evicted from the zoo's
cache would stay in memory for as long as one of its layer lists did. Here the results hang on
the bundle through a weak reference, so they die with it.
"""

import functools
import threading
import weakref


def per_bundle(function):
    """Cache ``function(bundle)`` for as long as ``bundle`` lives. The result must not refer
    to the bundle itself (it would keep it alive)."""
    results: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    @functools.wraps(function)
    def cached(bundle):
        with lock:
            if bundle in results:
                return results[bundle]
        value = function(bundle)  # outside the lock: it may take a forward pass
        with lock:
            return results.setdefault(bundle, value)

    cached.cache_clear = lambda: results.clear()
    return cached
