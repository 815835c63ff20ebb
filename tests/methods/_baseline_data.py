"""Tiny planted-cluster data shared by the baseline-method tests (imported by file name)."""
import torch

from graphdenoise.datasets.graph import make_heterodata


def tiny_data(num_users: int = 48, num_items: int = 60, clusters: int = 4, per_user: int = 8, seed: int = 0):
    """Users of cluster ``c`` interact with ``per_user`` items of item cluster ``c``; one goes to
    validation, one to test, the rest to training."""
    g = torch.Generator().manual_seed(seed)
    items_per = num_items // clusters
    splits = {"train": [], "val": [], "test": []}
    for u in range(num_users):
        chosen = (u % clusters) * items_per + torch.randperm(items_per, generator=g)[:per_user]
        for split, part in (("val", chosen[:1]), ("test", chosen[1:2]), ("train", chosen[2:])):
            splits[split].append(torch.stack([torch.full_like(part, u), part]))
    return make_heterodata(num_users, num_items, {k: torch.cat(v, 1) for k, v in splits.items()})


FIT_OPTIONS = dict(epochs=1, eval_every=1, batch_size=64, ks=(5, 10), monitor="recall@10", device="cpu")


def fit_one_epoch(model: str, method: str, data=None, **options):
    """``graphdenoise.api.fit`` for one epoch on :func:`tiny_data`, with sanity checks on the result."""
    import math

    from graphdenoise.api import fit

    result = fit(dataset=tiny_data() if data is None else data, model=model, method=method,
                 **{**FIT_OPTIONS, **options})
    record = result.history[-1]
    assert math.isfinite(record["loss"])
    assert 0.0 <= result.metrics["test"]["recall@10"] <= 1.0
    assert "val/recall@10" in record
    return result


def make_trainer(method, model_cls=None, **options):
    """A CPU :class:`~graphdenoise.train.Trainer` of ``method`` on :func:`tiny_data` (seeded MF by default)."""
    from graphdenoise.models import MF
    from graphdenoise.train import Trainer, TrainerConfig

    data = tiny_data()
    torch.manual_seed(0)
    config = {**FIT_OPTIONS, "show_progress": False, **options}
    return Trainer((model_cls or MF)(data), method, data, TrainerConfig(**config))
