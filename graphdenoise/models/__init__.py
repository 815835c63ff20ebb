"""Backbones behind one encoder interface (:class:`Recommender`)."""
from .base import MODELS, EncoderConfig, Recommender, TripletScores
from .lightgcn import LightGCN, LightGCNConfig, LightGCNConv
from .mf import MF
from .mgccf import MGCCF, MGCCFConfig
from .neumf import NeuMF, NeuMFConfig
from .similarity import AddSimilarityEdges

__all__ = ["MODELS", "EncoderConfig", "Recommender", "TripletScores", "MF", "LightGCN", "LightGCNConfig",
           "LightGCNConv", "NeuMF", "NeuMFConfig", "MGCCF", "MGCCFConfig", "AddSimilarityEdges"]
