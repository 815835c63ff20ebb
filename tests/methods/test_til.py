import pytest
import torch
from torch.func import functional_call

import graphdenoise
from graphdenoise.methods import TILMI, TILUI, SetupContext, StepContext
from graphdenoise.methods.clustering import clustering_loss, soft_assignment
from graphdenoise.methods.losses import bpr_terms
from graphdenoise.methods.til_bilevel import ExactHypergradient
from graphdenoise.metrics import noise_detection_auc
from graphdenoise.models import MODELS, MF
from graphdenoise.sampling import TripletSampler
from graphdenoise.train import Trainer, TrainerConfig
from graphdenoise.utils import kmeans, seed_everything
from tests.helpers import synthetic, tiny_graph


def bound(method, model, data):
    sampler = TripletSampler(data, batch_size=8)
    method.setup(model, data, SetupContext(lr=1e-2))
    return sampler


def test_uni_interest_state_matches_hand_computation():
    data = tiny_graph()
    torch.manual_seed(0)
    model = MF(data, embedding_dim=4)
    method = TILUI()
    bound(method, model, data)
    users, pos, neg = torch.tensor([0, 2, 2]), torch.tensor([1, 3, 4]), torch.tensor([5, 6, 0])
    p, q = (t.detach() for t in model.embedding_tables())
    index = model.train_index
    rows = []
    for u, i, j in zip(users.tolist(), pos.tolist(), neg.tolist()):
        eta = q[index.items[index.users == u]].mean(0)  # Eq. 4 by a per-user loop
        rows.append(torch.cat([q[i] * p[u] + q[i] * eta, q[j] * p[u] + q[j] * eta]))  # Eq. 5 (A+B || C+D)
    state = method.state(model, users, pos, neg)
    assert state.shape == (3, 8)
    assert torch.allclose(state, torch.stack(rows), atol=1e-6)
    assert not state.requires_grad


def test_user_interest_by_scatter_equals_loop():
    data = synthetic()
    model = MF(data)
    method = TILUI()
    bound(method, model, data)
    users = torch.tensor([5, 0, 5, 17, 299])
    q = model.embedding_tables()[1].detach()
    index = model.train_index
    loop = torch.stack([q[index.items[index.users == u]].mean(0) for u in users.tolist()])
    assert torch.allclose(method.user_interest(model, users), loop, atol=1e-6)


def test_compact_concat_rows_and_the_interest_of_the_state_are_the_int64_ones():
    """int32 ids (TIL's η) give the same items and counts; η_u is the mean of the user's item rows, bit for
    bit what ``embedding_bag(mode="mean")`` gives."""
    data = synthetic()
    model = MF(data)
    index, users = model.train_index, torch.tensor([299, 0, 5, 17])
    items, counts = index.concat_rows(users)
    small, small_counts = index.concat_rows(users, compact=True)
    assert small.dtype == small_counts.dtype == torch.int32
    assert torch.equal(small.long(), items) and torch.equal(small_counts.long(), counts)
    assert torch.equal(index.to("cpu").concat_rows(users, compact=True)[0], small)
    table = model.embedding_tables()[1].detach()
    means = torch.stack([table[part].mean(0) for part in items.split(counts.tolist())])
    method = TILUI()
    bound(method, model, data)
    eta = method.user_interest(model, users)
    assert torch.allclose(eta, means, rtol=0, atol=1e-7)
    offsets = torch.cumsum(counts, 0) - counts
    assert torch.equal(eta, torch.nn.functional.embedding_bag(items, table, offsets, mode="mean"))


def test_multi_interest_state_adds_scaled_cluster_centres():
    data = tiny_graph()
    torch.manual_seed(0)
    model = MF(data, embedding_dim=4)
    method = TILMI(num_clusters=3, alpha=0.5)
    bound(method, model, data)
    method.interest.initialise(model)
    users, pos, neg = torch.tensor([1, 4]), torch.tensor([2, 3]), torch.tensor([7, 8])
    p, q = (t.detach() for t in model.embedding_tables())
    mu = method.interest.centres.detach()[method.interest.cluster_ids]
    eta = method.user_interest(model, users)
    expected = torch.cat([(q[pos] + 0.5 * mu[pos]) * (p[users] + eta), (q[neg] + 0.5 * mu[neg]) * (p[users] + eta)], 1)
    assert torch.allclose(method.state(model, users, pos, neg), expected, atol=1e-6)


def test_soft_assignment_rows_sum_to_one_and_clustering_loss_decreases():
    torch.manual_seed(0)
    points = torch.cat([torch.randn(50, 4) + 4, torch.randn(50, 4) - 4]).requires_grad_()
    centres = torch.nn.Parameter(kmeans(points, 2) + 0.5)
    q = soft_assignment(points, centres)
    assert torch.allclose(q.sum(1), torch.ones(100))
    opt = torch.optim.Adam([points, centres], lr=0.05)
    losses = []
    for _ in range(30):
        loss = clustering_loss(points, centres)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0] * 0.8


def test_kmeans_recovers_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(40, 2) for c in centres])
    found = kmeans(points, 3, generator=torch.Generator().manual_seed(0))
    assert torch.cdist(found, centres).min(1).values.max() < 0.2


def test_hypergradient_matches_finite_differences():
    """∂J_outer(Θ - α∇J_inner(Θ, w)) / ∂w_k by central differences, in float64."""
    data = tiny_graph()
    torch.manual_seed(0)
    model = MF(data, embedding_dim=3).double()
    method = TILUI(outer="other-batch")
    sampler = bound(method, model, data)
    method.double()
    batch = sampler.random_batch(6)
    outer = sampler.random_batch(5)
    alpha, l2 = 0.3, 1e-2
    ctx = StepContext(step=0, epoch=0, lr=alpha, l2=l2)
    weight = method.weights(model, batch.users, batch.pos_items, batch.neg_items).detach()
    loss, _ = method.loss(model, batch, ctx)
    model.zero_grad()
    loss.backward()
    hyper = method.hypergradient(model, batch, outer, alpha)

    names = [n for n, _ in model.named_parameters()]

    def outer_after_step(w):
        params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
        out = functional_call(model, params, (batch.users, batch.pos_items), {})
        scores = functional_call(model, params, (batch.users, batch.neg_items), {})
        reg = 0.5 * (params["user_embedding.weight"][batch.users].pow(2).sum()
                     + params["item_embedding.weight"][batch.pos_items].pow(2).sum()
                     + params["item_embedding.weight"][batch.neg_items].pow(2).sum()) / 6
        inner = (w * bpr_terms(out, scores)).mean() + l2 * reg
        grads = torch.autograd.grad(inner, [params[n] for n in names])
        stepped = {n: params[n].detach() - alpha * g for n, g in zip(names, grads)}
        pos = functional_call(model, stepped, (outer.users, outer.pos_items), {})
        neg = functional_call(model, stepped, (outer.users, outer.neg_items), {})
        return float(bpr_terms(pos, neg).mean())

    eps = 1e-6
    numeric = []
    with model.dense_gradients():  # the reference differentiates w.r.t. substituted tables
        for k in range(6):
            e = torch.zeros(6, dtype=torch.float64)
            e[k] = eps
            numeric.append((outer_after_step(weight + e) - outer_after_step(weight - e)) / (2 * eps))
    numeric = torch.tensor(numeric, dtype=torch.float64)
    assert hyper.abs().max() > 0
    assert torch.allclose(hyper, numeric, rtol=1e-4, atol=1e-9), (hyper, numeric)


def test_naive_weight_training_collapses_but_bilevel_does_not():
    data = synthetic()
    seed_everything(0)
    # naive: minimise the weighted loss over Λ directly -> every weight is driven to 0 (Section 4.4)
    model = MF(data)
    naive = TILUI(weight_lr=1e-2)
    sampler = bound(naive, model, data)
    opt = torch.optim.Adam(list(model.parameters()) + list(naive.weight_net.parameters()), lr=1e-2)
    for batch in list(sampler)[:40] * 3:
        out = model.triplet(batch.users, batch.pos_items, batch.neg_items)
        loss = (naive.weights(model, batch.users, batch.pos_items, batch.neg_items) * bpr_terms(out.pos, out.neg)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    batch = sampler.random_batch(2000)
    assert naive.weights(model, batch.users, batch.pos_items, batch.neg_items).mean() < 0.05
    # bilevel: the weights stay away from 0 and differ across triplets
    seed_everything(0)
    trainer = Trainer(MF(data), TILUI(weight_lr=1e-2), data,
                      TrainerConfig(epochs=3, batch_size=256, lr=1e-2, eval_every=3, show_progress=False))
    trainer.fit()
    stats = trainer.history[-1]
    assert stats["weight_mean"] > 0.3
    assert stats["weight_std"] > 1e-3


@pytest.mark.parametrize("method", ["til-ui", "til-mi", "til-mik"])
@pytest.mark.parametrize("model", MODELS.names())
def test_every_backbone_runs_each_variant(model, method):
    result = graphdenoise.fit(synthetic(), model=model, method=method, epochs=1, eval_every=1, batch_size=1024,
                              **({"pretrain_epochs": 0, "num_clusters": 6} if method != "til-ui" else {}))
    assert result.metrics["val"]["recall@20"] > 0
    assert 0 < result.history[-1]["weight_mean"] < 1
    if method != "til-ui":
        assert bool(result.method.interest.ready)


@pytest.mark.parametrize("outer", ["other-batch", "holdout"])
def test_outer_variants_and_normalised_weights_run(outer):
    result = graphdenoise.fit(synthetic(), model="mf", method="til-ui", epochs=1, eval_every=1, batch_size=1024,
                              outer=outer, normalize_weights=True)
    assert "weight_frac_above_0.99" in result.history[-1]


def test_injected_triplets_get_lower_weights_than_clean_ones():
    data = synthetic(noise_ratio=0.5)
    seed_everything(0)
    trainer = Trainer(MF(data), TILUI(weight_lr=1e-2, outer="holdout"), data,
                      TrainerConfig(epochs=8, batch_size=512, lr=1e-2, eval_every=8, show_progress=False))
    trainer.fit()
    report = noise_detection_auc(trainer.method, trainer.model, data)
    assert report["noisy_weight_mean"] < report["clean_weight_mean"], report
    assert report["weight_auc"] > 0.5


@pytest.mark.parametrize("outer_kind", ["same-batch", "other-batch"])
def test_row_restricted_hypergradient_equals_the_full_one(outer_kind):
    """MF's touched-rows path and the general functional_call path give the same hypergradient."""
    data = synthetic()
    torch.manual_seed(0)
    model = MF(data).double()
    method = TILUI(outer=outer_kind)
    sampler = TripletSampler(data, batch_size=64)
    method.setup(model, data, SetupContext(lr=1e-2))
    method.double()
    batch = sampler.random_batch(64)
    outer = batch if outer_kind == "same-batch" else sampler.random_batch(64)
    loss, _ = method.loss(model, batch, StepContext(step=0, epoch=0, lr=0.05, l2=1e-3))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    loss.backward()
    hyper = ExactHypergradient()
    rows = hyper.rows(model, batch, outer, 0.05)
    full = hyper.full(model, batch, outer, 0.05)
    assert rows.shape == (64,) and rows.abs().max() > 0
    assert torch.allclose(rows, full, rtol=1e-9, atol=1e-14)


def test_til_refuses_several_negatives_per_triplet():
    data = synthetic()
    with pytest.raises(ValueError, match="num_negatives=3 conflicts"):
        Trainer(MF(data), TILUI(), data, TrainerConfig(num_negatives=3, show_progress=False))


@pytest.mark.parametrize("name", ["lightgcn", "mgccf", "neumf"])
def test_general_hypergradient_matches_finite_differences(name):
    """The functional_call path (graph backbones, NeuMF) against central differences, in float64."""
    from graphdenoise.methods.til_bilevel import _TripletCall

    data = tiny_graph()
    if name == "mgccf":
        from graphdenoise.models.similarity import AddSimilarityEdges
        data = AddSimilarityEdges(top_k=2)(data)
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=3).double()
    method = TILUI(outer="other-batch")
    sampler = bound(method, model, data)
    method.double()
    batch, outer = sampler.random_batch(6), sampler.random_batch(5)
    alpha = 0.3
    weight = method.weights(model, batch.users, batch.pos_items, batch.neg_items).detach()
    loss, _ = method.loss(model, batch, StepContext(step=0, epoch=0, lr=alpha, l2=0.0))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    loss.backward()
    hyper = method.hypergradient(model, batch, outer, alpha)
    call = _TripletCall(model)

    def outer_after_step(w):
        params = {f"model.{n}": p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
        inner = (w * functional_call(call, params, (batch.users, batch.pos_items, batch.neg_items))).mean()
        grads = torch.autograd.grad(inner, list(params.values()), allow_unused=True)
        stepped = {n: p.detach() - alpha * (g if g is not None else 0) for (n, p), g in zip(params.items(), grads)}
        return float(functional_call(call, stepped, (outer.users, outer.pos_items, outer.neg_items)).mean())

    eps = 1e-6
    with model.dense_gradients():
        numeric = torch.tensor([(outer_after_step(weight + eps * e) - outer_after_step(weight - eps * e)) / (2 * eps)
                                for e in torch.eye(6, dtype=torch.float64)], dtype=torch.float64)
    assert hyper.abs().max() > 0
    assert torch.allclose(hyper, numeric, rtol=1e-4, atol=1e-9), (hyper, numeric)


def test_clustering_loss_is_kl_of_target_and_hard_ids_are_the_argmax():
    from graphdenoise.methods.clustering import hard_assignment, target_distribution

    torch.manual_seed(1)
    q, centres = torch.randn(200, 8, dtype=torch.float64), torch.randn(7, 8, dtype=torch.float64)
    for tau in (1.0, 0.5):
        assign = soft_assignment(q, centres, tau)
        target = target_distribution(assign)
        explicit = (target * (target.log() - assign.log())).sum(1).mean()
        assert torch.allclose(clustering_loss(q, centres, tau), explicit)
        assert torch.equal(hard_assignment(q, centres), assign.argmax(1))
