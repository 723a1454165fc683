"""What the transfer lab's test accuracy means, measured: the texture demo tested on new
photos, an upload with near-duplicates split with and without grouping them, and fine-tuning
with batch norm frozen (running statistics) against batch norm trained on batches of 8.

The upload is made here from the demo's nine source photos (assets/textures, assets/samples):
each class's photos are every fourth cell of its three photos (squares of 60 to 96 pixels
that share no pixel), and every photo is saved five times as a phone or a messaging app
would: as taken, re-saved at JPEG quality 60, resized to 80 %, cropped by 3 %, and a burst
shot (shifted by 2 %, 5 % brighter).

A second, harder upload ("sources") holds one photo per source photo, three per class (the
first cell of each, in the same five versions): grouped, each part of the split gets one
photo per class, so the test is on new photos; ungrouped, copies land on both sides.

    python bench/bench_transfer_bn.py [--seeds 0 1]
        [--only demo|upload|ungrouped|sources] [--batch-norm frozen|trained|both]

The demo is its default split at 96 patches per class instead of 160 (a quicker run on a
loaded CPU). Each line is one run of the same short plan (phase 1 on cached features for 3 epochs, one
epoch of phase 2, one of phase 3, batches of 8), so only the setting named differs. A run
keeps the weights of its best validation epoch, which can be phase 1's whatever batch norm
does later; so each line also gives every epoch's validation accuracy by phase and the test
accuracy of the weights after the last epoch (phase 3), where batch norm made its mark.
Compare settings across seeds (--seeds), not single runs.
"""

import argparse
import copy
import io
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz import models  # noqa: E402
from cnnviz.train import read_image_folders, transfer  # noqa: E402
from cnnviz.train.transfer import augment  # noqa: E402
from cnnviz.train.transfer.finetune import FineTuning, Plan  # noqa: E402
from cnnviz.train.transfer.group_split import grouped_split  # noqa: E402
from cnnviz.train.transfer.report import evaluate  # noqa: E402
from cnnviz.train.transfer.texture_demo import SOURCES, demo_split, source_photo  # noqa: E402

PLAN = Plan(batch_size=8, copies=1, max_seconds=1e9).with_epochs(head=3, last_blocks=1, all=1)


def versions(img: Image.Image):
    """A photo as taken and four near-duplicates of it."""
    w, h = img.size
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=60)
    yield "taken", img
    yield "resaved", Image.open(io.BytesIO(buffer.getvalue()))
    yield "resized", img.resize((round(0.8 * w), round(0.8 * h)))
    yield "cropped", img.crop((round(0.015 * w), round(0.015 * h), round(0.985 * w),
                               round(0.985 * h)))
    yield "burst", ImageEnhance.Brightness(img.crop((round(0.02 * w), 0, w, h))).enhance(1.05)


def upload_zip(every: int = 4) -> tuple[bytes, int]:
    """The zip of class folders described above (every ``every``-th cell of each source
    photo; 1000: the first only), and how many different photos it holds."""
    buffer, photos = io.BytesIO(), 0
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in SOURCES:
            photo = source_photo(source)
            for x, y, side in source.cells[::every]:
                photos += 1
                for kind, img in versions(photo.crop((x, y, x + side, y + side))):
                    data = io.BytesIO()
                    img.convert("RGB").save(data, "JPEG", quality=92)
                    archive.writestr(f"{name}/{Path(source.photo).stem}_{x}_{y}_{kind}.jpg",
                                     data.getvalue())
    return buffer.getvalue(), photos


class Epochs:
    """Stands where a Job stands: records every epoch's validation accuracy by phase, and the
    weights after the last epoch (which the run replaces by the best ones)."""

    def __init__(self, net):
        self.net, self.accuracies, self.last = net, {}, None

    def callbacks(self) -> dict:
        return {"on_epoch": self.on_epoch}

    def on_epoch(self, record) -> None:
        self.accuracies.setdefault(record["phase"], []).append(record["val_accuracy"])
        self.last = copy.deepcopy(self.net.state_dict())


def run(bundle, photos, split, frozen: bool, seed: int) -> str:
    """One run: validation accuracy after every epoch by phase, the test accuracy of the
    weights after the last epoch and of the best ones the run keeps, and its time."""
    plan = Plan(**{**PLAN.__dict__, "frozen_batch_norm": frozen, "seed": seed})
    start = time.perf_counter()
    net = transfer.build(bundle, len(photos.classes))
    norm = augment.normalisation(bundle)
    epochs = Epochs(net)
    result = FineTuning(net, photos, split, norm, plan).run(epochs)
    seconds = time.perf_counter() - start
    kept = result.evaluation.accuracy
    net.load_state_dict(epochs.last)
    last = evaluate(net, photos, split.test, norm).accuracy
    by_phase = ", ".join(f"{key} {' '.join(f'{a:.0%}' for a in values)}"
                         for key, values in epochs.accuracies.items())
    return (f"test {last:.1%} after the last epoch, {kept:.1%} with the kept weights "
            f"({result.best_at}) of {len(split.test)}; validation {by_phase}; {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--only", choices=["demo", "upload", "ungrouped", "sources"])
    parser.add_argument("--batch-norm", choices=["frozen", "trained", "both"], default="both")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = models.load_model()
    data = {}
    if args.only in (None, "demo"):
        data["demo"] = demo_split(patches_per_class=96)
    if args.only == "sources":
        photos = read_image_folders(upload_zip(every=1000)[0])
        for name, groups in (("sources, near-duplicates grouped", photos.groups),
                             ("sources, every file its own group", np.arange(len(photos)))):
            data[name] = (photos, grouped_split(photos.labels, groups))
    if args.only in (None, "upload", "ungrouped"):
        archive, different = upload_zip()
        photos = read_image_folders(archive)
        groups = np.bincount(photos.groups)
        print(f"upload: {len(photos)} files, {different} different photos; grouped into "
              f"{len(groups)} groups ({int(groups[groups > 1].sum())} files in "
              f"{int((groups > 1).sum())} groups of 2 or more)", flush=True)
        origin = np.unique([n.rsplit("_", 1)[0] for n in photos.names], return_inverse=True)[1]
        splits = {"upload, near-duplicates grouped": grouped_split(photos.labels, photos.groups),
                  "upload, every file its own group": grouped_split(photos.labels,
                                                                    np.arange(len(photos)))}
        for name, split in splits.items():
            copies = np.isin(origin[split.test], origin[split.train]).sum()
            print(f"{name}: {copies} of {len(split.test)} test files are copies of a "
                  f"training file", flush=True)
        if args.only in (None, "upload"):
            data["upload, near-duplicates grouped"] = (photos, splits[
                "upload, near-duplicates grouped"])
        if args.only in (None, "ungrouped"):
            data["upload, every file its own group"] = (photos, splits[
                "upload, every file its own group"])
    print(f"load average {os.getloadavg()[0]:.1f}, {torch.get_num_threads()} torch threads; "
          f"plan: {PLAN.epochs}, copies {PLAN.copies}, batch {PLAN.batch_size}", flush=True)
    for name, (photos, split) in data.items():
        for frozen in {"frozen": (True,), "trained": (False,),
                       "both": (True, False)}[args.batch_norm]:
            for seed in args.seeds:
                print(f"{name}, batch norm {'frozen' if frozen else 'trained'}, seed {seed}: "
                      f"{run(bundle, photos, split, frozen, seed)}", flush=True)


if __name__ == "__main__":
    main()
