"""`rinbench run SUITE --launcher slurm`: plan the run file(s), launch, report.

One partition (or none: the cluster's default) gives one run file, named as a local run's. With
`--partitions a100,h100` each partition gets a run file of its own in the suite's folder,
RUN_ID.a100.jsonl and RUN_ID.h100.jsonl (one start time, one RUN_ID): `rinbench report` on the
folder draws the hardware comparison, `rinbench compare` takes one partition's file against
another's, and `--resume` continues each partition's file.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import sys
from pathlib import Path

from bench.commands.common import open_run
from bench.errors import EXIT_FAILED_CELLS, EXIT_INTERRUPTED, EXIT_OK, UsageError
from bench.launch import settings as launch_settings


def run(args, report, check_here) -> int:
    """The launched form of `rinbench run`; `report(suite, plan)` writes and prints a run file's
    report as the local run does, and returns its exit status. `check_here(suite, plan)` refuses,
    as a local run does, cells this machine cannot run: submitit-local's jobs run here (Slurm's
    on nodes whose devices this machine cannot see)."""
    from bench import runner, suites
    from bench.launch.sweep import Sweep, import_submitit
    from bench.record import SchemaError

    if getattr(args, "devices", None):
        raise UsageError("--devices places cells on this node; with --launcher use --gpus-per-job")
    if args.retry_failed and args.resume is None:
        raise UsageError(
            "--retry-failed retries the failed cells of a run: add --resume [RUN_FILE]"
        )
    import_submitit(f"--launcher {args.launcher}")  # before anything is written
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if args.launcher == "slurm" and missing:
        raise UsageError(f"--launcher slurm needs Slurm's {missing[0]}, which is not on PATH here")
    try:
        suite = suites.load(args.suite, device=args.device)
        if suite.pairs:
            raise launch_settings.LaunchError(
                f"suite {suite.name!r} times pairs interleaved ([pairs]), which a job per cell "
                "cannot do: run it without --launcher, on one node"
            )
        chosen = launch_settings.resolve(suite.launcher, launch_settings.given_flags(args))
        if args.launcher == "slurm":
            launch_settings.check_partitions_exist(chosen.partitions)
        plans = plan_targets(suite, chosen, args)
    except (suites.SuiteError, runner.RunError, SchemaError, launch_settings.LaunchError) as err:
        raise UsageError(str(err)) from None
    if args.dry_run:
        for partition, plan in plans:
            for item in plan.todo:
                print(f"{item.cell.id}" + (f" {partition}" if partition else ""))
        return EXIT_OK
    if args.launcher != "slurm":
        for _, plan in plans:
            check_here(suite, plan)
    targets = _open(plans, suite)
    kind = "slurm" if args.launcher == "slurm" else "local"
    timeout_s = suite.timeout_s if args.timeout is None else args.timeout
    try:
        summaries = Sweep(
            targets,
            chosen,
            kind=kind,
            timeout_s=timeout_s,
            measure_spec=args.measure_spec,
            progress=not args.no_progress,
        ).execute()
    finally:
        for target in targets:
            target.writer.close()
    if any(summary.interrupted for summary in summaries):
        _say_how_to_resume(args, [plan for _, plan in plans], summaries)
        return EXIT_INTERRUPTED
    statuses = [report(suite, plan) for _, plan in plans]
    return EXIT_FAILED_CELLS if EXIT_FAILED_CELLS in statuses else EXIT_OK


def plan_targets(suite, chosen, args) -> list[tuple[str | None, object]]:
    """(partition, RunPlan) per run file: one, or one per partition with --partitions."""
    from bench import runner

    options = {"only": args.only, "retry_failed": args.retry_failed}
    if not chosen.per_partition_files:
        partition = chosen.partitions[0] if chosen.partitions else None
        return [(partition, runner.plan(suite, args.out, resume=args.resume, **options))]
    if args.resume is None:
        base = runner.plan(suite, args.out, **options)
        plans = []
        for partition in chosen.partitions:
            path = base.path.with_name(f"{base.run.id}.{partition}.jsonl")
            if path.exists():
                raise runner.RunError(f"run file {path} already exists; pass --resume {path}")
            run = dataclasses.replace(base.run, id=f"{base.run.id}.{partition}")
            plans.append((partition, dataclasses.replace(base, path=path, run=run)))
        return plans
    base_id = _base_run_id(Path(args.out) / suite.name, args.resume, chosen.partitions)
    folder = Path(args.out) / suite.name
    plans = []
    for partition in chosen.partitions:
        path = folder / f"{base_id}.{partition}.jsonl"
        if not path.is_file():
            raise runner.RunError(f"no run file of partition {partition!r} to resume at {path}")
        plans.append((partition, runner.plan(suite, args.out, resume=path, **options)))
    return plans


def _base_run_id(folder: Path, resume: str, partitions: tuple[str, ...]) -> str:
    """The RUN_ID shared by the partitions' files RUN_ID.<partition>.jsonl: of the file named,
    or of the newest such file in the suite's folder (resume "latest")."""
    from bench import runner

    if resume != runner.LATEST:
        name = Path(resume).name
        for partition in partitions:
            if name.endswith(f".{partition}.jsonl"):
                return name.removesuffix(f".{partition}.jsonl")
        raise runner.RunError(
            f"{resume} is not the run file of one of the partitions {', '.join(partitions)} "
            "(RUN_ID.PARTITION.jsonl)"
        )
    suffix = f".{partitions[0]}.jsonl"
    runs = sorted(
        p.name for p in folder.glob(f"*{suffix}") if runner.RUN_FILE.fullmatch(p.name)
    ) if folder.is_dir() else []  # fmt: skip
    if not runs:
        raise runner.RunError(f"no run of partition {partitions[0]!r} to resume in {folder}")
    return runs[-1].removesuffix(suffix)


def _open(plans, suite) -> list:
    from bench.launch.sweep import Target

    targets = []
    for partition, plan in plans:
        for line in (*suite.notes, *plan.warnings):
            print(f"rinbench: note: {line}", file=sys.stderr)
        writer = open_run(plan, partition)
        targets.append(Target.open(plan, writer, partition))
    return targets


def _say_how_to_resume(args, plans, summaries) -> None:
    again = ["rinbench", "run", args.suite, "--resume", str(plans[0].path)]
    again += ["--launcher", args.launcher]
    for name in (*launch_settings.FLAG_FIELDS, "device", "timeout"):
        value = getattr(args, name, None)
        if value is not None:
            again += [f"--{name.replace('_', '-')}", str(value)]
    for pattern in args.only or ():
        again += ["--only", pattern]
    if args.retry_failed:  # the failed cells it was retrying are retried still
        again.append("--retry-failed")
    recorded = sum(summary.measured for summary in summaries)
    files = ", ".join(str(plan.path) for plan in plans)
    print(
        f"rinbench: interrupted; the jobs were cancelled; {recorded} cells recorded in {files}.\n"
        f"rinbench: finish the run with: {shlex.join(again)}",
        file=sys.stderr,
    )
