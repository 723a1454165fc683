"""The full data sets, when the machine has them: torchvision's MNIST, Fashion-MNIST, CIFAR-10.

They are read from the data folder (``CNNVIZ_DATA_DIR``, default ``~/.cache/cnnviz/data``) or
downloaded into it once, under the same rules as model weights (``cnnviz.download``): every connection and
read has a short timeout, each file's MD5 must be the one torchvision lists, and without a network the
caller gets :class:`DataUnavailableError` with a sentence to show (the page then falls back
to the offline MNIST subset). ``CNNVIZ_DATA_MIRROR=http://server/folder`` fetches the same
file names from a local copy. torchvision itself parses the files.

A server that trickles or never ends cannot hold a download: each file has a deadline and a
cap on its size, both from its published size. Two students asking for the same data set at
once share one download: the second waits for it and sees its progress (:func:`fetch_files`).
Files are unpacked into place atomically, so a process killed half-way leaves nothing that
looks complete.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from torchvision import datasets

from cnnviz.download import DownloadError, fetch, remove_stale_partials
from cnnviz.train.offline_mnist import ImageSet, Split, mnist_split, stratified_split

TIMEOUT_S = 10
# Bytes of each file as published (LeCun's MNIST page; Zalando's Fashion-MNIST README gives
# 26 MB, 29 KB, 4.3 MB and 5.1 KB; Krizhevsky's CIFAR page 163 MB): a download may be a quarter
# larger before it is cut off, and must keep MIN_BYTES_PER_SECOND on average after a grace.
PUBLISHED_BYTES = {
    "mnist": {"train-images-idx3-ubyte.gz": 9_912_422, "train-labels-idx1-ubyte.gz": 28_881,
              "t10k-images-idx3-ubyte.gz": 1_648_877, "t10k-labels-idx1-ubyte.gz": 4_542},
    "fashion-mnist": {"train-images-idx3-ubyte.gz": 26_421_880,
                      "train-labels-idx1-ubyte.gz": 29_515,
                      "t10k-images-idx3-ubyte.gz": 4_422_102,
                      "t10k-labels-idx1-ubyte.gz": 5_148},
    "cifar10": {"cifar-10-python.tar.gz": 170_498_071},
}
SIZE_MARGIN = 1.25
MIN_BYTES_PER_SECOND = 200_000
GRACE_S = 60.0
DATASETS = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST,
            "cifar10": datasets.CIFAR10}
TITLES = {"mnist": "MNIST (70,000 digits)", "fashion-mnist": "Fashion-MNIST (70,000 clothes)",
          "cifar10": "CIFAR-10 (60,000 colour photos)"}


class DataUnavailableError(RuntimeError):
    """The data set is not on this machine and could not be downloaded."""


@dataclass
class Progress:
    """A file on its way, as everyone waiting for it sees it."""

    file: str
    done: int = 0
    total: int | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)


_in_flight: dict[Path, Progress] = {}
_in_flight_lock = threading.Lock()


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


def download(urls: list[str], path: Path, md5: str, *, size: int | None = None,
             progress: Callable[[Progress], None] | None = None) -> Path:
    """Fetch ``path`` from the first of ``urls`` that answers, checking its MD5; with its
    published ``size``, the download is bounded in bytes and time. When another thread is
    fetching the same file, wait for it instead, calling ``progress`` with its progress."""
    with _in_flight_lock:
        if path.is_file():
            return path
        state = _in_flight.get(path)
        mine = state is None
        if mine:
            state = _in_flight[path] = Progress(path.name)
    if not mine:
        while not state.finished.wait(0.5):
            if progress:
                progress(state)
        if state.error:
            raise DataUnavailableError(state.error)
        return path

    def arrived(done: int, total: int | None) -> None:
        state.done, state.total = done, total
        if progress:
            progress(state)

    bounds = {} if size is None else {"max_bytes": int(size * SIZE_MARGIN),
                                      "deadline_s": GRACE_S + size / MIN_BYTES_PER_SECOND}
    errors = []
    try:
        for url in urls:
            try:
                return fetch(url, path, timeout_s=TIMEOUT_S, expected=md5, hash_name="md5",
                             progress=arrived, **bounds)
            except DownloadError as err:
                errors.append(str(err))
        state.error = (
            f"{path.name} is not in the data folder ({path.parent}) and could not be "
            f"downloaded ({'; '.join(errors)}). The full data sets need a network connection "
            "once; the offline MNIST subset works without one.")
        raise DataUnavailableError(state.error)
    finally:
        with _in_flight_lock:
            del _in_flight[path]
        state.finished.set()


def _raw_folder(name: str, root: Path) -> Path:
    """Where the downloaded files of data set ``name`` go."""
    cls = DATASETS[name]
    return root if cls is datasets.CIFAR10 else root / cls.__name__ / "raw"


def fetch_files(name: str, root: Path | None = None,
                progress: Callable[[Progress], None] | None = None) -> None:
    """Put the files torchvision reads for data set ``name`` under ``root`` (the data folder
    by default), downloading what is missing; ``progress`` hears how each download goes,
    whether this call or another thread's is fetching it. Each file is unpacked beside its
    place and moved there whole."""
    root = Path(root or data_dir())
    cls = DATASETS[name]
    sizes = PUBLISHED_BYTES[name]
    if cls is datasets.CIFAR10:
        if (root / cls.base_folder).is_dir():
            return
        (urls, file, md5), = _sources(cls)
        archive = download(urls, root / file, md5, size=sizes.get(file), progress=progress)
        remove_stale_partials(root / cls.base_folder)
        with tempfile.TemporaryDirectory(dir=root, prefix=f"{cls.base_folder}.{os.getpid()}.",
                                         suffix=".partial") as unpacked, \
                tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
            os.replace(Path(unpacked) / cls.base_folder, root / cls.base_folder)
        return
    raw = _raw_folder(name, root)
    for urls, file, md5 in _sources(cls):
        unpacked = raw / file.removesuffix(".gz")
        if not unpacked.is_file():
            packed = download(urls, raw / file, md5, size=sizes.get(file), progress=progress)
            remove_stale_partials(unpacked)
            with gzip.open(packed) as src, tempfile.NamedTemporaryFile(
                    dir=raw, prefix=f"{unpacked.name}.{os.getpid()}.", suffix=".partial",
                    delete=False) as dst:
                shutil.copyfileobj(src, dst)
            os.replace(dst.name, unpacked)


def load(name: str, *, validation: float = 0.1, seed: int = 0, root: Path | None = None,
         progress: Callable[[Progress], None] | None = None) -> Split:
    """The data set ``name`` (a key of :data:`DATASETS`): its own test set, and its training
    set split into training and a stratified, seeded validation part. Images stay uint8,
    (N, 28, 28) or (N, 32, 32, 3). ``progress`` hears how each download goes."""
    cls = DATASETS[name]
    root = Path(root or data_dir())
    fetch_files(name, root, progress)
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
