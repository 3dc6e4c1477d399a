"""The per-cell subprocess: measures one cell and writes its outcome to a JSON file.

    python -m bench.worker --request REQUEST.json --result RESULT.json [--measure MODULE:FUNCTION]
    python -m bench.worker --probe DEVICE [--peak] --result RESULT.json
    python -m bench.worker --request REQUEST.json --serve MODULE:FUNCTION --answers DIR
    python -m bench.worker --request REQUEST.json --result RESULT.json --hold READY

The runner (bench/runner.py) starts one of these per timed, memory or FID cell, so that an OOM, a
crash or a hang ends this process and not the sweep. REQUEST.json holds a `WorkerRequest` as JSON
({"cell": Cell.as_dict(), "settings": {...}, "peak": MatmulPeak.values() or null}); RESULT.json
receives the bench.record.Outcome as JSON
({"status", "values", "error", "model", "details"}) and appears only when the measurement finished
(written to a temporary name, then renamed), so a missing result file means the process died.

`--measure` names the function that measures, called as f(cell: Cell, settings: dict, peak) and
returning a bench.record.Outcome (or its JSON object, which `outcome_of` checks); `peak` is the
device's matmul peak measured once per run (a bench.measure.facts.MatmulPeak, or None). The default is the harness's measurement; the
tests pass a fake one to provoke each failure for real. This module imports torch only through the measure function, so the
fakes start in milliseconds.

`--serve` measures a paired cell window by window (bench.paired): the function is a generator
f(cell, settings, peak) that yields the set-up's outcome, then one window's outcome per next(); the
worker writes each as DIR/answer-<n>.json (0: the set-up) and waits for the parent to write "next"
(one more window) or "stop" on its standard input. Both sides of a pair stay alive, each in its own
process, while the parent alternates their windows. After the rounds the parent may write
`profile {"trace_dir": ...}`: the generator is then sent {"profile": {...}} (bench.cell.PROFILE_ASK)
and yields the cell's profile, taken on the step its windows ran (bench.measure.cell.windows).

`--hold READY` starts a cell ahead of its turn (bench.cellprocess.hold): the worker imports what the
measure function's module needs (its `prepare(cell)`, where it has one: torch and the model families
for the harness's, which counts the cell on meta too), creates READY, and waits for a GO line on its
standard input; anything else (the sweep stopped) ends it without measuring.
details["cell_time_s"]["held"] is how long it waited, and "ahead" how long it took to get ready
(from --started, when its parent started it). Its parent times the cell from GO, so the imports are
no part of the cell's wall time.

`--probe DEVICE` writes the device's facts (bench.measure.facts.DeviceFacts as JSON: its
environment, and its matmul peak with --peak, else null): the runner takes a GPU's facts in a separate process, so that its own process never holds a
CUDA context (and GPU memory) while the cells measure.

Threads: a timed CPU cell, and the CPU peak, run with the intra-op threads
`bench.measure.hardware.set_cpu_threads` decides (the user's OMP_NUM_THREADS, else no more than the
usable cores); the cell's details["torch_threads_source"] says which.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.cell import PROFILE_ASK, Cell
from bench.measure.facts import DeviceFacts, MatmulPeak
from bench.oom import is_out_of_memory
from bench.record import MEASURE_STATUSES, Outcome

DEFAULT_MEASURE = "bench.worker:measure_cell"
DEFAULT_SERVE = "bench.worker:serve_cell"
# What the parent writes on a serving worker's standard input: one more window, or the end; or
# PROFILE and a JSON object ({"trace_dir": ...}) on the same line: the served cell's profile.
NEXT, STOP, PROFILE = "next", "stop", PROFILE_ASK
GO = "go"  # what a held worker waits for (--hold)


@dataclass(frozen=True)
class WorkerRequest:
    """What a worker is asked to measure (REQUEST.json): the cell, the suite's settings as a dict
    (Settings.as_dict; a profile cell's carry its trace folder too) and the device's matmul peak
    (None: a timed cell measures its own)."""

    cell: Cell
    settings: dict
    peak: MatmulPeak | None = None

    def to_json(self) -> dict:
        peak = None if self.peak is None else self.peak.values()
        return {"cell": self.cell.as_dict(), "settings": self.settings, "peak": peak}

    @classmethod
    def from_json(cls, data: Mapping) -> WorkerRequest:
        cell_fields = {f.name for f in dataclasses.fields(Cell)}
        cell = Cell(**{k: v for k, v in data["cell"].items() if k in cell_fields})
        peak = data.get("peak")
        return cls(cell, data["settings"], None if peak is None else MatmulPeak.from_values(peak))


def measure_cell(cell: Cell, settings: dict, peak: MatmulPeak | None = None) -> Outcome:
    """The harness's measurement: bench.measure.cell.measure with the suite's settings. A timed CPU
    cell first gets its intra-op threads (`cpu_threads_for`); details["torch_threads_source"] says
    where the number came from."""
    from bench.measure.cell import Settings, cpu_threads_for, measure

    source = cpu_threads_for(cell)
    outcome = measure(cell, Settings(**settings), peak=peak)
    if source is None:
        return outcome
    return dataclasses.replace(outcome, details=outcome.details | {"torch_threads_source": source})


def prepare(cell: Cell | None = None) -> None:
    """What a held worker does before its turn (--hold): bench.measure.cell.prepare, its imports
    and the cell's counts on meta."""
    from bench.measure.cell import prepare as prepare_cell

    prepare_cell(cell)


def serve_cell(cell: Cell, settings: dict, peak: MatmulPeak | None = None) -> Iterator[Outcome]:
    """The harness's measurement window by window, for a paired cell (bench.paired):
    bench.measure.cell.windows with the suite's settings, after `cpu_threads_for`; what it is
    sent (a profile ask) passes on to `windows`."""
    from bench.measure.cell import Settings, cpu_threads_for, windows
    from bench.profiling.measure import profile_served

    source = cpu_threads_for(cell)
    served = windows(cell, Settings(**settings), peak=peak, profile=profile_served)
    ask = None
    try:
        while True:
            try:
                outcome = served.send(ask)
            except StopIteration:
                return
            if source is not None:
                outcome = dataclasses.replace(
                    outcome, details=outcome.details | {"torch_threads_source": source}
                )
            ask = yield outcome
    finally:
        served.close()  # the cell ends with it: the numerics flags restored now, not at collection


def probe(device: str, with_peak: bool) -> DeviceFacts:
    """The device's environment and, `with_peak`, its matmul peak. A CPU peak is taken with the
    threads a CPU cell gets, so that the MFU compares like with like."""
    from bench.measure.hardware import environment, set_cpu_threads
    from bench.measure.timing import matmul_peak

    if not with_peak:
        return DeviceFacts(environment(device))
    if device == "cpu":
        set_cpu_threads()
    return DeviceFacts(environment(device), matmul_peak(device))


def load_measure(target: str) -> Callable[..., Outcome | dict]:
    """'package.module:function' -> the function."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"a measure function is named 'module:function', got {target!r}")
    return getattr(importlib.import_module(module_name), function_name)


def run_measure(
    measure: Callable[..., Outcome | dict],
    cell: Cell,
    settings: dict,
    peak: MatmulPeak | None = None,
) -> Outcome:
    """Call `measure` and return its Outcome; never raises for a failed measurement
    (KeyboardInterrupt and SystemExit still pass through)."""
    try:
        result = measure(cell, settings, peak)
    except Exception as exc:
        status = "oom" if is_out_of_memory(exc) else "error"
        return Outcome(status, error=describe(exc))
    return outcome_of(result)


def describe(exc: BaseException) -> str:
    """'ValueError: message (at file.py:123 in function)': the error and where it was raised."""
    text = f"{type(exc).__name__}: {exc}".strip()
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


def outcome_of(result: object) -> Outcome:
    """The one check of what a measure function returned (an Outcome, or its JSON object as the
    test doubles and the worker's result file give it): the Outcome, or an error Outcome saying how
    the result broke the contract."""
    if not isinstance(result, Outcome):
        try:
            result = Outcome.from_json(result)
        except ValueError as err:
            return contract_error(str(err))
    if result.status not in MEASURE_STATUSES:
        valid = ", ".join(MEASURE_STATUSES)
        return contract_error(f"status {result.status!r} is not one a measurement gives ({valid})")
    return result


def contract_error(problem: str) -> Outcome:
    return Outcome("error", error=f"the measure function broke its contract: {problem}")


def serve(
    serve_fn: Callable[..., Iterator], request: WorkerRequest, answers: Path, commands
) -> None:
    """Answer a paired cell's parent: the set-up's outcome as answers/answer-0.json, then one
    window's outcome per NEXT line read from `commands`, or the cell's profile per PROFILE line
    (`ask_of`: sent to the serve function's generator), until STOP, the end of the input, or a
    failed outcome (which ends the cell). Each answer is written whole (`write_json`)."""
    try:
        outcomes = iter(serve_fn(request.cell, request.settings, request.peak))
    except Exception as exc:
        write_json(answers / "answer-0.json", Outcome("error", error=describe(exc)).to_json())
        return
    count, ask = 0, None
    try:
        while True:
            outcome = _next_outcome(outcomes, ask)
            write_json(answers / f"answer-{count}.json", outcome.to_json())
            count += 1
            if outcome.status != "ok":
                return
            command = commands.readline().strip()
            if command != NEXT and not command.startswith(PROFILE):
                return  # STOP, or the parent gone
            try:
                ask = ask_of(command)
            except ValueError as err:
                problem = contract_error(f"the parent's line {command!r} is unreadable ({err})")
                write_json(answers / f"answer-{count}.json", problem.to_json())
                return
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()


def ask_of(command: str) -> dict | None:
    """What a serve function's generator is sent for a command line: None for NEXT (one more
    window), {"profile": {...}} for PROFILE and its JSON object (bench.measure.cell.windows)."""
    if command == NEXT:
        return None
    arguments = command[len(PROFILE) :].strip()
    return {PROFILE: json.loads(arguments) if arguments else {}}


def _next_outcome(outcomes: Iterator, ask: dict | None = None) -> Outcome:
    try:
        if ask is None:
            result = next(outcomes)
        elif hasattr(outcomes, "send"):
            result = outcomes.send(ask)
        else:
            return contract_error(f"the serve function's iterator cannot be sent {ask!r}")
    except StopIteration:
        return contract_error("the serve function ended while windows were still asked for")
    except Exception as exc:
        status = "oom" if is_out_of_memory(exc) else "error"
        return Outcome(status, error=describe(exc))
    return outcome_of(result)


def write_json(path: Path, data: dict) -> None:
    """Write atomically: the reader sees the whole file or none."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, default=_plain), encoding="utf-8")
    os.replace(partial, path)


def _plain(value: object) -> object:
    # NumPy and torch scalars -> Python numbers; anything else becomes its text, visibly.
    if hasattr(value, "item"):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def die_with_parent(parent_pid: int) -> None:
    """If the runner is killed (even kill -9), kill this cell too rather than leave it holding the
    GPU: Linux's prctl(PR_SET_PDEATHSIG, SIGKILL). Elsewhere the runner's own cleanup must do."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the runner died before the line above took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--result", type=Path, help="where to write the outcome (not with --serve)")
    parser.add_argument("--request", type=Path, help="JSON file with the cell and settings")
    parser.add_argument("--measure", default=DEFAULT_MEASURE, help="MODULE:FUNCTION that measures")
    parser.add_argument("--probe", metavar="DEVICE", help="write the facts of DEVICE instead")
    parser.add_argument("--peak", action="store_true", help="with --probe: measure the matmul peak")
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the runner) dies")
    parser.add_argument(
        "--serve",
        metavar="MODULE:FUNCTION",
        help="measure the cell window by window (a paired cell): answers go to --answers, one "
        f"per '{NEXT}' (or '{PROFILE} JSON') line on standard input",
    )
    parser.add_argument("--answers", type=Path, help="with --serve: the folder for the answers")
    _add_hold_options(parser)
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)

    if args.result is None and args.serve is None:
        parser.error("--result is required unless --serve is given")
    if args.probe is not None:
        write_json(args.result, probe(args.probe, args.peak).to_json())
        return 0
    if args.request is None:
        parser.error("--request is required unless --probe is given")
    request = WorkerRequest.from_json(json.loads(args.request.read_text(encoding="utf-8")))
    if args.serve is not None:
        if args.answers is None:
            parser.error("--serve needs --answers")
        try:
            serve_fn = load_measure(args.serve)
        except Exception as exc:
            write_json(
                args.answers / "answer-0.json", Outcome("error", error=describe(exc)).to_json()
            )
            return 0
        serve(serve_fn, request, args.answers, sys.stdin)
        return 0
    measure_request(args, request)
    return 0


def _add_hold_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hold",
        type=Path,
        metavar="READY",
        help=f"prepare, create READY, then measure only after a '{GO}' line on standard input",
    )
    parser.add_argument(
        "--started",
        type=float,
        help="with --hold: when the parent started this process (time.time()), for the seconds "
        "it took to get ready ahead of its turn",
    )


def measure_request(args: argparse.Namespace, request: WorkerRequest) -> None:
    """Measure the request's cell with --measure's function (held first, with --hold) and write
    its outcome to --result; a worker held and never let go writes nothing."""
    try:
        measure, failed = load_measure(args.measure), None
    except Exception as exc:
        measure, failed = None, Outcome("error", error=describe(exc))
    held = (
        None
        if args.hold is None
        else hold_until_go(measure, args.hold, sys.stdin, cell=request.cell)
    )
    if args.hold is not None and held is None:
        return  # the sweep stopped before this cell's turn
    outcome = failed or run_measure(measure, request.cell, request.settings, request.peak)
    if held is not None:
        ready_at, held_s = held
        spent = {"held": held_s}
        if args.started is not None:  # the start it made ahead of its turn
            spent["ahead"] = ready_at - args.started
        outcome = outcome.with_cell_time(**spent)
    write_json(args.result, outcome.to_json())


def hold_until_go(
    measure: Callable | None, ready: Path, commands, cell: Cell | None = None
) -> tuple[float, float] | None:
    """--hold: the measure module's `prepare(cell)` (if it has one: its imports, and what it can
    do for `cell` ahead of its turn), then `ready` created, whatever happened (the cell before
    waits for it), then GO awaited on `commands`: (when it was ready, as time.time(); the seconds
    it then waited), or None when something else came (the sweep stopped)."""
    module = sys.modules.get(getattr(measure, "__module__", ""))
    prepare_fn = getattr(module, "prepare", None)
    try:
        if callable(prepare_fn):
            prepare_fn(cell)
    except Exception:
        pass  # the measurement meets the same failure and records what it is
    finally:
        ready.touch()  # the cell before this one waits for it
    ready_at, start = time.time(), time.perf_counter()
    if commands.readline().strip() != GO:
        return None
    return ready_at, time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
