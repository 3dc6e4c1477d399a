"""Real images for training and for FID references, all readable offline.

Three sources, one interface (`len`, `read(start, stop)`, `labels(start, stop)`, `fingerprint()`):

- `BuiltinCrops`: seeded random square crops of the photographs that scikit-image bundles in its wheel
  (its `skimage/data` folder, read by `skimage.data`'s loaders without a download), resized to any
  resolution with a named PIL filter. Image i depends only on (seed, i), so any process can make any
  slice, and its label is the index of its source photo, which makes the set class-conditional with
  one class per photo.
- `ImageFolder`: PNG/JPEG/... files in a folder (sorted by name), or in one sub-folder per class.
- `NpzImages`: an .npz holding NHWC uint8 images under "arr_0" (the layout of ADM's reference
  batches and sample dumps), with optional int labels under "arr_1".

Every source is checked when it is opened (missing or empty folder, unreadable headers, mixed sizes,
wrong npz layout), so a mistake fails before any long work. Images are decoded lazily, a batch at a
time: a 50k-image reference never has to fit in memory.

Images are uint8 (N, 3, H, W); `to_model_range` maps them to the float [-1, 1] the diffusion models use.
"""

from __future__ import annotations

import copy
import hashlib
import os
import zipfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Named resize protocols: the PIL filter that maps a crop to the target size. PIL's filters are
# antialiased when they downsample (Parmar et al. 2022, "clean" resizing), unlike torch's bilinear.
RESIZE_FILTERS = ("pil-bicubic", "pil-lanczos", "pil-bilinear", "pil-box", "pil-nearest")
DEFAULT_RESIZE = "pil-bicubic"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

# Natural RGB photographs inside the scikit-image wheel, read with skimage.data's loaders (no
# download: these files ship in skimage/data). Synthetic images (colorwheel, phantom, chessboard)
# are left out; so is the right view of the stereo pair, a near-duplicate of the left.
BUILTIN_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "stereo_motorcycle",
)
BUILTIN_NAME = "builtin"


def _pil():
    from PIL import Image

    return Image


def resize_filter(protocol: str):
    """The PIL resampling filter of a named resize protocol."""
    if protocol not in RESIZE_FILTERS:
        raise ValueError(
            f"unknown resize protocol {protocol!r}; known: {', '.join(RESIZE_FILTERS)}"
        )
    Image = _pil()
    return {
        "pil-bicubic": Image.Resampling.BICUBIC,
        "pil-lanczos": Image.Resampling.LANCZOS,
        "pil-bilinear": Image.Resampling.BILINEAR,
        "pil-box": Image.Resampling.BOX,
        "pil-nearest": Image.Resampling.NEAREST,
    }[protocol]


def resize_square(image_HWC: np.ndarray, size: int, protocol: str) -> np.ndarray:
    """Center-crop an (H, W, 3) uint8 image to a square, then resize it to size x size."""
    h, w = image_HWC.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image_HWC[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    img = _pil().fromarray(square).resize((size, size), resize_filter(protocol))
    return np.asarray(img)


def to_model_range(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1]."""
    import torch  # here, so that the command line reads this module's names without torch

    images = torch.as_tensor(images)
    if images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    return images.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8, rounded to the nearest level (out-of-range values clip)."""
    import torch

    return ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


# ----------------------------------------------------------------------------------------------
# The built-in data set
# ----------------------------------------------------------------------------------------------


@cache
def builtin_photo(name: str) -> np.ndarray:
    """One bundled photograph as (H, W, 3) uint8. Needs scikit-image (the `data` extra)."""
    if name not in BUILTIN_PHOTOS:
        raise ValueError(f"unknown built-in photo {name!r}; known: {', '.join(BUILTIN_PHOTOS)}")
    try:
        import skimage.data
    except ImportError:
        raise ImportError(
            "the built-in data set crops the photographs bundled with scikit-image; "
            "install it with `pip install 'rinbench[data]'` (or `pip install scikit-image`)"
        ) from None
    photo = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        photo = photo[0]  # (left, right, disparity): the left view
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(
            f"skimage.data.{name} is not an RGB uint8 photo: {photo.shape} {photo.dtype}"
        )
    return photo


class BuiltinCrops:
    """`n` random square crops of the bundled photographs, resized to `resolution`.

    Image i comes from photo i mod k (so the k classes are balanced) and draws, from a generator
    seeded with (seed, i): a crop side between `min_scale` and 1 times the photo's short side, a
    position, and a horizontal flip with probability 1/2. Then it is resized with `resize`.
    """

    def __init__(
        self,
        n: int,
        resolution: int,
        *,
        seed: int = 0,
        resize: str = DEFAULT_RESIZE,
        photos: tuple[str, ...] = BUILTIN_PHOTOS,
        min_scale: float = 0.25,
    ):
        if n < 1 or resolution < 1:
            raise ValueError(
                f"built-in data needs n >= 1 and resolution >= 1, got {n}, {resolution}"
            )
        if not 0.0 < min_scale <= 1.0:
            raise ValueError(f"min_scale must lie in (0, 1], got {min_scale}")
        resize_filter(resize)
        if not photos:
            raise ValueError("built-in data needs at least one photo")
        for name in photos:
            builtin_photo(name)  # fail now (unknown name, scikit-image missing), not mid-run
        self.n, self.resolution, self.seed, self.resize = n, resolution, seed, resize
        self.photos, self.min_scale = tuple(photos), min_scale
        self.num_classes = len(self.photos)
        self.name = BUILTIN_NAME

    def __len__(self) -> int:
        return self.n

    def _crop(self, i: int) -> np.ndarray:
        photo = builtin_photo(self.photos[i % len(self.photos)])
        rng = np.random.default_rng([self.seed, i])
        h, w = photo.shape[:2]
        side = max(1, round(min(h, w) * rng.uniform(self.min_scale, 1.0)))
        top = int(rng.integers(0, h - side + 1))
        left = int(rng.integers(0, w - side + 1))
        crop = photo[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return resize_square(np.ascontiguousarray(crop), self.resolution, self.resize)

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(start, stop, self.n)
        return np.stack([self._crop(i).transpose(2, 0, 1) for i in range(start, stop)])

    def labels(self, start: int, stop: int) -> np.ndarray:
        _check_range(start, stop, self.n)
        return np.arange(start, stop, dtype=np.int64) % len(self.photos)

    def fingerprint(self) -> str:
        import skimage

        return (
            f"builtin:skimage-{skimage.__version__}:photos={','.join(self.photos)}:n={self.n}"
            f":seed={self.seed}:r={self.resolution}:{self.resize}:min_scale={self.min_scale}"
        )

    def describe(self) -> dict:
        return {
            "data": self.name,
            "n": self.n,
            "resolution": self.resolution,
            "seed": self.seed,
            "resize": self.resize,
            "num_classes": self.num_classes,
        }


# ----------------------------------------------------------------------------------------------
# Image folders and .npz files
# ----------------------------------------------------------------------------------------------


def _tally_sizes(sizes: dict[tuple[int, int], int], most: int = 4) -> str:
    """'64x64 (3 files), 32x32 (1 file)': the `most` most common sizes, and how many others."""
    common = sorted(sizes.items(), key=lambda size_count: -size_count[1])
    listed = [f"{w}x{h} ({count} file{'' if count == 1 else 's'})" for (w, h), count in common]
    others = len(listed) - most
    if others <= 0:
        return ", ".join(listed)
    return ", ".join(listed[:most]) + f" and {others} other size{'' if others == 1 else 's'}"


class ImageFolder:
    """Images in a folder, sorted by file name, or in one sub-folder per class (sorted names are
    the labels 0..k-1). Without `resolution` every image must have the same size; with it, each is
    center-cropped to a square and resized with `resize`. `files` restricts it to those paths."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        resolution: int | None = None,
        resize: str = DEFAULT_RESIZE,
        files: list[Path] | None = None,
    ):
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"image folder {root} does not exist")
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a folder")
        resize_filter(resize)
        self.root, self.resolution, self.resize = root, resolution, resize
        self.name = f"folder:{root.resolve()}"
        class_of: list[int] | None = None
        self.class_names: list[str] = []
        if files is None:
            files = _image_files(root)
            if not files:
                class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and _image_files(d))
                per_class = [_image_files(d) for d in class_dirs]
                files = [f for group in per_class for f in group]
                class_of = [k for k, group in enumerate(per_class) for _ in group]
                self.class_names = [d.name for d in class_dirs]
        if not files:
            raise ValueError(
                f"image folder {root} is empty: no {'/'.join(IMAGE_EXTENSIONS)} files in it or in "
                "its sub-folders"
            )
        self.files = [Path(f) for f in files]
        self._labels = None if class_of is None else np.asarray(class_of, dtype=np.int64)
        self.num_classes = 0 if class_of is None else len(self.class_names)
        self.size = self._check_headers()

    def _check_headers(self) -> tuple[int, int] | None:
        """Open every file's header (cheap, no decoding): unreadable files and, without a resize,
        mixed sizes are errors now rather than after an hour of sampling."""
        Image = _pil()
        sizes: dict[tuple[int, int], int] = {}
        bad: list[str] = []
        for path in self.files:
            try:
                with Image.open(path) as img:
                    sizes[img.size] = sizes.get(img.size, 0) + 1
            except Exception as exc:  # PIL raises several types for non-images
                bad.append(f"{path.name} ({type(exc).__name__})")
        if bad:
            raise ValueError(
                f"{len(bad)} unreadable image file(s) in {self.root}: {', '.join(bad[:5])}"
                + (" ..." if len(bad) > 5 else "")
            )
        if self.resolution is None and len(sizes) > 1:
            raise ValueError(
                f"images in {self.root} have {len(sizes)} different sizes: {_tally_sizes(sizes)}; "
                "pass a resolution to center-crop and resize them all"
            )
        if self.resolution is not None:
            return (self.resolution, self.resolution)
        (w, h) = next(iter(sizes))
        return (h, w)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(start, stop, len(self))
        Image = _pil()
        out = []
        for path in self.files[start:stop]:
            try:
                with Image.open(path) as img:
                    image = np.asarray(img.convert("RGB"))
            except Exception as exc:
                raise ValueError(f"cannot decode image {path}: {exc}") from exc
            if self.resolution is not None:
                image = resize_square(image, self.resolution, self.resize)
            elif image.shape[:2] != self.size:
                raise ValueError(f"{path} changed size since the folder was opened")
            out.append(image.transpose(2, 0, 1))
        return np.stack(out)

    def labels(self, start: int, stop: int) -> np.ndarray | None:
        _check_range(start, stop, len(self))
        return None if self._labels is None else self._labels[start:stop]

    def head(self, n: int) -> ImageFolder:
        """The first n images (already checked, so no second pass over the headers)."""
        subset = copy.copy(self)
        subset.files = self.files[:n]
        subset._labels = None if self._labels is None else self._labels[:n]
        return subset

    def fingerprint(self) -> str:
        # Names, sizes and modification times: a changed file changes the key (no content hashing,
        # which would read a 50k-image reference just to look up its cache).
        digest = hashlib.sha256()
        for path in self.files:
            stat = path.stat()
            digest.update(
                f"{path.relative_to(self.root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
            )
        return f"{self.name}:files={len(self.files)}:{digest.hexdigest()[:16]}:{self._resize_tag()}"

    def _resize_tag(self) -> str:
        return "native" if self.resolution is None else f"r={self.resolution}:{self.resize}"

    def describe(self) -> dict:
        return {
            "data": self.name,
            "n": len(self),
            "resolution": self.size[0] if self.size[0] == self.size[1] else list(self.size),
            "resize": self.resize if self.resolution is not None else None,
            "num_classes": self.num_classes,
        }


# The most classes labels may index: each sizes an embedding row, and a stray huge label would
# size a model no machine holds.
MAX_CLASSES = 2**20


class NpzImages:
    """NHWC uint8 images under "arr_0" of an .npz (ADM's layout), labels under "arr_1" if present.
    The header is checked on opening, and the labels read then (the class count sizes the model
    before any image is); the images are loaded on the first read."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        resolution: int | None = None,
        resize: str = DEFAULT_RESIZE,
    ):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f".npz file {path} does not exist")
        resize_filter(resize)
        self.path, self.resolution, self.resize = path, resolution, resize
        self.name = f"npz:{path.resolve()}"
        shapes = _npz_headers(path)
        if "arr_0" not in shapes:
            raise ValueError(
                f"{path}: no 'arr_0' array (images, NHWC uint8); it holds {', '.join(shapes) or 'nothing'}"
            )
        shape, dtype = shapes["arr_0"]
        if len(shape) != 4 or shape[3] != 3 or dtype != np.uint8 or shape[0] == 0:
            raise ValueError(
                f"{path}: 'arr_0' must be non-empty NHWC uint8 RGB images (N, H, W, 3), "
                f"got shape {shape} dtype {dtype}"
            )
        self.n = shape[0]
        self.size = (resolution, resolution) if resolution is not None else tuple(shape[1:3])
        self.num_classes = 0
        self._images = None
        self._labels = None
        if "arr_1" in shapes:
            label_shape, label_dtype = shapes["arr_1"]
            if label_shape != (self.n,) or not np.issubdtype(label_dtype, np.integer):
                raise ValueError(
                    f"{path}: 'arr_1' (labels) must be ({self.n},) integers, got {label_shape} {label_dtype}"
                )
            with np.load(path) as npz:  # n integers: cheap beside the images
                self._labels = npz["arr_1"].astype(np.int64)
            largest = int(self._labels.max())
            if self._labels.min() < 0 or largest >= MAX_CLASSES:
                raise ValueError(
                    f"{path}: 'arr_1' (labels) must be class indices 0..K-1 with K under "
                    f"{MAX_CLASSES:,}; they run from {int(self._labels.min())} to {largest:,}"
                )
            self.num_classes = largest + 1

    def _load(self) -> None:
        if self._images is None:
            with np.load(self.path) as npz:
                self._images = npz["arr_0"]

    def __len__(self) -> int:
        return self.n

    def read(self, start: int, stop: int) -> np.ndarray:
        _check_range(start, stop, self.n)
        self._load()
        batch = self._images[start:stop]
        if self.resolution is not None:
            batch = np.stack([resize_square(im, self.resolution, self.resize) for im in batch])
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def labels(self, start: int, stop: int) -> np.ndarray | None:
        _check_range(start, stop, self.n)
        self._load()
        return None if self._labels is None else self._labels[start:stop]

    def head(self, n: int) -> NpzImages:
        """The first n images (rows are read by index, so only the count changes)."""
        subset = copy.copy(self)
        subset.n = n
        return subset

    def fingerprint(self) -> str:
        stat = self.path.stat()
        tag = "native" if self.resolution is None else f"r={self.resolution}:{self.resize}"
        return f"{self.name}:{stat.st_size}:{stat.st_mtime_ns}:n={self.n}:{tag}"

    def describe(self) -> dict:
        return {
            "data": self.name,
            "n": self.n,
            "resolution": self.size[0] if self.size[0] == self.size[1] else list(self.size),
            "resize": self.resize if self.resolution is not None else None,
            "num_classes": self.num_classes,
        }


ImageSource = BuiltinCrops | ImageFolder | NpzImages


def open_images(
    spec: str | os.PathLike,
    *,
    resolution: int | None = None,
    resize: str = DEFAULT_RESIZE,
    n: int | None = None,
    seed: int = 0,
) -> ImageSource:
    """ "builtin", a folder or an .npz file -> an image source, checked now.

    For "builtin", `resolution` and `n` are required. For a folder or .npz, `resolution` resizes
    (center crop + `resize`) and `n` keeps the first n images (an error if there are fewer).
    """
    if str(spec) == BUILTIN_NAME:
        if resolution is None or n is None:
            raise ValueError("the built-in data set needs a resolution and a number of images")
        return BuiltinCrops(n, resolution, seed=seed, resize=resize)
    path = Path(spec)
    if path.suffix.lower() == ".npz":
        source: ImageSource = NpzImages(path, resolution=resolution, resize=resize)
    elif path.is_dir():
        source = ImageFolder(path, resolution=resolution, resize=resize)
    elif not path.exists():
        raise FileNotFoundError(
            f"no such image data {str(spec)!r}: give 'builtin', a folder of images or an .npz file"
        )
    else:
        raise ValueError(f"{spec}: not a folder or an .npz file (nor 'builtin')")
    if n is not None:
        if n > len(source):
            raise ValueError(f"{spec} holds {len(source)} images, fewer than the {n} asked for")
        source = source.head(n)
    return source


def read_all(source: ImageSource, batch: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
    """Every image (N, 3, H, W) uint8 and the labels (N,) int64 or None, in memory."""
    images, labels = [], []
    for start in range(0, len(source), batch):
        stop = min(start + batch, len(source))
        images.append(source.read(start, stop))
        labels.append(source.labels(start, stop))
    return np.concatenate(images), None if labels[0] is None else np.concatenate(labels)


def save_npz(path: str | os.PathLike, images_NCHW: np.ndarray, labels: np.ndarray | None = None):
    """Write images in ADM's layout: arr_0 NHWC uint8 (and arr_1 labels)."""
    arrays = {"arr_0": np.ascontiguousarray(np.asarray(images_NCHW).transpose(0, 2, 3, 1))}
    if labels is not None:
        arrays["arr_1"] = np.asarray(labels, dtype=np.int64)
    np.savez(path, **arrays)


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{array name: (shape, dtype)} read from the .npy headers inside the zip, without the data."""
    try:
        with zipfile.ZipFile(path) as archive:
            out = {}
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                out[member.removesuffix(".npy")] = (tuple(shape), np.dtype(dtype))
            return out
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from exc


def _check_range(start: int, stop: int, n: int) -> None:
    if not 0 <= start <= stop <= n:
        raise IndexError(f"image range [{start}, {stop}) outside [0, {n})")
