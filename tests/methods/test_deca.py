import math

import pytest
import torch

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.methods import METHODS, DeCA, DeCAP, StepContext
from graphdenoise.methods.deca import agreement, bernoulli_kl, mode_at
from graphdenoise.models import MODELS, LightGCN


def ctx_of(trainer, step=0):
    return StepContext(step=step, epoch=0, lr=1e-3, l2=0.0)


def test_registry_modes_and_config():
    assert METHODS.get("deca") is DeCA and METHODS.get("deca-p") is DeCAP
    assert [mode_at(t, "both") for t in range(5)] == ["both", "DP", "DN", "DP", "DN"]
    assert [mode_at(t, "DN") for t in range(4)] == ["DN", "DP", "DN", "DP"]
    assert [mode_at(t, "DP", iterative=False) for t in range(3)] == ["DP"] * 3
    for bad in ({"alpha": 1.5}, {"initial_mode": "dp"}, {"C_1": -1.0}, {"aux_lr": 0.0}):
        with pytest.raises(ValueError):
            DeCA(**bad)
    with pytest.raises(ValueError):
        DeCAP(pretrain_epochs=-1)


def test_bernoulli_kl_by_hand():
    # KL(Bern(0.5) || Bern(0.25)) = 0.5 ln 2 + 0.5 ln(2/3)
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert bernoulli_kl(torch.tensor(0.5), torch.tensor(0.25), eps=1e-12).item() == pytest.approx(expected, rel=1e-5)
    assert bernoulli_kl(torch.tensor(0.3), torch.tensor(0.3)).item() == pytest.approx(0.0, abs=1e-6)
    f, g = torch.tensor(0.7), torch.tensor(0.2)
    assert agreement(f, g, 1.0).item() == pytest.approx(bernoulli_kl(g, f).item())
    assert agreement(f, g, 0.0).item() == pytest.approx(bernoulli_kl(f, g).item())


@pytest.mark.parametrize("step,mode", [(0, "both"), (1, "DP"), (2, "DN")])
def test_loss_matches_the_table_on_a_tiny_batch(step, mode):
    method = DeCA(C_1=7.0, C_2=3.0, alpha=0.25, lambda0=0.5)
    trainer = make_trainer(method)
    model = trainer.model
    batch = next(iter(trainer.sampler))
    u, i, j = batch.users[:1], batch.pos_items[:1], batch.neg_items[:1]
    batch.users, batch.pos_items, batch.neg_items = u, i, j
    loss, _ = method.loss(model, batch, ctx_of(trainer, step))
    assert method.mode == mode
    lg = lambda x: math.log(x + 1e-5)
    kl = lambda a, b: a * lg(a) - a * lg(b) + (1 - a) * lg(1 - a) - (1 - a) * lg(1 - b)
    prob = lambda m, item: torch.sigmoid((m.user.weight[u] * m.item.weight[item]).sum()).item()
    P, Q = model.user_embedding.weight, model.item_embedding.weight
    f_i = torch.sigmoid((P[u] * Q[i]).sum()).item()
    f_j = torch.sigmoid((P[u] * Q[j]).sum()).item()
    g_i, g_j = prob(method.prior, i), prob(method.prior, j)
    h1_i, h1_j, h2_i, h2_j = prob(method.h1, i), prob(method.h1, j), prob(method.h2, i), prob(method.h2, j)
    A = lambda f_, g_: 0.25 * kl(g_, f_) + 0.75 * kl(f_, g_)
    if mode == "DP":
        lp, ln = (1 - f_i) * lg(h1_i), (1 - f_j) * lg(1 - h1_j) - 7.0 * f_j
    elif mode == "DN":
        lp, ln = f_i * lg(h2_i) - 3.0 * (1 - f_i), f_j * lg(1 - h2_j)
    else:
        lp = (1 - f_i) * lg(1 - h1_i) + f_i * lg(1 - h2_i)
        ln = (1 - f_j) * lg(1 - h1_j) + f_j * lg(1 - h2_j)
    reg = 0.5 * 0.5 * (P.pow(2).sum() + Q.pow(2).sum()).item() / model.num_users
    expected = (A(f_i, g_i) - lp) + (A(f_j, g_j) - ln) + reg
    assert loss.item() == pytest.approx(expected, rel=1e-4)


def test_auxiliary_models_step_by_sub_task():
    method = DeCA()
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    for step, moved in ((1, {"h1", "prior"}), (2, {"h2", "prior"}), (0, {"h1", "h2", "prior"})):
        before = {k: [p.detach().clone() for p in getattr(method, k).parameters()] for k in ("h1", "h2", "prior")}
        for opt in method.optimizers().values():  # as the trainer: zero (keeping tensors), backward, step
            opt.zero_grad(set_to_none=False)
        loss, _ = method.loss(trainer.model, batch, ctx_of(trainer, step))
        loss.backward()
        method.after_backward(trainer.model, batch, ctx_of(trainer, step))
        for opt in method.optimizers().values():
            opt.step()
        for key in ("h1", "h2", "prior"):
            changed = any(not torch.equal(a, b) for a, b in zip(before[key], getattr(method, key).parameters()))
            assert changed == (key in moved), (step, key)


def test_weights_are_the_clean_posterior():
    method = DeCA()
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    w = method.weights(trainer.model, batch.users, batch.pos_items, batch.neg_items)
    f = torch.sigmoid(trainer.model(batch.users, batch.pos_items))
    h1, h2 = method.h1(batch.users, batch.pos_items), method.h2(batch.users, batch.pos_items)
    assert torch.allclose(w, f * h2 / (f * h2 + (1 - f) * h1))
    assert w.shape == batch.users.shape and ((w > 0) & (w < 1)).all()


@pytest.mark.parametrize("model_cls", [None, LightGCN])
def test_deca_p_prior_is_a_pretrained_frozen_copy(model_cls):
    method = DeCAP(pretrain_epochs=2)
    trainer = make_trainer(method, model_cls)
    model = trainer.model
    for (name, a), b in zip(model.state_dict().items(), method.prior.state_dict().values()):
        assert torch.equal(a, b), name  # same initial weights
    batch = next(iter(trainer.sampler))
    assert not bool(method.pretrained)
    loss, _ = method.loss(model, batch, ctx_of(trainer))
    assert bool(method.pretrained) and "prior" not in method.optimizers()
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), method.prior.parameters()))
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in method.prior.parameters())
    frozen = [p.detach().clone() for p in method.prior.parameters()]
    method.after_backward(model, batch, ctx_of(trainer))
    for opt in method.optimizers().values():
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(frozen, method.prior.parameters()))


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("method", ["deca", "deca-p"])
def test_one_epoch(model, method):
    options = {"pretrain_epochs": 1} if method == "deca-p" else {}
    result = fit_one_epoch(model, method, **options)
    record = result.history[-1]
    assert 0 < record["weight_mean"] < 1 and "agreement" in record


@pytest.mark.parametrize("make_method", [lambda: DeCA(), lambda: DeCAP(pretrain_epochs=1)])
def test_resume_is_exact(make_method, tmp_path):
    saved = assert_resume_exact(make_method, tmp_path)
    assert saved["method_optimizers"]["h1"]["state"]  # the auxiliary Adam moments are checkpointed
