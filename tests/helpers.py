"""Helpers shared by the tests: counting on the meta device, filling zero-initialised weights, the
seeded-build check every family passes, stand-in modules that worker processes import, the
`rinbench` command in a process of its own, the optional libraries a test needs, skipped with the
reason when they cannot be imported, and a matmul peak as the runner's probe hands it over."""

import functools
import importlib
import importlib.util
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import registry
from bench.measure.facts import MatmulPeak, PeakConditions
from bench.measure.flops import count_flops

# A made-up matmul peak with its conditions, as the runner's probe hands a measured one to a cell
# (no second of timing a real one), so that every stored peak key is there.
MEASURED_PEAK = MatmulPeak(
    tflops=0.08,
    dtype="float32",
    n=1024,
    conditions=PeakConditions(
        rel_iqr=0.01,
        stalls=0,
        noisy=0,
        noisy_reason="steady: ...",
        threads=2,
        cpu_util=None,
        load_avg_1m=0.5,
    ),
)


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


def count_preset(slug: str, resolution: int | None = None, batch: int = 2, **kwargs) -> dict:
    """bench.measure.flops.count_flops of a registry preset (at another resolution if given), with
    its family's FLOP groups and diffusion needs, on the meta device."""
    entry = registry.get(slug)
    cfg = registry.config(slug, resolution)
    return count_flops(
        lambda: entry.builder(cfg),
        lambda model: registry.example_inputs(cfg, batch, "meta"),
        group=entry.flop_grouping,
        needs=registry.diffusion_needs(cfg),
        **kwargs,
    )


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


REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str):
    """A script of the repository that is not a package module (benchmarks/...), as a module."""
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pythonpath_with(*folders: Path) -> str:
    """PYTHONPATH for a process of its own: `folders` first, then the repository, then what
    PYTHONPATH held here."""
    paths = [*map(str, folders), str(REPO), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in paths if p)


# The start of a `python -c` program that a test interrupts with SIGINT: Python's own handler
# (KeyboardInterrupt), as under a terminal. A test run started in the background (`pytest &`, `nohup`)
# inherits SIGINT ignored, which Python keeps, and the program would then never hear the signal.
HEAR_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "


def write_stand_in(tmp_path_factory, module: str, source: str) -> Path:
    """A fresh folder holding `module`.py written from `source`: a module that stands in for part
    of rinbench (a measure function, a device probe), made importable by `use_stand_in`."""
    folder = tmp_path_factory.mktemp(module)
    (folder / f"{module}.py").write_text(source)
    return folder


def use_stand_in(monkeypatch, module_dir: Path, out_dir: Path, out_env: str) -> Path:
    """Make the stand-in modules in `module_dir` importable here and in the processes this one
    starts (the workers find them through PYTHONPATH), and tell them through the environment
    variable `out_env` the folder they report in: `out_dir`, created and returned."""
    monkeypatch.syspath_prepend(str(module_dir))
    monkeypatch.setenv("PYTHONPATH", pythonpath_with(module_dir))
    out_dir.mkdir()
    monkeypatch.setenv(out_env, str(out_dir))
    return out_dir


def rinbench(*args: str, cwd: Path, path: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a fresh process, run from `cwd`, with the repository (and first
    `path`, a folder of packages, e.g. a stand-in plugin) on PYTHONPATH; its output captured."""
    env = dict(os.environ, PYTHONPATH=pythonpath_with(*([path] if path else [])))
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


class Terminal(io.StringIO):
    """A text buffer that says it is a terminal, as a progress bar wants before it draws."""

    def isatty(self):
        return True


def stderr_on_a_terminal(monkeypatch) -> Terminal:
    """sys.stderr replaced by a Terminal for the rest of the test, to read what was shown there.
    Called in the test itself: pytest sets its own sys.stderr again after the fixtures' set-up."""
    shown = Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    return shown


def optional_import(name: str, *, extra: str | None = None):
    """The module `name`, for tests that need an optional library; else pytest.skip (module level
    too), with the reason: not installed, or installed but broken. A broken install raises more
    than ImportError while importing (a torchvision built for another torch: RuntimeError
    "operator torchvision::nms does not exist"); pytest.importorskip lets that through, and the
    whole run ends at collection. `extra`: the rinbench extra that installs it, for the reason."""
    module, problem = _try_import(name, extra)
    if module is None:
        pytest.skip(problem, allow_module_level=True)
    return module


def needs(*names: str, extra: str | None = None) -> pytest.MarkDecorator:
    """A skipif mark for tests that need the optional modules `names`, with optional_import's
    reason for the first one that cannot be imported."""
    problems = [problem for name in names if (problem := _try_import(name, extra)[1])]
    return pytest.mark.skipif(bool(problems), reason=problems[0] if problems else "")


def _try_import(name: str, extra: str | None):
    """(module, None), or (None, why it cannot be imported)."""
    try:
        return importlib.import_module(name), None
    except ModuleNotFoundError as err:
        if err.name and (name == err.name or name.startswith(err.name + ".")):
            installs = f" (the `{extra}` extra installs it)" if extra else ""
            return None, f"{name} is not installed{installs}"
        problem: Exception = err  # a module it imports is missing: broken, not absent
    except Exception as err:  # whatever a broken install raises while importing
        problem = err
    return None, f"{name} is installed but broken: {type(problem).__name__}: {problem}"
