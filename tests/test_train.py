"""bench.train: tiny runs, weights_only checkpoints, exact resume, clear errors, DDP, equal compute."""

import dataclasses
import json

import pytest
import torch
from helpers import needs, optional_import, spawn_gloo

from bench import cli, results
from bench.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, model_from_checkpoint
from bench.train.equal_compute import equal_compute
from bench.train.loop import LOG_NAME, train
from bench.train.settings import TrainSettings

pytestmark = needs("skimage", "PIL", extra="data")  # the built-in data


@pytest.fixture(autouse=True)
def _single_threaded(one_cpu_thread):
    yield


def _settings(tmp_path, **changes) -> TrainSettings:
    base = TrainSettings(
        preset="rin-tiny",
        out_dir=str(tmp_path),
        data_size=16,
        batch=4,
        steps=3,
        checkpoint_every=2,
        log_every=1,
        lr=1e-3,
        device="cpu",
    )
    return dataclasses.replace(base, **changes)


def test_tiny_run_writes_a_weights_only_checkpoint(tmp_path):
    summary = train(_settings(tmp_path))
    ckpt = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert ckpt["step"] == summary["step"] == 3
    assert ckpt["preset"] == "rin-tiny" and isinstance(ckpt["config"], dict)
    # Conditioned on the built-in data's one-class-per-photo labels.
    assert ckpt["config"]["num_classes"] == 8
    per_image = ckpt["macs_train_step_per_image"]
    # RIN's step: self-conditioning pass + forward + backward, about 4x the forward.
    assert 3.5 < per_image / ckpt["macs_fwd_per_image"] < 4.5
    assert ckpt["train_macs"] == summary["train_macs"] == 3 * 4 * per_image
    assert set(ckpt["ema"]) == set(ckpt["model"]) and "state" in ckpt["optimizer"]
    assert len((tmp_path / "train_log.jsonl").read_text().splitlines()) == 3
    model = model_from_checkpoint(load_checkpoint(tmp_path / CHECKPOINT_NAME))
    assert not model.training and model.cfg.num_classes == 8


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    train(_settings(tmp_path / "straight", steps=4))
    train(_settings(tmp_path / "resumed", steps=2))
    summary = train(_settings(tmp_path / "resumed", steps=4), resume=True)
    assert summary["step"] == 4
    straight = torch.load(tmp_path / "straight" / CHECKPOINT_NAME, weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / CHECKPOINT_NAME, weights_only=True)
    assert resumed["train_macs"] == straight["train_macs"]
    for key in ("model", "ema"):
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), (key, name)


def test_resume_refuses_other_settings_and_fresh_run_refuses_overwrite(tmp_path):
    train(_settings(tmp_path, steps=1))
    with pytest.raises(ValueError, match=r"other settings \(lr: 0.001 -> 0.01\)"):
        train(_settings(tmp_path, steps=2, lr=1e-2), resume=True)
    with pytest.raises(FileExistsError, match="--resume"):
        train(_settings(tmp_path, steps=2))


def test_corrupt_or_foreign_checkpoints_fail_clearly(tmp_path):
    train(_settings(tmp_path, steps=1))
    good = (tmp_path / CHECKPOINT_NAME).read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not a rinbench checkpoint"):
        load_checkpoint(foreign)
    # Weights that do not fit the stored config.
    ckpt = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    ckpt["config"]["latent_dim"] = 64
    with pytest.raises(ValueError, match="do not fit rin-tiny"):
        model_from_checkpoint(ckpt)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.pt")


def test_bad_presets_and_overrides_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="latent-space model needs a VAE"):
        train(_settings(tmp_path, preset="dit-s-2"))
    with pytest.raises(ValueError, match="unknown config field.*patchsize"):
        train(_settings(tmp_path, overrides=(("patchsize", 2),)))
    with pytest.raises(ValueError, match="patch_size='abc' must be of type int"):
        train(_settings(tmp_path, overrides=(("patch_size", "abc"),)))
    with pytest.raises(ValueError, match="num_classes comes from the data's labels"):
        train(_settings(tmp_path, overrides=(("num_classes", 2),)))


def test_the_train_log_and_summary_stay_valid_json_without_a_number(tmp_path):
    # Unclipped, no gradient norm is taken; resumed at its last step, no loss is logged: null,
    # never NaN, which strict JSON readers refuse.
    summary = train(_settings(tmp_path, grad_clip=0.0))
    lines = (tmp_path / LOG_NAME).read_text(encoding="utf-8").splitlines()
    strict = {"parse_constant": lambda name: pytest.fail(f"{name} in the log")}
    assert all(json.loads(line, **strict)["grad_norm"] is None for line in lines)
    again = train(_settings(tmp_path, grad_clip=0.0), resume=True)
    assert again["step"] == summary["step"] and again["loss"] is None


def test_a_resume_on_another_class_count_names_it(tmp_path):
    # A run on a labelled .npz from before its labels were read on opening trained with 0
    # classes; resumed now, its data give 3: the error names the field and says why.
    from bench.train.checkpoint import check_resumable
    from bench.train.model import model_config

    settings = _settings(tmp_path)
    then, now = model_config(settings, 0), model_config(settings, 3)
    ckpt = {"settings": settings.as_dict(), "config": dataclasses.asdict(then)}
    with pytest.raises(ValueError, match="num_classes: 0 -> 3.*the class count comes from"):
        check_resumable(ckpt, settings, now)
    # A field only the checkpoint's config has is named too, not an empty list.
    older = ckpt | {"config": ckpt["config"] | {"retired_field": 1}}
    with pytest.raises(ValueError, match=r"retired_field: 1 -> None"):
        check_resumable(older, settings, then)


def test_equal_compute_usage_names_its_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "equal-compute", "--budget-macs", "1", "--out", "x", "--bogus"])
    err = capsys.readouterr().err
    assert err.startswith("usage: rinbench train equal-compute ")
    assert "rinbench train equal-compute: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("preset,optimizer", [("adm-tiny", "adamw"), ("dit-tiny", "lamb")])
def test_other_families_and_lamb_train(tmp_path, preset, optimizer):
    summary = train(
        _settings(
            tmp_path,
            preset=preset,
            resolution=16,
            optimizer=optimizer,
            steps=2,
            warmup_steps=2,
            lr_decay="cosine",
        )
    )
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["schedule"] == "sigmoid@-3,3,0.9"  # no schedule of their own
    assert summary["loss"] == summary["loss"]  # not NaN
    # Forward + backward = 3 forwards for models without self-conditioning.
    assert ckpt["macs_train_step_per_image"] == pytest.approx(3 * ckpt["macs_fwd_per_image"], 0.01)


def _ddp_worker(rank: int, out_dir: str) -> None:
    train(_settings(out_dir, steps=2, batch=4, self_cond_rate=0.9))


def test_ddp_two_processes_gloo(tmp_path):
    spawn_gloo(_ddp_worker, 2, str(tmp_path))
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["step"] == 2 and ckpt["train_macs"] == 2 * 4 * ckpt["macs_train_step_per_image"]


def _toy_features(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """A fixed, cheap stand-in for Inception: 4x4 average colours, 48 features."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 4)
    return {"2048": pooled.flatten(1)}


def test_equal_compute_rows(tmp_path):
    optional_import("torch_fidelity", extra="fid")
    models = {
        "rin": ("rin-tiny", {"resolution": 16}),
        "dit": ("dit-tiny", {"resolution": 16}),
    }
    budget = 1e9
    rows = equal_compute(
        budget,
        tmp_path,
        models=models,
        fractions=(0.5, 1.0),
        batch=4,
        data_size=16,
        n_samples=6,
        sample_steps=2,
        kid_subset_size=3,
        extractor=_toy_features,
        cache_dir=tmp_path / "cache",
        device="cpu",
    )
    assert [(r["model"], r["budget_macs"]) for r in rows] == [
        ("rin", 0.5e9),
        ("rin", 1e9),
        ("dit", 0.5e9),
        ("dit", 1e9),
    ]
    for row in rows:
        # Each model spends the budget to within one step of its own cost.
        assert abs(row["train_macs"] - row["budget_macs"]) <= row["macs_train_step"] * 4
        assert row["fid_legacy_tf"] > 0 and row["n_samples"] == 6 and "kid_mean_legacy_tf" in row
        # The batch the training MACs were spent at, not the FID's sampling batch.
        assert row["batch"] == 4 and row["sample_batch"] == 64
    # The same FIDs as fid records, with the training compute the report plots them against.
    stored = results.read(tmp_path / "results")
    assert [r.cell.phase for r in stored] == ["fid"] * 4
    assert {r.cell.batch for r in stored} == {64}  # a fid cell's batch is its sampling batch
    assert [r.values["train_macs"] for r in stored] == [r["train_macs"] for r in rows]
    # And the images the checkpoint saw, which the FID claims weigh its training by.
    assert all(r.values["images_seen"] == r.values["checkpoint_step"] * 4 for r in stored)


def test_command_line(tmp_path, capsys):
    args = ["rin-tiny", "--out", str(tmp_path), "--steps", "2", "--batch", "2", "--data-size", "4"]
    assert cli.main(["train", *args, "--device", "cpu", "--no-progress", "--log-every", "1"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["step"] == 2
    assert "GMACs per image per train step" in captured.err and "step 2/2" in captured.err
    assert cli.main(["train", *args, "--device", "cpu", "--set", "patch_size=3"]) == 2
    assert capsys.readouterr().err.startswith("rinbench: error:")
    # An existing run is one line too, and options may stand before the preset.
    assert cli.main(["train", "--steps", "2", "--device", "cpu", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error:") and "--resume" in err and len(err.splitlines()) == 1


def test_train_help_shows_every_default():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bench", "train", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for option, default in (("--steps", 1000), ("--batch", 32), ("--lr", 0.0001)):
        assert f"{option} {option[2:].upper()}" in text and f"(default: {default})" in text
    assert "--warmup-steps WARMUP_STEPS linear warm-up steps (default: 0)" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer on a machine without CUDA")
def test_a_missing_cuda_device_is_one_line(tmp_path, capsys):
    assert cli.main(["train", "rin-tiny", "--out", str(tmp_path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error: device 'cuda'") and len(err.splitlines()) == 1
