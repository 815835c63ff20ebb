r"""Sparse propagation operators with a row-restricted forward.

With one graph layer, a training batch needs the propagated embeddings of its own users and items
only, not of every node (measured on Gowalla, one layer: 0.25-0.34x of a full-propagation epoch).
:class:`SparseOperator` holds a CSR matrix ``A`` and its adjoint ``A^T`` and computes ``(A X)[rows]``
from the selected CSR rows alone. Its backward is one full product with ``A^T`` (``A`` itself when it
is symmetric, as the normalised LightGCN adjacency is), written with the same autograd function, so it
is differentiable any number of times: the bilevel look-ahead of TIL and BOD's gradient matching
differentiate through it.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)


def csr_from_coo(row: Tensor, col: Tensor, value: Tensor, size) -> Tensor:
    """A coalesced CSR tensor of ``size`` from COO triples (duplicates summed)."""
    coo = torch.sparse_coo_tensor(torch.stack([row, col]), value, size, check_invariants=False).coalesce()
    return coo.to_sparse_csr()


def select_csr_rows(csr: Tensor, rows: Tensor) -> Tensor:
    r"""The sub-matrix ``csr[rows]`` as CSR (vectorised gather of the rows' non-zeros)."""
    crow, col, val = csr.crow_indices(), csr.col_indices(), csr.values()
    starts = crow[rows]
    counts = crow[rows + 1] - starts
    new_crow = torch.zeros(rows.numel() + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(counts, 0, out=new_crow[1:])
    total = int(new_crow[-1])
    offsets = torch.arange(total, device=crow.device) - torch.repeat_interleave(new_crow[:-1], counts, output_size=total)
    gather = torch.repeat_interleave(starts, counts, output_size=total) + offsets
    return torch.sparse_csr_tensor(new_crow, col[gather], val[gather], (rows.numel(), csr.size(1)),
                                   check_invariants=False)


def sparse_matmul(matrix: Tensor, x: Tensor) -> Tensor:
    """``matrix @ x`` for a CSR ``matrix``. On CPU through ``addmm(out=, beta=0)``: the plain product
    copies its result once more, and this ran 1.7-2x faster on the Amazon-CD adjacency (41k x 41k,
    585k non-zeros, d = 64, one thread)."""
    if x.device.type != "cpu":
        return matrix @ x
    out = torch.empty(matrix.size(0), x.size(1), dtype=x.dtype, device=x.device)
    return torch.addmm(out, matrix, x, beta=0, out=out)


class _RowProduct(torch.autograd.Function):
    """``out = A[rows] @ x``; backward: ``A^T @ scatter(grad -> rows)``, itself a :class:`_RowProduct`."""

    @staticmethod
    def forward(ctx, x: Tensor, op: "SparseOperator", rows: Optional[Tensor], sub: Optional[Tensor]) -> Tensor:
        if sub is None:
            sub = op.matrix if rows is None else select_csr_rows(op.matrix, rows)
        ctx.op, ctx.rows, ctx.sub = op, rows, sub
        return sparse_matmul(sub, x)

    @staticmethod
    def jvp(ctx, x_tangent: Tensor, *_):
        # Forward-mode derivative (TIL's hypergradient uses it): the map is linear in x.
        return sparse_matmul(ctx.sub, x_tangent)

    @staticmethod
    def backward(ctx, grad: Tensor):
        op, rows = ctx.op, ctx.rows
        if rows is not None:
            grad = grad.new_zeros(op.matrix.size(0), grad.size(1)).index_copy_(0, rows, grad)
        return _RowProduct.apply(grad, op.adjoint(), None, None), None, None, None


class SparseOperator:
    r"""A fixed sparse matrix ``A`` (CSR) and its adjoint, applied as ``(A x)[rows]`` with autograd.

    Args:
        matrix (torch.Tensor): The CSR matrix of shape ``[M, N]``.
        symmetric (bool): Whether ``A == A^T`` (then no transpose is stored). (default: :obj:`False`)
    """

    def __init__(self, matrix: Tensor, symmetric: bool = False, _adjoint: "SparseOperator" = None):
        if matrix.layout != torch.sparse_csr:
            matrix = matrix.to_sparse_csr()
        self.matrix = matrix
        self.symmetric = symmetric
        self._adjoint = _adjoint
        self._last_rows: Optional[tuple] = None

    @property
    def shape(self):
        return tuple(self.matrix.shape)

    def adjoint(self) -> "SparseOperator":
        if self.symmetric:
            return self
        if self._adjoint is None:
            transposed = self.matrix.to_sparse_coo().t().coalesce().to_sparse_csr()
            self._adjoint = SparseOperator(transposed, _adjoint=self)
        return self._adjoint

    def rows(self, rows: Optional[Tensor]) -> Tensor:
        """The CSR sub-matrix ``A[rows]`` (``A`` itself when ``rows`` is None). The last one is kept:
        asked again for the same rows (TIL's look-ahead and JVP propagate the inner batch's nodes
        twice more), it is not rebuilt."""
        if rows is None:
            return self.matrix
        last = self._last_rows
        if last is not None and last[0].shape == rows.shape and torch.equal(last[0], rows):
            return last[1]
        sub = select_csr_rows(self.matrix, rows)
        self._last_rows = (rows.clone(), sub)  # a copy: a caller may reuse its index tensor in place
        return sub

    def __call__(self, x: Tensor, rows: Optional[Tensor] = None, sub: Optional[Tensor] = None) -> Tensor:
        """``(A @ x)[rows]`` (all rows when ``rows`` is None); ``rows`` must be unique.
        ``sub`` may pass ``self.rows(rows)`` when it was already built."""
        return _RowProduct.apply(x, self, rows, sub)

    def to(self, device, dtype: Optional[torch.dtype] = None) -> "SparseOperator":
        """The operator on ``device``, its values cast to ``dtype`` when that is a floating type."""
        dtype = dtype if dtype is not None and dtype.is_floating_point else self.matrix.dtype
        moved = SparseOperator(self.matrix.to(device, dtype), self.symmetric)
        if self._adjoint is not None and not self.symmetric:
            moved._adjoint = SparseOperator(self._adjoint.matrix.to(device, dtype), _adjoint=moved)
        return moved

    def placed(self, device, dtype) -> bool:
        """Whether the operator already lives on ``device`` with floating ``dtype`` (if floating)."""
        return self.matrix.device == device and (not dtype.is_floating_point or self.matrix.dtype == dtype)

    def __repr__(self) -> str:
        return f"SparseOperator(shape={self.shape}, nnz={self.matrix._nnz()}, symmetric={self.symmetric})"


def mean_operator(edge_index: Tensor, num_targets: int, num_sources: int) -> SparseOperator:
    r"""Row-normalised ``[num_targets, num_sources]`` operator of ``edge_index`` (``[0]`` target,
    ``[1]`` source): ``(A x)_t`` is the mean of ``x`` over the sources of ``t`` (0 without any)."""
    target, source = edge_index[0].long(), edge_index[1].long()
    deg = torch.bincount(target, minlength=num_targets).float()
    value = deg.reciprocal()[target]
    return SparseOperator(csr_from_coo(target, source, value, (num_targets, num_sources)))


class SparseConv(MessagePassing):
    r"""PyG sparse message passing over a fixed :class:`SparseOperator`: ``out = (A x)[rows]``.

    PyG receives the row block ``A[rows]`` as its sparse ``adj_t`` and calls
    :meth:`message_and_aggregate`; the operator supplies the (twice-differentiable) backward.

    Shapes:
        - **input:** ``x`` ``[A.shape[1], d]``, ``rows`` ``[R]`` unique target ids or None
        - **output:** ``[R, d]`` (``[A.shape[0], d]`` when ``rows`` is None)
    """

    def __init__(self):
        super().__init__(aggr="add")

    def forward(self, x: Tensor, adj: SparseOperator, rows: Optional[Tensor] = None) -> Tensor:
        return self.propagate(adj.rows(rows), x=x, op=adj, rows=rows)

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor, op: SparseOperator, rows: Optional[Tensor]) -> Tensor:
        return op(x, rows, sub=adj_t)
