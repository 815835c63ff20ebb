import math

import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.methods import METHODS, UDT, StepContext
from graphdenoise.methods.memory import segment_softmax
from graphdenoise.methods.udt import interaction_weights, rank_values
from graphdenoise.models import MODELS


def test_rank_values_by_hand():
    assert METHODS.get("udt") is UDT
    user_loss, counts = torch.tensor([3.0, 1.0, 2.0, 0.0]), torch.tensor([1, 1, 1, 0])
    # means 3, 1, 2, (no positives: last) -> ranks 2, 0, 1, 3 of linspace(0.5, 0, 4)
    out = rank_values(user_loss, counts, 0.5, 0.0)
    assert out.tolist() == pytest.approx([0.5 / 3, 0.5, 1 / 3, 0.0])
    with pytest.raises(ValueError):
        UDT(temp_low=0.0)


def test_interaction_weights_by_hand():
    edge_loss = torch.tensor([1.0, 2.0, 0.7, 0.0, 1000.0])
    edge_users = torch.tensor([0, 0, 1, 2, 2])
    counts = torch.tensor([2, 1, 2])
    temperature = torch.tensor([0.5, 0.3, 0.1])
    w = interaction_weights(edge_loss, edge_users, temperature, counts)
    e2, e4 = math.exp(-2), math.exp(-4)
    assert w[:2].tolist() == pytest.approx([2 * e2 / (e2 + e4), 2 * e4 / (e2 + e4)])
    assert w[2].item() == pytest.approx(1.0)  # one positive: n_u * 1
    assert w[3].item() == pytest.approx(2.0) and w[4].item() == 1.0  # underflow to 0 -> reset to 1
    p = segment_softmax(torch.tensor([0.0, float("-inf"), 1.0]), torch.tensor([0, 0, 1]), 2)
    assert p.tolist() == [1.0, 0.0, 1.0]


def epoch_batches(trainer):
    return [trainer.sampler.batch(ids) for ids in trainer.sampler.epoch_shards()]


def test_weights_come_from_the_previous_epoch():
    method = UDT(temp_low=0.3, temp_high=0.6, factor_low=0.8, factor_high=0.1)
    trainer = make_trainer(method, num_negatives=2)
    model = trainer.model
    batches = epoch_batches(trainer)
    ctx = lambda epoch: StepContext(step=0, epoch=epoch, lr=1e-3, l2=0.0)
    for epoch in (0, 1):
        for batch in batches:
            loss, _ = method.loss(model, batch, ctx(epoch))
            with torch.no_grad():
                out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
            terms = torch.cat([F.softplus(-out.pos), F.softplus(out.neg).reshape(-1)])
            assert loss.item() == pytest.approx(terms.mean().item(), rel=1e-5)  # warm-up: unit weights
    # hand computation of the user sums (positives and negatives) and per-edge losses of epoch 1
    num_users = model.num_users
    user_sum, edge_loss = torch.zeros(num_users), torch.full((method.edge_loss.numel(),), float("inf"))
    with torch.no_grad():
        for batch in batches:
            out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
            user_sum.index_add_(0, batch.users, F.softplus(-out.pos) + F.softplus(out.neg).sum(-1))
            edge_loss[batch.edge_ids] = F.softplus(-out.pos)
    assert torch.allclose(method.user_loss, user_sum, atol=1e-5)
    assert torch.allclose(method.edge_loss, edge_loss, atol=1e-6)
    counts = torch.bincount(trainer.sampler.edge_index[0], minlength=num_users)
    factor = rank_values(user_sum, counts, 0.8, 0.1)
    temperature = rank_values(user_sum, counts, 0.3, 0.6)
    edge_users = trainer.sampler.edge_index[0]
    weight = interaction_weights(edge_loss, edge_users, temperature, counts) * factor[edge_users]
    batch = batches[0]
    probe = method.weights(model, batch.users, batch.pos_items, batch.neg_items)
    assert torch.allclose(probe, weight[batch.edge_ids], atol=1e-6)
    loss, _ = method.loss(model, batch, ctx(2))
    with torch.no_grad():
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    expected = torch.cat([weight[batch.edge_ids] * F.softplus(-out.pos),
                          (factor[batch.users].unsqueeze(-1) * F.softplus(out.neg)).reshape(-1)]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert (method.edge_loss[batches[1].edge_ids] == float("inf")).all()  # accumulators restarted


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "udt", epochs=3)
    assert result.history[-1]["weight_mean"] > 0


def test_resume_is_exact(tmp_path):
    assert_resume_exact(lambda: UDT(), tmp_path, epochs=4)
