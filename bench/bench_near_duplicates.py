"""How far apart the perceptual hashes of near-duplicates and of different photos lie, for
the DCT hash the uploads use (cnnviz.train.transfer.near_duplicates) and for a 64-bit
horizontal-gradient hash (dHash) measured beside it, on the photos of assets/.

Near-duplicates: each photo and each quarter of it re-saved at JPEG quality 40, halved,
cropped by 3 % and 5 %, 20 % brighter, shifted by 2 % and 4 %. Different photos: every pair
of photos and quarters; and every pair of the texture demo's cells (regions of one texture
photo, the hardest case: they look alike everywhere).

    python bench/bench_near_duplicates.py
"""

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz.images import ASSETS  # noqa: E402
from cnnviz.train.transfer import near_duplicates  # noqa: E402
from cnnviz.train.transfer.texture_demo import SOURCES, source_photo  # noqa: E402


def dhash(img: Image.Image) -> int:
    """The 64-bit horizontal-gradient hash, for comparison."""
    small = np.asarray(img.convert("L").resize((9, 8), Image.BILINEAR, reducing_gap=2.0),
                       dtype=np.int16)
    return int(np.packbits(small[:, 1:] > small[:, :-1]).view(">u8")[0])


def copies(img: Image.Image):
    w, h = img.size
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=40)
    yield "re-saved at quality 40", Image.open(io.BytesIO(buffer.getvalue()))
    yield "halved", img.resize((w // 2, h // 2))
    for share in (3, 5):
        cut = share / 200
        yield f"cropped by {share} %", img.crop((round(cut * w), round(cut * h),
                                                  round((1 - cut) * w), round((1 - cut) * h)))
    yield "20 % brighter", ImageEnhance.Brightness(img).enhance(1.2)
    for share in (2, 4):
        yield f"shifted by {share} %", img.crop((round(share / 100 * w), 0, w, h))


def main() -> None:
    photos = {p.name: Image.open(p).convert("RGB") for folder in ("samples", "textures")
              for p in sorted((ASSETS / folder).glob("*.jpg"))}
    pieces = {}
    for name, img in photos.items():
        pieces[name] = img
        w, h = img.size
        for x in (0, w // 2):
            for y in (0, h // 2):
                pieces[f"{name} quarter {x},{y}"] = img.crop((x, y, x + w // 2, y + h // 2))
    cells = [source_photo(s).crop((x, y, x + d, y + d)) for _, s in SOURCES for x, y, d in s.cells]
    for title, hash_ in (("DCT hash (63 bits), used", near_duplicates.phash),
                         ("dHash (64 bits), compared", dhash)):
        print(f"== {title}; threshold {near_duplicates.HAMMING_THRESHOLD}")
        near: dict[str, list[tuple[int, str]]] = {}
        for name, img in pieces.items():
            own = hash_(img)
            for kind, copy in copies(img):
                near.setdefault(kind, []).append((bin(own ^ hash_(copy)).count("1"), name))
        for kind, found in near.items():
            values = sorted(d for d, _ in found)
            worst = max(found)
            print(f"  near-duplicates {kind:24} max {worst[0]:2} ({worst[1]}), 90 % within "
                  f"{values[int(0.9 * len(values))]}, over {len(values)}")
        for what, group in (("photos and quarters", list(pieces.values())),
                            ("texture demo cells", cells)):
            hashes = np.array([hash_(img) for img in group], dtype=np.uint64)
            apart = near_duplicates.distances(hashes, hashes)[np.triu_indices(len(hashes), 1)]
            print(f"  different {what:22} min {apart.min()}, 1 % below "
                  f"{np.percentile(apart, 1):.0f}, over {len(apart):,} pairs")


if __name__ == "__main__":
    main()
