"""A benchmark cell: one (preset, resolution, batch, dtype, phase, mode, device) to measure."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DTYPES = ("fp32", "tf32", "bf16", "fp16")
PHASES = ("params", "flops", "forward", "train_step", "sample", "fid")
MODES = ("eager", "compile")
DEVICES = ("cpu", "cuda")
# Phases that need no real tensors: counted in-process on the meta device.
STATIC_PHASES = ("params", "flops")
# Profiles of the timed phases (bench.profiling) are cells of their own phase, "profile:forward", so
# that a profile's record never stands in for the timed record of the same cell.
PROFILE_PREFIX = "profile:"
PROFILE_PHASES = tuple(PROFILE_PREFIX + phase for phase in ("forward", "train_step", "sample"))
# What a pair's serving worker is asked for to take its cell's profile after the rounds, on the
# step it timed (bench.worker's command, bench.measure.cell.windows's ask).
PROFILE_ASK = "profile"


def profile_of(phase: str) -> str:
    """ "forward" -> "profile:forward"; ValueError for a phase that cannot be profiled."""
    if PROFILE_PREFIX + phase not in PROFILE_PHASES:
        profiled = ", ".join(p.removeprefix(PROFILE_PREFIX) for p in PROFILE_PHASES)
        raise ValueError(f"phase {phase!r} cannot be profiled; profiled phases: {profiled}")
    return PROFILE_PREFIX + phase


def profiled(phase: str) -> str | None:
    """ "profile:forward" -> "forward", the phase a profile phase profiles; None for other phases."""
    return phase.removeprefix(PROFILE_PREFIX) if phase in PROFILE_PHASES else None


@dataclass(frozen=True)
class Cell:
    preset: str  # registry slug
    resolution: int  # pixels per side; the backbone's input shape follows from the preset
    batch: int
    dtype: str = "fp32"  # one of DTYPES; bf16/fp16 mean autocast over fp32 weights
    phase: str = "forward"  # one of PHASES, or of PROFILE_PHASES
    mode: str = "eager"  # one of MODES
    device: str = "cpu"  # one of DEVICES

    def __post_init__(self):
        for field, value, valid in (
            ("dtype", self.dtype, DTYPES),
            ("phase", self.phase, PHASES + PROFILE_PHASES),
            ("mode", self.mode, MODES),
            ("device", self.device, DEVICES),
        ):
            if value not in valid:
                raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(valid)}")
        for field in ("resolution", "batch"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{field} must be an integer, got {value!r}")
        if self.batch < 1 or self.resolution < 1:
            raise ValueError(
                f"batch and resolution must be positive, got {self.batch}, {self.resolution}"
            )

    @property
    def id(self) -> str:
        """'dit-xl-2.r256.b32.bf16.forward.eager.cuda': unique, sortable, glob-friendly."""
        return (
            f"{self.preset}.r{self.resolution}.b{self.batch}.{self.dtype}"
            f".{self.phase}.{self.mode}.{self.device}"
        )

    @classmethod
    def from_id(cls, cell_id: str) -> Cell:
        """The cell an id names: the inverse of `id`."""
        parts = cell_id.rsplit(".", 6)
        numbers = parts[1:3] if len(parts) == 7 else []
        if not (
            len(numbers) == 2
            and numbers[0][:1] == "r"
            and numbers[1][:1] == "b"
            and numbers[0][1:].isdigit()
            and numbers[1][1:].isdigit()
        ):
            raise ValueError(
                f"bad cell id {cell_id!r}; expected PRESET.rRES.bBATCH.DTYPE.PHASE.MODE.DEVICE"
            )
        preset, res, batch, dtype, phase, mode, device = parts
        return cls(preset, int(res[1:]), int(batch[1:]), dtype, phase, mode, device)

    def as_dict(self) -> dict:
        return asdict(self) | {"id": self.id}
