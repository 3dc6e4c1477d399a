"""What a backbone family declares to the harness: its model, config, presets, FLOP groups and inputs.

`rin/` and `baselines/` each declare their families against these types (`rin/family.py`,
`baselines/families.py`) and `bench/registry.py` gathers them. This module is the only part of `bench`
the model packages import, so it imports nothing of `bench` and no torch: declaring a family loads no
harness machinery.

Every config class of a family has the fields the harness builds inputs from: `name` (the preset slug,
set by the registry), `resolution` (pixels per side), `in_channels`, `num_classes` (0 =
unconditional), and the property `input_shape`, the (C, H, W) or (C, frames, H, W) of the tensor the
model's `forward(x, t, y=None, state=None) -> (out, state)` takes.

What the diffusion process (`bench.diffusion`: the training loss and the samplers) needs to know of a
model beyond that interface, the family says per config (`Family.diffusion_needs` ->
`DiffusionNeeds`): whether the state a call returns conditions the next, the schedule whose noise
level the model embeds, and how many leading frames it is given clean. The harness hands it to
`bench.diffusion` (`registry.diffusion_needs(cfg)`), which reads nothing else off a model or config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Where a preset's numbers come from. "harness": a configuration of our own for one of the harness's
# experiments, not from any paper; "test": a small model for CPU tests.
SOURCE_KINDS = (
    "paper text",
    "released config",
    "author comment",
    "reconstructed",
    "harness",
    "test",
)

# A grouping maps the innermost module's qualified name (e.g. "blocks.0.read.attn.q", "" for the
# root) and the spatial size (H, W) of the nearest enclosing image-like input, the last two axes of a
# 4-D or 5-D tensor (None when there is none below the root), to a bucket of the FLOP breakdown.
Grouping = Callable[[str, "tuple[int, int] | None"], str]

# (config, batch, device, dtype) -> (x, t, y): x (batch, *config.input_shape), t (batch,) in [0, 1],
# y (batch,) int64 class labels or None for an unconditional config.
InputMaker = Callable[..., tuple]


@dataclass(frozen=True)
class Source:
    """Where a preset comes from: `kind` (one of SOURCE_KINDS), `where` (the primary source: a paper
    with its page or table, or an official repository with its file) and `note` (what was taken from
    it, and what was reconstructed and how)."""

    kind: str
    where: str = ""
    note: str = ""

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ValueError(
                f"unknown source kind {self.kind!r}; known: {', '.join(map(repr, SOURCE_KINDS))}"
            )

    @classmethod
    def from_text(cls, text: str) -> Source:
        """The source of a schema-1 record, one string "<kind>: <where>; <note>": the inverse of
        str(), so an upgraded record reads as it did."""
        kind, _, detail = text.partition(":")
        where, _, note = detail.strip().partition("; ")
        return cls(kind.strip(), where, note)

    def __str__(self) -> str:
        """The one-line form: "<kind>: <where>; <note>"."""
        head = f"{self.kind}: {self.where}" if self.where else self.kind
        return head + (f"; {self.note}" if self.note else "")


@dataclass(frozen=True)
class Preset:
    config: Any  # an instance of the family's config class
    source: Source
    # A peer family's preset (one implementation of ours, as another project wrote it): the slug of
    # the built-in preset it is configured to match, the one it stands beside in the report's
    # "Against the public implementations" section.
    counterpart: str = ""


class MissingPackage(ImportError):
    """A family's model needs a package that is not installed; the message says how to install it.
    A cell that meets it ends "unsupported" with that message; a command, one line and exit 2."""


def require(module: str, extra: str) -> Any:
    """Import `module` (a peer implementation's package), or raise MissingPackage naming the rinbench
    extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        if (err.name or module).split(".")[0] != module.split(".")[0]:
            raise  # the package is there but broken: its own error says more than ours would
        raise MissingPackage(
            f"{module} is not installed: python -m pip install 'rinbench[{extra}]'",
            name=module,
        ) from None


@dataclass(frozen=True)
class DiffusionNeeds:
    """What `bench.diffusion` needs to know of one config's model; the defaults are a model that
    embeds t itself, returns no state worth keeping and predicts every frame (ADM, DiT)."""

    # The state a call returns conditions the next call (RIN's latents): training runs the
    # self-conditioning pass to make it, sampling feeds it from one step to the next.
    recurrent_state: bool = False
    # The schedule whose noise level gamma(t) the model embeds (RIN: its config's), which training
    # and sampling then use unless told otherwise and translate any other schedule's t to; None: the
    # model embeds t itself, and any schedule serves.
    noise_schedule: str | None = None
    # Frame prediction: the leading frames of x_t held clean at every call and left out of the loss.
    context_frames: int = 0

    def __post_init__(self):
        if not isinstance(self.context_frames, int) or self.context_frames < 0:
            raise ValueError(f"context_frames must be an integer >= 0, got {self.context_frames!r}")


# A model the diffusion process needs to know nothing more of than the interface.
NO_DIFFUSION_NEEDS = DiffusionNeeds()


def no_diffusion_needs(config: Any) -> DiffusionNeeds:
    """`Family.diffusion_needs` of a family whose models need nothing beyond the interface."""
    return NO_DIFFUSION_NEEDS


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: there is one of each
class Family:
    """One backbone family: what the registry, the FLOP counter and the input maker need of it."""

    name: str  # the family's short name in records and tables: "rin", "adm", "dit", "vdm"
    description: str  # one line: the architecture and its primary source
    model: type  # model(config) builds the network on the current default device
    config: type  # the frozen config dataclass
    presets: Mapping[str, Preset]  # slug -> preset; slugs start with the family's name
    flop_grouping: Grouping  # the breakdown of `macs_fwd_by_group`
    make_inputs: InputMaker
    # Peer families (baselines/peers/: another project's implementation behind our interface): the
    # packages the model imports, the rinbench extra that installs them, and the built-in family
    # it is measured against. Built-in families need nothing beyond rinbench's own dependencies.
    requires: tuple[str, ...] = ()
    extra: str = ""
    peer_of: str = ""
    # Settings.checkpointing's units: kind ("attention", "blocks") -> the module classes whose
    # forward a checkpointed train step recomputes in its backward. A family without a kind's
    # units cannot run that lever (its cell ends "unsupported", saying what it declares).
    checkpoint_units: Mapping[str, tuple[type, ...]] = field(default_factory=dict)
    # config -> what bench.diffusion needs to know of its model (DiffusionNeeds). A family whose
    # models carry a state, embed a schedule's noise level or predict frames from context says so
    # here; the default says none of these.
    diffusion_needs: Callable[[Any], DiffusionNeeds] = no_diffusion_needs

    def __post_init__(self):
        if self.requires and not self.extra:
            raise ValueError(f"{self.name}: a family that requires packages names the extra")
        for kind, units in self.checkpoint_units.items():
            if not (isinstance(units, tuple) and units and all(isinstance(u, type) for u in units)):
                raise TypeError(
                    f"{self.name}: checkpoint_units[{kind!r}] is not a tuple of module classes"
                )
        for slug, preset in self.presets.items():
            if not isinstance(preset, Preset):
                raise TypeError(f"{self.name}: preset {slug!r} is not a Preset")
            if not preset.source.where:  # a record read back may lack it; a preset may not
                raise ValueError(f"{self.name}: preset {slug!r} needs a source `where`")
            if not isinstance(preset.config, self.config):
                raise TypeError(
                    f"{self.name}: preset {slug!r} has a {type(preset.config).__name__}, "
                    f"not a {self.config.__name__}"
                )

    def missing(self) -> tuple[str, ...]:
        """The required packages that are not installed (found without importing them)."""
        import importlib.util

        return tuple(m for m in self.requires if importlib.util.find_spec(m) is None)

    @property
    def install_hint(self) -> str:
        """How to install what the family requires: "python -m pip install 'rinbench[peers]'"."""
        return f"python -m pip install 'rinbench[{self.extra}]'" if self.extra else ""


def gaussian_inputs(cfg: Any, batch: int, device: Any = "cpu", dtype: Any = None) -> tuple:
    """(x, t, y) with x ~ N(0, 1) of shape (batch, *cfg.input_shape) in `dtype` (default float32),
    t ~ U[0, 1) and y uniform over cfg.num_classes (None when unconditional): the inputs of every
    family here, images and videos alike. torch is imported here, when inputs are made, so that
    declaring a family does not load it."""
    import torch

    x = torch.randn(batch, *cfg.input_shape, device=device, dtype=dtype or torch.float32)
    t = torch.rand(batch, device=device)
    y = torch.randint(0, cfg.num_classes, (batch,), device=device) if cfg.num_classes else None
    return x, t, y
