"""Download the peer packages' wheels for a GPU machine that has no network (the `peers` extra:
diffusers and rin-pytorch, with every dependency that torch does not bring), into a folder that
travels with the GPU check, which installs them from it (benchmarks/gpu/check.sh, --no-index).

    python benchmarks/gpu/peer_wheels.py [--out .whl] [--python 3.12] [--torchvision 0.26.0]
                                         [--skip NAME ...]

Run it on a machine that reaches the package index. The target is CPython `--python` on
manylinux x86_64 with torch and rinbench's own dependencies already installed (the check cannot
run without them): torch, what comes with it, the CUDA wheels and what rinbench's dependencies
bring (numpy, pillow, ...) are left out, and torchvision (which rin-pytorch imports) is pinned to
the release built for that torch (0.26.0 for torch 2.11). `--skip` leaves out more that the target
holds: the lease's GPU image has torchvision 0.26.0 (`--skip torchvision`). pip on the GPU machine
installs only what is missing there. The sets of packages are the ones `pip install --dry-run`
resolves here; their versions are taken as resolved, since pure-Python wheels serve any CPython 3
and the binary ones are fetched for the target. Prints one line per wheel, what was left out and
the folder's size: the folder travels with the checkout, and a lease's working tree holds at most
64 MiB all told.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PEERS = ("diffusers>=0.30", "rin-pytorch>=0.7")
# What the GPU machine's torch brings or is: never fetched.
TORCH_ITSELF = {"torch", "triton"}
NVIDIA_PREFIXES = ("nvidia-", "cuda-")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def torch_dependencies() -> set[str]:
    """The names torch always requires (they are on the GPU machine with it); not its extras'."""
    requirements = [Requirement(text) for text in metadata.requires("torch") or ()]
    return {canonical(r.name) for r in requirements if "extra" not in str(r.marker or "")}


def rinbench_dependencies() -> tuple[str, ...]:
    """rinbench's own requirements (pyproject.toml's [project] dependencies), torch left out: the
    GPU check runs rinbench, so they are on any machine it runs on, with all they bring."""
    with PYPROJECT.open("rb") as file:
        requirements = tomllib.load(file)["project"]["dependencies"]
    return tuple(text for text in requirements if canonical(Requirement(text).name) != "torch")


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
        help="a package the GPU machine has already (e.g. torchvision): not downloaded",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    packages = resolved(PEERS)
    there = {canonical(name) for name, _ in resolved(rinbench_dependencies())}
    there |= {canonical(name) for name in args.skip}
    pins = wanted(packages, args.torchvision, there)
    download(pins, args.out, args.python)
    fetched = {canonical(Requirement(pin).name) for pin in pins}
    for wheel in sorted(args.out.glob("*.whl")):
        # A wheel's file name starts with its distribution's name, "-" spelt "_".
        stale = canonical(wheel.name.split("-")[0]) not in fetched
        note = "  (not wanted now: left from an earlier run, remove it)" if stale else ""
        print(f"{wheel.stat().st_size / 2**20:7.2f} MiB  {wheel.name}{note}")
    left_out = sorted({canonical(name) for name, _ in packages} & there)
    print(f"left out, as the GPU machine has them: {', '.join(left_out) or 'none'}")
    total = sum(wheel.stat().st_size for wheel in args.out.glob("*.whl")) / 2**20
    print(f"{len(list(args.out.glob('*.whl')))} wheels, {total:.1f} MiB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
