r"""CDAE, the Collaborative Denoising Auto-Encoder of Wu, DuBois, Zheng, Ester, "Collaborative Denoising
Auto-Encoders for Top-N Recommender Systems", WSDM 2016 (https://doi.org/10.1145/2835776.2835837).

The input is the user's binary vector of training items :math:`y_u`, corrupted by drop-out noise
(each observed item is dropped with probability :math:`q`, the survivors scaled by :math:`1/(1-q)`);
a hidden layer adds a user-specific node :math:`V_u`, and one output unit per item reconstructs the
vector (the structure of the paper and of the authors' C++ code, ``jasonyaw/CDAE``
``src/model/recsys/cdae.hpp``; equation numbers not checked against the PDF):

.. math::
    z_u = h\Big(\sum_{i \in \tilde{\mathcal I}_u} \frac{W_i}{1-q} + V_u + b\Big), \qquad
    \hat y_{ui} = \sigma\big(W'^\top_i z_u + b'_i\big)

At inference the input is not corrupted. The model returns the logit :math:`W'^\top_i z_u + b'_i`
(the sigmoid output of the paper is in the BCE-with-logits loss), so CDAE sits behind the encoder
interface: a user's representation is ``[z_u, 1]``, an item's ``[W'_i, b'_i]``, and a score is their
inner product. Full ranking is one matrix product per user chunk, and every pointwise (BCE with sampled
negatives: T-CE, R-CE, ...) and pairwise (BPR, TIL, ...) method trains it through :meth:`triplet`.

Efficiency: :math:`z_u` is computed sparsely from the CSR rows of the batch's users' training edges
(one row lookup and one ``index_add_``, the drop-out mask as per-item weights), never from a dense
users x items matrix; a batch draws one corruption per distinct user.

Defaults follow the CDAE code of the RecSys'25 study (``bachml/EvalDenoisingRec``
``code/CDAE/model.py:114-140``, identical to ``hyNTU/UDT`` ``CDAE/model.py``): corruption :math:`q = 0.2` and ReLU hidden units
(``code/CDAE/main.py:258`` builds ``CDAE(user_num, item_num, 32, 0.2)``: hidden size 32), untied encoder
and decoder, Xavier-normal weights and PyTorch's default uniform biases. The paper's sigmoid hidden
layer (``activation="sigmoid"``) and DeCA's tanh (``wangyu-ustc/DeCA`` ``CDAE.py:24-70``, which also
normalises the input and uses :math:`q = 0.5`) are options, and so is DeCA's input normalisation (``input_norm='batch'``).

Batches: by default a batch is a set of (user, positive, negative) triplets drawn by the trainer's
sampler (negatives rejected against the training items), so the same losses apply as on every other
backbone. The authors of DeCA and of the study feed a batch of USERS instead, with their whole rows
(``code/CDAE/main.py:292-319``: BCE over each user's positives and as many uniform draws over all
items); :attr:`user_row_batches` lets a method ask the trainer for such batches
(:attr:`~graphdenoise.methods.base.SamplingSpec.batches`: DeCA, DeCA(p) and UDT do on CDAE) and
score their cells with :meth:`~graphdenoise.models.base.Recommender.cell_scores`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..utils import take_rows
from .base import MODELS, EncoderConfig, Recommender
from ..config import check_fields

ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": lambda x: x}


@dataclass
class CDAEConfig(EncoderConfig):
    """``embedding_dim`` is the size of the hidden layer (the study's CDAE uses 32)."""

    corruption: float = 0.2
    """Drop-out probability :math:`q` of each observed input item in training (the study: 0.2; DeCA: 0.5)."""
    activation: str = "relu"
    """Hidden activation: ``relu`` (the study), ``sigmoid`` (the paper), ``tanh`` (DeCA) or ``identity``."""
    input_norm: str = "none"
    """``none`` (binary input) or ``batch`` (DeCA's CDAE, ``CDAE.py:53-60``: a cell of the input is
    divided by :math:`\sqrt{\|x_u\|_2\,\|x_{\cdot i}\|_2}`, the item's norm taken over the users encoded
    together -- a batch of users' rows in training, an evaluation chunk at inference)."""

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, corruption="[0, 1)", activation=tuple(sorted(ACTIVATIONS)), input_norm=("none", "batch"))


@MODELS.register("cdae")
class CDAE(Recommender):
    r"""Collaborative denoising auto-encoder over each user's training items.

    :meth:`embedding_tables` returns the user nodes :math:`V` and the input item weights :math:`W`
    (the ego tables TIL's states and BOD read); :meth:`regularization` also covers the output weights
    :math:`W'` of the batch's items.

    Args:
        data (HeteroData): The dataset (node counts and training edges: the users' input vectors).
        config (CDAEConfig, optional): ``embedding_dim`` (hidden size, default: 64), ``corruption``
            (default: 0.2), ``activation`` (default: ``"relu"``), ``input_norm`` (default: ``"none"``).

    Shapes:
        - **representations:** ``[U, d + 1]``, ``[I, d + 1]``
        - **score_matrix:** ``[B, d + 1]`` and ``[N, d + 1]`` -> ``[B, N]``
    """

    Config = CDAEConfig
    user_row_batches = True

    def __init__(self, data, config: Optional[CDAEConfig] = None, **overrides):
        super().__init__(data, config, **overrides)
        d = self.embedding_dim
        self.corruption = self.config.corruption
        self.activation = ACTIVATIONS[self.config.activation]
        self.user_node = nn.Embedding(self.num_users, d)
        self.item_input = nn.Embedding(self.num_items, d)
        self.input_bias = nn.Parameter(torch.empty(d))
        self.item_output = nn.Embedding(self.num_items, d)
        self.output_bias = nn.Parameter(torch.empty(self.num_items))
        self.reset_parameters()

    def reset_parameters(self):
        for table in (self.user_node, self.item_input, self.item_output):
            nn.init.xavier_normal_(table.weight)
        # nn.Linear's default biases: encoder fan-in = num_items, decoder fan-in = hidden size
        for bias, fan_in in ((self.input_bias, self.num_items), (self.output_bias, self.embedding_dim)):
            nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    @property
    def representation_dim(self) -> int:
        return self.embedding_dim + 1

    def embedding_tables(self) -> Tuple[Tensor, Tensor]:
        return self.user_node.weight, self.item_input.weight

    def hidden(self, users: Optional[Tensor] = None) -> Tensor:
        r""":math:`z_u` of ``users`` (all when :obj:`None`), ``[B, d]``; the input is corrupted in training
        mode."""
        index = self.train_index
        if users is None:
            users = torch.arange(self.num_users, device=index.keys.device)
        row, items = index.gather_rows(users)
        inputs = take_rows(self.item_input.weight, items)
        scale = None
        if self.config.input_norm == "batch":  # ||x_u|| ||x_.i|| = sqrt(n_u c_i) on binary rows
            within = torch.bincount(items, minlength=self.num_items).index_select(0, items)
            scale = (index.counts[users].index_select(0, row) * within).to(inputs.dtype).pow(-0.25)
        if self.training and self.corruption > 0:
            keep = torch.rand(items.shape, device=items.device) >= self.corruption
            drop = keep.to(inputs.dtype) / (1.0 - self.corruption)
            scale = drop if scale is None else scale * drop
        if scale is not None:
            inputs = inputs * scale.unsqueeze(1)
        # index_select + index_add_ rather than embedding_bag: twice differentiable (TIL, BOD)
        summed = inputs.new_zeros(users.numel(), self.embedding_dim).index_add_(0, row, inputs)
        return self.activation(summed + self.user_node(users) + self.input_bias)

    def representations(self, users: Optional[Tensor] = None, items: Optional[Tensor] = None):
        z = self.hidden(users)
        user_rep = torch.cat([z, z.new_ones(z.size(0), 1)], dim=1)
        weight, bias = self.item_output.weight, self.output_bias
        if items is not None:
            weight, bias = take_rows(weight, items), take_rows(bias, items)
        return user_rep, torch.cat([weight, bias.unsqueeze(1)], dim=1)

    def regularization(self, users: Tensor, pos_items: Tensor, neg_items: Tensor, scores=None) -> Tensor:
        r"""L2 of the batch's user nodes and of the input and output weights of its items,
        :math:`\frac{1}{2B}\sum \|\cdot\|^2` (the paper penalises every weight)."""
        items = torch.cat([pos_items.reshape(-1), neg_items.reshape(-1)])
        sq = self.user_node.weight[users].pow(2).sum()
        for table in (self.item_input.weight, self.item_output.weight):
            sq = sq + table[items].pow(2).sum()
        return 0.5 * sq / max(users.numel(), 1)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", corruption={self.corruption:g}, "
                f"activation={self.config.activation}"
                + ("" if self.config.input_norm == "none" else f", input_norm={self.config.input_norm}"))
