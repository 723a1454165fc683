"""Fetching a file over the network without ever hanging a page: short timeouts on every
connect and read, optionally a deadline for the whole download and a cap on its size (a server
that trickles or never ends is cut off), an optional hash check, and an atomic move into
place, so a broken or half-finished download is never mistaken for the real file. The bytes
arrive in ``<name>.<process id>.<random>.partial`` beside the file, removed on every failure;
a partial file left by a process that was killed is removed by the next download of the file.

Used for torchvision's weights (``cnnviz.models``) and for data sets (``cnnviz.train``). Every
way a network can fail (no route, refused, a timeout, a reply that is not HTTP, a truncated
body, a wrong hash) becomes one ``DownloadError`` whose message a person can read.
"""

import glob
import hashlib
import http.client
import os
import shutil
import tempfile
import time
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
          progress: Callable[[int, int | None], None] | None = None,
          max_bytes: int | None = None, deadline_s: float | None = None) -> Path:
    """Download ``source`` to ``path`` (its folder is created) and return ``path``.

    The bytes go to a partial file beside ``path`` and replace it only when complete and,
    with ``expected``, when their digest (``hash_name``: torchvision names weight files after
    a SHA-256 prefix and lists data sets' MD5s) starts with it. ``progress(done, total)`` is
    called after each chunk (``total`` is None when the server does not say). A download
    longer than ``deadline_s`` seconds (checked between reads, each of which may wait
    ``timeout_s``) or larger than ``max_bytes`` stops with a ``DownloadError``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.",
                                      suffix=".partial", delete=False)
    start = time.monotonic()
    try:
        digest, done = hashlib.new(hash_name), 0
        with tmp, urllib.request.urlopen(source, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if max_bytes is not None and total is not None and total > max_bytes:
                raise DownloadError(f"the server offers {total:,} bytes, but the file has at "
                                    f"most {max_bytes:,}")
            while chunk := response.read1(CHUNK):  # what has arrived, not a whole CHUNK
                tmp.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if max_bytes is not None and done > max_bytes:
                    raise DownloadError(f"more than {max_bytes:,} bytes arrived, and the file "
                                        f"has at most that")
                if deadline_s is not None and time.monotonic() - start > deadline_s:
                    raise DownloadError(f"only {done:,} bytes arrived in {deadline_s:,.0f} s; "
                                        f"the connection is too slow")
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


def remove_stale_partials(path: Path) -> None:
    """Remove the partial files (or folders) of ``path`` left by processes that no longer run
    (killed in the middle of a download or an unpacking); those of running processes may still
    be growing."""
    for partial in Path(path).parent.glob(f"{glob.escape(Path(path).name)}.*.partial"):
        pid = partial.name[len(Path(path).name) + 1:].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
