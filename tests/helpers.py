"""Helpers shared by the model tests (RIN, ADM U-Net, DiT, 3-D U-Net): counting on the meta device,
filling zero-initialised weights, and the seeded-build check every family passes."""

import functools
import socket

import torch
from torch.utils.flop_counter import FlopCounterMode


@functools.cache
def meta_counts(build, cfg) -> tuple[int, int]:
    """(parameters, forward MACs for batch 1) of build(cfg), counted on the meta device (where SDPA
    is counted; FlopCounterMode counts 2 FLOPs a multiply-add). Cached: configs are frozen."""
    with torch.device("meta"):
        model = build(cfg)
        x = torch.empty(1, *cfg.input_shape)
        y = torch.zeros(1, dtype=torch.long) if cfg.num_classes else None
        with FlopCounterMode(display=False) as counter:
            model(x, torch.rand(1), y)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every weight drawn from N(0, 0.05^2): zero-initialised output layers would make a fresh model
    output exactly 0 and hide most of the network."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


def forward_backward(model: torch.nn.Module, *inputs):
    """model(*inputs), then the backward pass of a squared-output loss, which must give every
    parameter a gradient; returns the forward's (out, state)."""
    out, state = model(*inputs)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    return out, state


def assert_seeded_build_and_forward_are_deterministic(build, cfg, *inputs) -> None:
    """Two builds under one seed hold equal weights; the forward pass (weights randomized, eval
    mode) gives a nonzero output, the same on a second call."""
    torch.manual_seed(1)
    first = build(cfg)
    torch.manual_seed(1)
    second = build(cfg)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    model = randomized(first, seed=2).eval()
    out = model(*inputs)[0]
    assert out.abs().max() > 0
    assert torch.equal(out, model(*inputs)[0])


def spawn_gloo(fn, world: int, *args) -> None:
    """Run fn(rank, *args) in `world` processes joined in a gloo process group on this machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torch.multiprocessing.spawn(_gloo_worker, args=(world, port, fn, args), nprocs=world)


def _gloo_worker(rank: int, world: int, port: int, fn, args: tuple) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        fn(rank, *args)
    finally:
        torch.distributed.destroy_process_group()
