"""How much a Grad-CAM map costs, on the CPU, with the default model at 224 × 224.

Two ratios, both measured in this process on the same preprocessed photo:
- our Grad-CAM / one plain forward pass (``torch.inference_mode``): target ≤ 1.5. The score
  is differentiated back to the chosen layer only, so the backward pass is a small fraction
  of a forward.
- our Grad-CAM / pytorch-grad-cam's GradCAM (the ``grad-cam`` package) on the same layer and
  class: target ≤ 0.5. It backpropagates through the whole network and fills every
  parameter's ``.grad``; it runs on a private copy whose parameters require grad, as it
  needs.

The machine may be shared, so the three are timed in interleaved rounds and each ratio is the
median of the per-round ratios (a burst of load hits both sides of a round alike).

    python bench/bench_cam.py [--rounds 15] [--threads N]
"""

import argparse
import copy
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

from cnnviz import cam, images, models  # noqa: E402

REFERENCE = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM}


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = models.load_model()
    x = bundle.batch(images.load_image(images.sample_images()["Cat (Chelsea)"]))
    layer = cam.default_layer(bundle)
    target = cam.grad_cam(bundle, x[0]).target
    reference_model = copy.deepcopy(bundle.model).requires_grad_(True)
    reference_layer = [dict(reference_model.named_modules())[layer]]
    targets = [ClassifierOutputTarget(target)]

    def forward():
        with torch.inference_mode():
            bundle.model(x)

    print(f"efficientnet_lite0, {tuple(x.shape)}, layer {layer}, CPU, "
          f"{torch.get_num_threads()} threads, {args.rounds} interleaved rounds")
    for method, reference_class in REFERENCE.items():
        with reference_class(reference_model, reference_layer) as reference:
            ours = partial(cam.grad_cam, bundle, x[0], target=target, method=method)
            theirs = partial(reference, x, targets)
            for fn in (forward, ours, theirs):  # warm-up
                fn()
            rounds = [(seconds(forward), seconds(ours), seconds(theirs))
                      for _ in range(args.rounds)]
        f, o, t = (statistics.median(r[i] for r in rounds) for i in range(3))
        vs_forward = statistics.median(r[1] / r[0] for r in rounds)
        vs_reference = statistics.median(r[1] / r[2] for r in rounds)
        print(f"{cam.METHODS[method]:<11} forward {f * 1e3:6.1f} ms · ours {o * 1e3:6.1f} ms · "
              f"pytorch-grad-cam {t * 1e3:6.1f} ms · ours / forward {vs_forward:.2f} "
              f"(target ≤ 1.5) · ours / pytorch-grad-cam {vs_reference:.2f} (target ≤ 0.5)")


if __name__ == "__main__":
    main()
