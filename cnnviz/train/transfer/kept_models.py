"""Finished fine-tuned models kept on this server's disk for the student who trained them, so
that minutes of training survive a server restart or a closed tab.

Each is kept under a random key (:func:`new_key`) that only that student's link carries, as
the file :func:`cnnviz.train.transfer.fine_tuned.save` writes (read back through
``fine_tuned.load``, with every check an upload gets) beside a line of JSON with its label.
The store is bounded: at most ``PER_KEY`` models per key, at most ``max_bytes`` in all (the
oldest go first) and none older than ``max_age_s``; each is in a folder of its own, written
under a temporary name and renamed, so a half-written model is never offered.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cnnviz.settings import mebibytes

KEY = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
PER_KEY = 3  # as many as a session's model list holds
MAX_AGE_S = 8 * 3600  # a school day
MODEL_FILE, LABEL_FILE = "model.pt", "label.json"


def new_key() -> str:
    return secrets.token_urlsafe(16)


def is_key(text: str) -> bool:
    return bool(KEY.fullmatch(text))


@dataclass(frozen=True)
class Kept:
    folder: Path
    label: str
    saved: float  # time.time() when it was kept

    def data(self) -> bytes:
        return (self.folder / MODEL_FILE).read_bytes()


class ModelStore:
    def __init__(self, folder: Path, *, max_bytes: int, max_age_s: float = MAX_AGE_S):
        self.folder, self.max_bytes, self.max_age_s = Path(folder), max_bytes, max_age_s

    def keep(self, key: str, data: bytes, label: str) -> Kept:
        """Keep ``data`` (a saved fine-tuned model) under ``key``; older ones make way."""
        if not is_key(key):
            raise ValueError("not a key of this store")
        home = self.folder / key
        home.mkdir(parents=True, exist_ok=True)
        saved = time.time()
        staging = Path(tempfile.mkdtemp(dir=home, prefix=".partial-"))
        (staging / MODEL_FILE).write_bytes(data)
        (staging / LABEL_FILE).write_text(json.dumps({"label": label, "saved": saved}))
        place = home / f"{saved:.6f}"
        os.replace(staging, place)
        for old in self.kept(key)[PER_KEY:]:
            shutil.rmtree(old.folder, ignore_errors=True)
        self._bound()
        return Kept(place, label, saved)

    def kept(self, key: str) -> list[Kept]:
        """The models kept under ``key``, newest first (expired ones are removed)."""
        if not is_key(key) or not (self.folder / key).is_dir():
            return []
        found = []
        for place in (self.folder / key).iterdir():
            if place.name.startswith(".partial-"):  # being written, or left by a killed one
                if time.time() - place.stat().st_mtime > 3600:
                    shutil.rmtree(place, ignore_errors=True)
                continue
            try:
                meta = json.loads((place / LABEL_FILE).read_text())
                found.append(Kept(place, str(meta["label"]), float(meta["saved"])))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a staging folder, or one being removed
        fresh = [k for k in found if time.time() - k.saved <= self.max_age_s]
        for old in set(found) - set(fresh):
            shutil.rmtree(old.folder, ignore_errors=True)
        return sorted(fresh, key=lambda k: -k.saved)

    def _bound(self) -> None:
        """Remove expired models, then the oldest until the store fits ``max_bytes``."""
        everything = [k for key in (p.name for p in self.folder.iterdir() if is_key(p.name))
                      for k in self.kept(key)]
        sizes = {k: sum(f.stat().st_size for f in k.folder.iterdir()) for k in everything}
        total = sum(sizes.values())
        for old in sorted(everything, key=lambda k: k.saved):
            if total <= self.max_bytes:
                break
            shutil.rmtree(old.folder, ignore_errors=True)
            total -= sizes[old]


def default_store() -> ModelStore:
    """The server's store: ``CNNVIZ_KEPT_MODELS_DIR`` (default ``~/.cache/cnnviz/kept-models``),
    at most ``CNNVIZ_KEPT_MODELS_MB`` (default 1024 MiB, about 70 EfficientNet-Lite0 models)."""
    folder = os.environ.get("CNNVIZ_KEPT_MODELS_DIR") or Path.home() / ".cache" / "cnnviz" / \
        "kept-models"
    return ModelStore(Path(folder), max_bytes=mebibytes(
        "CNNVIZ_KEPT_MODELS_MB", 1024, "the disk that finished fine-tuned models may take"))
