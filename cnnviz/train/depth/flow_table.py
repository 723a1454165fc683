"""The gradient flow of every network the "Why ResNets work" page offers, measured once.

The page's settings are a finite set (depth × batch norm × activation × shortcut), and measuring
one takes from a second (depth 8) to a minute (depth 110) on a shared CPU, so every setting is
measured ahead of time, on the same real batch as the page's (the first 128 training digits,
seed 0 for every network's weights).

The networks are float32 networks, but their gradients are computed in float64, so that a
sigmoid network's gradients, which sink below float32's smallest number, keep a value the page can
compare with that range. Another CPU's kernels still change the last bits of the float32 inputs
and weights, and deep ReLU networks with batch norm amplify them (they are chaotic at
initialisation): bench/float_spread.py measured plain-110's norms moving by up to 19 % between
AVX-512 and scalar kernels, the depth-20 networks' by up to 0.33 %, the sigmoid networks' by
under 1e-5 (the table's rounding). The tests hold the depth-20 networks to a fresh measurement.

    python -m cnnviz.train.depth.flow_table --rebuild

writes ``assets/gradient_flow.json``, with each network's weighted layers and parameters as
torch counts them. A plain network has no shortcut, so it is measured once per depth, batch
norm and activation.
"""

import argparse
import itertools
import json
import time
from pathlib import Path

from cnnviz.images import ASSETS
from cnnviz.train.depth import gradient_flow
from cnnviz.train.depth.degradation import environment
from cnnviz.train.depth.cifar_net import ACTIVATIONS, DEPTHS, SHORTCUTS, cifar_net, layer_count
from cnnviz.train.depth.images32 import digits32

TABLE_PATH = ASSETS / "gradient_flow.json"
COMMAND = "python -m cnnviz.train.depth.flow_table --rebuild"
PROBE_SIZE = 128  # training digits in the batch the gradients are measured on
SEED = 0  # every network's initial weights
KEPT = ("residual", "loss", "input_norms", "highway_norms", "rest_norms", "weight_norms")
SIGNIFICANT = 7  # digits kept: more than the page shows, fewer than float64's noise


def settings() -> list[tuple[int, bool, str, str]]:
    """(depth, batch_norm, activation, shortcut): every combination the page offers."""
    return list(itertools.product(DEPTHS, (True, False), tuple(ACTIVATIONS), SHORTCUTS))


def key(depth: int, batch_norm: bool, activation: str, residual: bool, shortcut: str) -> str:
    """The table's name for one network: "56/bn/relu/plain", "110/no-bn/sigmoid/resnet-B"."""
    return "/".join((str(depth), "bn" if batch_norm else "no-bn", activation,
                     f"resnet-{shortcut}" if residual else "plain"))


def _round(value):
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def measure(depth: int, batch_norm: bool, activation: str, residual: bool,
            shortcut: str = "A") -> dict:
    """One network's gradient flow at initialisation on the page's batch, as the table keeps it
    (``GradientFlow.as_dict()``'s fields the page draws, computed in float64 from the float32
    weights, to 7 significant digits), with its ``layers`` and ``params``."""
    digits = digits32()
    images, labels = digits.tensors(digits.train, PROBE_SIZE)
    net = cifar_net(depth, residual, batch_norm=batch_norm, activation=activation,
                    shortcut=shortcut, in_channels=1, seed=SEED)
    record = gradient_flow.measure(net.double(), images.double(), labels).as_dict()
    return {"layers": layer_count(net), "params": sum(p.numel() for p in net.parameters()),
            **_round({k: record[k] for k in KEPT})}


def networks() -> list[tuple[int, bool, str, bool, str]]:
    """(depth, batch_norm, activation, residual, shortcut) of every distinct network."""
    found = {}
    for depth, batch_norm, activation, shortcut in settings():
        for residual in (False, True):
            found.setdefault(key(depth, batch_norm, activation, residual, shortcut),
                             (depth, batch_norm, activation, residual, shortcut))
    return list(found.values())


def spot_checks() -> list[tuple[int, bool, str, bool, str]]:
    """The networks a test measures afresh against the table: every network of depth 20 (each in
    seconds), where another CPU moves the norms by at most 0.33 % (the deeper ReLU networks with
    batch norm move by up to 19 %: see the module's docstring)."""
    return [n for n in networks() if n[0] == 20]


def rebuild(path: Path = TABLE_PATH) -> dict:
    start = time.perf_counter()
    flows = {key(*network): measure(*network) for network in networks()}
    document = {"generated_by": COMMAND, "probe": f"the first {PROBE_SIZE} training digits of "
                "the offline MNIST subset's seeded split, padded to 32×32 and standardised",
                "seed": SEED, "wall_seconds": round(time.perf_counter() - start, 1),
                "environment": environment(), "flows": flows}
    # one network per line, so that a rebuild's diff shows which networks changed
    lines = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in flows.items())
    header = json.dumps({k: v for k, v in document.items() if k != "flows"})
    path.write_text(f'{header[:-1]}, "flows": {{\n{lines}\n}}}}\n')
    return document


_loaded: dict[Path, dict] = {}


def load(path: Path = TABLE_PATH) -> dict:
    """The precomputed table (read once per process); a clear error when it is missing."""
    if path not in _loaded:
        try:
            _loaded[path] = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} is missing: run `{COMMAND}`") from None
    return _loaded[path]


def flows(depth: int, batch_norm: bool, activation: str, shortcut: str, *,
          path: Path = TABLE_PATH) -> tuple[dict, dict]:
    """The plain and the residual network's records of one page setting, from the table, or
    measured now when the table lacks them (a table from an older rebuild)."""
    table = load(path)["flows"]
    records = []
    for residual in (False, True):
        name = key(depth, batch_norm, activation, residual, shortcut)
        records.append(table.get(name) or measure(depth, batch_norm, activation, residual,
                                                  shortcut))
    return records[0], records[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help=f"measure and write {TABLE_PATH}")
    parser.add_argument("--out", type=Path, default=TABLE_PATH)
    args = parser.parse_args(argv)
    if not args.rebuild:
        parser.error("nothing to do: pass --rebuild")
    document = rebuild(args.out)
    print(f"wrote {args.out}: {len(document['flows'])} networks in "
          f"{document['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
