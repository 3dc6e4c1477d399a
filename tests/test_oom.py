"""bench.oom: one rule for "is this an out-of-memory failure", every shape it comes in, and both
places that file a failure by it (the worker's status, max_batch's search)."""

import subprocess
import sys

import pytest
import torch

from bench.cell import Cell
from bench.measure.memory import max_batch
from bench.oom import is_out_of_memory
from bench.worker import run_measure


def raised(make_error):
    """The exception `make_error` raises, with the chain Python gave it on the way."""
    try:
        make_error()
    except BaseException as exc:  # the exception itself is the result
        return exc
    raise AssertionError("make_error raised nothing")


def raise_from(outer: BaseException, inner: BaseException):
    def make():
        try:
            raise inner
        except BaseException as caught:
            raise outer from caught

    return make


def raise_while_handling(outer: BaseException, inner: BaseException):
    def make():
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is the point

    return make


def backend_compiler_failed(inner: Exception) -> Exception:
    """What torch.compile raises when its backend failed: the backend's error in inner_exception,
    and (as dynamo raises it outside the handler) no Python chain."""
    from torch._dynamo.exc import BackendCompilerFailed

    def inductor():
        pass

    return BackendCompilerFailed(inductor, inner, None)


def cuda_oom(message="CUDA out of memory. Tried to allocate 2.00 GiB"):
    return torch.cuda.OutOfMemoryError(message)


OOM_SHAPES = {
    "torch.OutOfMemoryError": lambda: torch.OutOfMemoryError("CUDA out of memory. Tried 80 GiB"),
    "torch.cuda.OutOfMemoryError": cuda_oom,
    "the type alone": lambda: cuda_oom(""),
    "host MemoryError": lambda: MemoryError(),
    "CPU allocator": lambda: RuntimeError(
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"
    ),
    "CUDA error": lambda: RuntimeError("CUDA error: out of memory"),
    "cuDNN alloc failure": lambda: RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    "cuDNN 9 device alloc failure": lambda: RuntimeError(
        "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED"
    ),
    "cuDNN 9 host alloc failure": lambda: RuntimeError(
        "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED"
    ),
    "cuBLAS alloc failure": lambda: RuntimeError(
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"
    ),
    "compile wrapper, raised from": lambda: raised(
        raise_from(RuntimeError("backend compiler failed"), cuda_oom())
    ),
    "raised while handling": lambda: raised(
        raise_while_handling(KeyError("cleanup"), MemoryError())
    ),
    "BackendCompilerFailed": lambda: backend_compiler_failed(cuda_oom("")),
    "BackendCompilerFailed, cuDNN": lambda: backend_compiler_failed(
        RuntimeError("CUDNN_STATUS_ALLOC_FAILED")
    ),
    "two wrappers deep": lambda: raised(
        raise_from(ValueError("lowering failed"), backend_compiler_failed(MemoryError()))
    ),
}

NOT_OOM = {
    "ValueError": lambda: ValueError("shape mismatch"),
    "RuntimeError": lambda: RuntimeError("Expected all tensors to be on the same device"),
    "a wrapped ValueError": lambda: raised(
        raise_from(RuntimeError("backend compiler failed"), ValueError("bad shape"))
    ),
    "BackendCompilerFailed, no OOM": lambda: backend_compiler_failed(TypeError("unsupported op")),
    "no exception": lambda: None,
}


@pytest.mark.parametrize("make", OOM_SHAPES.values(), ids=OOM_SHAPES)
def test_every_shape_of_an_oom_is_one(make):
    assert is_out_of_memory(make())


@pytest.mark.parametrize("make", NOT_OOM.values(), ids=NOT_OOM)
def test_other_failures_are_not_ooms(make):
    assert not is_out_of_memory(make())


def test_a_chain_that_loops_back_ends():
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert not is_out_of_memory(first)


def test_the_rule_before_torch_is_loaded():
    code = (
        "import sys; from bench.oom import is_out_of_memory; "
        "assert 'torch' not in sys.modules; "
        "assert is_out_of_memory(MemoryError()); "
        "assert is_out_of_memory(RuntimeError('CUDNN_STATUS_ALLOC_FAILED')); "
        "assert not is_out_of_memory(ValueError('x')); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MemoryError(), "oom"),
        (raised(raise_from(RuntimeError("compile failed"), cuda_oom())), "oom"),
        (RuntimeError("CUBLAS_STATUS_ALLOC_FAILED"), "oom"),
        (ValueError("shape mismatch"), "error"),
    ],
    ids=["host", "compile-wrapped", "cuBLAS", "not an OOM"],
)
def test_the_worker_files_a_failure_by_the_rule(error, status):
    def measure(cell, settings, peak):
        raise error

    assert run_measure(measure, Cell("rin-tiny", 16, 1), {}).status == status


def test_max_batch_counts_a_host_memory_error_as_too_big():
    def fits(batch):
        if batch > 3:
            raise MemoryError

    assert max_batch(fits, device="cpu", start=1, limit=16)["max_batch"] == 3
