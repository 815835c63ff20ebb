import pytest
import torch

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import METHODS, PRIS, StepContext
from graphdenoise.methods.losses import bpr_terms
from graphdenoise.methods.pris import importance_weights
from graphdenoise.models import MODELS
from graphdenoise.sampling import ClusterPopularityNegatives, PopularityNegatives, UniformNegatives


@pytest.mark.parametrize("proposal,cls", [("uniform", UniformNegatives), ("popularity", PopularityNegatives),
                                          ("cluster", ClusterPopularityNegatives)])
def test_weights_are_the_self_normalised_softmax(proposal, cls):
    assert METHODS.get("pris") is PRIS
    method = PRIS(num_candidates=4, proposal=proposal)
    trainer = make_trainer(method)
    sampler = trainer.sampler.negative_sampler
    assert isinstance(sampler, cls)
    batch = next(iter(trainer.sampler))
    assert batch.neg_items.shape == (64, 4) and batch.neg_log_q.shape == (64, 4)  # the trainer draws L
    model = trainer.model
    w = method.weights(model, batch.users, batch.pos_items, batch.neg_items)
    with torch.no_grad():
        user, item = model.embedding_tables()
        s = (user[batch.users].unsqueeze(1) * item[batch.neg_items]).sum(-1)
    log_q = sampler.log_prob(batch.users.repeat_interleave(4), batch.neg_items.reshape(-1)).view(64, 4)
    assert torch.allclose(log_q, batch.neg_log_q)
    expected = torch.exp(s - log_q) / torch.exp(s - log_q).sum(1, keepdim=True)
    assert torch.allclose(w, expected, atol=1e-6)
    assert torch.allclose(w.sum(1), torch.ones(64), atol=1e-6)


def test_loss_is_the_weighted_sum_and_weights_carry_no_gradient():
    method = PRIS(num_candidates=3, proposal="popularity", temperature=0.5)
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    ctx = StepContext(step=0, epoch=0, lr=1e-3, l2=0.0)
    with trainer.model.dense_gradients():  # so that autograd.grad w.r.t. the table sees the lookups
        loss, logs = method.loss(trainer.model, batch, ctx)
        out = trainer.model.triplet(batch.users, batch.pos_items, batch.neg_items)
    w = torch.softmax(out.neg.detach() / 0.5 - batch.neg_log_q, dim=1)
    expected = (w * bpr_terms(out.pos, out.neg)).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    scores = torch.randn(5, 3, requires_grad=True)
    assert not importance_weights(scores, torch.zeros(5, 3)).requires_grad
    # the gradient is that of sum_l w_l * bpr with w held fixed
    g1 = torch.autograd.grad(loss, trainer.model.item_embedding.weight)[0]
    g2 = torch.autograd.grad(expected, trainer.model.item_embedding.weight)[0]
    assert torch.allclose(g1, g2, atol=1e-6)


def test_conflicting_num_negatives_and_validation():
    with pytest.raises(ValueError, match="num_negatives=2 conflicts"):
        make_trainer(PRIS(num_candidates=3), num_negatives=2)
    with pytest.raises(ValueError):
        PRIS(proposal="nope")
    with pytest.raises(ValueError):
        PRIS(num_candidates=0)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "pris", num_candidates=3)
    record = result.history[-1]
    assert record["weight_mean"] == pytest.approx(1 / 3)
    assert 1.0 <= record["ess_mean"] <= 3.0


@pytest.mark.parametrize("proposal", ["uniform", "popularity"])
def test_one_epoch_other_proposals(proposal):
    fit_one_epoch("mf", "pris", proposal=proposal)


def test_saved_result_rebuilds_and_binds_the_proposal(tmp_path):
    """graphdenoise.load rebuilds PRIS's proposal from its spec (no sampler) and binds it to the
    restored model, so the importance weights of a batch can be read after loading."""
    import graphdenoise

    result = fit_one_epoch("mf", "pris", num_candidates=3, num_clusters=4)
    result.save(tmp_path / "pris.pt")
    loaded = graphdenoise.load(tmp_path / "pris.pt")
    proposal = loaded.method.proposal_sampler
    assert isinstance(proposal, ClusterPopularityNegatives) and proposal.model is loaded.model
    assert proposal.assign.unique().numel() > 1  # clustered on the restored item representations
    neg = torch.randint(60, (6, 3), generator=torch.Generator().manual_seed(0))
    w = loaded.method.weights(loaded.model, torch.arange(6), torch.arange(6), neg)
    assert torch.allclose(w.sum(-1), torch.ones(6), atol=1e-6)
