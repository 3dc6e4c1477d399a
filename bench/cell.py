"""A benchmark cell: one (preset, resolution, batch, dtype, phase, mode, device) to measure."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DTYPES = ("fp32", "tf32", "bf16", "fp16")
PHASES = ("params", "flops", "forward", "train_step", "sample", "fid")
MODES = ("eager", "compile")
DEVICES = ("cpu", "cuda")
# Phases that need no real tensors: counted in-process on the meta device.
STATIC_PHASES = ("params", "flops")


@dataclass(frozen=True)
class Cell:
    preset: str  # registry slug
    resolution: int  # pixels per side; the backbone's input shape follows from the preset
    batch: int
    dtype: str = "fp32"  # one of DTYPES; bf16/fp16 mean autocast over fp32 weights
    phase: str = "forward"  # one of PHASES
    mode: str = "eager"  # one of MODES
    device: str = "cpu"  # one of DEVICES

    def __post_init__(self):
        for field, value, valid in (
            ("dtype", self.dtype, DTYPES),
            ("phase", self.phase, PHASES),
            ("mode", self.mode, MODES),
            ("device", self.device, DEVICES),
        ):
            if value not in valid:
                raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(valid)}")
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
        try:
            preset, res, batch, dtype, phase, mode, device = cell_id.rsplit(".", 6)
            if res[0] != "r" or batch[0] != "b":
                raise ValueError
            return cls(preset, int(res[1:]), int(batch[1:]), dtype, phase, mode, device)
        except ValueError as err:
            if "unknown" in str(err):
                raise
            raise ValueError(
                f"bad cell id {cell_id!r}; expected PRESET.rRES.bBATCH.DTYPE.PHASE.MODE.DEVICE"
            ) from None

    def as_dict(self) -> dict:
        return asdict(self) | {"id": self.id}
