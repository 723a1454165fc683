"""An offline stand-in for the chapter's soil lab: texture classes cut from bundled CC0
photographs (brick, grass, gravel and wood; sources in ``assets/LICENSES.md``).

Soil types differ in grain more than in anything a single pixel shows, so every photo is used
in grey and the classes can only be told apart by texture. Each class's photo is divided into
square cells with gaps between them; patches are cut from inside a cell at several sizes (48
to 96 pixels, so the grain appears at several scales once the backbone's preprocessing
enlarges them) and positions. A cell is a group for :func:`grouped_split`: its patches
overlap one another, so they all go to one split, and a test patch never shares a pixel with
a training patch.

``python -m cnnviz.train.transfer.texture_demo --rebuild-photos`` rewrites the two photos this module
adds to ``assets/textures/`` from scikit-image's sample data (scikit-image needed for that
only); ``--zip FILE`` writes the demo set as a zip of class folders, the layout an upload
takes.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from cnnviz.images import ASSETS
from cnnviz.train.transfer.group_split import SplitIndex, grouped_split
from cnnviz.train.transfer.photo_set import PhotoSet, encode

CELL = 96  # side of a cell, in the photo's pixels
GAP = 8  # between cells, so that neighbouring cells share no pixel
PATCH_SIDES = (48, 64, 80, 96)
PATCHES_PER_CLASS = 150
MEAN_RANGE = (80.0, 175.0)  # grey level of a relit patch
STD_RANGE = (22.0, 55.0)  # and its contrast
JPEG_QUALITY = 90  # of the photos rebuilt into assets/textures/


@dataclass(frozen=True)
class Texture:
    photo: str  # relative to assets/
    cells: tuple[tuple[int, int, int], ...]  # (left, top, side) in the photo's pixels
    source: str  # for people; licences in assets/LICENSES.md


def grid(width: int, height: int) -> tuple[tuple[int, int, int], ...]:
    """Every CELL-sized square of a width × height photo, GAP pixels apart."""
    step = CELL + GAP
    return tuple((x, y, CELL) for y in range(0, height - CELL + 1, step)
                 for x in range(0, width - CELL + 1, step))


TEXTURES = {
    "brick": Texture("samples/brick.jpg", grid(512, 512),
                     "scikit-image data.brick() (CC0Textures Bricks25), CC0"),
    "grass": Texture("textures/grass.jpg", grid(512, 512),
                     "scikit-image data.grass() (Linolafett, DeviantArt), CC0"),
    "gravel": Texture("textures/gravel.jpg", grid(512, 512),
                      "scikit-image data.gravel() (CC0Textures Gravel04), CC0"),
    # The table around the espresso cup: the strips of wood the cup and saucer leave free.
    "wood": Texture("samples/coffee.jpg",
                    ((500, 4, 96), (500, 104, 96), (500, 204, 96), (500, 304, 96),
                     (0, 112, 72), (0, 210, 72), (0, 318, 78), (428, 0, 70)),
                    "scikit-image data.coffee() (Rachel Michetti), CC0"),
}


def texture_photo(name: str) -> Image.Image:
    """The grey photo a class is cut from, as RGB."""
    return Image.open(ASSETS / TEXTURES[name].photo).convert("L").convert("RGB")


@lru_cache(maxsize=4)
def texture_demo(seed: int = 0, patches_per_class: int = PATCHES_PER_CLASS) -> PhotoSet:
    """The demo set: ``patches_per_class`` patches per texture, spread evenly over its
    cells; ``groups`` numbers the cells."""
    rng = np.random.default_rng(seed)
    classes = tuple(sorted(TEXTURES))
    labels, names, encoded, groups = [], [], [], []
    cell_id = 0
    for label, name in enumerate(classes):
        photo = texture_photo(name)
        cells = TEXTURES[name].cells
        per_cell = np.full(len(cells), patches_per_class // len(cells))
        per_cell[:patches_per_class % len(cells)] += 1
        for (left, top, side), count in zip(cells, per_cell):
            for x, y, size in _patches(rng, left, top, side, count):
                labels.append(label)
                groups.append(cell_id)
                names.append(f"{name}/{name}_x{x}_y{y}_s{size}.png")
                patch = relight(photo.crop((x, y, x + size, y + size)), rng)
                encoded.append(encode(patch, "PNG"))
            cell_id += 1
    return PhotoSet(classes, np.asarray(labels, dtype=np.int64), tuple(names), tuple(encoded),
                    np.asarray(groups, dtype=np.int64), source="the texture demo")


def relight(patch: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The patch under a random exposure: its grey levels moved to a mean and contrast drawn
    from the same range for every class, so that brightness and contrast, which differ
    between the source photos, say nothing about the class."""
    grey = np.asarray(patch.convert("L"), dtype=np.float64)
    z = (grey - grey.mean()) / max(grey.std(), 1.0)
    out = rng.uniform(*MEAN_RANGE) + z * rng.uniform(*STD_RANGE)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8)).convert("RGB")


def _patches(rng, left: int, top: int, side: int, count: int) -> list[tuple[int, int, int]]:
    """``count`` distinct squares (x, y, size) inside a cell, sizes from PATCH_SIDES."""
    sizes = [s for s in PATCH_SIDES if s <= side]
    chosen: dict[tuple[int, int, int], None] = {}
    while len(chosen) < count:
        size = int(rng.choice(sizes))
        chosen[(left + int(rng.integers(0, side - size + 1)),
                top + int(rng.integers(0, side - size + 1)), size)] = None
    return list(chosen)


def demo_split(seed: int = 0) -> tuple[PhotoSet, SplitIndex]:
    """The demo set and its 70/15/15 split by cell."""
    photos = texture_demo(seed)
    return photos, grouped_split(photos.labels, photos.groups, seed=seed)


def as_zip(photos: PhotoSet) -> bytes:
    """``photos`` as a zip of class folders, the layout ``read_image_folders`` reads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in zip(photos.names, photos.encoded):
            archive.writestr(name, data)
    return buffer.getvalue()


def rebuild_photos() -> list[Path]:
    """Write scikit-image's grass and gravel into assets/textures/ (grey JPEG)."""
    try:
        from skimage import data
    except ImportError as err:
        raise SystemExit("Rebuilding the photos needs scikit-image: pip install "
                         "scikit-image") from err
    written = []
    for name in ("grass", "gravel"):
        path = ASSETS / TEXTURES[name].photo
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(getattr(data, name)()).save(path, quality=JPEG_QUALITY, optimize=True)
        written.append(path)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild-photos", action="store_true",
                        help="rewrite assets/textures/ from scikit-image's sample data")
    parser.add_argument("--zip", type=Path, help="write the demo set as a zip of class folders")
    args = parser.parse_args(argv)
    if args.rebuild_photos:
        for path in rebuild_photos():
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    if args.zip:
        args.zip.write_bytes(as_zip(texture_demo()))
        print(f"wrote {args.zip}")
    photos, split = demo_split()
    for part, index in split.parts().items():
        counts = np.bincount(photos.labels[index], minlength=len(photos.classes))
        print(f"{part:>10}: {len(index)} patches, per class {dict(zip(photos.classes, counts.tolist()))}")


if __name__ == "__main__":
    main()
