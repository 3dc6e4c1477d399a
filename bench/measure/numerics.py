"""Global numerics flags (TF32, cudnn.benchmark): read them, and change them only inside `numerics()`.

TF32 changes results (cuDNN's TF32 convs, on by default on Ampere and newer GPUs as PyTorch's CUDA
semantics notes say under "TensorFloat-32 (TF32) on Ampere (and later) devices", moved Inception
features by 4.5e-4 relative on an H100, measured against CPU fp32) and speed, so every record states the
flags it ran under.

The flags are set through torch's long-standing API (`set_float32_matmul_precision`,
`backends.cudnn.allow_tf32`). Since torch 2.9 a second API (`fp32_precision`) exists; torch raises when
the two are mixed, and inductor reads the old one, so this module sticks to the old one throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def numerics_flags() -> dict:
    """The flags in force now: tf32_matmul, tf32_cudnn, float32_matmul_precision, cudnn_benchmark,
    cudnn_deterministic, deterministic_algorithms."""
    precision = torch.get_float32_matmul_precision()
    return {
        # "high" and "medium" let fp32 matmuls use TF32 (medium even bf16) tensor cores.
        "tf32_matmul": precision != "highest",
        "float32_matmul_precision": precision,
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }


@contextmanager
def numerics(*, tf32: bool = False, cudnn_benchmark: bool = False) -> Iterator[dict]:
    """Set TF32 (matmul and cuDNN) and cudnn.benchmark for the block; restore the previous values on
    exit, also after an exception. Yields `numerics_flags()` as set inside the block."""
    precision = torch.get_float32_matmul_precision()
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    benchmark = torch.backends.cudnn.benchmark
    try:
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = cudnn_benchmark
        yield numerics_flags()
    finally:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.backends.cudnn.benchmark = benchmark
