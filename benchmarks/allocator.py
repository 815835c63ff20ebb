r"""A training step under glibc's malloc against the same step under tcmalloc (``LD_PRELOAD``), CPU.

glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and returns
it with ``munmap`` when freed, so a step whose activations are that large page-faults (and the kernel zeroes)
every one of them again at every step. BSL's 128 negatives per positive through NeuMF's tower are
such a step (2,048 x 128 pairs: 268 MB for each 256-wide layer). tcmalloc keeps freed memory for reuse:
the same arithmetic, bit for bit (torch aligns its buffers itself), without the faults.

Each allocator runs in its own process (an allocator is chosen when a process starts), ``--rounds``
times, interleaved (glibc, tcmalloc, glibc, ...), so that load changes hit both alike; a process builds
the method's trainer as the natural-noise experiment runs it (its options and batch, lr 5e-3, no L2),
trains ``--warmup`` steps untimed, then times ``--steps`` of the trainer's optimisation steps (loss,
backward, Adam, the method's hooks) on this thread's CPU clock, and checks that its losses equal the other allocator's. Prints each
allocator's median seconds a step and the ratio, with the load average.

Usage (the data folder holds ``natural-noise/``; Debian: ``apt install libtcmalloc-minimal4``)::

    python benchmarks/allocator.py --data-dir ../shared/datasets --model neumf --method bsl
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

TCMALLOC = ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
            "/usr/lib/libtcmalloc_minimal.so.4", "/usr/lib64/libtcmalloc_minimal.so.4")


def find_tcmalloc():
    """The first of :data:`TCMALLOC` that exists, or None."""
    return next((path for path in TCMALLOC if os.path.exists(path)), None)


def child(args) -> None:
    """Time ``args.steps`` steps in this process; print one JSON line."""
    import torch

    sys.path.insert(0, os.path.dirname(__file__))
    from natural_speed import experiment_cells, make_trainer  # noqa: E402  (the experiment's cells)
    from graphdenoise.datasets import load_dataset  # noqa: E402

    torch.set_num_threads(1)
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    options = SimpleNamespace(budget=30, seed=0, lr=5e-3, batch_size=None, device="cpu", dataset=args.dataset)
    trainer = make_trainer(data, experiment_cells(args.model, [args.method], options)[args.method], options)
    losses, times = [], []
    for step, (batch, ctx) in enumerate(trainer.batches()):
        if step == args.warmup + args.steps:
            break
        start = time.thread_time()
        loss, _ = trainer.optimisation_step(batch, ctx)  # the trainer's own step: hooks, row-sparse backward
        if step >= args.warmup:
            times.append(time.thread_time() - start)
            losses.append(loss.item())
    print(json.dumps({"times": times, "losses": losses}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k-natural")
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--model", default="neumf")
    parser.add_argument("--method", default="bsl")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tcmalloc", default=None, help="path of libtcmalloc(_minimal).so (default: found)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    library = args.tcmalloc or find_tcmalloc()
    if library is None or not os.path.exists(library):
        raise SystemExit("allocator.py: no tcmalloc found (Debian: apt install libtcmalloc-minimal4; or "
                         "--tcmalloc PATH)")
    command = [sys.executable, __file__, "--child", "--dataset", args.dataset, "--model", args.model,
               "--method", args.method, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    base_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    envs = {"glibc": {**base_env, "OMP_NUM_THREADS": "1"},
            "tcmalloc": {**base_env, "OMP_NUM_THREADS": "1", "LD_PRELOAD": library}}
    print(f"{args.dataset}, {args.model} / {args.method}, {args.steps} steps after {args.warmup}, {args.rounds} "
          f"rounds, 1 thread, load average {os.getloadavg()[0]:.2f} at start; tcmalloc: {library}")
    results = {name: [] for name in envs}
    losses = {}
    for _ in range(args.rounds):
        for name, env in envs.items():
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            record = json.loads(out.stdout.strip().splitlines()[-1])
            results[name] += record["times"]
            losses.setdefault(name, record["losses"])
    same = losses["glibc"] == losses["tcmalloc"]
    medians = {name: statistics.median(times) for name, times in results.items()}
    print("| allocator | s / step (median, thread CPU) | x glibc |\n|---|---|---|")
    for name, median in medians.items():
        print(f"| {name} | {median:.3f} | {median / medians['glibc']:.2f} |")
    print(f"losses equal across allocators: {same}; load average {os.getloadavg()[0]:.2f} at end")
    if not same:
        raise SystemExit("allocator.py: the allocators gave different losses")


if __name__ == "__main__":
    main()
