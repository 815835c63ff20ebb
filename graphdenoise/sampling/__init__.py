"""Triplet and negative sampling over the training graph."""
from .negatives import NegativeSampler, UniformNegatives
from .triplets import TripletBatch, TripletSampler

__all__ = ["NegativeSampler", "UniformNegatives", "TripletBatch", "TripletSampler"]
from .popularity import PopularityNegatives
from .aobpr import AdaptiveOversampling
from .cluster import ClusterPopularityNegatives

__all__ += ["PopularityNegatives", "AdaptiveOversampling", "ClusterPopularityNegatives"]
from .candidate_pool import CandidatePoolNegatives

__all__ += ["CandidatePoolNegatives"]
from .users import UserBatch, UserBatchSampler

__all__ += ["UserBatch", "UserBatchSampler"]
