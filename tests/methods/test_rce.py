import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import METHODS, RCE, StepContext
from graphdenoise.methods.reweighting import rce_weights
from graphdenoise.models import MODELS


def test_weights_formula_and_no_gradient():
    logits = torch.randn(10, requires_grad=True)
    labels = torch.tensor([1.0] * 5 + [0.0] * 5)
    w = rce_weights(logits, labels, 0.25)
    p = torch.sigmoid(logits.detach())
    assert torch.allclose(w[:5], p[:5] ** 0.25) and torch.allclose(w[5:], (1 - p[5:]) ** 0.25)
    assert not w.requires_grad
    assert torch.equal(rce_weights(logits, labels, 0.25, reweight_negatives=False)[5:], torch.ones(5))


@pytest.mark.parametrize("reweight_negatives", [True, False])
def test_method_loss_and_weights(reweight_negatives):
    assert METHODS.get("rce") is RCE
    method = RCE(beta=0.3, reweight_negatives=reweight_negatives)
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    ctx = StepContext(step=0, epoch=0, lr=1e-3, l2=0.0)
    loss, _ = method.loss(trainer.model, batch, ctx)
    with torch.no_grad():
        out = trainer.model.triplet(batch.users, batch.pos_items, batch.neg_items)
    w_pos = torch.sigmoid(out.pos) ** 0.3
    w_neg = (1 - torch.sigmoid(out.neg)) ** 0.3 if reweight_negatives else torch.ones_like(out.neg)
    expected = torch.cat([w_pos * F.softplus(-out.pos), w_neg * F.softplus(out.neg)]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    w = method.weights(trainer.model, batch.users, batch.pos_items, batch.neg_items)
    assert torch.allclose(w, w_pos, atol=1e-6) and not w.requires_grad
    with pytest.raises(ValueError):
        RCE(beta=-1.0)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "rce")
    assert 0.0 < result.history[-1]["weight_mean"] < 1.0
