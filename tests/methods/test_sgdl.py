import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.methods import METHODS, SGDL, StepContext
from graphdenoise.methods.sgdl import (fit_two_gaussians, hard_gumbel_softmax, per_user_minmax,
                                       rank_within_user, representation_gradients, table_gradient_cosines)
from graphdenoise.models.base import rows_at
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


@pytest.mark.parametrize("model_name,layers", [("mf", None), ("lightgcn", 1), ("lightgcn", 2)])
def test_table_features_are_the_codes_per_sample_per_table_cosines(model_name, layers):
    """``gradient_features='tables'``: the cosine of each clean sample's gradient w.r.t. the user table
    and the item table at θ and at another θ̂, against the code's loop of one backward per sample
    (training.py:300-334) on the full parameters."""
    options = {} if layers is None else {"num_layers": layers}
    trainer = make_trainer(SGDL(), lambda data: MODELS.get(model_name)(data, **options))
    model = trainer.model.double()
    batch = next(iter(trainer.sampler))
    clean = (batch.users[:6], batch.pos_items[:6], batch.neg_items[:6])
    clean[0][1] = clean[0][0]  # a user twice: its rows' Gram entries are shared
    params = {n: p for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(1)
    ahead = {n: p.detach() + 0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype) for n, p in params.items()}

    def per_sample(values):
        leaves = {n: v.detach().requires_grad_() for n, v in values.items()}
        u, i, j = rows_at(model, leaves, *clean)
        terms = F.softplus((u * j).sum(-1) - (u * i).sum(-1))
        out = []
        for k in range(terms.numel()):
            grads = torch.autograd.grad(terms[k], list(leaves.values()), retain_graph=True)
            flat = dict(zip(leaves, grads))
            if model_name == "mf":
                out.append([flat["user_embedding.weight"].flatten(), flat["item_embedding.weight"].flatten()])
            else:
                out.append([flat["embedding"][:model.num_users].flatten(), flat["embedding"][model.num_users:].flatten()])
        return out, (u, i, j)

    want_now, rows_now = per_sample({n: p.detach() for n, p in params.items()})
    want_later, rows_later = per_sample(ahead)
    want = torch.tensor([[F.cosine_similarity(a[t], b[t], dim=0, eps=1e-8).item() for t in range(2)]
                         for a, b in zip(want_now, want_later)], dtype=torch.float64)
    now = representation_gradients(model, *rows_now, split=True)
    later = representation_gradients(model, *rows_later, split=True)
    got = table_gradient_cosines(model, clean, now, later)
    assert got.shape == (6, 2)
    assert torch.allclose(got, want, atol=1e-10)
    if model_name == "mf":  # on MF the representation-level features are already these
        approx = representation_gradients(model, *rows_now), representation_gradients(model, *rows_later)
        rep = torch.stack([F.cosine_similarity(a, b, dim=-1) for a, b in zip(*approx)], 1)
        assert torch.allclose(rep, want, atol=1e-10)


def test_table_features_train_and_refuse_a_nonlinear_backbone():
    result = fit_one_epoch("lightgcn", "sgdl", epochs=3, history_len=1, max_memorization_epochs=1, clean_batch_size=16,
                           gradient_features="tables")
    assert result.history[-1]["phase"] == 1.0
    with pytest.raises(ValueError, match="gradient_features='tables' needs a backbone"):
        fit_one_epoch("neumf", "sgdl", gradient_features="tables")
    with pytest.raises(ValueError):
        SGDL(gradient_features="parameters")


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


def test_early_stopping_waits_for_phase_two():
    # a diverging lr (0.5) makes later evaluations worse, and patience is 1: SGDL's Phase I (8 tests of
    # history: at least 4 epochs, forced to end after the 4th) must not be stopped, Phase II may
    trainer = make_trainer(SGDL(history_len=8, max_memorization_epochs=4, clean_batch_size=16), epochs=20, lr=0.5,
                           eval_every=1, patience=1)
    trainer.fit()
    phases = [h["phase"] for h in trainer.history]
    assert phases[:4] == [0.0] * 4 and phases[4:] and set(phases[4:]) == {1.0}
    assert trainer.stopped_early and trainer.epoch >= 5
    assert not SGDL().may_stop()
    first_phase_two = phases.index(1.0) + 1
    assert trainer.best_epoch < first_phase_two  # the diverging run's best is in Phase I
    # the authors' rule: only Phase-II evaluations can be selected
    trainer = make_trainer(SGDL(history_len=8, max_memorization_epochs=4, clean_batch_size=16, phase_two_selection=True),
                           epochs=20, lr=0.5, eval_every=1, patience=1)
    trainer.fit()
    assert trainer.best_epoch >= first_phase_two and trainer.history[trainer.best_epoch - 1]["phase"] == 1.0
