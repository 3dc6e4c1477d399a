"""`rinbench env`: the environment recorded with every result, as JSON."""

from __future__ import annotations

import json

from bench.commands.common import add_command
from bench.errors import EXIT_OK, require_device


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "env",
        run,
        help="print the environment recorded with every result (hardware, software, flags)",
        description="Print, as JSON, the environment rinbench records on every result: CPU/GPU, "
        "driver, CUDA, torch, numerics flags, git commit.",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="the device to describe (default: cuda when available, else cpu)",
    )


def run(args) -> int:
    import torch

    from bench.measure.hardware import environment

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    require_device(device)
    print(json.dumps(environment(device), indent=2, default=str))
    return EXIT_OK
