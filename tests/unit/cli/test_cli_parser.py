"""The `music-genre` command as a package of subcommand modules, its options derived from the
contract where they name the table (serve's `--<target>-reference`), its help generic."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from music_genre.cli.main import build_parser, main
from music_genre.data.contract import CONTRACT_ENV
from support.data import PENGUINS_CONTRACT, SONGS_CONTRACT

SUBCOMMANDS = {
    "reference-profile", "synthetic-spec", "predict", "tune", "serve", "fetch-model", "sweep",
    "plots", "report",
}  # fmt: skip


def _subcommands() -> set[str]:
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    return set(commands.choices)


def test_every_subcommand_is_registered_from_its_module():
    assert _subcommands() >= SUBCOMMANDS
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2


def test_the_package_runs_as_a_module_and_as_the_console_script_entry():
    result = subprocess.run(
        [sys.executable, "-m", "music_genre.cli", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "serve" in result.stdout and "predict" in result.stdout
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "music-genre"]
    assert script.value == "music_genre.cli.main:main" and script.load() is main


@pytest.mark.parametrize(
    ("contract", "alias"),
    [(SONGS_CONTRACT, "--genre-reference"), (PENGUINS_CONTRACT, "--species-reference")],
)
def test_the_class_reference_is_also_spelt_after_the_contracts_target(monkeypatch, contract, alias):
    monkeypatch.setenv(CONTRACT_ENV, str(contract))
    for flag in ("--class-reference", alias):
        args = build_parser().parse_args(["serve", flag, "mix.json"])
        assert args.class_reference == "mix.json"
    assert build_parser().parse_args(["serve"]).class_reference is None


def test_without_a_contract_only_the_generic_spelling(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(CONTRACT_ENV, str(tmp_path / "nowhere.yaml"))
    assert build_parser().parse_args(["serve", "--class-reference", "m"]).class_reference == "m"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--genre-reference", "m"])
    assert "unrecognized arguments: --genre-reference" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "predict", "synthetic-spec", "fetch-model"])
def test_help_texts_name_no_table(monkeypatch, capsys, command):
    """The help speaks of rows, classes and the target: read with another table's contract, it
    has no word of the songs (the package's name and the flags' aside)."""
    monkeypatch.setenv(CONTRACT_ENV, str(PENGUINS_CONTRACT))
    with pytest.raises(SystemExit):
        main([command, "--help"])
    shown = re.sub(r"music[-_]genre", "", capsys.readouterr().out, flags=re.IGNORECASE)
    shown = re.sub(r"--[a-z-]+", "", shown)  # the flags keep their names (--max-predict-songs)
    for word in ("genre", "song", "tempo", "audio"):
        assert word not in shown.lower(), (command, word)
