import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.methods import METHODS, SGDL, StepContext
from graphdenoise.methods.sgdl import (fit_two_gaussians, hard_gumbel_softmax, per_user_minmax,
                                       rank_within_user, representation_gradients)
from graphdenoise.models import MODELS


def ctx_of(epoch=0):
    return StepContext(step=0, epoch=epoch, lr=1e-3, l2=0.0)


def test_helpers_by_hand():
    assert METHODS.get("sgdl") is SGDL
    values, users = torch.tensor([2.0, 4.0, 3.0, 7.0, 5.0]), torch.tensor([0, 0, 0, 1, 2])
    assert per_user_minmax(values, users, 3).tolist() == [0.0, 1.0, 0.5, 7.0, 5.0]
    scores, users = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.8]), torch.tensor([1, 0, 1, 0, 1])
    assert rank_within_user(scores, users).tolist() == [2, 0, 1, 1, 0]
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(500, generator=g) * 0.05, 1 + torch.randn(300, generator=g) * 0.05])
    post = fit_two_gaussians(x)
    assert post[:500].max() < 0.01 and post[500:].min() > 0.99
    log_p = torch.log(torch.tensor([0.7, 0.2, 0.1], requires_grad=True))
    draws = hard_gumbel_softmax(log_p, 1.0, g)
    assert torch.equal(draws.detach().sum(1), torch.ones(3)) and set(draws.detach().unique().tolist()) <= {0.0, 1.0}
    for bad in ({"tau": 0.0}, {"history_len": 0}, {"max_memorization_epochs": 0}):
        with pytest.raises(ValueError):
            SGDL(**bad)


def test_representation_gradients_are_per_sample_table_gradients_on_mf():
    trainer = make_trainer(SGDL())
    model, batch = trainer.model, next(iter(trainer.sampler))
    out = model.triplet(batch.users[:4], batch.pos_items[:4], batch.neg_items[:4])
    g_user, g_item = representation_gradients(model, out.user, out.pos_item, out.neg_item)
    for k in range(4):
        u, i, j = batch.users[k], batch.pos_items[k], batch.neg_items[k]
        loss = F.softplus((model.user_embedding.weight[u] * (model.item_embedding.weight[j]
                                                             - model.item_embedding.weight[i])).sum())
        gu, gi = torch.autograd.grad(loss, [model.user_embedding.weight, model.item_embedding.weight])
        assert torch.allclose(g_user[k], gu[u], atol=1e-6)
        assert torch.allclose(g_item[k], torch.cat([gi[i], gi[j]]), atol=1e-6)


def test_memorization_test_and_switch():
    method = SGDL(history_len=1)
    trainer = make_trainer(method)
    model = trainer.model
    state = method.generator.get_state()
    method.memorization_point(model, 0)
    method.generator.set_state(state)
    users, items = method.edges
    method.negatives.sample(users, method.generator, 1)  # the GMM's negatives
    other = method.negatives.sample(users, method.generator, 1)[0].view(-1)
    with torch.no_grad():
        pos, neg = model(users, items), model(users, other)
    n_u = torch.bincount(users, minlength=model.num_users)
    for u in range(3):  # by hand: a positive is memorized iff it ranks in the user's top n_u
        mine = users == u
        candidates = torch.cat([pos[mine], neg[mine]])
        threshold = candidates.sort(descending=True).values[n_u[u] - 1]
        assert torch.equal(method.memory[mine, 0], pos[mine] >= threshold)
    ratio = method.memory[:, 0].float().mean().item()
    assert method.ratios["memorized_ratio"] == pytest.approx(ratio)
    assert bool(method.phase) == (ratio >= method.ratios["clean_ratio"])


def test_edge_scores_of_several_item_sets_from_one_propagation():
    from graphdenoise.models import LightGCN
    method = SGDL()
    trainer = make_trainer(method, LightGCN)
    model, (users, items) = trainer.model, method.edges
    other = torch.flip(items, [0])
    calls = []
    original = model.representations
    model.representations = lambda *args: (calls.append(1), original(*args))[1]
    pos, neg = method.edge_scores(model, items, other)
    assert len(calls) == 1 and model.training
    with torch.no_grad():
        model.eval()
        assert torch.allclose(pos, model(users, items), atol=1e-6)
        assert torch.allclose(neg, model(users, other), atol=1e-6)


def phase_two(model_cls=None):
    method = SGDL(history_len=1, max_memorization_epochs=1, clean_batch_size=16)
    trainer = make_trainer(method, model_cls)
    method.memorization_point(trainer.model, 1)
    assert bool(method.phase) and method.clean.any()
    return method, trainer


def test_meta_loss_trains_the_weighting_net_and_the_scheduler_only():
    method, trainer = phase_two()
    model, batch = trainer.model, next(iter(trainer.sampler))
    (meta,) = list(method.outer_losses(model, batch, ctx_of(epoch=2)))
    params = list(method.ltw.parameters()) + list(method.scheduler.parameters())
    grads = torch.autograd.grad(meta, params, allow_unused=True)
    assert all(g is not None for g in grads[:4]) and sum(g.abs().sum() for g in grads[:4]) > 0  # LTW
    assert sum(g.abs().sum() for g in grads[4:] if g is not None) > 0  # scheduler, straight-through
    loss, _ = method.loss(model, batch, ctx_of(epoch=2))
    with torch.no_grad():
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        ell = F.softplus(out.neg - out.pos)
        expected = (ell * method.ltw(ell)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    w = method.weights(model, batch.users, batch.pos_items, batch.neg_items)
    assert torch.allclose(w, method.ltw(ell))


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "sgdl", epochs=3, history_len=1, max_memorization_epochs=1, clean_batch_size=16)
    assert result.history[-1]["phase"] == 1.0 and 0 < result.history[-1]["weight_mean"] < 1


def test_resume_is_exact(tmp_path):
    assert_resume_exact(lambda: SGDL(history_len=1, max_memorization_epochs=1, clean_batch_size=16), tmp_path, epochs=4)


def test_memorization_lr_scale_trains_phase_one_at_a_fifth_of_the_lr(tmp_path):
    seen = []

    class Lr(SGDL):  # the recommender's lr at each optimiser step, and the phase it was in
        def after_step(self, model, batch, ctx):
            super().after_step(model, batch, ctx)
            seen.append((bool(self.phase), trainer.optimizer.param_groups[0]["lr"]))

    trainer = make_trainer(Lr(history_len=1, max_memorization_epochs=2, clean_batch_size=16,
                              memorization_lr_scale=0.2), epochs=4)
    lr = trainer.config.lr
    for _ in range(4):
        trainer.train_epoch()
        trainer.epoch += 1
    phase_one = [rate for phase, rate in seen if not phase]
    assert phase_one and all(rate == pytest.approx(lr * 0.2) for rate in phase_one)
    assert {rate for phase, rate in seen if phase} == {lr} and seen[-1][0]
    # the default trains Phase I at the trainer's lr; with the option a resume stays exact
    assert SGDL().lr_scale() == 1.0 and Lr(memorization_lr_scale=0.2).lr_scale() == 0.2
    assert_resume_exact(lambda: SGDL(history_len=1, max_memorization_epochs=2, clean_batch_size=16,
                                     memorization_lr_scale=0.2), tmp_path, epochs=4)
