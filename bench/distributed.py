"""Which part of the work this process does under torchrun, and how the ranks combine results.

Sampling, feature extraction and training split their work the same way: the work is cut into
batches, batch k goes to rank k mod world, and everything random in batch k is seeded from
(seed, k) alone, so any rank can make any batch and the merged result equals a single process's.
Without torchrun this is rank 0 of 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torch.distributed job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def wire(self) -> torch.device:
        """Where tensors must be for a collective: the GPU under NCCL, the CPU under gloo."""
        if self.world > 1 and torch.distributed.get_backend() == "nccl":
            return self.device
        return torch.device("cpu")

    def my_batches(self, count: int) -> range:
        """The indices of this rank's batches among `count` (round-robin)."""
        return range(self.rank, count, self.world)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def broadcast(self, obj):
        """rank 0's `obj` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, value: int) -> int:
        """The sum of an integer over the ranks."""
        if self.world == 1:
            return value
        total = torch.tensor([value], device=self.wire)
        torch.distributed.all_reduce(total)
        return int(total.item())

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar tensor over the ranks."""
        if self.world > 1:
            value = value.float().clone().to(self.wire)
            torch.distributed.all_reduce(value)
            value /= self.world
        return float(value)


def distributed(device: str | torch.device | None = None) -> Distributed:
    """Join the torchrun job if there is one: gloo on CPU, NCCL on GPUs, one GPU per local rank.

    A process group someone else started (the tests spawn their own) is used as it is. Without
    torchrun's environment and no group, this is a single process on `device` (default: cuda if
    available).
    """
    dist = torch.distributed
    want_cuda = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    started = dist.is_available() and dist.is_initialized()
    if not started and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
        started = True
    if not started:
        return Distributed(0, 1, torch.device(device or ("cuda" if want_cuda else "cpu")))
    rank, world = dist.get_rank(), dist.get_world_size()
    if want_cuda:
        local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        torch.cuda.set_device(local)
        return Distributed(rank, world, torch.device("cuda", local))
    return Distributed(rank, world, torch.device("cpu"))


def batch_spans(n: int, batch: int) -> list[tuple[int, int]]:
    """[start, stop) of each batch of `batch` items among n (the last one may be shorter)."""
    if batch < 1:
        raise ValueError(f"a batch must hold at least one image, got {batch}")
    return [(start, min(start + batch, n)) for start in range(0, n, batch)]


def seed_from(*words: int) -> int:
    """A 63-bit seed mixed from non-negative integers (numpy's SeedSequence hashing): the seed of
    batch k is seed_from(seed, k), the same on whichever rank makes the batch."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0] >> 1)
