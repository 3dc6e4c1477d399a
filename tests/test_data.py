"""bench.data: the built-in crops, folder and .npz loaders, and their early errors."""

import numpy as np
import pytest
import torch
from helpers import needs, optional_import

Image = optional_import("PIL.Image", extra="data")

from bench.data import (  # noqa: E402
    BUILTIN_PHOTOS,
    BuiltinCrops,
    ImageFolder,
    NpzImages,
    open_images,
    read_all,
    save_npz,
    to_model_range,
    to_uint8,
)

needs_skimage = needs("skimage", extra="data")


def _write(path, size=(8, 8), value=0):
    Image.fromarray(np.full((*size[::-1], 3), value, np.uint8)).save(path)


@needs_skimage
def test_builtin_crops_are_seeded_per_index_and_labelled_by_photo():
    crops = BuiltinCrops(12, 24, seed=3)
    images, labels = read_all(crops, batch=5)
    assert images.shape == (12, 3, 24, 24) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.arange(12) % len(BUILTIN_PHOTOS))
    # Any slice equals the same rows of the whole set: ranks can split the work freely.
    np.testing.assert_array_equal(crops.read(4, 7), images[4:7])
    assert not np.array_equal(BuiltinCrops(12, 24, seed=4).read(0, 12), images)
    assert crops.num_classes == len(BUILTIN_PHOTOS)
    assert "r=24" in crops.fingerprint() and "seed=3" in crops.fingerprint()


@needs_skimage
def test_builtin_rejects_unknown_photo_and_resize():
    with pytest.raises(ValueError, match="unknown built-in photo"):
        BuiltinCrops(2, 16, photos=("astronaut", "mona_lisa"))
    with pytest.raises(ValueError, match="unknown resize protocol.*pil-bicubic"):
        BuiltinCrops(2, 16, resize="bicubic")


def test_model_range_round_trip():
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    x = to_model_range(images)
    assert x.min() == -1 and x.max() == 1
    assert torch.equal(to_uint8(x), images)
    with pytest.raises(ValueError, match="uint8"):
        to_model_range(x)


def test_folder_loads_sorted_files(tmp_path):
    for i in (2, 0, 1):
        _write(tmp_path / f"{i}.png", value=i * 10)
    folder = open_images(tmp_path)
    assert len(folder) == 3 and folder.labels(0, 3) is None
    np.testing.assert_array_equal(folder.read(0, 3)[:, 0, 0, 0], [0, 10, 20])


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        ImageFolder(tmp_path / "empty")

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write(mixed / "a.png", (8, 8))
    _write(mixed / "b.png", (8, 6))
    with pytest.raises(ValueError, match="2 different sizes.*8x8.*8x6.*resolution"):
        ImageFolder(mixed)
    # With a resize asked for, mixed sizes are center-cropped and resized.
    assert ImageFolder(mixed, resolution=4).read(0, 2).shape == (2, 3, 4, 4)

    broken = tmp_path / "broken"
    broken.mkdir()
    _write(broken / "a.png")
    (broken / "b.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="1 unreadable image file.*b.png"):
        ImageFolder(broken)


def test_mixed_sizes_are_counted_as_listed(tmp_path):
    # Five sizes: the four most common are listed with their counts, the fifth is counted.
    for number, size in enumerate([(8, 8)] * 3 + [(8, 6)] * 2 + [(6, 6), (4, 4), (2, 2)]):
        _write(tmp_path / f"{number}.png", size)
    with pytest.raises(ValueError) as raised:
        ImageFolder(tmp_path)
    assert (
        "have 5 different sizes: 8x8 (3 files), 8x6 (2 files), 6x6 (1 file), 4x4 (1 file) and 1 "
        "other size; pass a resolution" in str(raised.value)
    )


def test_folder_of_class_subfolders_has_labels(tmp_path):
    for k, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for i in range(k + 1):
            _write(tmp_path / name / f"{i}.png", value=k)
    folder = ImageFolder(tmp_path)
    assert folder.num_classes == 2 and folder.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(folder.labels(0, 3), [0, 1, 1])


def test_npz_round_trip_and_errors(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 6, 6), dtype=np.uint8)
    save_npz(tmp_path / "ok.npz", images, np.array([0, 1, 2, 1, 0]))
    npz = open_images(tmp_path / "ok.npz")
    assert isinstance(npz, NpzImages)
    # The class count is known on opening, before any image is read: it sizes the model.
    assert npz.num_classes == 3 and npz.describe()["num_classes"] == 3
    save_npz(tmp_path / "huge.npz", images, np.array([0, 1, 2, 1, 10**12]))
    with pytest.raises(ValueError, match="class indices 0..K-1 with K under 1,048,576"):
        NpzImages(tmp_path / "huge.npz")
    np.testing.assert_array_equal(npz.read(0, 5), images)
    np.testing.assert_array_equal(npz.labels(1, 3), [1, 2])
    assert len(open_images(tmp_path / "ok.npz", n=2)) == 2

    np.savez(tmp_path / "nokey.npz", images=images)
    with pytest.raises(ValueError, match="no 'arr_0'.*holds images"):
        NpzImages(tmp_path / "nokey.npz")
    np.savez(tmp_path / "nchw.npz", images)  # arr_0 but channels first
    with pytest.raises(ValueError, match=r"NHWC uint8.*\(5, 3, 6, 6\)"):
        NpzImages(tmp_path / "nchw.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable .npz"):
        NpzImages(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="fewer than the 9"):
        open_images(tmp_path / "ok.npz", n=9)


def test_open_images_unknown_spec(tmp_path):
    with pytest.raises(FileNotFoundError, match="'builtin', a folder of images or an .npz"):
        open_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="needs a resolution"):
        open_images("builtin")
