"""The full data sets, when the machine has them: torchvision's MNIST, Fashion-MNIST, CIFAR-10.

They are read from the data folder (``CNNVIZ_DATA_DIR``, default ``~/.cache/cnnviz/data``) or
downloaded into it once, under the same rules as model weights (``cnnviz.download``): every connection and
read has a short timeout, each file's MD5 must be the one torchvision lists, and without a network the
caller gets :class:`DataUnavailableError` with a sentence to show (the page then falls back
to the offline MNIST subset). ``CNNVIZ_DATA_MIRROR=http://server/folder`` fetches the same
file names from a local copy. torchvision itself parses the files.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
from torchvision import datasets

from cnnviz.download import DownloadError, fetch
from cnnviz.train.offline_mnist import ImageSet, Split, mnist_split, stratified_split

TIMEOUT_S = 10
DATASETS = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST,
            "cifar10": datasets.CIFAR10}
TITLES = {"mnist": "MNIST (70,000 digits)", "fashion-mnist": "Fashion-MNIST (70,000 clothes)",
          "cifar10": "CIFAR-10 (60,000 colour photos)"}


class DataUnavailableError(RuntimeError):
    """The data set is not on this machine and could not be downloaded."""


def data_dir() -> Path:
    return Path(os.environ.get("CNNVIZ_DATA_DIR") or Path.home() / ".cache" / "cnnviz" / "data")


def _sources(cls) -> list[tuple[list[str], str, str]]:
    """(URLs to try, file name, MD5) of each file the data set is made from."""
    mirror = os.environ.get("CNNVIZ_DATA_MIRROR", "").strip().rstrip("/")
    if cls is datasets.CIFAR10:
        bases, files = [cls.url.rsplit("/", 1)[0] + "/"], [(cls.filename, cls.tgz_md5)]
    else:
        bases, files = list(cls.mirrors), list(cls.resources)
    return [([f"{mirror}/{name}"] if mirror else [base + name for base in bases], name, md5)
            for name, md5 in files]


def download(urls: list[str], path: Path, md5: str) -> Path:
    """Fetch ``path`` from the first of ``urls`` that answers, checking its MD5."""
    if path.is_file():
        return path
    errors = []
    for url in urls:
        try:
            return fetch(url, path, timeout_s=TIMEOUT_S, expected=md5, hash_name="md5")
        except DownloadError as err:
            errors.append(str(err))
    raise DataUnavailableError(
        f"{path.name} is not in the data folder ({path.parent}) and could not be downloaded "
        f"({'; '.join(errors)}). The full data sets need a network connection once; the "
        "offline MNIST subset works without one.")


def _fetch_raw(cls, root: Path) -> None:
    """Put the files torchvision reads under ``root``, downloading what is missing."""
    if cls is datasets.CIFAR10:
        if (root / cls.base_folder).is_dir():
            return
        (urls, name, md5), = _sources(cls)
        archive = download(urls, root / name, md5)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        return
    raw = root / cls.__name__ / "raw"
    for urls, name, md5 in _sources(cls):
        unpacked = raw / name.removesuffix(".gz")
        if not unpacked.is_file():
            with gzip.open(download(urls, raw / name, md5)) as src, open(unpacked, "wb") as dst:
                shutil.copyfileobj(src, dst)


def load(name: str, *, validation: float = 0.1, seed: int = 0, root: Path | None = None) -> Split:
    """The data set ``name`` (a key of :data:`DATASETS`): its own test set, and its training
    set split into training and a stratified, seeded validation part. Images stay uint8,
    (N, 28, 28) or (N, 32, 32, 3)."""
    cls = DATASETS[name]
    root = Path(root or data_dir())
    _fetch_raw(cls, root)
    try:
        parts = [cls(str(root), train=train, download=False) for train in (True, False)]
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DataUnavailableError(f"{name} in {root} cannot be read: {err}. Delete the "
                                   "folder to download it again.") from None
    sets = [ImageSet(np.asarray(p.data), np.asarray(p.targets, dtype=np.int64),
                     tuple(p.classes)) for p in parts]
    split = stratified_split(sets[0], validation=validation, test=0, seed=seed)
    return Split(split.train, split.validation, sets[1])


def load_split(name: str, seed: int = 0) -> Split:
    """A lab's data set by name: "subset" (the offline digits that ship with the app) or one
    of ``DATASETS`` (``DataUnavailableError`` when this machine cannot have it)."""
    if name == "subset":
        return mnist_split(seed=seed)
    return load(name, seed=seed)
