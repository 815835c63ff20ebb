"""Backbones behind one encoder interface (:class:`Recommender`)."""
from ..registry import Registry
from .base import EncoderConfig, Recommender, TripletScores
from .lightgcn import LightGCN, LightGCNConfig, LightGCNConv
from .mf import MF

MODELS: Registry = Registry("model")
MODELS.register("mf")(MF)
MODELS.register("lightgcn")(LightGCN)

__all__ = ["MODELS", "EncoderConfig", "Recommender", "TripletScores", "MF", "LightGCN", "LightGCNConfig",
           "LightGCNConv"]
