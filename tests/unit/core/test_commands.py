"""core.commands: one way to find and run dvc and git, one line when they fail."""

import sys
from pathlib import Path

import pytest

from music_genre.core import commands
from music_genre.core.errors import PipelineError, described, first_line


def test_the_executable_beside_this_interpreter_comes_first():
    assert commands.executable("python") == str(Path(sys.executable).with_name("python"))
    assert commands.executable("no-such-tool-here") == "no-such-tool-here"


def test_a_failing_command_raises_with_its_last_stderr_line(tmp_path):
    result = commands.run("git", ["rev-parse", "HEAD"], tmp_path)
    assert result.returncode != 0
    with pytest.raises(PipelineError) as raised:
        commands.run("git", ["rev-parse", "HEAD"], tmp_path, check=True)
    message = str(raised.value)
    assert message.startswith("git rev-parse HEAD failed: ")
    assert "\n" not in message
    assert message.endswith(commands.last_line(result.stderr, ""))


def test_a_successful_command_returns_its_output(tmp_path):
    assert commands.run("git", ["--version"], tmp_path, check=True).stdout.startswith("git ")


def test_last_and_first_lines():
    assert commands.last_line("one\n\ntwo\n  \n", "none") == "two"
    assert commands.last_line(" \n", "none") == "none"
    assert first_line(ValueError("\n  first\nsecond")) == "first"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(ValueError(""), "failed") == "failed"
    assert first_line("text\nmore") == "text"
    assert described(RuntimeError("x\ny")) == "RuntimeError: x"
    assert described(RuntimeError()) == "RuntimeError"
