"""Fetching a file over the network without ever hanging a page: short timeouts on every
connect and read, an optional SHA-256 check, and an atomic move into place, so a broken or
half-finished download is never mistaken for the real file.

Used for torchvision's weights (``cnnviz.models``) and for data sets (``cnnviz.train``). Every
way a network can fail (no route, refused, a timeout, a reply that is not HTTP, a truncated
body, a wrong hash) becomes one ``DownloadError`` whose message a person can read.
"""

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

TIMEOUT_S = 5.0  # per connect / read: an offline machine must not hang the page
CHUNK = 1 << 20


class DownloadError(OSError):
    """The file could not be fetched; the message says why, for a person."""


def fetch(source: str, path: Path, *, timeout_s: float = TIMEOUT_S,
          expected: str | None = None, hash_name: str = "sha256",
          progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download ``source`` to ``path`` (its folder is created) and return ``path``.

    The bytes go to a temporary file beside ``path`` and replace it only when complete and,
    with ``expected``, when their digest (``hash_name``: torchvision names weight files after
    a SHA-256 prefix and lists data sets' MD5s) starts with it. ``progress(done, total)`` is
    called after each chunk (``total`` is None when the server does not say).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".partial", delete=False)
    try:
        digest, done = hashlib.new(hash_name), 0
        with tmp, urllib.request.urlopen(source, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while chunk := response.read(CHUNK):
                tmp.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise DownloadError(f"the connection closed after {done:,} of {total:,} bytes")
        if expected and not digest.hexdigest().startswith(expected):
            raise DownloadError(f"a corrupt file arrived: its {hash_name.upper()} is "
                                f"{digest.hexdigest()}, not {expected}")
        os.replace(tmp.name, path)
    except DownloadError as err:
        raise DownloadError(f"{path.name} from {source}: {err}") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err or type(err).__name__
        raise DownloadError(f"{path.name} could not be downloaded from {source}: "
                            f"{reason}") from err
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return path
