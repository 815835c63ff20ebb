import math

import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.methods import DCF, METHODS, StepContext
from graphdenoise.methods.dcf import band_masks, confidence_bound, damp, lower_bound
from graphdenoise.models import MODELS


def ctx_of(trainer, step=10_000, epoch=0):
    return StepContext(step=step, epoch=epoch, lr=1e-3, l2=0.0)


def test_equations_by_hand():
    assert METHODS.get("dcf") is DCF
    assert damp(torch.tensor(1.0)).item() == pytest.approx(math.log(2.5))
    assert damp(torch.tensor(0.0)).item() == 0.0
    # s = 2 (epoch 1), lambda 0.5, n = 3
    expected = 0.5 * (2 + 0.5 * math.log(4) / 4) / (4 - 0.5)
    assert confidence_bound(torch.tensor(3.0), 1, 0.5).item() == pytest.approx(expected)
    bound, mu = lower_bound(torch.tensor([0.4]), torch.tensor([3.0]), torch.tensor([1.0]), 1, 0.5)
    assert mu.item() == pytest.approx((0.4 * 2 + math.log(2.5)) / 3)
    assert bound.item() == pytest.approx(max(mu.item() - expected, 0.0))
    cfg = DCF(co_lambda=1.0, lambda_epochs=3).config
    assert [cfg.lambda_at(e) for e in range(4)] == [1.0, 0.5, 0.0, 0.0]


def test_band_masks_keep_relabel_drop():
    key = torch.tensor([0.1, 0.9, 0.5, 0.0, 0.7, 0.3, 0.2, 0.0, 0.8, 0.6])
    # N = 10, eps = 0.2, r = 0.5: keep ranks < 8, relabel ranks >= int(0.9 * 10) = 9, drop rank 8
    kept, relabelled = band_masks(key, 0.2, 0.5)
    assert relabelled.nonzero().view(-1).tolist() == [1]
    assert (~kept).nonzero().view(-1).tolist() == [8]
    kept, relabelled = band_masks(key, 0.2, 0.0)  # T-CE: the two largest dropped
    assert (~kept).nonzero().view(-1).tolist() == [1, 8] and not relabelled.any()


def test_loss_and_state_on_a_batch():
    method = DCF(drop_rate=0.25, num_gradual=0, relabel_ratio=0.0, co_lambda=0.0, time_step=3)
    trainer = make_trainer(method)
    model, batch = trainer.model, next(iter(trainer.sampler))
    loss, logs = method.loss(model, batch, ctx_of(trainer))
    with torch.no_grad():
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    pos_loss, neg_loss = F.softplus(-out.pos), F.softplus(out.neg)
    B = pos_loss.numel()
    n_drop = 2 * B - int(0.75 * 2 * B)
    kept_pos = pos_loss.sort().values[: B - n_drop]  # the largest-loss positives are dropped
    expected = torch.cat([kept_pos, neg_loss]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # state, per training edge: mu = psi(l) / 2 in epoch 0; count + 1 (nothing relabelled)
    assert torch.allclose(method.mean_loss[batch.edge_ids], damp(pos_loss) / 2)
    assert (method.count[batch.edge_ids] == 2).all()
    untouched = torch.ones(method.count.numel(), dtype=torch.bool)
    untouched[batch.edge_ids] = False
    assert (method.mean_loss[untouched] == 0).all() and (method.count[untouched] == 1).all()
    # next epoch (inside the time step): the history enters the mean, s = 2
    method.loss(model, batch, ctx_of(trainer, epoch=1))
    assert torch.allclose(method.mean_loss[batch.edge_ids], (damp(pos_loss) / 2 * 2 + damp(pos_loss)) / 3, atol=1e-6)
    # a time-step boundary (epoch 3) resets the history first
    method.loss(model, batch, ctx_of(trainer, epoch=3))
    assert torch.allclose(method.mean_loss[batch.edge_ids], damp(pos_loss) / 5, atol=1e-6)
    assert (method.count[untouched] == 1).all() and (method.mean_loss[untouched] == 0).all()


@pytest.mark.parametrize("relabel", ["keep", "flip"])
def test_relabel_band(relabel):
    method = DCF(drop_rate=0.4, num_gradual=0, relabel_ratio=0.5, co_lambda=0.0, relabel=relabel)
    trainer = make_trainer(method)
    model, batch = trainer.model, next(iter(trainer.sampler))
    loss, _ = method.loss(model, batch, ctx_of(trainer))
    with torch.no_grad():
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    pos_loss, neg_loss = F.softplus(-out.pos), F.softplus(out.neg)
    N = 2 * pos_loss.numel()
    order = pos_loss.argsort(descending=True)
    n_relabel = N - int((0.5 + 0.5 * 0.6) * N)
    n_drop = N - int(0.6 * N) - n_relabel
    relabelled, dropped = order[:n_relabel], order[n_relabel:n_relabel + n_drop]
    keep = torch.ones_like(pos_loss, dtype=torch.bool)
    keep[dropped] = False
    terms = pos_loss.clone()
    if relabel == "flip":
        terms[relabelled] = F.softplus(out.pos[relabelled])  # BCE with label 0
    expected = torch.cat([terms[keep], neg_loss]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    counts = method.count[batch.edge_ids]
    assert (counts[relabelled] == 1).all() and (counts[~torch.isin(torch.arange(counts.numel()), relabelled)] == 2).all()


def test_weights_are_the_next_step_keep_decisions():
    method = DCF(drop_rate=0.3, num_gradual=0, relabel_ratio=0.0)
    trainer = make_trainer(method)
    trainer.fit()
    batch = trainer.sampler.batch(torch.arange(64))
    w = method.weights(trainer.model, batch.users, batch.pos_items, batch.neg_items)
    assert w.shape == (64,) and set(w.unique().tolist()) <= {0.0, 1.0}
    assert int((w == 0).sum()) == 128 - int(0.7 * 128)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "dcf", num_gradual=2, relabel_ratio=0.5)
    record = result.history[-1]
    assert 0 < record["dropped_positives"] < 1 and 0 < record["relabelled_positives"] < 1


def test_resume_is_exact(tmp_path):
    assert_resume_exact(lambda: DCF(num_gradual=3, time_step=2, co_lambda=0.1, lambda_epochs=3), tmp_path)
