"""Weight files a careless or hostile class uploads (issue 21), and a runner that loads one in a
fresh process under a memory limit and reports what happened, its peak memory and its time.

``tests/test_hostile_weights.py`` runs every case under a limit, so a regression fails instead
of swapping; ``bench/bench_hostile_weights.py`` prints the table for the closing note.

    python tests/hostile_weights.py CASE [CASE …] [--limit-mb 600]

prints a JSON line per case: ``outcome`` ("refused" with the app's ``message``, "loaded",
"crashed" after loading, "out of memory", or how the process ended), ``seconds`` of the load,
``peak_mb`` (the process's peak resident memory during the load, above what it held before).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import subprocess
import sys
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ making the files
def npz(arrays: dict, compressed: bool = True) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def torch_file(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def scratch_arrays(channels=(8, 16), *, in_channels=1, classes=10, side=7, value=0.01,
                   dtype=np.float32) -> dict[str, np.ndarray]:
    """The NumPy network's state as its ``.npz`` names it, filled with ``value``."""
    arrays, c_in = {}, in_channels
    for i, c in enumerate(channels, start=1):
        arrays[f"conv{i}.W"] = np.full((c, c_in, 3, 3), value, dtype)
        arrays[f"conv{i}.b"] = np.zeros(c, dtype)
        c_in = c
    arrays["dense.W"] = np.full((c_in * side * side, classes), value, dtype)
    arrays["dense.b"] = np.zeros(classes, dtype)
    return arrays


def twin_state(channels=(8, 16), *, expand: bool = False, classes=10) -> dict:
    """The PyTorch twin's state dict; ``expand``: every tensor a stride-0 view of one number
    (torch.save keeps views, so 1,000 channels fit in a few kilobytes)."""
    import torch

    def tensor(*shape):
        return torch.zeros(1).expand(*shape) if expand else torch.full(shape, 0.01)

    state, c_in = OrderedDict(), 1
    for i, c in enumerate(channels, start=1):
        state[f"conv{i}.weight"], state[f"conv{i}.bias"] = tensor(c, c_in, 3, 3), tensor(c)
        c_in = c
    state["dense.weight"], state["dense.bias"] = tensor(classes, c_in * 49), tensor(classes)
    return state


class _Storage:
    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles as torch's own tensor record does, over a storage of any claimed size."""

    def __init__(self, storage: _Storage, size: tuple):
        self.storage, self.size = storage, size

    def __reduce__(self):
        import torch

        stride = tuple(int(np.prod(self.size[i + 1:])) for i in range(len(self.size)))
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, stride, False, OrderedDict()))


def deflated_pt(names, megabytes: int) -> bytes:
    """A torch.save-style archive whose tensors ``names`` share one record of ``megabytes`` of
    zeros, deflated (torch.save never compresses; its reader decompresses all the same)."""
    import torch

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return None

    numel = megabytes * 2**20 // 4
    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(
        {name: _Tensor(_Storage("0", numel), (numel,)) for name in names})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/byteorder", b"little")
        archive.writestr("archive/version", b"3\n")
        archive.writestr("archive/data/0", bytes(numel * 4))
    return out.getvalue()


class _NotWeights:
    pass


def _with(arrays: dict, **changes) -> dict:
    return {**arrays, **changes}


def _nan() -> dict:
    arrays = scratch_arrays()
    arrays["conv2.W"][0, 0, 0, 0] = np.nan
    return arrays


def _inf_twin() -> dict:
    state = twin_state()
    state["dense.weight"][3, 5] = float("inf")
    return state


def _fine_tuned_classes(count: int) -> bytes:
    """A checkpoint in the transfer page's format for EfficientNet-Lite0 with ``count``
    classes, every tensor a stride-0 view of the shape that network needs: a few megabytes
    (the class names) that ask for a head of ``count`` × 256 weights."""
    import torch

    from cnnviz import models
    from cnnviz.train.transfer import network
    from cnnviz.train.transfer.fine_tuned import FORMAT

    shapes = {k: (v.shape, v.dtype) for k, v in network.build(models.load_model(), 2)
              .state_dict().items()}
    shapes["head.3.weight"] = (torch.Size((count, 256)), torch.float32)
    shapes["head.3.bias"] = (torch.Size((count,)), torch.float32)
    state = {k: torch.zeros((), dtype=dtype).expand(shape) for k, (shape, dtype) in shapes.items()}
    return torch_file({"format": FORMAT, "backbone": "efficientnet_lite0",
                       "classes": [f"c{i}" for i in range(count)], "state_dict": state})


def _fine_tuned_nan() -> bytes:
    import torch

    from cnnviz import models
    from cnnviz.train.transfer import network
    from cnnviz.train.transfer.fine_tuned import save

    net = network.build(models.load_model(), 3)
    with torch.no_grad():
        net.head[3].weight[0, 0] = float("nan")
    return save(net, "efficientnet_lite0", ["a", "b", "c"])


# name -> (which loader, how to make the file). The first three are the issue's own.
CASES = {
    "npz zeros claiming 3000 channels": ("numpy", lambda: npz(scratch_arrays(
        (3000, 3000), value=0))),
    "pt of stride-0 tensors, 1000 channels": ("twin", lambda: torch_file(twin_state(
        (1000, 1000), expand=True))),
    "npz random, channels (256, 512)": ("numpy", lambda: npz(
        {k: np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)
         for k, v in scratch_arrays((256, 512)).items()}, compressed=False)),
    "npz for 3-channel images": ("numpy", lambda: npz(scratch_arrays(in_channels=3))),
    "npz with 20 classes": ("numpy", lambda: npz(scratch_arrays(classes=20))),
    "npz with 5 classes": ("numpy", lambda: npz(scratch_arrays(classes=5))),
    "npz with an extra conv layer": ("numpy", lambda: npz(scratch_arrays((8, 16, 32), side=3))),
    "npz with 0 channels": ("numpy", lambda: npz(scratch_arrays((0, 16)))),
    "npz with a string array": ("numpy", lambda: npz(_with(
        scratch_arrays(), **{"conv1.W": np.full((8, 1, 3, 3), "w")}))),
    "npz with a NaN": ("numpy", lambda: npz(_nan())),
    "npz of pickled objects": ("numpy", lambda: npz(_with(
        scratch_arrays(), **{"conv1.W": np.array([_NotWeights()] * 72).reshape(8, 1, 3, 3)}))),
    "random bytes as npz": ("numpy", lambda: np.random.default_rng(1).bytes(4000)),
    "empty npz file": ("numpy", lambda: b""),
    "empty pt file": ("twin", lambda: b""),
    "pt holding an empty dict": ("twin", lambda: torch_file({})),
    "random bytes as pt": ("twin", lambda: np.random.default_rng(2).bytes(4000)),
    "pt of a pickled object": ("twin", lambda: torch_file(_NotWeights())),
    "pt for 20 classes": ("twin", lambda: torch_file(twin_state(classes=20))),
    "pt with an infinity": ("twin", lambda: torch_file(_inf_twin())),
    "pt with a 1 GB deflated record": ("twin", lambda: deflated_pt(twin_state(), 1024)),
    "pt of stride-0 tensors for MNISTConvNet": ("mnistconvnet", lambda: torch_file(
        {"features.0.weight": __import__("torch").zeros(1).expand(4000, 1, 3, 3)})),
    "fine-tuned with a million classes": ("fine-tuned", lambda: _fine_tuned_classes(10**6)),
    "fine-tuned with 100,000 classes": ("fine-tuned", lambda: _fine_tuned_classes(100_000)),
    "fine-tuned with a NaN": ("fine-tuned", _fine_tuned_nan),
    "random bytes as a fine-tuned model": ("fine-tuned", lambda: np.random.default_rng(3)
                                           .bytes(4000)),
    "fine-tuned pickled object": ("fine-tuned", lambda: torch_file(_NotWeights())),
}


# ------------------------------------------------------------------ loading one, measured
def _status(field: str) -> int:
    """A field of /proc/self/status in MiB (VmHWM, the peak resident memory; VmData)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


def _load(target: str, data: bytes):
    """What the page does with an upload, then what it draws next from the result."""
    if target == "fine-tuned":
        from cnnviz import images
        from cnnviz.train.transfer import fine_tuned

        try:
            bundle = fine_tuned.load(data, "upload.pt")
        except fine_tuned.CheckpointError as err:
            return "refused", str(err), None
        return "loaded", None, lambda: bundle.classify(
            images.load_image(next(iter(images.sample_images().values()))))
    from cnnviz import train
    from cnnviz.train.loop import predict
    from cnnviz.train.scratch import networks, weights_io

    split = train.mnist_split(seed=0)
    prepare = train.Standardise.fit(split.train.images)
    try:
        learner = networks.learner_from_file(data, networks.Recipe(target), prepare)
    except weights_io.WeightsFileError as err:
        return "refused", str(err), None
    return "loaded", None, lambda: predict(learner, split.test.images)  # the Results tab


def run_cases(names: list[str], limit_mb: int):
    """Load each case in this process, one after another, with at most ``limit_mb`` more
    memory than the process holds once the files are made; yields one result per case."""
    import torch  # noqa: F401  (imported before the baseline: every page has it)

    import cnnviz.train.scratch.networks  # noqa: F401
    import cnnviz.train.transfer.fine_tuned  # noqa: F401

    files = {name: CASES[name][1]() for name in names}
    if any(CASES[name][0] == "fine-tuned" for name in names):
        from cnnviz import models

        models.load_model()  # the page has the offline model loaded already
    data_mb = _status("VmData")
    resource.setrlimit(resource.RLIMIT_DATA, ((data_mb + limit_mb) << 20,) * 2)
    for name in names:
        target, data = CASES[name][0], files.pop(name)
        Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
        before = _status("VmRSS")
        start = time.perf_counter()
        result = {"case": name, "target": target, "file_bytes": len(data)}
        try:
            outcome, message, then = _load(target, data)
            result.update(outcome=outcome, message=message)
            if then is not None:
                try:
                    then()
                except MemoryError:
                    raise
                except Exception as err:  # what the page would show as a crash
                    result.update(outcome="crashed", message=f"{type(err).__name__}: {err}")
        except MemoryError as err:
            result.update(outcome="out of memory", message=str(err)[:200])
        except RuntimeError as err:  # torch's allocator says so with a RuntimeError
            if "alloc" not in str(err):
                raise
            result.update(outcome="out of memory", message=str(err)[:200])
        then = None
        result.update(seconds=round(time.perf_counter() - start, 2),
                      peak_mb=max(_status("VmHWM") - before, 0))
        yield result


def measure(names: list[str], *, limit_mb: int = 600, timeout: float = 120,
            root: Path = ROOT) -> dict[str, dict]:
    """``run_cases`` in a fresh Python process, with the app in the checkout ``root`` (another
    commit's, to compare): case name -> result. A case that kills the process or runs past
    ``timeout`` seconds gets that as its outcome, and the cases after it run in a new one."""
    results, names = {}, list(names)
    while names:
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *names,
                                   "--limit-mb", str(limit_mb)], cwd=root, capture_output=True,
                                  text=True, timeout=timeout,
                                  env={**os.environ, "PYTHONPATH": str(root)})
            stdout, failure = done.stdout, (f"process failed ({done.returncode}): "
                                            + " ".join(done.stderr.strip().splitlines()[-1:]))
        except subprocess.TimeoutExpired as err:
            stdout, failure = (err.stdout or b"").decode(), "timeout"
        for line in stdout.splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                results[result["case"]] = result
        names = [name for name in names if name not in results]
        if names:  # the first of them ended the process
            results[names[0]] = {"case": names[0], "outcome": failure, "message": "",
                                 "seconds": round(time.perf_counter() - start, 1)}
            names = names[1:]
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("cases", nargs="+", choices=list(CASES))
    parser.add_argument("--limit-mb", type=int, default=600)
    args = parser.parse_args()
    for outcome in run_cases(args.cases, args.limit_mb):
        print(json.dumps(outcome), flush=True)
