"""measure(cell, settings): one benchmark cell in this process, as data.

Phases:
- params, flops: counted on the meta device (no memory, any resolution).
- forward: one network evaluation, no_grad, eval mode; for RIN with the latents of a previous call, as a
  sampler makes every call after its first.
- train_step: `bench.diffusion.training_loss` (RIN: self-conditioning pass + pass with gradients),
  backward, AdamW step; fp16 through a GradScaler.
- sample: one full `bench.diffusion.sample` call of `settings.sample_steps` network evaluations.
- fid: "unsupported" here: it needs a checkpoint (`rinbench train`, then `rinbench fid model`).

dtypes: fp32 (TF32 off), tf32 (TF32 matmul and cuDNN on), bf16 and fp16 (autocast over fp32 weights,
TF32 off). Modes: eager, compile (`torch.compile`). Whatever cannot run as asked ends with a status and
the reason, never with a substitute: tf32 on a CPU is "unsupported", a failed compile is "error" with
"compile failed: ...", an out-of-memory is "oom".

This module imports torch only inside functions, so that a runner can import `Settings` cheaply.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field

from bench.cell import Cell
from bench.record import ModelInfo, Outcome, is_diagnostic

# The samplers of bench.diffusion, repeated so that Settings validates without importing torch
# (tests/test_measure_cell.py checks the two agree).
SAMPLERS = ("ddpm", "ddim")
# bench.measure.timing's defaults, repeated for the same reason (the same test checks them).
DEFAULT_MAX_REL_IQR = 0.05
BUDGET_PER_MIN_SECONDS = 5.0


@dataclass(frozen=True)
class Settings:
    """Per-suite knobs (a suite file's [settings] table)."""

    warmup: int = 3  # untimed calls before timing (after the first call, which compiles)
    min_repeats: int = 10  # timed calls, at least
    min_seconds: float = 1.0  # and at least this long (also the energy window)
    # Then on until the relative IQR of the samples without stalls is at most max_rel_iqr, or the
    # next call would end past max_seconds (None: 5 x min_seconds); a timing still spread wider is
    # recorded as noisy (latency_noisy). min_repeats wins over the budget.
    max_seconds: float | None = None
    max_rel_iqr: float = DEFAULT_MAX_REL_IQR
    sample_steps: int = 10  # network evaluations per call of the `sample` phase
    sampler: str = "ddim"  # one of SAMPLERS
    max_batch: bool = False  # also search the largest batch that fits (CUDA; bisection over OOM)
    max_batch_limit: int = 65536  # the search stops here
    compile_backend: str = "inductor"  # torch.compile backend for mode "compile"
    compile_mode: str | None = None  # torch.compile mode: None, "reduce-overhead", "max-autotune"
    cudnn_benchmark: bool = True  # let cuDNN pick the fastest conv algorithms (recorded per cell)
    profile: bool = False  # also profile each timed cell, in a process of its own (bench.profile)

    def __post_init__(self):
        if self.warmup < 0 or self.min_repeats < 1 or self.min_seconds < 0:
            raise ValueError(
                "settings need warmup >= 0, min_repeats >= 1 and min_seconds >= 0, got "
                f"{self.warmup}, {self.min_repeats}, {self.min_seconds}"
            )
        if self.max_seconds is not None and self.max_seconds < self.min_seconds:
            raise ValueError(
                f"settings need max_seconds >= min_seconds (or no max_seconds, for "
                f"{BUDGET_PER_MIN_SECONDS:g} x min_seconds), got {self.max_seconds} < "
                f"{self.min_seconds}"
            )
        if not self.max_rel_iqr > 0:
            raise ValueError(f"settings need max_rel_iqr > 0, got {self.max_rel_iqr}")
        if self.sample_steps < 1 or self.max_batch_limit < 1:
            raise ValueError("settings need sample_steps >= 1 and max_batch_limit >= 1")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLERS)}")
        if not isinstance(self.profile, bool):
            raise ValueError(f"settings need profile = true or false, got {self.profile!r}")

    @classmethod
    def from_mapping(cls, table: Mapping) -> Settings:
        """From a suite's [settings] table; an unknown key lists the known ones."""
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {', '.join(known)}")
        return cls(**table)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Unsupported(Exception):
    """The cell cannot run as asked here (device, dtype, torch version); the reason says why."""


class CompileFailed(Exception):
    """torch.compile failed for the model; the message is the compiler's."""


@dataclass
class Measurements:
    """What a phase measured so far: numbers in `values`, diagnostics in `details` (kept when the
    phase fails half-way, so a failed cell still shows what it got)."""

    values: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def add(self, measured: Mapping) -> None:
        """Measured keys, each to values or details by bench.record.is_diagnostic."""
        for key, value in measured.items():
            (self.details if is_diagnostic(key, value) else self.values)[key] = value


def measure(cell: Cell, settings: Settings = Settings(), *, peak: dict | None = None) -> Outcome:
    """Measure one cell in this process.

    Returns a bench.record.Outcome: status "ok" | "oom" | "error" | "unsupported", the measured
    numbers in `values` (what was measured before a failure included), diagnostics in `details`
    (warnings, numerics flags, compile settings, *_reason, a traceback when status is "error"), the
    error, and the model's description.

    `peak` is `bench.measure.timing.matmul_peak(device)`, measured once per run and passed to every
    timed cell; without it a timed cell measures it itself (about a second).

    Never raises for a measurement failure and prints nothing: warnings raised while measuring are
    returned in details["warnings"].
    """
    out = Measurements()
    return measured_outcome(cell, out, lambda: PHASES[cell.phase](cell, settings, out, peak))


def measured_outcome(cell: Cell, out: Measurements, fill: Callable[[], None]) -> Outcome:
    """Call `fill`, which measures into `out`, and return what it got as an Outcome: the model's
    description, the status and reason of a failure (what was measured before it kept), and the
    warnings raised meanwhile. Never raises for a measurement failure."""
    status, error, model = "ok", None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            model = model_info(cell)
            fill()
        except Exception as err:
            status, error = failure(err, out)
    if caught:
        out.details["warnings"] = warning_texts(caught)
    return Outcome(status, out.values, error, model, out.details)


def failure(err: Exception, out: Measurements) -> tuple[str, str]:
    """(status, reason) of a measurement that raised `err`: unsupported, a failed compile (error),
    an out-of-memory (oom) or any other error; the traceback of an error goes to `out.details`."""
    from bench.family import MissingPackage
    from bench.measure.memory import is_oom

    if isinstance(err, Unsupported | MissingPackage):  # a peer without its package is a result
        return "unsupported", str(err)
    if isinstance(err, CompileFailed):
        out.details["traceback"] = traceback.format_exc()
        return "error", f"compile failed: {err}"
    if is_oom(err):
        return "oom", one_line(f"{type(err).__name__}: {err}")
    out.details["traceback"] = traceback.format_exc()
    return "error", one_line(f"{type(err).__name__}: {err}")


def warning_texts(caught: list) -> list[str]:
    """The distinct warnings caught while measuring, as text, at most 20."""
    return list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))[:20]


def one_line(message: str) -> str:
    """An error message on one line, without dynamo's advice on getting more logs."""
    message = message.split("Set TORCHDYNAMO_VERBOSE")[0]
    return " ".join(message.split())


def model_info(cell: Cell) -> ModelInfo:
    """Family, parameter count (on meta), the config as a dict and its SHA-256 (first 12 hex
    digits, over the sorted JSON), and the preset's source."""
    import torch

    from bench import registry
    from bench.measure.flops import count_params

    entry = registry.get(cell.preset)
    cfg = registry.config(cell.preset, cell.resolution)
    with torch.device("meta"):
        model = entry.builder(cfg)
    config = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    return ModelInfo(
        family=entry.family,
        params=count_params(model)["params"],
        config=config,
        config_sha=digest[:12],
        source=entry.source_info,
    )


# --- static phases ---------------------------------------------------------------------------------


def _params(cell: Cell, settings: Settings, out: Measurements, peak: dict | None) -> None:
    import torch

    from bench import registry
    from bench.measure.flops import count_params

    with torch.device("meta"):
        model = registry.build(cell.preset, cell.resolution)
    out.add(count_params(model))


def _count(cell: Cell, *, train_step: bool) -> dict:
    from bench import registry
    from bench.measure.flops import count_flops

    entry = registry.get(cell.preset)
    cfg = registry.config(cell.preset, cell.resolution)
    return count_flops(
        lambda: entry.builder(cfg),
        lambda model: registry.example_inputs(cfg, cell.batch, "meta"),
        train_step=train_step,
        group=entry.flop_grouping,
    )


def _flops(cell: Cell, settings: Settings, out: Measurements, peak: dict | None) -> None:
    out.add(_count(cell, train_step=True))
    # A sampler call is sample_steps network evaluations (no guidance, no VAE).
    out.add(
        {
            "sample_steps": settings.sample_steps,
            "macs_sample": settings.sample_steps * out.values["macs_fwd"],
            "flops_sample": settings.sample_steps * out.values["flops_fwd"],
        }
    )


def _fid(cell: Cell, settings: Settings, out: Measurements, peak: dict | None) -> None:
    raise Unsupported(
        "FID needs a trained checkpoint, which a suite cell does not have: train with "
        "`rinbench train PRESET`, then `rinbench fid model CHECKPOINT --results DIR` stores a fid record"
    )


# --- timed phases ----------------------------------------------------------------------------------


def check_dtype(dtype: str, device) -> None:
    """Raise Unsupported where `dtype` would not run as named on `device`."""
    import torch

    if dtype == "tf32" and device.type != "cuda":
        raise Unsupported(
            "tf32 is a CUDA tensor-core mode; on a CPU the matmuls would silently stay fp32"
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Unsupported("device cuda requested but torch sees no CUDA device")
    # is_bf16_supported() also says yes for emulated bf16 below sm80; ask for the tensor cores.
    if (
        dtype == "bf16"
        and device.type == "cuda"
        and torch.cuda.get_device_capability(device) < (8, 0)
    ):
        raise Unsupported(f"{torch.cuda.get_device_name(device)} has no bf16 tensor cores (sm80+)")
    if dtype in ("bf16", "fp16"):
        # Some builds accept an autocast dtype they do not support and fall back to fp32 with a
        # warning; a probe catches that.
        target = _autocast_dtype(dtype)
        try:
            with warnings.catch_warnings(record=True), torch.autocast(device.type, dtype=target):
                probe = torch.nn.functional.linear(
                    torch.ones(2, 8, device=device), torch.ones(8, 8, device=device)
                )
        except Exception as err:
            raise Unsupported(f"autocast to {dtype} on {device.type} fails: {err}") from err
        if probe.dtype != target:
            raise Unsupported(
                f"autocast to {dtype} on {device.type} is not supported by torch "
                f"{torch.__version__}: a linear layer ran in {probe.dtype}"
            )


def _autocast_dtype(dtype: str):
    """The torch dtype autocast runs in for a cell dtype; None for fp32 and tf32 (no autocast)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)


def _autocast(dtype: str, device) -> Callable:
    """A factory of fresh autocast contexts (a context manager object is single-use)."""
    import torch

    target = _autocast_dtype(dtype)
    if target is None:
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=target)


@contextmanager
def _all_of(*managers) -> Iterator[None]:
    with ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


def _timed(cell: Cell, settings: Settings, out: Measurements, peak: dict | None) -> None:
    """forward, train_step and sample: build on the device, run once (compiling), time, and
    measure memory and energy over the timed window."""
    with ExitStack() as scope:
        ready = _set_up(cell, settings, out, peak, scope)
        _time_window(ready.step, cell, settings, ready.flops_per_call, out)
        if settings.max_batch:
            del ready.step
            _max_batch(ready.make, cell, settings, ready.sync, out)


@dataclass
class _Ready:
    """A timed cell set up to be timed: its step (run once already), the factory of steps at other
    batches, the device's synchronisation and the model FLOPs of one call."""

    step: Callable
    make: Callable
    sync: Callable
    flops_per_call: int


def _set_up(
    cell: Cell, settings: Settings, out: Measurements, peak: dict | None, scope: ExitStack
) -> _Ready:
    """Count the cell's FLOPs (on meta), take the matmul peak and look up the data-sheet peak
    (bench.datasheet), build the model on the device and run its step once (compiling in compile
    mode). The numerics flags are entered into `scope` and stay set until it closes: every window
    timed in it runs under them."""
    import torch

    from bench.measure.memory import current_rss
    from bench.measure.numerics import numerics
    from bench.measure.timing import device_datasheet_peak, matmul_peak

    device = torch.device(cell.device)
    check_dtype(cell.dtype, device)
    # FLOPs first, on meta: the achieved-TFLOP/s numerator, at no memory cost on the device.
    flops_per_call = _count_timed(cell, settings, out)
    # The two MFU denominators: the measured matmul peak and the data sheet's for the dtype.
    out.add(peak if peak is not None else matmul_peak(device))
    out.add(device_datasheet_peak(device, cell.dtype))

    model, cfg = build_model(cell, device)
    if device.type == "cpu":  # the baseline of rss_added_bytes: the process with the model in it
        out.values["rss_after_build_bytes"] = current_rss()
    autocast = _autocast(cell.dtype, device)
    flags = scope.enter_context(
        numerics(tf32=cell.dtype == "tf32", cudnn_benchmark=settings.cudnn_benchmark)
    )
    out.details["numerics"] = flags
    model_fn = _compiled(model, cell, settings, out)
    make = PHASE_STEPS[cell.phase](model_fn, model, cfg, autocast, device, cell.dtype, settings)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    step = _first_call(make, cell, sync, out)
    return _Ready(step, make, sync, flops_per_call)


# What a window needs of the set-up's values: the MFUs' denominators and the RSS baseline.
WINDOW_INPUTS = ("matmul_peak_tflops", "datasheet_peak_tflops", "rss_after_build_bytes")


def windows(cell: Cell, settings: Settings = Settings(), *, peak: dict | None = None):
    """One timed cell measured window by window, for paired timing (bench.paired): a generator
    that yields the set-up's outcome (the model built and its step run once: the counts, the
    matmul peak, first_call_s), then, at each next(), the outcome of one more timed window
    (`_time_window`: the calls, memory and energy). A failure is yielded as a failed outcome and
    ends the generator; closing it ends the cell (the numerics flags are restored).

    On CUDA each window hands its cached blocks back to the driver when it ends, so that the other
    side of the pair, waiting in its own process, finds the memory free.
    """
    out = Measurements()
    model = None
    with warnings.catch_warnings(record=True) as caught, ExitStack() as scope:
        warnings.simplefilter("default")
        try:
            model = model_info(cell)
            ready = _set_up(cell, settings, out, peak, scope)
            _release_cache(cell)  # the partner sets up next, in its own process
        except Exception as err:
            status, error = failure(err, out)
            yield _with_warnings(Outcome(status, out.values, error, model, out.details), caught)
            return
        yield _with_warnings(Outcome("ok", out.values, None, model, out.details), caught)
        while True:
            caught.clear()
            window = Measurements({k: out.values[k] for k in WINDOW_INPUTS if k in out.values})
            try:
                _time_window(ready.step, cell, settings, ready.flops_per_call, window)
                _release_cache(cell)
            except Exception as err:
                status, error = failure(err, window)
                yield _with_warnings(
                    Outcome(status, window.values, error, model, window.details), caught
                )
                return
            yield _with_warnings(Outcome("ok", window.values, None, model, window.details), caught)


def _with_warnings(outcome: Outcome, caught: list) -> Outcome:
    if not caught:
        return outcome
    return dataclasses.replace(
        outcome, details=outcome.details | {"warnings": warning_texts(caught)}
    )


def _release_cache(cell: Cell) -> None:
    if cell.device == "cuda":
        import torch

        torch.cuda.empty_cache()


def build_model(cell: Cell, device):
    """The cell's model and config, built straight on `device` from seed 0 (every timed or profiled
    step of a preset starts from the same weights)."""
    import torch

    from bench import registry

    cfg = registry.config(cell.preset, cell.resolution)
    torch.manual_seed(0)
    with torch.device(device):
        return registry.get(cell.preset).builder(cfg), cfg


def _count_timed(cell: Cell, settings: Settings, out: Measurements) -> int:
    """The phase's MAC and FLOP counts (per image) into `out`; returns the FLOPs of one call."""
    counts = _count(cell, train_step=cell.phase == "train_step")
    steps = settings.sample_steps
    if cell.phase == "train_step":
        per_call = counts["flops_train_step_batch"]
        out.add({k: counts[k] for k in ("macs_train_step", "flops_train_step")})
    elif cell.phase == "sample":
        per_call = steps * counts["flops_fwd_batch"]
        out.add(
            {"macs_sample": steps * counts["macs_fwd"], "flops_sample": steps * counts["flops_fwd"]}
        )
    else:
        per_call = counts["flops_fwd_batch"]
    out.add({"macs_fwd": counts["macs_fwd"], "flops_fwd": counts["flops_fwd"]})
    out.values["flops_per_call"] = per_call
    return per_call


def _compiled(model, cell: Cell, settings: Settings, out: Measurements):
    """The model as the cell's mode runs it: itself (eager), or torch.compile's wrapper."""
    import torch

    if cell.mode != "compile":
        return model
    kwargs = {"mode": settings.compile_mode} if settings.compile_mode else {}
    try:
        _reset_graph_breaks()
        model_fn = torch.compile(model, backend=settings.compile_backend, **kwargs)
    except Exception as err:
        raise CompileFailed(one_line(f"{type(err).__name__}: {err}")) from err
    out.details |= {
        "compile_backend": settings.compile_backend,
        "compile_mode": settings.compile_mode,
    }
    return model_fn


def _first_call(make: Callable, cell: Cell, sync: Callable, out: Measurements) -> Callable:
    """Build the step at the cell's batch and run it once: in compile mode this compiles, so it is
    timed on its own (first_call_s) and never among the samples. Returns the step."""
    from bench.measure.memory import is_oom

    compiled = cell.mode == "compile"
    start = time.perf_counter()
    try:
        step = make(cell.batch)
        step()
        sync()
    except Exception as err:
        if compiled and not is_oom(err):
            raise CompileFailed(one_line(f"{type(err).__name__}: {err}")) from err
        raise
    out.values["first_call_s"] = time.perf_counter() - start
    if compiled:
        out.add(_graph_breaks())
    return step


def _time_window(
    step: Callable, cell: Cell, settings: Settings, flops_per_call: int, out: Measurements
) -> None:
    """Time the step, with memory and energy over the timed window: after the warm-up, so the
    peaks are the steady state's, with lazily created state (AdamW moments, cuDNN workspaces) in
    alloc_before_bytes."""
    from bench.measure.energy import EnergyMeter, joules_per_image
    from bench.measure.hardware import usable_cores
    from bench.measure.memory import PeakMemory, rss_added
    from bench.measure.timing import mfu_suspect, throughput, time_calls

    memory, energy = PeakMemory(cell.device), EnergyMeter(cell.device)
    stats = time_calls(
        step,
        device=cell.device,
        warmup=settings.warmup,
        min_repeats=settings.min_repeats,
        min_seconds=settings.min_seconds,
        max_seconds=settings.max_seconds,
        max_rel_iqr=settings.max_rel_iqr,
        window=_all_of(memory, energy),
    )
    out.add(stats | memory.values | energy.values)
    if "rss_after_build_bytes" in out.values:
        out.add(rss_added(memory.values, out.values["rss_after_build_bytes"]))
    out.add(
        throughput(
            stats["latency_ms_median"],
            images_per_call=cell.batch,
            flops_per_call=flops_per_call,
            peak_tflops=out.values["matmul_peak_tflops"],
            datasheet_peak_tflops=out.values.get("datasheet_peak_tflops"),
        )
    )
    out.add(mfu_suspect(out.values, cell.device.split(":")[0], usable_cores()))
    out.values["joules_per_image"] = joules_per_image(
        energy.values, stats["timed_iters"] * cell.batch
    )
    if cell.phase == "sample":
        steps = settings.sample_steps
        out.values |= {"sample_steps": steps, "ms_per_step": stats["latency_ms_median"] / steps}
        out.details["sampler"] = settings.sampler


def _max_batch(
    make: Callable, cell: Cell, settings: Settings, sync: Callable, out: Measurements
) -> None:
    """The largest batch that fits, by bisection over out-of-memory errors (CUDA only)."""
    import torch

    from bench.measure.memory import free_memory, max_batch

    if cell.device != "cuda":
        out.values["max_batch"] = None
        out.details["max_batch_reason"] = (
            "the search needs CUDA: running out of CPU memory kills the process instead of raising"
        )
        return
    free_memory(torch.device(cell.device))
    out.add(
        max_batch(
            lambda batch: (make(batch)(), sync()),
            device=cell.device,
            start=cell.batch,
            limit=settings.max_batch_limit,
        )
    )


def _reset_graph_breaks() -> None:
    try:
        from torch._dynamo.utils import counters

        counters.clear()
    except ImportError:
        pass  # _graph_breaks() then records why it has no number


def _graph_breaks() -> dict:
    """How often dynamo split the model into several graphs (each break runs Python in between).
    The counter is dynamo's private one: if it moves, the reason says so instead of a number."""
    try:
        from torch._dynamo.utils import counters

        return {"compile_graph_breaks": sum(counters["graph_break"].values())}
    except (ImportError, AttributeError, KeyError, TypeError) as err:
        return {"compile_graph_breaks": None, "compile_graph_breaks_reason": repr(err)}


def _forward_step(model_fn, model, cfg, autocast, device, dtype, settings) -> Callable:
    import torch

    from bench import registry
    from bench.diffusion import uses_state

    model.eval()
    recurrent = uses_state(model)

    def make(batch: int) -> Callable:
        x, t, y = registry.example_inputs(cfg, batch, device)
        state = None
        if recurrent:  # the latents a previous sampling step would pass in
            with torch.no_grad(), autocast():
                state = model_fn(x, t, y)[1]

        def step():
            with torch.no_grad(), autocast():
                return model_fn(x, t, y, state)

        return step

    return make


def _train_step(model_fn, model, cfg, autocast, device, dtype, settings) -> Callable:
    import torch

    from bench import registry
    from bench.diffusion import training_loss

    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range.
    scaler = torch.amp.GradScaler(device.type) if dtype == "fp16" else None
    generator = torch.Generator(device).manual_seed(0)

    def make(batch: int) -> Callable:
        x0, _, y = registry.example_inputs(cfg, batch, device)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = training_loss(model_fn, x0, y, generator=generator)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            return loss

        return step

    return make


def _sample_step(model_fn, model, cfg, autocast, device, dtype, settings) -> Callable:
    import torch

    from bench import registry
    from bench.diffusion import sample

    model.eval()
    generator = torch.Generator(device).manual_seed(0)

    def make(batch: int) -> Callable:
        _, _, y = registry.example_inputs(cfg, batch, device)

        def step():
            with autocast():
                return sample(
                    model_fn,
                    cfg,
                    batch,
                    steps=settings.sample_steps,
                    sampler=settings.sampler,
                    y=y,
                    generator=generator,
                    device=device,
                )

        return step

    return make


PHASE_STEPS = {"forward": _forward_step, "train_step": _train_step, "sample": _sample_step}
PHASES: dict[str, Callable] = {
    "params": _params,
    "flops": _flops,
    "forward": _timed,
    "train_step": _timed,
    "sample": _timed,
    "fid": _fid,
}
