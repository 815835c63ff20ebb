import copy

import pytest
import torch
import torch.nn.functional as F

from graphdenoise.datasets.graph import INTERACTS, make_heterodata
from graphdenoise.models.mgccf import MGCCF, MGCCFConfig
from graphdenoise.models.similarity import ITEM_SIMILAR, USER_SIMILAR, AddSimilarityEdges


def random_data(num_users=12, num_items=15, num_edges=50, seed=0, num_val=0, duplicate_rows=True):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=g)[: num_edges + num_val]
    users, items = keys // num_items, keys % num_items
    train = torch.stack([users[:num_edges], items[:num_edges]])
    if duplicate_rows:  # users 0 and 1 get identical rows: exact ties in the similarities
        train = train[:, train[0] != 1]
        copied = train[:, train[0] == 0].clone()
        copied[0] = 1
        train = torch.cat([train, copied], dim=1)
    val = torch.stack([users[num_edges:], items[num_edges:]])
    val = val[:, ~((val[0, :, None] * num_items + val[1, :, None]) == (train[0] * num_items + train[1])).any(1)]
    return make_heterodata(num_users, num_items, {"train": train, "val": val})


def brute_force_topk(data, node_type, top_k):
    """Dense cosine similarity (same float32 arithmetic) and a per-node sorted top-k, ties to small ids."""
    num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
    edges = data[INTERACTS].edge_index
    rating = torch.zeros(num_users, num_items)
    rating[edges[0], edges[1]] = 1.0
    if node_type == "item":
        rating = rating.t().contiguous()
    degree = rating.sum(1)
    inv = degree.sqrt().reciprocal()
    inv[degree == 0] = 0
    sim = (rating @ rating.t()) * inv[:, None] * inv[None, :]
    exact = F.normalize(rating.double(), dim=1) @ F.normalize(rating.double(), dim=1).t()
    src, dst, weight = [], [], []
    for node in range(rating.size(0)):
        ranked = sorted((v for v in range(rating.size(0)) if v != node and sim[node, v] > 0),
                        key=lambda v: (-sim[node, v].item(), v))[:top_k]
        for v in sorted(ranked):
            src.append(v)
            dst.append(node)
            weight.append(exact[node, v].item())
    return torch.tensor([src, dst], dtype=torch.long).view(2, -1), torch.tensor(weight, dtype=torch.float64)


@pytest.mark.parametrize("top_k", [1, 3, 100])
@pytest.mark.parametrize("max_chunk_elements", [5, 2**24])
def test_similarity_equals_brute_force(top_k, max_chunk_elements):
    data = random_data(num_users=14, num_items=9, num_edges=40, seed=top_k)
    out = AddSimilarityEdges(top_k, max_chunk_elements=max_chunk_elements)(data)
    for node_type, edge_type in (("user", USER_SIMILAR), ("item", ITEM_SIMILAR)):
        ref_index, ref_weight = brute_force_topk(data, node_type, top_k)
        assert torch.equal(out[edge_type].edge_index, ref_index)
        assert torch.allclose(out[edge_type].edge_weight.double(), ref_weight, atol=1e-6)
        index = out[edge_type].edge_index
        assert not (index[0] == index[1]).any()
        assert torch.bincount(index[1]).max() <= top_k
    assert USER_SIMILAR not in data.edge_types  # the input is not modified


def test_similarity_training_edges_only_and_repr():
    data = random_data(num_val=20, seed=3)
    other = copy.copy(data)
    other[INTERACTS].val_edge_label_index = torch.empty(2, 0, dtype=torch.long)
    transform = AddSimilarityEdges(top_k=4, node_types=["item", "user"])
    assert repr(transform) == "AddSimilarityEdges(top_k=4, node_types=('item', 'user'), drop_noisy=False)"
    a, b = transform(data), transform(other)
    for edge_type in (USER_SIMILAR, ITEM_SIMILAR):
        assert torch.equal(a[edge_type].edge_index, b[edge_type].edge_index)
        assert torch.equal(a[edge_type].edge_weight, b[edge_type].edge_weight)

    # drop_noisy (oracle) equals building from the clean edges alone
    noise = torch.zeros(data[INTERACTS].edge_index.size(1), dtype=torch.bool)
    noise[::3] = True
    data[INTERACTS].is_noise = noise
    clean = make_heterodata(12, 15, {"train": data[INTERACTS].edge_index[:, ~noise]})
    noisy_out = AddSimilarityEdges(top_k=4, drop_noisy=True)(data)
    clean_out = AddSimilarityEdges(top_k=4)(clean)
    assert torch.equal(noisy_out[USER_SIMILAR].edge_index, clean_out[USER_SIMILAR].edge_index)
    with pytest.raises(ValueError):
        AddSimilarityEdges(top_k=0)


def dense_reference(model, data):
    """MGCCF's equations with dense matrices."""
    n_u, n_i = model.num_users, model.num_items
    edges = data[INTERACTS].edge_index
    adj = torch.zeros(n_u, n_i)
    adj[edges[0], edges[1]] = 1.0
    mean_ui = adj / adj.sum(1, keepdim=True).clamp(min=1)
    mean_iu = adj.t() / adj.t().sum(1, keepdim=True).clamp(min=1)

    def sim_matrix(edge_type, n):
        s = torch.zeros(n, n)
        index = data[edge_type].edge_index
        s[index[1], index[0]] = data[edge_type].edge_weight
        if model.similarity_aggr == "mean":
            s = s / (s != 0).sum(1, keepdim=True).clamp(min=1)
        return s

    s_uu, s_ii = sim_matrix(USER_SIMILAR, n_u), sim_matrix(ITEM_SIMILAR, n_i)
    e_u, e_i = model.user_embedding.weight, model.item_embedding.weight
    x_u, x_i = e_u, e_i
    for k in range(model.num_layers):
        h_u, h_i = mean_ui @ x_i, mean_iu @ x_u
        if model.user_aggregator is not None:
            h_u = torch.tanh(h_u @ model.user_aggregator[k].weight.t())
            h_i = torch.tanh(h_i @ model.item_aggregator[k].weight.t())
        x_u, x_i = (torch.tanh(torch.cat([x_u, h_u], 1) @ model.user_gcn[k].weight.t()),
                    torch.tanh(torch.cat([x_i, h_i], 1) @ model.item_gcn[k].weight.t()))
    z_u = torch.tanh((s_uu @ e_u) @ model.user_mge.weight.t())
    z_i = torch.tanh((s_ii @ e_i) @ model.item_mge.weight.t())
    k_u = torch.tanh(e_u @ model.user_skip.weight.t())
    k_i = torch.tanh(e_i @ model.item_skip.weight.t())
    if model.fusion == "concat":
        return torch.cat([x_u, z_u, k_u], 1), torch.cat([x_i, z_i, k_i], 1)
    return x_u + z_u + k_u, x_i + z_i + k_i


@pytest.mark.parametrize("fusion,aggr,num_layers,agg_weight", [
    ("sum", "sum", 1, False), ("concat", "mean", 1, False), ("sum", "sum", 2, True), ("concat", "sum", 2, False)])
def test_mgccf_equals_dense_reference(fusion, aggr, num_layers, agg_weight):
    torch.manual_seed(0)
    data = AddSimilarityEdges(top_k=3)(random_data())
    model = MGCCF(data, embedding_dim=8, fusion=fusion, similarity_aggr=aggr, num_layers=num_layers,
                  aggregator_weight=agg_weight)
    assert model.representation_dim == (24 if fusion == "concat" else 8)
    user_rep, item_rep = model.representations()
    ref_user, ref_item = dense_reference(model, data)
    assert user_rep.shape == (12, model.representation_dim)
    assert torch.allclose(user_rep, ref_user, atol=1e-5)
    assert torch.allclose(item_rep, ref_item, atol=1e-5)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_mgccf_subset_rows_and_gradients(num_layers):
    torch.manual_seed(0)
    data = random_data()
    model = MGCCF(data, embedding_dim=8, num_layers=num_layers, aggregator_weight=True)
    users, items = torch.tensor([7, 2, 2, 11]), torch.tensor([0, 14, 5])
    sub_u, sub_i = model.representations(users, items)
    full_u, full_i = model.representations()
    assert torch.allclose(sub_u, full_u[users], atol=1e-6)
    assert torch.allclose(sub_i, full_i[items], atol=1e-6)
    only_u, all_i = model.representations(users, None)
    assert torch.allclose(only_u, full_u[users], atol=1e-6) and torch.allclose(all_i, full_i, atol=1e-6)

    # the row-restricted forward has the gradient of the full computation, for every parameter
    weights = torch.randn(4, model.representation_dim)
    loss_sub = (sub_u * weights).sum() + sub_i.pow(2).sum()
    grads_sub = torch.autograd.grad(loss_sub, list(model.parameters()))
    loss_full = (full_u[users] * weights).sum() + full_i[items].pow(2).sum()
    grads_full = torch.autograd.grad(loss_full, list(model.parameters()))
    for (name, _), g_sub, g_full in zip(model.named_parameters(), grads_sub, grads_full):
        assert torch.allclose(g_sub, g_full, atol=1e-6), name
        assert g_sub.abs().sum() > 0, name


def test_mgccf_builds_similarity_when_missing_and_repr():
    data = random_data()
    torch.manual_seed(1)
    built = MGCCF(data, embedding_dim=4, similarity_top_k=3)
    assert USER_SIMILAR not in data.edge_types  # data untouched
    torch.manual_seed(1)
    given = MGCCF(AddSimilarityEdges(top_k=3)(data), embedding_dim=4, similarity_top_k=99)
    for a, b in zip(built.representations(), given.representations()):
        assert torch.equal(a, b)
    nnz_u, nnz_i = built.user_similar.matrix._nnz(), built.item_similar.matrix._nnz()
    assert repr(built).startswith(
        "MGCCF(\n  12 users, 15 items, embedding_dim=4, num_layers=1, fusion='sum', similarity_aggr='sum', "
        f"similar_edges=(user={nnz_u}, item={nnz_i})\n  (user_embedding): Embedding(12, 4)\n")
    with pytest.raises(ValueError):
        MGCCFConfig(fusion="attention")
    with pytest.raises(ValueError):
        MGCCF(data, similarity_aggr="max")
