import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import METHODS, TCEBPR, StepContext
from graphdenoise.models import MODELS


@pytest.mark.parametrize("num_negatives", [1, 3])
def test_drops_the_highest_bpr_loss_triplets_by_the_schedule(num_negatives):
    assert METHODS.get("tce-bpr") is TCEBPR
    method = TCEBPR(drop_rate=0.3, num_gradual=4)
    trainer = make_trainer(method, num_negatives=num_negatives)
    batch = next(iter(trainer.sampler))
    model = trainer.model
    for step in (0, 2, 4):
        ctx = StepContext(step=step, epoch=0, lr=1e-3, l2=0.0)
        loss, logs = method.loss(model, batch, ctx)
        rate = min(step / 4, 1) * 0.3
        keep = method.weights(model, batch.users, batch.pos_items, batch.neg_items).bool()
        assert keep.shape == batch.neg_items.shape
        n = keep.numel()
        assert int((~keep).sum()) == n - int((1 - rate) * n)
        with torch.no_grad():
            out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
            pos = out.pos if out.neg.dim() == 1 else out.pos.unsqueeze(-1)
            terms = F.softplus(out.neg - pos)
        if (~keep).any():
            assert terms[~keep].min() >= terms[keep].max()
        assert loss.item() == pytest.approx(terms[keep].mean().item(), rel=1e-5)
    with pytest.raises(ValueError):
        TCEBPR(drop_rate=1.5)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "tce-bpr", num_gradual=2)
    assert result.history[-1]["weight_mean"] < 1.0
