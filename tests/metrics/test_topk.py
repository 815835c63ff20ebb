"""``row_topk``: the same top-k values as ``torch.topk`` (and indices that point at them) on every shape."""
import pytest
import torch

from graphdenoise.metrics.topk import BLOCK, DIRECT, row_topk


def check_same_top(scores: torch.Tensor, k: int):
    ours = row_topk(scores, k)
    reference = scores.topk(k, dim=1)
    assert ours.shape == (scores.size(0), k) and ours.dtype == torch.long
    torch.testing.assert_close(scores.gather(1, ours), reference.values, rtol=0, atol=0)  # same values, in order
    assert all(len(set(row.tolist())) == k for row in ours)  # k distinct columns per row
    unsorted = row_topk(scores, k, sorted=False)
    torch.testing.assert_close(scores.gather(1, unsorted).sort(dim=1, descending=True).values, reference.values,
                               rtol=0, atol=0)  # the same set of values


@pytest.mark.parametrize("m", [DIRECT, DIRECT + 1, 5000, 40981, 8 * 1024])
@pytest.mark.parametrize("k", [1, 20, 50])
def test_same_values_as_torch_topk_on_masked_real_valued_scores(m, k):
    gen = torch.Generator().manual_seed(m + k)
    scores = torch.randn(37, m, generator=gen)
    scores[torch.rand(37, m, generator=gen) < 0.05] = float("-inf")  # masked training items
    check_same_top(scores, k)


def test_ties_and_rows_with_fewer_finite_scores_than_k():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (16, 9001), generator=gen).float()  # massive ties at every boundary
    scores[0, :] = float("-inf")
    scores[1, 10:] = float("-inf")  # 10 finite scores, k = 50: -inf fills the rest
    scores[2, :] = 0.0
    check_same_top(scores, 50)


def test_the_bound_path_is_taken_and_narrow_or_wide_k_fall_back():
    """Wide rows use the block bound (a changed block maximum would move the result); ``nb < k`` and narrow
    rows are torch.topk itself."""
    scores = torch.randn(4, 100 * BLOCK + 3)
    check_same_top(scores, 100)  # nb = 100 = k: the bound path
    check_same_top(scores, 101)  # nb < k: fallback
    check_same_top(torch.randn(3, DIRECT), 5)
    transposed = torch.randn(DIRECT * 2, 6).t()  # not contiguous: fallback
    check_same_top(transposed, 3)


def test_evaluator_metrics_unchanged_against_torch_topk(monkeypatch):
    """The ranking evaluator's metrics with row_topk equal those with torch.topk on a real-sized item set."""
    from graphdenoise.datasets.synthetic import make_synthetic
    from graphdenoise.metrics import ranking
    from graphdenoise.models import MF

    data = make_synthetic(num_users=300, num_items=6000, mean_positives=20, seed=0)
    model = MF(data, embedding_dim=16)
    evaluator = ranking.RankingEvaluator(data, ks=(10, 50))
    ours = evaluator.evaluate(model, "test")
    monkeypatch.setattr(ranking, "row_topk", lambda scores, k: scores.topk(k, dim=1).indices)
    assert evaluator.evaluate(model, "test") == ours
