"""Reference pages generated from the code: params.yaml from the pydantic models of
music_genre.core.params (types, ranges, defaults; the comments of params.py and params.yaml as
descriptions), the CLI from `music_genre.cli.main.build_parser()`, the API from the package tree."""

from __future__ import annotations

import argparse
import ast
import io
import re
import tokenize
import typing
from pathlib import Path
from typing import Any

import annotated_types

from sitegen.sources import ROOT, load
from sitegen.tables import table

PACKAGE = ROOT / "src" / "music_genre"


def python_comments(path: Path) -> dict[tuple[str, str], str]:
    """(class, field) -> the comment lines right above the field (or after it on its line)."""
    source = path.read_text(encoding="utf-8")
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found: dict[tuple[str, str], str] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                above: list[str] = []
                line = item.lineno - 1
                while line >= 1 and lines[line - 1].strip().startswith("#"):
                    above.insert(0, comments.get(line, ""))
                    line -= 1
                if item.lineno in comments:
                    above.append(comments[item.lineno])
                found[(node.name, item.target.id)] = " ".join(above)
    return found


_KEY = re.compile(r"^(\s*)([^#\s][^:]*?):(\s|$)")


def yaml_comments(path: Path) -> dict[str, str]:
    """Dotted key -> the comment lines right above it in a YAML file (block style)."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
        elif stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
        elif match := _KEY.match(line):
            indent, key = len(match.group(1)), match.group(2).strip()
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            dotted = ".".join(name for _, name in stack)
            if pending:
                found[dotted] = " ".join(pending)
            pending = []
    return found


def _type_name(annotation: Any) -> str:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if annotation is type(None):
        return "null"
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, __import__("types").UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in args)
    if origin is dict:
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = {
    annotated_types.Gt: ("> ", "gt"),
    annotated_types.Ge: ("≥ ", "ge"),
    annotated_types.Lt: ("< ", "lt"),
    annotated_types.Le: ("≤ ", "le"),
}


def _rule(field: Any) -> str:
    rules = []
    for item in field.metadata:
        if type(item) in _BOUNDS:
            sign, attribute = _BOUNDS[type(item)]
            rules.append(f"{sign}{getattr(item, attribute)}")
        elif getattr(item, "pattern", None):
            rules.append(f"matches `{item.pattern}`")
    return ", ".join(rules)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return f"`{field.default_factory()}`"
    return f"`{'null' if field.default is None else field.default}`"


def _current(dotted: str) -> str:
    node: Any = load("params")
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return "—"
        node = node[part]
    if isinstance(node, dict):
        return "(mapping)"
    return f"`{'null' if node is None else node}`"


def nested_model(annotation: Any) -> Any:
    """The pydantic section model inside an annotation (`Section` or `Section | None`)."""
    from pydantic import BaseModel

    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _entry(dotted: str, field: Any, described: str) -> list[str]:
    """One key as a short paragraph: name, type, range, default, committed value, meaning."""
    default = _default(field)
    facts = [
        _type_name(field.annotation),
        _rule(field),
        default if default == "required" else f"default {default}",
    ]
    current = _current(dotted)
    if current != "(mapping)":
        facts.append(f"params.yaml: {current}")
    line = f"**`{dotted}`** — " + ", ".join(fact for fact in facts if fact)
    return [line + ("  " if described else ""), *([described] if described else []), ""]


def _section(model: Any, prefix: str, notes: dict[str, str], code: dict[Any, str]) -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        # params.yaml's comment speaks to the user; the code's comment when it has none.
        described = notes.get(dotted) or code.get((model.__name__, name), "")
        nested = nested_model(field.annotation)
        if not prefix and nested is not None:
            lines += [f"## `{dotted}`", "", described, ""] if described else [f"## `{dotted}`", ""]
        else:
            lines += _entry(dotted, field, described)
        if nested is not None:
            lines += _section(nested, f"{dotted}.", notes, code)
        elif _type_name(field.annotation) == "mapping":
            lines += _mapping(dotted, notes)
    return lines


def _mapping(dotted: str, notes: dict[str, str]) -> list[str]:
    """A free-form mapping (estimator arguments, the search space) as a table of its entries."""
    node: Any = load("params")
    for part in dotted.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    rows = [
        [
            f"`{dotted}.{key}`" if "." not in key else f"`{dotted}[{key}]`",
            f"`{value}`" if isinstance(value, dict) else _current(f"{dotted}.{key}"),
            notes.get(f"{dotted}.{key}", ""),
        ]
        for key, value in (node or {}).items()
    ]
    return [table(["key", "params.yaml", "what it does"], rows), ""] if rows else []


def params_page() -> str:
    from music_genre.core.params import Params

    code = python_comments(PACKAGE / "core" / "params.py")
    notes = yaml_comments(ROOT / "params.yaml")
    intro = (
        "Generated at build time from the pydantic models of `src/music_genre/core/params.py`"
        " (type, range, default, and the comments beside each field) and the committed"
        " `params.yaml` (its values and comments). A key outside these models, a value of"
        " another type or outside its range stops the stage with one line naming the key."
    )
    return "\n".join(["# params.yaml reference", "", intro, "", *_section(Params, "", notes, code)])


def _help(action: argparse.Action, prog: str) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    values = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    values["prog"] = prog
    if action.choices is not None:
        values["choices"] = ", ".join(map(str, action.choices))
    text = action.help % values
    return text.replace("|", "\\|").replace("\n", " ")


_FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)


def _arguments(parser: argparse.ArgumentParser) -> list[list[str]]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        names = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.dest}`"
        text = _help(action, parser.prog)
        default = action.default
        takes_value = not (isinstance(action, _FLAGS) or default in (None, argparse.SUPPRESS))
        if takes_value and "default" not in text:
            text = f"{text} (default: {default})".strip()
        rows.append([names, "required" if action.required else "", text])
    return rows


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError("music-genre has no subcommands")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    from music_genre.cli.main import build_parser

    return dict(_subparsers(build_parser()).choices)


def _summaries() -> dict[str, str]:
    """Each subcommand's one-line help, as `music-genre -h` lists it."""
    from music_genre.cli.main import build_parser

    return {
        action.dest: action.help or "" for action in _subparsers(build_parser())._choices_actions
    }


def cli_default(key: str) -> Any:
    """`serve.--drift-window` -> that option's default (for `{{ cli: ... }}` look-ups)."""
    command, _, flag = key.partition(".")
    parser = subcommands().get(command)
    for action in parser._actions if parser else ():
        if flag in action.option_strings:
            return action.default
    from sitegen.sources import SourceError

    raise SourceError(f"music-genre {command}: no option '{flag}'")


def cli_page() -> str:
    """Every subcommand: its one-line help, usage (wrapped at 100 columns) and arguments."""
    import os

    from music_genre.cli.main import build_parser

    os.environ["COLUMNS"] = "100"

    top = build_parser()
    lines = [
        "# CLI reference",
        "",
        "Generated at build time from `music_genre.cli.main.build_parser()`: every subcommand of"
        " the `music-genre` command, its arguments, their defaults and help.",
        "",
        (top.description or "").strip(),
        "",
    ]
    summaries = _summaries()
    for name, parser in subcommands().items():
        usage = parser.format_usage().removeprefix("usage: ").strip()
        about = (parser.description or summaries.get(name, "")).strip()
        lines += [f"## `{name}`", "", about, "", "```text", usage, "```", ""]
        rows = _arguments(parser)
        if rows:
            lines += [table(["argument", "", "what it does"], rows), ""]
    return "\n".join(lines)


def api_modules() -> dict[str, list[str]]:
    """Subpackage (or module) -> its modules' dotted names, from the source tree."""
    pages: dict[str, list[str]] = {}
    for item in sorted(PACKAGE.iterdir()):
        if item.suffix == ".py" and item.stem != "__init__":
            pages[item.stem] = [f"music_genre.{item.stem}"]
        elif (item / "__init__.py").is_file():
            names = []
            for module in sorted(item.rglob("*.py")):
                parts = module.relative_to(PACKAGE).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                names.append(".".join(("music_genre", *parts)))
            pages[item.name] = names
    return pages


def api_page(name: str, modules: list[str]) -> str:
    lines = [f"# `music_genre.{name}`", "", "Generated from the docstrings (mkdocstrings).", ""]
    for module in modules:
        lines += [f"::: {module}", ""]
    return "\n".join(lines)
