"""DeCA, DeCA(p) and UDT on CDAE as their authors train it: batches of users' rows
(``wangyu-ustc/DeCA`` ``train.py:206-313``; ``bachml/EvalDenoisingRec`` ``code/CDAE/main.py:292-376``)."""

import pytest
import torch
import torch.nn.functional as F

from _baseline_data import fit_one_epoch, make_trainer, tiny_data
from _resume import assert_resume_exact
from graphdenoise.datasets.graph import held_out_edges, make_heterodata, train_edges
from graphdenoise.methods import DeCA, DeCAP, StepContext, UDT
from graphdenoise.models import CDAE, MF
from graphdenoise.sampling import TripletSampler, UserBatchSampler

EPS = 1e-5


def cdae(data):
    torch.manual_seed(0)
    return CDAE(data, corruption=0.0, activation="tanh", embedding_dim=8)  # deterministic forward


def trainer_of(method, batch_size=16, **options):
    data = tiny_data()
    from graphdenoise.train import Trainer, TrainerConfig
    config = TrainerConfig(epochs=3, eval_every=1, batch_size=batch_size, ks=(5, 10), monitor="recall@10",
                           device="cpu", show_progress=False, **options)
    return Trainer(cdae(data), method, data, config)


def dense_logits(model, users):
    """CDAE by hand on the users' dense training rows: W'^T act(x W + V_u + b) + b'."""
    x = torch.zeros(model.num_users, model.num_items)
    x[model.train_index.users, model.train_index.items] = 1.0
    hidden = torch.tanh(x[users] @ model.item_input.weight + model.user_node.weight[users] + model.input_bias)
    return hidden @ model.item_output.weight.t() + model.output_bias


def kl(a, b):
    log = lambda t: torch.log(t + EPS)
    return a * log(a) - a * log(b) + (1 - a) * log(1 - a) - (1 - a) * log(1 - b)


@pytest.mark.parametrize("step", [1, 2])
def test_deca_rows_loss_by_hand(step):
    method = DeCA(alpha=0.5, C_1=3.0, C_2=2.0, lambda0=0.01)
    trainer = trainer_of(method, num_negatives=2)
    assert isinstance(trainer.sampler, UserBatchSampler) and trainer.sampler.negatives == "pooled"
    batch = next(iter(trainer.sampler))
    assert batch.neg_rows.numel() == 2 * batch.pos_rows.numel()
    model = trainer.model
    loss, logs = method.loss(model, batch, StepContext(step=step, epoch=0, lr=1e-3, l2=0.0))
    with torch.no_grad():
        f_all = torch.sigmoid(dense_logits(model, batch.users))
        f_pos, f_neg = f_all[batch.pos_rows, batch.pos_items], f_all[batch.neg_rows, batch.neg_items]
        pu, pi, nu, ni = batch.pos_users, batch.pos_items, batch.neg_users, batch.neg_items
        g_pos, g_neg = method.prior(pu, pi), method.prior(nu, ni)
        a_pos = 0.5 * kl(g_pos, f_pos) + 0.5 * kl(f_pos, g_pos)
        a_neg = 0.5 * kl(g_neg, f_neg) + 0.5 * kl(f_neg, g_neg)
        log = lambda t: torch.log(t + EPS)
        if step == 1:  # DP
            lp = (1 - f_pos) * log(method.h1(pu, pi))
            ln = (1 - f_neg) * log(1 - method.h1(nu, ni)) - 3.0 * f_neg
        else:  # DN
            lp = f_pos * log(method.h2(pu, pi)) - 2.0 * (1 - f_pos)
            ln = f_neg * log(1 - method.h2(nu, ni))
        norm = sum(p.norm() for p in model.parameters())  # un-squared, every parameter
        expected = (a_pos - lp).mean() + (a_neg - ln).mean() + 0.01 * norm
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["deca"].item() == pytest.approx((expected - 0.01 * norm).item(), rel=1e-5)


def test_deca_p_pretrains_on_rows_and_reads_the_copy():
    method = DeCAP(pretrain_epochs=2, lambda0=0.5, pretrain_batch_size=20)
    trainer = trainer_of(method)
    batch = next(iter(trainer.sampler))
    assert isinstance(method.pretrain_sampler(), UserBatchSampler)
    prior, model = method.prior, trainer.model
    with torch.no_grad():  # the pre-training loss: SUM of the cells' BCE + lambda0 * un-squared norms
        logits = dense_logits(prior, batch.users)
        pos, neg = logits[batch.pos_rows, batch.pos_items], logits[batch.neg_rows, batch.neg_items]
        expected = F.softplus(-pos).sum() + F.softplus(neg).sum() + 0.5 * sum(p.norm() for p in prior.parameters())
        assert method.pretrain_loss(prior, batch).item() == pytest.approx(expected.item(), rel=1e-5)
    loss, _ = method.loss(model, batch, StepContext(step=0, epoch=0, lr=1e-3, l2=0.0))
    assert bool(method.pretrained) and not prior.training
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), prior.parameters()))
    rows, items, _ = batch.cells()
    with torch.no_grad():
        g = torch.sigmoid(dense_logits(prior, batch.users)[rows, items])
        assert torch.allclose(method.prior_cells(batch, rows, items), g, atol=1e-6)
    loss.backward()
    assert all(p.grad is None for p in prior.parameters())


def code_rank(values, low, high):
    """The code's ``linspace(low, high, U)[where(argsort(loss) == u)]`` per user."""
    order = torch.argsort(values, stable=True)
    levels = torch.linspace(low, high, values.numel())
    return {int(u): float(levels[k]) for k, u in enumerate(order)}


def test_udt_rows_loss_by_hand():
    method = UDT(temp_low=0.3, temp_high=0.7, factor_low=0.9, factor_high=0.2)
    trainer = trainer_of(method)
    assert isinstance(trainer.sampler, UserBatchSampler) and trainer.sampler.negatives == "per_user"
    model, batches = trainer.model, list(trainer.sampler)
    for epoch in (0, 1):  # warm-up: unit weights, every row's mean loss stored
        for batch in batches:
            loss, _ = method.loss(model, batch, StepContext(step=0, epoch=epoch, lr=1e-3, l2=0.0))
            rows, items, labels = batch.cells()
            with torch.no_grad():
                terms = F.binary_cross_entropy_with_logits(dense_logits(model, batch.users)[rows, items], labels,
                                                           reduction="none")
            assert loss.item() == pytest.approx(terms.mean().item(), rel=1e-5)
            for r, u in enumerate(batch.users.tolist()):
                assert method.row_loss[u].item() == pytest.approx(terms[rows == r].mean().item(), rel=1e-5)
    previous = method.row_loss.clone()
    assert torch.isfinite(previous).all()
    temp, fact = code_rank(previous, 0.3, 0.7), code_rank(previous, 0.9, 0.2)
    batch = batches[0]
    loss, _ = method.loss(model, batch, StepContext(step=0, epoch=2, lr=1e-3, l2=0.0))
    rows, items, labels = batch.cells()
    with torch.no_grad():  # the code's loop over the batch's users (main.py:336-362)
        terms = F.binary_cross_entropy_with_logits(dense_logits(model, batch.users)[rows, items], labels,
                                                   reduction="none")
        weight = torch.ones_like(terms)
        for r, u in enumerate(batch.users.tolist()):
            mine, pos = rows == r, (rows == r) & (labels == 1)
            weight[pos] = torch.softmax(-terms[pos] / temp[u], 0) * mine.sum() / 2.0
            weight[mine] *= fact[u]
    assert loss.item() == pytest.approx((weight * terms).mean().item(), rel=1e-5)


def test_udt_users_without_rows_rank_last():
    full, method = tiny_data(), UDT()
    edges = train_edges(full)
    held = {split: held_out_edges(full, split) for split in ("val", "test")}
    data = make_heterodata(48, 60, {"train": edges[:, edges[0] != 0], **held})  # user 0: no training row
    from graphdenoise.train import Trainer, TrainerConfig
    trainer = Trainer(CDAE(data), method, data, TrainerConfig(epochs=2, batch_size=16, ks=(5, 10),
                                                              monitor="recall@10", device="cpu", show_progress=False))
    last = torch.finfo(torch.float32).max
    assert method.row_loss[0].item() == last
    trainer.fit()  # user 0's row is in a batch, with no cells (ModCloth has 6,378 such users): no 0 / 0
    assert method.row_loss[0].item() == last and torch.isfinite(method.row_loss).all()
    assert method.row_loss[1:].max() < last
    temperature, factor = method.row_ranks()
    assert temperature[0].item() == pytest.approx(method.config.temp_high)
    assert factor[0].item() == pytest.approx(method.config.factor_high)


def test_batches_option_and_errors():
    assert isinstance(trainer_of(DeCA(batches="triplets")).sampler, TripletSampler)
    assert isinstance(make_trainer(UDT()).sampler, TripletSampler)  # auto: triplets on MF
    for method in (DeCA(batches="users"), UDT(batches="users"), DeCAP(batches="users")):
        with pytest.raises(ValueError, match="users' rows"):
            make_trainer(method, MF)
    with pytest.raises(ValueError):
        UDT(batches="rows")


@pytest.mark.parametrize("method,options", [("deca", {}), ("deca-p", {"pretrain_epochs": 1}), ("udt", {})])
def test_one_epoch_through_fit(method, options):
    result = fit_one_epoch("cdae", method, batch_size=16, batches="users", **options)
    assert result.history[-1]["steps"] == 3  # 48 users, 16 per batch


@pytest.mark.parametrize("make_method", [lambda: DeCA(), lambda: DeCAP(pretrain_epochs=1), lambda: UDT()])
def test_resume_is_exact_on_user_batches(make_method, tmp_path):
    saved = assert_resume_exact(make_method, tmp_path, model_cls=CDAE, batch_size=16)
    assert "sampler" in saved["task"]


def test_deca_input_normalisation_by_hand():
    """DeCA's CDAE (``CDAE.py:53-68``): x / sqrt(||x_u|| ||x_.i||), item norms over the encoded users."""
    data = tiny_data()
    torch.manual_seed(0)
    model = CDAE(data, corruption=0.0, activation="tanh", input_norm="batch", embedding_dim=8)
    users = torch.tensor([3, 0, 7, 11, 12])
    x = torch.zeros(model.num_users, model.num_items)
    x[model.train_index.users, model.train_index.items] = 1.0
    x = x[users]
    norm = torch.sqrt(x.norm(dim=1, keepdim=True) @ x.norm(dim=0, keepdim=True))
    x = x / norm.masked_fill(norm == 0, 1e-10)
    expected = torch.tanh(x @ model.item_input.weight + model.user_node.weight[users] + model.input_bias)
    assert torch.allclose(model.hidden(users), expected, atol=1e-6)
    with pytest.raises(ValueError):
        CDAE(data, input_norm="global")


@pytest.mark.parametrize("name", ["tce", "rce"])
def test_study_erm_tce_rce_on_rows_by_hand(name):
    """The study's CDAE ERM / T-CE / R-CE (``code/CDAE/main.py:318-325``, ``code/CDAE/loss.py``) over the
    batch's flattened cells; ``batches`` defaults to triplets."""
    from graphdenoise.methods import RCE, TCE
    assert isinstance(trainer_of(TCE()).sampler, TripletSampler)
    method = TCE(batches="auto", drop_rate=0.2, num_gradual=10) if name == "tce" else RCE(batches="users", beta=0.25)
    trainer = trainer_of(method)
    assert isinstance(trainer.sampler, UserBatchSampler) and trainer.sampler.negatives == "per_user"
    batch = next(iter(trainer.sampler))
    loss, _ = method.loss(trainer.model, batch, StepContext(step=5, epoch=0, lr=1e-3, l2=0.0))
    rows, items, labels = batch.cells()
    with torch.no_grad():
        logits = dense_logits(trainer.model, batch.users)[rows, items]
        terms = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        if name == "tce":  # drop the int(0.1 * n)... highest-loss positives: keep int((1 - 0.1) n) by loss * label
            kept = int((1 - 0.1) * terms.numel())
            expected = terms[torch.argsort(terms * labels)[:kept]].mean()
        else:
            p = torch.sigmoid(logits)
            expected = (torch.where(labels == 1, p, 1 - p).pow(0.25) * terms).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
