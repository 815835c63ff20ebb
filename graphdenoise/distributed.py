r"""Data-parallel training over :mod:`torch.distributed` (launched by ``torchrun``).

What is sharded and what is replicated:

* every rank holds a full replica of the model (embedding tables included), of the method's
  parameters (TIL's weight generator and cluster centres, BOD's generator) and of the optimisers;
* each epoch's training edges are split into disjoint, equally many batches per rank
  (:class:`~graphdenoise.sampling.TripletSampler` with ``rank``/``world_size``): together the ranks
  visit every edge once per epoch; negatives are drawn with a per-rank generator;
* after every backward pass the gradients are averaged over ranks (one flattened ``all_reduce``),
  so the replicas take identical optimiser steps; TIL averages the outer-loss gradient at the
  look-ahead point and the weight generator's gradient too, so :math:`\Lambda` is the same everywhere;
* evaluation is sharded by users: each rank ranks its users, the top-k lists are gathered and every
  rank computes the metrics in the single-process order, so they equal the single-process metrics.

Why not :class:`torch.nn.parallel.DistributedDataParallel`: the methods call ``model.triplet`` (not
``forward``) and the bilevel methods differentiate the model several times per step
(``torch.autograd.grad``, ``functional_call`` look-aheads, forward-mode JVPs), which DDP's reducer does
not support. Averaging the gradients explicitly is the same arithmetic as DDP's all-reduce.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, List, Optional

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class World:
    """This process's place among the ranks (``world_size == 1``: a single process, no communication)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_mean(self, tensors: Iterable[Optional[Tensor]]) -> None:
        """Average ``tensors`` over ranks in place (one flattened all-reduce)."""
        if not self.is_distributed:
            return
        tensors = [t for t in tensors if t is not None]
        if not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()

    def all_reduce_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        self.all_reduce_mean([p.grad for p in parameters])

    def all_gather(self, tensor: Tensor) -> List[Tensor]:
        """``tensor`` of every rank (sizes may differ along dim 0)."""
        if not self.is_distributed:
            return [tensor]
        size = torch.tensor([tensor.size(0)], device=tensor.device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        longest = int(max(int(s) for s in sizes))
        padded = tensor.new_zeros((longest,) + tuple(tensor.shape[1:]))
        padded[: tensor.size(0)] = tensor
        gathered = [torch.zeros_like(padded) for _ in range(self.world_size)]
        dist.all_gather(gathered, padded)
        return [g[: int(s)] for g, s in zip(gathered, sizes)]

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()


SINGLE = World()


def current_world() -> World:
    """The world of the initialised default process group, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return SINGLE


def init_from_env(device: Optional[str] = None) -> World:
    r"""Initialise the default process group from ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``...): ``nccl`` when training on CUDA, ``gloo`` otherwise."""
    if dist.is_initialized():
        return current_world()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ValueError("--distributed needs a torchrun launch (RANK and WORLD_SIZE are not set); e.g. "
                         "torchrun --nproc_per_node 2 -m graphdenoise fit ... --distributed")
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return current_world()


def rank_device(device: Optional[str], world: World) -> Optional[str]:
    """The device of this rank: ``cuda:LOCAL_RANK`` for CUDA runs, the given device otherwise."""
    if world.is_distributed and torch.cuda.is_available() and (device is None or device == "cuda"):
        return f"cuda:{int(os.environ.get('LOCAL_RANK', world.rank % torch.cuda.device_count()))}"
    return device
