"""Sequence encoders behind one interface (:class:`SequenceModel`), by name (:data:`SEQUENCE_MODELS`)."""
from ...registry import Registry
from .base import SequenceModel, SequenceModelConfig
from .din import DIN, AttentionPooling, DINConfig
from .sasrec import SASRec, SASRecConfig
from .widedeep import WideDeep, WideDeepConfig

SEQUENCE_MODELS: Registry = Registry("sequence model")
SEQUENCE_MODELS.register("widedeep")(WideDeep)
SEQUENCE_MODELS.register("din")(DIN)
SEQUENCE_MODELS.register("sasrec")(SASRec)

__all__ = ["SEQUENCE_MODELS", "SequenceModel", "SequenceModelConfig", "WideDeep", "WideDeepConfig", "DIN",
           "DINConfig", "AttentionPooling", "SASRec", "SASRecConfig"]
