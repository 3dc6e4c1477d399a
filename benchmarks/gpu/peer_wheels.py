"""Download the peer packages' wheels for a GPU machine that has no network (the `peers` extra:
diffusers and rin-pytorch, with every dependency that torch does not bring), into a folder that
travels with the GPU check, which installs them from it (benchmarks/gpu/check.sh, --no-index).

    python benchmarks/gpu/peer_wheels.py [--out .whl] [--python 3.12] [--torchvision 0.26.0]
                                         [--skip NAME ...]

Run it on a machine that reaches the package index. The target is CPython `--python` on
manylinux x86_64 with torch already installed: torch, its own dependencies and the CUDA wheels are
left out, and torchvision (which rin-pytorch imports) is pinned to the release built for that torch
(0.26.0 for torch 2.11). pip on the GPU machine installs only what is missing there. The set of
packages is the one `pip install --dry-run` resolves for the extra here; their versions are taken
as resolved, since pure-Python wheels serve any CPython 3 and the binary ones are fetched for the
target. Prints one line per wheel and the folder's size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PEERS = ("diffusers>=0.30", "rin-pytorch>=0.7")
# What the GPU machine's torch brings or is: never fetched.
TORCH_ITSELF = {"torch", "triton"}
NVIDIA_PREFIXES = ("nvidia-", "cuda-")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def torch_dependencies() -> set[str]:
    """The names torch always requires (they are on the GPU machine with it); not its extras'."""
    requirements = [Requirement(text) for text in metadata.requires("torch") or ()]
    return {canonical(r.name) for r in requirements if "extra" not in str(r.marker or "")}


def resolved(requirements: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, version) of every package pip would install for `requirements` into an empty place."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
             "--report", str(report), *requirements],
            check=True,
        )  # fmt: skip
        found = json.loads(report.read_text())["install"]
    return [(item["metadata"]["name"], item["metadata"]["version"]) for item in found]


def wanted(packages: list[tuple[str, str]], torchvision: str, skip: set[str]) -> list[str]:
    """The pins to download: the resolved set less torch, what comes with it and `skip`,
    torchvision at the version built for the GPU machine's torch."""
    skip = TORCH_ITSELF | torch_dependencies() | {canonical(name) for name in skip}
    pins = []
    for name, version in packages:
        key = canonical(name)
        if key in skip or key.startswith(NVIDIA_PREFIXES):
            continue
        pins.append(f"{name}=={torchvision if key == 'torchvision' else version}")
    return pins


def download(pins: list[str], out: Path, python: str) -> None:
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", python, *platforms, "--dest", str(out), *pins],
        check=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".whl"), help="the wheel folder")
    parser.add_argument("--python", default="3.12", help="the GPU machine's CPython version")
    parser.add_argument(
        "--torchvision", default="0.26.0", help="the torchvision built for its torch"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="NAME",
        help="a package the GPU machine has already (e.g. numpy): not downloaded",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pins = wanted(resolved(PEERS), args.torchvision, set(args.skip))
    download(pins, args.out, args.python)
    wheels = sorted(args.out.glob("*.whl"))
    for wheel in wheels:
        print(f"{wheel.stat().st_size / 2**20:7.2f} MiB  {wheel.name}")
    total = sum(wheel.stat().st_size for wheel in wheels) / 2**20
    print(f"{len(wheels)} wheels, {total:.1f} MiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
