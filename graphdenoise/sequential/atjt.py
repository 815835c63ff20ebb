r"""ATJT: Auxiliary Task Joint Training, and its ablations WAT and DNR.

Reference: Liu, Zheng, Chen, Zhang, Xu and Fang, "Enhancing Recommendation with Denoising Auxiliary
Task", Journal of Computer Science and Technology, 2024 (Sec. 3, Algorithm 1, Sec. 4.1.3, Tables 4
and 5). There is no public reference implementation; the noise recognition model's layer sizes
(attention (64, 32), (32, 1); output (40, 256), (256, 64), (64, 1)) are those of Sec. 4.1.3, which
match DeepCTR's DIN with 8-dimensional feature embeddings (an item is 16-dimensional, the
attention input ``[e_n, e_t, e_n - e_t, e_n * e_t]`` is 64-dimensional and the output MLP's input
``[e_u, h, e_t]`` is 8 + 16 + 16 = 40-dimensional).

Reading of the paper where it is not explicit:

* **Gradient flow.** :math:`w_i = g(u, s_i)` is *not* detached: Algorithm 1 sums
  :math:`\mathcal{L}_R` (which depends on :math:`\Theta_D` through :math:`w_i`) and
  :math:`\alpha\,\mathcal{L}_D` and updates both :math:`\Theta_R` and :math:`\Theta_D` from the sum;
  the paper says joint training lets g "learn the weights :math:`w_i` ... more suitable for training
  the recommender model", and Table 4 separates ATJT from DNR (a frozen g) exactly by this
  gradient. So :math:`\partial\mathcal{L}_R/\partial\Theta_R` is the weighted BCE gradient,
  :math:`\partial\mathcal{L}_R/\partial\Theta_D` flows through :math:`w_i` (it pushes weights of
  high-loss samples down) and :math:`\mathcal{L}_D` only reaches :math:`\Theta_D`
  (``detach_weights=True`` turns the first path off).
* g outputs the probability that a sequence is **clean** (originals are labelled 1, replaced
  sequences 0), which is used as the weight directly, so noisy sequences get smaller weights.
* The final (…, 1) layers of both MLPs are plain linear layers (the paper's "linear, PReLU,
  dropout" per layer would apply dropout to the logit); g's dropout is active whenever g trains,
  including the pass that produces :math:`w_i`.
* The paper's formula normalises attention scores by their sum; the implementation details say
  SUM pooling. We follow the implementation (DIN-style, unnormalised).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import check_fields
from .data import PAD, SampleBatch, Samples, SequenceData
from .methods import SEQUENCE_METHODS, Round, SequenceMethod, SequenceMethodConfig, Step, shuffled_batches
from .models.base import embed, mlp, reset_module
from .models.din import AttentionPooling
from .transforms import RandomReplacement


# --------------------------------------------------------------------------------------------
# The noise recognition model g
# --------------------------------------------------------------------------------------------
@dataclass
class NoiseRecognizerConfig:
    """Sizes of the noise recognition model g (ATJT paper, Sec. 4.1.3)."""

    embedding_dim: int = 16
    """Item embedding size; the attention MLP's input is ``4 * embedding_dim`` (paper: 64)."""
    user_dim: int = 8
    """User embedding size; the output MLP's input is ``user_dim + 2 * embedding_dim`` (paper: 40)."""
    attention_units: Tuple[int, ...] = (32,)
    """Hidden sizes of the attention MLP (paper: (64, 32), (32, 1))."""
    hidden_units: Tuple[int, ...] = (256, 64)
    """Hidden sizes of the output MLP (paper: (40, 256), (256, 64), (64, 1))."""
    dropout: float = 0.5
    """Dropout after every hidden layer (paper: 0.5)."""

    def __post_init__(self):
        check_fields(self)
        self.attention_units = tuple(int(h) for h in self.attention_units)
        self.hidden_units = tuple(int(h) for h in self.hidden_units)
        if self.embedding_dim <= 0 or self.user_dim < 0:
            raise ValueError("embedding_dim must be positive and user_dim non-negative")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")


class NoiseRecognizer(nn.Module):
    r"""The noise recognition model :math:`g(u, s; \Theta_D)` of ATJT: the probability that the
    sequence ``(user, history, target)`` is clean.

    .. math::
        h = \sum_{n=1}^{N} a_n e_n,\quad a_n = \text{MLP}_a([e_n \| e_T \| e_n - e_T \| e_n \odot e_T]),
        \qquad g = \sigma\big(\text{MLP}_o([e_u \| h \| e_T])\big)

    with PReLU and dropout after every hidden layer. Used only in training, never at inference.

    Args:
        num_users (int), num_items (int): Sizes.
        config (NoiseRecognizerConfig, optional): Sizes. (default: the paper's)

    Shapes:
        - **input**: user ``[B]``, history ``[B, N]``, target ``[B]``
        - **output**: logits ``[B]`` (:meth:`weights` gives the sigmoid)
    """

    def __init__(self, num_users: int, num_items: int, config: Optional[NoiseRecognizerConfig] = None):
        super().__init__()
        self.config = config = config if config is not None else NoiseRecognizerConfig()
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.user_emb = nn.Embedding(self.num_users, config.user_dim) if config.user_dim else None
        self.item_emb = nn.Embedding(self.num_items + 1, config.embedding_dim, padding_idx=PAD)
        self.attention = AttentionPooling(config.embedding_dim, config.attention_units, "prelu", config.dropout)
        self.out = mlp(config.user_dim + 2 * config.embedding_dim, config.hidden_units, "prelu", config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.user_emb, self.item_emb):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.01)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()
        self.attention.reset_parameters()
        reset_module(self.out)

    def forward(self, user: Tensor, history: Tensor, target: Tensor) -> Tensor:
        keys = embed(self.item_emb, history)
        e_t = embed(self.item_emb, target + 1)
        h = self.attention(keys, e_t, history != PAD)
        parts = [h, e_t] if self.user_emb is None else [embed(self.user_emb, user), h, e_t]
        return self.out(torch.cat(parts, dim=-1)).squeeze(-1)

    def weights(self, batch: SampleBatch) -> Tensor:
        """:math:`w = g(u, s)` in ``(0, 1)`` for every sample of ``batch``."""
        return torch.sigmoid(self(batch.user, batch.history, batch.target))

    def forward_batches(self, batches: Sequence[SampleBatch]) -> List[Tensor]:
        """The logits of several batches from ONE forward over their concatenation (g scores every
        sample on its own, so each batch's logits equal ``self(batch)``'s up to float reassociation;
        the dropout masks are drawn for the concatenation at once)."""
        if len(batches) == 1:
            return [self(batches[0].user, batches[0].history, batches[0].target)]
        logits = self(*(torch.cat([getattr(b, key) for b in batches]) for key in ("user", "history", "target")))
        return list(logits.split([len(b) for b in batches]))

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}({self.num_users} users, {self.num_items} items, embedding_dim={c.embedding_dim}, "
                f"user_dim={c.user_dim}, attention_units={c.attention_units}, hidden_units={c.hidden_units}, "
                f"dropout={c.dropout})")


@torch.no_grad()
def weight_statistics(recognizer: NoiseRecognizer, batch: SampleBatch, replacement: RandomReplacement,
                      chunk_size: int = 4096) -> Dict[str, float]:
    r"""The paper's Table 5: mean and standard deviation of :math:`w` on the original ("clean")
    sequences of ``batch`` and on their randomly replaced ("noisy") copies, with g in eval mode.

    Returns ``clean_mean``, ``clean_std``, ``noisy_mean``, ``noisy_std`` and ``gap``
    (``clean_mean - noisy_mean``).
    """
    was_training = recognizer.training
    recognizer.eval()
    device = next(recognizer.parameters()).device
    clean, noisy = [], []
    for start in range(0, len(batch), chunk_size):
        part = SampleBatch(*(t[start:start + chunk_size] for t in (batch.user, batch.history, batch.target,
                                                                    batch.label))).to(device)
        clean.append(recognizer.weights(part))
        noisy.append(recognizer.weights(part.replace(history=replacement(part.history))))
    recognizer.train(was_training)
    clean_w, noisy_w = torch.cat(clean), torch.cat(noisy)
    return {"clean_mean": float(clean_w.mean()), "clean_std": float(clean_w.std(unbiased=False)),
            "noisy_mean": float(noisy_w.mean()), "noisy_std": float(noisy_w.std(unbiased=False)),
            "gap": float(clean_w.mean() - noisy_w.mean())}


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------
@dataclass
class RecognizerOptions(SequenceMethodConfig):
    """Options of the noise recognition model shared by ATJT, WAT and DNR."""

    recognizer_lr: float = 0.01
    """Adagrad learning rate of g (the paper searches {0.1, 0.01, 0.001, 0.0001})."""
    recognizer_embedding_dim: int = 16
    """See :attr:`NoiseRecognizerConfig.embedding_dim`."""
    recognizer_user_dim: int = 8
    """See :attr:`NoiseRecognizerConfig.user_dim`."""
    recognizer_attention_units: Tuple[int, ...] = (32,)
    """See :attr:`NoiseRecognizerConfig.attention_units`."""
    recognizer_hidden_units: Tuple[int, ...] = (256, 64)
    """See :attr:`NoiseRecognizerConfig.hidden_units`."""
    recognizer_dropout: float = 0.5
    """See :attr:`NoiseRecognizerConfig.dropout`."""
    num_replace: int = 1
    """Items randomly replaced in an artificially noisy sequence (paper default and best: 1)."""
    diagnostic_samples: int = 2048
    """Samples of the last round's recommender group used for the per-epoch clean/noisy weights
    (0 disables)."""

    def recognizer_config(self) -> NoiseRecognizerConfig:
        return NoiseRecognizerConfig(self.recognizer_embedding_dim, self.recognizer_user_dim,
                                     self.recognizer_attention_units, self.recognizer_hidden_units,
                                     self.recognizer_dropout)

    def __post_init__(self):
        check_fields(self, recognizer_lr="> 0", num_replace=">= 1")
        self.recognizer_attention_units = tuple(self.recognizer_attention_units)
        self.recognizer_hidden_units = tuple(self.recognizer_hidden_units)
        self.recognizer_config()  # validates the sizes


@dataclass
class PartitionOptions:
    num_groups: int = 2
    """Number of data groups ``N >= 2``: each round one group trains the recommender while g trains
    on the other ``N - 1`` (the paper's default: 2)."""
    partition: str = "sample"
    """How samples are assigned to the groups, once per run: ``"sample"`` (per target position; a real
    next item and its sampled negatives stay together), as the paper divides the batches of samples;
    or ``"user"`` (all samples of a user in one group). With ``"user"`` the user embedding of g receives
    only the recommender's gradient for the users g weights, which pushes their weights towards 0
    (observed on MovieLens-100K: mean weight 0.001), so it is not the default."""

    def check_partition(self):
        if self.num_groups < 2:
            raise ValueError(f"num_groups must be >= 2, got {self.num_groups}")
        if self.partition not in ("user", "sample"):
            raise ValueError(f"partition must be 'user' or 'sample', got {self.partition!r}")


@dataclass
class ATJTConfig(RecognizerOptions, PartitionOptions):
    """Options of :class:`ATJT`."""

    alpha: float = 1.0
    r"""Scale :math:`\alpha` of the noise recognition loss in :math:`\mathcal{L}_R + \alpha\,\mathcal{L}_D`."""
    noise_fraction: float = 0.5
    """Share of each of g's batches that is randomly replaced and labelled noisy (paper: half, 1:1)."""
    fresh_recognizer: bool = True
    """A fresh copy of the initial g (and a fresh Adagrad) for every round, as in Algorithm 1 (line 4);
    False keeps one g per round index across epochs (g_n never trains on group n)."""
    detach_weights: bool = False
    """Stop the recommender's loss from reaching g (the paper's joint training does not)."""

    def __post_init__(self):
        RecognizerOptions.__post_init__(self)
        self.check_partition()
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not 0 < self.noise_fraction < 1:
            raise ValueError(f"noise_fraction must lie in (0, 1), got {self.noise_fraction}")


@dataclass
class WATConfig(RecognizerOptions):
    """Options of :class:`ATJTWithoutAuxiliaryTask`."""

    train_recognizer: bool = True
    """Train g through the recommender's weighted loss (our reading of "without auxiliary task"); False
    keeps g at its random initialisation, frozen and in eval mode (the other reading of the paper's
    "targetless model structure")."""


@dataclass
class DNRConfig(RecognizerOptions, PartitionOptions):
    """Options of :class:`DirectNoiseRecognition`."""

    noise_fraction: float = 0.5
    """See :attr:`ATJTConfig.noise_fraction`."""
    pretrain_epochs: int = 1
    """Epochs over the other groups' samples that train each g before it is frozen."""
    pretrain_batch_size: int = 256
    """Batch size of that pre-training."""

    def __post_init__(self):
        RecognizerOptions.__post_init__(self)
        self.check_partition()
        if not 0 < self.noise_fraction < 1:
            raise ValueError(f"noise_fraction must lie in (0, 1), got {self.noise_fraction}")
        if self.pretrain_epochs < 1 or self.pretrain_batch_size < 1:
            raise ValueError(f"pretrain_epochs and pretrain_batch_size must be >= 1, got "
                             f"{self.pretrain_epochs}, {self.pretrain_batch_size}")


# --------------------------------------------------------------------------------------------
# The methods
# --------------------------------------------------------------------------------------------
class _RecognizerMethod(SequenceMethod):
    """What ATJT, WAT and DNR share: g, its Adagrad, the replacement transform and diagnostics."""

    progress_keys = ("w_clean", "w_noisy")

    def setup(self, model, data, ctx):
        cfg, seed = self.config, ctx.seed
        self.num_users, self.num_items = data.num_users, data.num_items
        self.device = ctx.device
        self.data, self.samples = data, None
        self.replacement = RandomReplacement(data.num_items, cfg.num_replace, seed=seed + 1)
        self.diag_replacement = RandomReplacement(data.num_items, cfg.num_replace, seed=seed + 2)
        self.corrupt_generator = torch.Generator().manual_seed(seed + 3)
        self.recognizers = nn.ModuleList([self.new_recognizer() for _ in range(self.num_recognizers())])
        self.initial_state = copy.deepcopy(self.recognizers[0].state_dict())
        self.recognizer_optimizers = [self.new_optimizer(g) for g in self.recognizers]
        self.current = 0
        self.last_rec_index: Optional[Tensor] = None
        self.weight_stats: Dict[str, float] = {}
        self._sum_w = torch.zeros((), device=self.device)
        self._num_w = 0

    def num_recognizers(self) -> int:
        return 1

    def new_recognizer(self) -> NoiseRecognizer:
        return NoiseRecognizer(self.num_users, self.num_items, self.config.recognizer_config()).to(self.device)

    def new_optimizer(self, recognizer: NoiseRecognizer) -> torch.optim.Optimizer:
        # PyTorch's fused CPU Adagrad: the same update up to an ulp (not bit-identical to the foreach
        # one), one kernel per tensor instead of a chain of foreach ops (about 2.5x faster for g)
        fused = True if torch.device(self.device).type == "cpu" else None
        return torch.optim.Adagrad(recognizer.parameters(), lr=self.config.recognizer_lr, fused=fused)

    @property
    def recognizer(self) -> NoiseRecognizer:
        """The noise recognition model of the current (last) round."""
        return self.recognizers[self.current]

    def optimizers(self):
        return {"recognizer_optimizer": self.recognizer_optimizers[self.current]}

    def extra_state(self) -> dict:
        """What an exact resume needs beyond the parameters: generators, every g's optimiser, the round."""
        return {"corrupt_generator": self.corrupt_generator.get_state(),
                "replacement": self.replacement.generator.get_state(), "current": self.current,
                "recognizer_optimizers": [opt.state_dict() for opt in self.recognizer_optimizers]}

    def load_extra_state(self, state: dict) -> None:
        self.corrupt_generator.set_state(state["corrupt_generator"])
        self.replacement.generator.set_state(state["replacement"])
        self.current = state["current"]
        for opt, opt_state in zip(self.recognizer_optimizers, state["recognizer_optimizers"]):
            opt.load_state_dict(opt_state)

    def groups_of(self, samples: Samples) -> Tensor:
        if self.config.partition == "user":
            return self.user_group[samples.user]
        return self.position_group[samples.position]

    def make_partition(self, data: SequenceData, seed: int) -> None:
        n = self.config.num_groups
        gen = torch.Generator().manual_seed(seed + 4)
        self.user_group = torch.empty(data.num_users, dtype=torch.long)
        self.user_group[torch.randperm(data.num_users, generator=gen)] = torch.arange(data.num_users) % n
        num_pos = data.user.numel()
        self.position_group = torch.empty(num_pos, dtype=torch.long)
        self.position_group[torch.randperm(num_pos, generator=gen)] = torch.arange(num_pos) % n

    def corrupt(self, batch: SampleBatch, fraction: float) -> Tuple[SampleBatch, Tensor]:
        r"""Replace items in ``round(fraction * B)`` random sequences of ``batch`` (label 0 = noisy);
        the others stay original (label 1 = clean)."""
        b = len(batch)
        num_noisy = min(max(int(round(fraction * b)), 1), b - 1) if b > 1 else 0
        chosen = torch.randperm(b, generator=self.corrupt_generator)[:num_noisy].to(batch.history.device)
        history = batch.history.clone()
        history[chosen] = self.replacement(history[chosen])
        label = torch.ones(b, device=history.device)
        label[chosen] = 0.0
        return batch.replace(history=history), label

    def recognizer_loss(self, recognizer: NoiseRecognizer, batch: SampleBatch, fraction: float) -> Tensor:
        """Eq. (2): BCE of g on a batch whose replaced share is labelled noisy."""
        noisy, label = self.corrupt(batch, fraction)
        return F.binary_cross_entropy_with_logits(recognizer(noisy.user, noisy.history, noisy.target), label)

    def weighted_loss(self, model, batch: SampleBatch, w: Tensor) -> Tuple[Tensor, Tensor]:
        """Eq. (1): :math:`\\frac{1}{|b|}\\sum_i w_i\\,\\text{BCE}_i`, and the unweighted BCE (logged)."""
        per_sample = F.binary_cross_entropy_with_logits(model.score(batch), batch.label, reduction="none")
        self._sum_w += w.detach().sum()
        self._num_w += w.numel()
        return (w * per_sample).mean(), per_sample.detach().mean()

    def plan(self, samples, batch_size, generator):
        self.samples = samples  # the epoch's samples, for the diagnostics of epoch_stats
        return super().plan(samples, batch_size, generator)

    def epoch_stats(self):
        data, samples = self.data, self.samples
        stats = {}
        if self._num_w:
            stats["w_mean"] = float(self._sum_w) / self._num_w
        self._sum_w.zero_()
        self._num_w = 0
        k = self.config.diagnostic_samples
        if k and self.last_rec_index is not None and self.last_rec_index.numel():
            self.diag_replacement.reset()
            batch = data.batch(samples.subset(self.last_rec_index[:k]))
            self.weight_stats = weight_statistics(self.recognizer, batch, self.diag_replacement)
            stats.update({"w_clean": self.weight_stats["clean_mean"], "w_noisy": self.weight_stats["noisy_mean"]})
        return stats


@SEQUENCE_METHODS.register("atjt")
class ATJT(_RecognizerMethod):
    r"""Auxiliary Task Joint Training (Algorithm 1 of the ATJT paper).

    The training samples are partitioned into ``N`` groups. In round ``n`` (``n = 1..N``; a fresh
    copy of g per round), each batch :math:`b_i^R` of group ``n`` trains the recommender with weights
    :math:`w_i = g(u, s_i)` while ``N - 1`` batches :math:`b_j^D` of the other groups train g, half of
    each randomly replaced and labelled noisy; both are updated from the joint loss

    .. math::
        \mathcal{L}^{\text{sum}}_i = \underbrace{-\frac{1}{|b_i^R|}\sum_{s_i \in b_i^R} w_i\,
        \big(y_i \log f_i + (1 - y_i)\log(1 - f_i)\big)}_{\mathcal{L}_i^R\ \text{(Eq. 1)}}
        + \frac{\alpha}{N-1} \sum_{j = i(N-1)}^{(i+1)(N-1)-1} \mathcal{L}_j^D\ \text{(Eq. 2)}

    Over the ``N`` rounds of an epoch every sample trains the recommender exactly once. g is used
    only in training; the recommender alone is evaluated.

    Each step runs g ONCE, forward and backward, over :math:`b_i^R` and the ``N - 1`` replaced
    :math:`b_j^D` concatenated (:meth:`NoiseRecognizer.forward_batches`; g scores every sample on its
    own, so the losses and gradients are those of one pass per batch up to float reassociation;
    ``tests/sequential/test_seq_atjt.py`` checks them to 1e-6). g's dropout masks are drawn for the
    concatenation at once, so with dropout the random stream differs from one pass per batch (same
    distribution; a run stays reproducible and its resume bit-identical). g's attention unit and
    output MLP run as hand-differentiated functions (:class:`~graphdenoise.sequential.models.din.AttentionPooling`,
    :class:`~graphdenoise.sequential.models.base.MLP`): the same losses and gradients up to float
    reassociation, the same dropout draws; g's Adagrad is PyTorch's fused CPU one, whose update can
    differ from the foreach one by an ulp, so runs are not bit-identical to those before it.

    Args:
        config (ATJTConfig, optional): Options (``num_groups``, ``alpha``, ``noise_fraction``,
            ``num_replace``, ``recognizer_lr``, ...).
    """

    Config = ATJTConfig

    def setup(self, model, data, ctx):
        super().setup(model, data, ctx)
        self.make_partition(data, ctx.seed)

    def num_recognizers(self) -> int:
        return 1 if self.config.fresh_recognizer else self.config.num_groups

    def plan(self, samples, batch_size, generator):
        self.samples = samples
        n = self.config.num_groups
        group = self.groups_of(samples)
        rounds = []
        for r in range(n):
            rec_index = torch.nonzero(group == r).view(-1)
            aux_index = torch.nonzero(group != r).view(-1)
            if rec_index.numel() == 0 or aux_index.numel() == 0:
                raise ValueError(f"ATJT group {r} or its complement is empty; use fewer groups "
                                 f"(num_groups={n}) or partition='sample'")
            rec_batches = shuffled_batches(rec_index, batch_size, generator, samples.position[rec_index])
            aux_batches = shuffled_batches(aux_index, batch_size, generator)
            steps = [Step(rb, [aux_batches[(i * (n - 1) + j) % len(aux_batches)] for j in range(n - 1)])
                     for i, rb in enumerate(rec_batches)]
            rounds.append(Round(r, steps))
        self.last_rec_index = torch.cat([s.rec for s in rounds[-1].steps])
        return rounds

    def begin_round(self, index):
        if self.config.fresh_recognizer:
            self.recognizers[0].load_state_dict(self.initial_state)
            self.recognizer_optimizers[0] = self.new_optimizer(self.recognizers[0])
            self.current = 0
        else:
            self.current = index
        self.recognizer.train()

    def loss(self, model, batch, ctx):
        cfg = self.config
        noisy = [self.corrupt(b, cfg.noise_fraction) for b in ctx.aux]
        # one pass of g over b^R and the N - 1 replaced b^D (see the class docstring)
        logits = self.recognizer.forward_batches([batch, *(b for b, _ in noisy)])
        w = torch.sigmoid(logits[0])
        if cfg.detach_weights:
            w = w.detach()
        loss_rec, bce = self.weighted_loss(model, batch, w)
        if noisy:  # Eq. (2) per batch b^D, averaged over the N - 1 batches
            per_batch = [F.binary_cross_entropy_with_logits(z, label) for z, (_, label) in zip(logits[1:], noisy)]
            loss_aux = per_batch[0] if len(per_batch) == 1 else torch.stack(per_batch).mean()
        else:
            loss_aux = torch.zeros((), device=batch.label.device)
        loss = loss_rec + cfg.alpha * loss_aux
        return loss, {"loss_rec": loss_rec.detach(), "loss_aux": loss_aux.detach(), "bce": bce,
                      "w_batch": w.detach().mean()}


@SEQUENCE_METHODS.register("atjt-wat")
class ATJTWithoutAuxiliaryTask(_RecognizerMethod):
    r"""WAT ablation (Table 4 of the ATJT paper): the same g structure produces the weights
    :math:`w_i` of Eq. (1) but has no target of its own -- no auxiliary noise-recognition task and no
    partition; it is trained only through the recommender's weighted loss
    (``train_recognizer=False``: left untrained and frozen).

    Since :math:`\partial\mathcal{L}_R / \partial w_i = \text{BCE}_i / |b| > 0`, nothing stops g
    from driving every weight towards 0, fastest for high-loss samples; on MovieLens-100K the mean
    weight falls below 1e-4 within one epoch.
    """

    Config = WATConfig

    def setup(self, model, data, ctx):
        super().setup(model, data, ctx)
        if not self.config.train_recognizer:
            self.recognizer.eval()
            self.recognizer.requires_grad_(False)

    def optimizers(self):
        return super().optimizers() if self.config.train_recognizer else {}

    def plan(self, samples, batch_size, generator):
        rounds = super().plan(samples, batch_size, generator)
        self.last_rec_index = torch.arange(len(samples))[torch.randperm(len(samples), generator=generator)]
        return rounds

    def loss(self, model, batch, ctx):
        w = self.recognizer.weights(batch)
        loss_rec, bce = self.weighted_loss(model, batch, w)
        return loss_rec, {"loss_rec": loss_rec.detach(), "bce": bce, "w_batch": w.detach().mean()}


@SEQUENCE_METHODS.register("atjt-dnr")
class DirectNoiseRecognition(_RecognizerMethod):
    r"""DNR ablation (Table 4 of the ATJT paper): g is first trained on its own to tell replaced
    from original sequences, then frozen, and its outputs weight the recommender's loss (Eq. 1,
    no gradient into g).

    To keep the paper's non-overlap, one g per group is pre-trained (``pretrain_epochs``) on the
    other groups' samples in :meth:`setup`; in round ``n`` the recommender trains on group ``n`` with
    the weights of the frozen g_n (in eval mode).
    """

    Config = DNRConfig

    def num_recognizers(self) -> int:
        return self.config.num_groups

    def setup(self, model, data, ctx):
        super().setup(model, data, ctx)
        self.make_partition(data, ctx.seed)
        cfg, seed, device = self.config, ctx.seed, ctx.device
        gen = torch.Generator().manual_seed(seed + 5)
        for r, (g, opt) in enumerate(zip(self.recognizers, self.recognizer_optimizers)):
            g.load_state_dict(self.initial_state)
            g.train()
            for _ in range(cfg.pretrain_epochs):
                samples = data.training_samples(gen)
                index = torch.nonzero(self.groups_of(samples) != r).view(-1)
                for part in shuffled_batches(index, cfg.pretrain_batch_size, gen):
                    batch = data.batch(samples.subset(part)).to(device)
                    loss = self.recognizer_loss(g, batch, cfg.noise_fraction)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            g.eval()
            g.requires_grad_(False)

    def plan(self, samples, batch_size, generator):
        self.samples = samples
        group = self.groups_of(samples)
        indices = [torch.nonzero(group == r).view(-1) for r in range(self.config.num_groups)]
        rounds = [Round(r, [Step(b) for b in shuffled_batches(index, batch_size, generator, samples.position[index])])
                  for r, index in enumerate(indices)]
        last = torch.nonzero(group == self.config.num_groups - 1).view(-1)
        self.last_rec_index = last[torch.randperm(last.numel(), generator=generator)]
        return rounds

    def begin_round(self, index):
        self.current = index

    def optimizers(self):
        return {}

    def loss(self, model, batch, ctx):
        with torch.no_grad():
            w = self.recognizer.weights(batch)
        loss_rec, bce = self.weighted_loss(model, batch, w)
        return loss_rec, {"loss_rec": loss_rec.detach(), "bce": bce, "w_batch": w.mean()}
