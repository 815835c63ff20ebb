"""Full-ranking evaluation and diagnostics of learned weights."""
from .auc import roc_auc
from .noise import noise_detection_auc, rating_pair_weights
from .ranking import METRICS, RankingEvaluator

__all__ = ["METRICS", "RankingEvaluator", "noise_detection_auc", "rating_pair_weights", "roc_auc"]
