"""Measurements of one benchmark cell, one concern per module:

- cell: `measure(cell, settings)`, the dispatcher over phases, dtypes and modes; `Settings`.
- flops: FLOP and MAC counts on the meta device, per module group; parameter counts.
- timing: warm-up plus timed calls (CUDA events or perf_counter), statistics, matmul peak for MFU.
- facts: `DeviceFacts` (environment, matmul peak) and `MatmulPeak`, typed, with their JSON forms.
- memory: peak allocated/reserved (CUDA) or resident (CPU) memory per phase; largest-batch search.
- energy: NVML's energy counter over the timed window.
- hardware: `environment(device)`, the record's description of the machine and checkout.
- numerics: the TF32 / cudnn.benchmark flags and the context manager that sets and restores them.
- nvml: optional NVML access where every failure is a reason, not an exception.

Importing this package imports nothing else (no torch): import the module you need.
"""
