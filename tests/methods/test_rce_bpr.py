import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import METHODS, RCEBPR, StepContext
from graphdenoise.methods.reweighting import bpr_confidence_weights
from graphdenoise.models import MODELS


def test_weights_formula_and_no_gradient():
    pos = torch.randn(6, requires_grad=True)
    neg = torch.randn(6, 3, requires_grad=True)
    w = bpr_confidence_weights(pos, neg, 0.2)
    assert w.shape == (6, 3) and not w.requires_grad
    assert torch.allclose(w, torch.sigmoid(pos.detach().unsqueeze(1) - neg.detach()) ** 0.2)


def test_method_uses_the_weights():
    assert METHODS.get("rce-bpr") is RCEBPR
    method = RCEBPR(beta=0.5)
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    ctx = StepContext(step=0, epoch=0, lr=1e-3, l2=0.0)
    loss, _ = method.loss(trainer.model, batch, ctx)
    with torch.no_grad():
        out = trainer.model.triplet(batch.users, batch.pos_items, batch.neg_items)
    w = torch.sigmoid(out.pos - out.neg) ** 0.5
    assert torch.allclose(method.weights(trainer.model, batch.users, batch.pos_items, batch.neg_items), w, atol=1e-6)
    assert loss.item() == pytest.approx((w * F.softplus(out.neg - out.pos)).mean().item(), rel=1e-5)
    with pytest.raises(ValueError):
        RCEBPR(beta=-0.5)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "rce-bpr", beta=0.25)
    assert 0.0 < result.history[-1]["weight_mean"] < 1.0
