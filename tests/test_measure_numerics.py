"""bench.measure.numerics: flags change only inside the context manager, which restores them."""

import pytest
import torch

from bench.measure.numerics import numerics, numerics_flags


@pytest.fixture
def known_flags():
    """Start from torch's defaults and leave them so, whatever a test does."""
    saved = (
        torch.get_float32_matmul_precision(),
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = False
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32 = saved[1]
    torch.backends.cudnn.benchmark = saved[2]


def test_sets_and_restores(known_flags):
    before = numerics_flags()
    with numerics(tf32=True, cudnn_benchmark=True) as flags:
        assert flags == numerics_flags()
        assert flags["tf32_matmul"] and flags["tf32_cudnn"] and flags["cudnn_benchmark"]
        assert flags["float32_matmul_precision"] == "high"
    assert numerics_flags() == before
    with numerics(tf32=False) as flags:
        assert not flags["tf32_matmul"] and not flags["tf32_cudnn"]
        assert not flags["cudnn_benchmark"]
    assert numerics_flags() == before


def test_restores_after_an_exception(known_flags):
    before = numerics_flags()
    with pytest.raises(RuntimeError, match="inside"), numerics(tf32=True, cudnn_benchmark=True):
        raise RuntimeError("inside")
    assert numerics_flags() == before


def test_restores_a_non_default_precision(known_flags):
    torch.set_float32_matmul_precision("medium")
    with numerics(tf32=False):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == "medium"
