"""The one CLI tree: every command's options say their default, errors name the command's usage."""

import argparse
from pathlib import Path

import pytest

from bench import cli
from bench.commands.common import device_name, library_checks_as_usage
from bench.errors import MAX_ERROR_CHARS, UsageError, shorten


def leaf_parsers(parser: argparse.ArgumentParser, path=("rinbench",)):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            if sub.prefix_chars == "\0":  # a command that parses its own arguments
                continue
            yield from leaf_parsers(sub, (*path, name))


def test_every_option_has_help_that_names_its_default():
    for path, parser in leaf_parsers(cli.build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            text = formatter._get_help_string(action) % {"default": action.default}
            assert action.help, f"{' '.join(path)} {action.option_strings[0]} has no help"
            assert "default" in text, f"{' '.join(path)} {action.option_strings[0]}: {text!r}"


def test_shared_options_mean_the_same_in_every_command():
    """--device takes cpu, cuda or cuda:N wherever it is, checked by one function; --out is a path
    wherever it is."""
    found = {"--device": [], "--out": []}
    parsers = [cli.build_parser()]
    for parser in parsers:  # every parser of the tree, `train` (which has a subcommand) too
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            for flag in set(action.option_strings) & set(found):
                found[flag].append((parser.prog, action.type))
    assert len(found["--device"]) >= 8 and len(found["--out"]) >= 7  # none was missed
    assert {kind for _, kind in found["--device"]} == {device_name}, found["--device"]
    assert {kind for _, kind in found["--out"]} == {Path}, found["--out"]
    for good in ("cpu", "cuda", "cuda:0", "cuda:12"):
        assert device_name(good) == good
    for bad in ("gpu", "cuda:", "cuda:x", "cpu:0", "CUDA", "cuda:1,2"):
        with pytest.raises(argparse.ArgumentTypeError, match="give cpu, cuda or cuda:N"):
            device_name(bad)


def test_a_long_error_is_cut_to_one_readable_line(capsys, monkeypatch):
    from bench.commands import env

    words = " ".join(f"word{n}" for n in range(200))

    def fail(args):
        raise UsageError(f"first\n  {words}")

    monkeypatch.setattr(env, "run", fail)
    assert cli.main(["env"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rinbench: error: first word0 word1 ") and err.endswith(" ...\n")
    assert err.removesuffix(" ...\n").rsplit(" ", 1)[1] in words.split()  # cut between words
    assert err.count("\n") == 1 and len(err) <= len("rinbench: error: \n") + MAX_ERROR_CHARS
    assert shorten("short\n  text") == "short text"


def test_a_misspelled_option_shows_the_commands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--dry-rn"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rinbench run ")
    assert "unrecognized arguments: --dry-rn" in err


@pytest.mark.parametrize(
    "error, line",
    [
        (ValueError("bad\n  value"), "bad value"),
        (KeyError("unknown preset 'x'"), "unknown preset 'x'"),
        (FileNotFoundError("no file at y"), "no file at y"),
    ],
)
def test_library_checks_of_a_commands_input_become_one_line(error, line):
    def run(args):
        raise error

    with pytest.raises(UsageError) as raised:
        library_checks_as_usage(run)(None)
    assert str(raised.value) == line


def test_an_optional_library_that_is_missing_names_its_extra():
    err = ModuleNotFoundError("No module named 'torch_fidelity'", name="torch_fidelity")
    assert cli.one_line_error(err).endswith("python -m pip install 'rinbench[fid]'")


@pytest.mark.parametrize(
    "error",
    [
        ZeroDivisionError("x"),
        KeyError("macs_fwd"),  # a bug in a command, not bad input: it keeps its traceback
        ModuleNotFoundError("No module named 'seaborn'", name="seaborn"),  # a core dependency
    ],
)
def test_a_bug_keeps_its_traceback(error):
    assert cli.one_line_error(error) is None
