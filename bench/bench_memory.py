"""What the app's memory budgets cost in resident memory (RSS), for choosing them on a host with
a hard limit (Streamlit Community Cloud: about 2.7 GB).

One process, the way the server fills up: the libraries every page imports and the offline
default model; then the activation cache filled to its budget (every layer of one photo after
another, as the feature-map page stores them); then models opened one after another (untrained,
so nothing is downloaded: the weights take the same memory), kept within the model cache's
budget, the least recently used out. After each step: the process's RSS, the bytes the two
caches hold, and which models are loaded. Budgets come from the same variables the app reads:

    CNNVIZ_MODEL_CACHE_MB=768 CNNVIZ_ACTIVATION_CACHE_MB=256 python bench/bench_memory.py
"""

import gc
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas  # noqa: E402,F401  (every page imports these; they count)
import plotly.graph_objects  # noqa: E402,F401
import streamlit  # noqa: E402,F401
import torch  # noqa: E402
from PIL import ImageOps  # noqa: E402

from cnnviz import activations, images, models  # noqa: E402
from cnnviz.activations.capture import CACHE  # noqa: E402
from cnnviz.models import zoo  # noqa: E402

OPENED = ("resnet18", "mobilenet_v2", "efficientnet_b0", "resnet50", "convnext_tiny", "vgg16",
          "alexnet", "googlenet")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def report(step: str) -> None:
    gc.collect()
    loaded = ", ".join(f"{name}{'' if pretrained else '*'}"
                       for name, pretrained, _ in zoo._cache.keys())
    print(f"{step:<44} {rss_mb():7.0f} {CACHE.nbytes / 2**20:7.0f} "
          f"{zoo._cache.nbytes / 2**20:7.0f}   {loaded}", flush=True)


def main() -> None:
    torch.set_num_threads(1)
    print(f"model cache budget {zoo._cache.budget_bytes / 2**20:.0f} MiB, activation cache "
          f"budget {CACHE.budget_bytes / 2**20:.0f} MiB (* = untrained)")
    print(f"{'':<44} {'RSS MiB':>7} {'maps':>7} {'models':>7}   loaded")
    bundle = models.load_model()
    report("libraries and efficientnet_lite0")
    samples = [images.load_image(p) for p in images.sample_images().values()]
    photos = samples + [ImageOps.mirror(img) for img in samples]
    for count, img in enumerate(photos, 1):
        activations.capture(bundle, img, activations.layer_names(bundle)[0])
        if CACHE.nbytes > 0.9 * CACHE.budget_bytes:
            break
    report(f"activation cache full ({count} photos)")
    for name in OPENED:
        opened = models.load_model(name, pretrained=False)
        with torch.inference_mode():
            opened.model(opened.batch(samples[0]))  # one forward pass, as a page would
        del opened
        report(f"opened {name}")


if __name__ == "__main__":
    main()
