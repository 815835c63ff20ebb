import pytest
import torch
import torch.nn.functional as F

from graphdenoise.datasets.graph import make_heterodata
from graphdenoise.models.neumf import NeuMF, NeuMFConfig


def random_data(num_users=10, num_items=13, num_edges=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=g)[:num_edges]
    return make_heterodata(num_users, num_items, {"train": torch.stack([keys // num_items, keys % num_items])})


def test_neumf_shapes_config_and_repr():
    model = NeuMF(random_data())
    assert model.widths == (512, 256, 128, 64)
    assert model.representation_dim == 64 + 256
    assert model.full_rank_cost == 130  # (256 + 256*128 + 128*64 + 64 + 64) / 320, rounded up
    small = NeuMF(random_data(), embedding_dim=8, num_layers=2)
    assert repr(small) == (
        "NeuMF(\n"
        "  10 users, 13 items, embedding_dim=8, mlp_embedding_dim=16, tower=(32, 16, 8), dropout=0.0\n"
        "  (user_gmf): Embedding(10, 8)\n"
        "  (item_gmf): Embedding(13, 8)\n"
        "  (user_mlp): Embedding(10, 16)\n"
        "  (item_mlp): Embedding(13, 16)\n"
        "  (tower): Sequential(\n"
        "    (0): Dropout(p=0.0, inplace=False)\n"
        "    (1): Linear(in_features=32, out_features=16, bias=True)\n"
        "    (2): ReLU()\n"
        "    (3): Dropout(p=0.0, inplace=False)\n"
        "    (4): Linear(in_features=16, out_features=8, bias=True)\n"
        "    (5): ReLU()\n"
        "  )\n"
        "  (predict): Linear(in_features=16, out_features=1, bias=True)\n"
        ")")
    assert NeuMF(random_data(), embedding_dim=4, mlp_embedding_dim=6, num_layers=1).widths == (12, 6)
    with pytest.raises(ValueError):
        NeuMFConfig(num_layers=0)
    with pytest.raises(ValueError):
        NeuMFConfig(dropout=1.0)


def test_neumf_representations_subset_and_tables():
    model = NeuMF(random_data(), embedding_dim=4, num_layers=2)
    users, items = torch.tensor([3, 0, 3]), torch.tensor([12, 1])
    full_u, full_i = model.representations()
    sub_u, sub_i = model.representations(users, items)
    assert torch.equal(sub_u, full_u[users]) and torch.equal(sub_i, full_i[items])
    gmf_u, gmf_i = model.embedding_tables()
    assert torch.equal(full_u[:, :4], gmf_u) and torch.equal(full_i[:, 4:], model.mlp_embedding_tables()[1])


@pytest.mark.parametrize("num_layers,dropout,training", [(3, 0.0, False), (1, 0.0, True), (2, 0.3, True)])
def test_neumf_score_matrix_equals_score_pairs(num_layers, dropout, training):
    torch.manual_seed(0)
    model = NeuMF(random_data(), embedding_dim=4, num_layers=num_layers, dropout=dropout)
    model.train(training)
    model.score_block_elements = 3 * model.widths[1]  # blocks of one item for 3 users: many blocks
    with torch.no_grad():  # every bias and weight non-trivial
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    user_rep, item_rep = model.representations(torch.tensor([0, 4, 9]), None)
    if dropout > 0:  # keeps the per-pair path of training mode with dropout, made deterministic
        for module in model.tower:
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    pairs = model.score_pairs(user_rep[:, None, :].expand(-1, 13, -1), item_rep[None].expand(3, -1, -1))
    out = torch.full((3, 13), float("nan"))
    matrix = model.score_matrix(user_rep, item_rep, out=out)
    assert matrix.data_ptr() == out.data_ptr()
    assert torch.allclose(matrix, pairs, atol=1e-5)
    assert torch.allclose(model.score_matrix(user_rep, item_rep), pairs, atol=1e-5)
    # broadcasting [B, 1, D] against [B, L, D] and aligned [B, D] pairs
    assert torch.allclose(model.score_pairs(user_rep[:, None, :], item_rep[None, :5].expand(3, -1, -1)),
                          pairs[:, :5], atol=1e-6)
    assert torch.allclose(model.score_pairs(user_rep, item_rep[:3]), pairs.diagonal(), atol=1e-6)


def test_neumf_dropout_score_matrix_in_training_mode():
    torch.manual_seed(0)
    model = NeuMF(random_data(), embedding_dim=4, num_layers=2, dropout=0.5).train()
    user_rep, item_rep = model.representations(torch.tensor([1, 2]), None)
    scores = model.score_matrix(user_rep, item_rep)
    assert scores.shape == (2, 13) and torch.isfinite(scores).all()


def test_neumf_gradients_and_regularization():
    torch.manual_seed(0)
    model = NeuMF(random_data(), embedding_dim=4, num_layers=2)
    users, pos, neg = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([[6, 7], [8, 9], [10, 11]])
    out = model.triplet(users, pos, neg)
    assert out.pos.shape == (3,) and out.neg.shape == (3, 2)
    loss = -F.logsigmoid(out.pos[:, None] - out.neg).mean() + model.regularization(users, pos, neg)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    expected = 0.0
    for user_table, item_table in (model.embedding_tables(), model.mlp_embedding_tables()):
        expected += (user_table[users].pow(2).sum() + item_table[pos].pow(2).sum()
                     + item_table[neg].pow(2).sum()).item()
    assert model.regularization(users, pos, neg).item() == pytest.approx(expected / 6, rel=1e-5)


@pytest.mark.parametrize("num_layers,block_pairs", [(3, 7), (1, 3), (2, 10_000)])
def test_neumf_evaluation_path_equals_score_pairs(num_layers, block_pairs):
    """The no-grad GEMM path (first layer split per user / per item, blocks in reused buffers)."""
    torch.manual_seed(0)
    model = NeuMF(random_data(), embedding_dim=4, num_layers=num_layers).eval()
    model.score_block_pairs = block_pairs  # 7 pairs for 3 users: blocks of 2 items, the last one ragged
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        user_rep, item_rep = model.representations(torch.tensor([0, 4, 9]), None)
        pairs = model.score_pairs(user_rep[:, None, :].expand(-1, 13, -1), item_rep[None].expand(3, -1, -1))
        out = torch.full((3, 13), float("nan"))
        assert model.score_matrix(user_rep, item_rep, out=out).data_ptr() == out.data_ptr()
    assert torch.allclose(out, pairs, atol=1e-5)
    assert torch.allclose(out, model.score_matrix(user_rep, item_rep), atol=1e-5)  # the autograd path agrees


@pytest.mark.parametrize("negatives", [1, 3])
def test_neumf_distinct_node_first_layer_equals_the_per_pair_tower(negatives):
    """triplet / forward / cell_scores compute the first tower layer once per distinct node: the
    scores and every parameter's gradient equal the per-pair path (Recommender's) to float error."""
    from graphdenoise.models.base import Recommender
    torch.manual_seed(0)
    model = NeuMF(random_data(), embedding_dim=4, num_layers=3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    users = torch.tensor([3, 0, 3, 7, 0, 9])
    pos = torch.tensor([12, 1, 1, 5, 12, 0])
    neg = torch.randint(0, 13, (6, negatives)) if negatives > 1 else torch.tensor([2, 2, 7, 1, 0, 12])

    def run(fn):
        model.zero_grad()
        out = fn()
        (out.pos.pow(2).sum() + out.neg.sin().sum() + out.user.sum() + out.neg_item.pow(2).sum()).backward()
        return out, [p.grad.clone() for p in model.parameters()]

    fast, fast_grads = run(lambda: model.triplet(users, pos, neg))
    slow, slow_grads = run(lambda: Recommender.triplet(model, users, pos, neg))
    for a, b in zip((fast.pos, fast.neg, fast.user, fast.pos_item, fast.neg_item),
                    (slow.pos, slow.neg, slow.user, slow.pos_item, slow.neg_item)):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6)
    for a, b in zip(fast_grads, slow_grads):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(model(users, pos), Recommender.forward(model, users, pos), atol=1e-6)
    rows, items = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([4, 1, 4, 12, 0])
    assert torch.allclose(model.cell_scores(users[:3], rows, items),
                          Recommender.cell_scores(model, users[:3], rows, items), atol=1e-6)
    # the returned rows are the batch's, but the scores are not computed from these tensors
    fresh = model.triplet(users, pos, neg)
    with pytest.raises(RuntimeError, match="not have been used"):
        torch.autograd.grad(fresh.pos.sum(), fresh.user)
    # with dropout in training mode each pair is masked on its own: the per-pair path
    model.config.dropout, calls = 0.5, []
    model.score_indexed = lambda *a, **k: calls.append(1)
    model.train()
    model.triplet(users, pos, neg)
    assert not calls
