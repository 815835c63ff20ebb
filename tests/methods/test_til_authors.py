"""TIL's recipe='authors-code' against a literal transcription of the authors' training step
(haolun-wu/TIL, main_MF.py:279-332, model/MF.py:40-130), on a tiny problem in float64."""
import copy

import pytest
import torch
from torch.nn import functional as F

import graphdenoise
from graphdenoise.methods import TILMI, TILMIK, TILUI, SetupContext, StepContext
from graphdenoise.models import MF, MODELS
from graphdenoise.models.base import accumulate_row_gradients
from graphdenoise.sampling import TripletSampler
from tests.helpers import synthetic, tiny_graph


def authors_step(user_table, item_table, head, label, users, pos, neg, alpha, decay):
    """One step of main_MF.py (bl='Y', state 12, trick 'raw') written as their code does it:
    the model's .grad after it (inner + outer + coupled weight decay) and the head's .grad."""
    U = user_table.detach().clone().requires_grad_()
    I = item_table.detach().clone().requires_grad_()
    u, p, n = U[users], I[pos], I[neg]
    c = (label[users] @ I) / label[users].sum(1, keepdim=True)  # community_ui, model/MF.py:40-51
    state = torch.cat([u * p + c * p, u * n + c * n], 1)  # A_pdt + C_pdt || a_pdt + c_pdt (:196-199)
    w = F.softplus(F.relu(state @ head[0].weight.t() + head[0].bias) @ head[2].weight.t())  # MF.py:125-130
    in_loss = torch.sum(-F.logsigmoid((u * p).sum(1, keepdim=True) - (u * n).sum(1, keepdim=True)) * w)
    grad_u = torch.autograd.grad(in_loss, U, create_graph=True)[0]
    grad_i = torch.autograd.grad(in_loss, I, create_graph=True)[0]
    in_loss.backward(retain_graph=True)
    inner = (U.grad.clone(), I.grad.clone())
    uid, iid = torch.unique(users), torch.unique(torch.cat([pos, neg]))
    U2, I2 = U.clone(), I.clone()
    U2[uid] = U2[uid] - alpha * grad_u[uid]  # :315-317
    I2[iid] = I2[iid] - alpha * grad_i[iid]
    out_loss = torch.sum(-F.logsigmoid((U2[users] * I2[pos]).sum(1) - (U2[users] * I2[neg]).sum(1)))
    for param in head.parameters():
        param.grad = None  # weight_optimizer.zero_grad(), :325
    out_loss.backward()  # :328 (the requires_grad=False on the Module freezes nothing)
    return ((U.grad + decay * U).detach(), (I.grad + decay * I).detach()), inner, \
        [param.grad.clone() for param in head.parameters()], w.view(-1).detach()


def setup_authors(method, seed=0):
    data = tiny_graph(num_users=6, num_items=10, num_edges=40)
    torch.manual_seed(seed)
    model = MF(data, embedding_dim=4).double()
    method.setup(model, data, SetupContext(lr=1e-3))
    method.double()
    return data, model, TripletSampler(data, batch_size=8)


def test_authors_code_head_state_and_combined_update_match_their_step():
    method = TILUI(recipe="authors-code")
    data, model, sampler = setup_authors(method)
    head = method.weight_net
    assert head[2].bias is None and head[0].out_features == 64
    with torch.no_grad():
        head[2].weight.mul_(40.0)  # weights well above 1: the softplus head is unbounded
    reference_head = copy.deepcopy(head)
    batch = sampler.random_batch(8)
    index = model.train_index
    label = torch.zeros(model.num_users, model.num_items, dtype=torch.float64)
    label[index.users, index.items] = 1.0
    tables = [t.detach().clone() for t in model.embedding_tables()]
    expected, inner, head_grads, expected_w = authors_step(*tables, reference_head, label, batch.users,
                                                           batch.pos_items, batch.neg_items, 1e-3, 1e-2)

    weight = method.weights(model, batch.users, batch.pos_items, batch.neg_items)
    assert torch.allclose(weight, expected_w, rtol=1e-10)
    assert weight.max() > 1
    ctx = StepContext(step=0, epoch=0, lr=1e-3, l2=1e-4)  # the trainer's l2 is not used by this recipe
    loss, logs = method.loss(model, batch, ctx)
    for param in model.parameters():
        param.grad = torch.zeros_like(param)
    for param in head.parameters():
        param.grad = torch.full_like(param, 7.0)  # whatever the trainer left there is discarded
    with accumulate_row_gradients():  # as the trainer's backward
        loss.backward()
    method.after_backward(model, batch, ctx)

    got = [t.grad for t in model.embedding_tables()]
    for mine, theirs, inner_only in zip(got, expected, inner):
        assert torch.allclose(mine, theirs, rtol=1e-9, atol=1e-12)
        # the embeddings receive the outer gradient on top of the inner one (and the weight decay)
        assert (mine - inner_only).abs().max() > 1e-6
    for mine, theirs in zip(head.parameters(), head_grads):
        assert torch.allclose(mine.grad, theirs, rtol=1e-9, atol=1e-12)
        assert mine.grad.abs().max() > 0
    assert float(logs["weighted_bpr"]) == pytest.approx(float(loss))


def test_authors_code_state_is_not_detached_and_reaches_the_interest_items():
    method = TILUI(recipe="authors-code")
    data, model, sampler = setup_authors(method)
    batch = sampler.random_batch(8)
    item_table = model.embedding_tables()[1]
    state = method.interest.state(model, batch.users, batch.pos_items, batch.neg_items, detach=False)
    grad = torch.autograd.grad(state.sum(), item_table)[0]
    index = model.train_index
    interest_items = torch.unique(index.items[torch.isin(index.users, batch.users)])
    assert (grad[interest_items].abs().sum(1) > 0).all()
    paper = TILUI()
    paper.setup(model, data, SetupContext(lr=1e-3))
    assert not paper.state(model, batch.users, batch.pos_items, batch.neg_items).requires_grad


def test_authors_code_cluster_state_uses_cluster_means():
    method = TILMI(recipe="authors-code", num_clusters=3, pretrain_epochs=0)
    data, model, sampler = setup_authors(method)
    method.interest.prepare(model, 0)
    ids = method.interest.cluster_ids
    q = model.embedding_tables()[1].detach()
    p_u = model.embedding_tables()[0].detach()
    centres = torch.stack([q[ids == k].mean(0) if (ids == k).any() else torch.zeros(4, dtype=q.dtype)
                           for k in range(3)])
    users, pos, neg = torch.tensor([0, 3]), torch.tensor([1, 2]), torch.tensor([5, 9])
    u, i, j, ci, cj = p_u[users], q[pos], q[neg], centres[ids[pos]], centres[ids[neg]]
    expected = torch.cat([u * i + u * ci + ci * i, u * j + u * cj + cj * j], 1)  # main_MF_cluster.py:224-227
    assert torch.allclose(method.state(model, users, pos, neg), expected, atol=1e-12)


def test_authors_code_mi_trains_plain_bpr_before_its_clusters():
    result = graphdenoise.fit(synthetic(), model="mf", method="til-mi", recipe="authors-code", pretrain_epochs=1,
                              num_clusters=5, epochs=3, eval_every=3, batch_size=1024, show_progress=False)
    first, second, third = result.history
    assert "weight_mean" not in first and "bpr" in first
    assert second["weight_mean"] > 0 and "outer_bpr" in second
    assert int(result.method.interest.last_clustered) == 1  # clustered at the first TIL epoch only (every 10)
    # early stopping may not end the run during the plain-BPR warm-up, only once the weights exist
    method = TILMI(recipe="authors-code", pretrain_epochs=1, num_clusters=5)
    _, model, _ = setup_authors(method)
    assert not method.may_stop()
    method.interest.prepare(model, epoch=1)
    assert method.may_stop() and result.method.may_stop() and TILUI().may_stop()


@pytest.mark.parametrize("recipe", ["paper", "authors-code"])
@pytest.mark.parametrize("method", ["til-ui", "til-mi"])
@pytest.mark.parametrize("model", MODELS.names())
def test_both_recipes_run_on_every_backbone(model, method, recipe):
    extra = {"pretrain_epochs": 0, "num_clusters": 6} if method == "til-mi" else {}
    result = graphdenoise.fit(synthetic(), model=model, method=method, recipe=recipe, epochs=1, eval_every=1,
                              batch_size=1024, show_progress=False, **extra)
    assert result.metrics["val"]["recall@20"] > 0
    assert result.history[-1]["weight_mean"] > 0


def test_recipe_option_errors():
    with pytest.raises(ValueError, match="recipe=.authors. is not a valid choice: must be one of"):
        TILUI(recipe="authors")
    with pytest.raises(ValueError, match="outer='holdout' is an option of recipe='paper'"):
        TILUI(recipe="authors-code", outer="holdout")
    data = tiny_graph()
    with pytest.raises(ValueError, match="TILMIK has no recipe='authors-code'"):
        TILMIK(recipe="authors-code").setup(MF(data), data, SetupContext())


def test_candidate_pool_negatives_are_non_positives_from_a_refreshed_pool():
    from graphdenoise.sampling import CandidatePoolNegatives

    data = synthetic()
    model = MF(data)
    sampler = CandidatePoolNegatives(model.train_index, pool_size=5, refresh_epochs=2)
    sampler.bind(model, batches_per_epoch=3)
    generator = torch.Generator().manual_seed(0)
    users = torch.arange(model.num_users).repeat(4)
    items, _ = sampler.sample(users, generator)
    assert not model.train_index.contains(users, items).any()
    pool = sampler.pool.clone()
    assert (pool[users, :] == items.unsqueeze(1)).any(1).all()  # every negative comes from its user's pool
    for step in range(5):
        sampler.update(model, step)
    assert sampler.pool is not None  # refreshed only after 2 epochs x 3 batches
    sampler.update(model, 5)
    sampler.sample(users, generator)
    assert not torch.equal(sampler.pool, pool)
    restored = CandidatePoolNegatives(model.train_index, pool_size=5)
    restored.load_state_dict(sampler.state_dict())
    assert torch.equal(restored.pool, sampler.pool)


def test_authors_code_uses_the_candidate_pool_and_paper_the_uniform_sampler():
    assert TILUI(recipe="authors-code").sampling().build_negatives(synthetic_index()).pool_size == 500
    assert type(TILUI().sampling().build_negatives(synthetic_index())).__name__ == "UniformNegatives"
    assert TILUI(recipe="authors-code", candidate_pool=0).sampling().negatives is None
    authors, paper = TILMI(recipe="authors-code").settings, TILMI().settings
    assert (authors.num_clusters, authors.pretrain_epochs, authors.weight_decay, authors.lookahead_lr) == (20, 99, 1e-2, 1e-3)
    assert (paper.num_clusters, paper.pretrain_epochs, paper.weight_decay, paper.lookahead_lr) == (60, 50, 0.0, None)
    assert TILMI(recipe="authors-code").config.num_clusters is None  # the config keeps what the user gave


def synthetic_index():
    return MF(synthetic()).train_index


def test_authors_code_resume_is_exact(tmp_path):
    """Pools, cluster ids, the head's Adam moments and the model continue bit-identically."""
    from graphdenoise.train import Trainer, TrainerConfig
    from graphdenoise.train.checkpoint import load_checkpoint
    from graphdenoise.utils import seed_everything

    data = synthetic()

    def trainer(epochs, directory, resume=False):
        seed_everything(0)
        method = TILMI(recipe="authors-code", pretrain_epochs=1, recluster_epochs=1, num_clusters=4,
                       candidate_pool=7, pool_refresh_epochs=2)
        return Trainer(MF(data), method, data, TrainerConfig(epochs=epochs, eval_every=1, batch_size=1024,
                                                            checkpoint_dir=str(directory), resume=resume,
                                                            show_progress=False))

    trainer(3, tmp_path / "a").fit()
    trainer(2, tmp_path / "b").fit()
    trainer(3, tmp_path / "b", resume=True).fit()
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for part in ("model", "method"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    pools = [c["task"]["sampler"]["negative_sampler"]["pool"] for c in (a, b)]
    assert pools[0] is not None and torch.equal(*pools)  # redrawn after epoch 2 from the saved generator
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_authors_code_lightgcn_step_matches_their_graph_script():
    """main_Graph_cluster.py:297-330 with LightGCN: ego-row state, look-ahead on the batch's rows of the
    ego table only, outer loss through the propagation at the look-ahead table."""
    from torch.func import functional_call

    from graphdenoise.methods.losses import bpr_terms

    data = tiny_graph(num_users=6, num_items=10, num_edges=40)
    torch.manual_seed(0)
    model = MODELS.get("lightgcn")(data, embedding_dim=4).double()
    method = TILUI(recipe="authors-code")
    method.setup(model, data, SetupContext(lr=1e-3))
    method.double()
    with torch.no_grad():
        method.weight_net[2].weight.mul_(40.0)
    head = copy.deepcopy(method.weight_net)
    batch = TripletSampler(data, batch_size=8).random_batch(8)
    users, pos, neg, nu = batch.users, batch.pos_items, batch.neg_items, model.num_users
    index = model.train_index
    label = torch.zeros(nu, model.num_items, dtype=torch.float64)
    label[index.users, index.items] = 1.0

    E = model.embedding.detach().clone().requires_grad_()
    U, I = E[:nu], E[nu:]
    u, p, n = U[users], I[pos], I[neg]
    c = (label[users] @ I) / label[users].sum(1, keepdim=True)
    w = head(torch.cat([(u + c) * p, (u + c) * n], 1))
    scores = functional_call(TripletScores(model), {"model.embedding": E}, (users, pos, neg))
    in_loss = torch.sum(bpr_terms(*scores) * w)
    grad = torch.autograd.grad(in_loss, E, create_graph=True)[0]
    in_loss.backward(retain_graph=True)
    rows = torch.cat([torch.unique(users), nu + torch.unique(torch.cat([pos, neg]))])
    E2 = E.clone()
    E2[rows] = E2[rows] - 1e-3 * grad[rows]
    out_loss = torch.sum(bpr_terms(*functional_call(TripletScores(model), {"model.embedding": E2}, (users, pos, neg))))
    for param in head.parameters():
        param.grad = None
    out_loss.backward()
    expected = E.grad + 1e-2 * E

    ctx = StepContext(step=0, epoch=0, lr=1e-3)
    loss, _ = method.loss(model, batch, ctx)
    model.embedding.grad = torch.zeros_like(model.embedding)
    with accumulate_row_gradients():
        loss.backward()
    method.after_backward(model, batch, ctx)
    assert torch.allclose(model.embedding.grad, expected.detach(), rtol=1e-9, atol=1e-12)
    for mine, theirs in zip(method.weight_net.parameters(), head.parameters()):
        assert torch.allclose(mine.grad, theirs.grad, rtol=1e-9, atol=1e-12)


class TripletScores(torch.nn.Module):
    """``(pos, neg)`` scores of ``model.triplet`` (a module for functional_call)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, users, pos, neg):
        out = self.model.triplet(users, pos, neg)
        return out.pos, out.neg


@pytest.mark.parametrize("method", ["til-ui", "til-mi"])
def test_authors_code_result_saves_and_loads(tmp_path, method):
    data = synthetic()
    extra = {"pretrain_epochs": 0, "num_clusters": 5} if method == "til-mi" else {}
    result = graphdenoise.fit(data, model="mf", method=method, recipe="authors-code", epochs=1, eval_every=1,
                              batch_size=1024, show_progress=False, **extra)
    result.save(tmp_path / "run.pt")
    loaded = graphdenoise.load(tmp_path / "run.pt")
    users, pos, neg = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 8])
    before = result.method.weights(result.model, users, pos, neg)
    assert torch.equal(loaded.method.weights(loaded.model, users, pos, neg), before)
    assert loaded.method.settings.weight_decay == 1e-2
