r"""Throughput (triplets/s) of 1 vs 2 data-parallel processes (gloo on CPU), MF and LightGCN.

Each configuration runs in fresh processes (so the peak RSS per rank is that of loading the data,
building the model and two epochs) started with ``torch.multiprocessing`` (the same code
path as ``torchrun``): one warm-up epoch, then one timed epoch; triplets/s counts the whole epoch's
edges over the slowest rank's time. On a 2-core machine two processes share the cores that one
process already uses, so expect no speed-up there: the script reports what it measures.

    python benchmarks/distributed.py --data-dir ../shared/datasets [--dataset gowalla] [--device cuda]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp



def _run(rank, world_size, init_file, args, model_name, queue):
    from graphdenoise.datasets import load_dataset
    from graphdenoise.methods import BPR
    from graphdenoise.models import MODELS
    from graphdenoise.train import Trainer, TrainerConfig
    from graphdenoise.utils import seed_everything

    torch.set_num_threads(max(1, args.threads // world_size))
    if world_size > 1:
        backend = "nccl" if args.device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    device = f"cuda:{rank}" if args.device.startswith("cuda") else args.device
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    seed_everything(0)
    trainer = Trainer(MODELS.get(model_name)(data), BPR(), data,
                      TrainerConfig(batch_size=5000, device=device, show_progress=False,
                                    distributed=world_size > 1))
    trainer.train_epoch()
    start = time.perf_counter()
    trainer.train_epoch()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    import resource
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((rank, seconds, trainer.sampler.edge_index.size(1), peak_mb))
    if world_size > 1:
        dist.destroy_process_group()


def measure(args, model_name, world_size):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [ctx.Process(target=_run, args=(r, world_size, os.path.join(tmp, "init"), args, model_name, queue))
                 for r in range(world_size)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join()
    slowest = max(r[1] for r in results)
    return results[0][2] / slowest, slowest, max(r[3] for r in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--models", default="mf,lightgcn")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in total, split over the ranks")
    parser.add_argument("--worlds", default="1,2")
    args = parser.parse_args()
    print(f"{args.dataset}, device {args.device}, {args.threads} threads in total, load avg {os.getloadavg()[0]:.2f}")
    print(f"{'model':<10}{'ranks':>6}{'epoch s':>9}{'triplets/s':>12}{'vs 1 rank':>10}{'peak RSS/rank':>15}")
    for model_name in args.models.split(","):
        base = None
        for world in (int(w) for w in args.worlds.split(",")):
            rate, seconds, peak_mb = measure(args, model_name, world)
            base = base or rate
            print(f"{model_name:<10}{world:>6}{seconds:>9.2f}{rate:>12.0f}{rate / base:>10.2f}{peak_mb:>12.0f} MiB",
                  flush=True)


if __name__ == "__main__":
    main()
