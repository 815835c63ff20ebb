"""No dense |U| x |I| object anywhere: train and rank on a graph whose dense matrix could never fit."""
import subprocess
import sys
import textwrap


SCRIPT = textwrap.dedent("""
    import resource, torch
    from graphdenoise.datasets.graph import make_heterodata
    from graphdenoise.methods import TILUI
    from graphdenoise.metrics import RankingEvaluator
    from graphdenoise.models import LightGCN
    from graphdenoise.train import Trainer, TrainerConfig

    import time; START = time.perf_counter()
    torch.manual_seed(0)
    users, items, edges = 2_000_000, 2_000_000, 3_000_000   # dense float32: 16 TB
    keys = torch.unique(torch.randint(users, (edges,)) * items + torch.randint(items, (edges,)))
    e = torch.stack([keys // items, keys % items])[:, torch.randperm(keys.numel())]
    n = e.size(1)
    data = make_heterodata(users, items, {"train": e[:, : n - 20000], "val": e[:, n - 20000: n - 10000],
                                          "test": e[:, n - 10000:]})
    model = LightGCN(data, embedding_dim=8)
    trainer = Trainer(model, TILUI(), data, TrainerConfig(batch_size=20000, device="cpu", show_progress=False,
                                                          eval_memory_mb=64))
    for _, (batch, ctx) in zip(range(3), trainer.batches()):   # three full TIL steps through the propagation
        trainer.optimisation_step(batch, ctx)
    ranked = RankingEvaluator(data, ks=(20,), memory_budget_mb=64).top_k(model, "test", torch.arange(50))
    assert ranked.shape == (50, 20)
    import time; print("seconds", time.perf_counter() - START)
    print("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
""")


def test_two_million_by_two_million_graph_trains_and_ranks_in_bounded_memory():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    peak_mb = float(out.stdout.split("peak_mb")[-1])
    assert peak_mb < 6000, f"peak RSS {peak_mb:.0f} MiB"
