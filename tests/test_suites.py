"""Suites: the shipped TOML files expand to the cells the issue asks for; mistakes are one clear line."""

import pytest

from bench import registry, suites
from bench.cell import Cell
from bench.measure.cell import Settings
from bench.selection import TIMED_PHASES

# Ours, not the public implementations beside them (baselines/peers/: the peers suite's).
PAPER_PRESETS = [
    slug
    for slug in registry.slugs()
    if not slug.endswith("-tiny") and not registry.get(slug).declared_by.peer_of
]
TINY_PRESETS = [slug for slug in registry.slugs() if slug.endswith("-tiny")]
SCALING = (64, 128, 256, 512, 1024)


def native(slug):
    return registry.get(slug).config.resolution


@pytest.mark.parametrize("name", ["quick", "paper", "scaling", "ci", "claims", "hardware"])
def test_builtin_suites_load(name):
    suite = suites.load(name)
    assert suite.name == name and suite.description and suite.plan
    assert len(set(suite.cells)) == len(suite.cells)
    assert suite.notes == ()


def test_builtin_names_are_the_shipped_files():
    assert suites.builtin_names() == [
        "ci",
        "claims",
        "gpu-check",
        "hardware",
        "levers",
        "memory",
        "norms",
        "paper",
        "peers",
        "quick",
        "scaling",
    ]


def test_quick_counts_every_paper_preset_and_each_family_across_resolutions():
    cells = set(suites.load("quick").cells)
    for slug in PAPER_PRESETS:
        for phase in ("params", "flops"):
            assert Cell(slug, native(slug), 1, phase=phase) in cells
    for family in ("rin", "adm", "dit"):
        counted = {
            c.resolution for c in cells if c.phase == "flops" and c.preset.startswith(family)
        }
        assert set(SCALING) <= counted, family
    timed = {c for c in cells if c.phase not in ("params", "flops")}
    assert {c.preset for c in timed} == {"rin-tiny", "adm-tiny", "dit-tiny"}
    assert {c.phase for c in timed} == {"forward", "train_step"}
    assert {c.device for c in cells} == {"cpu"}


def test_paper_suite_times_paper_presets_on_cuda_in_bf16_with_max_batch():
    suite = suites.load("paper")
    timed = [item for item in suite.plan if item.cell.phase not in ("params", "flops")]
    assert {item.cell.preset for item in timed} == set(PAPER_PRESETS)
    assert {item.cell.phase for item in timed} == {"forward", "train_step", "sample"}
    assert {(item.cell.device, item.cell.dtype) for item in timed} == {("cuda", "bf16")}
    assert all(item.cell.resolution == native(item.cell.preset) for item in suite.plan)
    assert {item.cell.phase for item in timed if item.settings.max_batch} == {
        "forward",
        "train_step",
    }
    assert {item.cell.phase for item in timed if item.settings.profile} == {"forward", "train_step"}


def test_scaling_and_ci_suites():
    scaling = suites.load("scaling").cells
    assert {c.resolution for c in scaling} == set(SCALING)
    assert {c.phase for c in scaling} == {"params", "flops", "forward"}
    ci = suites.load("ci").cells
    ours = {slug for slug in registry.slugs() if not registry.get(slug).declared_by.peer_of}
    assert {c.preset for c in ci if c.phase == "flops"} == ours
    assert {c.preset for c in ci if c.phase == "forward"} == set(TINY_PRESETS) & ours


def test_claims_suite_times_both_sides_of_every_ratio_pair_on_one_setup_per_device():
    from bench import claims

    pairs = {
        ((baseline, res_b), (rin, res_r))
        for claim in claims.load()
        if claim.kind in ("ratio", "ratio_max")
        for baseline, res_b, rin, res_r in claim.pairs
    }
    for device, setups in {"cpu": {(1, "fp32", "forward")}, "cuda": None}.items():
        plan = suites.load("claims", device).plan
        timed = {}
        for item in plan:
            cell = item.cell
            if cell.phase in ("forward", "train_step"):
                timed.setdefault((cell.preset, cell.resolution), set()).add(
                    (cell.batch if cell.preset.endswith("k600") else 0, cell.dtype, cell.phase)
                )
        counted = {(i.cell.preset, i.cell.resolution) for i in plan if i.cell.phase == "flops"}
        for baseline, rin in pairs:
            assert timed[baseline] == timed[rin], (device, baseline, rin)
            assert {baseline, rin} <= counted
        if setups:
            assert {
                (i.cell.batch, i.cell.dtype, i.cell.phase)
                for i in plan
                if i.cell.phase == "forward"
            } == setups
    on_gpu = suites.load("claims", "cuda").plan
    assert {i.cell.dtype for i in on_gpu if i.cell.phase == "train_step"} == {"bf16"}
    # Per round and side, a short window: the rounds, not the windows, give the interval.
    assert all(i.settings.min_repeats == 10 for i in on_gpu)
    assert all(i.settings.min_repeats == 1 for i in suites.load("claims").plan)


@pytest.mark.parametrize("suite", ["levers", "norms", "memory"])
@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_every_lever_cell_has_a_plain_twin_in_the_gpu_check(device, suite):
    """The lever suites hold lever cells only: each has the id of a gpu-check cell timed
    alike (the same settings but for the levers), which the GPU check's summary sets beside it. A
    lever cell cannot join gpu-check itself: a cell in two grids with different settings is an
    error, and records are keyed by cell id."""
    from bench.measure.cell import LEVERS

    plain = {item.cell: item.settings for item in suites.load("gpu-check", device).plan}
    levered = suites.load(suite, device).plan
    assert levered and all(item.cell.phase == "train_step" for item in levered)
    for item in levered:
        assert item.cell in plain, item.cell.id
        twin = plain[item.cell]
        differing = {
            key
            for key, value in item.settings.as_dict().items()
            if value != twin.as_dict()[key] and key != "profile"  # gpu-check profiles its twins
        }
        assert differing and differing <= set(LEVERS), (item.cell.id, differing)
    by_cell = {(item.cell.preset, item.cell.mode): item.settings for item in levered}
    if device == "cuda" and suite == "memory":  # the cell whose memory issue 23 sets a target for
        assert by_cell["adm-in256", "eager"].checkpointing == "blocks"
        assert [item.cell.id for item in levered] == [
            "adm-in256.r256.b16.bf16.train_step.eager.cuda"
        ]
    elif device == "cuda" and suite == "norms":  # ADM-256's memory, RIN-256's LayerNorms
        assert all(item.settings.low_precision_norms for item in levered)
        assert {item.cell.preset for item in levered} == {"adm-in256", "rin-in256"}
    elif device == "cuda":
        assert by_cell["adm-in256", "eager"].channels_last
        assert by_cell["rin-in256", "eager"].fused_optimizer
        assert by_cell["rin-in256", "eager"].sdpa_backend == "flash"
        assert by_cell["rin-in256", "compile"].compile_mode == "reduce-overhead"


def test_axes_and_settings_given_per_device(tmp_path):
    text = (
        'presets = ["dit-tiny"]\ndevices = ["cpu", "cuda"]\n'
        "batches = { cpu = [1], cuda = [8, 16] }\n"
        'phases = { cpu = ["forward"], cuda = ["forward", "train_step"] }\n'
        "[settings]\nwarmup = 2\n[settings.cuda]\nwarmup = 7\n"
    )
    suite = parse(text, tmp_path)
    found = {(i.cell.device, i.cell.batch, i.cell.phase, i.settings.warmup) for i in suite.plan}
    assert found == {
        ("cpu", 1, "forward", 2),
        ("cuda", 8, "forward", 7),
        ("cuda", 16, "forward", 7),
        ("cuda", 8, "train_step", 7),
        ("cuda", 16, "train_step", 7),
    }
    on_cpu = parse(text, tmp_path, "cpu")
    assert {(i.cell.device, i.cell.batch, i.settings.warmup) for i in on_cpu.plan} == {
        ("cpu", 1, 2)
    }
    grid_level = parse(
        '[[grid]]\npresets = ["dit-tiny"]\nphases = ["forward"]\n[grid.settings]\nwarmup = 4\n'
        "[grid.settings.cpu]\nwarmup = 5\n",
        tmp_path,
    )
    assert grid_level.plan[0].settings.warmup == 5


# Mistakes in the per-device tables, each one clear line as every suite mistake is
# (test_mistakes_are_one_clear_line checks them with the others).
PER_DEVICE_MISTAKES = [
    (
        'presets = ["dit-tiny"]\nphases = ["forward"]\nbatches = { cuda = [8] }',
        r"'batches' is given per device but not for 'cpu'; add cpu = \[...\]",
    ),
    (
        'presets = ["dit-tiny"]\nphases = ["forward"]\nbatches = { tpu = [8], cpu = [1] }',
        r"'batches' names unknown devices \['tpu'\]; valid: cpu, cuda",
    ),
    (
        'presets = ["dit-tiny"]\nphases = ["forward"]\ndevices = { cpu = ["cpu"] }',
        r"'devices' must be a list",
    ),
    (
        'presets = ["dit-tiny"]\nphases = ["forward"]\n[settings]\ncuda = 3',
        r"settings for cuda must be a table",
    ),
    (
        'presets = ["dit-tiny"]\nphases = ["forward"]\n[settings.cuda]\nwarmups = 3',
        r"unknown setting 'warmups'",
    ),
]


def parse(text: str, tmp_path, device=None):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return suites.load(str(path), device=device)


def test_product_excludes_settings_and_native(tmp_path):
    suite = parse(
        """
        timeout_s = 30
        [settings]
        warmup = 2
        [[grid]]
        presets = ["rin-tiny", "adm-tiny", "dit-tiny"]
        resolutions = ["native", 64]
        batches = [1, 2]
        phases = ["forward", "train_step"]
        [grid.settings]
        min_seconds = 0.5
        [[grid.exclude]]
        preset = "rin-*"
        phase = "train_step"
        [[exclude]]
        resolution = 64
        batch = 2
        """,
        tmp_path,
    )
    assert suite.name == "mine" and suite.timeout_s == 30
    # 3 presets x 2 resolutions x 2 batches x 2 phases, minus rin train_step (4), minus r64 b2 (6 - 1)
    assert len(suite.plan) == 24 - 4 - 5
    assert Cell("rin-tiny", native("rin-tiny"), 2, phase="forward") in suite.cells
    assert Cell("rin-tiny", 64, 1, phase="train_step") not in suite.cells
    assert Cell("adm-tiny", 64, 2, phase="forward") not in suite.cells
    assert all(item.settings == Settings(warmup=2, min_seconds=0.5) for item in suite.plan)


def test_settings_take_every_field_type(tmp_path):
    suite = parse(
        'presets = ["dit-tiny"]\nphases = ["forward"]\nmodes = ["compile"]\n[settings]\n'
        'min_seconds = 2\nmax_batch = true\ncompile_mode = "max-autotune"\nsampler = "ddpm"\n'
        'compile_backend = "aot_eager"',
        tmp_path,
    )
    assert suite.plan[0].settings == Settings(
        min_seconds=2.0,
        max_batch=True,
        compile_mode="max-autotune",
        sampler="ddpm",
        compile_backend="aot_eager",
    )


def test_the_backends_a_suite_skips_checking_are_ones_torch_knows():
    # A suite naming only these loads without importing dynamo (2 s), so they must be real.
    import torch

    from bench.suites import ALWAYS_KNOWN_COMPILE_BACKENDS

    assert set(torch.compiler.list_backends(exclude_tags=())) >= ALWAYS_KNOWN_COMPILE_BACKENDS


def test_top_level_axes_make_a_suite_without_grids_and_device_overrides(tmp_path):
    suite = parse('presets = ["dit-tiny"]\nphases = ["forward"]\ndevices = ["cuda"]', tmp_path)
    assert suite.cells == (Cell("dit-tiny", native("dit-tiny"), 1, device="cuda"),)
    on_cpu = parse(
        'presets = ["dit-tiny"]\nphases = ["forward"]\ndevices = ["cuda"]', tmp_path, "cpu"
    )
    assert on_cpu.cells[0].device == "cpu"


def test_resolution_an_architecture_cannot_take_is_skipped_with_a_note(tmp_path):
    # DiT-XL/2 works on latents (pixels / 8) in patches of 2: 72 px is 9 latent pixels.
    suite = parse('presets = ["dit-xl-2"]\nresolutions = [64, 72]\nphases = ["flops"]', tmp_path)
    assert [c.resolution for c in suite.cells] == [64]
    assert len(suite.notes) == 1 and suite.notes[0].startswith("skipped dit-xl-2 at 72 px: ")


def test_a_suite_whose_every_cell_is_skipped_says_why(tmp_path):
    # The reason the note above gives when some cells are left, here in the error itself.
    text = 'presets = ["dit-xl-2", "dit-s-2"]\nresolutions = [72]\nphases = ["flops"]'
    with pytest.raises(suites.SuiteError) as raised:
        parse(text, tmp_path)
    message = str(raised.value)
    assert "the suite has no cells (every combination excluded or skipped; " in message
    assert "skipped dit-xl-2 at 72 px: resolution 72 px does not tile into patches" in message
    assert message.endswith("; 1 other preset-resolution pair skipped)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'presets = ["dit-xxl-2"]\nphases = ["flops"]',
            r"unknown preset 'dit-xxl-2'; known: adm-in128, ",
        ),
        (
            'presets = ["sd-*"]\nphases = ["flops"]',
            r"preset pattern 'sd-\*' matches no preset; known: ",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["fwd"]',
            r"unknown phase 'fwd'; valid: params, flops, forward",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\ndtypes = ["fp64"]',
            r"unknown dtype 'fp64'; valid: fp32",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\nmodes = ["jit"]',
            r"unknown mode 'jit'; valid: eager",
        ),
        ('presets = ["dit-tiny"]\nphases = ["flops"]\ndevices = ["tpu"]', r"unknown device 'tpu'"),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\nresolutions = [0]',
            r"resolutions must be positive",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\nbatches = ["max"]',
            r"batches must be positive",
        ),
        ('presets = ["dit-tiny"]', r"missing 'phases'"),
        ('presets = "dit-tiny"\nphases = ["flops"]', r"'presets' must be a non-empty list"),
        ('preset = ["dit-tiny"]', r"unknown key 'preset'; valid: description, timeout_s, settings"),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nwarmups = 3',
            r"unknown setting 'warmups'; valid: warmup",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nwarmup = "3"',
            r"setting 'warmup' must be an integer",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nmax_batch = 1',
            r"'max_batch' must be true or false",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\ncompile_mode = 3',
            r"'compile_mode' must be a string, got 3",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["forward"]\nmodes = ["eager", "compile"]\n'
            '[settings]\ncompile_backend = "indcutor"',
            r"unknown compile_backend 'indcutor' \(settings of a compiled cell\); did you mean "
            r"'inductor'\? known: .*inductor",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nsampler = "euler"',
            r"invalid settings: unknown sampler 'euler'",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nsdpa_backend = "fast"',
            r"invalid settings: unknown sdpa_backend 'fast'; valid: flash, efficient, cudnn, math",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nchannels_last = 1',
            r"'channels_last' must be true or false",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[[exclude]]\nphase = "flops"',
            r"the suite has no cells",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[[exclude]]\nsize = 3',
            r"exclude: unknown key 'size'",
        ),
        (  # a typo would exclude nothing, and the cells meant to go would be measured
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[[exclude]]\nphase = "trian_step"',
            r"exclude: phase 'trian_step' matches no phase; valid: params, flops, forward",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[[exclude]]\npreset = "dit-tinyy"',
            r"exclude: preset 'dit-tinyy' matches no preset; valid: rinbench list names them",
        ),
        (  # true would equal batch 1
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[[exclude]]\nbatch = true',
            r"exclude: batch takes whole numbers >= 1, got True",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\ntimeout_s = -1',
            r"'timeout_s' must be a positive",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\ntimeout_s = nan',
            r"'timeout_s' must be a positive",
        ),
        (
            'presets = ["dit-tiny"]\nphases = ["flops"]\n[settings]\nmin_seconds = nan',
            r"settings need warmup >= 0, min_repeats >= 1 and min_seconds >= 0",
        ),
        ("presets = [\n", r"mine.toml is not valid TOML: "),
        (
            '[[grid]]\npresets = ["dit-tiny"]\nphases = ["forward"]\n'
            '[[grid]]\npresets = ["dit-tiny"]\nphases = ["forward"]\n[grid.settings]\nwarmup = 9',
            r"in grids 1 and 2 with different settings",
        ),
        *PER_DEVICE_MISTAKES,
    ],
)
def test_mistakes_are_one_clear_line(tmp_path, text, message):
    with pytest.raises(suites.SuiteError, match=message) as caught:
        parse(text, tmp_path)
    assert "\n" not in str(caught.value)


def test_unknown_suite_name_lists_the_built_in_ones(tmp_path):
    with pytest.raises(
        suites.SuiteError,
        match=r"unknown suite 'quik'; valid: ci, claims, gpu-check, hardware, levers, memory, norms, paper, peers, quick, scaling",
    ):
        suites.load("quik")
    with pytest.raises(suites.SuiteError, match="no suite file at"):
        suites.load(str(tmp_path / "absent.toml"))


def test_a_suite_file_that_is_not_text_is_one_clear_error(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(suites.SuiteError, match="is not UTF-8 text"):
        suites.load(str(binary))


TIMING_FIELDS = ("warmup", "warmup_steady_within", "min_repeats", "min_seconds", "max_seconds",
                 "max_rel_iqr")  # fmt: skip


def test_the_gpu_checks_suites_time_their_cuda_cells_alike():
    """A lever cell is set beside its plain twin of gpu-check, and the hardware suite's cells
    beside gpu-check's: on a GPU they are timed by the same rule, or a before/after would measure
    the rule too."""
    timing = {}
    for name in ("gpu-check", "hardware", "levers", "norms", "memory"):
        plan = suites.load(name, device="cuda").plan
        cells = [item for item in plan if item.cell.phase in TIMED_PHASES]
        timing[name] = {tuple(getattr(item.settings, f) for f in TIMING_FIELDS) for item in cells}
    assert all(len(rules) == 1 for rules in timing.values()), timing
    assert len(set.union(*timing.values())) == 1, timing
