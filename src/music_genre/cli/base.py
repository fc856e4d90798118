"""What every subcommand module shares: the subparsers type, the default's help and `command`."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Final, TypeAlias

# What each subcommand is added to: the subparsers of `music-genre`.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
# The end of an option's help: its default, as argparse shows it.
DEFAULT: Final = "(default: %(default)s)"

log = logging.getLogger("music_genre.cli")


def command(
    commands: Commands, name: str, handler: Callable[[argparse.Namespace], None]
) -> argparse.ArgumentParser:
    """The subcommand `name`, which runs `handler` (its docstring is the subcommand's help)."""
    parser = commands.add_parser(name, help=handler.__doc__)
    parser.set_defaults(handler=handler)
    return parser
