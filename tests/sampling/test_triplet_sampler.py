import torch

from graphdenoise.datasets.graph import train_edges
from graphdenoise.sampling import TripletSampler, UniformNegatives
from graphdenoise.utils import InteractionIndex
from tests.helpers import synthetic


def test_negatives_are_never_positives_and_epoch_covers_every_edge_once():
    data = synthetic()
    sampler = TripletSampler(data, batch_size=333, seed=1)
    edges = train_edges(data)
    index = InteractionIndex(edges, data["user"].num_nodes, data["item"].num_nodes)
    for _ in range(3):
        seen = torch.cat([b.edge_ids for b in sampler])
        assert torch.equal(seen.sort().values, torch.arange(edges.size(1)))
        for batch in sampler:
            assert not index.contains(batch.users, batch.neg_items).any()
            assert torch.equal(batch.users, edges[0, batch.edge_ids])
            assert torch.equal(batch.pos_items, edges[1, batch.edge_ids])


def test_dense_user_rejection_still_finds_negatives():
    data = synthetic()
    edges = train_edges(data)
    n_items = data["item"].num_nodes
    # user 0 owns every item but one: rejection must find that one every time
    extra = torch.stack([torch.zeros(n_items - 1, dtype=torch.long), torch.arange(1, n_items)])
    index = InteractionIndex(torch.cat([edges, extra], 1), data["user"].num_nodes, n_items)
    neg, log_q = UniformNegatives(index).sample(torch.zeros(500, dtype=torch.long), torch.Generator().manual_seed(0))
    assert torch.all(neg == 0)
    assert log_q.shape == (500,)


def test_same_seed_same_batches_and_multiple_negatives_shape():
    data = synthetic()
    a = [b.neg_items for b in TripletSampler(data, batch_size=500, seed=3)]
    b = [b.neg_items for b in TripletSampler(data, batch_size=500, seed=3)]
    c = [b.neg_items for b in TripletSampler(data, batch_size=500, seed=4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    batch = next(iter(TripletSampler(data, batch_size=64, num_negatives=5)))
    assert batch.neg_items.shape == (64, 5)
