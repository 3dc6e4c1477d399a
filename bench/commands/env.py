"""`rinbench env`: the environment recorded with every result, as JSON."""

from __future__ import annotations

import json

from bench.commands.common import add_command, add_device_option
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
    add_device_option(parser)


def run(args) -> int:
    import torch

    from bench.measure.hardware import environment

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    require_device(device)
    print(json.dumps(environment(device), indent=2, default=str))
    return EXIT_OK
