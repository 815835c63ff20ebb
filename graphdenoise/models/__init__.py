"""Backbones behind one encoder interface (:class:`Recommender`)."""
from .base import MODELS, EncoderConfig, Recommender, TripletScores
from .cdae import CDAE, CDAEConfig
from .gmf import GMF, GMFConfig
from .lightgcn import LightGCN, LightGCNConfig, LightGCNConv
from .mf import MF
from .mgccf import MGCCF, MGCCFConfig
from .neumf import NeuMF, NeuMFConfig
from .similarity import AddSimilarityEdges

__all__ = ["MODELS", "EncoderConfig", "Recommender", "TripletScores", "CDAE", "CDAEConfig", "GMF", "GMFConfig",
           "MF", "LightGCN", "LightGCNConfig", "LightGCNConv", "NeuMF", "NeuMFConfig", "MGCCF", "MGCCFConfig",
           "AddSimilarityEdges"]
