"""fit_sequence: every encoder with and without ATJT, ablations, determinism, options, real data."""
import math

import pytest
import torch

from graphdenoise.api import FitResult
from graphdenoise.sequential import SEQUENCE_METHODS, SEQUENCE_MODELS, SequenceData, fit_sequence

SMALL = dict(max_len=5, eval_negatives=10, batch_size=32, embedding_dim=8)


def check(result, model, method):
    assert isinstance(result, FitResult)
    assert type(result.model) is SEQUENCE_MODELS.get(model)
    assert type(result.method) is SEQUENCE_METHODS.get(method)
    assert set(result.metrics) == {"val", "test"}
    for split in ("val", "test"):
        assert set(result.metrics[split]) == {"auc", "hr@5", "ndcg@5"}
        assert all(math.isfinite(v) for v in result.metrics[split].values())
    assert result.config["model"] == model and result.config["method"] == method
    assert len(result.history) == 1 and "val/auc" in result.history[0]


@pytest.mark.parametrize("method", ["bce", "atjt"])
@pytest.mark.parametrize("model", ["widedeep", "din", "sasrec"])
def test_each_encoder_trains_one_epoch(toy_graph, model, method):
    result = fit_sequence(toy_graph, model, method, epochs=1, seed=0, **SMALL)
    check(result, model, method)
    if method == "atjt":
        assert {"loss_rec", "loss_aux", "w_mean", "w_clean", "w_noisy"} <= set(result.history[0])
        assert set(result.method.weight_stats) == {"clean_mean", "clean_std", "noisy_mean", "noisy_std", "gap"}
    top = result.recommend(torch.tensor([0, 3]), k=5)          # the user's next items, seen items excluded
    assert top.shape == (2, 5)
    assert not bool(result.model.seen.contains(torch.tensor([0, 3]).repeat_interleave(5), top.reshape(-1)).any())


@pytest.mark.parametrize("method", ["atjt-wat", "atjt-dnr"])
def test_ablations_train(toy_graph, method):
    check(fit_sequence(toy_graph, "widedeep", method, epochs=1, seed=0, **SMALL), "widedeep", method)


def test_deterministic_and_selects_on_validation(toy_graph):
    a = fit_sequence(toy_graph, "din", "atjt", epochs=3, seed=3, patience=0, **SMALL)
    b = fit_sequence(toy_graph, "din", "atjt", epochs=3, seed=3, patience=0, **SMALL)
    c = fit_sequence(toy_graph, "din", "atjt", epochs=3, seed=4, patience=0, **SMALL)
    assert a.metrics == b.metrics and a.history[-1]["loss"] == b.history[-1]["loss"]
    assert a.history[-1]["loss"] != c.history[-1]["loss"]
    val = [h["val/auc"] for h in a.history]
    assert a.best_epoch == 1 + max(range(len(val)), key=val.__getitem__)
    assert a.metrics["val"]["auc"] == pytest.approx(max(val))


def test_options_are_routed_by_name(toy_graph):
    result = fit_sequence(toy_graph, "widedeep", "atjt", epochs=1, num_groups=3, alpha=0.5, lr=2e-3,
                          hidden_units=(8,), **SMALL)
    assert result.method.config.num_groups == 3 and result.method.config.alpha == 0.5
    assert result.config["trainer"]["lr"] == 2e-3 and result.model.config.hidden_units == (8,)
    assert result.config["data_config"]["max_len"] == 5
    with pytest.raises(ValueError, match="unknown option 'groups'.*valid options:.*num_groups"):
        fit_sequence(toy_graph, "widedeep", "atjt", groups=3)
    with pytest.raises(ValueError, match="unknown option 'alpha'"):
        fit_sequence(toy_graph, "widedeep", "bce", alpha=1.0)
    with pytest.raises(ValueError, match="unknown sequence model 'gru4rec'"):
        fit_sequence(toy_graph, "gru4rec", "bce")
    view = SequenceData(toy_graph, max_len=5)
    with pytest.raises(ValueError, match="prebuilt SequenceData"):
        fit_sequence(view, "widedeep", "bce", max_len=3)


@pytest.mark.dataset
def test_one_epoch_on_movielens_100k(ml100k):
    view = SequenceData(ml100k, max_len=10, eval_negatives=20)
    assert view.user.numel() == 100_000                                 # every rating is an interaction
    assert view.num_targets("test") == view.num_targets("val") == 943
    result = fit_sequence(view, "widedeep", "bce", epochs=1, seed=0, batch_size=1024, embedding_dim=8,
                          hidden_units=(32,))
    check(result, "widedeep", "bce")
    assert result.metrics["test"]["auc"] > 0.7                          # far above chance after one epoch


@pytest.mark.parametrize("method", ["atjt", "bce"])
def test_resume_is_exact(toy_graph, tmp_path, method):
    """The sequence task checkpoints through the shared loop: stopping after one epoch and resuming
    gives the uninterrupted run bit for bit (samples, g's rounds and optimisers, dropout RNG)."""
    options = dict(SMALL, patience=0, fresh_recognizer=False) if method == "atjt" else dict(SMALL, patience=0)
    straight = fit_sequence(toy_graph, "din", method, epochs=2, seed=1, checkpoint_dir=str(tmp_path / "a"), **options)
    first = fit_sequence(toy_graph, "din", method, epochs=1, seed=1, checkpoint_dir=str(tmp_path / "b"), **options)
    resumed = fit_sequence(toy_graph, "din", method, epochs=2, seed=1, checkpoint_dir=str(tmp_path / "b"),
                           resume=True, **options)
    assert resumed.history[0] == first.history[0]  # epoch 1 came from the checkpoint, not a re-run
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    assert resumed.metrics == straight.metrics
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_save_and_load_round_trip(toy_graph, tmp_path):
    import graphdenoise

    result = graphdenoise.fit(toy_graph, model="sasrec", method="atjt", epochs=1, seed=0, **SMALL)
    result.save(tmp_path / "seq.pt")
    loaded = graphdenoise.load(tmp_path / "seq.pt")
    assert type(loaded.model) is type(result.model) and loaded.config == result.config
    assert loaded.metrics == result.metrics
    users = torch.arange(5)
    assert torch.equal(loaded.recommend(users, k=5), result.recommend(users, k=5))
