import math

import pytest
import torch

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import BOD, METHODS, StepContext
from graphdenoise.methods.bod import WeightGenerator, alignment_terms, gradient_matching_distance, uniformity
from graphdenoise.methods.losses import bpr_terms
from graphdenoise.models import MODELS, LightGCN, MF
from graphdenoise.train import load_checkpoint


def ctx_of(trainer, step=0, l2=0.0):
    return StepContext(step=step, epoch=0, lr=1e-3, l2=l2, batches_per_epoch=len(trainer.sampler))


def test_generator_shapes_and_registry():
    assert METHODS.get("bod") is BOD
    gen = WeightGenerator(8, 64)
    assert [tuple(p.shape) for p in gen.parameters()] == [(64, 8), (64,), (64, 64), (64,), (1, 64), (1,)]
    w = gen(torch.randn(5, 4), torch.randn(5, 3, 4))
    assert w.shape == (5, 3) and ((w > 0) & (w < 1)).all()


def test_gradient_matching_distance():
    a = [torch.randn(6, 3), torch.randn(4)]
    assert gradient_matching_distance(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert gradient_matching_distance(a, [-a[0], a[1]]).item() == pytest.approx(2.0 * 3)  # 1-D ignored
    assert gradient_matching_distance([a[0], None], [a[0], None]).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("model_cls", [MF, LightGCN])
def test_generator_receives_a_gradient_from_the_matching_loss(model_cls):
    method = BOD(generator_reg=0.0)
    trainer = make_trainer(method, model_cls)
    batch = next(iter(trainer.sampler))
    loss = method.matching_loss(trainer.model, batch)
    params = list(method.generator.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0
    assert all(p.grad is None or not p.grad.any() for p in trainer.model.parameters())  # theta untouched


def test_the_recommender_loss_uses_the_weights():
    method = BOD(weight_uniformity=0.5)
    trainer = make_trainer(method)
    batch = next(iter(trainer.sampler))
    model = trainer.model
    gen = method.generator
    with torch.no_grad():  # a generator that outputs c everywhere
        c = 0.3
        gen.lin3.weight.zero_()
        gen.lin3.bias.fill_(math.log(c / (1 - c)))
    with model.dense_gradients():  # so that autograd.grad w.r.t. the table sees the lookups
        loss, logs = method.loss(model, batch, ctx_of(trainer))
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
    rows = slice(0, 512)
    unif = (2 * uniformity(out.user[rows]) + uniformity(out.pos_item[rows]) + uniformity(out.neg_item[rows])) / 4
    expected = c * bpr_terms(out.pos, out.neg).mean() + c * alignment_terms(out.user, out.pos_item).mean() + 0.5 * unif
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    w = method.weights(model, batch.users, batch.pos_items, batch.neg_items)
    assert torch.allclose(w, torch.full_like(w, c))
    # weights are constants for theta: the gradient equals that of the expected loss
    g1 = torch.autograd.grad(loss, model.user_embedding.weight)[0]
    g2 = torch.autograd.grad(expected, model.user_embedding.weight)[0]
    assert torch.allclose(g1, g2, atol=1e-6)


def test_training_changes_recommender_and_generator():
    method = BOD(outer_loop=2)
    trainer = make_trainer(method, epochs=1)
    model_before = [p.detach().clone() for p in trainer.model.parameters()]
    gen_before = [p.detach().clone() for p in method.generator.parameters()]
    trainer.fit()
    assert all(not torch.equal(a, b) for a, b in zip(model_before, trainer.model.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(gen_before, method.generator.parameters()))
    record = trainer.history[-1]
    assert 0 < record["weight_mean"] < 1 and record["weight_std"] >= 0 and record["matching_loss"] > 0


def test_outer_schedule():
    method = BOD()
    trainer = make_trainer(method)  # 288 edges / 64 = 5 batches per epoch
    assert len(trainer.sampler) == 5
    counts = lambda m: [m.outer_iterations(ctx_of(trainer, step)) for step in range(10)]
    assert counts(BOD(outer_loop=1)) == [0, 0, 0, 0, 1] * 2  # the last batch of each epoch
    assert counts(BOD(outer_loop=2)) == [0, 1, 0, 0, 1] * 2
    assert sum(counts(BOD(outer_loop=7))) == 14
    assert counts(BOD(outer_loop=0)) == [0] * 10
    assert counts(BOD(outer_every=3)) == [0, 0, 1, 0, 0, 1, 0, 0, 1, 0]


def test_config_validation():
    for bad in ({"weight_on": "both"}, {"generator_lr": 0.0}, {"outer_every": 0}, {"uniformity_rows": 1}):
        with pytest.raises(ValueError):
            BOD(**bad)


def test_checkpoint_resume_is_exact(tmp_path):
    straight = make_trainer(BOD(), epochs=2, eval_every=1, checkpoint_dir=str(tmp_path / "a"))
    straight.fit()
    first = make_trainer(BOD(), epochs=1, eval_every=1, checkpoint_dir=str(tmp_path / "b"))
    first.fit()
    saved = load_checkpoint(tmp_path / "b" / "last.pt")
    assert saved["method_optimizers"]["generator_optimizer"]["state"]  # Adam moments are saved
    resumed = make_trainer(BOD(), epochs=2, eval_every=1, checkpoint_dir=str(tmp_path / "b"), resume=True)
    resumed.fit()
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for key in a["method"]:
        assert torch.equal(a["method"][key], b["method"][key]), key
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    sa, sb = a["method_optimizers"]["generator_optimizer"]["state"], b["method_optimizers"]["generator_optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert all(torch.equal(sa[k][n], sb[k][n]) for n in ("exp_avg", "exp_avg_sq"))


def test_trainer_checkpoints_the_declared_outer_optimizer():
    source = make_trainer(BOD(outer_every=1), epochs=1)
    source.fit()
    target = make_trainer(BOD(outer_every=1), epochs=1)
    target.load_state_dict(source.state_dict())
    assert target.method.optimizer.state_dict()["state"].keys() == source.method.optimizer.state_dict()["state"].keys()
    for k, v in source.method.optimizer.state_dict()["state"].items():
        assert torch.equal(target.method.optimizer.state_dict()["state"][k]["exp_avg"], v["exp_avg"])


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("weight_on", ["loss", "score"])
def test_one_epoch(model, weight_on):
    result = fit_one_epoch(model, "bod", weight_on=weight_on)
    assert "matching_loss" in result.history[-1]
    if weight_on == "score":
        assert "neg_weight_mean" in result.history[-1]
