"""Triplet and negative sampling over the training graph."""
from .negatives import NEGATIVE_SAMPLERS, NegativeSampler, UniformNegatives
from .triplets import TripletBatch, TripletSampler

__all__ = ["NEGATIVE_SAMPLERS", "NegativeSampler", "UniformNegatives", "TripletBatch", "TripletSampler"]
from .popularity import PopularityNegatives
from .aobpr import AdaptiveOversampling
from .cluster import ClusterPopularityNegatives

__all__ += ["PopularityNegatives", "AdaptiveOversampling", "ClusterPopularityNegatives"]
