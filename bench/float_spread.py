"""How far the depth lab's float results move on another CPU: the spread behind the tolerances of
the tests that compare a fresh computation with a file made elsewhere
(tests/test_degradation.py, tests/test_flow_table.py): the first training steps of every
network of the shipped degradation runs (their first seed, in float32 as they train), and the
gradient norms of the flow table's spot checks (in float64, as the table computes them).

Another CPU runs other kernels: a narrower vector unit (AVX2 on an AMD EPYC, NEON on ARM), no
oneDNN, another thread count, each summing in another order. Torch picks them by environment
variables, so one machine can run what the others would. This script runs the same computations
in a child process per variant:

- ``1 thread`` (how the shipped files were made) and ``2 threads``;
- ``ATEN_CPU_CAPABILITY=avx2`` / ``=default``: torch's own vectorised kernels at AVX2 width or
  scalar (the code path of a CPU without AVX2, ARM included, for random numbers too);
- with oneDNN (convolutions) and MKL limited to AVX2 as well (``ONEDNN_MAX_CPU_ISA``,
  ``MKL_ENABLE_INSTRUCTIONS``): an AVX2-only x86 machine;
- oneDNN off (``torch.backends.mkldnn``): torch's own convolution, as builds without it use,
  also with MKL's matrix products held to SSE4.2 (the closest to ARM's NEON width here);
- float64: the training steps from the same float32 weights and inputs in double precision,
  the distance of float32 arithmetic from exact, which bounds any faithful float32 machine;

and prints, for every quantity, the largest relative difference from the ``1 thread`` run.

    python bench/float_spread.py [--steps 6] [--out spread.json] [--flows-only]
                                 [--variants "1 thread" "2 threads" "ATEN default"]
"""

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "1 thread": {},
    "2 threads": {"THREADS": "2"},
    "ATEN avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ATEN default": {"ATEN_CPU_CAPABILITY": "default"},
    "all AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                 "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "scalar, no oneDNN": {"ATEN_CPU_CAPABILITY": "default", "NO_ONEDNN": "1"},
    "scalar, no oneDNN, MKL SSE4.2": {"ATEN_CPU_CAPABILITY": "default", "NO_ONEDNN": "1",
                                      "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "float64": {"FLOAT64": "1"},
}


def measure(steps: int, flows_only: bool = False) -> dict:
    """What the tests compare, computed in this process under its environment."""
    import torch

    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    if os.environ.get("NO_ONEDNN"):
        torch.backends.mkldnn.enabled = False
    float64 = bool(os.environ.get("FLOAT64"))

    from cnnviz.train.depth import degradation, flow_table, gradient_flow

    if float64:  # the same float32 weights, then every computation in double precision
        build = degradation.build

        def build64(*args, **kwargs):
            learner = build(*args, **kwargs)
            learner.model.double()
            learner.dtype = torch.float64
            return learner

        degradation.build = build64
        measure_flow = gradient_flow.measure
        gradient_flow.measure = lambda net, x, y: measure_flow(net.double(), x.double(), y)

    out = {"capability": torch.backends.cpu.get_cpu_capability(), "losses": {}, "flows": {}}
    for network in flow_table.spot_checks():
        record = flow_table.measure(*network)
        out["flows"][flow_table.key(*network)] = [
            record["loss"], *record["input_norms"], *record["highway_norms"],
            *record["weight_norms"].values()]
    if flows_only:
        return out
    for k, setting in enumerate(degradation.DEFAULT_SETTINGS):
        record = degradation.run_setting(replace(setting, seeds=setting.seeds[:1]),
                                         max_steps=steps)
        out["standardise"] = record["standardise"]
        for run in record["runs"]:
            name = f"setting {k} {run['label']}"
            out["losses"][name] = run["loss"]
            out["flows"][f"{name} at step 0"] = run["gradients"][0]["input_norms"]
    return out


def relative(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path, help="write every variant's numbers here")
    parser.add_argument("--flows-only", action="store_true",
                        help="only the flow table's spot checks (float64), not the training")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="run only these (the 1-thread reference always runs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.steps, args.flows_only)))
        return
    results = {}
    chosen = dict.fromkeys(["1 thread", *args.variants])
    for name, env in ((name, VARIANTS[name]) for name in chosen):
        if args.flows_only and name == "float64":
            continue  # the table is float64 already
        print(f"running {name}…", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps)]
                              + ["--flows-only"] * args.flows_only,
                              env={**os.environ, **env}, capture_output=True, text=True,
                              check=True, cwd=ROOT)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    if args.out:
        args.out.write_text(json.dumps(results))
    base = results["1 thread"]
    print("kernels chosen: " + ", ".join(f"{n}: {r['capability']}" for n, r in results.items()))
    print(f"largest relative difference from the 1-thread run, over every network "
          f"(losses per training step; gradient norms of every block and layer):")
    print(f"{'variant':30s} " + " ".join(f"step {s:<5d}" for s in range(1, args.steps + 1))
          + "  step-0 gradients  table (normal)  table (< 1e-30)")
    for name, result in results.items():
        worst = [max((relative(a[s], b[s]) for a, b in zip(
            base["losses"].values(), result["losses"].values()) if len(a) > s and len(b) > s),
            default=0.0) for s in range(args.steps)]
        training, normal, tiny = 0.0, 0.0, 0.0
        for key, values in base["flows"].items():
            for a, b in zip(values, result["flows"][key]):
                if key.startswith("setting"):
                    training = max(training, relative(a, b))
                elif min(abs(a), abs(b)) >= 1e-30:
                    normal = max(normal, relative(a, b))
                elif max(abs(a), abs(b)) >= 1e-30:
                    tiny = float("inf")  # one side tiny, the other not
                else:
                    tiny = max(tiny, relative(a, b))
        print(f"{name:30s} " + " ".join(f"{w:10.1e}" for w in worst)
              + f"  {training:16.1e}  {normal:14.1e}  {tiny:15.1e}")


if __name__ == "__main__":
    main()
