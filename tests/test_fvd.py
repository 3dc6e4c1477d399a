"""FVD: the pluggable video extractor, its absence said clearly, and the distance on real features."""

import numpy as np
import pytest
import torch

from bench import cli, fvd


class MeanColourPerFrame(torch.nn.Module):
    """A stand-in video extractor: the mean of each channel in each frame, (N, C*T) features."""

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return clips.mean(dim=(3, 4)).flatten(1)


@pytest.fixture
def extractor_file(tmp_path):
    path = tmp_path / "extractor.pt"
    torch.jit.script(MeanColourPerFrame()).save(str(path))
    return path


def clips(seed, n=6, shift=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.integers(0, 200, (n, 4, 8, 8, 3)) + shift, 0, 255).astype(np.uint8)


def test_missing_extractor_says_how_to_supply_one(monkeypatch):
    monkeypatch.delenv(fvd.EXTRACTOR_ENV, raising=False)
    with pytest.raises(
        fvd.MissingVideoExtractor, match="--video-extractor PATH.*RINBENCH_VIDEO_EXTRACTOR"
    ):
        fvd.video_extractor_path()


def test_fvd_is_zero_against_itself_and_grows_with_a_shift(extractor_file):
    extractor = fvd.VideoFeatures(extractor_file)
    real = clips(0)
    assert fvd.fvd(real, real, extractor)["fvd"] == pytest.approx(0.0, abs=1e-9)
    near, far = (fvd.fvd(clips(1, shift=s), real, extractor)["fvd"] for s in (5, 50))
    assert 0 < near < far


def test_command_line(tmp_path, extractor_file, capsys, monkeypatch):
    monkeypatch.delenv(fvd.EXTRACTOR_ENV, raising=False)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, clips(0))
    np.savez(b, clips(1))
    assert (
        cli.main(
            ["fvd", str(a), str(b), "--video-extractor", str(extractor_file), "--device", "cpu"]
        )
        == 0
    )
    assert "fvd" in capsys.readouterr().out
    assert cli.main(["fvd", str(a), str(b), "--device", "cpu"]) == 2
    assert "video feature extractor" in capsys.readouterr().err
    np.savez(b, np.zeros((2, 8, 8, 3), np.uint8))
    assert (
        cli.main(
            ["fvd", str(a), str(b), "--video-extractor", str(extractor_file), "--device", "cpu"]
        )
        == 2
    )
    assert "expected uint8 clips (N, T, H, W, C)" in capsys.readouterr().err


def test_a_single_array_file_is_not_taken_for_an_archive(tmp_path):
    single = tmp_path / "clips.npz"
    with open(single, "wb") as f:
        np.save(f, clips(0))
    with pytest.raises(ValueError, match="holds a single array"):
        fvd.load_videos(single)
