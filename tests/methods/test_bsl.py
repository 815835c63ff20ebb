"""BSL (Wu et al., ICDE 2024): the loss against the authors' formula, its limits and training."""
import functools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import BSL, METHODS, BSLTanh, StepContext
from graphdenoise.methods.bsl import grouped_log_mean_exp
from graphdenoise.models import MODELS


def authors_loss(pos, neg, users, t1, t2, mode):
    """``junkangwu/BSL`` utils/losses.py:19-35, restated with a dense user mask (exps, no log space)."""
    pos_e, neg_e = torch.exp(pos / t1), torch.exp(neg / t1)
    if mode == "multi":
        mask = (users.view(-1, 1) == users.view(1, -1)).double()
        pos_e = (pos_e.unsqueeze(0) * mask).sum(1) / mask.sum(1)
        neg_e = neg_e.mean(-1).pow(t2)
    else:
        neg_e = neg_e.sum(-1).pow(t2)
    return -torch.log(pos_e / neg_e).mean()


def test_grouped_log_mean_exp_is_the_masked_mean():
    values = torch.randn(12, dtype=torch.float64) * 5
    groups = torch.tensor([3, 1, 3, 3, 7, 1, 0, 7, 7, 7, 2, 3])
    mask = (groups.view(-1, 1) == groups.view(1, -1)).double()
    want = torch.log((values.exp().unsqueeze(0) * mask).sum(1) / mask.sum(1))
    assert torch.allclose(grouped_log_mean_exp(values, groups), want, rtol=1e-12)
    big = grouped_log_mean_exp(torch.tensor([1000.0, 1000.0]), torch.tensor([0, 0]))  # no overflow
    assert torch.allclose(big, torch.tensor([1000.0, 1000.0]))


@pytest.mark.parametrize("mode", ["multi", "reweight"])
@pytest.mark.parametrize("t2", [1.0, 1.1])
def test_loss_matches_the_authors_formula(mode, t2):
    trainer = make_trainer(BSL(mode=mode, temperature=0.2, temperature_2=t2, softmax_negatives=5), l2=0.0)
    trainer.model.double()
    method = trainer.method
    batch, ctx = next(iter(trainer.batches()))
    assert batch.neg_items.shape == (batch.users.numel(), 5)  # the spec's negatives per positive
    loss, _ = method.loss(trainer.model, batch, ctx)
    out = trainer.model.triplet(batch.users, batch.pos_items, batch.neg_items)
    u, i, j = (F.normalize(x, dim=-1) for x in (out.user, out.pos_item, out.neg_item))
    cos_pos, cos_neg = (u * i).sum(-1), (u.unsqueeze(1) * j).sum(-1)
    want = authors_loss(cos_pos, cos_neg, batch.users, 0.2, t2, mode)
    assert loss.item() == pytest.approx(want.item(), rel=1e-9)


@pytest.mark.parametrize("model", ["mf", "gmf", "lightgcn", "neumf"])
@pytest.mark.parametrize("negatives", [1, 64])
def test_scores_equal_the_normalised_triplet_rows(model, negatives):
    """``BSL.scores`` (each distinct node normalised once; the negatives from score_matrix over the
    batch's items for inner-product backbones when that is smaller than the gathered rows) equals
    scoring the normalised rows of the batch's triplet, values and gradients."""
    # d = 8: one negative's 8-wide rows are smaller than the 60-item matrix, so both paths run
    trainer = make_trainer(BSL(softmax_negatives=negatives), functools.partial(MODELS.get(model), embedding_dim=8),
                           l2=0.0)
    trainer.model.double()
    batch, _ = next(iter(trainer.batches()))
    model = trainer.model

    def grads(pos, neg):
        model.zero_grad()
        (pos.sin().sum() + neg.pow(2).sum()).backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    pos, neg = trainer.method.scores(model, batch)
    fast = grads(pos, neg)
    out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    want = model.score_rows(*(F.normalize(x, dim=-1) for x in (out.user, out.pos_item, out.neg_item)))
    assert neg.shape == (batch.users.numel(), negatives)
    assert torch.allclose(pos, want.pos, atol=1e-12) and torch.allclose(neg, want.neg.view(neg.shape), atol=1e-12)
    for a, b in zip(fast, grads(want.pos, want.neg.view(neg.shape))):
        assert torch.allclose(a, b, atol=1e-10)


def test_temperature_2_of_one_is_the_softmax_loss():
    pos, neg = torch.randn(6, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    users = torch.arange(6)  # one positive per user: multi is reweight shifted by log M
    multi = authors_loss(pos, neg, users, 0.5, 1.0, "multi")
    softmax = (-pos / 0.5 + torch.logsumexp(neg / 0.5, dim=1)).mean()
    assert multi.item() == pytest.approx(softmax.item() - math.log(4), rel=1e-12)


def test_positive_weights_favour_high_scoring_positives():
    method = BSL()
    trainer = make_trainer(method, batch_size=512, l2=0.0)
    trainer.fit()
    record = trainer.history[-1]
    assert record["pos_weight_mean"] == pytest.approx(1.0, abs=1e-6)  # relative weights, mean 1 per user
    assert record["pos_weight_std"] > 0
    assert METHODS.get("bsl") is BSL


@pytest.mark.parametrize("model", ["gmf", "neumf"])
def test_a_learned_output_layer_leaves_the_loss_unbounded_and_tanh_bounds_it(model):
    """Adding ``c`` to every score (the output layer's bias does) changes BSL by exactly
    ``(t2 - 1) c / t1``, and scaling the output layer scales the loss's limit: no lower bound. With
    ``score_bound='tanh'`` every score lies in (-1, 1), so the loss lies within ``(1 + t2) / t1`` of zero
    however far the bias or the scale goes."""
    options = dict(temperature=0.2, temperature_2=1.1, softmax_negatives=5)
    trainer = make_trainer(BSL(**options), functools.partial(MODELS.get(model), embedding_dim=8), l2=0.0)
    trainer.model.double()
    batch, ctx = next(iter(trainer.batches()))

    def loss(method):
        return method.loss(trainer.model, batch, ctx)[0].item()

    plain, bounded = trainer.method, BSLTanh(**options)
    before, before_bounded = loss(plain), loss(bounded)
    with torch.no_grad():
        trainer.model.predict.bias -= 1000.0
    assert loss(plain) - before == pytest.approx((1.1 - 1) * -1000.0 / 0.2, rel=1e-9)
    assert abs(loss(bounded)) <= (1 + 1.1) / 0.2 and abs(before_bounded) <= (1 + 1.1) / 0.2

    # the scale, t2 = 1 alike: positives that outscore the negatives, scores times c -> loss -c / t1
    def scaled(t2, c):
        method = BSL(**{**options, "temperature_2": t2})
        ones = torch.ones(batch.users.numel(), dtype=torch.float64)
        method.scores = lambda model, batch: (c * ones, c * torch.zeros(ones.numel(), 5, dtype=torch.float64))
        return method.loss(trainer.model, batch, ctx)[0].item()

    for t2 in (1.0, 1.1):
        assert scaled(t2, 1e3) == pytest.approx(-1e3 / 0.2) and scaled(t2, 1e6) == pytest.approx(-1e6 / 0.2)


def test_tanh_scores_are_the_tanh_of_the_scores():
    trainer = make_trainer(BSL(softmax_negatives=6), functools.partial(MODELS.get("neumf"), embedding_dim=8))
    batch, _ = next(iter(trainer.batches()))
    pos, neg = trainer.method.scores(trainer.model, batch)
    tanh_pos, tanh_neg = BSL(softmax_negatives=6, score_bound="tanh").scores(trainer.model, batch)
    assert torch.equal(tanh_pos, pos.tanh()) and torch.equal(tanh_neg, neg.tanh())
    assert METHODS.get("bsl-tanh") is BSLTanh and BSLTanh().config.score_bound == "tanh"


@pytest.mark.parametrize("model, warns", [("mf", False), ("lightgcn", False), ("gmf", True), ("neumf", True)])
def test_setup_warns_where_the_loss_has_no_lower_bound(model, warns):
    def caught(method, cls=MODELS.get(model)):
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            make_trainer(method, functools.partial(cls, embedding_dim=8))
        return [str(r.message) for r in records if "no lower bound" in str(r.message)]

    assert bool(caught(BSL())) == warns
    assert caught(BSL(cosine=False))  # raw scores: unbounded on every backbone
    assert bool(caught(BSL(temperature_2=1.0))) == warns  # scaling: unbounded with any temperature_2
    assert not caught(BSLTanh())


def test_options_are_validated_and_conflicts_named():
    for bad in ({"mode": "single"}, {"temperature": 0.0}, {"softmax_negatives": 0}, {"score_bound": "clip"}):
        with pytest.raises(ValueError):
            BSL(**bad)
    with pytest.raises(ValueError, match="num_negatives=3 conflicts"):
        make_trainer(BSL(softmax_negatives=8), num_negatives=3)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch_on_every_backbone(model):
    result = fit_one_epoch(model, "bsl", softmax_negatives=8)
    assert math.isfinite(result.history[-1]["bsl"])  # can be negative: a difference of log-means


def test_step_context_is_all_it_needs():
    trainer = make_trainer(BSL(softmax_negatives=4))
    batch, _ = next(iter(trainer.batches()))
    loss, logs = trainer.method.loss(trainer.model, batch, StepContext(step=0, epoch=0, lr=1e-3))
    assert torch.isfinite(loss) and set(logs) == {"bsl"}
