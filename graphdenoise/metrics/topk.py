r"""Exact row-wise top-k of a wide score matrix, faster than :func:`torch.topk` on the CPU.

Full-ranking evaluation spends more time in ``scores.topk(k, dim=1)`` than in the score GEMM itself on the
CPU (Gowalla, 29,858 users x 40,981 items, top-50, one thread: GEMM 38% of the evaluation, top-k 53%;
``benchmarks/speed.py --parts eval --breakdown``). :func:`row_topk` finds the same top-``k`` values with a
block bound:

1. the ``m`` columns are cut into ``nb = m // B`` strided blocks ``{j, j + nb, ..., j + (B - 1) nb}``, and each
   block's maximum is one vectorised reduction over the ``[n, B, nb]`` view (no copy);
2. the ``k`` blocks with the largest maxima are found, recursively by the same rule;
3. the exact top-``k`` is taken among the ``k * B`` elements of those blocks (plus the ``m - nb B`` columns
   that fit no block).

Why step 3 is exact: let ``v_i`` be the ``i``-th largest value of a row (``i <= k``). Either every block that
holds one of the ``i`` largest elements was chosen, and those elements are candidates; or one such block, with
maximum ``>= v_i``, was not chosen, and then each of the ``k >= i`` chosen blocks has a maximum ``>= v_i``, so
``i`` candidates are ``>= v_i``. The candidates are a subset of the row, so the ``i``-th largest candidate is
exactly ``v_i``, for every ``i``. The values (and so every rank-based metric) equal :func:`torch.topk`'s; only
which of several *tied* elements is returned may differ, as it may between two torch builds.
"""
from __future__ import annotations

import torch
from torch import Tensor

BLOCK = 8
"""Elements per block: one block maximum per 8 elements is one fast pass (measured: 8 beat 4 and 16)."""

DIRECT = 2048
"""Rows at most this wide go straight to :func:`torch.topk` (the bound saves nothing there)."""


def row_topk(scores: Tensor, k: int, sorted: bool = True) -> Tensor:
    r"""Column indices of the ``k`` largest entries of each row of ``scores`` (``[n, m]``), largest first,
    as :func:`torch.topk` ``(k, dim=1).indices`` up to the order of tied values.

    On CUDA (where :func:`torch.topk` is fast) and for narrow rows this is :func:`torch.topk` itself.

    Args:
        scores (Tensor): Scores, ``[n, m]``, with ``k <= m``. ``-inf`` entries (masked items) are ranked last.
        k (int): How many columns per row.
        sorted (bool): Largest first; :obj:`False` returns the same set in no particular order (the
            recursion's block ids need no order: about 8% of the top-k's time). (default: :obj:`True`)
    """
    n, m = scores.shape
    nb = m // BLOCK
    if scores.device.type != "cpu" or m <= DIRECT or nb < k or not scores.is_contiguous():
        return scores.topk(k, dim=1, sorted=sorted).indices
    head = scores[:, :nb * BLOCK].unflatten(1, (BLOCK, nb))  # head[r, t, j] = scores[r, t * nb + j]
    blocks = row_topk(head.amax(dim=1), k, sorted=False)  # [n, k] block ids j
    candidates = head.gather(2, blocks.unsqueeze(1).expand(n, BLOCK, k)).reshape(n, BLOCK * k)
    columns = (blocks.unsqueeze(1) + nb * torch.arange(BLOCK).view(1, BLOCK, 1)).reshape(n, BLOCK * k)
    if nb * BLOCK < m:  # the last m % BLOCK columns are always candidates
        candidates = torch.cat([candidates, scores[:, nb * BLOCK:]], dim=1)
        columns = torch.cat([columns, torch.arange(nb * BLOCK, m).expand(n, -1)], dim=1)
    return columns.gather(1, candidates.topk(k, dim=1, sorted=sorted).indices)
