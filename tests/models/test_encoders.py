import pytest
import torch

from graphdenoise.datasets.graph import train_edges
from graphdenoise.methods import BPR
from graphdenoise.metrics import RankingEvaluator
from graphdenoise.models import MODELS, LightGCN
from graphdenoise.train import Trainer, TrainerConfig
from tests.helpers import Popularity, synthetic, tiny_graph


def dense_lightgcn(model, num_layers):
    """LightGCN by dense matrices: E = mean_k (D^-1/2 A D^-1/2)^k E0."""
    n_u, n_i = model.num_users, model.num_items
    ei = model.train_index
    adj = torch.zeros(n_u + n_i, n_u + n_i)
    adj[ei.users, ei.items + n_u] = 1
    adj[ei.items + n_u, ei.users] = 1
    deg = adj.sum(1)
    inv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    norm = inv.view(-1, 1) * adj * inv.view(1, -1)
    x = model.embedding.detach()
    total, cur = x.clone(), x
    for _ in range(num_layers):
        cur = norm @ cur
        total = total + cur
    out = total / (num_layers + 1)
    return out[:n_u], out[n_u:]


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_lightgcn_propagation_equals_dense_reference(num_layers):
    data = tiny_graph()
    model = LightGCN(data, num_layers=num_layers)
    users, items = model.representations()
    ref_users, ref_items = dense_lightgcn(model, num_layers)
    assert torch.allclose(users, ref_users, atol=1e-6)
    assert torch.allclose(items, ref_items, atol=1e-6)


@pytest.mark.parametrize("name", MODELS.names())
def test_subset_representations_equal_rows_of_full(name):
    torch.manual_seed(0)
    model = MODELS.get(name)(tiny_graph())
    model.eval()
    users, items = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 8])
    full_u, full_i = model.representations()
    sub_u, sub_i = model.representations(users, items)
    assert torch.allclose(full_u[users], sub_u, atol=1e-6)
    assert torch.allclose(full_i[items], sub_i, atol=1e-6)


@pytest.mark.parametrize("name", MODELS.names())
def test_triplet_scores_match_forward_and_gradients_reach_embeddings(name):
    torch.manual_seed(0)
    model = MODELS.get(name)(tiny_graph())
    model.eval()
    u, i, j = torch.tensor([0, 1, 1, 4]), torch.tensor([2, 3, 3, 0]), torch.tensor([5, 6, 7, 8])
    out = model.triplet(u, i, j)
    assert torch.allclose(out.pos, model(u, i), atol=1e-6)
    assert torch.allclose(out.neg, model(u, j), atol=1e-6)
    (out.pos - out.neg).sum().backward()
    for name, param in model.named_parameters():
        if name.endswith("bias"):  # a shared output bias cancels in pos - neg
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("name", MODELS.names())
def test_rank_scores_equal_pair_scores_without_gradients(name):
    torch.manual_seed(0)
    model = MODELS.get(name)(tiny_graph())
    model.eval()
    user_rep, item_rep = model.representations()
    users, items = torch.tensor([0, 1, 1, 4]), torch.tensor([[2, 3, 8], [3, 3, 0], [5, 6, 7], [8, 1, 2]])
    ranked = model.rank_scores(user_rep, item_rep, users, items)
    assert ranked.shape == (4, 3) and not ranked.requires_grad
    expected = model(users.unsqueeze(1).expand_as(items).reshape(-1), items.reshape(-1)).view(4, 3)
    assert torch.allclose(ranked, expected, atol=1e-5)


def test_repr_names_the_configuration():
    data = tiny_graph()
    assert "7 users, 9 items, embedding_dim=64, num_layers=2" in repr(LightGCN(data, num_layers=2))
    with pytest.raises(ValueError, match="unknown option.*valid"):
        LightGCN(data, num_layer=2)


@pytest.mark.parametrize("name", MODELS.names())
def test_recommend_excludes_training_items(name):
    data = tiny_graph()
    model = MODELS.get(name)(data)
    users = torch.arange(7)
    top = model.recommend(users, k=2)
    train = train_edges(data)
    seen = set(zip(train[0].tolist(), train[1].tolist()))
    assert top.shape == (7, 2)
    assert not any((u, int(i)) in seen for u in range(7) for i in top[u])
    with pytest.raises(ValueError, match="user ids"):
        model.recommend(torch.tensor([99]), k=2)


@pytest.mark.parametrize("name", MODELS.names())
def test_backbone_beats_popularity_on_synthetic(name):
    data = synthetic()
    torch.manual_seed(0)
    trainer = Trainer(MODELS.get(name)(data), BPR(), data,
                      TrainerConfig(epochs=20, batch_size=512, lr=1e-2, eval_every=20, show_progress=False))
    trainer.fit()
    ours = trainer.evaluate("val")["recall@20"]
    pop = RankingEvaluator(data).evaluate(Popularity(data), "val")["recall@20"]
    assert ours > pop + 0.05, (ours, pop)


def test_gmf_scores_are_the_output_layer_of_the_elementwise_product():
    from graphdenoise.models import GMF
    torch.manual_seed(0)
    model = GMF(tiny_graph(), embedding_dim=4)
    with torch.no_grad():
        model.predict.bias.fill_(0.3)
    p, q = model.user_embedding.weight, model.item_embedding.weight
    h, b = model.predict.weight[0], model.predict.bias
    u, i = torch.tensor([0, 2, 6]), torch.tensor([1, 8, 4])
    expected = ((p[u] * q[i]) * h).sum(-1) + b
    assert torch.allclose(model(u, i), expected, atol=1e-6)
    with torch.no_grad():
        full = model.score_matrix(*model.representations())
        buffer = model.score_matrix(*model.representations(), out=torch.empty(7, 9))
    assert torch.allclose(full[u, i], expected, atol=1e-6) and torch.allclose(buffer, full, atol=1e-6)


def dense_cdae_logits(model, keep=None):
    """CDAE by a dense users x items input matrix (the authors' nn.Linear formulation)."""
    index = model.train_index
    y = torch.zeros(model.num_users, model.num_items)
    y[index.users, index.items] = 1.0
    if keep is not None:
        y = y * keep / (1 - model.corruption)
    z = model.activation(y @ model.item_input.weight + model.user_node.weight + model.input_bias)
    return z @ model.item_output.weight.t() + model.output_bias


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_cdae_equals_dense_reference(activation):
    from graphdenoise.models import CDAE
    torch.manual_seed(0)
    model = CDAE(tiny_graph(), embedding_dim=5, activation=activation).eval()
    with torch.no_grad():
        scores = model.score_matrix(*model.representations())
        expected = dense_cdae_logits(model)
    assert torch.allclose(scores, expected, atol=1e-5)
    u, i = torch.tensor([0, 3, 3]), torch.tensor([1, 2, 7])
    assert torch.allclose(model(u, i), expected[u, i], atol=1e-5)


def test_cdae_corrupts_the_input_only_in_training():
    from graphdenoise.models import CDAE
    torch.manual_seed(0)
    model = CDAE(tiny_graph(), embedding_dim=5, corruption=0.5)
    index = model.train_index
    torch.manual_seed(1)
    corrupted = model.hidden()
    torch.manual_seed(1)  # the same draw, in CSR order of the training edges
    keep = torch.zeros(model.num_users, model.num_items)
    keep[index.users, index.items] = (torch.rand(index.num_pairs) >= 0.5).float()
    with torch.no_grad():
        reference = dense_cdae_logits(model, keep)
        scores = torch.cat([corrupted, torch.ones(model.num_users, 1)], 1) @ torch.cat(
            [model.item_output.weight, model.output_bias[:, None]], 1).t()
    assert torch.allclose(scores, reference, atol=1e-5)
    model.eval()
    assert torch.equal(model.hidden(), model.hidden())
    with pytest.raises(ValueError, match="corruption"):
        CDAE(tiny_graph(), corruption=1.0)


def test_gmf_normal_initialisation_option():
    from graphdenoise.models import GMF
    torch.manual_seed(0)
    model = GMF(synthetic(), embedding_dim=32, init_std=0.01)
    assert abs(float(model.user_embedding.weight.std()) - 0.01) < 1e-3
    with pytest.raises(ValueError, match="init_std"):
        GMF(tiny_graph(), init_std=0.0)


@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_evaluation_scores_go_through_the_reused_buffer_gemm(name, monkeypatch):
    """Under no_grad the buffer product is numpy's GEMM (OpenBLAS, faster than torch.mm(out=) here) even when a
    representation is a parameter that says requires_grad (MF's tables): that check once sent every MF
    evaluation to torch.mm. The values equal torch.mm's."""
    import numpy as np
    from graphdenoise.models import base
    calls = []
    real = np.matmul
    monkeypatch.setattr(base.np, "matmul", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = MODELS.get(name)(tiny_graph(), embedding_dim=4)
    with torch.no_grad():
        user_rep, item_rep = model.representations()
        out = model.score_matrix(user_rep, item_rep, out=torch.empty(7, 9))
    assert calls and torch.allclose(out, user_rep @ item_rep.t(), atol=1e-6)
