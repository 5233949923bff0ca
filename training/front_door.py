"""How ``python -m training.sft|dpo|rm|ppo`` meets the user: a short ``--help`` and plain errors.

``--help`` is answered before trl, transformers and torch are imported (they take seconds): the Tulu
flags, their defaults and help are read from the config classes' source (``config.py``,
``ppo_config.py``) with ``ast``, so they cannot drift from what the parser uses. ``--help-all`` prints the
full parser help (every trl and transformers flag).

A mistake (a missing or wrong flag, a mix of the wrong kind, a model path that is not there, no rows
left to train on) ends in one or two plain lines on stderr and exit code 2; anything unexpected in
two lines and exit code 1. ``TULU_DATA_DEBUG=1`` shows the traceback instead (``--debug`` is taken:
it is a transformers flag).
"""

from __future__ import annotations

import ast
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEBUG_ENV = "TULU_DATA_DEBUG"
USER_ERROR_EXIT = 2


class TrainingInputError(ValueError):
    """A mistake in the flags or the data of a training run: shown as plain lines, no traceback."""


@dataclass(frozen=True)
class EntryPoint:
    """Where an entry point's config classes are, and what else its parser accepts."""

    source: str
    classes: tuple[str, ...]
    inherited: str | None = None


ENTRY_POINTS = {
    "sft": EntryPoint("config.py", ("TuluArguments", "TuluSFTConfig"), "trl's SFTConfig"),
    "dpo": EntryPoint("config.py", ("TuluArguments", "TuluDPOConfig"), "trl's DPOConfig"),
    "rm": EntryPoint("config.py", ("TuluArguments", "TuluRewardConfig"), "trl's RewardConfig"),
    "ppo": EntryPoint("ppo_config.py", ("PPOConfig",)),
}


@dataclass(frozen=True)
class Flag:
    """One flag as the short help shows it."""

    name: str
    annotation: str
    default: Any
    help: str

    @property
    def required(self) -> bool:
        return self.help.startswith("Required")


# ---- flags read from the source ---------------------------------------------------------------


def _field_call(
    value: ast.expr, helpers: dict[str, ast.FunctionDef]
) -> tuple[ast.Call, dict[str, Any]] | None:
    """The ``field(...)`` call behind a class attribute (directly, or returned by a helper function), and
    the helper's literal arguments by parameter name (for an f-string help)."""
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Name):
        return None
    if value.func.id == "field":
        return value, {}
    helper = helpers.get(value.func.id)
    returns = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return)] if helper else []
    if not returns or not isinstance(returns[0], ast.Call):
        return None
    names = [a.arg for a in helper.args.args]
    bound = {name: _literal(arg) for name, arg in zip(names, value.args, strict=False)}
    bound.update({k.arg: _literal(k.value) for k in value.keywords if k.arg})
    return returns[0], bound


def _literal(node: ast.expr | None, fallback: Any = None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else fallback
    except ValueError:
        return fallback


def _text(node: ast.expr | None, bound: dict[str, Any]) -> str:
    """A help string: a literal, or an f-string over the helper's arguments."""
    if isinstance(node, ast.JoinedStr):
        parts = [
            str(part.value) if isinstance(part, ast.Constant) else str(bound.get(ast.unparse(part.value), ""))
            for part in node.values
        ]
        return "".join(parts)
    return str(_literal(node, ""))


def _help(metadata: ast.expr | None, bound: dict[str, Any]) -> str:
    if not isinstance(metadata, ast.Dict):
        return ""
    for key, value in zip(metadata.keys, metadata.values, strict=True):
        if isinstance(key, ast.Constant) and key.value == "help":
            return _text(value, bound)
    return ""


def _flag(stmt: ast.AnnAssign, helpers: dict[str, ast.FunctionDef]) -> Flag | None:
    found = _field_call(stmt.value, helpers) if stmt.value is not None else None
    if found is None or not isinstance(stmt.target, ast.Name):
        return None
    call, bound = found
    keywords = {k.arg: k.value for k in call.keywords}
    default = _literal(keywords.get("default"))
    return Flag(stmt.target.id, ast.unparse(stmt.annotation), default, _help(keywords.get("metadata"), bound))


def recipe_flags(task: str) -> list[Flag]:
    """The flags the entry point's own config classes declare (a subclass's version wins), required first."""
    entry = ENTRY_POINTS[task]
    tree = ast.parse((HERE / entry.source).read_text(encoding="utf-8"))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    flags: dict[str, Flag] = {}
    for name in entry.classes:
        for stmt in classes[name].body:
            flag = _flag(stmt, helpers) if isinstance(stmt, ast.AnnAssign) else None
            if flag is not None:
                flags[flag.name] = flag
    return sorted(flags.values(), key=lambda f: not f.required)


def class_summary(task: str) -> str:
    """The first paragraph of the entry point's config class docstring."""
    entry = ENTRY_POINTS[task]
    tree = ast.parse((HERE / entry.source).read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == entry.classes[-1])
    return " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())


# ---- the short help ---------------------------------------------------------------------------


def prog(task: str) -> str:
    return f"python -m training.{task}"


def _metavar(flag: Flag) -> str:
    return "true|false" if flag.annotation.startswith("bool") else flag.name.upper()


def _flag_lines(flag: Flag, width: int) -> list[str]:
    text = flag.help + ("" if flag.required or flag.default is None else f" (default: {flag.default})")
    head, indent = f"  --{flag.name} {_metavar(flag)}", 30
    body = textwrap.wrap(text, width - indent) or [""]
    if len(head) < indent:
        return [f"{head:<{indent}}{body[0]}", *(" " * indent + line for line in body[1:])]
    return [head, *(" " * indent + line for line in body)]


def short_help(task: str, width: int = 100) -> str:
    """Usage, the recipe in one paragraph, the Tulu flags with defaults, and where the others are."""
    flags = recipe_flags(task)
    required = " ".join(f"--{f.name} {_metavar(f)}" for f in flags if f.required)
    lines = [f"usage: {prog(task)} {required} [flags]", "", *textwrap.wrap(class_summary(task), width), ""]
    lines.append("Tulu flags (defaults are the recipe's):")
    for flag in flags:
        lines += _flag_lines(flag, width)
    inherited = ENTRY_POINTS[task].inherited
    others = (
        f"Every flag of {inherited} and transformers' TrainingArguments is accepted too "
        f"(`{prog(task)} --help-all` lists them all)."
        if inherited
        else f"`{prog(task)} --help-all` prints the same from the parser."
    )
    lines += ["", *textwrap.wrap(f"{others} Errors show a traceback with {DEBUG_ENV}=1.", width)]
    return "\n".join(lines) + "\n"


def help_before_imports(module: str, task: str, argv: Sequence[str] | None = None) -> None:
    """When run as ``python -m training.TASK --help``: print the short help and exit, before heavy imports.

    ``--help-all`` becomes ``--help`` for the full parser, which then runs as usual.
    """
    if module != "__main__":
        return
    args = sys.argv if argv is None else argv
    if "--help-all" in args:
        args[:] = ["--help" if a == "--help-all" else a for a in args]
    elif "-h" in args[1:] or "--help" in args[1:]:
        sys.stdout.write(short_help(task))
        raise SystemExit(0)


# ---- errors -----------------------------------------------------------------------------------


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def is_user_error(err: BaseException) -> bool:
    """Mistakes in flags or inputs: ours, tulu_data's, and files or models that cannot be found or read."""
    from tulu_data.errors import TuluDataError  # a small module: no heavy imports

    return isinstance(err, TrainingInputError | TuluDataError | OSError)


def report_error(task: str, err: BaseException) -> int:
    """Print an error as one or two plain lines; returns the exit code."""
    if is_user_error(err):
        print(f"{prog(task)}: error: {_one_line(err)}", file=sys.stderr)
        return USER_ERROR_EXIT
    print(f"{prog(task)}: error: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
    print(f"this is unexpected: rerun with {DEBUG_ENV}=1 for the traceback, and please report it", file=sys.stderr)
    return 1


def parse_or_exit(task: str, parse: Callable[[Sequence[str]], Any], argv: Sequence[str]) -> Any:
    """Parse the flags; a ValueError while parsing is a mistake in them (a required flag missing, say)."""
    try:
        return parse(argv)
    except ValueError as err:
        if _debug():
            raise
        raise SystemExit(report_error(task, TrainingInputError(_one_line(err)))) from None


def run_entry(task: str, parse: Callable[[Sequence[str]], Any], train: Callable[[Any], Any]) -> None:
    """What ``python -m training.TASK`` does: parse, train, and turn errors into plain lines."""
    args = parse_or_exit(task, parse, sys.argv[1:])
    try:
        train(args)
    except (Exception, KeyboardInterrupt) as err:
        if _debug():
            raise
        if isinstance(err, KeyboardInterrupt):
            print(f"{prog(task)}: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        raise SystemExit(report_error(task, err)) from None
