r"""Training-epoch and full-ranking speed against references, in one run (issue: backbones/trainer).

Times, on the same data and settings (default Gowalla, dim 64, batch 5000, 1 LightGCN layer):

* seconds per training epoch of our MF and LightGCN (BPR, uniform negatives, fused Adam);
* seconds of one full-ranking evaluation of every test user (top-50, training and validation items
  masked), ours vs a straightforward chunked torch evaluation (PyG's ``examples/lightgcn.py`` style);
* references: (a) a plain MF-BPR loop (``nn.Embedding``, default Adam, vectorised uniform
  negatives); (b) a BPR loop over PyG's ``torch_geometric.nn.models.LightGCN`` fed a pre-normalised
  sparse CSR adjacency (its fastest form), full propagation every batch;
* the matmul + top-k floor of the evaluation, and the peak RSS.

Ratios are ours / reference, same process, measured back to back. Usage::

    python benchmarks/speed.py --data-dir ../shared/datasets [--dataset gowalla] [--threads 2] \
        [--device cuda] [--parts mf,lightgcn,eval] [--breakdown]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch
from torch import nn
from torch_geometric.metrics import LinkPredMetricCollection, LinkPredNDCG, LinkPredRecall

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
import _timing  # noqa: E402
from _timing import sync  # noqa: E402
from graphdenoise.datasets import load_dataset  # noqa: E402
from graphdenoise.datasets.graph import held_out_edges, num_users_items, train_edges  # noqa: E402
from graphdenoise.methods import BPR  # noqa: E402
from graphdenoise.metrics.topk import row_topk  # noqa: E402
from graphdenoise.models import MF, LightGCN  # noqa: E402
from graphdenoise.models.lightgcn import normalized_bipartite_adjacency  # noqa: E402
from graphdenoise.train import Trainer, TrainerConfig  # noqa: E402
from graphdenoise.utils import InteractionIndex  # noqa: E402


DEVICE = "cpu"


def timed(fn, repeat=1):
    return _timing.timed(fn, DEVICE, repeat)


def interleaved(ours, reference, repeat):
    """Best-of-``repeat`` times of ``ours`` and ``reference``, run alternately so load drift hits both."""
    t_ours = t_ref = float("inf")
    for _ in range(repeat):
        t_ref = min(t_ref, timed(reference))
        t_ours = min(t_ours, timed(ours))
    return t_ours, t_ref


def uniform_negatives(index: InteractionIndex, users, generator):
    neg = torch.randint(index.num_items, users.shape, generator=generator).to(users.device)
    bad = index.contains(users, neg).nonzero().view(-1)
    while bad.numel():
        neg[bad] = torch.randint(index.num_items, bad.shape, generator=generator).to(users.device)
        bad = bad[index.contains(users[bad], neg[bad])]
    return neg


def eval_breakdown(evaluator, model, split, device):
    """Seconds of our evaluation's parts: representations, score GEMM, masking, top-k, metrics."""
    parts = dict.fromkeys(("representations", "score GEMM", "masking (-inf)", "top-k", "metrics"), 0.0)

    def clock(name, fn):
        sync(device)
        start = time.perf_counter()
        value = fn()
        sync(device)
        parts[name] += time.perf_counter() - start
        return value
    with torch.no_grad():
        model.eval()
        users = torch.unique(evaluator.indices[split].users)
        user_rep, item_rep = clock("representations", model.representations)
        chunk = evaluator._chunk_size(model)
        masks = [evaluator.indices[s] for s in evaluator.masked_splits(split) if s in evaluator.indices]
        tops = []
        for start in range(0, users.numel(), chunk):
            batch = users[start:start + chunk]
            buf = evaluator._scores_buffer(batch.numel(), device)
            scores = clock("score GEMM", lambda: model.score_matrix(user_rep[batch.to(device)], item_rep, out=buf))

            def mask():
                for index in masks:
                    row, col = index.gather_rows(batch)
                    scores[row.to(device), col.to(device)] = float("-inf")
            clock("masking (-inf)", mask)
            tops.append(clock("top-k", lambda: row_topk(scores, evaluator.ks[-1]).cpu()))
        clock("metrics", lambda: evaluator.metrics_from_top_k(split, users, torch.cat(tops)))
    return parts


def reference_mf_epoch(edge_index, index, num_users, num_items, batch_size, generator, device="cpu"):
    """A plain MF-BPR loop: nn.Embedding, Adam, vectorised uniform negatives."""
    user, item = nn.Embedding(num_users, 64).to(device), nn.Embedding(num_items, 64).to(device)
    nn.init.xavier_uniform_(user.weight)
    nn.init.xavier_uniform_(item.weight)
    opt = torch.optim.Adam(list(user.parameters()) + list(item.parameters()), lr=1e-3)

    def epoch():
        perm = torch.randperm(edge_index.size(1), generator=generator).to(edge_index.device)
        for start in range(0, perm.numel(), batch_size):
            ids = perm[start:start + batch_size]
            u, i = edge_index[0, ids], edge_index[1, ids]
            j = uniform_negatives(index, u, generator)
            pu, qi, qj = user(u), item(i), item(j)
            loss = -torch.nn.functional.logsigmoid((pu * qi).sum(-1) - (pu * qj).sum(-1)).mean()
            loss = loss + 1e-4 * 0.5 * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum()) / u.numel()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return epoch, (user.weight, item.weight)


def reference_pyg_lightgcn_epoch(edge_index, index, num_users, num_items, batch_size, generator, device="cpu"):
    """A BPR loop over PyG's LightGCN with a cached, pre-normalised CSR adjacency."""
    from torch_geometric.nn.models import LightGCN as PyGLightGCN
    model = PyGLightGCN(num_users + num_items, 64, num_layers=1).to(device)
    for conv in model.convs:
        conv.normalize = False
    adj = normalized_bipartite_adjacency(edge_index.cpu(), num_users, num_items).matrix.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        perm = torch.randperm(edge_index.size(1), generator=generator).to(edge_index.device)
        for start in range(0, perm.numel(), batch_size):
            ids = perm[start:start + batch_size]
            u, i = edge_index[0, ids], edge_index[1, ids]
            j = uniform_negatives(index, u, generator)
            label = torch.stack([torch.cat([u, u]), torch.cat([i, j]) + num_users])
            rank = model(adj, label)
            pos, neg = rank.chunk(2)
            loss = model.recommendation_loss(pos, neg, node_id=torch.cat([u, i + num_users, j + num_users]),
                                             lambda_reg=1e-4)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return epoch, model


def reference_evaluation(user_emb, item_emb, train_ei, val_ei, test_ei, num_users, k, chunk=4096):
    """A straightforward chunked evaluation (PyG examples/lightgcn.py style)."""
    metrics = LinkPredMetricCollection([LinkPredRecall(k), LinkPredNDCG(k)]).to(user_emb.device)
    mask_ei = torch.cat([train_ei, val_ei], 1)
    for start in range(0, num_users, chunk):
        end = min(start + chunk, num_users)
        logits = user_emb[start:end] @ item_emb.t()
        sel = (mask_ei[0] >= start) & (mask_ei[0] < end)
        logits[mask_ei[0, sel] - start, mask_ei[1, sel]] = float("-inf")
        sel = (test_ei[0] >= start) & (test_ei[0] < end)
        labels = torch.stack([test_ei[0, sel] - start, test_ei[1, sel]])
        metrics.update(logits.topk(k, dim=1).indices, labels)
    return {name: float(v) for name, v in metrics.compute().items()}


def matmul_topk_floor(user_emb, item_emb, users, k, chunk=4096):
    for start in range(0, users.numel(), chunk):
        (user_emb[users[start:start + chunk]] @ item_emb.t()).topk(k, dim=1)


def main():
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--root", default=None, help="processed-data folder (the dataset's default if omitted)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds per comparison (best kept)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (ours and the references)")
    parser.add_argument("--parts", default="mf,lightgcn,eval", help="comma-separated subset of mf,lightgcn,eval")
    parser.add_argument("--breakdown", action="store_true",
                        help="also split our evaluation into representations, GEMM, masking, top-k and metrics")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from graphdenoise.utils import resolve_device
    DEVICE = device = resolve_device(args.device)
    parts = set(args.parts.split(","))
    data = load_dataset(args.dataset, root=args.root, data_dir=args.data_dir)
    num_users, num_items = num_users_items(data)
    edge_index = train_edges(data)
    index = InteractionIndex(edge_index, num_users, num_items)
    print(f"{args.dataset}: {num_users} users, {num_items} items, {edge_index.size(1)} training edges; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"load avg {os.getloadavg()[0]:.2f}")
    gen = torch.Generator().manual_seed(0)
    rows = []
    dev_edges, dev_index = edge_index.to(device), index.to(device)
    cfg = TrainerConfig(batch_size=args.batch_size, show_progress=False, device=str(device))
    ours_mf = Trainer(MF(data), BPR(), data, cfg)
    if "mf" in parts:
        ref_mf, _ = reference_mf_epoch(dev_edges, dev_index, num_users, num_items, args.batch_size, gen, device)
        t_ours, t_ref = interleaved(ours_mf.train_epoch, ref_mf, args.repeat)
        rows.append(("MF epoch (s)", t_ours, t_ref, "plain MF-BPR loop"))
    if "lightgcn" in parts:
        ref_lgn, _ = reference_pyg_lightgcn_epoch(dev_edges, dev_index, num_users, num_items, args.batch_size, gen,
                                                  device)
        ours_lgn = Trainer(LightGCN(data, num_layers=1), BPR(), data, cfg)
        t_ours, t_ref = interleaved(ours_lgn.train_epoch, ref_lgn, args.repeat)
        rows.append(("LightGCN epoch (s)", t_ours, t_ref, "PyG LightGCN + CSR"))
    if "eval" in parts:
        rows += compare_evaluation(data, ours_mf, args, device)
    print(f"\n{'what':<26}{'ours':>10}{'reference':>12}{'ratio':>8}  reference")
    for name, ours, ref, what in rows:
        print(f"{name:<26}{ours:>10.2f}{ref:>12.2f}{ours / ref:>8.2f}  {what}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the whole run: {peak_mb:.0f} MiB; load avg at the end {os.getloadavg()[0]:.2f}")


def compare_evaluation(data, trainer, args, device):
    """Our full-ranking evaluation against the chunked torch reference, the floor, and optionally a breakdown."""
    model, evaluator, k = trainer.model, trainer.evaluator, 50
    user_emb, item_emb = (t.detach() for t in model.representations())
    edges = [train_edges(data).to(device), held_out_edges(data, "val").to(device), held_out_edges(data, "test").to(device)]
    num_users = user_emb.size(0)
    test_users = torch.unique(held_out_edges(data, "test")[0]).to(device)
    with torch.no_grad():
        t_ours, t_ref = interleaved(lambda: evaluator.evaluate(model, "test"),
                                    lambda: reference_evaluation(user_emb, item_emb, *edges, num_users, k),
                                    args.repeat)
        ref_metrics = reference_evaluation(user_emb, item_emb, *edges, num_users, k)
        ours_metrics = evaluator.evaluate(model, "test")
        t_floor = timed(lambda: matmul_topk_floor(user_emb, item_emb, test_users, k))
    rows = [("evaluation (s)", t_ours, t_ref, "chunked torch eval"),
            ("  torch matmul+topk alone", t_floor, t_ref, "same reference")]
    if args.breakdown:
        for name, seconds in eval_breakdown(evaluator, model, "test", device).items():
            rows.append((f"  ours: {name}", seconds, t_ours, "share of our evaluation"))
    agree = abs(ref_metrics[f"LinkPredRecall@{k}"] - ours_metrics[f"recall@{k}"]) < 1e-5
    print(f"evaluation metrics agree with the reference: {agree} (recall@{k} {ours_metrics[f'recall@{k}']:.5f})")
    return rows


if __name__ == "__main__":
    main()
