"""Pydantic validation errors of a YAML file, told as ``file:line: field: problem``.

Owns the one way Cherga points a person at the line of a YAML file that is wrong: the site
configuration, the node configuration and the provisioning inventory all report through
:func:`describe_validation_error`. Pure PyYAML + pydantic, so a node Pi can use it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError


def line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each YAML path (mapping keys and list indexes) to its 1-based line; ``{}`` for bad YAML."""
    index: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                index[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return index
    if root is not None:
        walk(root, ())
    return index


def describe_validation_error(exc: ValidationError, text: str, source: str) -> str:
    """One line per problem: ``source:line: dotted.field: message`` (the nearest known line)."""
    lines = line_index(text)
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        line = next((lines[loc[:cut]] for cut in range(len(loc), -1, -1) if loc[:cut] in lines), None)
        field = ".".join(str(p) for p in loc) or "(top level)"
        where = f"{source}:{line}" if line else source
        problems.append(f"{where}: {field}: {err['msg']}")
    return "\n".join(problems)


M = TypeVar("M", bound=BaseModel)


def parse_yaml_model(text: str, source: str, model: type[M], error: type[Exception], expects: str) -> M:
    """Validate YAML ``text`` as ``model``; every problem raises ``error`` naming ``source:line``.

    :param expects: what the top-level mapping holds, for the message when it is not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{source}: the file must be a mapping with {expects}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe_validation_error(exc, text, source)) from exc


def read_text(path: str | Path, error: type[Exception]) -> tuple[str, str]:
    """The UTF-8 text of ``path`` and its name for messages; an unreadable file raises ``error``."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(p)
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror}") from exc


def field_errors(title: str, problems: list[tuple[tuple[str | int, ...], str]], value: Any = None) -> ValidationError:
    """A pydantic error with one line per ``(location, message)``: raised in a validator, each
    problem is reported at its own field and line, beside every other error of the file."""
    from pydantic_core import InitErrorDetails, PydanticCustomError

    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("setting", "{message}", {"message": message}),
                         loc=loc, input=value)
        for loc, message in problems
    ])
