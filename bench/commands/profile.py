"""`rinbench profile`: one cell's step under torch.profiler, time per FLOP group beside its MACs.

The command only: the profiling itself is `bench.profiling` (run in a worker process), the summary
it prints `reports.where_time_goes`.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

from bench.commands.common import (
    add_command,
    add_device_option,
    add_out_option,
    add_timeout_option,
)
from bench.errors import EXIT_OK, UsageError, shorten

DEFAULT_TIMEOUT_S = 1800.0
DESCRIPTION = """\
Profile one cell: build its step as `rinbench run` times it (same model, inputs, dtype and
mode), run a few steps under torch.profiler in a process of its own, time a few calls without
it before and after (the profiler's slowdown is recorded), and print where the time went: per
FLOP group (RIN read / compute / write / other, U-Net per feature-map size, DiT per block kind)
its time per step, its share of the step beside its share of the MACs, and the FLOP/s it
achieved; then the operators with the most self time.

The record goes to DIR/profile/RUN_ID.jsonl (phase "profile:PHASE", so that it never stands in
for the timed record of the same cell; `rinbench report DIR` shows it under "Where the time
goes"), the Chrome trace to DIR/profile/RUN_ID/CELL.trace.json.gz (open it in ui.perfetto.dev or
chrome://tracing), and on CUDA a memory snapshot beside it (pytorch.org/memory_viz). A trace
holds 3 forward steps, 2 train steps or 1 sampler call: a few MB at most.

Exit status: 0 when the profile was recorded, 2 for bad input or a profile that failed (its
attempt is recorded too).

examples:
  rinbench profile rin-tiny                                  forward, CPU, fp32, batch 1
  rinbench profile rin-in256 --phase train_step --device cuda --dtype bf16 --batch 32
  rinbench profile dit-xl-2.r256.b32.bf16.forward.eager.cuda  a cell id of a suite
"""


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "profile",
        run,
        help="profile one cell: time per FLOP group, top operators, a trace",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "target",
        metavar="CELL_OR_PRESET",
        help="a preset (see `rinbench list`) or a cell id such as "
        "'rin-in256.r256.b1.fp32.forward.eager.cpu'",
    )
    parser.add_argument(
        "--phase",
        choices=("forward", "train_step", "sample"),
        help="the step to profile (default: forward, or the cell id's)",
    )
    add_device_option(parser, default="cpu, or the cell id's")
    parser.add_argument(
        "--dtype",
        choices=("fp32", "tf32", "bf16", "fp16"),
        help="bf16 and fp16 autocast over fp32 weights (default: fp32, or the cell id's)",
    )
    parser.add_argument("--batch", type=int, help="images per step (default: 1, or the cell id's)")
    parser.add_argument(
        "--mode",
        choices=("eager", "compile"),
        help="compile gives no time per group, only operators (default: eager, or the cell id's)",
    )
    parser.add_argument(
        "--resolution", type=int, help="pixels per side (default: the preset's, or the cell id's)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="calls after the first and before the unprofiled ones",
    )
    add_out_option(
        parser,
        "folder for results: the record goes to DIR/profile/RUN_ID.jsonl",
        default=Path("results"),
    )
    add_timeout_option(parser, "the profiling process", default=DEFAULT_TIMEOUT_S)


def run(args) -> int:
    from bench import runner
    from bench.cellprocess import run_in_subprocess
    from bench.devicefacts import device_facts
    from bench.provenance import new_run
    from bench.scratch import scratch_prefix
    from bench.suites import Planned
    from reports.where_time_goes import summary_text

    cell = resolve_cell(args)
    visible = _pinned_gpu(args.device or cell.device)
    settings = _settings(args)
    run = new_run("profile", cell.device)
    path = args.out / "profile" / f"{run.id}.jsonl"
    writer = _open_writer(path)
    try:
        facts = device_facts(cell.device, args.timeout, visible)
        spec, request = runner.profile_request(
            args.measure_spec, dataclasses.asdict(settings), path
        )
        with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
            outcome = run_in_subprocess(
                cell, request, facts.peak, spec, args.timeout, Path(scratch), visible=visible
            )
        env = facts.env | ({"cuda_visible_devices": visible} if visible else {})
        record = runner.make_record(run, Planned(cell, settings), env, outcome)
        writer.append(record)
    finally:
        writer.close()
    if record.status != "ok":
        # The error's first line, cut so that the line still ends with where its whole text is.
        first = shorten((record.error or "").strip().partition("\n")[0], limit=120)
        raise UsageError(
            f"profiling {cell.id} ended in {record.status}: {first} (attempt recorded in {path})"
        )
    print(summary_text(record), end="")
    print(f"rinbench: record in {path}", file=sys.stderr)
    return EXIT_OK


def _pinned_gpu(device: str) -> str | None:
    """The CUDA_VISIBLE_DEVICES entry of GPU N for --device cuda:N (the worker then sees that GPU
    alone, as `run --devices N` pins it), None for cpu or cuda; UsageError for a device this
    machine does not have."""
    from bench import devices
    from bench.errors import require_device

    require_device(device)
    _, _, index = device.partition(":")
    return devices.choose(index)[0] if index else None


def resolve_cell(args):
    """The profile cell the arguments name: a preset with the options, or a cell id whose fields
    the options replace. UsageError listing the presets for an unknown name."""
    from bench import registry
    from bench.cell import Cell, profile_of, profiled

    fields = {}
    try:
        cell = Cell.from_id(args.target)
    except ValueError:
        cell = None
    if cell is not None:
        fields = dataclasses.asdict(cell)
        fields["phase"] = profiled(cell.phase) or cell.phase
        preset = cell.preset
    else:
        preset = args.target
    if preset not in registry.slugs():
        raise UsageError(f"unknown cell or preset {preset!r}; {registry.known_presets(preset)}")
    options = {
        "phase": args.phase,
        "device": args.device and args.device.partition(":")[0],  # cuda:N: a cuda cell on GPU N
        "dtype": args.dtype,
        "batch": args.batch,
        "mode": args.mode,
        "resolution": args.resolution,
    }
    defaults = {
        "phase": "forward",
        "device": "cpu",
        "dtype": "fp32",
        "batch": 1,
        "mode": "eager",
        "resolution": registry.config(preset).resolution,
    }
    chosen = {k: v if v is not None else fields.get(k, defaults[k]) for k, v in options.items()}
    try:
        chosen["phase"] = profile_of(chosen["phase"])
        return Cell(preset=preset, **chosen)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _settings(args):
    from bench.measure.cell import Settings

    try:
        return Settings(warmup=args.warmup)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _open_writer(path: Path):
    """The run file's writer, opened; UsageError when the folder cannot be written."""
    from bench import results

    writer = results.Writer(path)
    try:
        writer.open()
    except OSError as err:
        raise UsageError(f"cannot write results to {path.parent}: {err.strerror or err}") from None
    return writer
