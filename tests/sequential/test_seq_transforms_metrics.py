"""Random replacement of history items, and the AUC / HR@5 / NDCG@5 metrics."""
import itertools
import math

import pytest
import torch

from graphdenoise.sequential import PAD, RandomReplacement, candidate_metrics, roc_auc


@pytest.mark.parametrize("k", [1, 3])
def test_replaces_exactly_k_real_items(k):
    hist = torch.randint(1, 51, (64, 8))
    hist[:10, :6] = PAD                      # 2 real items: all replaced when k >= 2
    t = RandomReplacement(num_items=50, num_replace=k, seed=0)
    out, mask = t.replace(hist)
    assert out.shape == hist.shape and not torch.equal(out, hist)
    assert torch.equal(mask, out != hist)    # a replaced position always changes
    real = (hist != PAD).sum(1)
    assert torch.equal(mask.sum(1), real.clamp(max=k))
    assert bool((out[hist == PAD] == PAD).all())
    assert int(out.min()) >= 0 and int(out.max()) <= 50
    assert bool((out[mask] != PAD).all())


def test_replacement_is_seeded_and_resettable():
    hist = torch.randint(1, 21, (32, 5))
    a, b = RandomReplacement(20, 2, seed=3), RandomReplacement(20, 2, seed=3)
    first = a(hist)
    assert torch.equal(first, b(hist))
    assert not torch.equal(first, a(hist))   # the generator moves on
    a.reset()
    assert torch.equal(first, a(hist))
    state = b.state_dict()
    nxt = b(hist)
    b.load_state_dict(state)
    assert torch.equal(nxt, b(hist))
    assert repr(a) == "RandomReplacement(num_items=20, num_replace=2, seed=3)"
    with pytest.raises(ValueError):
        RandomReplacement(20, 0)


def test_roc_auc_matches_pair_counting_with_ties():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (40,), generator=gen).float()
    labels = torch.rand(40, generator=gen) < 0.4
    pos, neg = scores[labels].tolist(), scores[~labels].tolist()
    brute = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))
    assert roc_auc(scores, labels) == pytest.approx(brute)
    assert roc_auc(torch.tensor([0.1, 0.9]), torch.tensor([False, True])) == 1.0


def test_candidate_metrics_by_hand():
    scores = torch.tensor([[5.0, 1, 2, 3, 4, 0],     # target first: rank 0
                           [2.0, 9, 8, 7, 1, 0],     # rank 3
                           [0.0, 9, 8, 7, 6, 5],     # rank 5: outside the top 5
                           [1.0, 1, 1, 1, 1, 1]])    # ties count against the target
    m = candidate_metrics(scores)
    assert m["hr@5"] == pytest.approx(2 / 4)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(5)) / 4)
    assert set(m) == {"auc", "hr@5", "ndcg@5"}
    labels = torch.zeros_like(scores, dtype=torch.bool)
    labels[:, 0] = True
    assert m["auc"] == pytest.approx(roc_auc(scores, labels))
