"""Feature visualisation's speed and whether it works: a 128 × 128 image, 256 steps, for one
EfficientNet-Lite0 channel per chosen stage (the hierarchy's channel C/4), in seconds and as a
ratio to one forward + backward pass of Lite0 on a 128-pixel image measured in the same run
(the machine may be shared: the ratio survives the load better than the seconds); and each
channel's mean activation on its image over its highest on the bundled sample photos.
The goal (issue 23): at most 20 s on a 2-core CPU.

    python bench/bench_feature_vis.py [--threads 1 2] [--stages "stage 2" "stage 4" "stage 6"]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz import models  # noqa: E402
from cnnviz.insight import feature_vis, hierarchy  # noqa: E402


def reference_seconds(bundle, size: int, repeats: int = 10) -> float:
    """The median time of one forward + backward pass of the whole network."""
    x = torch.zeros(1, 3, size, size, requires_grad=True)
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        bundle.model(x)[0, 0].backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stages", nargs="+", default=["stage 2", "stage 4", "stage 6"])
    parser.add_argument("--device", default=None, help="e.g. cuda (CNNVIZ_DEVICE)")
    args = parser.parse_args()
    if args.device:
        os.environ["CNNVIZ_DEVICE"] = args.device
    bundle = models.load_model()
    settings = feature_vis.Settings()
    chosen = [(stage, layer, channels[1]) for stage, layer, channels
              in hierarchy.stage_channels(bundle) if stage in args.stages]
    print(f"{bundle.name} on {models.device_description(bundle.device)}; load average "
          f"{os.getloadavg()[0]:.1f}; {settings.size} px, {settings.steps} steps")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for stage, layer, channel in chosen:
            reference = reference_seconds(bundle, settings.size)
            result = feature_vis.optimise(bundle, layer, channel, settings)
            best = float(hierarchy.photo_means(bundle, layer)[:, channel].max())
            print(f"{threads} thread(s) · {stage:8} {layer:11} channel {channel:3}: "
                  f"{result.seconds:6.1f} s = {result.seconds / reference:6.0f} × one forward + "
                  f"backward ({reference * 1000:.1f} ms) · {result.seconds / settings.steps * 1000:.0f}"
                  f" ms per step · activation {result.activation:.2f} against the photos' best "
                  f"{best:.2f}: {result.activation / best:.1f}×  (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
