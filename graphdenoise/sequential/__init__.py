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
"""
from ..registry import Registry
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
from .methods import BCE, Round, SequenceMethod, SequenceMethodConfig, Step
from .metrics import candidate_metrics, roc_auc
from .models import DIN, SASRec, SEQUENCE_MODELS, SequenceModel, SequenceModelConfig, WideDeep
from .trainer import SequenceTrainer, SequenceTrainerConfig
from .transforms import RandomReplacement

SEQUENCE_METHODS: Registry = Registry("sequence method")
SEQUENCE_METHODS.register("bce")(BCE)
SEQUENCE_METHODS.register("atjt")(ATJT)
SEQUENCE_METHODS.register("atjt-wat")(ATJTWithoutAuxiliaryTask)
SEQUENCE_METHODS.register("atjt-dnr")(DirectNoiseRecognition)

__all__ = [
    "SEQUENCE_MODELS", "SEQUENCE_METHODS", "fit_sequence", "route_options", "SequenceData", "SequenceDataConfig",
    "SampleBatch", "Samples", "PAD", "RandomReplacement", "SequenceModel", "SequenceModelConfig", "WideDeep", "DIN",
    "SASRec", "SequenceMethod", "SequenceMethodConfig", "BCE", "Round", "Step", "ATJT", "ATJTConfig",
    "ATJTWithoutAuxiliaryTask", "WATConfig", "DirectNoiseRecognition", "DNRConfig", "NoiseRecognizer",
    "NoiseRecognizerConfig", "weight_statistics", "SequenceTrainer", "SequenceTrainerConfig", "candidate_metrics",
    "roc_auc",
]
