"""`rinbench launch`: `rinbench train` or `rinbench fid model` on several nodes, through Slurm.

    rinbench launch --nodes 2 --nproc-per-node 8 --partition h100 --time 600 -- \\
        train rin-in64 --steps 100000 --batch 1024 --out /shared/runs/rin-in64

submits one Slurm job of `--nodes` nodes and one task per node (submitit); each task starts
torchrun, which starts `--nproc-per-node` processes on its node, and the torchrun of every node
meets the others at the c10d rendezvous on the job's first node:

    python -m torch.distributed.run --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
        --rdzv-endpoint HEAD:29500 --rdzv-id JOB_ID -m bench train rin-in64 ...

(torchrun's documented multi-node form: https://pytorch.org/docs/stable/elastic/run.html). The
processes then join the process group bench.distributed sets up from torchrun's environment, as
under a hand-written `srun torchrun ...` (docs/slurm.md shows that recipe too).
`--launcher submitit-local` runs the same job on this machine (one node): a way to try a launch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.commands.common import add_command
from bench.errors import UsageError
from bench.launch.settings import positive_int, positive_number

DEFAULT_PORT = 29500
DEFAULT_TIME_MIN = 60
LAUNCHED = {("train",): "rinbench train", ("fid", "model"): "rinbench fid model"}

DESCRIPTION = """\
Run `rinbench train` or `rinbench fid model` data-parallel on several nodes of a Slurm
cluster: one job of --nodes nodes, torchrun on each, meeting at a c10d rendezvous on the
job's first node. Everything after `--` is the command, as you would type it after `rinbench`.
Logs, and submitit's files, go to --logs. Ctrl-C while waiting cancels the job.

examples:
  rinbench launch --nodes 2 --nproc-per-node 8 --partition h100 -- \\
      train rin-in64 --steps 100000 --out /shared/runs/rin-in64
  rinbench launch --nodes 4 --nproc-per-node 8 --partition h100 -- \\
      fid model /shared/runs/rin-in64/checkpoint.pt --num-samples 50000 --out /shared/fid ...
"""


def torchrun_command(
    command: list[str], *, nnodes: int, nproc_per_node: int, endpoint: str, rdzv_id: str
) -> list[str]:
    """The torchrun line each node runs for `command` (`["train", ...]`)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        str(nnodes),
        "--nproc-per-node",
        str(nproc_per_node),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        endpoint,
        "--rdzv-id",
        rdzv_id,
        "-m",
        "bench",
        *command,
    ]


def node_task(command: list[str], nproc_per_node: int, port: int) -> int:
    """What each node's task of the job runs (pickled by submitit): torchrun for `command`,
    meeting the other nodes at the job's first host. Raises when torchrun fails, so that the job
    ends failed and its log says why."""
    import submitit

    job = submitit.JobEnvironment()
    head = job.hostnames[0] if job.cluster == "slurm" else "127.0.0.1"
    line = torchrun_command(
        command,
        nnodes=job.num_nodes,
        nproc_per_node=nproc_per_node,
        endpoint=f"{head}:{port}",
        rdzv_id=f"rinbench-{job.job_id}",
    )
    print(" ".join(line), flush=True)
    completed = subprocess.run(line, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"torchrun exited with code {completed.returncode} on {job.hostname}")
    return completed.returncode


def check_command(command: list[str]) -> None:
    """The launched command must be `train ...` or `fid model ...`, and parse as such here (bad
    options fail now, not on the cluster after the queue)."""
    from bench.fid import cli as fid_cli
    from bench.train import cli as train_cli

    if not any(tuple(command[: len(k)]) == k for k in LAUNCHED):
        raise UsageError(
            "rinbench launch runs: "
            + ", ".join(" ".join(k) for k in LAUNCHED)
            + f"; got {' '.join(command[:2]) or 'nothing'} (put the command after --)"
        )
    parser = argparse.ArgumentParser(prog="rinbench")
    commands = parser.add_subparsers(dest="command")
    train_cli.add_parser(commands)
    fid_cli.add_parser(commands)
    parser.parse_args(command)  # argparse's usage and exit 2 for a bad option


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "launch",
        run,
        help="run train or fid model on several nodes of a Slurm cluster (torchrun)",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--launcher",
        choices=("slurm", "submitit-local"),
        help="slurm, or submitit-local: the same job on this machine (one node) (default: slurm)",
    )
    parser.add_argument("--nodes", type=positive_int, default=1, help="nodes of the job")
    parser.add_argument(
        "--nproc-per-node", type=positive_int, default=1, help="processes (GPUs) per node"
    )
    parser.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help="rendezvous port")
    for flag, words in (
        ("--partition", "Slurm partition"),
        ("--account", "Slurm account"),
        ("--qos", "Slurm quality of service"),
        ("--constraint", "Slurm --constraint"),
    ):
        parser.add_argument(flag, metavar="NAME", help=f"{words} (default: the cluster's)")
    parser.add_argument(
        "--time",
        type=positive_number,
        default=DEFAULT_TIME_MIN,
        metavar="MINUTES",
        help="time limit of the job",
    )
    parser.add_argument(
        "--cpus-per-node", type=positive_int, metavar="N", help="CPUs per node (default: Slurm's)"
    )
    parser.add_argument("--logs", default="slurm-logs", metavar="DIR", help="submitit's folder")
    parser.add_argument("--no-wait", action="store_true", help="return once the job is submitted")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ... (required)")


def run(args) -> int:
    from bench.launch.sweep import import_submitit

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    check_command(command)
    given = f"--launcher {args.launcher}" if args.launcher else "--launcher slurm (the default)"
    args.launcher = args.launcher or "slurm"
    submitit = import_submitit(f"rinbench launch {given}")
    executor = make_executor(submitit, args)
    job = executor.submit(node_task, command, args.nproc_per_node, args.port)
    where = f"{args.nodes} node{'s' * (args.nodes > 1)} x {args.nproc_per_node} processes"
    print(
        f"rinbench: submitted job {job.job_id} ({where}); log: {job.paths.stdout}", file=sys.stderr
    )
    if args.no_wait:
        return 0
    try:
        while not job.done():
            time.sleep(2 if args.launcher == "slurm" else 0.2)
    except KeyboardInterrupt:
        job.cancel(check=False)
        print(f"rinbench: interrupted; job {job.job_id} cancelled", file=sys.stderr)
        raise
    failure = job.exception()
    if failure is not None:
        last = str(failure).strip().splitlines()
        raise UsageError(f"job {job.job_id} failed: {last[-1] if last else failure}; see its log")
    print(f"rinbench: job {job.job_id} finished", file=sys.stderr)
    return 0


def make_executor(submitit, args):
    if args.launcher == "submitit-local":
        if args.nodes != 1:
            raise UsageError("--launcher submitit-local runs on this machine: --nodes 1")
        executor = submitit.LocalExecutor(folder=args.logs)
        executor.update_parameters(timeout_min=args.time, tasks_per_node=1)
        return executor
    try:
        executor = submitit.SlurmExecutor(folder=args.logs)
    except RuntimeError as err:
        raise UsageError(f"--launcher slurm: {err}") from None
    import math

    parameters = {
        "job_name": "rinbench-launch",
        "nodes": args.nodes,
        "ntasks_per_node": 1,  # one torchrun per node; it starts the node's processes
        "gpus_per_node": args.nproc_per_node,
        "time": max(1, math.ceil(args.time)),
        "partition": args.partition,
        "account": args.account,
        "qos": args.qos,
        "constraint": args.constraint,
        "cpus_per_task": args.cpus_per_node,
        "stderr_to_stdout": True,
    }
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    return executor
