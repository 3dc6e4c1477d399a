"""CI timing benchmarks (pytest-benchmark): a forward pass and a training step of every tiny preset,
on the CPU and, marked `gpu`, on CUDA.

Under the default `python -m pytest` (pyproject's addopts has --benchmark-disable) each test calls
its step once: a smoke test of exactly the code that is timed. Timing and gating (docs/ci.md):

    pytest tests/benchmarks --benchmark-enable --benchmark-autosave          # save a reference run
    pytest tests/benchmarks --benchmark-enable --benchmark-compare \\
        --benchmark-compare-fail=median:10%                                  # exit 1 if slower

The steps are those `rinbench run` times (bench/measure/cell.py): fp32, eager, batch 2; a forward
pass without gradients (RIN with the latents of a previous call, as in sampling), and a training
step of bench.diffusion.training_loss (RIN's includes its self-conditioning pass), backward and
AdamW. On CUDA the timed function ends with a synchronize: kernel launches return before the GPU
has finished, so an unsynchronised timer would time the launches (PyTorch documentation, "CUDA
semantics", section "Asynchronous execution").
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from bench import registry
from bench.cell import Cell
from bench.diffusion import training_loss

BATCH = 2
TINY_PRESETS = [slug for slug in registry.slugs() if slug.endswith("-tiny")]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def forward_step(slug: str, device: str) -> Callable[[], torch.Tensor]:
    cfg = registry.config(slug)
    with torch.device(device):
        model = registry.build(slug).eval()
    x, t, y = registry.example_inputs(cfg, BATCH, device)
    state = None
    if registry.diffusion_needs(cfg).recurrent_state:  # RIN: a sampler's later calls get latents
        with torch.no_grad():
            state = model(x, t, y)[1]

    def step():
        with torch.no_grad():
            return model(x, t, y, state)[0]

    return step


def train_step(slug: str, device: str) -> Callable[[], torch.Tensor]:
    cfg = registry.config(slug)
    with torch.device(device):
        model = registry.build(slug).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x0, _, y = registry.example_inputs(cfg, BATCH, device)
    needs = registry.diffusion_needs(cfg)
    generator = torch.Generator(device).manual_seed(0)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = training_loss(model, x0, y, needs=needs, generator=generator)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


STEPS = {"forward": forward_step, "train_step": train_step}


def synchronised(step: Callable[[], torch.Tensor], device: str) -> Callable[[], torch.Tensor]:
    if device != "cuda":
        return step

    def step_and_wait():
        out = step()
        torch.cuda.synchronize()
        return out

    return step_and_wait


# Calibrated rounds for at most half a second per benchmark once enabled: ten of them stay
# under a minute on a 2-core CPU. The warm-up calls are not timed.
@pytest.mark.benchmark(max_time=0.5, min_rounds=5, warmup=True, warmup_iterations=2)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("phase", list(STEPS))
@pytest.mark.parametrize("slug", TINY_PRESETS)
def test_step_speed(benchmark, slug, phase, device):
    step = synchronised(STEPS[phase](slug, device), device)
    step()  # the first call allocates and picks kernels; it is never one of the timed rounds
    cell = Cell(slug, registry.config(slug).resolution, BATCH, "fp32", phase, "eager", device)
    benchmark.group = f"{phase} on {device}"
    benchmark.extra_info |= {"cell": cell.id, "images_per_call": BATCH}

    out = benchmark(step)

    assert torch.isfinite(out).all(), f"{cell.id} gave non-finite values"
