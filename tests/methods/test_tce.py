import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import METHODS, TCE, StepContext
from graphdenoise.methods.reweighting import LinearDropRate, masked_mean, truncation_mask
from graphdenoise.models import MODELS


def test_schedule_counts_iterations():
    schedule = LinearDropRate(0.2, 100)
    assert schedule(0) == 0.0
    assert schedule(50) == pytest.approx(0.1)
    assert schedule(100) == schedule(10_000) == 0.2
    assert [schedule(t) for t in (10, 20)] == pytest.approx([min(t / 100, 1) * 0.2 for t in (10, 20)])
    quirk = LinearDropRate(0.2, 100, exponent=2.0)  # the authors' jump at t = num_gradual
    assert quirk(50) == pytest.approx(0.02) and quirk(100) == 0.2
    for bad in ({"max_rate": 1.0}, {"max_rate": -0.1}, {"num_gradual": -1}, {"exponent": 0.0}):
        with pytest.raises(ValueError):
            LinearDropRate(**{"max_rate": 0.2, "num_gradual": 10, **bad})
    with pytest.raises(ValueError):
        TCE(drop_rate=1.0)
    with pytest.raises(ValueError):
        TCE(drop_scope="all")
    assert METHODS.get("tce") is TCE


def test_truncation_mask_drops_the_largest_candidates():
    terms = torch.tensor([0.5, 3.0, 1.0, 2.0, 9.0, 0.1])
    positives = torch.tensor([True, True, True, True, False, False])
    # batch scope: int(0.7 * 6) = 4 kept -> 2 dropped, the two largest POSITIVES (9.0 is a negative)
    keep = truncation_mask(terms, 0.3, positives, "batch")
    assert keep.tolist() == [True, False, True, False, True, True]
    # candidate scope: int(0.7 * 4) = 2 kept of the positives -> 2 dropped
    assert truncation_mask(terms, 0.3, positives, "candidates").tolist() == keep.tolist()
    keep = truncation_mask(terms, 0.2, positives, "candidates")  # int(0.8 * 4) = 3 -> drop 1
    assert keep.tolist() == [True, False, True, True, True, True]
    assert masked_mean(terms, keep).item() == pytest.approx(
        terms[keep].mean().item())
    assert truncation_mask(terms, 0.0).all()


@pytest.mark.parametrize("scope", ["batch", "positives"])
def test_dropped_fraction_and_samples(scope):
    method = TCE(drop_rate=0.4, num_gradual=10, drop_scope=scope)
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    model = trainer.model
    for step in (0, 5, 10, 50):
        ctx = StepContext(step=step, epoch=0, lr=1e-3, l2=0.0)
        loss, logs = method.loss(model, batch, ctx)
        rate = min(step / 10, 1) * 0.4
        assert logs["drop_rate"].item() == pytest.approx(rate)
        keep = method.weights(model, batch.users, batch.pos_items, batch.neg_items).bool()
        B = batch.users.numel()
        count = 2 * B if scope == "batch" else B  # one negative per positive
        assert int((~keep).sum()) == count - int((1 - rate) * count)
        with torch.no_grad():
            out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        pos_loss = F.softplus(-out.pos)
        if (~keep).any():
            assert pos_loss[~keep].min() >= pos_loss[keep].max()  # the highest-loss positives
        kept_terms = torch.cat([pos_loss[keep], F.softplus(out.neg)])
        assert loss.item() == pytest.approx(kept_terms.mean().item(), rel=1e-5)


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("scope", ["batch", "positives"])
def test_one_epoch(model, scope):
    result = fit_one_epoch(model, "tce", drop_rate=0.2, num_gradual=2, drop_scope=scope)
    assert 0.0 < result.history[-1]["dropped_positives"] < 1.0
