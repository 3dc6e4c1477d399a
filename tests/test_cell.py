"""Cell ids: unique, readable and reversible."""

import pytest

from bench.cell import Cell


def test_id_round_trips():
    cell = Cell("dit-xl-2-512", 512, 32, "bf16", "train_step", "compile", "cuda")
    assert cell.id == "dit-xl-2-512.r512.b32.bf16.train_step.compile.cuda"
    assert Cell.from_id(cell.id) == cell


@pytest.mark.parametrize(
    "bad", ["rin-tiny", "rin-tiny.16.b4.fp32.forward.eager.cpu", "x.r1.bq.fp32.a.b.c"]
)
def test_bad_ids_say_the_expected_form(bad):
    with pytest.raises(ValueError, match="expected PRESET.rRES"):
        Cell.from_id(bad)


def test_unknown_axis_values_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown phase 'score'; valid: params"):
        Cell.from_id("rin-tiny.r16.b4.fp32.score.eager.cpu")
