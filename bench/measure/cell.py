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

Levers (Settings.channels_last, sdpa_backend, fused_optimizer, compile_mode, checkpointing,
low_precision_norms) change how the same math runs, never what it computes: each is off by default,
recorded with the cell's settings, and applied where the cell builds its model, inputs and optimizer
(`build_model`, `make_steps`), so that a timed cell and its profile run alike. A lever that cannot
run as asked ends the cell "unsupported".

This module imports torch only inside functions, so that a runner can import `Settings` cheaply.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.cell import PROFILE_ASK, STATIC_PHASES, Cell, profiled
from bench.family import DiffusionNeeds
from bench.measure.checkpointing import CHECKPOINTING_KINDS
from bench.measure.facts import MatmulPeak
from bench.oom import is_out_of_memory
from bench.record import CELL_TIME_KEY, ModelInfo, Outcome, is_diagnostic

# The file a timed cell waits for before its timed calls, named in its worker's environment by a
# sweep that starts the next cell's worker meanwhile (`rinbench run --prestart`, bench.cellprocess):
# that worker creates it once its imports and counts on meta are done, so they never overlap this
# cell's timing.
QUIET_FILE_ENV = "RINBENCH_QUIET_FILE"
QUIET_WAIT_S = 60.0  # at most; a held worker that died before creating it costs no more
# What a worker held ahead of its turn counted then (`prepare`), by (cell, what): (the count, its
# seconds, the warnings it raised). Its measurement takes each once (`_counted`).
_counted_ahead: dict[tuple[Cell, str], tuple[Any, float, list]] = {}
# The samplers of bench.diffusion, repeated so that Settings validates without importing torch
# (tests/test_measure_cell.py checks the two agree).
SAMPLERS = ("ddpm", "ddim")
# bench.measure.timing's defaults, repeated for the same reason (the same test checks them).
DEFAULT_MAX_REL_IQR = 0.05
BUDGET_PER_MIN_SECONDS = 5.0
# Settings.sdpa_backend -> the torch.nn.attention.SDPBackend member it names (torch 2.5+ spells
# cuDNN's CUDNN_ATTENTION); the test of the tables checks the members exist.
SDPA_BACKENDS = {
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
    "math": "MATH",
}
# torch.compile's modes (torch._inductor.list_mode_options() of torch 2.11 and later; the same test
# checks them against the installed torch). None is torch's default mode.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# The modes that ask inductor for CUDA graphs: their cells record how many graphs it left without.
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
# The Settings fields that take true or false.
BOOLEAN_SETTINGS = (
    "profile",
    "channels_last",
    "fused_optimizer",
    "cudnn_benchmark",
    "low_precision_norms",
)
TRAIN_STEP_LR = 1e-4  # the train step's AdamW learning rate (its cost does not depend on it)
# The Settings fields that change no timed window: what a run adds after a cell (its profile
# cell). A pair resumed after changing them keeps its logged rounds; the gate does not name them.
NOT_OF_A_WINDOW = ("profile",)
# The Settings fields a count depends on, per counting phase: a flops record's macs_sample is
# sample_steps forward passes. Counts depend on no other setting (taken on meta, levers aside).
COUNT_SETTINGS = {"flops": ("sample_steps",)}
# The Settings fields that are levers (see Settings): how the same math runs, not what it is.
LEVERS = (
    "channels_last",
    "sdpa_backend",
    "fused_optimizer",
    "compile_mode",
    "checkpointing",
    "low_precision_norms",
)


@dataclass(frozen=True)
class Settings:
    """Per-suite knobs (a suite file's [settings] table), stored with every record.

    The timing (bench.measure.timing.time_calls): `warmup` calls after the first, then the timed
    calls by min_repeats, min_seconds, max_seconds and max_rel_iqr (below). warmup_steady_within
    (None, or a fraction such as 0.05) ends a window's warm-up at the first call within that
    fraction of the one before it, `warmup` calls at most (bench.measure.timing.warm_up): fewer
    calls where the step is steady sooner, as a paired cell's later windows may be, on a step
    built, compiled and autotuned already. latency_ms_warmup (a pair's per round:
    latency_ms_warmup_by_round) says how many calls each window took, and what they read.

    Levers: faster ways to run the same math, each off by default (records measured without them
    stay comparable, and the deterministic gate's counts never depend on them: counts are taken on
    the meta device, without levers). A record's settings say which levers its cell ran with.

    - channels_last: the model's parameters and its image input in channels-last memory format
      (torch.channels_last, NHWC in memory), so that cuDNN's convolutions need no layout
      transposes. 4-D tensors take torch.channels_last; 5-D ones (the video presets' (B, C, T, H, W)
      input, RIN-video's Conv3d patch weights) take torch.channels_last_3d, the same layout one
      axis up: channels innermost. For VDM, whose 3-D U-Net folds the frames into the batch for
      2-D convolutions, that layout is the one in which the fold is a free view giving
      channels-last frames; refusing 5-D inputs would leave the video U-Net, whose convolutions
      are ADM's, without the lever. The input is converted by a forward pre-hook on the model (a
      no-op on an input already channels-last; the sampler's fresh noise is converted there).
      On CUDA, eager GroupNorm keeps no layout: its kernel and its backward work on an NCHW copy
      of their input and return NCHW (torch's native_group_norm takes the input's own format on
      a CPU only), so each norm of a U-Net costs a copy each way, which the convolutions' saved
      transposes must outweigh. A compiled cell need not pay it: inductor decomposes the norm
      into kernels of its own, which take either layout, and by its heuristics may lay the
      convolutions out channels-last itself (layout_optimization, on by default).
    - sdpa_backend: None (torch picks per call), or "flash", "efficient", "cudnn" or "math": every
      F.scaled_dot_product_attention of the timed call runs under
      torch.nn.attention.sdpa_kernel(that backend only), so torch cannot fall back to another. A
      backend that cannot run on the cell's device and dtype (on a CPU: "efficient" and "cudnn";
      on CUDA: "flash" in fp32), or on its model's attention (e.g. "flash" with VDM's position
      bias as a float mask), ends the cell "unsupported" with torch's reason.
    - fused_optimizer: the train step's AdamW with fused=True (one kernel for all parameters
      instead of a loop of per-tensor ops); a device or dtype without the fused kernel ends the
      cell "unsupported".
    - compile_mode: torch.compile's mode in mode "compile": None (torch's default), or one of
      COMPILE_MODES. "reduce-overhead" and "max-autotune" ask inductor for CUDA graphs (one
      replay per compiled graph instead of a launch per kernel); on a CPU inductor skips CUDA
      graphs for every graph, so "reduce-overhead" there is the default compile, and the record
      says so: compile_cudagraph_skips counts the graphs inductor left without CUDA graphs (on a
      GPU a nonzero count means some graph fell back to launching kernels). Only inductor reads
      the mode: dynamo's "eager" and "aot_eager" backends ignore it (with a logged warning).
    - checkpointing: None, or one of CHECKPOINTING_KINDS: the train step's activation
      checkpointing (bench.measure.checkpointing) of the units the family declares for that kind
      ("attention": its attention modules, as the official ADM code always does; "blocks": every
      block of its trunk). Less memory for a recomputed forward of those units in the backward;
      the MFU stays over model FLOPs, so it falls by the recomputation. Only a train step keeps
      activations: another phase, or a family that declares no units of the kind, ends the cell
      "unsupported". details["checkpointed_modules"] counts the modules wrapped.
    - low_precision_norms: every GroupNorm and LayerNorm of the model runs in the cell's autocast
      dtype (bench.measure.norms: input and affine cast down, statistics accumulated in fp32 by
      the kernel, output in bf16 or fp16), where CUDA's autocast runs them in fp32 and hands fp32
      on to the ops after them; the official ADM code's GroupNorm32 returns half precision too.
      Less memory kept for the backward and less traffic; the outputs round to the autocast dtype
      one op earlier. Only a cell under autocast has that dtype: fp32 and tf32 cells, and a model
      without such norms, end "unsupported". details["low_precision_norm_modules"] counts them.
    """

    warmup: int = 3  # calls before the timed ones (after the first, which compiles), kept apart
    warmup_steady_within: float | None = None  # fewer, once two in a row agree this closely
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
    compile_mode: str | None = None  # torch.compile mode: None (default) or one of COMPILE_MODES
    cudnn_benchmark: bool = True  # let cuDNN pick the fastest conv algorithms (recorded per cell)
    profile: bool = False  # also profile each timed cell, after its timing (bench.profiling)
    channels_last: bool = False  # lever: model and inputs channels-last (see above)
    sdpa_backend: str | None = None  # lever: one of SDPA_BACKENDS, alone; None: torch's choice
    fused_optimizer: bool = False  # lever: the train step's AdamW with fused=True
    checkpointing: str | None = None  # lever: one of CHECKPOINTING_KINDS; None: keep everything
    low_precision_norms: bool = False  # lever: GroupNorm/LayerNorm in the autocast dtype

    def __post_init__(self):
        # Written so that NaN fails each test (NaN < 0 is false, and so is NaN >= 0).
        if not (self.warmup >= 0 and self.min_repeats >= 1 and self.min_seconds >= 0):
            raise ValueError(
                "settings need warmup >= 0, min_repeats >= 1 and min_seconds >= 0, got "
                f"{self.warmup}, {self.min_repeats}, {self.min_seconds}"
            )
        if self.max_seconds is not None and not self.max_seconds >= self.min_seconds:
            raise ValueError(
                f"settings need max_seconds >= min_seconds (or no max_seconds, for "
                f"{BUDGET_PER_MIN_SECONDS:g} x min_seconds), got {self.max_seconds} < "
                f"{self.min_seconds}"
            )
        if not self.max_rel_iqr > 0:
            raise ValueError(f"settings need max_rel_iqr > 0, got {self.max_rel_iqr}")
        steady = self.warmup_steady_within
        if steady is not None and not (isinstance(steady, int | float) and 0 < steady < 1):
            raise ValueError(
                f"settings need 0 < warmup_steady_within < 1 (e.g. 0.05), or none, got {steady!r}"
            )
        if self.sample_steps < 1 or self.max_batch_limit < 1:
            raise ValueError("settings need sample_steps >= 1 and max_batch_limit >= 1")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLERS)}")
        for name in BOOLEAN_SETTINGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"settings need {name} = true or false, got {getattr(self, name)!r}"
                )
        if self.sdpa_backend is not None and self.sdpa_backend not in SDPA_BACKENDS:
            raise ValueError(
                f"unknown sdpa_backend {self.sdpa_backend!r}; valid: {', '.join(SDPA_BACKENDS)} "
                "(or leave it out, for torch's own choice per call)"
            )
        if self.checkpointing is not None and self.checkpointing not in CHECKPOINTING_KINDS:
            raise ValueError(
                f"unknown checkpointing {self.checkpointing!r}; valid: "
                f"{', '.join(CHECKPOINTING_KINDS)} (or leave it out, to keep every activation)"
            )
        if self.compile_mode is not None and self.compile_mode not in COMPILE_MODES:
            raise ValueError(
                f"unknown compile_mode {self.compile_mode!r}; valid: {', '.join(COMPILE_MODES)} "
                "(or leave it out, for torch's default)"
            )

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

    @staticmethod
    def recorded(recorded: Mapping, name: str) -> Any:
        """The field `name` in `recorded` (a record's or a logged round's settings); a key it
        lacks reads as the field's default, the value it was measured with before the field
        existed."""
        return recorded[name] if name in recorded else getattr(DEFAULT_SETTINGS, name)

    def differing(self, recorded: Mapping) -> dict[str, tuple[Any, Any]]:
        """{field: (its value in `recorded`, this one's)} of the fields where `recorded` (read by
        `Settings.recorded`) differs from these."""
        then = {name: Settings.recorded(recorded, name) for name in self.as_dict()}
        return {
            name: (then[name], value)
            for name, value in self.as_dict().items()
            if then[name] != value
        }


DEFAULT_SETTINGS = Settings()


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


def measure(
    cell: Cell, settings: Settings = Settings(), *, peak: MatmulPeak | None = None
) -> Outcome:
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
    return measured_outcome(
        cell, out, lambda: PHASE_MEASURES[cell.phase](cell, settings, out, peak)
    )


def measured_outcome(cell: Cell, out: Measurements, fill: Callable[[], None]) -> Outcome:
    """Call `fill`, which measures into `out`, and return what it got as an Outcome: the model's
    description, the status and reason of a failure (what was measured before it kept), and the
    warnings raised meanwhile. Never raises for a measurement failure."""
    from bench import registry  # noqa: F401  torch and the families: the process's start-up

    status, error, model = "ok", None, None
    with warnings.catch_warnings(record=True) as caught, spent(out, "measure"):
        warnings.simplefilter("default")
        try:
            with spent(out, "count"):  # on meta; a peer's package is imported here
                model = _counted(cell, "model", out)
            fill()
        except Exception as err:
            status, error = failure(err, out)
    if caught:
        out.details["warnings"] = warning_texts(caught)
    return Outcome(status, out.values, error, model, out.details)


@contextmanager
def spent(out: Measurements, part: str) -> Iterator[None]:
    """Add the seconds the block takes (raising or not) to out.details[CELL_TIME_KEY][part]: where
    a cell's time went, the harness's own cost rather than a measurement (bench.cellprocess adds
    the process's wall time beside it)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        parts = out.details.setdefault(CELL_TIME_KEY, {})
        parts[part] = parts.get(part, 0.0) + time.perf_counter() - start


def failure(err: Exception, out: Measurements) -> tuple[str, str]:
    """(status, reason) of a measurement that raised `err`: unsupported, a failed compile (error),
    an out-of-memory (oom) or any other error; the traceback of an error goes to `out.details`."""
    from bench.family import MissingPackage

    if isinstance(err, Unsupported | MissingPackage):  # a peer without its package is a result
        return "unsupported", str(err)
    if isinstance(err, CompileFailed):
        out.details["traceback"] = traceback.format_exc()
        return "error", f"compile failed: {err}"
    if is_out_of_memory(err):
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


def _params(cell: Cell, settings: Settings, out: Measurements, peak: MatmulPeak | None) -> None:
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
        needs=registry.diffusion_needs(cfg),
    )


def _flops(cell: Cell, settings: Settings, out: Measurements, peak: MatmulPeak | None) -> None:
    out.add(_count(cell, train_step=True))
    # A sampler call is sample_steps network evaluations (no guidance, no VAE).
    out.add(
        {
            "sample_steps": settings.sample_steps,
            "macs_sample": settings.sample_steps * out.values["macs_fwd"],
            "flops_sample": settings.sample_steps * out.values["flops_fwd"],
        }
    )


def _fid(cell: Cell, settings: Settings, out: Measurements, peak: MatmulPeak | None) -> None:
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


def _timed(cell: Cell, settings: Settings, out: Measurements, peak: MatmulPeak | None) -> None:
    """forward, train_step and sample: build on the device, run once (compiling), time, and
    measure memory and energy over the timed window."""
    with ExitStack() as scope:
        ready = _set_up(cell, settings, out, peak, scope)
        _time_window(ready, cell, settings, out)
        if settings.max_batch:
            del ready.step
            with spent(out, "max_batch"):
                _max_batch(ready.make, cell, settings, ready.sync, out)


@dataclass
class _Ready:
    """A timed cell set up to be timed: its step (run once already), the factory of steps at other
    batches, the device's synchronisation, the model FLOPs of one call, the matmul peak its MFU
    is over, the model the step runs and its counts on meta (bench.measure.flops.count_flops: a
    paired cell's profile hooks into the model's modules and splits the step's time by them)."""

    step: Callable
    make: Callable
    sync: Callable
    flops_per_call: int
    peak: MatmulPeak
    model: object
    counts: dict


def _set_up(
    cell: Cell, settings: Settings, out: Measurements, peak: MatmulPeak | None, scope: ExitStack
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
    check_sdpa_backend(settings.sdpa_backend, cell.dtype, device)
    # FLOPs first, on meta: the achieved-TFLOP/s numerator, at no memory cost on the device.
    with spent(out, "count"):
        flops_per_call, counts = _count_timed(cell, settings, out)
    # The two MFU denominators: the measured matmul peak and the data sheet's for the dtype.
    if peak is None:  # timed here: not beside the next cell's imports (rinbench run --prestart)
        wait_for_quiet(out)
    with spent(out, "peak"):
        peak = peak if peak is not None else matmul_peak(device)
        out.add(device_datasheet_peak(device, cell.dtype))
    out.add(peak.values())

    with spent(out, "build"):
        model, cfg = build_model(cell, device, settings)
    if device.type == "cpu":  # the baseline of rss_added_bytes: the process with the model in it
        out.values["rss_after_build_bytes"] = current_rss()
    flags = scope.enter_context(
        numerics(tf32=cell.dtype == "tf32", cudnn_benchmark=settings.cudnn_benchmark)
    )
    out.details["numerics"] = flags
    with spent(out, "build"):
        make = make_steps(model, cfg, cell, settings, device, out)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    step = first_call_then_quiet(make, cell, sync, out)
    return _Ready(step, make, sync, flops_per_call, peak, model, counts)


# What each window's values carry over from the set-up's: the MFUs' denominators (kept beside
# the window's MFU) and the RSS baseline its rss_added_bytes is over.
WINDOW_INPUTS = ("matmul_peak_tflops", "datasheet_peak_tflops", "rss_after_build_bytes")


def windows(
    cell: Cell,
    settings: Settings = Settings(),
    *,
    peak: MatmulPeak | None = None,
    profile: Callable | None = None,
):
    """One timed cell measured window by window, for paired timing (bench.paired): a generator
    that yields the set-up's outcome (the model built and its step run once: the counts, the
    matmul peak, first_call_s), then, at each next(), the outcome of one more timed window
    (`_time_window`: the calls, memory and energy). Sent {PROFILE_ASK: {"trace_dir": folder or
    None}} instead (bench.worker), it yields the outcome of the cell's profile cell, taken on the
    same step (bench.profiling.measure.profile_served): after the rounds, the profile costs no
    second build, compile or autotuning. A failure is yielded as a failed outcome and ends the
    generator; closing it ends the cell (the numerics flags are restored).

    On CUDA each window hands its cached blocks back to the driver when it ends, so that the other
    side of the pair, waiting in its own process, finds the memory free.
    """
    from bench import registry  # noqa: F401  torch and the families: the process's start-up

    out = Measurements()
    model = None
    with warnings.catch_warnings(record=True) as caught, ExitStack() as scope:
        warnings.simplefilter("default")
        try:
            with spent(out, "count"):  # on meta; a peer's package is imported here
                model = _counted(cell, "model", out)
            ready = _set_up(cell, settings, out, peak, scope)
            _release_cache(cell)  # the partner sets up next, in its own process
        except Exception as err:
            status, error = failure(err, out)
            yield _with_warnings(Outcome(status, out.values, error, model, out.details), caught)
            return
        ask = yield _with_warnings(Outcome("ok", out.values, None, model, out.details), caught)
        while True:
            caught.clear()
            status, error, got = _served(cell, settings, ready, out, ask, profile)
            outcome = _with_warnings(Outcome(status, got.values, error, model, got.details), caught)
            if status != "ok":
                yield outcome
                return
            ask = yield outcome


def _served(
    cell: Cell,
    settings: Settings,
    ready: _Ready,
    setup: Measurements,
    ask: dict | None,
    profile: Callable | None,
) -> tuple[str, str | None, Measurements]:
    """What `windows` was asked for next, measured: (status, failure's reason or None, what it
    got). One more timed window, or, asked for the profile (PROFILE_ASK), `profile` called as
    bench.profiling.measure.profile_served on the ready step, with what the set-up found that a
    profile cell's own set-up records (PROFILE_INPUTS, the numerics flags, the levers' and the
    compiler's details). Either hands the cached blocks back to the driver when it ends."""
    if ask is not None and PROFILE_ASK in ask:
        got = Measurements(
            {k: setup.values[k] for k in PROFILE_INPUTS if k in setup.values},
            {k: v for k, v in setup.details.items() if k not in NOT_CARRIED},
        )
        if profile is None:
            return "error", "this serving worker was given no profiler", got
        step, trace_dir = (ready.model, ready.step, ready.sync), ask[PROFILE_ASK].get("trace_dir")
        fill = partial(profile, cell, settings, step, ready.peak, trace_dir, got, ready.counts)
    else:
        got = Measurements({k: setup.values[k] for k in WINDOW_INPUTS if k in setup.values})
        fill = partial(_time_window, ready, cell, settings, got)
    try:
        fill()
        _release_cache(cell)  # the partner's window comes next, in its own process
    except Exception as err:
        return *failure(err, got), got
    return "ok", None, got


# What a profile taken by a pair's worker (`windows`) carries over from the set-up, as a profile
# cell's own set-up records it: the step's first call, what compiling it found; and every detail
# but the set-up's own seconds, warnings and traceback.
PROFILE_INPUTS = ("first_call_s", "compile_graph_breaks", "compile_cudagraph_skips")
NOT_CARRIED = (CELL_TIME_KEY, "warnings", "traceback")


def prepare(cell: Cell | None = None) -> None:
    """What a worker held ahead of its turn does (bench.worker --hold): import torch, the model
    families and the graph tracer that counting on meta pulls in (this module is imported by then),
    and, given its timed cell, count it on meta: the model's description and the step's FLOPs, which
    its measurement then takes (`_counted`) instead of counting them on its turn. None of it touches
    a device; a count that fails here is left to fail again on the cell's turn, and be recorded."""
    import torch._dynamo  # noqa: F401

    from bench import registry  # noqa: F401

    if cell is None or cell.phase not in PHASE_MEASURES or cell.phase in STATIC_PHASES:
        return  # a profile cell's worker, say, measures by the profiler's function
    for what, count in _counts_of(cell).items():
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # the record's, on the cell's turn
            warnings.simplefilter("default")
            counted = count()
        _counted_ahead[cell, what] = (counted, time.perf_counter() - start, caught)


def _counts_of(cell: Cell) -> dict[str, Callable[[], Any]]:
    """A cell's counts on meta, each by the name `_counted` takes it under: the model's description
    for every measured cell, and a timed step's FLOPs (`_count_timed`)."""
    counts = {"model": lambda: model_info(cell)}
    if PHASE_MEASURES.get(cell.phase) is _timed:
        counts["flops"] = lambda: _count(cell, train_step=cell.phase == "train_step")
    return counts


def _counted(cell: Cell, what: str, out: Measurements) -> Any:
    """The count `what` of `cell` (`_counts_of`): the one `prepare(cell)` took ahead of the
    cell's turn, once, its seconds then under out.details[CELL_TIME_KEY]["count_ahead"] (part of
    the worker's "ahead", not of its wall time) and the warnings it raised then raised again now,
    for the measurement to record; else counted now."""
    ahead = _counted_ahead.pop((cell, what), None)
    if ahead is None:
        return _counts_of(cell)[what]()
    counted, seconds, caught = ahead
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    parts = out.details.setdefault(CELL_TIME_KEY, {})
    parts["count_ahead"] = parts.get("count_ahead", 0.0) + seconds
    return counted


def cpu_threads_for(cell: Cell) -> str | None:
    """Set torch's intra-op threads for a timed CPU cell (bench.measure.hardware.set_cpu_threads:
    the user's OMP_NUM_THREADS, else no more threads than usable cores) and return the source;
    None for other cells: counts take no time worth threading, and a CUDA cell's host threads only
    launch kernels."""
    if cell.device != "cpu" or cell.phase in STATIC_PHASES:
        return None
    from bench.measure.hardware import set_cpu_threads

    return set_cpu_threads()


def first_call_then_quiet(
    make: Callable, cell: Cell, sync: Callable, out: Measurements
) -> Callable:
    """The step's first call (`_first_call`), then the wait for the next cell's worker to be ready
    (`wait_for_quiet`, rinbench run --prestart), which every warm-up and timed call comes after.
    A CPU cell's first call waits too: its compiling and its kernels share the machine's few cores
    with that worker's imports. A GPU cell's runs beside them, the wait overlapping its compiling
    and cuDNN's autotuning (seconds a cell): its kernels are the device's, cuDNN picks among them
    by their times on the device, and an import takes one of the host's many cores. Its
    first_call_s may read a little long for it; details["first_call_beside_reason"] says where
    the first call began beside them. Returns the step."""
    if cell.device != "cuda":
        wait_for_quiet(out)
    elif _quiet_pending():
        out.details["first_call_beside_reason"] = (
            "the first call (compiling, cuDNN's autotuning) began while the next cell's worker "
            "was still importing and counting on the host (rinbench run --prestart); the warm-up "
            "and the timed calls came after the wait for it (prestart_reason)"
        )
    with spent(out, "first_call"):
        step = _first_call(make, cell, sync, out)
    wait_for_quiet(out)
    return step


def _quiet_pending() -> bool:
    """Whether a --prestart sweep's next cell's worker has yet to say it is ready."""
    path = os.environ.get(QUIET_FILE_ENV)
    return bool(path) and not os.path.exists(path)


def wait_for_quiet(out: Measurements, poll_s: float = 0.02) -> None:
    """Wait until the file QUIET_FILE_ENV names exists (the next cell's held worker has done its
    imports and counts; bench.cellprocess makes it appear too if that worker dies first), at most
    QUIET_WAIT_S; the seconds go to out.details[CELL_TIME_KEY]["quiet_wait"]. Past the limit,
    details["quiet_reason"] says the timing may have shared the machine; details
    ["prestart_reason"] says what ran beside what. Without the variable, or once a wait of this
    cell's ran out (the limit holds for the cell, not each wait), return at once."""
    path = os.environ.get(QUIET_FILE_ENV)
    if not path or "quiet_reason" in out.details:
        return
    out.details["prestart_reason"] = (
        "the next cell's worker started beside this cell's count and build (rinbench run "
        "--prestart); its warm-up and timed calls (and on a CPU its first call) waited until that "
        "worker's imports and counts were done"
    )
    with spent(out, "quiet_wait"):
        deadline = time.monotonic() + QUIET_WAIT_S
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                out.details["quiet_reason"] = (
                    f"the next cell's worker never said its imports were done ({path} missing "
                    f"after {QUIET_WAIT_S:g} s): its start may have overlapped this timing"
                )
                return
            time.sleep(poll_s)


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


def build_model(cell: Cell, device, settings: Settings | None = None):
    """The cell's model and config, built straight on `device` from seed 0 (every timed or profiled
    step of a preset starts from the same weights), in channels-last layout when the settings ask
    (the same values, another order in memory)."""
    import torch

    from bench import registry

    cfg = registry.config(cell.preset, cell.resolution)
    torch.manual_seed(0)
    with torch.device(device):
        model = registry.get(cell.preset).builder(cfg)
    if settings is not None and settings.channels_last:
        to_channels_last(model)
    return model, cfg


def make_steps(model, cfg, cell: Cell, settings: Settings, device, out: Measurements) -> Callable:
    """The factory of the cell's steps (batch -> a callable running one call of the phase), as a
    timed cell and its profile both run them: the model as the cell's mode runs it (`_compiled`),
    the phase's step (PHASE_STEPS) under the cell's autocast, with the settings' optimizer and
    input layout, and the whole of each call, set-up included, under the SDPA backend lever. The
    checkpointing and low_precision_norms levers change the model's modules here, before the model
    is compiled."""
    if settings.low_precision_norms:
        out.details["low_precision_norm_modules"] = low_precision_norm_cell(model, cell)
    if settings.checkpointing is not None:
        out.details["checkpointed_modules"] = checkpoint_cell(model, cell, settings.checkpointing)
    model_fn = _compiled(model, cell, settings, out)
    context = step_context(model, cfg, cell.dtype, device, settings, model_fn=model_fn)
    make = PHASE_STEPS[cell.phase](context)
    return _under_sdpa_backend(make, settings.sdpa_backend)


# --- levers ----------------------------------------------------------------------------------------


def checkpoint_cell(model, cell: Cell, kind: str) -> int:
    """Wrap the units of `kind` the cell's family declares in activation checkpointing
    (bench.measure.checkpointing); returns how many modules were wrapped. Unsupported for a phase
    that keeps no activations for a backward, and for a family without units of that kind."""
    from bench import registry
    from bench.measure.checkpointing import KIND_MEANING, checkpoint_units

    phase = profiled(cell.phase) or cell.phase
    if phase != "train_step":
        raise Unsupported(
            f"checkpointing {kind!r} trades memory for recomputation in a backward; phase "
            f"{phase!r} runs none (only train_step does)"
        )
    family = registry.get(cell.preset).declared_by
    units = family.checkpoint_units.get(kind, ())
    if not units:
        declared = ", ".join(family.checkpoint_units) or "none"
        raise Unsupported(
            f"family {family.name!r} declares no units for checkpointing {kind!r} "
            f"({KIND_MEANING[kind]}); it declares: {declared}"
        )
    return checkpoint_units(model, units)


def low_precision_norm_cell(model, cell: Cell) -> int:
    """Make the model's GroupNorm and LayerNorm modules run in the cell's autocast dtype
    (bench.measure.norms); returns how many. Unsupported for a cell without autocast, and for a
    model without such norms."""
    from bench.measure.norms import run_norms_in

    dtype = _autocast_dtype(cell.dtype)
    if dtype is None:
        raise Unsupported(
            f"low_precision_norms runs the norms in the autocast dtype; dtype {cell.dtype!r} runs "
            "without autocast (only bf16 and fp16 do)"
        )
    changed = run_norms_in(model, dtype)
    if not changed:
        raise Unsupported(
            f"low_precision_norms: model {cell.preset!r} has no GroupNorm or LayerNorm module "
            "running torch.nn's own forward"
        )
    return changed


def channels_last_format(tensor):
    """The channels-last memory format for a tensor of its rank (4-D: channels_last, 5-D:
    channels_last_3d), or None for a rank that has none (vectors, Linear weights, Conv1d's 3-D)."""
    import torch

    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(tensor.dim())


def to_channels_last(model) -> None:
    """Put the model's 4-D and 5-D parameters and buffers in channels-last layout, in place (the
    Parameter objects stay, so an optimizer built later sees them), and give the model a forward
    pre-hook that puts its image input, the first argument, in channels-last layout too.

    Module.to(memory_format=torch.channels_last) would refuse RIN-video's 5-D Conv3d weights, so
    each tensor gets the format of its rank."""
    import itertools

    for tensor in itertools.chain(model.parameters(), model.buffers()):
        memory_format = channels_last_format(tensor)
        if memory_format is not None:
            tensor.data = tensor.data.contiguous(memory_format=memory_format)
    model.register_forward_pre_hook(_channels_last_input)


def _channels_last_input(module, args):
    """Forward pre-hook: the first argument (the image or video batch) in channels-last layout; a
    no-op for an input already so (the step's inputs are converted once, when the step is made)."""
    if not args or channels_last_format(args[0]) is None:
        return None
    return (to_channels_last_input(args[0]), *args[1:])


def to_channels_last_input(x):
    """An input batch in the channels-last format of its rank (itself when already so)."""
    memory_format = channels_last_format(x)
    return x if memory_format is None else x.contiguous(memory_format=memory_format)


def _sdpa_member(backend: str):
    """The torch.nn.attention.SDPBackend member a Settings.sdpa_backend names."""
    from torch.nn.attention import SDPBackend

    return getattr(SDPBackend, SDPA_BACKENDS[backend])


# What torch's SDPA raises when the only backend allowed cannot run the call: CUDA's dispatcher
# ("No available kernel. Aborting execution.") and the CPU's ("No viable backend for
# scaled_dot_product_attention was found.").
NO_SDPA_KERNEL = ("No available kernel", "No viable backend for scaled_dot_product_attention")


@contextmanager
def sdpa_backend_only(backend: str | None) -> Iterator[None]:
    """Every scaled_dot_product_attention inside runs on `backend` alone (None: no constraint); a
    call that backend cannot run raises Unsupported with torch's reason instead of falling back."""
    if backend is None:
        yield
        return
    from torch.nn.attention import sdpa_kernel

    with sdpa_kernel(_sdpa_member(backend)):
        try:
            yield
        except Exception as err:
            if not any(text in str(err) for text in NO_SDPA_KERNEL):
                raise
            raise Unsupported(
                f"sdpa_backend {backend!r} cannot run this model's attention: "
                f"{one_line(f'{type(err).__name__}: {err}')} (the warnings say why)"
            ) from err


def _under_sdpa_backend(make: Callable, backend: str | None) -> Callable:
    """`make` whose set-up (RIN's first call for its latents) and steps run under
    `sdpa_backend_only(backend)`; `make` itself without a backend."""
    if backend is None:
        return make

    def make_under(batch: int) -> Callable:
        with sdpa_backend_only(backend):
            step = make(batch)

        def step_under():
            with sdpa_backend_only(backend):
                return step()

        return step_under

    return make_under


def check_sdpa_backend(backend: str | None, dtype: str, device) -> None:
    """Raise Unsupported where the SDPA backend cannot run attention at all on `device` in the
    cell's dtype: a probe call (batch 1, 2 heads, 16 tokens, head width 64) under the cell's
    autocast. A backend that runs the probe but not the model's own attention (a mask, a head
    width) is caught at the model's first call (sdpa_backend_only)."""
    if backend is None:
        return
    import torch
    import torch.nn.functional as F

    compute = _autocast_dtype(dtype) or torch.float32
    q = torch.randn(1, 2, 16, 64, device=device, dtype=compute)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _autocast(dtype, device)(), sdpa_backend_only(backend):
                F.scaled_dot_product_attention(q, q, q)
        except Unsupported as err:
            why = "; ".join(dict.fromkeys(str(w.message).strip() for w in caught))
            raise Unsupported(
                f"sdpa_backend {backend!r} ({SDPA_BACKENDS[backend]}) does not run on "
                f"{device.type} in {dtype} with torch {torch.__version__}"
                + (f": {one_line(why)}" if why else f": {one_line(str(err.__cause__))}")
            ) from err


def adamw(parameters, settings: Settings):
    """The train step's AdamW (lr TRAIN_STEP_LR), fused when the settings ask; Unsupported where
    the fused kernel does not exist for the parameters' device or dtype (torch refuses at
    construction)."""
    import torch

    if not settings.fused_optimizer:
        return torch.optim.AdamW(parameters, lr=TRAIN_STEP_LR)
    parameters = list(parameters)
    try:
        return torch.optim.AdamW(parameters, lr=TRAIN_STEP_LR, fused=True)
    except (RuntimeError, ValueError) as err:
        where = sorted({f"{p.device.type} {p.dtype}" for p in parameters})
        raise Unsupported(
            f"fused_optimizer: torch {torch.__version__} has no fused AdamW for parameters on "
            f"{', '.join(where)}: {one_line(str(err))}"
        ) from err


def _count_timed(cell: Cell, settings: Settings, out: Measurements) -> tuple[int, dict]:
    """The phase's MAC and FLOP counts (per image) into `out`; returns the FLOPs of one call and
    the counts as `_count` gave them."""
    counts = _counted(cell, "flops", out)
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
    return per_call, counts


def _compiled(model, cell: Cell, settings: Settings, out: Measurements):
    """The model as the cell's mode runs it: itself (eager), or torch.compile's wrapper."""
    import torch

    if cell.mode != "compile":
        return model
    kwargs = {"mode": settings.compile_mode} if settings.compile_mode else {}
    try:
        _reset_compile_counters()
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

    compiled = cell.mode == "compile"
    start = time.perf_counter()
    try:
        step = make(cell.batch)
        step()
        sync()
    except Exception as err:
        # A lever the model cannot run is unsupported in either mode, not a failed compile.
        if compiled and not is_out_of_memory(err) and not isinstance(err, Unsupported):
            raise CompileFailed(one_line(f"{type(err).__name__}: {err}")) from err
        raise
    out.values["first_call_s"] = time.perf_counter() - start
    if compiled:
        out.add(_graph_breaks())
        uses_cuda_graphs = out.details.get("compile_mode") in CUDA_GRAPH_MODES
        if uses_cuda_graphs and out.details.get("compile_backend") == "inductor":
            out.add(_cudagraph_skips())
    return step


def _time_window(ready: _Ready, cell: Cell, settings: Settings, out: Measurements) -> None:
    """Time the ready step, with memory and energy over the timed window: after the warm-up, so the
    peaks are the steady state's, with lazily created state (AdamW moments, cuDNN workspaces) in
    alloc_before_bytes. Its seconds go to the cell's "windows" part."""
    with spent(out, "windows"):
        _time_window_in(ready, cell, settings, out)


def _time_window_in(ready: _Ready, cell: Cell, settings: Settings, out: Measurements) -> None:
    from bench.measure.energy import EnergyMeter, joules_per_image
    from bench.measure.hardware import usable_cores
    from bench.measure.memory import PeakMemory, rss_added
    from bench.measure.timing import mfu_suspect, throughput, time_calls

    memory, energy = PeakMemory(cell.device), EnergyMeter(cell.device)
    timing = time_calls(
        ready.step,
        device=cell.device,
        warmup=settings.warmup,
        warmup_steady_within=settings.warmup_steady_within,
        min_repeats=settings.min_repeats,
        min_seconds=settings.min_seconds,
        max_seconds=settings.max_seconds,
        max_rel_iqr=settings.max_rel_iqr,
        window=_all_of(memory, energy),
    )
    out.add(timing.values() | memory.values | energy.values)
    if "rss_after_build_bytes" in out.values:
        out.add(rss_added(memory.values, out.values["rss_after_build_bytes"]))
    out.add(
        throughput(
            timing.stats.median_ms,
            images_per_call=cell.batch,
            flops_per_call=ready.flops_per_call,
            peak_tflops=ready.peak.tflops,
            datasheet_peak_tflops=out.values.get("datasheet_peak_tflops"),
        )
    )
    out.add(mfu_suspect(out.values, cell.device.split(":")[0], usable_cores()))
    out.values["joules_per_image"] = joules_per_image(
        energy.values, timing.timed_iters * cell.batch
    )
    if cell.phase == "sample":
        steps = settings.sample_steps
        out.values |= {"sample_steps": steps, "ms_per_step": timing.stats.median_ms / steps}
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
            # A cell batch over the limit ran already: the search then only confirms the limit.
            start=min(cell.batch, settings.max_batch_limit),
            limit=settings.max_batch_limit,
        )
    )


def _reset_compile_counters() -> None:
    try:
        from torch._dynamo.utils import counters

        counters.clear()
    except ImportError:
        pass  # _graph_breaks() then records why it has no number


def _cudagraph_skips() -> dict:
    """How many compiled graphs inductor left without CUDA graphs in a mode that asks for them
    (every graph on a CPU; on a GPU, graphs with CPU tensors or ops CUDA graphs cannot hold). The
    counter is inductor's private one, read like the graph breaks'."""
    try:
        from torch._dynamo.utils import counters

        return {"compile_cudagraph_skips": counters["inductor"]["cudagraph_skips"]}
    except (ImportError, AttributeError, KeyError, TypeError) as err:
        return {"compile_cudagraph_skips": None, "compile_cudagraph_skips_reason": repr(err)}


def _graph_breaks() -> dict:
    """How often dynamo split the model into several graphs (each break runs Python in between).
    The counter is dynamo's private one: if it moves, the reason says so instead of a number."""
    try:
        from torch._dynamo.utils import counters

        return {"compile_graph_breaks": sum(counters["graph_break"].values())}
    except (ImportError, AttributeError, KeyError, TypeError) as err:
        return {"compile_graph_breaks": None, "compile_graph_breaks_reason": repr(err)}


@dataclass(frozen=True)
class StepContext:
    """What a phase's step factory (PHASE_STEPS) builds the cell's steps from."""

    model_fn: Callable  # the model as the cell's mode runs it: itself, or torch.compile's wrapper
    model: Any  # the torch.nn.Module itself: its parameters, its train or eval mode
    cfg: Any  # the model's config
    autocast: Callable  # a factory of the cell's autocast contexts (a nullcontext in fp32 and tf32)
    device: Any  # the torch.device the model lives on
    dtype: str  # the cell's dtype, one of bench.cell.DTYPES
    settings: Settings
    needs: DiffusionNeeds  # what bench.diffusion needs to know of the model, from its family


def step_context(
    model, cfg, dtype: str, device, settings: Settings, *, model_fn=None
) -> StepContext:
    """The StepContext of a model built for a cell: its autocast for `dtype` on `device` and what
    its family declares to the diffusion process; `model_fn` defaults to the model itself."""
    from bench import registry

    return StepContext(
        model_fn=model if model_fn is None else model_fn,
        model=model,
        cfg=cfg,
        autocast=_autocast(dtype, device),
        device=device,
        dtype=dtype,
        settings=settings,
        needs=registry.diffusion_needs(cfg),
    )


def _forward_step(context: StepContext) -> Callable:
    import torch

    from bench import registry

    model_fn, autocast = context.model_fn, context.autocast
    context.model.eval()

    def make(batch: int) -> Callable:
        x, t, y = registry.example_inputs(context.cfg, batch, context.device)
        if (
            context.settings.channels_last
        ):  # once here, so that the model's pre-hook has nothing to do
            x = to_channels_last_input(x)
        state = None
        if context.needs.recurrent_state:  # the latents a previous sampling step would pass in
            with torch.no_grad(), autocast():
                # A copy: under CUDA graphs (compile_mode "reduce-overhead") an output lives in the
                # graphs' memory pool, which the timed calls' replays overwrite.
                state = model_fn(x, t, y)[1].clone()

        def step():
            with torch.no_grad(), autocast():
                return model_fn(x, t, y, state)

        return step

    return make


def _train_step(context: StepContext) -> Callable:
    import torch

    from bench import registry
    from bench.diffusion import training_loss

    model, device = context.model, context.device
    model.train()
    optimizer = adamw([p for p in model.parameters() if p.requires_grad], context.settings)
    # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range.
    scaler = torch.amp.GradScaler(device.type) if context.dtype == "fp16" else None
    generator = torch.Generator(device).manual_seed(0)

    def make(batch: int) -> Callable:
        x0, _, y = registry.example_inputs(context.cfg, batch, device)
        if context.settings.channels_last:  # the noised input then mostly keeps the layout
            x0 = to_channels_last_input(x0)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with context.autocast():
                loss = training_loss(
                    context.model_fn, x0, y, needs=context.needs, generator=generator
                )
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


def _sample_step(context: StepContext) -> Callable:
    import torch

    from bench import registry
    from bench.diffusion import sample

    context.model.eval()
    settings, device = context.settings, context.device
    generator = torch.Generator(device).manual_seed(0)

    def make(batch: int) -> Callable:
        _, _, y = registry.example_inputs(context.cfg, batch, device)

        def step():
            with context.autocast():
                return sample(
                    context.model_fn,
                    context.cfg,
                    batch,
                    needs=context.needs,
                    steps=settings.sample_steps,
                    sampler=settings.sampler,
                    y=y,
                    generator=generator,
                    device=device,
                )

        return step

    return make


# A timed phase's step factory: StepContext -> (batch -> a callable running one call of the phase).
PHASE_STEPS = {"forward": _forward_step, "train_step": _train_step, "sample": _sample_step}
# What measures each phase of bench.cell.PHASES, into a cell's Measurements.
PHASE_MEASURES: dict[str, Callable] = {
    "params": _params,
    "flops": _flops,
    "forward": _timed,
    "train_step": _timed,
    "sample": _timed,
    "fid": _fid,
}
