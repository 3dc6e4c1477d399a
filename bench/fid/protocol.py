"""What names a FID number: the Inception it comes from, how images reach its 299 px input, and
KID's subset size. Standard library only, so that the command line reads these names without torch.

The resize protocol is part of every metric's name (`fid_legacy_tf`, `kid_mean_pil_bicubic`):
downsampling 512-1024 px samples with an aliasing filter moves FID by whole points (Parmar, Zhang &
Zhu, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation", CVPR 2022).
- "legacy-tf" feeds the samples at their own size to torch-fidelity, which resizes to 299 like TF1,
  as TTUR's reference FID code does (torch-fidelity's `doc/sphinx/source/precision.md`);
- "pil-bicubic" resizes to 299 with PIL's antialiased bicubic first: alias-free when downsampling,
  but re-quantised to uint8, so close to, not bit-exact with, clean-fid's "clean" mode
  (GaParmar/clean-fid, `cleanfid/resize.py`).
"""

from __future__ import annotations

EXTRACTOR_NAME = "inception-v3-compat"  # torch-fidelity's name for the TF FID Inception
INCEPTION_SIZE = 299
RESIZE_PROTOCOLS = ("legacy-tf", "pil-bicubic")
FEATURE_DTYPES = ("float32", "float64")
# KID's largest subset: torch-fidelity's default `kid_subset_size` (torch_fidelity/defaults.py). A
# subset size left unset is this or the smaller set's size, whichever is less.
KID_SUBSET_SIZE = 1000


def check_protocol(protocol: str) -> str:
    if protocol not in RESIZE_PROTOCOLS:
        raise ValueError(
            f"unknown resize protocol {protocol!r}; known: {', '.join(RESIZE_PROTOCOLS)}"
        )
    return protocol


def metric_suffix(protocol: str) -> str:
    """The protocol as it ends a metric's key: "legacy-tf" -> "legacy_tf"."""
    return protocol.replace("-", "_")
