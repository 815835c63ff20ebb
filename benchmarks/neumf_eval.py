r"""NeuMF full-ranking evaluation against its FLOP floor at the measured matmul throughput.

One full-ranking evaluation of NeuMF (defaults: ``embedding_dim=64``, 3 tower layers 512 -> 256 ->
128 -> 64) on Last.fm (1,892 users x 17,632 items by default): every test user against every item,
training and validation items masked, top-50. Printed:

* the FLOP count of the scoring: per (user, item) pair the tower after its first layer (the first
  layer is split into a per-user and a per-item product, computed once per user chunk), the GMF
  product and the prediction layer; plus the per-user / per-item first-layer products;
* the measured throughput of ``torch.addmm`` on the tower's largest GEMM shape (4096 x 256 x 128)
  and the floor = FLOPs / throughput;
* our evaluation time (:class:`~graphdenoise.metrics.RankingEvaluator`), its achieved GFLOP/s and its
  ratio to the floor (the issue's goal: <= 2); and the same evaluation through the autograd form of
  ``score_matrix`` (the previous implementation: item blocks, fresh tensors) for comparison.

``--train-steps N`` times instead N BPR training steps (forward, backward, Adam; batch ``--batch-size``
triplets drawn from the training edges with uniform negatives) of :meth:`NeuMF.triplet`, whose first
tower layer runs once per distinct node of the batch, against the per-pair tower
(:meth:`Recommender.triplet`: every pair's ``[p || q]`` through the whole tower), interleaved, same
batches; printed: seconds per step of each, their ratio, and the tower's first-layer rows of each.

Usage::

    python benchmarks/neumf_eval.py --data-dir ../shared/datasets [--threads 1] [--device cpu]
    python benchmarks/neumf_eval.py --users 100          # smoke run on the first 100 test users
    python benchmarks/neumf_eval.py --dataset ml-100k-natural --train-steps 40 --batch-size 2048
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from _timing import sync, timed  # noqa: E402


def pair_flops(model) -> int:
    """FLOPs per (user, item) pair of :meth:`NeuMF.score_matrix`'s per-pair work."""
    w = model.widths
    flops = 2 * w[1]                                                  # user part + item part, ReLU
    flops += sum(2 * a * b + 2 * b for a, b in zip(w[1:-1], w[2:]))  # GEMMs, bias + ReLU
    return flops + 2 * w[-1] + 2 * model.embedding_dim + 1           # prediction layer and GMF product


def gemm_throughput(device, rows=4096, inner=256, cols=128, repeat=20) -> float:
    """GFLOP/s of ``torch.addmm`` into a preallocated output, the tower's largest GEMM shape."""
    a, w = torch.randn(rows, inner, device=device), torch.randn(cols, inner, device=device)
    b, out = torch.randn(cols, device=device), torch.empty(rows, cols, device=device)
    for _ in range(3):
        torch.addmm(b, a, w.t(), out=out)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        torch.addmm(b, a, w.t(), out=out)
    sync(device)
    return 2 * rows * inner * cols * repeat / (time.perf_counter() - start) / 1e9


def train_step_ratio(model, data, steps: int, batch_size: int, repeat: int, device) -> None:
    """Seconds per BPR step of ``model.triplet`` against the per-pair ``Recommender.triplet``, interleaved."""
    from graphdenoise.datasets.graph import train_edges
    from graphdenoise.methods.losses import bpr_terms
    from graphdenoise.models.base import Recommender

    edges = train_edges(data).to(device)
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(steps):
        pick = torch.randint(0, edges.size(1), (batch_size,), generator=g).to(device)
        batches.append((edges[0, pick], edges[1, pick], torch.randint(0, model.num_items, (batch_size,),
                                                                      generator=g).to(device)))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(triplet):
        for users, pos, neg in batches:
            out = triplet(users, pos, neg)
            optimizer.zero_grad()
            bpr_terms(out.pos, out.neg).mean().backward()
            optimizer.step()

    epoch(model.triplet)  # warm-up (allocator, caches), untimed
    epoch(lambda *b: Recommender.triplet(model, *b))
    ours, per_pair = float("inf"), float("inf")
    for _ in range(repeat):  # interleaved
        ours = min(ours, timed(lambda: epoch(model.triplet), device))
        per_pair = min(per_pair, timed(lambda: epoch(lambda *b: Recommender.triplet(model, *b)), device))
    rows = sum(n[0].numel() + n[2].numel() for n in (model.batch_nodes(*b) for b in batches)) / steps
    print(f"BPR step, batch {batch_size}: ours {1e3 * ours / steps:.1f} ms (first layer on {rows:.0f} distinct "
          f"nodes), per-pair tower {1e3 * per_pair / steps:.1f} ms (on {2 * batch_size} pairs): "
          f"ratio {ours / per_pair:.2f}; load avg at the end {os.getloadavg()[0]:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="lastfm")
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--root", default=None, help="processed-data folder (the dataset's default if omitted)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--users", type=int, default=0, help="first N test users only (0: all)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=0, help="time N BPR training steps instead (see above)")
    parser.add_argument("--batch-size", type=int, default=2048, help="triplets per training step (--train-steps)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from graphdenoise.datasets import load_dataset
    from graphdenoise.metrics import RankingEvaluator
    from graphdenoise.models import NeuMF
    from graphdenoise.utils import resolve_device

    device = resolve_device(args.device)
    data = load_dataset(args.dataset, root=args.root, data_dir=args.data_dir)
    torch.manual_seed(0)
    model = NeuMF(data).to(device).eval()
    if args.train_steps:
        print(f"{args.dataset}: NeuMF tower {model.widths}; torch {torch.__version__}, {torch.get_num_threads()} "
              f"threads, device {device}, load avg {os.getloadavg()[0]:.2f}")
        return train_step_ratio(model, data, args.train_steps, args.batch_size, args.repeat, device)
    evaluator = RankingEvaluator(data, ks=(50,))
    users = torch.unique(evaluator.indices["test"].users)
    if args.users:
        users = users[:args.users]
    n_users, n_items = users.numel(), model.num_items
    chunk = evaluator._chunk_size(model)
    flops = n_users * n_items * pair_flops(model)
    flops += 2 * model.mlp_dim * model.widths[1] * (n_users + n_items * -(-n_users // chunk))
    print(f"{args.dataset}: {n_users} users x {n_items} items, NeuMF tower {model.widths}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}, load avg {os.getloadavg()[0]:.2f}")
    throughput = gemm_throughput(device)
    floor = flops / throughput / 1e9
    with torch.no_grad():
        ours = timed(lambda: evaluator.top_k(model, "test", users), device, args.repeat)
        previous = model.score_matrix

        def autograd_form(user_rep, item_rep, out=None):
            out = user_rep.new_empty(user_rep.size(0), item_rep.size(0)) if out is None else out
            return model._score_blocks(user_rep, item_rep, out, split_first=True)
        model.score_matrix = autograd_form
        try:
            before = timed(lambda: evaluator.top_k(model, "test", users), device, 1)
        finally:
            model.score_matrix = previous
    print(f"FLOPs {flops / 1e9:.1f} G ({pair_flops(model)} per pair); addmm throughput {throughput:.1f} GFLOP/s; "
          f"floor {floor:.2f} s")
    print(f"ours            {ours:8.2f} s  {flops / ours / 1e9:6.1f} GFLOP/s  {ours / floor:5.2f}x the floor")
    print(f"autograd form   {before:8.2f} s  {flops / before / 1e9:6.1f} GFLOP/s  {before / floor:5.2f}x the floor "
          f"(ours / it: {ours / before:.2f})")
    print(f"(masking and top-k included in both; load avg at the end {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
