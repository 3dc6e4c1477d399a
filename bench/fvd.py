"""Fréchet Video Distance with a video feature extractor you supply.

FVD (Unterthiner et al. 2018) is the Fréchet distance between Gaussians fitted to features of real and
generated clips, the features coming from an I3D network trained on Kinetics-400. Those weights are not
on any package index, so rinbench cannot fetch or convert them offline as it does Inception's for FID.
The machinery is therefore pluggable: any TorchScript module that maps a batch of clips to feature vectors
serves, given by path (`--video-extractor PATH` or $RINBENCH_VIDEO_EXTRACTOR). Without one, the command
stops with a message saying so. The distance itself is bench.fid.metrics' float64 Fréchet distance.

The extractor's contract: input float32 (N, C, T, H, W) in [-1, 1] (the layout of rinbench's video
models), output (N, D) features. Wrap an I3D that expects another layout or range in a small TorchScript
module that converts, and name the wrapper in the protocol string you report.

    rinbench fvd generated.npz reference.npz --video-extractor i3d_torchscript.pt
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from bench.fid.metrics import fid_statistics, frechet_distance
from bench.train.checkpoint import file_sha256

EXTRACTOR_ENV = "RINBENCH_VIDEO_EXTRACTOR"


class MissingVideoExtractor(FileNotFoundError):
    """No video feature extractor was given; the message says how to give one."""


def video_extractor_path(path: str | os.PathLike | None = None) -> Path:
    """The extractor file from `path` or $RINBENCH_VIDEO_EXTRACTOR; MissingVideoExtractor if neither."""
    chosen = path or os.environ.get(EXTRACTOR_ENV)
    if not chosen:
        raise MissingVideoExtractor(
            "FVD needs a video feature extractor (I3D for the standard FVD), whose weights are on "
            "no package index: pass --video-extractor PATH (or set "
            f"${EXTRACTOR_ENV}) to a TorchScript module mapping (N, C, T, H, W) clips in [-1, 1] "
            "to (N, D) features"
        )
    chosen = Path(chosen)
    if not chosen.is_file():
        raise MissingVideoExtractor(f"video feature extractor {chosen} does not exist")
    return chosen


class VideoFeatures:
    """A TorchScript video feature extractor, run without gradients in float32 with TF32 off."""

    def __init__(self, path: str | os.PathLike, device: str | torch.device = "cpu"):
        self.path = Path(path)
        self.device = torch.device(device)
        try:
            self.module = torch.jit.load(str(self.path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"{self.path} is not a loadable TorchScript module: {err}") from None

    @torch.no_grad()
    def __call__(self, clips_NCTHW: torch.Tensor) -> np.ndarray:
        from bench.measure.numerics import numerics

        with numerics(tf32=False):
            features = self.module(clips_NCTHW.to(self.device, torch.float32))
        if features.ndim != 2 or features.shape[0] != clips_NCTHW.shape[0]:
            raise ValueError(
                f"the video extractor must return (N, D) features, got {tuple(features.shape)} "
                f"for {clips_NCTHW.shape[0]} clips"
            )
        return features.double().cpu().numpy()


def load_videos(path: str | os.PathLike) -> np.ndarray:
    """An .npz whose `arr_0` holds uint8 clips (N, T, H, W, C), as np.savez writes them."""
    path = Path(path)
    try:
        loaded = np.load(path)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .npz: {err}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz archive (np.savez writes one)")
    try:
        with loaded as archive:
            if "arr_0" not in archive:
                raise ValueError(f"{path} has no 'arr_0' array (found {', '.join(archive.files)})")
            videos = archive["arr_0"]
    except (OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz: {err}") from None
    if videos.ndim != 5 or videos.dtype != np.uint8 or videos.shape[-1] not in (1, 3):
        raise ValueError(
            f"{path}: expected uint8 clips (N, T, H, W, C) with C 1 or 3, "
            f"got {videos.dtype} {videos.shape}"
        )
    return videos


def clip_features(
    videos_NTHWC: np.ndarray, extractor: VideoFeatures, batch: int = 16
) -> np.ndarray:
    """(N, D) float64 features of uint8 clips, fed to the extractor as (B, C, T, H, W) in [-1, 1]."""
    chunks = []
    for start in range(0, len(videos_NTHWC), batch):
        clips = torch.from_numpy(videos_NTHWC[start : start + batch]).permute(0, 4, 1, 2, 3)
        chunks.append(extractor(clips.float() / 127.5 - 1.0))
    return np.concatenate(chunks)


def fvd(
    generated: np.ndarray, reference: np.ndarray, extractor: VideoFeatures, batch: int = 16
) -> dict:
    """FVD between two sets of uint8 clips, with what it was computed from."""
    if min(len(generated), len(reference)) < 2:
        raise ValueError("FVD needs at least 2 clips per set for a covariance")
    if generated.shape[1:] != reference.shape[1:]:
        raise ValueError(
            f"clips of different shapes: {generated.shape[1:]} vs {reference.shape[1:]}"
        )
    stats = [fid_statistics(clip_features(v, extractor, batch)) for v in (generated, reference)]
    return {
        "fvd": frechet_distance(*stats[0], *stats[1]),
        "n_generated": len(generated),
        "n_reference": len(reference),
        "clip_shape": list(generated.shape[1:]),
        "video_extractor": str(extractor.path),
        "video_extractor_sha256": file_sha256(extractor.path),
    }
