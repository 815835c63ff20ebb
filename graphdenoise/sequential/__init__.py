r"""Sequential recommendation on the shared interaction graph, with ATJT denoising.

A CTR-style view of the graph (:class:`SequenceData`: per-user chronological histories, re-split by
time), three sequence encoders (:data:`SEQUENCE_MODELS`: ``widedeep``, ``din``, ``sasrec``) and the
training methods (:data:`SEQUENCE_METHODS`: ``bce``, ``atjt``, ``atjt-wat``, ``atjt-dnr``)::

    from graphdenoise.datasets import load_dataset
    from graphdenoise.sequential import fit_sequence

    data = load_dataset("ml-100k", data_dir="/path/to/datasets", rating_threshold=None)
    result = fit_sequence(data, model="din", method="atjt", epochs=5, seed=0)
    result.metrics["test"]          # {'auc': ..., 'hr@5': ..., 'ndcg@5': ...}
    result.method.weight_stats      # clean vs noisy mean weights (ATJT paper, Table 5)

Decisions where the ATJT paper (Liu et al., JCST 2024) is silent:

* **Interactions.** Every rating is an interaction (no rating threshold): the paper's Table 1 counts
  20,000,263 samples for MovieLens-20M, i.e. every rating. Load MovieLens-100K with
  ``rating_threshold=None`` (the loader's default of 4 is the graph methods' protocol).
* **Split.** The sequential task re-splits by time: the graph splits are pooled, sorted by
  ``(user, timestamp, item)`` and split per user chronologically -- leave-last-out by default
  (one validation and one test target per user), or ``split="ratio"`` (the paper's 4:1 per-user
  split, ``ratios=(0.7, 0.1, 0.2)``). A history holds only earlier interactions of the same user.
* **Samples.** ``(user, last max_len=20 items, target, label)``; label 1 for the real next item,
  ``num_negatives=1`` uniformly sampled never-interacted items with label 0, re-drawn every epoch.
* **Evaluation.** Each validation / test target is ranked among 99 fixed sampled negatives
  (SASRec's protocol): AUC pooled over all candidates, HR@5 / NDCG@5 from the target's rank (ties
  count against it). Model selection on validation AUC; test once for the selected state.
* **ATJT.** See :mod:`graphdenoise.sequential.atjt` for the reading of gradient flow (w is not
  detached), the layer sizes of g, the partition (by sample) and the fresh copy of g per round.
"""
from .api import fit_sequence, route_options
from .atjt import (
    ATJT,
    ATJTConfig,
    ATJTWithoutAuxiliaryTask,
    DirectNoiseRecognition,
    DNRConfig,
    NoiseRecognizer,
    NoiseRecognizerConfig,
    WATConfig,
    weight_statistics,
)
from .data import PAD, SampleBatch, Samples, SequenceData, SequenceDataConfig
from .methods import BCE, SEQUENCE_METHODS, Round, SequenceMethod, SequenceMethodConfig, Step
from .metrics import candidate_metrics, roc_auc
from .models import DIN, SASRec, SEQUENCE_MODELS, SequenceModel, SequenceModelConfig, WideDeep
from .trainer import SequenceTrainer, SequenceTrainerConfig
from .transforms import RandomReplacement

__all__ = [
    "SEQUENCE_MODELS", "SEQUENCE_METHODS", "fit_sequence", "route_options", "SequenceData", "SequenceDataConfig",
    "SampleBatch", "Samples", "PAD", "RandomReplacement", "SequenceModel", "SequenceModelConfig", "WideDeep", "DIN",
    "SASRec", "SequenceMethod", "SequenceMethodConfig", "BCE", "Round", "Step", "ATJT", "ATJTConfig",
    "ATJTWithoutAuxiliaryTask", "WATConfig", "DirectNoiseRecognition", "DNRConfig", "NoiseRecognizer",
    "NoiseRecognizerConfig", "weight_statistics", "SequenceTrainer", "SequenceTrainerConfig", "candidate_metrics",
    "roc_auc",
]
