"""`rinbench fvd`: Fréchet Video Distance between two .npz files of clips (bench.fvd).
Parsing needs no torch; the run function imports what it runs."""

from __future__ import annotations

import argparse
import json

from bench.commands.common import add_command, add_device_option, library_checks_as_usage
from bench.errors import UsageError, require_device

EXTRACTOR_ENV = "RINBENCH_VIDEO_EXTRACTOR"  # bench.fvd.EXTRACTOR_ENV, here without torch


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "fvd",
        run,
        help="Frechet Video Distance with a video feature extractor you supply",
        description="Fréchet Video Distance between two .npz files of uint8 clips (N, T, H, W, C), "
        "with a video feature extractor you supply (I3D weights are not on a package index).",
    )
    parser.add_argument("generated", help=".npz of generated clips (arr_0)")
    parser.add_argument("reference", help=".npz of real clips (arr_0)")
    parser.add_argument(
        "--video-extractor",
        metavar="PATH",
        help=f"TorchScript extractor (default: ${EXTRACTOR_ENV}; none is an error that says how)",
    )
    parser.add_argument("--batch", type=int, default=16, help="clips per extractor batch")
    add_device_option(parser)


@library_checks_as_usage
def run(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise UsageError("--batch must be positive")
    if args.device is not None:
        require_device(args.device)
    import torch

    from bench.fvd import VideoFeatures, fvd, load_videos, video_extractor_path

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    extractor = VideoFeatures(video_extractor_path(args.video_extractor), device)
    generated, reference = load_videos(args.generated), load_videos(args.reference)
    print(json.dumps(fvd(generated, reference, extractor, args.batch), indent=2))
    return 0
