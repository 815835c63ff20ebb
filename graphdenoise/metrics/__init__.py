"""Full-ranking evaluation."""
from .ranking import METRICS, RankingEvaluator

__all__ = ["METRICS", "RankingEvaluator"]
