r"""AOBPR: BPR with adaptive, context-dependent oversampling of negatives, from Rendle and
Freudenthaler, "Improving Pairwise Learning for Item Recommendation from Implicit Feedback",
WSDM 2014, https://doi.org/10.1145/2556195.2556248.

The loss is plain BPR; the negatives come from
:class:`~graphdenoise.sampling.AdaptiveOversampling`, which targets
:math:`p(j \mid u) \propto \exp(-\mathrm{rank}_u(j) / \lambda)` through the paper's factor trick:

.. math::
    r \sim p(r) \propto e^{-r/\lambda}, \quad f \sim p(f \mid u) \propto |p_{uf}|\,\sigma_f, \quad
    j = \text{item at rank } r \text{ of the items sorted by } q_{\cdot f}
    \ (\text{descending if } p_{uf} > 0)

with the orderings and :math:`\sigma_f` recomputed every ``refresh_every`` draws (default
:math:`|\mathcal I| \ln |\mathcal I|`, the paper's). :math:`\lambda = \texttt{rank\_scale}\cdot|\mathcal I|`,
default 0.05 (our choice: the paper tunes :math:`\lambda` per dataset).

For backbones other than MF the final user / item representations stand in for the factors (see
:mod:`graphdenoise.sampling.aobpr`): a generalisation of the paper's MF-specific trick. Training
positives are rejected (NeuRec's reimplementation does not reject them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from ..sampling.aobpr import AdaptiveOversampling
from ..search_space import Float, SearchSpace
from .base import METHODS, MethodConfig, SamplingSpec
from .bpr import BPR
from ..config import check_fields


@dataclass
class AOBPRConfig(MethodConfig):
    """Options of :class:`AOBPR`."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {"rank_scale": Float(0.01, 0.5, log=True)}

    rank_scale: float = 0.05
    """:math:`\\lambda / |\\mathcal I|` of the rank distribution (smaller: more aggressive)."""
    refresh_every: Optional[int] = None
    """Draws between recomputations of the factor orderings (None: :math:`|\\mathcal I| \\ln |\\mathcal I|`)."""

    def __post_init__(self):
        check_fields(self, rank_scale="> 0", refresh_every=">= 1")


@METHODS.register("aobpr")
class AOBPR(BPR):
    r"""BPR with AOBPR's adaptive oversampling (see the module docstring).

    Args:
        config (AOBPRConfig, optional): ``rank_scale`` (default: 0.05), ``refresh_every``
            (default: :math:`|\mathcal I| \ln |\mathcal I|` draws).
    """

    Config = AOBPRConfig

    def sampling(self):
        # the trainer binds the proposal to the model before the first batch: it already oversamples
        return SamplingSpec(negatives=lambda index: AdaptiveOversampling(
            index, rank_scale=self.config.rank_scale, refresh_every=self.config.refresh_every))
