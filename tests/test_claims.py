"""bench.claims: the claims file, verdicts that hold, fail and cannot be checked, and the FLOP
convention inferred from the records."""

import re
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from bench import claims, intervals, results, selection
from bench.cell import Cell
from bench.record import Record
from reports import convention

DATA = Path(__file__).parent / "data"
RECONSTRUCTED = "reconstructed: widths guessed here; nothing published"
RELEASED = "released config: the authors' flags"


def record(cell_id, *, status="ok", source=RELEASED, gpu=None, cpu=None, **values):
    """A record as rinbench 0.1 wrote it (schema 1, the source one string), read as today's.
    `cpu`: (model, count) of the machine a CPU cell ran on."""
    cell = Cell.from_id(cell_id).as_dict()
    env = {"device": cell["device"], "gpu": {"name": gpu} if gpu else None}
    if cpu:
        env |= {"cpu_model": cpu[0], "cpu_count": cpu[1]}
    data = {
        "schema": 1,
        "run": {"id": "run-a"},
        "cell": cell,
        "settings": {},
        "model": {
            "family": cell["preset"].split("-")[0],
            "params": values.get("params"),
            "source": source,
        },
        "env": env,
        "status": status,
        "values": values,
        "error": None if status == "ok" else "CUDA out of memory",
    }
    return Record.from_json(data)


def paired(first: Record, second: Record, spread=(1.0, 1.01, 0.99)) -> list[Record]:
    """The two records as bench.paired leaves them: each names the other, and each keeps one
    median per round; the per-round factor wanders by `spread` around the records' own factor."""
    factor = second.values["images_per_s"] / first.values["images_per_s"]
    first_ms = [10.0 * (1 + 0.1 * number) for number in range(len(spread))]
    second_ms = [ms / (factor * wander) for ms, wander in zip(first_ms, spread, strict=True)]

    def one(record, medians, other):
        return replace(
            record,
            values=record.values | {intervals.ROUND_MEDIANS_KEY: medians},
            details=record.details | {"pair": {"with": other.cell.id, "rounds": len(medians)}},
        )

    return [one(first, first_ms, second), one(second, second_ms, first)]


def parse(text: str) -> list[claims.Claim]:
    return claims.parse(tomllib.loads(text))


def verdicts_by_basis(claim_list, records) -> dict[tuple[str, str], claims.Verdict]:
    return {(v.claim.id, v.basis): v for v in claims.evaluate(claim_list, records)}


# --- the claims file ---------------------------------------------------------------------------


def test_rin_paper_claims_cover_every_checkable_number():
    found = {(c.kind, c.preset, c.reported) for c in claims.load("rin_paper")}
    expected = {
        ("params", "rin-in256", 410e6),
        ("params", "rin-in512", 320e6),
        ("params", "rin-k600", 411e6),
        ("params", "rin-in64", 281e6),
        ("params", "adm-in64", 296e6),
        ("params", "adm-in128", 422e6),
        ("params", "adm-in256", 554e6),
        ("params", "adm-in512", 559e6),
        ("params", "dit-xl-2", 675e6),
        ("gflops", "adm-in64", 110),
        ("gflops", "adm-in128", 307),
        ("gflops", "adm-in256", 1120),
        ("gflops", "adm-in512", 1983),
        ("gflops", "dit-xl-2", 118.64),
        ("gflops", "rin-in256", 334),
        ("gflops", "rin-in512", 415),
        ("gflops", "rin-in64", 106),
        ("gflops", "rin-in128", 194),
        ("fid", "rin-in256", 4.51),
        ("fid", "rin-in256", 3.42),
        ("fid", "rin-cifar10", 1.81),
    }
    assert expected <= found
    ratios = {c.id: c.pairs for c in claims.load() if c.kind in ("ratio", "ratio_max")}
    assert ratios["ratio-adm-rin-256"] == (("adm-in256", 256, "rin-in256", 256),)
    assert ratios["ratio-vdm-rin-k600"] == (("vdm-k600", 64, "rin-k600", 64),)
    assert len(ratios["up-to-10x"]) == 4


def test_every_claim_names_its_source_convention_and_tolerance():
    for claim in claims.load():
        assert claim.source and claim.origin, claim.id
        assert 0 < claim.tolerance < 1, claim.id
        if claim.kind == "gflops":
            assert claim.convention in claims.CONVENTIONS, claim.id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[group]]\nkind = "params"\nsource = "s"\ntolerance = 0.1\n'
            'claims = [{ preset = "a", resolution = 8, reported = 1, colour = "red" }]',
            "claim 'a-r8-params': unknown fields ['colour']",
        ),
        (
            '[[group]]\nkind = "gflops"\nsource = "s"\n'
            'claims = [{ preset = "a", resolution = 8, reported = 1 }]',
            "a gflops claim needs 'convention', one of macs, 2macs",
        ),
        (
            '[[group]]\nkind = "params"\nsource = "s"\n'
            'claims = [{ preset = "a", resolution = 8, reported = 1 }, '
            '{ preset = "a", resolution = 8, reported = 2 }]',
            "claim id 'a-r8-params' appears twice",
        ),
        ('[[group]]\nkind = "speed"\nsource = "s"\nclaims = [{ reported = 1 }]', "unknown kind"),
    ],
)
def test_bad_claims_files_are_refused_naming_the_claim(text, message):
    with pytest.raises(claims.ClaimsError, match=re.escape(message)):
        parse(text)


def test_unknown_claims_file_lists_the_built_in_ones():
    with pytest.raises(claims.ClaimsError, match="unknown claims file 'nope'; built-in: rin_paper"):
        claims.load("nope")


# --- verdicts --------------------------------------------------------------------------------------

# The claims files with several groups are written here as one array of inline tables, each group's
# head on one line: TOML reads them as it reads [[group]] tables (RATIO and FID below use those).
COUNTS = """
group = [
  { kind = "params", source = "Table 1", origin = "paper A", tolerance = 0.01, claims = [
    { preset = "base-m", resolution = 64, reported = 100e6 },
    { preset = "rin-m", resolution = 64, reported = 50e6 },
    { preset = "lost-m", resolution = 64, reported = 1e6 },
  ] },
  { kind = "gflops", source = "Table 2", origin = "paper A", convention = "2macs", tolerance = 0.02, claims = [
    { preset = "base-m", resolution = 64, reported = 40 },
    { preset = "rin-m", resolution = 64, reported = 4 },
  ] },
]
"""


def counted():
    return [
        record("base-m.r64.b1.fp32.params.eager.cpu", params=100_400_000),  # within 1 %
        record("base-m.r64.b1.fp32.flops.eager.cpu", macs_fwd=20e9),  # 2·MACs = 40 GFLOPs
        record("rin-m.r64.b1.fp32.params.eager.cpu", params=45e6, source=RECONSTRUCTED),
        record("rin-m.r64.b1.fp32.flops.eager.cpu", macs_fwd=1e9, source=RECONSTRUCTED),
        record("lost-m.r64.b1.fp32.params.eager.cpu", status="error"),
    ]


def test_counts_hold_fail_or_cannot_be_checked():
    verdicts = verdicts_by_basis(parse(COUNTS), counted())
    held = verdicts[("base-m-r64-params", "params")]
    assert (held.status, held.measured, held.ratio) == ("holds", 100_400_000, 1.004)
    assert held.caveat == ""
    failed = verdicts[("rin-m-r64-params", "params")]
    assert (failed.status, failed.ratio) == ("fails", 0.9)
    assert failed.caveat == (
        "rin-m is reconstructed (widths guessed here): a miss is evidence about the "
        "reconstruction as much as about the paper"
    )
    lost = verdicts[("lost-m-r64-params", "params")]
    assert lost.status == "cannot check" and lost.measured is None
    assert lost.detail == "the params cell of lost-m at 64 px ended error: CUDA out of memory"
    gflops = verdicts[("base-m-r64-gflops-2macs", "GFLOPs = 2·MACs")]
    assert (gflops.status, gflops.measured) == ("holds", 40.0)
    assert verdicts[("rin-m-r64-gflops-2macs", "GFLOPs = 2·MACs")].ratio == 0.5


RATIO = """
[[group]]
kind = "ratio"
source = "Figure 1"
compare = "at_least"
tolerance = 0.1
claims = [{ id = "tenfold", reported = 10, pairs = [["base-m", 64, "rin-m", 64]] }]
"""


def test_a_factor_claim_without_a_statement_is_put_in_words_from_its_pairs():
    (one,) = parse(RATIO)
    assert one.text == "10× cheaper: rin-m at 64 px over base-m at 64 px"
    (most,) = parse(RATIO.replace('"ratio"', '"ratio_max"').replace(
        '64]] }]', '64], ["base-l", 128, "rin-l", 128]] }]'
    ))  # fmt: skip
    assert most.text == (
        "up to 10× cheaper: rin-m at 64 px over base-m at 64 px; rin-l at 128 px over base-l at "
        "128 px"
    )


def test_an_efficiency_factor_is_checked_in_macs_and_per_timed_setup():
    h100, h200 = "NVIDIA H100 80GB HBM3", "NVIDIA H200"
    rin = {"source": RECONSTRUCTED}
    timed = [
        *paired(
            record("base-m.r64.b8.bf16.forward.eager.cuda", gpu=h100, images_per_s=100.0),
            record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu=h100, images_per_s=950.0, **rin),
        ),
        record("base-m.r64.b8.bf16.train_step.eager.cuda", gpu=h100, status="oom"),
        record("rin-m.r64.b8.bf16.train_step.eager.cuda", gpu=h100, images_per_s=300.0, **rin),
        *paired(
            record("base-m.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
            record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=500.0, **rin),
        ),
    ]
    verdicts = verdicts_by_basis(parse(RATIO), counted() + timed)
    macs = verdicts[("tenfold", "MACs")]
    assert (macs.status, macs.measured, macs.ratio) == ("holds", 20.0, 2.0)
    assert macs.detail == "base-m 20.0 GMACs / rin-m 1.0 GMACs"
    assert macs.caveat.startswith("rin-m is reconstructed")
    forward = verdicts[("tenfold", "wall-clock forward on H100 80GB HBM3 (bf16, b8, eager)")]
    # At least 10 x (1 - 0.1) = 9 over its whole interval (3 rounds within 1% of 9.5).
    assert (forward.status, forward.measured) == ("holds", pytest.approx(9.5, rel=1e-4))
    assert forward.interval.low > 9.0 and forward.interval.n == 3
    assert forward.detail.startswith("rin-m 950 img/s / base-m 100 img/s; 95% interval over 3")
    assert forward.timing.gpu and forward.timing.phase == "forward"
    train = verdicts[("tenfold", "wall-clock train_step on H100 80GB HBM3 (bf16, b8, eager)")]
    assert train.status == "cannot check" and train.detail.startswith("base-m oom")
    slower = verdicts[("tenfold", "wall-clock forward on H200 (bf16, b8, eager)")]
    assert (slower.status, slower.measured) == ("fails", pytest.approx(5.0, rel=1e-4))


def test_a_factor_whose_interval_straddles_the_claim_is_inconclusive():
    h100 = "NVIDIA H100 80GB HBM3"
    timed = paired(
        record("base-m.r64.b8.bf16.forward.eager.cuda", gpu=h100, images_per_s=100.0),
        record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu=h100, images_per_s=920.0),
        spread=(1.0, 1.15, 0.85),
    )
    clock = verdicts_by_basis(parse(RATIO), counted() + timed)[
        ("tenfold", "wall-clock forward on H100 80GB HBM3 (bf16, b8, eager)")
    ]
    assert clock.status == "inconclusive" and clock.interval.low < 9.0 < clock.interval.high
    assert clock.phrase.startswith(
        f"inconclusive: the interval [{clock.interval.low:.2f}, {clock.interval.high:.2f}] "
        "straddles the 9.00× the claim needs (10× less its 10% tolerance)"
    )


EPYC = ("AMD EPYC 7B13", 2)


def cpu_timed(base_speed=10.0, rin_speed=60.0, *, rin_threads=2, **rin_values):
    """Forward timings of both sides of the tenfold pair on one 2-CPU machine, fp32 batch 1."""
    return [
        record(
            "base-m.r64.b1.fp32.forward.eager.cpu",
            cpu=EPYC,
            images_per_s=base_speed,
            torch_threads=2,
        ),
        record(
            "rin-m.r64.b1.fp32.forward.eager.cpu",
            cpu=EPYC,
            source=RECONSTRUCTED,
            images_per_s=rin_speed,
            torch_threads=rin_threads,
            **rin_values,
        ),
    ]


CPU_BASIS = "wall-clock forward on AMD EPYC 7B13 (2 CPUs, 2 threads, fp32, b1, eager)"


def test_a_factor_is_checked_in_wall_clock_on_a_cpu_naming_the_machine():
    verdicts = verdicts_by_basis(parse(RATIO), counted() + paired(*cpu_timed()))
    clock = verdicts[("tenfold", CPU_BASIS)]
    assert (clock.status, clock.measured) == ("fails", pytest.approx(6.0, rel=1e-4))
    assert clock.detail.startswith("rin-m 60 img/s / base-m 10 img/s; 95% interval over 3")
    assert not clock.timing.gpu and clock.timing.hardware == "CPU AMD EPYC 7B13 (2 cpus)"
    assert clock.pair == ("base-m", 64, "rin-m", 64)
    assert clock.phrase == "fails at 0.60× the claimed 10×, on a reconstruction of rin-m"
    assert ("tenfold", "wall-clock") not in verdicts  # timed: no "cannot check" row


def test_a_factor_timed_while_other_jobs_held_the_cores_is_inconclusive():
    base, rin = paired(*cpu_timed())
    rin = replace(rin, values=rin.values | {intervals.SHORT_OF_CORES_KEY: 2})
    clock = verdicts_by_basis(parse(RATIO), counted() + [base, rin])[("tenfold", CPU_BASIS)]
    assert clock.status == "inconclusive" and clock.measured == pytest.approx(6.0, rel=1e-4)
    assert "other jobs held the cores in 2 of 3 rounds (over the rounds: 6.00× [" in clock.phrase
    # Records that name their rounds count the rounds in which either side was short.
    named = []
    for record, rounds in ((base, [1]), (rin, [2])):
        pair = record.details["pair"] | {"short_of_cores": rounds}
        named.append(replace(record, details=record.details | {"pair": pair}))
    clock = verdicts_by_basis(parse(RATIO), counted() + named)[("tenfold", CPU_BASIS)]
    assert "other jobs held the cores in 2 of 3 rounds" in clock.phrase


def test_a_factor_of_cells_timed_apart_has_no_interval_and_is_inconclusive():
    clock = verdicts_by_basis(parse(RATIO), counted() + cpu_timed())[("tenfold", CPU_BASIS)]
    assert clock.status == "inconclusive" and clock.measured == 6.0
    assert clock.phrase.startswith(
        "inconclusive: timed apart, not interleaved, so no interval the verdict can rest on (as "
        "measured, 0.60× the claimed 10×)"
    )
    assert clock.detail.endswith("no interval: timed apart, not interleaved")


def test_cells_timed_on_different_thread_counts_are_not_compared():
    verdicts = verdicts_by_basis(parse(RATIO), counted() + cpu_timed(rin_threads=1))
    assert verdicts[("tenfold", "wall-clock")].status == "cannot check"


def test_gpu_and_cpu_verdicts_stand_side_by_side_and_the_headline_shows_the_gpu():
    h100 = "NVIDIA H100 80GB HBM3"
    gpu = [
        record("base-m.r64.b8.bf16.forward.eager.cuda", gpu=h100, images_per_s=100.0),
        record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu=h100, images_per_s=1200.0),
    ]
    both = claims.evaluate(parse(RATIO), counted() + cpu_timed() + gpu)
    assert [v.basis for v in both] == [
        "MACs",
        "wall-clock forward on H100 80GB HBM3 (bf16, b8, eager)",
        CPU_BASIS,
    ]
    assert claims.shown_clock(both).timing.gpu
    cpu_only = claims.evaluate(parse(RATIO), counted() + cpu_timed())
    assert claims.shown_clock(cpu_only).basis == CPU_BASIS
    assert claims.shown_clock(claims.evaluate(parse(RATIO), counted())) is None


def test_a_verdict_on_noisy_timings_says_so():
    verdicts = verdicts_by_basis(parse(RATIO), counted() + cpu_timed(latency_noisy=True))
    assert verdicts[("tenfold", CPU_BASIS)].phrase.endswith(" (noisy timing)")
    quiet = verdicts_by_basis(parse(RATIO), counted() + cpu_timed(latency_noisy=False))
    assert "noisy" not in quiet[("tenfold", CPU_BASIS)].phrase


def test_verdict_phrases_carry_the_margin_and_the_preset_they_rest_on():
    claim_list = parse(COUNTS) + parse(RATIO)
    verdicts = verdicts_by_basis(claim_list, counted() + paired(*cpu_timed(rin_speed=95.0)))
    # rin-m is reconstructed and costs half the 4 GFLOPs its own claim reports.
    macs = verdicts[("tenfold", "MACs")]
    assert macs.status == "holds"
    assert macs.phrase == (
        "holds at 2.00× the claimed 10×, on a reconstruction of rin-m that misses the paper's cost "
        "by 50% (0.50×)"
    )
    clock = verdicts[("tenfold", CPU_BASIS)]
    assert clock.phrase.startswith("holds at 0.95× the claimed 10× (within its 10% tolerance), on")
    assert verdicts[("base-m-r64-params", "params")].phrase == "holds"
    # Its own cost verdict does not cite itself; its params verdict cites its cost.
    own = verdicts[("rin-m-r64-gflops-2macs", "GFLOPs = 2·MACs")]
    assert own.phrase == "fails: 50% below the reported, on a reconstruction of rin-m"
    params = verdicts[("rin-m-r64-params", "params")]
    assert params.phrase == (
        "fails: 10% below the reported, on a reconstruction of rin-m that misses the paper's cost "
        "by 50% (0.50×)"
    )
    assert params.status == "fails"  # what machines read stays one of the three words
    assert verdicts[("lost-m-r64-params", "params")].phrase == "cannot check"
    # One caveat for rin-m, however many verdicts rest on it.
    (caveat,) = claims.caveats(verdicts.values())
    assert caveat.startswith(
        "rin-m is reconstructed (widths guessed here); its forward cost is 0.50× the paper's "
        "(rin-m-r64-gflops-2macs fails)"
    )


def test_a_released_preset_whose_cost_fails_is_named_in_the_phrase():
    text = COUNTS.replace("reported = 40 }", "reported = 30 }")  # base-m now misses by 33 %
    verdicts = verdicts_by_basis(parse(text) + parse(RATIO), counted())
    assert verdicts[("tenfold", "MACs")].phrase == (
        "holds at 2.00× the claimed 10×, on base-m, whose count misses the paper's cost by 33% "
        "(1.33×), on a reconstruction of rin-m that misses the paper's cost by 50% (0.50×)"
    )


def test_an_efficiency_factor_without_timings_cannot_be_checked_in_wall_clock():
    verdicts = verdicts_by_basis(parse(RATIO), counted())
    clock = verdicts[("tenfold", "wall-clock")]
    assert clock.status == "cannot check"
    assert (
        clock.detail == "no timings of both base-m, rin-m on one setup (device, dtype, batch, mode)"
    )


def test_up_to_a_factor_takes_the_largest_pair():
    text = RATIO.replace('kind = "ratio"', 'kind = "ratio_max"').replace(
        'pairs = [["base-m", 64, "rin-m", 64]]',
        'pairs = [["base-m", 64, "rin-m", 64], ["base-m", 128, "rin-m", 128]]',
    )
    verdicts = verdicts_by_basis(parse(text), counted())
    macs = verdicts[("tenfold", "MACs")]
    assert (macs.status, macs.measured) == ("holds", 20.0)
    assert macs.detail == (
        "largest of base-m/rin-m 20.00x; not measured: no flops record of base-m at 128 px in "
        "these results; no flops record of rin-m at 128 px in these results"
    )


def test_an_up_to_headline_shows_the_setup_with_the_largest_factor():
    # The H200 check timed the video pair at b8 and the image pairs at b32: two GPU forward
    # setups alike in rank. "Up to 10x" is a claim on the largest factor, so its headline shows
    # the b32 setup's 21x, not the first-listed b8's 8.7x; a single pair's keeps the first.
    text = RATIO.replace('kind = "ratio"', 'kind = "ratio_max"').replace(
        'pairs = [["base-m", 64, "rin-m", 64]]',
        'pairs = [["base-v", 64, "rin-v", 64], ["base-m", 64, "rin-m", 64]]',
    )
    h200 = "NVIDIA H200"
    timed = [
        record("base-v.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
        record("rin-v.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=870.0),
        record("base-m.r64.b32.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
        record("rin-m.r64.b32.bf16.forward.eager.cuda", gpu=h200, images_per_s=2100.0),
    ]
    verdicts = claims.evaluate(parse(text), timed)
    clocks = [v for v in verdicts if v.timing is not None]
    assert ["b8" in v.timing.words for v in clocks] == [True, False]  # the b8 setup first
    (headline,) = claims.headlines(verdicts)
    assert headline.overall.clock.measured == pytest.approx(21.0)
    assert claims.shown_clock(clocks).measured == pytest.approx(8.7)  # by rank alone: the first


def test_up_to_a_factor_is_decided_by_a_pair_that_clears_it_not_by_a_noisy_one():
    """The headline's "up to 10x": a noisy video pair (0.87x, its rounds spread by 40%) cannot sink
    the claim while another pair clears it with its whole interval; the verdict names that pair."""
    text = RATIO.replace('kind = "ratio"', 'kind = "ratio_max"').replace(
        'pairs = [["base-m", 64, "rin-m", 64]]',
        'pairs = [["base-v", 64, "rin-v", 64], ["base-m", 64, "rin-m", 64]]',
    )
    h200 = "NVIDIA H200"

    def timed(base, rin, speeds, spread):
        return paired(
            record(f"{base}.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=speeds[0]),
            record(f"{rin}.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=speeds[1]),
            spread=spread,
        )

    noisy_video = timed("base-v", "rin-v", (100.0, 87.0), (1.0, 1.4, 1 / 1.4))
    steady = timed("base-m", "rin-m", (100.0, 2100.0), (1.0, 1.01, 0.99))
    (clock,) = [
        v for v in claims.evaluate(parse(text), noisy_video + steady) if v.timing is not None
    ]
    assert clock.status == "holds" and clock.pair == ("base-m", 64, "rin-m", 64)
    assert "decided by base-m/rin-m" in clock.detail and "base-v/rin-v 0.87x" in clock.detail
    # Alone, the noisy pair is judged by its whole interval: far below the claim, yet no fail, as
    # the claim's largest factor may lie in the pair not timed on this setup...
    (alone,) = [v for v in claims.evaluate(parse(text), noisy_video) if v.timing is not None]
    assert alone.status == "inconclusive" and alone.interval.high < 9.0
    assert alone.phrase.startswith("inconclusive: short at 0.09× the claimed 10×, but not every")
    assert alone.detail.startswith("factors: base-v/rin-v 0.87x") and "1 of 2 pairs not timed" in (
        alone.detail
    )
    # ...and a claim fails only when every pair's whole interval falls short.
    short = timed("base-m", "rin-m", (100.0, 500.0), (1.0, 1.01, 0.99))
    quiet_video = timed("base-v", "rin-v", (100.0, 87.0), (1.0, 1.01, 0.99))
    (fails,) = [
        v for v in claims.evaluate(parse(text), quiet_video + short) if v.timing is not None
    ]
    assert fails.status == "fails" and fails.pair == ("base-m", 64, "rin-m", 64)


FID = """
[[group]]
kind = "fid"
source = "Table 3"
tolerance = 0.1
claims = [
    { preset = "rin-m", resolution = 64, reported = 3.0, train_images = 1e6 },
    { id = "video", preset = "rin-m", resolution = 64, reported = 10.0, metric = "fvd" },
]
"""


def fid_record(**values):
    base = {"fid_legacy_tf": 3.2, "n_samples": 50_000, "images_seen": 1e6}
    return record("rin-m.r64.b64.fp32.fid.eager.cuda", **(base | values))


@pytest.mark.parametrize(
    ("values", "status", "detail"),
    [
        ({}, "holds", "fid_legacy_tf from 50,000 samples"),
        ({"fid_legacy_tf": 4.0}, "fails", "fid_legacy_tf from 50,000 samples"),
        ({"n_samples": 10_000}, "cannot check", "fid_legacy_tf 3.2 from 10000 samples; the "),
        ({"images_seen": 2e5}, "cannot check", "fid_legacy_tf 3.2, but the checkpoint was trained"),
        ({"weights": "random-init"}, "cannot check", "fid_legacy_tf 3.2 is of an untrained model"),
    ],
)
def test_fid_claims(values, status, detail):
    verdict = verdicts_by_basis(parse(FID), [fid_record(**values)])[("rin-m-r64-fid", "FID")]
    assert verdict.status == status
    assert verdict.detail.startswith(detail)


def test_fid_claims_without_records_or_for_fvd_cannot_be_checked():
    verdicts = verdicts_by_basis(parse(FID), [])
    assert verdicts[("rin-m-r64-fid", "FID")].detail.startswith("no FID record of rin-m at 64 px")
    assert verdicts[("video", "FVD")].detail == "rinbench computes FID, not FVD"


# --- the FLOP convention -----------------------------------------------------------------------


def test_the_convention_is_inferred_per_origin_from_released_configs():
    text = """
group = [
  { kind = "gflops", origin = "paper A", convention = "macs", source = "A", tolerance = 0.01, claims = [
    { preset = "base-m", resolution = 64, reported = 20 },
  ] },
  { kind = "gflops", origin = "paper B", convention = "2macs", source = "B", tolerance = 0.05, claims = [
    { preset = "base-m", resolution = 64, reported = 41 },
    { preset = "rin-m", resolution = 64, reported = 3 },
  ] },
]
"""
    claim_list = parse(text)
    fits = {f.origin: f for f in claims.convention_fits(claim_list, counted())}
    assert (fits["paper A"].fits, fits["paper A"].exact) == ("macs", True)
    # rin-m is reconstructed: paper B is judged on base-m alone.
    assert (fits["paper B"].fits, fits["paper B"].presets) == ("2macs", ("base-m",))
    assert fits["paper B"].ratios_2macs == (1.025, 1.025)
    lines = convention.convention_summary(list(fits.values()), claim_list)
    assert lines[0].startswith("Paper A: one FLOP per multiply-add (MACs); reported / our GMACs")
    assert lines[2] == (
        "The origins differ: two FLOPs per multiply-add in paper B, one in paper A. A table that "
        "prints numbers of both side by side compares unlike units; halve the former to compare."
    )
    assert (
        lines[3] == "In MACs, their numbers on the other models read: rin-m 3 GFLOPs = 1.5 GMACs."
    )


def test_verdicts_on_the_cpu_quick_run():
    records = results.read(DATA / "quick_cpu.jsonl")
    claim_list = claims.load()
    verdicts = verdicts_by_basis(claim_list, records)
    assert claims.tally(verdicts.values()) == {
        "holds": 41,
        "fails": 10,
        "inconclusive": 0,
        "cannot check": 18,
    }
    assert verdicts[("adm-in256-r256-gflops-macs", "GFLOPs = MACs")].status == "holds"
    assert verdicts[("dit-xl-2-r256-gflops-macs", "GFLOPs = MACs")].status == "holds"
    rin = verdicts[("rin-in256-r256-params", "params")]
    assert rin.status == "fails" and rin.caveat.startswith("rin-in256 is reconstructed (patch 8")
    ten = verdicts[("up-to-10x", "MACs")]
    assert ten.status == "holds" and ten.measured == pytest.approx(23.77, abs=0.01)
    # The 23.8x rests on a 3-D U-Net that costs 1.66x the paper's: the verdict says so.
    assert ten.phrase.startswith(
        "holds at 2.38× the claimed 10×, on a reconstruction of vdm-k600 that misses the paper's "
        "cost by 66% (1.66×)"
    )
    assert verdicts[("up-to-10x", "wall-clock")].status == "cannot check"
    groups = claims.grouped(verdicts.values())
    assert {name: claims.tally_text(members) for name, members in groups.items()} == {
        "RIN paper": "8 hold, 10 fail, 0 inconclusive, 13 cannot be checked",
        "baseline checks": "33 hold, 0 fail, 0 inconclusive, 5 cannot be checked",
    }
    (headline,) = claims.headlines(verdicts.values())
    assert [p.label for p in headline.panels] == [
        "ImageNet 128 px (adm-in128 / rin-in128)",
        "ImageNet 256 px (adm-in256 / rin-in256)",
        "ImageNet 512 px (adm-in512 / rin-in512)",
        "Kinetics-600 video 16x64x64 (vdm-k600 / rin-k600)",
    ]
    assert [round(p.macs.measured, 2) for p in headline.panels] == [2.53, 9.21, 11.61, 23.77]
    assert all(p.clock is None for p in (*headline.panels, headline.overall))  # not timed
    assert headline.overall.macs is ten
    fits = {f.origin: f for f in claims.convention_fits(claim_list, records)}
    assert fits["the DiT paper"].fits == "macs"
    assert fits["the DiT, EDM2 and JiT tables"].fits == "macs"
    assert fits["the RIN paper"].nearest == "2macs"


def test_every_claimed_preset_is_in_the_registry_at_its_resolution():
    from bench import registry

    for claim in claims.load():
        for preset, resolution in claim.presets:
            assert registry.config(preset, resolution).resolution == resolution, claim.id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[group]\nkind = "params"', "'group' must be an array of tables"),
        ("group = [1]", "'group' must be an array of tables"),
        ('[[group]]\nkind = "params"\nclaims = [1]', "'claims' must be a list of inline tables"),
        (
            '[[group]]\nkind = "params"\nsource = "s"\nclaims = [{ preset = "a", resolution = 8, reported = true }]',
            "'reported' must be a positive number",
        ),
    ],
)
def test_malformed_claims_files_are_claims_errors(text, message):
    with pytest.raises(claims.ClaimsError, match=re.escape(message)):
        parse(text)


def test_setup_words_name_the_machine_as_a_reader_knows_it():
    from bench import selection

    cpu = record("rin-m.r64.b1.fp32.forward.eager.cpu", cpu=EPYC, torch_threads=1)
    assert selection.setup_words(cpu) == "AMD EPYC 7B13 (2 CPUs, 1 thread, fp32, b1, eager)"
    unnamed = record("rin-m.r64.b4.fp32.forward.eager.cpu")
    assert selection.setup_words(unnamed) == "CPU (fp32, b4, eager)"
    gpu = record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu="NVIDIA H200", torch_threads=8)
    assert selection.setup_words(gpu) == "H200 (bf16, b8, eager)"


# --- one rule at the edges, for every kind of verdict --------------------------------------------


def _started(record: Record, when: str) -> Record:
    return replace(record, run=replace(record.run, started=when))


def test_a_value_at_its_tolerance_edge_holds_by_every_path():
    # 294,520,000 is exactly 0.5% under 296M: measured / reported rounds a hair below 0.995.
    edge = parse(COUNTS.replace("tolerance = 0.01", "tolerance = 0.005").replace("100e6", "296e6"))
    at_edge = [record("base-m.r64.b1.fp32.params.eager.cpu", params=294_520_000)]
    assert verdicts_by_basis(edge, at_edge)[("base-m-r64-params", "params")].status == "holds"
    # An at_least factor exactly at its threshold holds, as a count and as a whole interval.
    claim = parse(RATIO.replace("reported = 10", "reported = 2.77"))[0]
    assert claims.threshold(claim) == 2.77 * 0.9
    edge_interval = intervals.Interval(2.77 * 0.9, low=2.77 * 0.9, high=2.6, n=3)
    assert claims.judge_interval(claim, edge_interval) == "holds"


def test_an_approx_factor_is_judged_on_both_sides_in_wall_clock_as_in_macs():
    approx = parse(RATIO.replace('compare = "at_least"', 'compare = "approx"'))
    records = counted() + paired(*cpu_timed(10.0, 200.0))  # 20x: MACs 20x too
    verdicts = verdicts_by_basis(approx, records)
    assert verdicts[("tenfold", "MACs")].status == "fails"
    assert verdicts[("tenfold", CPU_BASIS)].status == "fails"
    straddling = intervals.Interval(10.8, low=10.5, high=11.2, n=3)
    assert claims.judge_interval(approx[0], straddling) == "inconclusive"
    within = intervals.Interval(10.2, low=9.5, high=10.9, n=3)
    assert claims.judge_interval(approx[0], within) == "holds"
    (clock,) = [
        v
        for v in claims.evaluate(approx, counted() + paired(*cpu_timed(10.0, 108.0), (1, 1.1, 0.9)))
        if v.timing is not None
    ]
    assert clock.status == "inconclusive"
    assert (
        "straddles the 9.00× the claim needs (10× less its 10% tolerance) and the 11.00× the "
        "claim allows (10× plus its 10% tolerance)"
    ) in clock.phrase
    # An approx "up to" claim is on its largest factor, from above too: a pair wholly over the
    # range fails it in wall-clock as in MACs, whatever pair lies inside.
    most = parse(
        RATIO.replace('"ratio"', '"ratio_max"')
        .replace('compare = "at_least"', 'compare = "approx"')
        .replace("64]] }]", '64], ["base-l", 64, "rin-l", 64]] }]')
    )
    h200 = "NVIDIA H200"
    timed = [
        record("base-l.r64.b1.fp32.flops.eager.cpu", macs_fwd=20e9),
        record("rin-l.r64.b1.fp32.flops.eager.cpu", macs_fwd=1e9),
        *paired(
            record("base-m.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
            record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=1000.0),
        ),
        *paired(
            record("base-l.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
            record("rin-l.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=2000.0),
        ),
    ]
    statuses = {v.basis.split(" on ")[0]: v for v in claims.evaluate(most, counted() + timed)}
    assert statuses["MACs"].status == statuses["wall-clock forward"].status == "fails"
    assert statuses["wall-clock forward"].pair == ("base-l", 64, "rin-l", 64)


def test_the_flop_convention_and_the_verdicts_agree_near_the_edge():
    text = COUNTS.replace('convention = "2macs"', 'convention = "macs"').replace(
        "tolerance = 0.02", "tolerance = 0.1"
    )
    for gmacs, status in ((44.5, "fails"), (36.3, "holds")):  # 11% above; 9.25% below
        records = [record("base-m.r64.b1.fp32.flops.eager.cpu", macs_fwd=gmacs * 1e9)]
        gflops = [c for c in parse(text) if c.kind == "gflops" and c.preset == "base-m"]
        (verdict,) = claims.evaluate(gflops, records)
        (fit,) = claims.convention_fits(gflops, records)
        assert verdict.status == status
        assert (fit.fits == "macs") == (status == "holds")


def test_an_up_to_claim_short_on_the_pairs_it_measured_is_no_fail():
    text = RATIO.replace('kind = "ratio"', 'kind = "ratio_max"').replace(
        'pairs = [["base-m", 64, "rin-m", 64]]',
        'pairs = [["base-m", 64, "rin-m", 64], ["base-l", 64, "rin-l", 64]]',
    )
    records = [
        record("base-m.r64.b1.fp32.flops.eager.cpu", macs_fwd=3e9),
        record("rin-m.r64.b1.fp32.flops.eager.cpu", macs_fwd=1e9),
    ]
    macs = verdicts_by_basis(parse(text), records)[("tenfold", "MACs")]
    assert (macs.status, macs.measured) == ("inconclusive", 3.0)
    assert macs.phrase.startswith("inconclusive: short at 0.30× the claimed 10×, but not every")
    assert "not measured: no flops record of base-l" in macs.detail
    # Every pair counted and every one short: then it fails.
    records += [
        record("base-l.r64.b1.fp32.flops.eager.cpu", macs_fwd=4e9),
        record("rin-l.r64.b1.fp32.flops.eager.cpu", macs_fwd=1e9),
    ]
    assert verdicts_by_basis(parse(text), records)[("tenfold", "MACs")].status == "fails"


def test_the_newest_count_and_the_longest_trained_fid_win_whatever_the_file_order():
    new = _started(
        record("base-m.r64.b1.fp32.params.eager.cuda", params=100_000_000, gpu="NVIDIA H100"),
        "2025-03-01T00:00:00Z",
    )
    old = _started(
        record("base-m.r64.b1.fp32.params.eager.cpu", params=90_000_000, cpu=EPYC),
        "2025-01-01T00:00:00Z",
    )
    for order in ([new, old], [old, new]):
        assert claims.evaluate(parse(COUNTS), order)[0].measured == 100_000_000

    def fid(step, seen, value, started):  # rinbench fid writes train_macs None where unknown
        found = fid_record(fid_legacy_tf=value, images_seen=seen, checkpoint_step=step)
        return _started(replace(found, values=found.values | {"train_macs": None}), started)

    trained = fid(1000, 1e6, 3.1, "2025-01-01T00:00:00Z")
    early = fid(100, 1e5, 9.0, "2025-02-01T00:00:00Z")  # newer run, less trained
    for order in ([trained, early], [early, trained]):
        verdict = verdicts_by_basis(parse(FID), order)[("rin-m-r64-fid", "FID")]
        assert (verdict.status, verdict.measured) == ("holds", 3.1)
    # One rank per record, so no order of three can choose differently (pairwise comparisons on
    # the first measure both had went round in a circle).
    import itertools

    three = [
        replace(early, values=early.values | {"train_macs": 10.0, "checkpoint_step": 300}),
        replace(early, values=early.values | {"checkpoint_step": 200, "images_seen": None}),
        replace(early, values=early.values | {"train_macs": 20.0, "checkpoint_step": 100}),
    ]
    chosen = {id(selection.most_trained(order)) for order in itertools.permutations(three)}
    assert len(chosen) == 1


def test_an_up_to_headline_shows_a_setup_where_the_claim_holds_before_a_larger_noisy_one():
    text = RATIO.replace('kind = "ratio"', 'kind = "ratio_max"')
    h200 = "NVIDIA H200"
    steady = paired(  # b32: listed after b8, so "the first" would not pick it
        record("base-m.r64.b32.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
        record("rin-m.r64.b32.bf16.forward.eager.cuda", gpu=h200, images_per_s=1200.0),
    )
    wide = paired(
        record("base-m.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=100.0),
        record("rin-m.r64.b8.bf16.forward.eager.cuda", gpu=h200, images_per_s=1400.0),
        spread=(1.0, 3.0, 1 / 3),
    )
    verdicts = claims.evaluate(parse(text), steady + wide)
    assert [v.status for v in verdicts if v.timing] == ["inconclusive", "holds"]
    (headline,) = claims.headlines(verdicts)
    assert headline.overall.clock.status == "holds"


def test_paired_records_whose_rounds_cannot_pair_say_so_and_keep_their_rounds_in_the_csv():
    from reports import tables

    base, rin = paired(*cpu_timed(10.0, 95.0))
    broken = replace(rin, values=rin.values | {intervals.ROUND_MEDIANS_KEY: [1.0, 0.0, 1.0]})
    clock = verdicts_by_basis(parse(RATIO), counted() + [base, broken])[("tenfold", CPU_BASIS)]
    assert "a round's median is not a positive time" in clock.phrase
    assert "timed apart" not in clock.phrase
    contended = replace(rin, values=rin.values | {intervals.SHORT_OF_CORES_KEY: 2})
    clock = verdicts_by_basis(parse(RATIO), counted() + [base, contended])[("tenfold", CPU_BASIS)]
    assert clock.interval.reason.startswith("other jobs held the cores in 2 of 3 rounds")
    assert tables._interval_fields(clock.interval)["rounds"] == 3


def test_the_html_claims_table_shows_a_factors_interval_as_the_markdown_does():
    from reports import html, tables

    clock = verdicts_by_basis(parse(RATIO), counted() + paired(*cpu_timed()))[
        ("tenfold", CPU_BASIS)
    ]
    text = tables.measured_text(clock)
    assert text.startswith("6.00x [") and f'<td class="num">{text}</td>' in html._claim_row(clock)


def test_a_pair_timed_interleaved_keeps_its_factor_when_a_later_run_timed_one_side_apart():
    # benchmarks/results as a whole: the peers suite's later run timed rin-in256 again (beside
    # lucidrains' RIN); the claims pair's interleaved rounds stay the evidence, with their interval.
    base, rin = (_started(r, "2026-12-06T21:00:00Z") for r in paired(*cpu_timed(10.0, 95.0)))
    alone = cpu_timed(10.0, 80.0)[1]
    later = _started(replace(alone, run=replace(alone.run, id="run-b")), "2026-12-07T09:00:00Z")
    clock = verdicts_by_basis(parse(RATIO), counted() + [base, rin, later])[("tenfold", CPU_BASIS)]
    assert clock.interval.available and clock.measured == pytest.approx(9.5, rel=0.02)
    # Without the pair, the newest records stand, timed apart.
    apart = verdicts_by_basis(parse(RATIO), counted() + [cpu_timed()[0], later])
    assert apart[("tenfold", CPU_BASIS)].interval.reason == "timed apart, not interleaved"
