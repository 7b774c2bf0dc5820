"""Typed dataclass configs turned into `--flags`; each field's trailing comment becomes its help text."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import shlex
import sys
import typing


def field_comments(cls: type) -> dict[str, str]:
    """{field: trailing comment} for the annotated assignments of `cls` and its dataclass bases."""
    comments = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        lines, _ = inspect.getsourcelines(klass)
        for node in ast.parse(inspect.cleandoc("".join(lines))).body[0].body:
            if isinstance(node, ast.AnnAssign) and "#" in lines[node.lineno - 1]:
                comments[node.target.id] = lines[node.lineno - 1].split("#", 1)[1].strip()
    return comments


def parse(cls: type, argv: list[str] | None = None):
    """Build `cls` from command-line flags: `max_steps: int = 10` becomes `--max-steps 10`, bools get `--no-x`."""
    parser = argparse.ArgumentParser(description=cls.__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        options = dict(default=default, help=comments.get(field.name, " "))
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) in (list, tuple):
            options.update(nargs="+", type=typing.get_args(kind)[0])
        else:
            options["type"] = next(a for a in typing.get_args(kind) if a is not type(None)) if typing.get_args(kind) else kind
        parser.add_argument("--" + field.name.replace("_", "-"), **options)
    return cls(**vars(parser.parse_args(argv)))


def command_line(module: str, argv: list[str] | None) -> str:
    """The shell command that runs `module` with `argv` (the process's own arguments when None), for model cards."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
