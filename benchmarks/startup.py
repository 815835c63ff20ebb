r"""Start-up times, each in a fresh interpreter, against ``python -c "import torch"`` (the floor).

Measured (best of ``--repeat`` runs, wall clock): ``import torch``; ``import torch_geometric``;
``import graphdenoise`` (lazy: no torch); ``from graphdenoise import fit`` (the full API: torch and
PyG); the CLI's ``--help``, ``list`` and an argument error (goal: each under 1 s; they import no torch).
Usage::

    python benchmarks/startup.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

CASES = [
    ("import torch (floor)", ["-c", "import torch"]),
    ("import torch_geometric", ["-c", "import torch_geometric"]),
    ("import graphdenoise", ["-c", "import graphdenoise"]),
    ("from graphdenoise import fit", ["-c", "from graphdenoise import fit"]),
    ("graphdenoise --help", ["-m", "graphdenoise", "--help"]),
    ("graphdenoise list", ["-m", "graphdenoise", "list"]),
    ("graphdenoise fit --epochs x", ["-m", "graphdenoise", "fit", "--epochs", "x"]),
]


def run(args) -> float:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, load avg {os.getloadavg()[0]:.2f}")
    floor = None
    for name, argv in CASES:
        best = min(run(argv) for _ in range(args.repeat))
        floor = floor or best
        print(f"{name:<32}{best:8.2f} s{best / floor:8.2f}x import torch", flush=True)
    print(f"load avg at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
