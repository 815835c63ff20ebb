r"""A cluster-based popularity proposal for importance-sampled ranking losses (PRIS), after Lian, Liu
and Chen, "Personalized Ranking with Importance Sampling", WWW 2020,
https://doi.org/10.1145/3366423.3380187 (the cluster-based samplers), as formalised over item vectors
in Lian et al., "Training Recommenders Over Large Item Corpus With Importance Sampling", TKDE 2023.

The items are clustered by k-means over their current representations (centroids :math:`c_k`); the
proposal first picks a cluster by the user's affinity to its centroid, then an item of that cluster
by its within-cluster popularity:

.. math::
    q(j \mid u) = P(k_j \mid u)\, P(j \mid k_j), \qquad
    P(k \mid u) = \operatorname{softmax}_k\!\left(\frac{\langle p_u, c_k \rangle}{\tau}\right), \qquad
    P(j \mid k) = \frac{(c_j + o)^{\alpha}}{\sum_{j' \in k} (c_{j'} + o)^{\alpha}}

(:math:`c_j` the training degree of item :math:`j`, :math:`k_j` its cluster). Our reading of "the
user's cluster": a soft assignment of the user to the item clusters, which tends to the hard nearest
centroid as :math:`\tau \to 0`; unlike a hard assignment it keeps every item in the support (no
rejection dead-ends when a user's positives fill a cluster, and the importance weights stay finite),
and ``log_prob`` is exact (each item lies in one cluster). The offset :math:`o = 1` keeps items never
seen in training in the support.

Clusters, centroid scores of every user and the within-cluster tables are recomputed by
:meth:`refresh` every ``refresh_every`` optimiser steps (in the trainer's :meth:`update` hook) from a
snapshot of the model, so the proposal is fixed, and its ``log_prob`` exact, between refreshes.
Without a model (before :meth:`bind`) there is one cluster: the popularity proposal.

Reference: no official PRIS code was found; the third-party "PRIS(U)" of ``swt-user/WWW_2023_code``
covers only the uniform proposal.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..utils import InteractionIndex, kmeans
from .aobpr import model_representations
from .negatives import NEGATIVE_SAMPLERS, NegativeSampler
from .popularity import item_popularity


@NEGATIVE_SAMPLERS.register("cluster")
class ClusterPopularityNegatives(NegativeSampler):
    r"""PRIS's cluster-based popularity proposal (see the module docstring).

    Args:
        train_index (InteractionIndex): The training positives.
        num_clusters (int): Number of item clusters :math:`K`. (default: :obj:`16`)
        temperature (float): :math:`\tau` of the user-to-cluster softmax. (default: :obj:`1.0`)
        alpha (float): Exponent of the within-cluster popularity. (default: :obj:`1.0`)
        offset (float): Added to every item count before the power. (default: :obj:`1.0`)
        refresh_every (int, optional): Optimiser steps between re-clusterings; :obj:`None` re-clusters
            once per epoch (the batches per epoch that :meth:`bind` is given). (default: :obj:`1000`)
        kmeans_iterations (int): Lloyd iterations per refresh. (default: :obj:`10`)
        seed (int): Seed of the k-means initialisation. (default: :obj:`0`)
        reject_positives (bool): Redraw candidates that are positives of their user.
            (default: :obj:`True`)
        max_rounds (int): Rejection rounds before the exact fallback of the base class. (default: 20)
    """

    def __init__(self, train_index: InteractionIndex, num_clusters: int = 16, temperature: float = 1.0,
                 alpha: float = 1.0, offset: float = 1.0, refresh_every: Optional[int] = 1000, kmeans_iterations: int = 10,
                 seed: int = 0, reject_positives: bool = True, max_rounds: int = 20):
        super().__init__(train_index, reject_positives, max_rounds)
        checks = {"num_clusters": (num_clusters, num_clusters >= 1), "temperature": (temperature, temperature > 0),
                  "alpha": (alpha, alpha >= 0), "offset": (offset, offset >= 0),
                  "refresh_every": (refresh_every, refresh_every is None or refresh_every >= 1),
                  "kmeans_iterations": (kmeans_iterations, kmeans_iterations >= 1)}
        for name, (value, ok) in checks.items():
            if not ok:
                raise ValueError(f"{name}={value!r} is out of range")
        self.num_clusters, self.temperature = int(num_clusters), float(temperature)
        self.alpha, self.offset = float(alpha), float(offset)
        self.refresh_every = None if refresh_every is None else int(refresh_every)
        self.kmeans_iterations = int(kmeans_iterations)
        self.kmeans_generator = torch.Generator().manual_seed(seed)
        self.weight = (item_popularity(train_index) + self.offset).pow(self.alpha)
        if self.weight.sum() <= 0:
            raise ValueError("the popularity weights are all zero (use offset > 0)")
        self.model = None
        self.last_refresh_step = -1
        self._set_clusters(torch.zeros(self.num_items, dtype=torch.long), torch.zeros(train_index.num_users, 1))

    # ------------------------------------------------------------------ the proposal
    def _set_clusters(self, assign: Tensor, user_logits: Tensor) -> None:
        """Tables of the proposal from an item assignment and the users' cluster logits ``[U, K]``."""
        k = user_logits.size(1)
        mass = torch.zeros(k, dtype=torch.float64).index_add_(0, assign, self.weight)
        # clusters without mass (empty, or only zero-weight items) are never chosen
        user_logits = user_logits.double().masked_fill(mass == 0, float("-inf"))
        self.assign = assign
        self.user_log_prior = torch.log_softmax(user_logits, dim=1).float()
        self.user_cdf = torch.cumsum(self.user_log_prior.double().exp(), dim=1)
        self.sorted_items = torch.argsort(assign, stable=True)
        self.item_cdf = torch.cumsum(self.weight[self.sorted_items], 0)
        ends = torch.cumsum(mass, 0)
        self.cluster_start, self.cluster_end = ends - mass, ends
        counts = torch.bincount(assign, minlength=k)
        self.cluster_first = torch.cumsum(counts, 0) - counts
        self.cluster_last = self.cluster_first + counts - 1
        own_mass = mass[assign]
        self.item_log_within = torch.where(own_mass > 0, self.weight / own_mass.clamp_min(1e-300), 0.0).log().float()

    def propose(self, users: Tensor, generator: torch.Generator) -> Tensor:
        n = users.numel()
        cdf = self.user_cdf[users.view(-1).cpu()]
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=generator.device).cpu() * cdf[:, -1:]
        cluster = torch.searchsorted(cdf, u, right=True).view(-1).clamp_(max=cdf.size(1) - 1)
        v = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device).cpu()
        start, end = self.cluster_start[cluster], self.cluster_end[cluster]
        pos = torch.searchsorted(self.item_cdf, start + v * (end - start), right=True)
        pos = torch.maximum(torch.minimum(pos, self.cluster_last[cluster]), self.cluster_first[cluster])
        return self.sorted_items[pos].view(users.shape).to(users.device)

    def log_prob(self, users: Tensor, items: Tensor) -> Tensor:
        users, items = users.cpu(), items.cpu()
        cluster = self.assign[items]
        return self.user_log_prior[users, cluster] + self.item_log_within[items]

    # ------------------------------------------------------------------ adaptation
    def bind(self, model, batches_per_epoch: Optional[int] = None) -> None:
        """Attach the model whose representations define the clusters, and cluster now (with
        ``refresh_every=None``, re-cluster every ``batches_per_epoch`` steps from then on)."""
        if self.refresh_every is None:
            self.refresh_every = max(1, batches_per_epoch or 1)
        self.model = model
        self.refresh()

    def refresh(self) -> None:
        users, items = model_representations(self.model)
        centroids = kmeans(items, min(self.num_clusters, items.size(0)), self.kmeans_iterations,
                           generator=self.kmeans_generator)
        assign = torch.cdist(items, centroids).argmin(1)
        self._set_clusters(assign, users @ centroids.t() / self.temperature)

    def update(self, model, step: int) -> None:
        self.model = model
        if step - self.last_refresh_step >= self.refresh_every:
            self.refresh()
            self.last_refresh_step = step

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"assign": self.assign, "user_log_prior": self.user_log_prior,
                "kmeans_generator": self.kmeans_generator.get_state(), "last_refresh_step": self.last_refresh_step}

    def load_state_dict(self, state: dict) -> None:
        self.kmeans_generator.set_state(state["kmeans_generator"])
        self.last_refresh_step = state["last_refresh_step"]
        self._set_clusters(state["assign"], state["user_log_prior"])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_items={self.num_items}, num_clusters={self.num_clusters}, "
                f"temperature={self.temperature}, alpha={self.alpha}, offset={self.offset}, "
                f"refresh_every={self.refresh_every}, reject_positives={self.reject_positives})")
