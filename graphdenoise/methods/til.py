r"""Triplet Importance Learning (Wu, Zhang, Ma, Coates et al., "Adapting Triplet Importance of
Implicit Feedback for Personalized Recommendation", CIKM 2022, https://arxiv.org/abs/2208.01709).

Each triplet's BPR term is weighted by a learned importance (Eq. 2-3):

.. math::
    \mathcal L_{\text{I-BPR}} = f(s_{uij};\Lambda)\,\mathcal L_{\text{BPR}}(u,i,j;\Theta), \qquad
    f(s) = \sigma\big(W_2\,\mathrm{relu}(W_1 s + b_1) + b_2\big),\ W_1 \in \mathbb R^{d\times 2d}.

**States.** :math:`p_u, q_i, q_j` are the backbone's ego embedding tables (``embedding_tables()``),
:math:`\eta_u` the mean of :math:`q_v` over the user's training items (Eq. 4), computed for the batch's
users by a scatter-mean over their training edges. Eq. 5 and 6 are garbled in the typeset paper; we
follow the text (terms A and B are summed for the positive item, C and D for the negative one; the
cluster terms a, b and c, d are added, scaled by :math:`\alpha`):

.. math::
    s^{UI}_{uij} = \big[q_i\odot p_u + q_i\odot\eta_u \,\|\, q_j\odot p_u + q_j\odot\eta_u\big]

    s^{MI}_{uij} = \big[(q_i + \alpha\mu_{c_i})\odot(p_u + \eta_u) \,\|\,
                         (q_j + \alpha\mu_{c_j})\odot(p_u + \eta_u)\big]

so the state stays :math:`2d` wide and :math:`W_1` stays :math:`d\times 2d`. States are detached: the
weights are data weights for :math:`\Theta`, and :math:`\Lambda` learns only through the look-ahead.

**Multi-Interest clustering (Section 4.3).** ``til-mi``: centres :math:`\Phi\in\mathbb R^{K\times d}`
are parameters, initialised by K-means on the item embeddings after ``pretrain_epochs`` (before that
the UI state is used and no clustering loss is applied, as in Section 5.4), trained with
:math:`\gamma\,\mathrm{KL}(T\|Q)` (Eq. 7-9, over the batch's items) in the inner objective (Eq. 13);
hard ids :math:`c_i = \arg\max_k Q_{ik}` are refreshed every ``refresh_every`` iterations.
``til-mik`` (Section 5.6.4): centres are not learned but recomputed by K-means every
``refresh_every`` iterations; no clustering loss.

**Bilevel optimisation (Section 4.4, Eq. 12-15).** Per batch, the inner gradient
:math:`g = \nabla_\Theta \mathcal J_{inner}(\Theta,\Lambda)` is the one the trainer has just computed;
the look-ahead is :math:`\tilde\Theta = \Theta - \alpha g` (plain gradient step, :math:`\alpha` =
``lookahead_lr``, the recommender's lr by default), and :math:`\Lambda` descends
:math:`\nabla_\Lambda \mathcal J_{outer}(\tilde\Theta(\Lambda))` (Eq. 14) with its own optimiser
OPT\ :sub:`Λ`; then OPT\ :sub:`Θ` applies :math:`g`. The hypergradient is exact (one backward at
:math:`\tilde\Theta`, one JVP at :math:`\Theta`; :class:`~graphdenoise.methods.til_bilevel.ExactHypergradient`).

**Outer objective** (``outer``): ``"same-batch"`` (default, the paper's recipe as written: the
unweighted BPR of the batch the look-ahead was taken on), ``"other-batch"`` (a fresh random batch of
training triplets) or ``"holdout"`` (a batch from a slice of ``holdout_fraction`` of the training
edges set aside from the inner objective, Meta-Weight-Net style; never the validation split).
``normalize_weights=True`` uses :math:`w_k / \overline{w}` in the inner loss (relative weights).
Weight statistics per epoch (mean, std, fraction above 0.99) go to the history: with the same-batch
recipe a larger weight always lowers that batch's loss after the step, so weights saturate towards 1.

**Recipes** (``recipe``): ``"paper"`` (default) is all of the above. ``"authors-code"`` reproduces
the training dynamics of the authors' public code (softplus head, undetached state, summed losses,
the recommender updated on inner + outer gradient, coupled weight decay; TIL-MI with a warm-up,
K-means ids every 10 epochs and cluster-mean centres): see
:class:`~graphdenoise.methods.til_bilevel.AuthorsCodeRecipe` and
:class:`~graphdenoise.methods.til_interest.ClusterMeans` for each line of their code it follows.
Options left at None take the recipe's value.

**Composition.** The interest/cluster model is an object
(:mod:`~graphdenoise.methods.til_interest`: no clusters, learned centres, K-means centres, the
authors' cluster means), the bilevel step a recipe object (:mod:`~graphdenoise.methods.til_bilevel`);
the weight head and the centres' optimiser are declared to the trainer, which steps them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, Dict, Optional

import torch
from torch import Tensor, nn

from ..sampling import CandidatePoolNegatives, TripletBatch
from ..search_space import Float, SearchSpace
from .base import METHODS, Method, MethodConfig, SamplingSpec, StepContext
from .til_bilevel import RECIPES, ExactHypergradient, InnerStep, WeightHead, add_weight_decay
from .til_interest import ClusterMeans, KMeansCentres, LearnedCentres, UserInterest, user_interest
from ..config import check_fields

OUTER_OBJECTIVES = ("same-batch", "other-batch", "holdout")
RECIPE_DEFAULTS = {  # None options of TILConfig, by recipe (paper: Section 5.4; authors-code: main_MF.py)
    "paper": dict(num_clusters=60, pretrain_epochs=50, candidate_pool=0, weight_decay=0.0, weight_net_decay=0.0),
    "authors-code": dict(num_clusters=20, pretrain_epochs=99, candidate_pool=500, weight_decay=1e-2,
                         weight_net_decay=1e-1, hidden_dim=64, lookahead_lr=1e-3),
}


@dataclass
class TILConfig(MethodConfig):
    """Options of TIL (paper defaults where it gives them, Section 5.4; None: the recipe's value)."""

    #: Options searched by :mod:`graphdenoise.tune` (with the trainer's lr and L2).
    search_space: ClassVar[SearchSpace] = {
        "weight_lr": Float(1e-4, 1e-2, log=True), "alpha": Float(1e-2, 10.0, log=True),
        "gamma": Float(1e-4, 1e-1, log=True)}

    recipe: str = "paper"
    """'paper' (Eq. 2-15 as written) or 'authors-code' (the dynamics of the authors' main_MF.py /
    main_MF_cluster.py)."""
    weight_lr: float = 1e-3
    """Adam learning rate of the weight generator (OPT_Λ)."""
    lookahead_lr: Optional[float] = None
    """α of Eq. 14-15; None: the recommender's learning rate (paper), 1e-3 (authors-code)."""
    hidden_dim: Optional[int] = None
    """Width of the generator's hidden layer; None: d (paper, W1 is d x 2d, Eq. 3), 64 (authors-code)."""
    weight_decay: Optional[float] = None
    """Coupled (Adam-style) weight decay added to the recommender's gradient; None: 0 (paper, which
    uses the trainer's batch L2), 1e-2 (authors-code, which uses no batch L2)."""
    weight_net_decay: Optional[float] = None
    """Adam weight decay of the weight generator; None: 0 (paper), 1e-1 (authors-code)."""
    candidate_pool: Optional[int] = None
    """Negatives from a per-user pool of this many candidates redrawn every ``pool_refresh_epochs``
    (:class:`~graphdenoise.sampling.CandidatePoolNegatives`); None: 0 = the trainer's uniform
    negatives (paper), 500 (authors-code, main_MF.py:60-71, 228, 370-373)."""
    pool_refresh_epochs: int = 10
    """Epochs between redraws of the candidate pools (authors' ``sample_every``, main_MF.py:55)."""
    outer: str = "same-batch"
    """Outer objective: 'same-batch' (paper), 'other-batch' or 'holdout' (paper recipe only)."""
    holdout_fraction: float = 0.05
    """Share of training edges set aside for outer='holdout'."""
    normalize_weights: bool = False
    """Use w / mean(w) over the batch in the inner loss."""
    alpha: float = 1.0
    """Scale of the cluster terms in the MI state (Eq. 6; paper grid 0.01..10)."""
    gamma: float = 1e-2
    """Weight of the clustering loss (Eq. 13; paper grid 1e-4..1e-1)."""
    num_clusters: Optional[int] = None
    """K; None: 60 (paper), 20 (authors-code, main_MF_cluster.py:34)."""
    tau: float = 1.0
    """Temperature of the Student-t assignment (Eq. 7)."""
    pretrain_epochs: Optional[int] = None
    """Epochs before the clusters exist; None: 50 (paper: 500 of 3000, scaled to our 300-epoch
    default), 99 (authors-code: TIL from the 100th epoch, plain BPR before, main_MF_cluster.py:281)."""
    refresh_every: int = 10
    """Iterations between refreshes of the hard cluster ids (and of the K-means centres for til-mik)."""
    recluster_epochs: int = 10
    """authors-code til-mi: epochs between K-means reclusterings (main_MF_cluster.py:293)."""
    kmeans_iters: int = 25
    """Lloyd iterations of the K-means initialisation / refresh."""

    def __post_init__(self):
        check_fields(self, recipe=tuple(RECIPES), outer=OUTER_OBJECTIVES, holdout_fraction="(0, 1)",
                     weight_lr="> 0", tau="> 0", num_clusters=">= 1", refresh_every=">= 1", recluster_epochs=">= 1",
                     kmeans_iters=">= 1", hidden_dim=">= 1", pool_refresh_epochs=">= 1", pretrain_epochs=">= 0",
                     gamma=">= 0", weight_decay=">= 0", weight_net_decay=">= 0", lookahead_lr=">= 0",
                     candidate_pool=">= 0")
        if self.recipe == "authors-code" and self.outer != "same-batch":
            raise ValueError(f"recipe='authors-code' takes its outer loss on the same batch; outer={self.outer!r} "
                             "is an option of recipe='paper'")

    def resolved(self) -> "TILConfig":
        """A copy with every option left at None set to its recipe's value (the config itself keeps None)."""
        defaults = RECIPE_DEFAULTS[self.recipe]
        return dataclasses.replace(self, **{name: value for name, value in defaults.items()
                                            if getattr(self, name) is None})


class TIL(Method):
    r"""Triplet Importance Learning; the registered variants choose the interest/cluster model
    (:attr:`Interest`, :mod:`~graphdenoise.methods.til_interest`), ``recipe`` the bilevel step.

    Args:
        config (TILConfig, optional): Options; keyword arguments override fields.
    """

    Config = TILConfig
    Interest = UserInterest
    """The interest/cluster model of the paper recipe."""
    AuthorsInterest = UserInterest
    """The interest/cluster model of the authors-code recipe."""

    def __init__(self, config: Optional[TILConfig] = None, **overrides):
        super().__init__(config, **overrides)
        self.settings = self.config.resolved()  # the options with the recipe's values in place of None
        self.recipe = RECIPES[self.config.recipe]()
        self.weight_net: Optional[WeightHead] = None
        self.interest: nn.Module = UserInterest()
        self._step: Optional[InnerStep] = None
        self._stats = None

    # ------------------------------------------------------------------ setup
    def sampling(self) -> SamplingSpec:
        # one triplet (u, i, j) weighted at a time (Eq. 2-3); outer='holdout' sets edges aside
        cfg = self.settings
        holdout = cfg.holdout_fraction if cfg.outer == "holdout" else 0.0
        negatives = (partial(CandidatePoolNegatives, pool_size=cfg.candidate_pool, refresh_epochs=cfg.pool_refresh_epochs)
                     if cfg.candidate_pool else None)
        return SamplingSpec(negatives=negatives, num_negatives=1, holdout_fraction=holdout)

    def setup(self, model, data, ctx) -> None:
        cfg, recipe = self.settings, self.recipe
        if recipe.name != "paper" and ctx.world.world_size > 1:
            raise ValueError(f"recipe={recipe.name!r} does not support data-parallel training")
        dim = model.embedding_tables()[1].size(1)
        device = model.embedding_tables()[1].device
        self.weight_net = WeightHead(2 * dim, cfg.hidden_dim or dim, recipe.activation, recipe.output_bias,
                                     recipe.xavier).to(device)
        self.weight_optimizer = torch.optim.Adam(self.weight_net.parameters(), lr=cfg.weight_lr,
                                                 weight_decay=cfg.weight_net_decay)
        self.interest = self.build_interest(model, ctx)

    def build_interest(self, model, ctx) -> nn.Module:
        """The interest/cluster model of this variant and recipe."""
        kind = self.Interest if self.recipe.name == "paper" else self.AuthorsInterest
        if kind is None:
            raise ValueError(f"{type(self).__name__} has no recipe={self.recipe.name!r}")
        return kind.build(model, self.settings, ctx)

    def optimizers(self):
        """OPT_Λ of the weight generator, and the centres' optimiser of ``til-mi`` (the trainer steps
        both with the recommender's optimiser)."""
        return {"weight_optimizer": self.weight_optimizer, **self.interest.optimizers()}

    def lookahead_lr(self, ctx: StepContext) -> float:
        """α of the look-ahead at this step."""
        return self.settings.lookahead_lr if self.settings.lookahead_lr is not None else ctx.lr

    # ------------------------------------------------------------------ states and weights
    def user_interest(self, model, users: Tensor) -> Tensor:
        r""":math:`\eta_u` (Eq. 4) of ``users`` (see :func:`~graphdenoise.methods.til_interest.user_interest`)."""
        return user_interest(model, users)

    def state(self, model, users: Tensor, pos_items: Tensor, neg_items: Tensor, ego=None) -> Tensor:
        """The detached state ``s_uij`` of the variant's interest model, ``[B, 2d]``.

        ``ego``: the ego rows ``(p_u, q_i, q_j)`` when the caller has already looked them up."""
        return self.interest.state(model, users, pos_items, neg_items, ego)

    def weights(self, model, users: Tensor, pos_items: Tensor, neg_items: Tensor, ego=None) -> Tensor:
        """Per-triplet importance ``f(s_uij; Λ)`` (Eq. 3; in (0, 1) with the paper's sigmoid),
        differentiable w.r.t. Λ; ones while the authors' TIL-MI has no clusters yet."""
        if not self.interest.weighting():
            return torch.ones(users.shape, device=users.device)
        return self.weight_net(self.state(model, users, pos_items, neg_items, ego))

    # ------------------------------------------------------------------ the step
    def loss(self, model, batch: TripletBatch, ctx: StepContext):
        """The recipe's inner objective (plus the clustering loss of learned centres)."""
        self.interest.prepare(model, ctx.epoch)
        loss, logs, self._step = self.recipe.inner(self, model, batch, ctx)
        extra = self.interest.loss(model, batch)
        if extra is not None:
            term, scale = extra
            loss = loss + scale * term
            logs["clustering"] = term.detach()
        return loss, logs

    def outer_batch(self, batch: TripletBatch, ctx: StepContext) -> TripletBatch:
        if self.config.outer == "same-batch":
            return batch
        return ctx.random_batch(batch.users.numel(), holdout=self.config.outer == "holdout")

    def after_backward(self, model, batch: TripletBatch, ctx: StepContext) -> Dict[str, Tensor]:
        """The recipe's outer step on the batch :meth:`loss` has just seen, then the coupled weight decay."""
        step, self._step = self._step, None
        logs = {}
        if step is not None:
            if step.batch is not batch:
                raise RuntimeError("TIL.after_backward got another batch than the preceding TIL.loss: the "
                                   "look-ahead needs the inner step of the same batch")
            logs = self.recipe.outer(self, model, step, ctx)
        add_weight_decay(model, self.settings.weight_decay)
        return logs

    def hypergradient(self, model, batch: TripletBatch, outer: TripletBatch, lr: float, world=None,
                      reps=None) -> Tensor:
        """``∂ J_outer(Θ̃) / ∂ w_k`` for every triplet of ``batch`` (paper recipe; see
        :class:`~graphdenoise.methods.til_bilevel.ExactHypergradient`), α from ``lookahead_lr`` or ``lr``."""
        alpha = self.settings.lookahead_lr if self.settings.lookahead_lr is not None else lr
        hyper = getattr(self.recipe, "hypergradient", None) or ExactHypergradient()
        return hyper(model, batch, outer, alpha, world, reps)

    def after_step(self, model, batch, ctx) -> None:
        self.interest.after_step(model)

    def may_stop(self) -> bool:
        """No early stop before the weights exist (the authors' TIL-MI trains plain BPR until its first
        clustering, ``main_MF_cluster.py:281``)."""
        return self.interest.weighting()

    # ------------------------------------------------------------------ bookkeeping
    def record_weights(self, weight: Tensor) -> None:
        """Accumulates the epoch's weight statistics (on the weights' device: no host sync per step)."""
        w = weight.double()
        step = torch.stack([w.new_tensor(float(w.numel())), w.sum(), w.pow(2).sum(), (w > 0.99).sum().double()])
        self._stats = step if self._stats is None else self._stats + step

    def epoch_stats(self) -> Dict[str, float]:
        if self._stats is None:
            return {}
        count, total, squares, above = self._stats.tolist()
        self._stats = None
        mean = total / count
        return {"weight_mean": mean, "weight_std": math.sqrt(max(squares / count - mean**2, 0.0)),
                "weight_frac_above_0.99": above / count}


@METHODS.register("til-ui")
class TILUI(TIL):
    """TIL with the Uni-Interest state (Eq. 5); ``recipe="authors-code"``: ``main_MF.py``."""

    Interest = AuthorsInterest = UserInterest
    search_exclude = ("alpha", "gamma")  # cluster options: the UI state has none


@METHODS.register("til-mi")
class TILMI(TIL):
    """TIL with the Multi-Interest state (Eq. 6) and end-to-end clustering (Section 4.3);
    ``recipe="authors-code"``: ``main_MF_cluster.py`` (:class:`~graphdenoise.methods.til_interest.ClusterMeans`)."""

    Interest, AuthorsInterest = LearnedCentres, ClusterMeans


@METHODS.register("til-mik")
class TILMIK(TIL):
    """TIL-MI ablation: K-means centres recomputed every ``refresh_every`` iterations (Section 5.6.4);
    paper recipe only."""

    Interest, AuthorsInterest = KMeansCentres, None
