"""Near-duplicate photos found by a perceptual hash, so that a split never puts one copy of a
photo in training and another in the test.

A student's folder often holds the same picture more than once: burst shots a moment apart,
a photo re-saved by a messaging app, resized, or slightly cropped. Their bytes differ, so a
checksum misses them, but their coarse layout is the same. A perceptual hash sums that layout
up in a few bits: here the DCT hash ("pHash", as Neal Krawetz described it in 2011), the
photo in grey shrunk to 32 × 32 pixels, its 2-D discrete cosine transform, and one bit for
each of the 8 × 8 lowest frequencies but the constant one (63 bits), set where the
coefficient is above their median. Re-encoding, resizing, exposure and small crops flip few
bits; two unrelated photos differ in about half. Photos of one class whose hashes differ in
at most ``HAMMING_THRESHOLD`` bits are near-duplicates, and a chain of them is one group.

A horizontal-gradient hash (dHash) was measured too and rejected: on textures (wood grain,
sky) it gives different photos hashes 2 or 3 bits apart, and brightening one photo moved its
hash by 49 bits.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 32  # the photo is shrunk to SIDE × SIDE before the transform
LOW = 8  # the LOW × LOW lowest frequencies make the hash (less the constant one: 63 bits)
# Measured on the photos of assets/ and their quarters (bench/bench_near_duplicates.py):
# copies re-saved at JPEG quality 40, halved or 20 % brighter differ from their original in
# at most 8 bits; copies shifted by 2 % in at most 16 (90 % of them within 6); copies cropped
# by 3 % in at most 20 (90 % within 10; the worst are a brick wall, whose repeating pattern a
# crop shifts, so such copies can escape). Different photos and quarters differ in at least
# 18 (2,775 pairs), regions of one texture photo in at least 16 (14,028 pairs; 1 % below
# 22). Grouping two different photos costs only a coarser split, missing a copy lets it be
# tested on: the threshold leans high.
HAMMING_THRESHOLD = 14
_k = np.arange(SIDE)
# The orthonormal DCT-II matrix (scipy.fft.dct(..., norm="ortho") in matrix form).
DCT = np.sqrt(np.where(_k[:, None] == 0, 1.0, 2.0) / SIDE) * np.cos(
    np.pi * (2 * _k[None, :] + 1) * _k[:, None] / (2 * SIDE))


def phash(img: Image.Image) -> int:
    """The 63-bit DCT hash of ``img``, as an int."""
    small = img.convert("L").resize((SIDE, SIDE), Image.BILINEAR, reducing_gap=2.0)
    coefficients = (DCT @ np.asarray(small, dtype=np.float64) @ DCT.T)[:LOW, :LOW].ravel()[1:]
    bits = coefficients > np.median(coefficients)
    return int(np.packbits(np.concatenate([[False], bits])).view(">u8")[0])


def distances(hashes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(len(hashes), len(others)) Hamming distances between 64-bit hashes."""
    return np.bitwise_count(hashes[:, None] ^ others[None, :]).astype(np.int64)


def group(hashes, labels, threshold: int = HAMMING_THRESHOLD) -> np.ndarray:
    """Group ids (0, 1, … in order of first appearance): photos of one class whose hashes
    are within ``threshold`` bits of each other, directly or through a chain, share one."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    labels = np.asarray(labels)
    parent = np.arange(len(hashes))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        for start in range(0, len(members), 1024):  # a block of rows at a time: bounded memory
            rows = members[start:start + 1024]
            near = distances(hashes[rows], hashes[members]) <= threshold
            for i, j in zip(*np.nonzero(near)):
                a, b = root(int(rows[i])), root(int(members[j]))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.array([root(i) for i in range(len(hashes))], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)
