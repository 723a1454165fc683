"""The architecture comparison: LeNet-5 to ConvNeXt, measured from the models themselves.

Every measured number comes from a model instantiated here with random weights (no download):
parameters, depth, multiply-accumulates and FLOPs, activation memory, file size, a per-layer
table and the key building block. Published numbers (torchvision's weight metadata, the papers)
and the chapter's table sit beside them, and every chapter cell that disagrees is flagged with
its explanation and source (see ``cnnviz.architectures.published``).

Measuring all the chapter's models takes a while on a laptop CPU, so it is done once:

    python -m cnnviz.architectures --rebuild

writes ``assets/architectures.json``, which ``compare()`` and the page read. Latency depends
on the machine, so it is measured only on demand (``latencies``).
"""

import argparse
import json
import math
import re
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import torch
import torchvision
from torch import nn
from torchvision.models import get_model_weights

from cnnviz.architectures import published
from cnnviz.architectures.blocks import key_block
from cnnviz.architectures.profile import profile
from cnnviz.architectures.published import DEFAULT_MODELS
from cnnviz.models.registry import OWN_MODELS, build, torchvision_names

TABLE_PATH = Path(__file__).resolve().parent.parent.parent / "assets" / "architectures.json"


def available() -> list[str]:
    """The chapter's models first, then every other torchvision classification model."""
    others = sorted(set(torchvision_names()) - set(DEFAULT_MODELS))
    return [*DEFAULT_MODELS, *others]


# The accuracies the page can plot: torchvision's DEFAULT weights (its best) for each model,
# or the first it published (V1), which for most models follow the paper's recipe closely.
# DEFAULT mixes recipes (ResNet-50's V2 gains 4.7 points over its V1 from training alone), so
# V1 compares architectures more fairly; ConvNeXt-T's only weights use the new recipe.
# Each key's top-5 and recipe share its ending: top5 / recipe, top5_v1 / recipe_v1.
ACCURACY_KEYS = {"top1": "DEFAULT weights", "top1_v1": "V1 weights"}
PORTED = "the paper's own weights, ported"
SIMPLE_RECIPE = "torchvision's simple recipe, close to the paper's"
NEW_RECIPE = "torchvision's new recipe (2021), beyond the paper's"


def recipe(weights) -> str:
    """How a torchvision weight set was trained, in a few words, from its documentation
    (``meta["_docs"]``); what the documentation says in other words is named by its link."""
    docs = " ".join(weights.meta.get("_docs", "").split())
    if "ported from the original paper" in docs:
        return PORTED
    if "simple training recipe" in docs or "simplified training recipe" in docs:
        return SIMPLE_RECIPE
    if "new training recipe" in docs:
        return NEW_RECIPE
    return f"see {weights.meta.get('recipe', 'torchvision')}"


def _accuracy(name: str) -> dict:
    """ImageNet-1K top-1 / top-5 of torchvision's DEFAULT weights (what the rest of the app
    loads) and of its first weights (V1), each with its recipe, every other weight set beside
    them; or the published numbers of our own models, with their source."""
    info = published.PUBLISHED.get(name)
    if name in OWN_MODELS:
        top1, top5 = info.accuracy["top1"], info.accuracy["top5"]
        return {"top1": top1, "top5": top5, "top1_v1": top1, "top5_v1": top5,
                "recipe": info.accuracy.get("recipe"), "recipe_v1": info.accuracy.get("recipe"),
                "accuracy_dataset": info.accuracy["dataset"],
                "accuracy_source": info.accuracy["source"], "weights": None,
                "weights_v1": None, "other_weights": []}
    all_weights = get_model_weights(name)
    default = all_weights.DEFAULT
    first = getattr(all_weights, "IMAGENET1K_V1", default)

    def metrics(weights):
        m = weights.meta["_metrics"]["ImageNet-1K"]
        return m["acc@1"], m["acc@5"]

    top1, top5 = metrics(default)
    others = [{"weights": str(w), "top1": metrics(w)[0], "top5": metrics(w)[1]}
              for w in all_weights
              if w is not default and not math.isnan(metrics(w)[0])]  # VGG's features-only
    return {"top1": top1, "top5": top5, "top1_v1": metrics(first)[0],
            "top5_v1": metrics(first)[1], "recipe": recipe(default), "recipe_v1": recipe(first),
            "accuracy_dataset": "ImageNet-1K validation set, one centre crop",
            "accuracy_source": published.TORCHVISION, "weights": str(default),
            "weights_v1": str(first), "other_weights": others}


def _matches(cell: str, value: int) -> bool:
    """Whether the chapter's cell ("60K", "6.8M", "~18", "2014") is ``value`` rounded the way
    the cell is written."""
    match = re.fullmatch(r"~?([\d.]+)([KM]?)", cell)
    if match is None:
        raise ValueError(f"cannot read the chapter's cell {cell!r} as a number")
    number, unit = match.groups()
    decimals = len(number.partition(".")[2])
    scale = {"": 1, "K": 1e3, "M": 1e6}[unit]
    return round(value / scale, decimals) == float(number)


def chapter_flags(name: str, record: dict) -> list[dict]:
    """The chapter's table cells for ``name``, each checked: measured columns against the
    measurement, the rest through the notes in ``cnnviz.architectures.published``."""
    flags = []
    for column, cell in published.CHAPTER.get(name, {}).items():
        note = published.CHAPTER_NOTES.get((name, column))
        measured = {"Year": record["year"], "Depth": record["depth"],
                    "Params": record["params"]}.get(column)
        if measured is not None:
            agrees = _matches(cell, measured)
            if agrees == (note is not None):
                raise ValueError(
                    f"the chapter's {column} for {name} ({cell}) "
                    f"{'agrees with' if agrees else 'differs from'} the measured {measured}, "
                    f"but cnnviz.architectures.published.CHAPTER_NOTES "
                    f"{'has' if agrees else 'lacks'} a note")
            found = f"{measured:,}" if column == "Params" else str(measured)
            if column != "Year":
                found += " (measured here)"
            if note is not None and note.found:  # the source's own number, when it differs
                found += f"; {note.found}"
        elif note is None:
            raise ValueError(f"the chapter's {column} for {name} needs a note with its source")
        else:
            agrees, found = False, note.found
        source = note.source if note else (
            record["paper"] if column == "Year"
            else "measured here from the instantiated model")
        flags.append({"column": column, "chapter": cell, "found": found,
                      "verdict": "agrees" if agrees else note.verdict,
                      "flagged": not agrees, "why": note.why if note else "", "source": source})
    return flags


def _file_bytes(model: nn.Module) -> int:
    """The size of the model's weights in float32: what its state_dict holds (a saved file
    adds a few kilobytes of pickle around it)."""
    return sum(t.numel() * (4 if t.is_floating_point() else t.element_size())
               for t in model.state_dict().values())


def measure(name: str) -> dict:
    """Everything the comparison shows for one model except latency, as JSON-ready data."""
    model, input_shape = build(name)
    info = published.PUBLISHED.get(name)
    year, paper = (info.year, info.paper) if info else (published.family(name) or (None, ""))
    stats = profile(model, input_shape)
    record = {
        "name": name,
        "label": info.label if info else name,
        "year": year,
        "paper": paper,
        "innovation": info.innovation if info else "",
        "variant": info.variant if info else "",
        "paper_result": info.paper_result if info else "",
        "competition": ({"top5_error": info.competition[0], "what": info.competition[1]}
                        if info and info.competition else None),
        "input_shape": list(input_shape),
        "params": sum(p.numel() for p in model.parameters()),
        "macs": stats.macs,
        "flops": stats.flops,
        "depth": stats.depth,
        "activation_bytes": stats.activation_bytes,
        "file_bytes": _file_bytes(model),
        **_accuracy(name),
        "layers": [asdict(layer) | {"output_shape": list(layer.output_shape)
                                    if layer.output_shape else None}
                   for layer in stats.layers],
        "block": key_block(model),
    }
    record["chapter"] = dict(published.CHAPTER.get(name, {}))
    record["flags"] = chapter_flags(name, record)
    return record


def load_table(path: Path = TABLE_PATH) -> list[dict]:
    """The precomputed records, or an empty list when the file has not been built."""
    if not path.exists():
        return []
    return json.loads(path.read_text())["models"]


def compare(names: Iterable[str] | None = None, *, path: Path = TABLE_PATH) -> list[dict]:
    """One record per model (default: the chapter's models), with at least name, params, macs,
    flops, depth, top1, top5 (torchvision's DEFAULT weights), top1_v1, top5_v1 (its first,
    IMAGENET1K_V1), recipe, recipe_v1 and year. Records come from the precomputed table; a model not in
    it (any other torchvision classifier) is measured now."""
    table = {record["name"]: record for record in load_table(path)}
    return [table[name] if name in table else measure(name)
            for name in (DEFAULT_MODELS if names is None else names)]


def rebuild(path: Path = TABLE_PATH) -> list[dict]:
    records = [measure(name) for name in DEFAULT_MODELS]
    header = json.dumps({"generated_by": "python -m cnnviz.architectures --rebuild",
                         "torch": torch.__version__, "torchvision": torchvision.__version__})
    # one model per line, so that a rebuild's diff shows which models changed
    lines = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{header[:-1]}, "models": [\n{lines}\n]}}\n')
    return records


def latencies(names: Iterable[str], device: str = "cpu", repeats: int = 5,
              progress: Callable[[int, int, str], None] | None = None) -> dict[str, float]:
    """Median wall-clock milliseconds of one forward pass of one image, per model, on
    ``device``, after one warm-up pass. ``progress(done, total, name)`` is called after each
    pass, so a page can show a progress bar."""
    names = list(names)
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this PyTorch sees no CUDA GPU")
    total, done, result = len(names) * (repeats + 1), 0, {}
    for name in names:
        model, shape = build(name)
        model.eval().to(device)
        x = torch.randn(1, *shape, device=device)
        times = []
        with torch.inference_mode():
            for i in range(repeats + 1):
                start = time.perf_counter()
                model(x)
                if device.startswith("cuda"):
                    torch.cuda.synchronize(device)
                if i:  # the first pass warms caches and allocators up
                    times.append((time.perf_counter() - start) * 1000)
                done += 1
                if progress:
                    progress(done, total, name)
        result[name] = statistics.median(times)
        del model
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true",
                        help=f"measure the chapter's models and write {TABLE_PATH.name}")
    args = parser.parse_args(argv)
    if not args.rebuild:
        parser.error("nothing to do: pass --rebuild")
    start = time.perf_counter()
    records = rebuild()
    print(f"wrote {len(records)} models to {TABLE_PATH} in {time.perf_counter() - start:.0f} s")
