"""Full-ranking evaluation and diagnostics of learned weights."""
from .auc import roc_auc
from .noise import noise_detection_auc, rating_pair_weights
from .ranking import METRICS, RankingEvaluator
from .topk import row_topk
from .validation import SELECT_ON, revised_bce, validation_loss

__all__ = ["METRICS", "SELECT_ON", "RankingEvaluator", "revised_bce", "validation_loss", "noise_detection_auc", "rating_pair_weights", "roc_auc", "row_topk"]
