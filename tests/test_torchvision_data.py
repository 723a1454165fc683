"""The full data sets: downloaded once with timeouts and checksums (here from a loopback file
server serving files in the real formats), read by torchvision, and a clear error offline."""

import gzip
import hashlib
import io
import pickle
import socket
import tarfile

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
