"""Inception features of image sources: the extractor, extraction sharded over ranks, and the
on-disk cache of a reference set's features.

The extractor is torch-fidelity's FeatureExtractorInceptionV3 ("inception-v3-compat", the TF FID
Inception), called on whole batches. Features are extracted here, and the metrics computed from them
(bench.fid.metrics), rather than through torch-fidelity's `calculate_metrics`, which has sharp edges
for this use (torch-fidelity 0.4.0): `cuda=True` by default fails on a CPU machine; its
class-conditional model wrapper calls `np.random.randint(..., dtype=np.int)`, gone since NumPy 1.24
(`utils.get_featuresdict_from_generative_model`); `feature_extractor_internal_dtype="float64"` stays
float32 (`helpers.text_to_dtype`); and its cache key holds neither the weights nor TF32 (`utils.py`).
Extracting batches ourselves also makes sharding simple: each rank extracts whole batches and the
features are gathered in index order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.data import resize_square
from bench.distributed import Distributed, batch_spans
from bench.fid.protocol import (
    EXTRACTOR_NAME,
    FEATURE_DTYPES,
    INCEPTION_SIZE,
    check_protocol,
    metric_suffix,
)
from bench.fid.weights import default_cache_dir, inception_weights
from bench.progress import progress as progress_bar
from bench.train.checkpoint import file_sha256


class InceptionFeatures:
    """torch-fidelity's FID Inception as a function: uint8 (B, 3, H, W) -> {"2048": (B, 2048)
    float32, and "logits_unbiased": (B, 1008) when the weights have a logits layer}."""

    name = EXTRACTOR_NAME

    def __init__(self, weights: str | os.PathLike, device="cpu", dtype: str = "float32"):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if dtype not in FEATURE_DTYPES:
            raise ValueError(
                f"unknown Inception dtype {dtype!r}; known: {', '.join(FEATURE_DTYPES)}"
            )
        self.weights = Path(weights)
        self.weights_sha256 = file_sha256(self.weights)
        self.dtype = dtype
        try:
            module = FeatureExtractorInceptionV3(
                EXTRACTOR_NAME,
                ["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(weights),
            )
        except Exception as exc:
            raise ValueError(
                f"{weights}: not Inception weights in torch-fidelity's layout ({exc})"
            ) from exc
        if dtype == "float64":
            # torch-fidelity maps "float64" to float32 (helpers.text_to_dtype); set it for real.
            module.feature_extractor_internal_dtype = torch.float64
            module.double()
        self.module = module.to(device)
        self.device = torch.device(device)
        # Converted weights carry a zero logits layer: no Inception Score from them.
        self.has_logits = bool(module.fc.weight.abs().max() > 0)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            pool, logits = self.module(images.to(self.device))
        return {"2048": pool, "logits_unbiased": logits} if self.has_logits else {"2048": pool}

    def describe(self) -> dict:
        return {
            "feature_extractor": self.name,
            "inception_weights": str(self.weights),
            "inception_weights_sha256": self.weights_sha256,
            "inception_dtype": self.dtype,
            "has_logits": self.has_logits,
        }


def inception_extractor(
    weights: str | os.PathLike | None = None, *, device="cpu", dtype="float32", cache_dir=None
) -> InceptionFeatures:
    return InceptionFeatures(inception_weights(weights, cache_dir=cache_dir), device, dtype)


def prepare_for_inception(images: np.ndarray, protocol: str) -> np.ndarray:
    """uint8 (B, 3, H, W) -> what the extractor is fed under the resize protocol."""
    if check_protocol(protocol) == "legacy-tf":
        return images  # torch-fidelity resizes inside, TF1-style
    if images.shape[-2:] == (INCEPTION_SIZE, INCEPTION_SIZE):
        return images
    resized = [resize_square(im.transpose(1, 2, 0), INCEPTION_SIZE, "pil-bicubic") for im in images]
    return np.stack(resized).transpose(0, 3, 1, 2)


def extract_features(
    source,
    extractor: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    *,
    protocol: str = "legacy-tf",
    batch: int = 64,
    dist: Distributed | None = None,
    progress: bool = False,
    desc: str = "features",
) -> dict[str, np.ndarray]:
    """{layer: (N, D) float32} for every image of `source`, in index order, on every rank.

    Batch k goes to rank k mod world; with the same batch size, every image meets the network in
    the same batch as in a single process, so the gathered features equal a single process's, bit
    for bit where the kernels are the same (checked on CPU; note torchrun sets OMP_NUM_THREADS=1,
    and another CPU thread count changes convolution rounding, moving FID by ~1e-8 relative).
    TF32 is off throughout (bench.measure.numerics): cuDNN's TF32, on by default
    (`torch.backends.cudnn.allow_tf32`), moved Inception features by 4.5e-4 relative on an H100,
    against 1e-6 with it off (measured for this harness; torch-fidelity's v0.4.0 tests widen their
    CUDA tolerance to 1e-4 for the same reason).
    """
    from bench.measure.numerics import numerics

    check_protocol(protocol)
    dist = dist or Distributed()
    spans = batch_spans(len(source), batch)
    mine = dist.my_batches(len(spans))
    local: dict[int, dict[str, torch.Tensor]] = {}
    bar = progress_bar(len(mine), desc, enabled=progress and dist.is_main)
    with numerics(tf32=False):
        for k in mine:
            images = prepare_for_inception(source.read(*spans[k]), protocol)
            out = extractor(torch.from_numpy(np.ascontiguousarray(images)))
            local[k] = {name: value.float().cpu() for name, value in out.items()}
            bar.update(1)
    bar.close()
    dims = _feature_dims(extractor, local, dist)
    return {
        name: _gather_in_order({k: v[name] for k, v in local.items()}, spans, dim, dist).numpy()
        for name, dim in dims.items()
    }


def _feature_dims(extractor, local, dist: Distributed) -> dict[str, int]:
    """Layer widths, known even to a rank that had no batch (it asks rank 0)."""
    dims = {name: value.shape[1] for name, value in next(iter(local.values()), {}).items()}
    return dist.broadcast(dims)


def _gather_in_order(
    local: dict[int, torch.Tensor], spans: list[tuple[int, int]], dim: int, dist: Distributed
) -> torch.Tensor:
    """Rows of every rank's batches, reassembled in global batch order (all_gather, padded)."""
    if dist.world == 1:
        return torch.cat([local[k] for k in range(len(spans))])
    owned = [range(r, len(spans), dist.world) for r in range(dist.world)]
    rows = [sum(spans[k][1] - spans[k][0] for k in ks) for ks in owned]
    wire = dist.wire
    padded = torch.zeros(max(rows), dim, device=wire)
    if local:
        mine = torch.cat([local[k] for k in owned[dist.rank]])
        padded[: len(mine)] = mine.to(wire)
    parts = [torch.empty_like(padded) for _ in range(dist.world)]
    torch.distributed.all_gather(parts, padded)
    offsets = [0] * dist.world
    ordered = []
    for k, (start, stop) in enumerate(spans):
        r = k % dist.world
        ordered.append(parts[r][offsets[r] : offsets[r] + stop - start])
        offsets[r] += stop - start
    return torch.cat(ordered).cpu()


def reference_cache_key(source, extractor, protocol: str) -> str:
    """Data set identity (incl. resolution and its resize) + FID resize protocol + weights hash +
    extractor dtype; TF32 is always off here, and says so in the key."""
    identity = getattr(extractor, "weights_sha256", getattr(extractor, "name", repr(extractor)))
    parts = [source.fingerprint(), f"fid-resize={protocol}", f"weights={identity}"]
    parts += [f"dtype={getattr(extractor, 'dtype', 'float32')}", "tf32=off"]
    return "|".join(parts)


def reference_features(
    source,
    extractor,
    *,
    protocol: str = "legacy-tf",
    batch: int = 64,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    dist: Distributed | None = None,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict]:
    """Features of a reference set, from the cache when its key matches; (features, info)."""
    dist = dist or Distributed()
    key = reference_cache_key(source, extractor, protocol)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = (
        cache_dir / "fid-reference" / f"{_slug(source.name)}-{metric_suffix(protocol)}-{digest}.npz"
    )
    info = {"reference_cache": str(path), "reference_cache_key": key}
    hit = dist.broadcast(use_cache and path.is_file() if dist.is_main else None)
    if hit and not dist.is_main:
        return {}, info | {"reference_cache_hit": True}  # only rank 0 computes the metrics
    if hit:
        with np.load(path) as cached:
            features = {name.removeprefix("features_"): cached[name] for name in cached.files}
        return features, info | {"reference_cache_hit": True}
    features = extract_features(
        source,
        extractor,
        protocol=protocol,
        batch=batch,
        dist=dist,
        progress=progress,
        desc="reference features",
    )
    if use_cache and dist.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, **{f"features_{name}": value for name, value in features.items()})
        os.replace(tmp, path)
    return features, info | {"reference_cache_hit": False}


def _slug(name: str) -> str:
    tail = name.rsplit("/", 1)[-1] if "/" in name else name
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in tail)[:40] or "data"
