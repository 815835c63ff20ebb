import pytest
import torch

from graphdenoise.datasets.graph import make_heterodata
from graphdenoise.models import MF
from graphdenoise.sampling import ClusterPopularityNegatives
from graphdenoise.sampling.cluster import kmeans
from graphdenoise.utils import InteractionIndex


def mf_and_index(num_users=16, num_items=40, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    users = torch.arange(num_users).repeat_interleave(4)
    items = torch.randint(num_items, (users.numel(),), generator=g)
    data = make_heterodata(num_users, num_items, {"train": torch.stack([users, items])})
    return MF(data, embedding_dim=4), InteractionIndex(torch.stack([users, items]), num_users, num_items)


def test_kmeans_separates_blobs():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(30, 2, generator=g) * 0.1 + 5, torch.randn(30, 2, generator=g) * 0.1 - 5])
    centroids = kmeans(x, 2, generator=torch.Generator().manual_seed(1))
    assign = torch.cdist(x, centroids).argmin(1)
    assert len(set(assign[:30].tolist())) == 1 and len(set(assign[30:].tolist())) == 1
    assert assign[0] != assign[-1]


def test_log_prob_is_normalised_and_matches_frequencies():
    model, index = mf_and_index()
    sampler = ClusterPopularityNegatives(index, num_clusters=4, reject_positives=False)
    sampler.bind(model)
    items = torch.arange(index.num_items)
    for user in range(3):
        q = sampler.log_prob(torch.full_like(items, user), items).double().exp()
        assert q.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert (q > 0).all()  # full support
    n = 100_000
    draws = sampler.propose(torch.zeros(n, dtype=torch.long), torch.Generator().manual_seed(2))
    freq = torch.bincount(draws, minlength=index.num_items).double() / n
    q = sampler.log_prob(torch.zeros_like(items), items).double().exp()
    assert torch.allclose(freq, q, atol=0.01)


def test_negatives_are_never_positives_and_state():
    model, index = mf_and_index()
    sampler = ClusterPopularityNegatives(index, num_clusters=4)
    sampler.bind(model)
    users = torch.arange(index.num_users).repeat(50)
    neg, log_q = sampler.sample(users, torch.Generator().manual_seed(3), num_negatives=5)
    assert neg.shape == log_q.shape == (users.numel(), 5)
    assert not index.contains(users.repeat_interleave(5), neg.reshape(-1)).any()
    assert torch.isfinite(log_q).all()
    other = ClusterPopularityNegatives(index, num_clusters=4)
    other.load_state_dict(sampler.state_dict())
    a, qa = sampler.sample(users, torch.Generator().manual_seed(4))
    b, qb = other.sample(users, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.allclose(qa, qb)


def test_refresh_every_steps():
    model, index = mf_and_index()
    sampler = ClusterPopularityNegatives(index, num_clusters=4, refresh_every=3)
    calls = []
    sampler.refresh = lambda: calls.append(1)
    for step in range(7):
        sampler.update(model, step)
    assert len(calls) == 2  # at steps 2 and 5
