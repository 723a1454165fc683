"""Train / validation / test splits that keep every class's share and never cut a group in two.

Patches cut from one region of a photo look alike; if some were trained on and others tested
on, the test would measure memory, not generalisation ("leakage"). So whole groups (a region,
an uploaded file) are dealt to the splits, class by class, each group going where it brings
that split's image count closest to its target share (the chapter's 70/15/15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRACTIONS = (0.70, 0.15, 0.15)
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitIndex:
    """Indices into the data set, one array per split."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in SPLITS}


def grouped_split(labels, groups, fractions=FRACTIONS, seed: int = 0) -> SplitIndex:
    """Deal the groups of each class to train / validation / test in the proportions
    ``fractions``; every class with at least three groups gets at least one in each split.

    Raises ``ValueError`` when a group holds more than one class (it could not be dealt
    without splitting a class's share) or a class has fewer than three groups.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    if len(labels) != len(groups):
        raise ValueError(f"{len(labels)} labels but {len(groups)} group ids.")
    if len(fractions) != 3 or min(fractions) <= 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"Give three positive fractions that add up to 1, not {fractions}.")
    rng = np.random.default_rng(seed)
    chosen: tuple[list, list, list] = ([], [], [])
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        ids, sizes = np.unique(groups[members], return_counts=True)
        mixed = [g for g in ids if len(np.unique(labels[groups == g])) > 1]
        if mixed:
            raise ValueError(f"Group {mixed[0]} holds images of more than one class.")
        if len(ids) < 3:
            raise ValueError(f"Class {label} has {len(ids)} groups; three are needed for a "
                             f"train, a validation and a test part.")
        order = rng.permutation(len(ids))
        for split, group in _deal(sizes[order], fractions).items():
            chosen[split].extend(ids[order][group])
    index = [np.flatnonzero(np.isin(groups, g)) for g in chosen]
    return SplitIndex(*(rng.permutation(i) for i in index))


def _deal(sizes: np.ndarray, fractions) -> dict[int, np.ndarray]:
    """Positions of ``sizes`` for each split: test and validation take groups in turn while
    that brings them closer to their target (at least one each), train keeps the rest."""
    total = sizes.sum()
    taken: dict[int, list[int]] = {2: [], 1: []}
    next_group = 0
    for split in (2, 1):
        target, count = fractions[split] * total, 0
        while next_group < len(sizes) - (2 if split == 2 else 1):
            size = sizes[next_group]
            if taken[split] and abs(count + size - target) >= abs(count - target):
                break
            taken[split].append(next_group)
            count += size
            next_group += 1
    return {0: np.arange(next_group, len(sizes)), 1: np.asarray(taken[1], dtype=np.int64),
            2: np.asarray(taken[2], dtype=np.int64)}
