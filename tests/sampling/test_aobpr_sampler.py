import math

import pytest
import torch

from graphdenoise.datasets.graph import make_heterodata
from graphdenoise.models import MF
from graphdenoise.sampling import AdaptiveOversampling, UniformNegatives
from graphdenoise.utils import InteractionIndex


def mf_and_index(num_users=20, num_items=200, dim=8, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    users = torch.arange(num_users).repeat_interleave(5)
    items = torch.randint(num_items, (users.numel(),), generator=g)
    data = make_heterodata(num_users, num_items, {"train": torch.stack([users, items])})
    model = MF(data, embedding_dim=dim)
    return model, InteractionIndex(torch.stack([users, items]), num_users, num_items)


def test_uniform_before_bind():
    model, index = mf_and_index()
    sampler = AdaptiveOversampling(index)
    assert sampler.refresh_every == math.ceil(200 * math.log(200))
    neg, _ = sampler.sample(torch.arange(20), torch.Generator().manual_seed(0))
    assert neg.shape == (20,)


def test_negatives_are_never_positives():
    model, index = mf_and_index()
    sampler = AdaptiveOversampling(index, rank_scale=0.01)
    sampler.bind(model)
    users = torch.arange(index.num_users).repeat(100)
    neg, _ = sampler.sample(users, torch.Generator().manual_seed(1), num_negatives=3)
    assert neg.shape == (users.numel(), 3)
    assert not index.contains(users.repeat_interleave(3), neg.reshape(-1)).any()


def test_draws_concentrate_on_high_scoring_items():
    model, index = mf_and_index(dim=4)  # the factor trick approximates the ranking less well in high dim
    sampler = AdaptiveOversampling(index, rank_scale=0.02)
    sampler.bind(model)
    users = torch.arange(index.num_users).repeat(200)
    gen = torch.Generator().manual_seed(2)
    adaptive, _ = sampler.sample(users, gen)
    uniform, _ = UniformNegatives(index).sample(users, gen)
    with torch.no_grad():
        scores = model.user_embedding.weight @ model.item_embedding.weight.t()
    # percentile of each negative in its user's ranking (1 = the user's top item)
    percentile = scores.argsort(1).argsort(1).double() / (index.num_items - 1)
    adaptive_pct = percentile[users, adaptive].mean().item()
    uniform_pct = percentile[users, uniform].mean().item()
    assert uniform_pct == pytest.approx(0.5, abs=0.03)
    assert adaptive_pct > uniform_pct + 0.15  # measured: 0.75 vs 0.50
    top_decile = (percentile[users, adaptive] > 0.9).double().mean().item()
    assert top_decile > 0.25  # measured 0.37; uniform gives 0.10


def test_factor_direction_with_one_factor():
    model, index = mf_and_index(dim=1)
    with torch.no_grad():
        model.item_embedding.weight.copy_(torch.arange(200, dtype=torch.float).view(-1, 1))
        model.user_embedding.weight[0] = 1.0
        model.user_embedding.weight[1] = -1.0
    sampler = AdaptiveOversampling(index, rank_scale=0.01, reject_positives=False)
    sampler.bind(model)
    gen = torch.Generator().manual_seed(3)
    up = sampler.propose(torch.zeros(2000, dtype=torch.long), gen)
    down = sampler.propose(torch.ones(2000, dtype=torch.long), gen)
    assert up.float().mean() > 195 and down.float().mean() < 4  # top / bottom of factor 0


def test_rank_distribution_is_truncated_geometric():
    _, index = mf_and_index()
    sampler = AdaptiveOversampling(index, rank_scale=0.05)  # lambda = 10 on 200 items
    ranks = sampler.sample_ranks(200_000, torch.Generator().manual_seed(4))
    assert ranks.min() >= 0 and ranks.max() < 200
    lam = 10.0
    p = torch.exp(-torch.arange(200, dtype=torch.float64) / lam)
    p /= p.sum()
    expected_mean = (p * torch.arange(200)).sum().item()
    assert ranks.double().mean().item() == pytest.approx(expected_mean, rel=0.02)
    assert (ranks == 0).double().mean().item() == pytest.approx(p[0].item(), rel=0.05)


def test_refresh_schedule_and_state():
    model, index = mf_and_index()
    sampler = AdaptiveOversampling(index, refresh_every=50)
    sampler.update(model, 0)  # first sight of the model: orderings computed
    assert sampler.num_refreshes == 1
    gen = torch.Generator().manual_seed(5)
    sampler.sample(torch.arange(20), gen)
    sampler.update(model, 1)
    assert sampler.num_refreshes == 1  # 20 < 50 draws
    sampler.sample(torch.arange(20).repeat(2), gen)
    sampler.update(model, 2)
    assert sampler.num_refreshes == 2 and sampler.draws_since_refresh == 0
    other = AdaptiveOversampling(index, refresh_every=50)
    other.load_state_dict(sampler.state_dict())
    other.model = model
    a, _ = sampler.sample(torch.arange(20), torch.Generator().manual_seed(6))
    b, _ = other.sample(torch.arange(20), torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        AdaptiveOversampling(index, rank_scale=0)
