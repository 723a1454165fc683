"""The shared activation cache: a byte budget it never exceeds, least-recently-used eviction,
hit and miss counts, read-only values, and all of it under concurrent use."""

import random
import threading

import numpy as np
import pytest

from cnnviz.activations.cache import BUDGET_ENV, DEFAULT_BUDGET_MB, ActivationCache


def block(kib: int, fill: float = 0.0) -> np.ndarray:
    return np.full(kib * 256, fill, dtype=np.float32)  # 256 float32 = 1 KiB


def test_get_returns_what_was_put_and_counts_hits_and_misses():
    cache = ActivationCache(budget_bytes=10 * 1024)
    assert cache.get("a") is None
    cache.put("a", block(2, 7.0))
    assert np.all(cache.get("a") == 7.0) and cache.get("a").nbytes == 2048
    assert cache.get("b") is None
    assert (cache.hits, cache.misses) == (2, 2)
    assert cache.stats() == dict(entries=1, bytes=2048, budget_bytes=10 * 1024, hits=2,
                                 misses=2, evictions=0)


def test_filling_past_the_budget_evicts_the_least_recently_used():
    cache = ActivationCache(budget_bytes=3 * 1024)
    for key in "abc":
        cache.put(key, block(1))
    assert cache.nbytes == 3 * 1024
    cache.get("a")  # a is now the most recently used, b the least
    cache.put("d", block(1))
    assert cache.keys() == ["c", "a", "d"] and "b" not in cache
    cache.put("e", block(2))  # needs two slots: c, then a go
    assert cache.keys() == ["d", "e"]
    assert cache.nbytes == 3 * 1024 and cache.evictions == 3


def test_random_filling_never_exceeds_the_budget():
    budget = 50 * 1024
    cache = ActivationCache(budget_bytes=budget)
    rng = random.Random(0)
    total_put = 0
    for i in range(300):
        array = block(rng.randint(1, 20))
        total_put += array.nbytes
        cache.put(i % 40, array)
        assert cache.nbytes <= budget
    assert total_put > 20 * budget  # the test really went far past the budget
    stored = [cache.get(key) for key in cache.keys()]
    assert cache.nbytes == sum(a.nbytes for a in stored)


def test_replacing_a_key_counts_its_bytes_once():
    cache = ActivationCache(budget_bytes=4 * 1024)
    cache.put("a", block(3))
    cache.put("a", block(2))
    assert cache.nbytes == 2048 and len(cache) == 1


def test_an_array_larger_than_the_budget_is_not_stored_and_evicts_nothing():
    cache = ActivationCache(budget_bytes=4 * 1024)
    cache.put("small", block(1))
    assert cache.put("huge", block(5)) is False
    assert cache.keys() == ["small"] and cache.evictions == 0


def test_stored_arrays_are_read_only():
    cache = ActivationCache(budget_bytes=4 * 1024)
    cache.put("a", block(1))
    with pytest.raises(ValueError, match="read-only"):
        cache.get("a")[0] = 1.0


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "1.5")
    assert ActivationCache().budget_bytes == int(1.5 * 2**20)
    monkeypatch.setenv(BUDGET_ENV, "")
    assert ActivationCache().budget_bytes == DEFAULT_BUDGET_MB * 2**20
    assert ActivationCache(budget_bytes=123).budget_bytes == 123  # the keyword wins
    for bad in ("lots", "-5"):
        monkeypatch.setenv(BUDGET_ENV, bad)
        with pytest.raises(ValueError, match=BUDGET_ENV):
            ActivationCache()


def test_clear_empties_and_resets_the_counters():
    cache = ActivationCache(budget_bytes=4 * 1024)
    cache.put("a", block(1))
    cache.get("a"), cache.get("b")
    cache.clear()
    assert cache.stats() == dict(entries=0, bytes=0, budget_bytes=4 * 1024, hits=0, misses=0,
                                 evictions=0)


def test_eight_threads_hammering_one_cache_keep_its_books_straight():
    budget = 64 * 1024
    cache = ActivationCache(budget_bytes=budget)
    gets_per_thread, errors = 2000, []
    start = threading.Barrier(8)

    def work(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(gets_per_thread):
            key = rng.randrange(60)
            found = cache.get(key)
            if found is None:
                cache.put(key, block(rng.randint(1, 8), fill=key))
            elif not np.all(found == key):  # a value must belong to its key
                errors.append(key)
            if cache.nbytes > budget:
                errors.append("over budget")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.hits + cache.misses == 8 * gets_per_thread
    assert cache.hits > 0 and cache.evictions > 0
    assert cache.nbytes == sum(cache.get(key).nbytes for key in cache.keys()) <= budget
