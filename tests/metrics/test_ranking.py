import pytest
import torch

from graphdenoise.datasets.graph import held_out_edges, train_edges
from graphdenoise.metrics import RankingEvaluator
from graphdenoise.models import MF
from tests.helpers import synthetic


@pytest.mark.parametrize("split", ["val", "test"])
@pytest.mark.parametrize("budget_mb", [0.01, 512])
def test_matches_brute_force_reference(split, budget_mb):
    data = synthetic()
    torch.manual_seed(0)
    model = MF(data)
    evaluator = RankingEvaluator(data, ks=(1, 5, 20), memory_budget_mb=budget_mb)
    fast = evaluator.evaluate(model, split)
    slow = evaluator.evaluate_brute_force(model, split)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key] == pytest.approx(slow[key], abs=1e-6), key
    # many users have fewer held-out items than k=20: the convention is recall = hits / n_u and
    # NDCG's ideal DCG over min(k, n_u) positions, so a perfect ranking scores 1 for them
    counts = torch.bincount(held_out_edges(data, split)[0])
    assert (counts[counts > 0] < 20).all()


def test_masked_items_never_recommended_and_perfect_scores_reach_one():
    data = synthetic()
    torch.manual_seed(0)
    model = MF(data)
    train = train_edges(data)
    test = held_out_edges(data, "test")
    with torch.no_grad():  # give every training pair a huge score and every test pair the next
        users, items = model.embedding_tables()
        users.zero_()
        items.zero_()
    score = torch.zeros(data["user"].num_nodes, data["item"].num_nodes)
    score[train[0], train[1]] = 100.0
    score[test[0], test[1]] = 10.0

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def representations(self):
            return torch.eye(score.size(0)), score.t()

        def score_matrix(self, user_rep, item_rep, out=None):
            return user_rep @ item_rep.t()

    metrics = RankingEvaluator(data, ks=(50,)).evaluate(Fixed(), "test")
    # training items are masked with -inf, so the test items come first: recall@50 = NDCG@50 = 1
    assert metrics["recall@50"] == pytest.approx(1.0)
    assert metrics["ndcg@50"] == pytest.approx(1.0)
