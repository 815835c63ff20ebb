"""Backbones behind one encoder interface (:class:`Recommender`)."""
from ..registry import Registry
from .base import EncoderConfig, Recommender, TripletScores
from .cdae import CDAE, CDAEConfig
from .gmf import GMF, GMFConfig
from .lightgcn import LightGCN, LightGCNConfig, LightGCNConv
from .mf import MF
from .mgccf import MGCCF, MGCCFConfig
from .neumf import NeuMF, NeuMFConfig
from .similarity import AddSimilarityEdges

MODELS: Registry = Registry("model")
MODELS.register("mf")(MF)
MODELS.register("lightgcn")(LightGCN)
MODELS.register("neumf")(NeuMF)
MODELS.register("mgccf")(MGCCF)
MODELS.register("gmf")(GMF)
MODELS.register("cdae")(CDAE)

__all__ = ["MODELS", "EncoderConfig", "Recommender", "TripletScores", "CDAE", "CDAEConfig", "GMF", "GMFConfig", "MF", "LightGCN", "LightGCNConfig",
           "LightGCNConv", "NeuMF", "NeuMFConfig", "MGCCF", "MGCCFConfig", "AddSimilarityEdges"]
