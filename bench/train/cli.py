"""`rinbench train`: diffusion training of a preset, and `rinbench train equal-compute`.

    rinbench train rin-tiny --steps 200 --batch 32 --out runs/rin-tiny
    torchrun --nproc-per-node 8 -m bench.train rin-tiny --resolution 64 ...   (data-parallel, DDP)
    rinbench train equal-compute --budget-macs 2e15 --out runs/equal

Parsing needs no torch; each run function imports what it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.commands.common import (
    add_command,
    add_device_option,
    add_out_option,
    add_progress_option,
    distributed_on,
    library_checks_as_usage,
    require_at_least,
)
from bench.errors import UsageError
from bench.fid.cli import METRIC_COUNTS, SAMPLERS, add_kid_subset_option, say_kid_subset_size
from bench.train.settings import (
    AMP_DTYPES,
    EQUAL_COMPUTE_MODELS,
    FALLBACK_SCHEDULE,
    LR_DECAYS,
    OPTIMIZERS,
    TrainSettings,
)

DESCRIPTION = """\
Diffusion training of a registry preset on the built-in data (seeded crops of scikit-image's
photographs), an image folder or an .npz; data-parallel under torchrun. Checkpoints load with
torch.load(weights_only=True) and carry the training MACs spent so far.

The first word is a preset, or a subcommand:
  equal-compute    train small RIN, U-Net and DiT models to equal training MACs, with their FIDs
                   (`rinbench train equal-compute --help`)

examples:
  rinbench train rin-tiny --resolution 32 --steps 2000 --out runs/rin
  rinbench train rin-tiny --out runs/rin --steps 4000 --resume
"""


class _PresetOrSubcommand(argparse._SubParsersAction):
    """`train PRESET [options]` or `train equal-compute [options]`: a first word that names no
    subcommand is the preset, and the training options after it are parsed into the same
    namespace (so options may stand before or after the preset, as before)."""

    class _AnyWord(Mapping):
        """The subcommands, seen through an `in` that accepts any word: argparse checks the first
        word against `choices`, and here a word that names no subcommand is a preset."""

        def __init__(self, parsers: dict):
            self.parsers = parsers

        def __getitem__(self, name: str):
            return self.parsers[name]

        def __iter__(self):
            return iter(self.parsers)

        def __len__(self) -> int:
            return len(self.parsers)

        def __contains__(self, word) -> bool:
            return True

    def __init__(self, *args, options: argparse.ArgumentParser, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = self._AnyWord(self._name_parser_map)
        self.options = options

    def __call__(self, parser, namespace, values, option_string=None):
        if values[0] in self._name_parser_map:
            return super().__call__(parser, namespace, values, option_string)
        namespace.preset = values[0]
        _, extra = self.options.parse_known_args(values[1:], namespace)
        if "-h" in extra or "--help" in extra:
            parser.print_help()
            parser.exit()
        if extra:
            vars(namespace).setdefault(argparse._UNRECOGNIZED_ARGS_ATTR, []).extend(extra)


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "train",
        run_train,
        help="diffusion training of any preset on the built-in data or your images",
        description=DESCRIPTION,
    )
    parser.usage = "%(prog)s [options] PRESET [options]\n       %(prog)s equal-compute [options]"
    _add_train_options(parser)
    options = argparse.ArgumentParser(add_help=False, prog=parser.prog)
    _add_train_options(options)
    sub = parser.add_subparsers(
        prog="rinbench train",
        dest="preset",
        metavar="PRESET",
        required=True,
        action=_PresetOrSubcommand,
        options=options,
        help="a registry slug (pixel-space presets), or `equal-compute`",
    )
    _add_equal_compute_parser(sub)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    d = TrainSettings(preset="", out_dir="")  # the defaults
    # Not required=True: the parser of `train` also parses `train equal-compute ...`, whose --out
    # is its own; run_train says when this one is missing.
    add_out_option(p, "run folder: checkpoint.pt and train_log.jsonl (required, no default)")
    p.add_argument("--resolution", type=int, help="pixels per side (default: the preset's)")
    p.add_argument(
        "--set",
        dest="overrides",
        type=_override,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="replace a config field, e.g. --set patch_size=4; repeat for more (default: none)",
    )
    p.add_argument("--data", default=d.data, help="'builtin', an image folder or an .npz")
    p.add_argument("--data-size", type=int, default=d.data_size, help="built-in images to crop")
    p.add_argument("--data-seed", type=int, default=d.data_seed, help="seed of the built-in crops")
    p.add_argument("--resize", default=d.resize, help="resize protocol for the data")
    p.add_argument("--unconditional", action="store_true", help="ignore the data's labels")
    _add_optimizer_options(p, d)
    p.add_argument(
        "--seed", type=int, default=d.seed, help="seed of the weights, batches and noise"
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints"
    )
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps between log lines")
    add_device_option(p)
    add_progress_option(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")


# The optimiser's options, in --help's order: each sets the TrainSettings field of its name
# (dashes for underscores; _PLAIN_SETTINGS) and defaults to the field's default. The field -> the
# rest of its add_argument.
_OPTIMIZER_OPTIONS = {
    "steps": dict(type=int, help="total optimizer steps (a resumed run continues up to this)"),
    "batch": dict(type=int, help="global batch, split over the ranks"),
    "optimizer": dict(choices=OPTIMIZERS, help="the optimizer"),
    "lr": dict(type=float, help="peak learning rate"),
    "weight_decay": dict(type=float, help="decoupled weight decay on matrices and tables"),
    "warmup_steps": dict(type=int, help="linear warm-up steps"),
    "lr_decay": dict(choices=LR_DECAYS, help="after warm-up"),
    "grad_clip": dict(type=float, help="max global gradient norm; 0 = off"),
    "ema_decay": dict(type=float, help="EMA decay of the weights"),
    "self_cond_rate": dict(
        type=float, help="RIN: share of examples that see their self-conditioning latents"
    ),
    "schedule": dict(help=f"noise schedule (default: the model's own, else {FALLBACK_SCHEDULE})"),
    "amp": dict(choices=AMP_DTYPES, help="bf16: autocast forward and backward"),
}


def _add_optimizer_options(p: argparse.ArgumentParser, d: TrainSettings) -> None:
    for field, rest in _OPTIMIZER_OPTIONS.items():
        p.add_argument("--" + field.replace("_", "-"), default=getattr(d, field), **rest)


def _add_equal_compute_parser(sub) -> None:
    p = add_command(
        sub,
        "equal-compute",
        run_equal_compute,
        help="train small RIN, U-Net and DiT models to equal training MACs, with their FIDs",
        description="Train small RIN, U-Net and DiT models to equal training MACs on the built-in "
        "data, compute FID at each milestone, and write one JSON row per model and milestone "
        "(OUT/rows.jsonl; each FID also as a record in OUT/results).",
    )
    models = sorted(EQUAL_COMPUTE_MODELS)
    p.add_argument(
        "--budget-macs",
        type=float,
        required=True,
        help="training MACs per model (required, no default)",
    )
    add_out_option(p, "folder for runs, samples and rows.jsonl", required=True)
    p.add_argument("--models", nargs="+", choices=models, default=models, help="which models")
    p.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.25, 0.5, 1.0],
        help="milestones, as fractions of the budget",
    )
    p.add_argument("--batch", type=int, default=64, help="training batch")
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate")
    p.add_argument("--data-size", type=int, default=4096, help="built-in images to crop")
    p.add_argument("--num-samples", type=int, default=2048, help="samples per FID")
    p.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="the sampler")
    p.add_argument("--sample-steps", type=int, default=50, help="network evaluations per sample")
    add_kid_subset_option(p)
    p.add_argument(
        "--inception-weights", help="see `rinbench fid weights --help` (default: found as there)"
    )
    add_device_option(p)
    add_progress_option(p)


def _override(text: str) -> tuple[str, Any]:
    """'key=value' with value parsed as JSON where it can be (numbers, lists), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key, tuple(parsed) if isinstance(parsed, list) else parsed


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@library_checks_as_usage
def run_train(args: argparse.Namespace) -> int:
    from bench.train.loop import train

    if args.out is None:
        raise UsageError("train needs --out DIR, the run folder")
    settings = TrainSettings(
        preset=args.preset,
        out_dir=str(args.out),
        overrides=tuple(args.overrides),
        conditional=not args.unconditional,
        **{name: getattr(args, name) for name in _PLAIN_SETTINGS},
    )
    dist = distributed_on(args.device)
    try:
        summary = train(
            settings, resume=args.resume, progress=not args.no_progress, log=_stderr, dist=dist
        )
    except FileExistsError as err:
        raise UsageError(str(err)) from None
    if dist.is_main:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    return 0


# TrainSettings fields that take the option of the same name as it is.
_PLAIN_SETTINGS = (
    "resolution",
    "data",
    "data_size",
    "data_seed",
    "resize",
    "steps",
    "batch",
    "optimizer",
    "lr",
    "weight_decay",
    "warmup_steps",
    "lr_decay",
    "grad_clip",
    "ema_decay",
    "self_cond_rate",
    "schedule",
    "amp",
    "seed",
    "checkpoint_every",
    "log_every",
    "device",
)


@library_checks_as_usage
def run_equal_compute(args: argparse.Namespace) -> int:
    from bench.train.equal_compute import equal_compute

    counts = {"batch": 1, "data_size": 1, "num_samples": 1, "sample_steps": 1}
    require_at_least(args, kid_subset_size=METRIC_COUNTS["kid_subset_size"], **counts)
    dist = distributed_on(args.device)
    rows = equal_compute(
        args.budget_macs,
        args.out,
        models={name: EQUAL_COMPUTE_MODELS[name] for name in args.models},
        fractions=tuple(args.fractions),
        batch=args.batch,
        lr=args.lr,
        data_size=args.data_size,
        n_samples=args.num_samples,
        sampler=args.sampler,
        sample_steps=args.sample_steps,
        kid_subset_size=args.kid_subset_size,
        inception_weights=args.inception_weights,
        device=args.device,
        progress=not args.no_progress,
        log=_stderr,
    )
    if dist.is_main:
        with (Path(args.out) / "rows.jsonl").open("a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        for row in rows:
            print(json.dumps(row))
        if args.kid_subset_size is None:
            say_kid_subset_size(rows)
    return 0
