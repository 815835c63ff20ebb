"""The exact fallback of the base negative sampler when a proposal puts almost all mass on positives."""
import pytest
import torch

from graphdenoise.sampling import ClusterPopularityNegatives, PopularityNegatives, UniformNegatives
from graphdenoise.utils import InteractionIndex


def steep_popularity_index():
    """Item 0 is by far the most popular and user 0's positive, with items 1 and 2."""
    users = torch.tensor([0, 0, 0] + list(range(1, 40)) + [1, 2])
    items = torch.tensor([0, 1, 2] + [0] * 39 + [1, 3])
    return InteractionIndex(torch.stack([users, items]), 40, 8)


def test_collisions_past_max_rounds_are_drawn_from_the_restricted_proposal():
    index = steep_popularity_index()
    # popularity^8 with offset 1: item 0 holds ~1 - 1e-10 of the mass, so rejection alone never ends
    sampler = PopularityNegatives(index, alpha=8.0, offset=1.0, max_rounds=3)
    users = torch.zeros(40_000, dtype=torch.long)
    neg, log_q = sampler.sample(users, torch.Generator().manual_seed(0))
    assert not index.contains(users, neg).any()
    assert sampler.num_fallback_draws > 0.99 * users.numel()
    # frequencies over the non-positives {3..7} follow q restricted and renormalised
    q = sampler.table.log_prob.double().exp()
    q[[0, 1, 2]] = 0
    expected = q / q.sum()
    observed = torch.bincount(neg, minlength=8).double() / neg.numel()
    assert torch.allclose(observed, expected, atol=0.01)
    # log_q is the unrestricted proposal's, as for accepted rejection draws
    assert torch.allclose(log_q, sampler.table.log_prob[neg])


def test_fallback_matches_plain_rejection_in_distribution():
    index = steep_popularity_index()
    users = torch.arange(1, 40).repeat(1000)
    plain = PopularityNegatives(index, alpha=1.0, max_rounds=1000).sample(users, torch.Generator().manual_seed(1))[0]
    forced = PopularityNegatives(index, alpha=1.0, max_rounds=0)
    fallback = forced.sample(users, torch.Generator().manual_seed(2))[0]
    assert forced.num_fallback_draws > 0
    assert not index.contains(users, fallback).any()
    a = torch.bincount(plain, minlength=8).double() / plain.numel()
    b = torch.bincount(fallback, minlength=8).double() / fallback.numel()
    assert torch.allclose(a, b, atol=0.01)


def test_cluster_proposal_fallback_and_zero_mass_error():
    index = steep_popularity_index()
    sampler = ClusterPopularityNegatives(index, num_clusters=1, alpha=8.0, offset=1.0, max_rounds=2)
    users = torch.zeros(2000, dtype=torch.long)
    neg, _ = sampler.sample(users, torch.Generator().manual_seed(0), num_negatives=5)
    assert not index.contains(users.repeat_interleave(5), neg.view(-1)).any()
    # offset 0: items nobody trained on have no mass, so user 0 has no reachable negative
    index2 = InteractionIndex(torch.tensor([[0, 0, 1], [0, 1, 0]]), 2, 3)
    dead = PopularityNegatives(index2, alpha=1.0, offset=0.0, max_rounds=2)
    with pytest.raises(RuntimeError, match=r"zero probability to every non-positive item of user\(s\) \[0\]"):
        dead.sample(torch.zeros(4, dtype=torch.long), torch.Generator().manual_seed(0))


def test_uniform_sampler_never_needs_the_fallback():
    index = steep_popularity_index()
    sampler = UniformNegatives(index, max_rounds=0)
    users = torch.zeros(1000, dtype=torch.long)
    neg, _ = sampler.sample(users, torch.Generator().manual_seed(0))
    assert not index.contains(users, neg).any() and sampler.num_fallback_draws == 0
