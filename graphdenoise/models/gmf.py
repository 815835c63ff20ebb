r"""GMF, the generalised matrix factorisation of He, Liao, Zhang, Nie, Hu, Chua, "Neural Collaborative
Filtering", WWW 2017 (https://arxiv.org/abs/1708.05031), Eq. 9:

.. math::
    \hat y_{ui} = h^\top (p_u \odot q_i) + b

an element-wise product of the user and item embeddings followed by a learned output layer ``h``
(plain MF is the special case ``h = 1, b = 0``). The output is a logit: the T-CE papers and the
RecSys'25 study train it pointwise with BCE-with-logits on each positive and one sampled negative
(``bachml/EvalDenoisingRec`` ``code/model.py:9-125`` with ``model='GMF'``, ``code/loss.py:69-72``);
every pairwise method of graphdenoise (BPR, TIL, ...) runs on it too.

This is the GMF branch of :class:`~graphdenoise.models.NeuMF` on its own: the same prediction-layer
initialisation (Kaiming-uniform, ``a=1``, ``'sigmoid'``; zero bias, as the authors' code,
``code/model.py:51-67``) and the same factorised full ranking :math:`(p_u \odot h)^\top q_i + b`.
Embeddings are Xavier-uniform by default (the project's setting); ``init_std=0.01`` gives the study's
N(0, 0.01) (``code/model.py:54-57``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ..utils import take_rows
from .base import MODELS, EncoderConfig
from ..config import check_fields
from .mf import MF


@dataclass
class GMFConfig(EncoderConfig):
    """Options of :class:`GMF`."""

    init_std: Optional[float] = None
    """Standard deviation of normal embedding initialisation (the study's code: 0.01); None: Xavier-uniform."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, init_std="> 0")  # None: Xavier


def init_prediction_layer(layer: nn.Linear) -> None:
    r"""NCF's prediction-layer initialisation: Kaiming-uniform (``a=1``, ``'sigmoid'``), zero bias."""
    nn.init.kaiming_uniform_(layer.weight, a=1, nonlinearity="sigmoid")
    nn.init.zeros_(layer.bias)


@MODELS.register("gmf")
class GMF(MF):
    r"""Generalised matrix factorisation with a learned output layer.

    Representations are the embedding rows (as :class:`~graphdenoise.models.MF`, with its row-sparse
    gradients); :meth:`score_pairs` and :meth:`score_matrix` apply the output layer.

    Args:
        data (HeteroData): The dataset (node counts and training edges).
        config (GMFConfig, optional): ``embedding_dim`` (default: 64; the study uses 32), ``init_std``
            (default: :obj:`None`, Xavier).
    """

    Config = GMFConfig
    linear_representations = False  # the output layer's parameters act in the score, not the representations

    def __init__(self, data, config=None, **overrides):
        super().__init__(data, config, **overrides)
        self.predict = nn.Linear(self.embedding_dim, 1)
        self.reset_parameters()

    def reset_parameters(self):
        if self.config.init_std is None:
            super().reset_parameters()
        else:
            for table in self.embedding_tables():
                nn.init.normal_(table, std=self.config.init_std)
        init_prediction_layer(self.predict)

    def score_pairs(self, user_rep: Tensor, item_rep: Tensor) -> Tensor:
        return self.predict(user_rep * item_rep).squeeze(-1)

    @torch.no_grad()
    def rank_scores(self, user_rep: Tensor, item_rep: Tensor, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        r""":math:`(p_u \odot h)^\top q_i + b` as one batched matrix product (see the base class)."""
        user = take_rows(user_rep, user_idx) * self.predict.weight[0]
        return torch.bmm(take_rows(item_rep, item_idx), user.unsqueeze(-1)).squeeze(-1).add_(self.predict.bias)

    def score_matrix(self, user_rep: Tensor, item_rep: Tensor, out: Optional[Tensor] = None) -> Tensor:
        r"""All scores as one product, :math:`(p_u \odot h)^\top q_i + b`, ``[B, N]``."""
        return super().score_matrix(user_rep * self.predict.weight[0], item_rep, out).add_(self.predict.bias)
