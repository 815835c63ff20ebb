r"""Sequence-model training speed against plain PyTorch loops of the same models on the same samples.

For each of SASRec, DIN and Wide & Deep, on MovieLens-100K (every rating an interaction,
leave-last-out, ``max_len=20``, one negative per real next item, batch 256):

* **ours**: one BCE epoch of :class:`~graphdenoise.sequential.SequenceTrainer` (sampling, batching,
  history gathering, Adam included);
* **reference**: a straightforward training loop of the same architecture written as its usual
  public implementation writes it -- SASRec in the ``pmixer/SASRec.pytorch`` style
  (``nn.MultiheadAttention`` over every position of every block, the last position scored; one
  encoding per sequence shared by its positive and negative, as SASRec.pytorch computes
  ``pos_logits`` and ``neg_logits`` from one ``log_feats``), DIN in DeepCTR's style (the attention
  unit on the concatenated ``[k, q, k - q, k * q]``), Wide & Deep as a linear part plus an MLP per
  sample -- on the same samples, in the same batches, with the same optimiser (Adam);
* **ATJT** (and ``--methods atjt,atjt-wat,atjt-dnr`` for the ablations): our epoch of the method over
  our BCE epoch of the same model, same process, interleaved (the issue's goal: <= 2.5x). ATJT's
  epoch includes its per-epoch diagnostics; DNR's recognisers are pre-trained once in ``setup``,
  outside the timed epochs.

The reference modules have our modules' parameter names, so ``reference.load_state_dict(ours.state_dict())``
makes them compute the same function (``tests/sequential/test_seq_speed_paths.py`` checks it).
Ratios are ours / reference, same process, interleaved; print the load average with them. Usage::

    python benchmarks/sequence_speed.py --data-dir ../shared/datasets [--threads 1] [--repeat 2]
    python benchmarks/sequence_speed.py --steps 20      # smoke run: the first 20 steps of each round
    python benchmarks/sequence_speed.py --methods atjt,atjt-wat,atjt-dnr --models widedeep,din,sasrec
    python benchmarks/sequence_speed.py --clock thread   # this thread's CPU time (a busy machine)
    python benchmarks/sequence_speed.py --flops --steps 8  # matmul FLOPs per step: each method's floor

``--flops`` counts the matrix-product FLOPs (``torch.utils.flop_counter``: mm, addmm, bmm, attention;
not the element-wise work) of one step of BCE and of each method, forward and backward, and prints
their ratio: the time ratio a method would have if its products ran as efficiently as BCE's. On
Wide&Deep the recogniser g of ATJT (the paper's attention units and output MLP over ``N`` = 2
batches) has about 2.5x the products of the recommender itself, so ATJT's floor there is about
3.5x BCE, above the issue's 2.5x goal.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
import _timing  # noqa: E402
from graphdenoise.sequential.data import PAD  # noqa: E402


# ------------------------------------------------------------------------------ reference models
class ReferenceSASRec(nn.Module):
    """SASRec.pytorch's ``log2feats`` with our padding-aware mask; every position of every block."""

    def __init__(self, num_items, max_len, d=50, num_blocks=2, num_heads=1, dropout=0.2):
        super().__init__()
        self.d = d
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=PAD)
        self.pos_emb = nn.Embedding(max_len, d)
        self.emb_dropout = nn.Dropout(dropout)
        self.attn_norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-8) for _ in range(num_blocks)])
        self.attns = nn.ModuleList([nn.MultiheadAttention(d, num_heads, dropout=dropout, batch_first=True)
                                    for _ in range(num_blocks)])
        self.ffn_norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-8) for _ in range(num_blocks)])
        self.ffns = nn.ModuleList([nn.Sequential(nn.Linear(d, d), nn.Dropout(dropout), nn.ReLU(),
                                                 nn.Linear(d, d), nn.Dropout(dropout)) for _ in range(num_blocks)])
        self.last_norm = nn.LayerNorm(d, eps=1e-8)

    def log2feats(self, history):
        n = history.size(1)
        real = (history != PAD).unsqueeze(-1)
        x = self.emb_dropout(self.item_emb(history) * math.sqrt(self.d) + self.pos_emb.weight[:n]) * real
        causal = torch.ones(n, n, dtype=torch.bool, device=history.device).tril()
        eye = torch.eye(n, dtype=torch.bool, device=history.device)
        blocked = ~((causal & real.transpose(1, 2)) | eye)
        blocked = blocked.repeat_interleave(self.attns[0].num_heads, dim=0)
        for norm, attn, ffn_norm, ffn in zip(self.attn_norms, self.attns, self.ffn_norms, self.ffns):
            q = norm(x)
            out, _ = attn(q, x, x, attn_mask=blocked, need_weights=False)
            x = ffn_norm(q + out)
            x = (x + ffn(x)) * real
        return self.last_norm(x)

    def forward(self, user, history, target):
        seq = self.log2feats(history)[:, -1]
        e_t = self.item_emb(target + 1)
        return (e_t * (seq.unsqueeze(1) if target.dim() == 2 else seq)).sum(-1)


class _Attention(nn.Module):
    def __init__(self, d, units):
        super().__init__()
        layers, width = [], 4 * d
        for h in units:
            layers += [nn.Linear(width, h), nn.Sigmoid()]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))


class ReferenceDIN(nn.Module):
    """DeepCTR-style DIN: attention unit on the concatenated ``[k, q, k - q, k * q]``, SUM pooling."""

    def __init__(self, num_users, num_items, d=16, attention_units=(80, 40), hidden_units=(200, 80)):
        super().__init__()
        self.user_emb = nn.Embedding(num_users, d)
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=PAD)
        self.attention = _Attention(d, attention_units)
        layers, width = [], 3 * d
        for h in hidden_units:
            layers += [nn.Linear(width, h), nn.PReLU(h)]
            width = h
        self.out = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, user, history, target):
        keys = self.item_emb(history)                                   # [B, N, d]
        q = self.item_emb(target + 1)                                   # [B, d]
        qn = q.unsqueeze(1).expand_as(keys)
        a = self.attention.net(torch.cat([keys, qn, keys - qn, keys * qn], -1)).squeeze(-1)
        a = a * (history != PAD)
        h = (a.unsqueeze(-1) * keys).sum(1)
        return self.out(torch.cat([self.user_emb(user), h, q], -1)).squeeze(-1)


class ReferenceWideDeep(nn.Module):
    """Wide & Deep per sample: linear part over user, target and mean history plus an MLP."""

    def __init__(self, num_users, num_items, d=16, hidden_units=(256, 128)):
        super().__init__()
        self.user_emb = nn.Embedding(num_users, d)
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=PAD)
        self.wide_user = nn.Embedding(num_users, 1)
        self.wide_target = nn.Embedding(num_items + 1, 1, padding_idx=PAD)
        self.wide_history = nn.Embedding(num_items + 1, 1, padding_idx=PAD)
        self.bias = nn.Parameter(torch.zeros(1))
        layers, width = [], 3 * d
        for h in hidden_units:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.deep = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, user, history, target):
        mask = (history != PAD).unsqueeze(-1).float()
        count = mask.sum(1).clamp(min=1)
        hist = (self.item_emb(history) * mask).sum(1) / count
        wide_hist = ((self.wide_history(history) * mask).sum(1) / count).squeeze(-1)
        t = target + 1
        wide = self.bias + self.wide_user(user).squeeze(-1) + self.wide_target(t).squeeze(-1) + wide_hist
        deep = self.deep(torch.cat([self.user_emb(user), self.item_emb(t), hist], -1)).squeeze(-1)
        return wide + deep


def reference_for(ours):
    """The reference module of our model ``ours``, with ``ours``' parameters."""
    cfg = ours.config
    if type(ours).__name__ == "SASRec":
        ref = ReferenceSASRec(ours.num_items, ours.max_len, cfg.embedding_dim, cfg.num_blocks, cfg.num_heads,
                              cfg.dropout)
    elif type(ours).__name__ == "DIN":
        ref = ReferenceDIN(ours.num_users, ours.num_items, cfg.embedding_dim, cfg.attention_units, cfg.hidden_units)
    else:
        ref = ReferenceWideDeep(ours.num_users, ours.num_items, cfg.embedding_dim, cfg.hidden_units)
    ref.load_state_dict(ours.state_dict())
    return ref.to(next(ours.parameters()).device)


def reference_epoch(model, data, batches, samples, device):
    """One plain epoch: Adam, BCE, the given batches; SASRec encodes a position's history once."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    per_position = isinstance(model, ReferenceSASRec)
    for index in batches:
        position = samples.position[index]
        target, label = samples.target[index].to(device), samples.label[index].to(device)
        if per_position:  # SASRec.pytorch: one log_feats per sequence, its positive and negative from it
            distinct, inverse = torch.unique(position, return_inverse=True)
            seq = model.log2feats(data.history(distinct).to(device))[:, -1][inverse.to(device)]
            logits = (model.item_emb(target + 1) * seq).sum(-1)
        else:
            logits = model(samples.user[index].to(device), data.history(position).to(device), target)
        loss = F.binary_cross_entropy_with_logits(logits, label)
        opt.zero_grad()
        loss.backward()
        opt.step()


# ------------------------------------------------------------------------------ timing
def limit_steps(method, steps):
    """Keep only ``steps`` recommender steps of ``method``'s plans, spread over its rounds (smoke runs)."""
    plan = method.plan

    def limited(samples, batch_size, generator):
        rounds = plan(samples, batch_size, generator)
        for round_ in rounds:
            round_.steps = round_.steps[:max(1, steps // len(rounds))] if steps else round_.steps
        method.last_steps = [s.rec for r in rounds for s in r.steps]
        return rounds
    method.plan = limited


CLOCK = time.perf_counter
DEVICE = "cpu"


def timed(fn):
    return _timing.timed(fn, DEVICE, 1, CLOCK)


def compare(name, view, args, device):
    from graphdenoise.sequential import SEQUENCE_METHODS, SEQUENCE_MODELS, SequenceTrainer, SequenceTrainerConfig
    from graphdenoise.sequential.methods import shuffled_batches
    cfg = SequenceTrainerConfig(device=str(device), show_progress=False, batch_size=args.batch_size)
    trainers = {}
    methods = args.methods.split(",")
    for method in ("bce", *methods):
        torch.manual_seed(0)
        algo = SEQUENCE_METHODS.get(method)()
        limit_steps(algo, args.steps)
        trainers[method] = SequenceTrainer(SEQUENCE_MODELS.get(name).from_data(view), algo, view, cfg)
    ref = reference_for(trainers["bce"].model).train()
    gen = torch.Generator().manual_seed(1)
    best = {"ours": math.inf, "ref": math.inf, **{m: math.inf for m in methods}}
    for _ in range(args.repeat):
        trainer = trainers["bce"]
        best["ours"] = min(best["ours"], timed(trainer.train_epoch))
        num_steps = len(trainer.method.last_steps)

        def reference():  # the same sampler and batching, then the plain loop for as many steps
            samples = view.training_samples(gen)
            batches = shuffled_batches(torch.arange(len(samples)), args.batch_size, gen, samples.position)
            reference_epoch(ref, view, batches[:num_steps], samples, device)
        best["ref"] = min(best["ref"], timed(reference))
        for method in methods:
            best[method] = min(best[method], timed(trainers[method].train_epoch))
    return best, len(trainers["bce"].method.last_steps)


def step_flops(name, view, args, device):
    """Matrix-product FLOPs per recommender step of BCE and of each of ``args.methods`` (forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode
    from graphdenoise.sequential import SEQUENCE_METHODS, SEQUENCE_MODELS, SequenceTrainer, SequenceTrainerConfig
    cfg = SequenceTrainerConfig(device=str(device), show_progress=False, batch_size=args.batch_size)
    out = {}
    for method in ("bce", *args.methods.split(",")):
        torch.manual_seed(0)
        algo = SEQUENCE_METHODS.get(method)()
        limit_steps(algo, args.steps or 8)
        trainer = SequenceTrainer(SEQUENCE_MODELS.get(name).from_data(view), algo, view, cfg)
        trainer.train_epoch()  # a first epoch (lazy set-up) outside the count
        with FlopCounterMode(display=False) as counter:
            trainer.train_epoch()
        out[method] = counter.get_total_flops() / len(algo.last_steps)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHDENOISE_DATA"))
    parser.add_argument("--root", default=None, help="processed-data folder (the dataset's default if omitted)")
    parser.add_argument("--models", default="sasrec,din,widedeep")
    parser.add_argument("--methods", default="atjt", help="methods timed against BCE (atjt, atjt-wat, atjt-dnr)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds per comparison (best kept)")
    parser.add_argument("--steps", type=int, default=0, help="first N steps of each round only (0: whole epochs)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("wall", "cpu", "thread"), default="wall",
                        help="wall time, this process's CPU time, or this thread's CPU time (least distorted on a "
                             "busy machine; with --threads 1 only, as torch's worker threads are not counted)")
    parser.add_argument("--flops", action="store_true",
                        help="count matrix-product FLOPs per step instead of timing (each method's floor over BCE)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK, DEVICE
    if args.clock == "thread" and args.threads != 1:
        parser.error("--clock thread needs --threads 1 (torch's worker threads are not counted)")
    CLOCK = {"wall": time.perf_counter, "cpu": time.process_time, "thread": time.thread_time}[args.clock]
    from graphdenoise.datasets import load_dataset
    from graphdenoise.sequential import SequenceData
    from graphdenoise.utils import resolve_device
    DEVICE = device = resolve_device(args.device)
    view = SequenceData(load_dataset("ml-100k", root=args.root, data_dir=args.data_dir, rating_threshold=None))
    print(f"{view}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"load avg {os.getloadavg()[0]:.2f}; {args.clock} clock; steps per epoch: {args.steps or 'all'}")
    methods = args.methods.split(",")
    if args.flops:
        print(f"\n{'model':<10}{'BCE MFLOP/step':>16}" + "".join(f"{m + ' MFLOP':>18}{m + '/BCE':>14}" for m in methods))
        for name in args.models.split(","):
            flops = step_flops(name, view, args, device)
            print(f"{name:<10}{flops['bce'] / 1e6:>16.1f}"
                  + "".join(f"{flops[m] / 1e6:>18.1f}{flops[m] / flops['bce']:>14.2f}" for m in methods), flush=True)
        return
    print(f"\n{'model':<10}{'ours BCE (s)':>14}{'reference (s)':>15}{'ratio':>8}"
          + "".join(f"{m + ' (s)':>16}{m + '/BCE':>14}" for m in methods))
    for name in args.models.split(","):
        best, steps = compare(name, view, args, device)
        print(f"{name:<10}{best['ours']:>14.2f}{best['ref']:>15.2f}{best['ours'] / best['ref']:>8.2f}"
              + "".join(f"{best[m]:>16.2f}{best[m] / best['ours']:>14.2f}" for m in methods)
              + f"   ({steps} BCE steps)", flush=True)
    print(f"\nload avg at the end {os.getloadavg()[0]:.2f} (ratios from a busy machine are only indicative)")


if __name__ == "__main__":
    main()
