"""Deterministic fuzzing of ``from_interactions`` / ``read_interaction_file``.

Generates ``--n`` inputs (half valid, half malformed; see ``input_cases.py``) from ``--seed``,
runs each, and prints how many were read exactly, how many were refused with which of our error
classes, and how many were silently accepted or failed in the wrong layer (both must be 0)::

    python tests/reliability/fuzz_interactions.py --n 2600 --seed 0

Exits non-zero if any malformed input was accepted, any valid input was not read exactly, or any
error came from the wrong layer (a foreign exception, or ours without the location prefix).
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # input_cases beside this script

from input_cases import generate, run_case  # noqa: E402


def fuzz(n: int, seed: int, show: int = 5):
    counts = collections.Counter()
    kinds = collections.Counter()
    failures = []
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(n):
            case = generate(rng, Path(folder))
            outcome, detail = run_case(case)
            counts[("valid" if case.valid else "malformed", outcome)] += 1
            kinds[case.kind] += 1
            if outcome in ("silently accepted", "wrong layer", "wrong result"):
                failures.append((case.kind, outcome, detail))
    return counts, kinds, failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts, kinds, failures = fuzz(args.n, args.seed)
    print(f"inputs fuzzed: {args.n} (seed {args.seed})")
    for (validity, outcome), count in sorted(counts.items()):
        print(f"  {validity:9s} {outcome:18s} {count}")
    print("cases by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    silently = sum(c for (v, o), c in counts.items() if v == "malformed" and o == "silently accepted")
    print(f"silently accepted malformed: {silently}; failures: {len(failures)}")
    for kind, outcome, detail in failures[:20]:
        print(f"  {kind}: {outcome}: {detail[:300]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
