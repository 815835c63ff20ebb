"""Model selection on natural noise (clean / noisy validation, the revised validation loss) and noise
detection on real low-rated interactions."""
from __future__ import annotations

import math

import pytest
import torch

from graphdenoise.datasets import INTERACTS, NaturalNoiseSplit
from graphdenoise.datasets.graph import make_heterodata, train_edges
from graphdenoise.experiments.analysis import noise_roc
from graphdenoise.methods import BPR, RCE
from graphdenoise.metrics import RankingEvaluator, noise_detection_auc, revised_bce, validation_loss
from graphdenoise.models import MF
from graphdenoise.train import Trainer, TrainerConfig
from graphdenoise.utils import InteractionIndex


def bce(logit: float, label: int) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -math.log(p) if label else -math.log(1 - p)


def test_revised_bce_drops_the_highest_loss_positives_by_hand():
    pos = torch.tensor([2.0, -1.0, 0.5, -3.0, 1.0], dtype=torch.float64)
    neg = torch.tensor([-2.0, 0.3, 4.0], dtype=torch.float64)
    losses = sorted(bce(x, 1) for x in pos.tolist())
    kept = losses[:int(5 * 0.8)]                      # the study keeps int(0.8 n) lowest (code/main.py:97-102)
    expected = (sum(kept) + sum(bce(x, 0) for x in neg.tolist())) / (len(kept) + 3)
    assert revised_bce(pos, neg, 0.2).item() == pytest.approx(expected, rel=1e-12)
    plain = (sum(losses) + sum(bce(x, 0) for x in neg.tolist())) / 8
    assert revised_bce(pos, neg, 0.0).item() == pytest.approx(plain, rel=1e-12)
    with pytest.raises(ValueError, match="drop_share"):
        revised_bce(pos, neg, 1.0)


def rated_natural_graph(seed: int = 0):
    """A small rated dataset through NaturalNoiseSplit (clean = rating >= 4)."""
    g = torch.Generator().manual_seed(seed)
    num_users, num_items = 40, 50
    keys = torch.randperm(num_users * num_items, generator=g)[:900]
    edges = torch.stack([keys // num_items, keys % num_items])
    rating = torch.randint(1, 6, (900,), generator=g).float()
    cut = {"train": slice(0, 600), "val": slice(600, 750), "test": slice(750, 900)}
    data = make_heterodata(num_users, num_items, {k: edges[:, s] for k, s in cut.items()},
                           {k: {"rating": rating[s]} for k, s in cut.items()})
    return NaturalNoiseSplit(clean_threshold=4)(data)


def test_validation_loss_negatives_avoid_training_pairs_and_are_seeded():
    data = rated_natural_graph()
    torch.manual_seed(0)
    model = MF(data, embedding_dim=8)
    a = validation_loss(model, data, "val_noisy", drop_share=0.2, seed=3)
    b = validation_loss(model, data, "val_noisy", drop_share=0.2, seed=3)
    c = validation_loss(model, data, "val_noisy", drop_share=0.2, seed=4)
    assert a == b and a["loss"] != c["loss"]
    assert a["kept_positives"] == int(data[INTERACTS].val_noisy_edge_label_index.size(1) * 0.8)
    from graphdenoise.metrics.validation import uniform_negatives
    index = InteractionIndex(train_edges(data), 40, 50)
    users = torch.arange(40).repeat(50)
    neg = uniform_negatives(index, users, torch.Generator().manual_seed(0))
    assert not index.contains(users, neg).any() and int(neg.max()) < 50


@pytest.mark.parametrize("select_on", ["val", "val_noisy", "val_loss", "val_loss_revised"])
def test_trainer_selects_by_each_rule(select_on):
    data = rated_natural_graph()
    torch.manual_seed(0)
    config = TrainerConfig(epochs=4, batch_size=128, lr=1e-2, eval_every=1, patience=0, show_progress=False,
                           select_on=select_on)
    trainer = Trainer(MF(data, embedding_dim=8), BPR(), data, config)
    history = trainer.fit()
    key = {"val": "val/recall@20", "val_noisy": "val_noisy/recall@20", "val_loss": "val_noisy/loss",
           "val_loss_revised": "val_noisy/loss_revised"}[select_on]
    values = [record[key] for record in history]
    best = (min if "loss" in key else max)(values)
    assert values[trainer.best_epoch - 1] == best
    assert trainer.best_metric == pytest.approx(-best if "loss" in key else best)


def test_selection_rule_errors():
    with pytest.raises(ValueError, match="select_on=.test. is not a valid choice: must be one of"):
        TrainerConfig(select_on="test")
    data = make_heterodata(5, 6, {"train": torch.tensor([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]),
                                  "val": torch.tensor([[0, 1], [5, 5]]), "test": torch.tensor([[2], [5]])})
    with pytest.raises(ValueError, match="val_noisy"):
        Trainer(MF(data), BPR(), data, TrainerConfig(ks=(5,), monitor="recall@5", select_on="val_noisy",
                                                     show_progress=False))


def test_evaluator_masks_every_validation_interaction_on_test():
    data = rated_natural_graph()
    evaluator = RankingEvaluator(data, ks=(5,))
    assert set(evaluator.indices) == {"train", "val", "test", "val_noisy", "test_noisy"}
    assert evaluator.masked_splits("test_noisy") == ("train", "val", "val_noisy")
    model = MF(data, embedding_dim=8)
    for split in ("val_noisy", "test_noisy", "test"):
        assert evaluator.evaluate(model, split) == pytest.approx(evaluator.evaluate_brute_force(model, split))


def test_noise_detection_on_natural_ml100k(load_natural):
    data = load_natural
    torch.manual_seed(0)
    method = RCE()
    trainer = Trainer(MF(data, embedding_dim=16), method, data,
                      TrainerConfig(epochs=2, batch_size=4096, lr=5e-3, eval_every=2, show_progress=False))
    trainer.fit()
    out = noise_detection_auc(method, trainer.model, data, batch_size=40000)
    assert 0.0 <= out["weight_auc"] <= 1.0 and out["weight_auc"] > 0.5      # low ratings get lower weights
    roc = noise_roc(method, trainer.model, data, batch_size=40000)
    assert roc["num_noisy"] == 62_014 and roc["num_clean"] == 17_605
    assert roc["curve_auc"] == pytest.approx(out["weight_auc"], abs=1e-9)


@pytest.fixture(scope="module")
def load_natural(shared_data_dir, tmp_path_factory):
    from graphdenoise.datasets import load_dataset
    return load_dataset("ml-100k-natural", root=str(tmp_path_factory.mktemp("natural")),
                        data_dir=str(shared_data_dir), log=False)


class Interrupt(Exception):
    pass


def test_resume_is_bit_identical_with_cdae_and_revised_selection(tmp_path):
    from graphdenoise.models import CDAE
    from graphdenoise.utils import seed_everything
    data = rated_natural_graph()

    def make(checkpoint_dir=None, resume=False):
        seed_everything(0)
        config = TrainerConfig(epochs=4, batch_size=128, lr=1e-2, eval_every=1, patience=0, show_progress=False,
                               select_on="val_loss_revised", checkpoint_dir=checkpoint_dir, resume=resume)
        return Trainer(CDAE(data, embedding_dim=8), BPR(), data, config)

    reference = make()
    reference.fit()

    def stop(epoch, record):
        if epoch == 2:
            raise Interrupt

    interrupted = make(str(tmp_path))
    interrupted.callbacks.append(stop)
    with pytest.raises(Interrupt):
        interrupted.fit()
    seed_everything(99)
    resumed = make(str(tmp_path), resume=True)
    resumed.fit()
    assert resumed.history == [dict(h, seconds=r["seconds"]) for h, r in zip(reference.history, resumed.history)]
    assert resumed.best_epoch == reference.best_epoch
    assert resumed.final_metrics() == reference.final_metrics()
