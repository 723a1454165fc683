"""The full data sets: downloaded once with timeouts and checksums (here from a loopback file
server serving files in the real formats), read by torchvision, and a clear error offline; a
mirror that trickles or never ends is cut off with nothing partial left, and two students who
ask at once share one download."""

import gzip
import hashlib
import io
import os
import pickle
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest
from torchvision import datasets

from cnnviz import images, train
from cnnviz.train import torchvision_data
from tests.test_models import FileServer


def idx(array: np.ndarray) -> bytes:
    """The IDX format of LeCun's MNIST files: magic (0, 0, type 0x08 = uint8, dimensions),
    then each dimension as a big-endian int32, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def mnist_files(monkeypatch):
    """Real digits (the offline subset) in MNIST's own file format, with their MD5s in place
    of torchvision's (which belong to the full files)."""
    split = train.mnist_split(seed=0)
    rest = np.concatenate([split.train.images, split.validation.images])
    rest_labels = np.concatenate([split.train.labels, split.validation.labels])
    files = {"train-images-idx3-ubyte.gz": idx(rest),
             "train-labels-idx1-ubyte.gz": idx(rest_labels),
             "t10k-images-idx3-ubyte.gz": idx(split.test.images),
             "t10k-labels-idx1-ubyte.gz": idx(split.test.labels)}
    monkeypatch.setattr(datasets.MNIST, "resources",
                        [(name, hashlib.md5(body).hexdigest()) for name, body in files.items()])
    return files, split


def test_mnist_downloads_once_checks_md5_and_splits(data_dir, mnist_files, monkeypatch):
    files, subset = mnist_files
    server = FileServer(files)
    monkeypatch.setenv("CNNVIZ_DATA_MIRROR", server.url)
    try:
        split = torchvision_data.load("mnist", seed=2)
    finally:
        server.close()
    assert sorted(server.requests) == sorted(files)
    np.testing.assert_array_equal(split.test.images, subset.test.images)
    np.testing.assert_array_equal(split.test.labels, subset.test.labels)
    assert len(split.train) + len(split.validation) == 4000
    assert split.validation.counts().tolist() == [40] * 10  # stratified, 10 %
    assert split.train.classes[0] == "0 - zero"  # torchvision's class names
    again = torchvision_data.load("mnist", seed=2)  # from the data folder, no server needed
    np.testing.assert_array_equal(again.validation.images, split.validation.images)


def test_a_corrupt_download_is_refused_and_not_kept(data_dir, mnist_files, monkeypatch):
    files, _ = mnist_files
    damaged = dict(files, **{"t10k-labels-idx1-ubyte.gz": b"not the labels"})
    server = FileServer(damaged)
    monkeypatch.setenv("CNNVIZ_DATA_MIRROR", server.url)
    try:
        with pytest.raises(torchvision_data.DataUnavailableError, match="corrupt file"):
            torchvision_data.load("mnist")
    finally:
        server.close()
    assert not list(data_dir.rglob("t10k-labels*")) and not list(data_dir.rglob("*.partial"))


@pytest.mark.parametrize("name", list(torchvision_data.DATASETS))
def test_without_a_network_the_message_says_what_still_works(data_dir, monkeypatch, name):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CNNVIZ_DATA_MIRROR", f"http://127.0.0.1:{port}/data")
    with pytest.raises(torchvision_data.DataUnavailableError,
                       match="could not be downloaded.*offline MNIST subset works"):
        torchvision_data.load(name)


def serve_cifar10(monkeypatch, train_labels: list[int], test_labels: list[int]):
    """A CIFAR-10 archive in the real layout (pickled batches of 3072-byte rows, R then G then
    B planes), made from small real photographs with these labels (the training ones in five
    batches), served from loopback as ``CNNVIZ_DATA_MIRROR``, with torchvision's checksums
    replaced by its own. Returns the server (close it) and the archive's members."""
    rng = np.random.default_rng(0)
    photos = [np.asarray(images.load_image(p).resize((32, 32)))
              for p in images.sample_images().values()]
    names = [f"class{i}" for i in range(10)]

    def batch(labels):
        pick = rng.integers(0, len(photos), len(labels))
        data = np.stack([photos[i].transpose(2, 0, 1).reshape(-1) for i in pick])
        return pickle.dumps({"data": data, "labels": [int(i) for i in labels]})

    members = {f"data_batch_{i + 1}": batch(part)
               for i, part in enumerate(np.array_split(train_labels, 5))}
    members["test_batch"] = batch(test_labels)
    members["batches.meta"] = pickle.dumps({"label_names": names})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    archive = buffer.getvalue()
    md5 = {name: hashlib.md5(body).hexdigest() for name, body in members.items()}
    monkeypatch.setattr(datasets.CIFAR10, "tgz_md5", hashlib.md5(archive).hexdigest())
    monkeypatch.setattr(datasets.CIFAR10, "train_list",
                        [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                                   "md5": md5["batches.meta"]})
    server = FileServer({"cifar-10-python.tar.gz": archive})
    monkeypatch.setenv("CNNVIZ_DATA_MIRROR", server.url)
    return server, members


def test_cifar10_archive_is_unpacked_and_read_by_torchvision(data_dir, monkeypatch):
    server, members = serve_cifar10(monkeypatch, [i % 10 for i in range(100)],
                                    [i % 10 for i in range(20)])
    try:
        split = torchvision_data.load("cifar10", validation=0.2)
    finally:
        server.close()
    assert split.test.images.shape == (20, 32, 32, 3) and split.test.images.dtype == np.uint8
    assert len(split.train) + len(split.validation) == 100
    assert split.train.classes[0] == "class0"
    first = pickle.loads(members["test_batch"])["data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(split.test.images[0], first)


# ------------------------------------------------------------------ hostile or careless mirrors
def trickle(body: bytes, chunk: int = 1024, every: float = 0.5):
    """A mirror that answers in valid HTTP with the whole length, then sends ``chunk`` bytes
    every ``every`` seconds (the issue's: 1 KB every 5 s)."""

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for start in range(0, len(body), chunk):
            try:
                handler.wfile.write(body[start:start + chunk])
                handler.wfile.flush()
            except OSError:  # the client gave up
                return
            time.sleep(every)

    return answer


def endless(handler, offered: int | None = None):
    """A mirror whose file never ends (and says nothing of its length, or ``offered``)."""
    handler.send_response(200)
    if offered is not None:
        handler.send_header("Content-Length", str(offered))
    handler.end_headers()
    block = bytes(1 << 16)
    while True:
        try:
            handler.wfile.write(block)
        except OSError:
            return


def partials(folder) -> list:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


@pytest.fixture
def mirror(monkeypatch):
    """``mirror(files)``: a loopback server as ``CNNVIZ_DATA_MIRROR``, closed after the test."""
    servers = []

    def start(files):
        servers.append(FileServer(files))
        monkeypatch.setenv("CNNVIZ_DATA_MIRROR", servers[-1].url)
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_mirror_that_trickles_is_cut_off_at_the_deadline(data_dir, mnist_files, mirror,
                                                          monkeypatch):
    files, _ = mnist_files
    monkeypatch.setattr(torchvision_data, "GRACE_S", 2.0)  # and no rate to add time for
    monkeypatch.setattr(torchvision_data, "MIN_BYTES_PER_SECOND", 1e12)
    mirror({**files, "train-images-idx3-ubyte.gz": trickle(files["train-images-idx3-ubyte.gz"])})
    start = time.monotonic()
    with pytest.raises(torchvision_data.DataUnavailableError, match="arrived in 2 s; the "
                                                                    "connection is too slow"):
        torchvision_data.load("mnist")
    assert time.monotonic() - start < 2 + 1 + 5  # the deadline, a trickle, slack for a CPU
    assert partials(data_dir) == []


@pytest.mark.parametrize("offered", [None, 10 ** 10])
def test_a_mirror_that_never_ends_is_cut_off_at_the_size_cap(data_dir, mnist_files, mirror,
                                                             offered):
    files, _ = mnist_files
    cap = int(torchvision_data.PUBLISHED_BYTES["mnist"]["train-images-idx3-ubyte.gz"]
              * torchvision_data.SIZE_MARGIN)
    mirror({**files, "train-images-idx3-ubyte.gz": lambda h: endless(h, offered)})
    said = (f"more than {cap:,} bytes arrived" if offered is None else
            f"the server offers {offered:,} bytes, but the file has at most {cap:,}")
    with pytest.raises(torchvision_data.DataUnavailableError, match=said):
        torchvision_data.load("mnist")
    assert partials(data_dir) == []


def test_a_download_killed_half_way_leaves_nothing_behind(data_dir, mnist_files, mirror):
    """A server process killed during a download cannot clean up: the next download of the
    file removes what it left."""
    files, subset = mnist_files
    server = mirror({**files, "train-images-idx3-ubyte.gz": trickle(
        files["train-images-idx3-ubyte.gz"])})
    child = subprocess.Popen(
        [sys.executable, "-c", "from cnnviz.train import torchvision_data as t; t.load('mnist')"],
        env={**os.environ, "CNNVIZ_DATA_DIR": str(data_dir), "CNNVIZ_DATA_MIRROR": server.url},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not partials(data_dir):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert partials(data_dir)  # what a killed run leaves
    mirror(files)
    split = torchvision_data.load("mnist")
    np.testing.assert_array_equal(split.test.labels, subset.test.labels)
    assert partials(data_dir) == []


def test_two_students_asking_at_once_share_one_download_and_its_progress(data_dir, mnist_files,
                                                                          mirror):
    files, subset = mnist_files
    server = mirror({name: trickle(body, chunk=16 << 10, every=0.05)
                     for name, body in files.items()})
    heard = {"first": [], "second": []}
    splits = {}

    def student(who):
        splits[who] = torchvision_data.load(
            "mnist", progress=lambda s: heard[who].append((s.file, s.done, s.total)))

    first = threading.Thread(target=student, args=("first",))
    first.start()
    while not heard["first"]:
        time.sleep(0.01)
    second = threading.Thread(target=student, args=("second",))
    second.start()
    first.join(120)
    second.join(120)
    assert sorted(server.requests) == sorted(files)  # every file fetched once
    for split in splits.values():
        np.testing.assert_array_equal(split.test.images, subset.test.images)
    waited = [h for h in heard["second"] if h[0] == heard["first"][0][0]]
    assert waited, "the second student saw nothing of the download it waited for"
    assert {total for _, _, total in waited} == {len(files[heard["first"][0][0]])}
    assert all(0 < done <= total for _, done, total in waited)
