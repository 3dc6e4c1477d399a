"""FID end to end: two image sources compared, a checkpoint sampled and compared, and the result
stored as a `fid` record that `rinbench report` reads."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from bench import registry
from bench.data import BUILTIN_NAME, DEFAULT_RESIZE, ImageFolder, open_images
from bench.distributed import Distributed, distributed
from bench.fid.features import extract_features, inception_extractor, reference_features
from bench.fid.metrics import kid_subset_size_for, metrics_from_features
from bench.fid.protocol import check_protocol
from bench.fid.sampling import generate, sample_path
from bench.train.checkpoint import config_from_checkpoint, load_checkpoint


def compare_sources(
    generated,
    reference,
    extractor,
    *,
    protocol: str = "legacy-tf",
    kid: bool = True,
    kid_subset_size: int | None = None,
    batch: int = 64,
    cache_dir=None,
    use_cache: bool = True,
    dist: Distributed | None = None,
    progress: bool = False,
) -> dict:
    """FID/KID/IS between two image sources; the reference's features are cached.

    KID's subset size is `kid_subset_size`, or min(1000, the smaller set) when None; the result
    says which (`kid_subset_size`). `numerics_flags` in the result are those in force outside
    feature extraction (i.e. during sampling); features are always extracted with TF32 off
    (`tf32_during_features`).
    """
    from bench.measure.numerics import numerics_flags

    dist = dist or Distributed()
    if kid:
        kid_subset_size = kid_subset_size_for(kid_subset_size, len(generated), len(reference))
    started = time.perf_counter()
    shared = dict(protocol=protocol, batch=batch, dist=dist, progress=progress)
    ref, info = reference_features(
        reference, extractor, cache_dir=cache_dir, use_cache=use_cache, **shared
    )
    gen = extract_features(generated, extractor, desc="sample features", **shared)
    result = {}
    if dist.is_main:
        result = metrics_from_features(
            gen, ref, protocol=protocol, kid=kid, kid_subset_size=kid_subset_size
        )
    result = dist.broadcast(result)
    describe = getattr(extractor, "describe", lambda: {"feature_extractor": repr(extractor)})
    return (
        result
        | {
            "resize_protocol": protocol,
            "n_samples": len(generated),
            "n_reference": len(reference),
            "reference": reference.describe(),
            "seconds_features": time.perf_counter() - started,
            "tf32_during_features": False,
            "numerics_flags": numerics_flags(),
            "world_size": dist.world,
        }
        | describe()
        | info
    )


def fid_for_checkpoint(
    checkpoint: str | os.PathLike | None,
    *,
    n: int,
    sampler: str = "ddim",
    steps: int = 100,
    out_dir: str | os.PathLike,
    reference: str = BUILTIN_NAME,
    n_reference: int | None = None,
    reference_seed: int = 1,
    reference_resize: str = DEFAULT_RESIZE,
    protocol: str = "legacy-tf",
    kid: bool = True,
    kid_subset_size: int | None = None,
    seed: int = 0,
    batch: int = 64,
    feature_batch: int = 64,
    slug: str | None = None,
    weights: str = "ema",
    schedule: str | None = None,
    inception_weights_path: str | None = None,
    inception_dtype: str = "float32",
    extractor=None,
    cache_dir=None,
    use_cache: bool = True,
    dist: Distributed | None = None,
    progress: bool = False,
) -> dict:
    """Generate n samples from a checkpoint (or a preset's random weights) and compute FID/KID/IS
    against a reference.

    All inputs are checked before sampling: the checkpoint, the Inception weights, the reference
    (folder / .npz / "builtin" crops at the model's resolution, seed `reference_seed`, n_reference
    images, default n) and the KID subset size against both set sizes.
    """
    dist = dist or distributed()
    check_protocol(protocol)
    resolution = _model_resolution(checkpoint, slug)
    if extractor is None:
        extractor = inception_extractor(
            inception_weights_path, device=dist.device, dtype=inception_dtype, cache_dir=cache_dir
        )
    builtin = reference == BUILTIN_NAME
    ref_source = open_images(
        reference,
        resolution=resolution if builtin else None,
        resize=reference_resize,
        n=(n_reference or n) if builtin else n_reference,
        seed=reference_seed,
    )
    if kid:
        kid_subset_size = kid_subset_size_for(kid_subset_size, n, len(ref_source))
    run = dict(dist=dist, progress=progress)
    sample_args = (slug, checkpoint, n, sampler, steps, out_dir, seed, batch)
    sampled = generate(*sample_args, weights=weights, schedule=schedule, **run)
    generated = ImageFolder(out_dir, files=[sample_path(Path(out_dir), i) for i in range(n)])
    options = dict(protocol=protocol, kid=kid, kid_subset_size=kid_subset_size, batch=feature_batch)
    options |= dict(cache_dir=cache_dir, use_cache=use_cache, **run)
    metrics = compare_sources(generated, ref_source, extractor, **options)
    return sampled | metrics


def _model_resolution(checkpoint, slug: str | None) -> int:
    if checkpoint is not None:
        return config_from_checkpoint(load_checkpoint(checkpoint)).resolution
    if slug is not None:
        return registry.config(slug).resolution
    raise ValueError("fid_for_checkpoint needs a checkpoint or a preset slug")


def store_result(result: dict, out_dir: Path, *, batch: int, device) -> Path:
    """Append a sampling FID result as a `fid` cell record (bench.record.Record) to
    out_dir/fid/<run_id>.jsonl, where `rinbench report` finds it; returns the file. Numbers go to
    the record's values, text to its details (bench.record.split_diagnostics, the rule records of
    schema 1 are upgraded by)."""
    import torch

    from bench import results
    from bench.cell import Cell
    from bench.measure.hardware import environment
    from bench.record import Record, RunInfo, split_diagnostics

    device_type = torch.device(device).type
    cell = Cell(result["preset"], result["resolution"], batch, phase="fid", device=device_type)
    env = environment(device_type)
    started = results.utc_now()
    run_id = results.make_run_id(
        started, socket.gethostname(), device_type, (env.get("git_commit") or "nogit")[:7]
    )
    values, details = split_diagnostics(json.loads(json.dumps(result, default=str)))
    record = Record(
        run=RunInfo(run_id, suite="fid", started=started.isoformat()),
        cell=cell,
        settings={},
        model=None,
        env=env,
        status="ok",
        values=values,
        details=details,
    )
    path = Path(out_dir) / "fid" / f"{run_id}.jsonl"
    with results.Writer(path) as writer:
        writer.append(record)
    return path
