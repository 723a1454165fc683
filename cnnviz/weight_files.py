"""Weights files from users, read so that the file cannot decide how much work the server does.

The caller says what it expects: every array's name and shape, from the network its page
builds. Everything is checked against that before anything of the file's own size is made:

- the file may be at most a small multiple of the bytes those arrays need
  (:func:`size_limit`), which bounds everything read after it (the zip's directory, a pickle,
  a tensor record);
- a NumPy ``.npz``: each member's unpacked size is read from the zip's directory and its
  ``.npy`` header (a few hundred bytes) gives the shape and type, before any array data is
  decompressed (:func:`read_npz`);
- a PyTorch ``.pt``: it must be the zip archive ``torch.save`` writes, with records stored
  uncompressed (so none unpacks to more than the file), and it is read with
  ``weights_only=True`` (tensors, numbers, strings and containers; no code runs). A tensor may
  be a view that claims any shape over one number (stride 0): :func:`check_tensors` compares
  shapes before anything reads its values.

Values must be finite (:func:`check_finite`): a NaN weight makes every answer NaN.
A file that fails is refused with :class:`WeightsFileError`, whose message says what was
expected and what was found, in words of this app: never the loader's own advice, which
tells a user how to load an untrusted file unsafely.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from typing import Mapping

import numpy as np
import torch

from cnnviz.formatting import shape_text

FLOAT_TYPES = (np.float32, np.float64)
MAX_PICKLE_BYTES = 4 << 20  # a fine-tuned model's pickle with thousands of class names: ~0.1 MB
NOT_OURS = "It is not a weights file of this app"


class WeightsFileError(ValueError):
    """A file that is not, or does not fit, the weights the page expects; ``found`` holds the
    file's array shapes by name when they were read (a caller may say what network they
    describe)."""

    def __init__(self, message: str, found: Mapping[str, tuple] | None = None):
        super().__init__(message)
        self.found = found


def size_limit(expected: Mapping[str, tuple], *, itemsize: int = 8) -> int:
    """The most bytes a file holding ``expected`` arrays can reasonably take: their values
    (float64 at most), and per array a header, a zip entry and alignment."""
    values = sum(math.prod(shape) for shape in expected.values()) * itemsize
    return values + 1024 * len(expected) + (64 << 10)


def check_size(data: bytes, limit: int, what: str) -> None:
    if len(data) > limit:
        raise WeightsFileError(f"This file is {len(data):,} bytes, but the weights of {what} "
                               f"take at most {limit:,}: it holds a larger network (another "
                               f"one, or this one with other settings), or something else.")


def _archive(data: bytes, kind: str) -> zipfile.ZipFile:
    """``kind``: "NumPy weights file (.npz)" or "PyTorch weights file (.pt)"."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        why = "it is empty" if not data else "it is not the zip archive such a file is"
        raise WeightsFileError(f"This is not a {kind} of this app: {why}.") from None


def check_shapes(expected: Mapping[str, tuple], found: Mapping[str, tuple], what: str) -> None:
    """The same names with the same shapes, or a message naming the first difference."""
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    if missing or extra:
        parts = ([f"it lacks {_names(missing)}"] if missing else []) + (
            [f"it has {_names(extra)}, which the network has not"] if extra else [])
        raise WeightsFileError(f"This file does not fit {what}: {'; '.join(parts)}.", found)
    for key, needed in expected.items():
        if tuple(found[key]) != tuple(needed):
            raise WeightsFileError(f"This file does not fit {what}: its {key} has shape "
                                   f"{shape_text(found[key])} where the network needs "
                                   f"{shape_text(needed)}.", found)


def _names(keys: list) -> str:
    return ", ".join(str(k) for k in keys[:4]) + (f" and {len(keys) - 4} more"
                                                  if len(keys) > 4 else "")


# ------------------------------------------------------------------ NumPy
def npz_headers(data: bytes) -> dict[str, tuple[tuple, np.dtype, int]]:
    """name -> (shape, dtype, data bytes) of every array in a ``.npz``, from its zip
    directory and each ``.npy`` header: no array data is decompressed. Call it on data whose
    size was checked (:func:`check_size`), which bounds the directory."""
    archive = _archive(data, "NumPy weights file (.npz)")
    if any(name.endswith("data.pkl") for name in archive.namelist()):
        raise WeightsFileError("This is a PyTorch weights file (.pt), not a NumPy .npz: "
                               "choose a PyTorch network to load it.")
    found = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise WeightsFileError(f"This file holds {info.filename!r}, which is not a NumPy "
                                   f"array. {NOT_OURS}.")
        try:
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, _, dtype = read(member)
                header = member.tell()
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile,
                NotImplementedError, SyntaxError):
            raise WeightsFileError(f"{info.filename} in this file is not a NumPy array (or "
                                   f"is damaged). {NOT_OURS}.") from None
        found[info.filename.removesuffix(".npy")] = (tuple(shape), dtype,
                                                     info.file_size - header)
    return found


def read_npz(data: bytes, expected: Mapping[str, tuple], what: str) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` with exactly the names and shapes of ``expected`` (float32 or
    float64, finite); :class:`WeightsFileError` otherwise, before the data is decompressed."""
    check_size(data, size_limit(expected), what)
    headers = npz_headers(data)
    check_shapes(expected, {key: shape for key, (shape, _, _) in headers.items()}, what)
    for key, (shape, dtype, stored) in headers.items():
        if dtype.type not in FLOAT_TYPES:
            raise WeightsFileError(f"This file does not fit {what}: its {key} holds "
                                   f"{_dtype_words(dtype)}, not decimal numbers.")
        if stored != math.prod(shape) * dtype.itemsize:
            raise WeightsFileError(f"{key} in this file is damaged: its header says "
                                   f"{shape_text(shape)}, its data are {stored:,} bytes.")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in expected}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise WeightsFileError(f"This file is damaged: its arrays cannot be read. "
                               f"{NOT_OURS}.") from None
    check_finite(arrays, what)
    return arrays


def _dtype_words(dtype: np.dtype) -> str:
    if dtype.kind in "US":
        return "text"
    if dtype.kind == "O":
        return "Python objects"
    return f"{dtype.name} values"


# ------------------------------------------------------------------ PyTorch
def read_pt(data: bytes, limit: int, what: str):
    """What ``torch.save`` wrote into ``data``, read with ``weights_only=True`` from an archive
    of at most ``limit`` bytes whose records are stored, not compressed. Tensors may be views
    of any claimed shape: check them (:func:`check_tensors`) before reading their values."""
    check_size(data, limit, what)
    archive = _archive(data, "PyTorch weights file (.pt)")
    pickles = [info for info in archive.infolist() if info.filename.endswith("data.pkl")]
    if not pickles and archive.namelist() and all(
            name.endswith(".npy") for name in archive.namelist()):
        raise WeightsFileError("This is a NumPy weights file (.npz), not a PyTorch .pt: "
                               "choose the NumPy network to load it.")
    if len(pickles) != 1:
        raise WeightsFileError(f"This zip archive is not a PyTorch weights file (.pt, written "
                               f"by torch.save). {NOT_OURS}.")
    if pickles[0].file_size > MAX_PICKLE_BYTES or any(
            info.compress_type != zipfile.ZIP_STORED for info in archive.infolist()):
        raise WeightsFileError(f"This archive was not written by torch.save (its records are "
                               f"compressed, or its description is larger than any model's). "
                               f"{NOT_OURS}.")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise WeightsFileError(f"This file holds Python objects other than weights (tensors, "
                               f"numbers and names), which are not opened here. "
                               f"{NOT_OURS}.") from None
    except Exception:  # torch.load on damaged bytes raises many kinds (IndexError too)
        raise WeightsFileError(f"This PyTorch file is damaged or was not written by "
                               f"torch.save. {NOT_OURS}.") from None


def check_tensors(found, expected: Mapping[str, torch.Tensor], what: str) -> None:
    """``found`` is a dict of plain, dense tensors with exactly ``expected``'s names, shapes
    and kinds of number (decimal or whole). Reads no values, so a view that claims a huge
    shape costs nothing here."""
    if not isinstance(found, dict) or not all(
            isinstance(k, str) and type(v) in (torch.Tensor, torch.nn.Parameter)
            and v.layout == torch.strided for k, v in found.items()):
        raise WeightsFileError(f"This PyTorch file holds something other than a state dict "
                               f"(names with tensors). {NOT_OURS}.")
    check_shapes({k: tuple(v.shape) for k, v in expected.items()},
                 {k: tuple(v.shape) for k, v in found.items()}, what)
    for key, needed in expected.items():
        tensor = found[key]
        if tensor.dtype.is_floating_point != needed.dtype.is_floating_point or (
                tensor.dtype.is_complex or tensor.dtype == torch.bool):
            raise WeightsFileError(f"This file does not fit {what}: its {key} holds "
                                   f"{str(tensor.dtype).removeprefix('torch.')} values where "
                                   f"the network needs {str(needed.dtype).removeprefix('torch.')}.")


def check_finite(arrays: Mapping, what: str) -> None:
    """Every decimal value is a number: NaN or infinity would make every answer NaN."""
    for key, value in arrays.items():
        if isinstance(value, torch.Tensor):
            bad = value.is_floating_point() and not bool(torch.isfinite(value).all())
        else:
            bad = not bool(np.isfinite(value).all())
        if bad:
            raise WeightsFileError(f"This file's {key} holds NaN or infinite values: {what} "
                                   f"would answer NaN for every image. Train again, perhaps "
                                   f"with a lower learning rate, and save the weights anew.")
