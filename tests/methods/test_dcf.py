import math

import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.methods import DCF, METHODS, StepContext
from graphdenoise.methods.dcf import band_masks, confidence_bound, damp, lambda_schedule, lower_bound
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
    assert [lambda_schedule(1.0, 3, e) for e in range(4)] == [1.0, 0.5, 0.0, 0.0]


def test_lambda_decays_over_the_trainers_epochs():
    # the authors: co_lambda * np.linspace(1, 0, epochs)[epoch] (main.py:171), epochs = the run's
    method = DCF(co_lambda=0.3)
    make_trainer(method, epochs=5)
    assert int(method.lambda_span) == 5
    for epoch, expected in [(0, 0.3), (1, 0.225), (2, 0.15), (3, 0.075), (4, 0.0), (5, 0.0)]:
        assert method.lambda_at(epoch) == pytest.approx(expected)
    explicit = DCF(co_lambda=0.3, lambda_epochs=4)  # an explicit span wins over the budget
    make_trainer(explicit, epochs=5)
    assert [explicit.lambda_at(e) for e in range(5)] == pytest.approx([0.3, 0.2, 0.1, 0.0, 0.0])
    # the lower bound at epoch 1 (s = 2, fresh history: mu = psi(l) / 3, n = 1) uses lambda_1 = 0.03
    trainer = make_trainer(DCF(co_lambda=0.04, num_gradual=0, relabel_ratio=0.0), epochs=5)
    batch, method = next(iter(trainer.sampler)), trainer.method
    pos_loss = F.softplus(-trainer.model.triplet(batch.users, batch.pos_items, batch.neg_items).pos.detach())
    radius = 0.03 * (2 + 0.03 * math.log(4) / 4) / (2 - 0.03)
    key, _ = method.keys(torch.cat([pos_loss, pos_loss]), pos_loss.numel(), batch.edge_ids, 1)
    assert torch.allclose(key[: pos_loss.numel()], torch.relu(damp(pos_loss) / 3 - radius))
    assert (key[: pos_loss.numel()] > 0).all()


def test_lambda_needs_a_span():
    from graphdenoise.methods.base import setup_for_inference
    trainer = make_trainer(DCF(co_lambda=0.1))
    restored = DCF(co_lambda=0.1)
    setup_for_inference(restored, trainer.model, trainer.data)  # no epoch budget: unknown until loaded
    with pytest.raises(RuntimeError, match="lambda_epochs"):
        restored.lambda_at(0)
    restored.load_state_dict(trainer.method.state_dict())
    assert restored.lambda_at(0) == pytest.approx(0.1)
    old = {k: v for k, v in trainer.method.state_dict().items() if k != "lambda_span"}  # saved before the buffer
    explicit = DCF(co_lambda=0.1, lambda_epochs=4)
    setup_for_inference(explicit, trainer.model, trainer.data)
    explicit.load_state_dict(old)
    assert explicit.lambda_at(1) == pytest.approx(0.1 * 2 / 3)
    plain = DCF(co_lambda=0.0)
    setup_for_inference(plain, trainer.model, trainer.data)
    assert plain.lambda_at(0) == 0.0


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


def test_resume_keeps_the_runs_lambda_span(tmp_path):
    # span = the budget: an interrupted run resumes exactly; an extended budget keeps the span it started with
    assert_resume_exact(lambda: DCF(num_gradual=3, time_step=2, co_lambda=0.1), tmp_path / "same", interrupt=True)
    make_trainer(DCF(co_lambda=0.1), epochs=2, eval_every=1, checkpoint_dir=str(tmp_path / "x")).fit()
    resumed = make_trainer(DCF(co_lambda=0.1), epochs=4, eval_every=1, checkpoint_dir=str(tmp_path / "x"),
                           resume=True)
    assert int(resumed.method.lambda_span) == 4
    resumed.fit()
    assert int(resumed.method.lambda_span) == 2 and resumed.method.lambda_at(2) == 0.0
