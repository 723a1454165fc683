"""ops.conv2d and its backward against PyTorch's CPU convolution and against the chapter's
loop implementation, on the chapter's MNIST network layers (batch 64, 28×28, 3×3, padding 1).

Everything is float64 and measured in this one process; each time is the median of several
runs after a warm-up, ours alternating with PyTorch's so that both see the same load.
Targets: within 3× of PyTorch, at least 30× faster than the loops.

    python bench/bench_ops.py [--threads N]

Both libraries get the same number of threads, 1 unless --threads says otherwise: on a busy
2-core machine a multi-threaded BLAS spin-waits for its threads, and the comparison would then
measure the machine's load rather than the code.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--threads", type=int, default=1, help="threads for NumPy and torch")
THREADS = _parser.parse_args().threads
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(THREADS)  # read by the BLAS libraries when they load, below

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cnnviz import ops  # noqa: E402
from cnnviz.ops import loops  # noqa: E402

LAYERS = [(1, 8), (8, 16)]  # (in channels, out channels) of the chapter's two conv layers
BATCH, SIZE, KERNEL, PADDING = 64, 28, 3, 1


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired_times(first, second, repeats: int, min_time: float = 1.0):
    """Median times of two functions, run alternately so that load from other processes on a
    shared machine falls on both alike; at least ``repeats`` pairs and ``min_time`` seconds."""
    first(), second()
    times, start = ([], []), time.perf_counter()
    while len(times[0]) < repeats or time.perf_counter() - start < min_time:
        times[0].append(timed(first))
        times[1].append(timed(second))
    return statistics.median(times[0]), statistics.median(times[1])


def layer_passes(c_in: int, c_out: int, rng) -> dict:
    """For one layer: pass name -> (ours, PyTorch's, the chapter's loops), ready to call."""
    x = rng.normal(size=(BATCH, c_in, SIZE, SIZE))
    w = rng.normal(size=(c_out, c_in, KERNEL, KERNEL))
    b = rng.normal(size=c_out)
    dy = rng.normal(size=(BATCH, c_out, SIZE, SIZE))
    xt, wt, bt, dyt = (torch.from_numpy(a) for a in (x, w, b, dy))
    pad = [PADDING, PADDING]
    return {
        "forward": (
            lambda: ops.conv2d(x, w, b, padding=PADDING),
            lambda: torch.nn.functional.conv2d(xt, wt, bt, padding=PADDING),
            lambda: loops.conv2d(x, w, b, padding=PADDING)),
        # The backward alone, through the aten op that autograd itself calls.
        "backward": (
            lambda: ops.conv2d_backward(dy, x, w, padding=PADDING),
            lambda: torch.ops.aten.convolution_backward(
                dyt, xt, wt, [c_out], [1, 1], pad, [1, 1], False, [0, 0], 1, [True] * 3),
            lambda: loops.conv2d_backward(dy, x, w, padding=PADDING)),
    }


def main() -> None:
    torch.set_num_threads(THREADS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(f"batch {BATCH}, {SIZE}×{SIZE}, {KERNEL}×{KERNEL}, padding {PADDING}, float64\n")
    print(f"{'layer':>8} {'pass':>9} {'ops ms':>9} {'torch ms':>9} {'loops ms':>9} "
          f"{'ops/torch':>10} {'loops/ops':>10}")
    rng = np.random.default_rng(0)
    for c_in, c_out in LAYERS:
        for name, (ours, theirs, chapter) in layer_passes(c_in, c_out, rng).items():
            t_ops, t_torch = paired_times(ours, theirs, 30)
            # The loops take a second or two a run: a few runs, against the median above.
            t_loops = statistics.median(timed(chapter) for _ in range(3))
            print(f"{c_in:>3}→{c_out:<4} {name:>9} {t_ops * 1e3:9.2f} {t_torch * 1e3:9.2f} "
                  f"{t_loops * 1e3:9.1f} {t_ops / t_torch:9.2f}× {t_loops / t_ops:9.1f}×")


if __name__ == "__main__":
    main()
