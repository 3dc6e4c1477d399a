"""FID, KID and IS from Inception features, in float64.

FID is computed here with NumPy; KID and IS with torch-fidelity's feature-level functions
(`metric_kid.kid_features_to_metric`, `metric_isc.isc_features_to_metric`), which are the reference
implementations' formulas (torch-fidelity's `doc/sphinx/source/precision.md`: 1e-6 relative to
MMD-GAN's KID). NumPy only at import; torch and torch-fidelity load where KID or IS is computed.
"""

from __future__ import annotations

import numpy as np

from bench.fid.protocol import KID_SUBSET_SIZE, metric_suffix


def fid_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, N - 1) in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"FID statistics need (N >= 2, D) features, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2) in float64 (Heusel et al. 2017, eq. 6).

    tr((S1 S2)^1/2) is the sum of the singular values of S1^1/2 S2^1/2, both roots from symmetric
    eigendecompositions.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different widths: {mu1.shape} vs {mu2.shape}")
    tr_covmean = np.linalg.svd(_psd_sqrt(sigma1) @ _psd_sqrt(sigma2), compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance; rounding's tiny negative eigenvalues become 0.

    Hand-written rather than scipy.linalg.sqrtm(S1 @ S2): that product is not symmetric, its root
    goes complex and takes roots of rounding noise when N < D makes the covariances singular, while
    two symmetric roots stay real (a set against itself gives 0 to ~1e-15 relative).
    """
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def kid_subset_size_for(requested: int | None, *sizes: int) -> int:
    """KID's subset size: `requested`, checked against the sets' sizes, or, when None,
    min(KID_SUBSET_SIZE, the smaller set's size). Fails before any work if it cannot be used."""
    small = min(sizes)
    size = min(KID_SUBSET_SIZE, small) if requested is None else requested
    if size < 2:
        raise ValueError(
            f"KID subset size must be at least 2, got {size}"
            + (f" (the smaller set has {small} images)" if requested is None else "")
        )
    if small < size:
        raise ValueError(
            f"KID subset size {size} exceeds the {small} images of the smaller set; pass "
            f"--kid-subset-size {small} or less, more samples, or --no-kid"
        )
    return size


def kernel_inception_distance(f1, f2, *, subsets=100, subset_size=KID_SUBSET_SIZE, seed=2020):
    """KID (Bińkowski et al. 2018): torch-fidelity's unbiased MMD² with the cubic polynomial kernel,
    on float64 features; {"mean", "std", "std_reason"} over `subsets` random subsets. "std" is None
    where the subsets cannot differ (`kid_spread_missing`), and "std_reason" says why (else None)."""
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric

    kid_subset_size_for(subset_size, len(f1), len(f2))
    out = kid_features_to_metric(
        torch.from_numpy(np.asarray(f1, np.float64)),
        torch.from_numpy(np.asarray(f2, np.float64)),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
    )
    missing = kid_spread_missing(len(f1), len(f2), subsets=subsets, subset_size=subset_size)
    return {
        "mean": out["kernel_inception_distance_mean"],
        "std": None if missing else out["kernel_inception_distance_std"],
        "std_reason": missing,
    }


def kid_spread_missing(n1: int, n2: int, *, subsets: int, subset_size: int) -> str | None:
    """Why KID's standard deviation over subsets is no spread, or None where it is one. A subset
    the size of both sets is each whole set in another order: every subset gives the same MMD², and
    torch-fidelity's std reads rounding (~1e-16), not a spread of zero."""
    if subsets < 2:
        return f"{subsets} KID subset: no spread over subsets"
    if subset_size == n1 == n2:
        return (
            f"KID subsets of {subset_size} are the whole of both sets ({n1} features each): one "
            "distinct subset, so no spread over subsets (a smaller --kid-subset-size gives one)"
        )
    return None


def inception_score(logits, *, splits=10, seed=2020) -> dict:
    """IS (Salimans et al. 2016) from the Inception's unbiased logits, by torch-fidelity."""
    import torch
    from torch_fidelity.metric_isc import isc_features_to_metric

    out = isc_features_to_metric(torch.from_numpy(np.asarray(logits)), splits, True, seed)
    return {"mean": out["inception_score_mean"], "std": out["inception_score_std"]}


def metrics_from_features(
    generated: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    *,
    protocol: str,
    kid: bool = True,
    kid_subset_size: int | None = None,
    kid_subsets: int = 100,
    reference_stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """FID, KID unless `kid` is False (subset size: `kid_subset_size_for`), and IS where the
    features carry logits; every key is named with the resize protocol."""
    suffix = metric_suffix(protocol)
    mu_g, sigma_g = fid_statistics(generated["2048"])
    mu_r, sigma_r = reference_stats or fid_statistics(reference["2048"])
    out = {f"fid_{suffix}": frechet_distance(mu_g, sigma_g, mu_r, sigma_r)}
    if kid:
        size = kid_subset_size_for(kid_subset_size, len(generated["2048"]), len(reference["2048"]))
        result = kernel_inception_distance(
            generated["2048"], reference["2048"], subsets=kid_subsets, subset_size=size
        )
        out |= {f"kid_mean_{suffix}": result["mean"], f"kid_std_{suffix}": result["std"]}
        if result["std_reason"] is not None:  # a record's details, by the *_reason rule
            out[f"kid_std_{suffix}_reason"] = result["std_reason"]
        out["kid_subset_size"] = size
    if "logits_unbiased" in generated:
        isc = inception_score(generated["logits_unbiased"])
        out |= {f"isc_mean_{suffix}": isc["mean"], f"isc_std_{suffix}": isc["std"]}
    return out
