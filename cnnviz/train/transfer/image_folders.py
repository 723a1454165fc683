"""A student's own photos: a ``.zip`` of class folders (torchvision's ``ImageFolder`` layout, one
folder per class) read into a :class:`PhotoSet`, or a :class:`DatasetError` saying what is
wrong with the archive, in words for the person who made it.

The archive is read in memory and never unpacked: nothing is written to disk, so a member
named ``../../.bashrc`` cannot land anywhere (such an archive is refused all the same, since
it was made to attack whoever unpacks it). Zip bombs are refused from the central directory,
before anything is decompressed: the entry count and the declared unpacked size are bounded,
and Python's ``zipfile`` never returns more bytes than a member declares (it stops there and
checks the CRC). Every image is decoded by :func:`cnnviz.images.load_image`, which refuses
decompression bombs inside the images themselves.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

import numpy as np

from cnnviz import images
from cnnviz.train.transfer import near_duplicates
from cnnviz.train.transfer.photo_set import MAX_SIDE, PhotoSet, Skipped, encode, shrink

# torchvision's IMG_EXTENSIONS, plus GIF, which load_image reads.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff",
                              ".webp", ".gif"})
JUNK_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini"})
MIN_PER_CLASS = 5  # enough for 70/15/15 to leave at least one validation and one test photo
MIN_DISTINCT = 3  # photos that are not near-duplicates: one each to train, validate and test
MAX_FILES = 20_000
MAX_UNPACKED_BYTES = 1 << 30  # 1 GiB; a 20 MB upload of photos unpacks to about 20 MB
HOW_TO_ZIP = ("Put the photos of each class in a folder named after the class, select the "
              "folders and compress them into one .zip (Windows: right-click › Send to › "
              "Compressed folder; macOS: right-click › Compress).")


class DatasetError(ValueError):
    """The archive cannot be used as a data set; the message says why, for a person."""


def read_image_folders(zip_bytes: bytes, *, min_per_class: int = MIN_PER_CLASS,
                       max_files: int = MAX_FILES,
                       max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
                       max_side: int = MAX_SIDE,
                       progress: Callable[[int, int], None] | None = None) -> PhotoSet:
    """The photos of a zip of class folders, with ``.classes`` (sorted) and ``.counts``.

    Files that are not images, ``__MACOSX`` and hidden files, and files outside the class
    folders are skipped and counted; images that fail to decode are skipped and listed
    (``.undecodable``). One folder wrapping all class folders (``soil/red/…``) is looked
    through. Photos are kept with their shorter side at most ``max_side`` pixels.
    ``progress(done, total)`` is called as images are decoded.
    """
    archive = _open(zip_bytes)
    members = _members(archive, max_files, max_unpacked_bytes)
    files, ignored = _sort_out(members)
    class_files = _class_folders(files, ignored)

    classes = sorted(class_files)
    labels, names, encoded, hashes, undecodable = [], [], [], [], []
    failed = dict.fromkeys(classes, 0)
    wanted = [(c, info) for c in classes for info in class_files[c]
              if PurePosixPath(info.filename).suffix.lower() in IMAGE_EXTENSIONS]
    not_images = sum(len(class_files[c]) for c in classes) - len(wanted)
    for done, (label, info) in enumerate(wanted, start=1):
        try:
            img = images.load_image(_read(archive, info))
        except (images.ImageError, _MemberError) as err:
            undecodable.append(Skipped(info.filename, str(err)))
            failed[label] += 1
        else:
            small = shrink(img, max_side)
            labels.append(classes.index(label))
            names.append(info.filename)
            encoded.append(encode(small))
            hashes.append(near_duplicates.phash(small))
        if progress is not None:
            progress(done, len(wanted))

    groups = near_duplicates.group(hashes, labels)
    photos = PhotoSet(tuple(classes), np.asarray(labels, dtype=np.int64), tuple(names),
                      tuple(encoded), groups, not_images=not_images, ignored=ignored,
                      undecodable=tuple(undecodable), source="your archive")
    _check_counts(photos, failed, min_per_class)
    _check_distinct(photos)
    return photos


class _MemberError(Exception):
    """One member cannot be read (encrypted, damaged, an unknown compression)."""


def _open(data: bytes) -> zipfile.ZipFile:
    if not data:
        raise DatasetError("The file is empty (0 bytes). " + HOW_TO_ZIP)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DatasetError(f"This file is not a zip archive ({_what_it_is(data)}). "
                           + HOW_TO_ZIP)
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise DatasetError(f"The zip archive is damaged and cannot be read ({err}). Create "
                           f"it again and upload the new file.") from None


def _what_it_is(data: bytes) -> str:
    head = data[:512]
    if head.startswith(b"Rar!"):
        return "it is a RAR archive; save it as .zip instead"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "it is a 7-Zip archive; save it as .zip instead"
    if head.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed, perhaps a .tar.gz; save it as .zip instead"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "it is a .tar archive; save it as .zip instead"
    try:
        images.load_image(data)
    except images.ImageError:
        return "its contents are no archive format"
    return "it is a single image; upload a zip of class folders instead"


def _members(archive: zipfile.ZipFile, max_files: int,
             max_unpacked_bytes: int) -> list[zipfile.ZipInfo]:
    """The archive's entries, after the checks that need no decompression."""
    infos = archive.infolist()
    if len(infos) > max_files:
        raise DatasetError(f"The archive holds {len(infos):,} entries; the limit is "
                           f"{max_files:,}. Upload fewer photos (a few hundred per class is "
                           f"plenty for transfer learning).")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_unpacked_bytes:
        raise DatasetError(f"The archive would unpack to {unpacked / 2**20:,.0f} MB; the limit "
                           f"is {max_unpacked_bytes / 2**20:,.0f} MB. A small archive that "
                           f"unpacks to something huge is a 'zip bomb', so nothing in it was "
                           f"used. Upload smaller photos.")
    for info in infos:
        if _escapes(info.filename):
            raise DatasetError(f"The archive contains a path that leads outside its own "
                               f"folder ({info.filename!r}). Unpacking such an archive can "
                               f"overwrite other files ('zip slip'), so nothing in it was "
                               f"used. Create the archive again from your class folders.")
    if not infos:
        raise DatasetError("The zip archive is empty. " + HOW_TO_ZIP)
    return infos


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _escapes(name: str) -> bool:
    unified = name.replace("\\", "/")
    return (unified.startswith("/") or re.match(r"^[A-Za-z]:", unified) is not None
            or ".." in _parts(name))


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p.lower() in JUNK_NAMES for p in parts)


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _sort_out(infos: list[zipfile.ZipInfo]):
    """Files worth a look, as (parts, info), and how many entries were ignored as junk."""
    files, ignored = [], 0
    for info in infos:
        if info.is_dir():
            continue
        parts = _parts(info.filename)
        if not parts or _is_junk(parts) or _is_link(info):
            ignored += 1
        else:
            files.append((parts, info))
    # Look through folders that wrap everything (soil/alluvial/…, data/soil/alluvial/…); files
    # beside the one wrapping folder (a README.txt) are skipped like __MACOSX.
    while True:
        folders = {parts[0] for parts, _ in files if len(parts) >= 2}
        if len(folders) != 1 or not any(len(parts) >= 3 for parts, _ in files):
            return files, ignored
        ignored += sum(len(parts) == 1 for parts, _ in files)
        files = [(parts[1:], info) for parts, info in files if len(parts) >= 2]


def _class_folders(files, ignored: int) -> dict[str, list[zipfile.ZipInfo]]:
    loose = [parts[0] for parts, _ in files if len(parts) == 1]
    folders: dict[str, list[zipfile.ZipInfo]] = {}
    for parts, info in files:
        if len(parts) >= 2:
            folders.setdefault(parts[0], []).append(info)
    loose_images = [n for n in loose if PurePosixPath(n).suffix.lower() in IMAGE_EXTENSIONS]
    if not folders:
        if loose_images:
            raise DatasetError(f"The archive has {len(loose_images)} images but no class "
                               f"folders: the images lie at its top level. " + HOW_TO_ZIP)
        raise DatasetError(f"The archive contains no images (only {len(files) + ignored} "
                           f"other files). " + HOW_TO_ZIP)
    if len(folders) == 1:
        (name,) = folders
        raise DatasetError(f"The archive has only one class folder, {name!r}; a classifier "
                           f"needs at least two classes to tell apart. Add a folder for each "
                           f"other class.")
    return folders


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.flag_bits & 0x1:
        raise _MemberError("it is password-protected")
    try:
        with archive.open(info) as member:
            return member.read(info.file_size + 1)
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as err:
        raise _MemberError(f"it is damaged inside the archive ({err})") from None


def _check_counts(photos: PhotoSet, failed: dict[str, int], min_per_class: int) -> None:
    short = [(name, n) for name, n in photos.counts.items() if n < min_per_class]
    if short:
        listed = ", ".join(
            f"{name!r} ({n}" + (f"; {failed[name]} more could not be decoded)"
                                if failed[name] else ")")
            for name, n in short)
        raise DatasetError(f"Each class needs at least {min_per_class} images (to leave at "
                           f"least one for validation and one for testing); too few in "
                           f"{listed}. Add photos to {'it' if len(short) == 1 else 'them'}.")


def _check_distinct(photos: PhotoSet) -> None:
    distinct = {name: len(np.unique(photos.groups[photos.labels == c]))
                for c, name in enumerate(photos.classes)}
    short = [(name, n) for name, n in distinct.items() if n < MIN_DISTINCT]
    if short:
        listed = ", ".join(f"{name!r} ({photos.counts[name]} photos, {n} different)"
                           for name, n in short)
        raise DatasetError(f"Each class needs at least {MIN_DISTINCT} different photos (one to "
                           f"train on, one to validate and one to test); the others in "
                           f"{listed} are near-duplicates: the same picture re-saved, resized "
                           f"or taken again a moment later. Add photos of other examples.")
