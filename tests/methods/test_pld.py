import math

import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer
from _resume import assert_resume_exact
from graphdenoise.distributed import World
from graphdenoise.methods import METHODS, PLD, SetupContext, StepContext
from graphdenoise.methods.pld import draw_offsets, resample
from graphdenoise.models import MODELS, LightGCN


def test_draw_offsets_without_replacement_and_uniform():
    assert METHODS.get("pld") is PLD
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor([7] * 20000 + [3] * 10)
    off = draw_offsets(counts, 5, g)
    full, short = off[:20000], off[20000:]
    assert (full.sort(1).values.diff(dim=1) > 0).all()  # distinct within a row
    assert ((full >= 0) & (full < 7)).all() and ((short >= 0) & (short < 3)).all()
    freq = torch.bincount(full.view(-1), minlength=7).double() / 20000
    assert torch.allclose(freq, torch.full((7,), 5 / 7, dtype=torch.double), atol=0.02)
    # every 5-subset of 7 items equally likely (Floyd's algorithm): 21 subsets, about 952 draws each
    masks = (torch.ones_like(full) << full).sum(1)
    subsets = torch.unique(masks, return_counts=True)[1]
    assert subsets.numel() == math.comb(7, 5)
    assert ((subsets - 20000 / 21).abs() < 0.15 * 20000 / 21).all()
    for bad in ({"num_candidates": 0}, {"temperature": 0.0}, {"users": "all"}, {"objective": "mse"}):
        with pytest.raises(ValueError):
            PLD(**bad)


def test_resample_follows_the_personal_loss_distribution():
    g = torch.Generator().manual_seed(1)
    losses = torch.tensor([[0.0, math.log(3.0)]]).repeat(20000, 1)
    pick = resample(losses, 1.0, g)  # softmax(-l) = [3/4, 1/4]
    assert (pick == 0).double().mean().item() == pytest.approx(0.75, abs=0.015)
    with pytest.raises(FloatingPointError, match="not finite"):
        resample(torch.tensor([[0.0, float("nan")]]), 1.0, g)


def test_uniform_users_take_no_negatives_from_the_trainer():
    trainer = make_trainer(PLD(begin_epoch=1))
    state = trainer.sampler.generator.get_state()
    batch = next(iter(trainer.sampler))
    assert batch.neg_items.shape == (len(batch), 0)  # the trainer drew none: PLD draws its own
    assert torch.equal(trainer.sampler.generator.get_state(), state)
    assert next(iter(make_trainer(PLD(users="batch")).sampler)).neg_items.shape == (len(batch),)


@pytest.mark.parametrize("model_cls", [None, LightGCN])
def test_loss_by_hand(model_cls):
    method = PLD(users="batch", begin_epoch=1, num_candidates=3, temperature=0.5)
    trainer = make_trainer(method, model_cls)
    model, batch = trainer.model, next(iter(trainer.sampler))
    ctx = lambda epoch: StepContext(step=0, epoch=epoch, lr=1e-3, l2=0.0)
    loss, _ = method.loss(model, batch, ctx(0))  # warm-up: BPR on the batch
    with torch.no_grad():
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    assert loss.item() == pytest.approx(F.softplus(out.neg - out.pos).mean().item(), rel=1e-5)
    state = method.generator.get_state()
    loss, _ = method.loss(model, batch, ctx(1))
    method.generator.set_state(state)
    pool = method.candidates(batch.users, 3)
    own = trainer.sampler.index
    assert own.contains(batch.users.unsqueeze(1).expand_as(pool).reshape(-1), pool.reshape(-1)).all()
    with torch.no_grad():
        user_rep, item_rep = model.representations()
        u = user_rep[batch.users]
        cand = (u.unsqueeze(1) * item_rep[pool]).sum(-1)
        neg = (u * item_rep[batch.neg_items]).sum(-1)
    prob = torch.softmax(-F.softplus(neg.unsqueeze(1) - cand).double() / 0.5, dim=1)
    u = torch.rand(pool.size(0), 1, generator=method.generator, dtype=torch.float64)
    pick = torch.searchsorted(prob.cumsum(1), u, right=True).view(-1)  # inverse CDF at one uniform
    chosen = cand[torch.arange(pool.size(0)), pick]
    assert loss.item() == pytest.approx(F.softplus(neg - chosen).mean().item(), rel=1e-5)


def test_each_rank_draws_its_own_users():
    trainer = make_trainer(PLD())
    batch = next(iter(trainer.sampler))
    users = []
    for rank in (0, 1):
        method = PLD()
        method.setup(trainer.model, trainer.data, SetupContext(seed=0, negatives=trainer.sampler.negative_sampler,
                                                                world=World(rank=rank, world_size=2)))
        users.append(method.uniform_users(batch).users)
    assert not torch.equal(users[0], users[1])  # data parallelism: different users on each rank
    assert torch.equal(users[0], trainer.method.uniform_users(batch).users)  # rank 0: the single-process draw


def test_weights_are_per_user_relative_probabilities():
    method = PLD(temperature=0.5)
    trainer = make_trainer(method)
    users = torch.tensor([0, 0, 1])
    pos, neg = torch.tensor([2, 3, 20]), torch.tensor([40, 41, 50])
    w = method.weights(trainer.model, users, pos, neg)
    with torch.no_grad():
        out = trainer.model.triplet(users, pos, neg)
    losses = F.softplus(out.neg - out.pos)
    expected = 2 * torch.softmax(-losses[:2] / 0.5, 0)
    assert torch.allclose(w[:2], expected) and w[2].item() == pytest.approx(1.0)


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("users", ["uniform", "batch"])
def test_one_epoch(model, users):
    fit_one_epoch(model, "pld", epochs=2, begin_epoch=1, users=users)


def test_bce_objective_runs():
    fit_one_epoch("mf", "pld", epochs=2, begin_epoch=1, objective="bce")


def test_resume_is_exact(tmp_path):
    assert_resume_exact(lambda: PLD(begin_epoch=1), tmp_path)
