import pytest
import torch

from graphdenoise.sampling import PopularityNegatives
from graphdenoise.sampling.popularity import item_popularity
from graphdenoise.utils import InteractionIndex


def skewed_index(num_users=30, num_items=20, seed=0):
    """Item ``k`` has roughly ``num_items - k`` interactions; item ``num_items - 1`` none."""
    g = torch.Generator().manual_seed(seed)
    users, items = [], []
    for item in range(num_items - 1):
        chosen = torch.randperm(num_users, generator=g)[: num_items - item]
        users.append(chosen)
        items.append(torch.full_like(chosen, item))
    return InteractionIndex(torch.stack([torch.cat(users), torch.cat(items)]), num_users, num_items)



def test_negatives_are_never_positives():
    index = skewed_index()
    sampler = PopularityNegatives(index)
    users = torch.arange(index.num_users).repeat(200)
    neg, log_q = sampler.sample(users, torch.Generator().manual_seed(1))
    assert neg.shape == users.shape and log_q.shape == users.shape
    assert not index.contains(users, neg).any()
    neg, log_q = sampler.sample(users[:50], torch.Generator().manual_seed(2), num_negatives=4)
    assert neg.shape == (50, 4)
    assert not index.contains(users[:50, None].expand(-1, 4).reshape(-1), neg.reshape(-1)).any()


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_frequencies_follow_popularity(alpha):
    index = skewed_index()
    sampler = PopularityNegatives(index, alpha=alpha)
    user = 0
    n = 50_000
    neg, _ = sampler.sample(torch.full((n,), user), torch.Generator().manual_seed(3))
    counts = torch.bincount(neg, minlength=index.num_items).double()
    weight = item_popularity(index).pow(alpha)
    positives = index.items[index.users == user]
    weight[positives] = 0  # rejection restricts q to the user's non-positives
    expected = n * weight / weight.sum()
    support = expected > 0
    assert counts[~support].sum() == 0  # positives and never-seen items are never drawn
    chi2 = ((counts[support] - expected[support]) ** 2 / expected[support]).sum().item()
    dof = int(support.sum()) - 1
    assert chi2 < dof + 5 * (2 * dof) ** 0.5  # far inside the chi-square tail (p << 1e-4 otherwise)


def test_log_prob_is_the_normalised_proposal():
    index = skewed_index()
    sampler = PopularityNegatives(index, alpha=0.75, offset=1.0)
    items = torch.arange(index.num_items)
    q = sampler.log_prob(torch.zeros_like(items), items).double().exp()
    assert q.sum().item() == pytest.approx(1.0, abs=1e-6)
    expected = (item_popularity(index) + 1).pow(0.75)
    assert torch.allclose(q, expected / expected.sum(), atol=1e-6)
    assert q[-1] > 0  # the offset keeps never-seen items in the support


def test_alpha_zero_is_uniform_and_validation():
    index = skewed_index()
    q = PopularityNegatives(index, alpha=0.0).log_prob(torch.zeros(1, dtype=torch.long), torch.arange(20)).exp()
    assert torch.allclose(q, torch.full((20,), 1 / 20))
    with pytest.raises(ValueError):
        PopularityNegatives(index, alpha=-1)
    assert "alpha=0.5" in repr(PopularityNegatives(index, alpha=0.5))
