"""Hostile and careless weight files (issue 21): what each does to a fresh process that loads
it as the page would, its peak memory above what the process held before, and its time.

    python bench/bench_hostile_weights.py                      # this checkout
    git archive dc8af0d | tar -x -C /tmp/before                # the app before the fix
    python bench/bench_hostile_weights.py --root /tmp/before --limit-mb 3000 --timeout 240

Each case runs in its own process under a memory limit (``RLIMIT_DATA``, ``--limit-mb`` above
what the process held), so a file that asks for gigabytes fails there instead of swapping.
The cases are in ``tests/hostile_weights.py``; ``tests/test_hostile_weights.py`` holds every
one to a refusal under a small limit.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_weights import CASES, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--limit-mb", type=int, default=600)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("cases", nargs="*", help="names of cases (default: all)")
    args = parser.parse_args()
    print(f"{'case':45} {'outcome':14} {'peak MB':>8} {'seconds':>8}  message")
    results = measure(args.cases or list(CASES), limit_mb=args.limit_mb, timeout=args.timeout,
                      root=args.root)
    for name, r in results.items():
        message = str(r.get("message") or "").replace("\n", " ")
        print(f"{name:45} {r['outcome']:14} {r.get('peak_mb', ''):>8} {r.get('seconds', ''):>8}"
              f"  {message[:160]}")

if __name__ == "__main__":
    main()
