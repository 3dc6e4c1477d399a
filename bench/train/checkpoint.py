"""Checkpoints: written atomically, loaded with `torch.load(weights_only=True)`, turned back into a
config and a model; and the file hash that records name what they were computed from.

A checkpoint holds only tensors and plain Python values (the config as a dict), so it loads without
unpickling code; it is written to a temporary name and renamed, so an interrupted save never leaves
a half-written checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench import registry
from bench.train.settings import RESUMABLE_CHANGES, TrainSettings

CHECKPOINT_FORMAT = "rinbench-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A rinbench checkpoint, loaded with weights_only=True; a clear ValueError if it is corrupt,
    truncated, not a rinbench checkpoint, or from a newer format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch wraps the reason ("Unsupported operand 123", "Unsupported global: ...") in advice
        # to load with weights_only=False, which is exactly what a checkpoint must not need.
        text = str(exc)
        reason = text.split("WeightsUnpickler error:")[-1].split("Check the documentation")[0]
        raise ValueError(
            f"{path}: not a readable checkpoint (not a torch file, or it holds objects that "
            f"weights_only=True refuses: {' '.join(reason.split())[:200]})"
        ) from exc
    except Exception as exc:  # truncated or foreign files: RuntimeError, EOFError, ...
        raise ValueError(
            f"{path}: not a readable checkpoint "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a rinbench checkpoint (written by bench.train)")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {ckpt['version']} is newer than this code's "
            f"{CHECKPOINT_VERSION}"
        )
    missing = {"preset", "config", "model", "ema", "step", "schedule"} - set(ckpt)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(sorted(missing))}")
    return ckpt


def config_from_checkpoint(ckpt: dict) -> Any:
    """The model config stored in a checkpoint, rebuilt as the preset family's dataclass."""
    try:
        entry = registry.get(ckpt["preset"])
    except KeyError as err:
        raise ValueError(f"checkpoint of an unknown preset: {err.args[0]}") from None
    try:
        return type(entry.config)(**ckpt["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint config does not fit {ckpt['preset']}'s {type(entry.config).__name__}: {err}"
        ) from None


def model_from_checkpoint(ckpt: dict, weights: str = "ema", device="cpu") -> nn.Module:
    """The backbone with the checkpoint's `weights` ("ema" or "model"), in eval mode on `device`."""
    if weights not in ("ema", "model"):
        raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
    cfg = config_from_checkpoint(ckpt)
    with torch.device("meta"):
        model = registry.get(ckpt["preset"]).builder(cfg)
    try:
        model.load_state_dict(ckpt[weights], strict=True, assign=True)
    except RuntimeError as err:
        raise ValueError(
            f"checkpoint weights do not fit {ckpt['preset']} with its stored config: "
            f"{str(err).splitlines()[0]} ..."
        ) from None
    return model.to(device).eval()


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in 16 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def check_resumable(ckpt: dict, settings: TrainSettings, cfg: Any) -> None:
    stored = ckpt.get("settings", {})
    now = settings.as_dict()
    changed = [
        f"{key}: {stored.get(key)!r} -> {now[key]!r}"
        for key in now
        if key not in RESUMABLE_CHANGES and _plain(stored.get(key)) != _plain(now[key])
    ]
    if changed:
        raise ValueError(
            "cannot resume: the checkpoint was trained with other settings ("
            + "; ".join(changed)
            + f"); only {', '.join(RESUMABLE_CHANGES)} may change"
        )
    then, now_cfg = _plain(ckpt["config"]), _plain(asdict(cfg))
    if then != now_cfg:
        fields = [
            f"{k}: {then.get(k)!r} -> {now_cfg.get(k)!r}"
            for k in dict.fromkeys([*then, *now_cfg])  # a field one version lacks differs too
            if then.get(k) != now_cfg.get(k)
        ]
        hint = (
            " (the class count comes from the data's labels: a run of an .npz before labels were "
            "read on opening trained with 0 classes; train it anew)"
            if "num_classes" in then and then.get("num_classes") != now_cfg.get("num_classes")
            else ""
        )
        raise ValueError(
            "cannot resume: the checkpoint's model config differs from this run's ("
            + "; ".join(fields)
            + ")"
            + hint
        )


def _plain(value):
    """Tuples and lists compare equal (a checkpoint may hold either)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
