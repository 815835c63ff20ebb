import pytest
import torch

from graphdenoise.datasets.graph import make_heterodata, train_edges
from graphdenoise.sampling import UserBatchSampler
from graphdenoise.sampling.users import sample_without_replacement
from helpers import synthetic


def data_with_empty_users():
    """30 users x 25 items; users 3 and 17 have no training items."""
    g = torch.Generator().manual_seed(3)
    keys = torch.randperm(30 * 25, generator=g)[:200]
    edges = torch.stack([keys // 25, keys % 25])
    edges = edges[:, (edges[0] != 3) & (edges[0] != 17)]
    return make_heterodata(30, 25, {"train": edges[:, 20:], "val": edges[:, :10], "test": edges[:, 10:20]})


def dense(data):
    edges = train_edges(data)
    out = torch.zeros(data["user"].num_nodes, data["item"].num_nodes, dtype=torch.bool)
    out[edges[0], edges[1]] = True
    return out


@pytest.mark.parametrize("negatives", ["pooled", "per_user"])
def test_every_user_with_items_once_per_epoch_with_its_whole_row(negatives):
    data = data_with_empty_users()
    matrix, edges = dense(data), train_edges(data)
    sampler = UserBatchSampler(data, batch_size=7, negatives=negatives, num_negatives=2, seed=1)
    for _ in range(2):
        batches = list(sampler)
        assert len(batches) == len(sampler) == 4  # 28 users with items, 7 per batch
        users = torch.cat([b.users for b in batches])
        assert sorted(users.tolist()) == [u for u in range(30) if u not in (3, 17)]
        for b in batches:
            cells = torch.zeros_like(matrix)
            cells[b.pos_users, b.pos_items] = True
            assert torch.equal(cells[b.users], matrix[b.users])  # every training cell of the rows
            assert torch.equal(edges[0, b.edge_ids], b.pos_users) and torch.equal(edges[1, b.edge_ids], b.pos_items)
            keys = b.pos_rows * 25 + b.pos_items
            assert torch.equal(keys, keys.sort().values)  # row-major, as the authors' torch.where
            assert not matrix[b.neg_users, b.neg_items].any()  # negatives are zero cells
            neg_keys = b.neg_rows * 25 + b.neg_items
            assert neg_keys.unique().numel() == neg_keys.numel()  # distinct
            if negatives == "pooled":
                assert b.neg_rows.numel() == 2 * b.pos_rows.numel()
            else:  # at most num_negatives * n_u distinct draws per row
                per_row = torch.bincount(b.neg_rows, minlength=len(b))
                assert (per_row <= 2 * torch.bincount(b.pos_rows, minlength=len(b))).all()


def test_per_user_draws_collapse_like_the_study():
    """With every item drawn for certain (few items, many draws) a row's cells are all the items."""
    edges = torch.tensor([[0, 0, 1], [0, 1, 2]])
    data = make_heterodata(2, 3, {"train": edges, "val": edges[:, :1], "test": edges[:, :1]})
    sampler = UserBatchSampler(data, batch_size=2, negatives="per_user", num_negatives=60, seed=0)
    b = next(iter(sampler))
    cells = {(int(b.users[r]), int(i)) for r, i in zip(b.neg_rows, b.neg_items)}
    assert cells == {(0, 2), (1, 0), (1, 1)}


def test_seeded_and_resume_is_bit_identical():
    data = synthetic()
    for negatives in ("pooled", "per_user"):
        a = UserBatchSampler(data, batch_size=64, negatives=negatives, seed=5)
        list(a)
        state = a.state_dict()
        b = UserBatchSampler(data, batch_size=64, negatives=negatives, seed=99)
        b.load_state_dict(state)
        for x, y in zip(a, b):
            for name in ("users", "pos_rows", "pos_items", "edge_ids", "neg_rows", "neg_items"):
                assert torch.equal(getattr(x, name), getattr(y, name)), name
        c = UserBatchSampler(data, batch_size=64, negatives=negatives, seed=6)
        assert not torch.equal(next(iter(c)).users, next(iter(UserBatchSampler(data, batch_size=64, seed=5))).users)


def test_ranks_are_dealt_to_ranks():
    data = data_with_empty_users()
    shards = [UserBatchSampler(data, batch_size=8, seed=2, rank=r, world_size=2) for r in range(2)]
    batches = [list(s) for s in shards]
    assert len(batches[0]) == len(batches[1]) == len(shards[0])
    users = torch.cat([b.users for part in batches for b in part])
    assert sorted(users.tolist()) == [u for u in range(30) if u not in (3, 17)]


def test_sample_without_replacement_is_uniform_and_distinct():
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(6)
    for _ in range(3000):
        draw = sample_without_replacement(6, 2, g)
        assert draw.unique().numel() == 2 and 0 <= draw.min() and draw.max() < 6
        counts[draw] += 1
    assert (counts / 3000 - 2 / 6).abs().max() < 0.04
    big = sample_without_replacement(10_000, 900, g)
    assert big.unique().numel() == 900 and big.max() < 10_000
    assert sample_without_replacement(5, 5, g).sort().values.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        sample_without_replacement(3, 4, g)


def test_errors():
    data = data_with_empty_users()
    with pytest.raises(ValueError, match="negatives must be one of"):
        UserBatchSampler(data, negatives="rejected")
    sampler = UserBatchSampler(data, batch_size=30, num_negatives=50)
    with pytest.raises(ValueError, match="zero cells"):
        next(iter(sampler))
    with pytest.raises(ValueError, match="no extra triplet batches"):
        sampler.random_batch(4)
