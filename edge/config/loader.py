"""Load YAML into validated pydantic models; every error names file, line and field path.

PyYAML's composed node tree keeps the line of every key and value, so a pydantic error location
(`("wim", "lanes", 0, "channels", "a_left")`) can be mapped back to the line a technician must edit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

Loc = tuple[int | str, ...]


def _line_index(node: yaml.Node, path: Loc, out: dict[Loc, int]) -> None:
    """Record the 1-based line of every mapping key and sequence item below `node`."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _line_index(item, (*path, i), out)


def _nearest_line(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest existing prefix of `loc` (a missing field points at its parent)."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file into plain data plus a map from field path to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _line_index(node, (), lines)
    return data, lines


_PATH_PREFIX = re.compile(r"^([A-Za-z_][\w\-]*(?:\.[\w\-]+|\[\d+\])*): (.*)$", re.S)


def _split_path(text: str) -> Loc:
    """`wim.lanes[0].source` -> ("wim", "lanes", 0, "source")."""
    parts: list[int | str] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


def format_validation_error(path: Path, exc: ValidationError, lines: dict[Loc, int]) -> list[str]:
    """One line per problem: `file:line: field.path: message (got value)`."""
    messages = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        msg = err["msg"].removeprefix("Value error, ")
        # Cross-field checks run on a whole model; by convention their message starts with the
        # field path they blame ("wim.lanes[0].source: ..."), which we turn back into a location.
        m = _PATH_PREFIX.match(msg)
        if m:
            loc = (*loc, *_split_path(m.group(1)))
            msg = m.group(2)
        line = _nearest_line(lines, loc)
        field = ".".join(str(p) for p in loc) or "(top level)"
        where = f"{path}:{line}" if line is not None else str(path)
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            shown = repr(err["input"])
            if len(shown) < 60:
                msg = f"{msg} (got {shown})"
        messages.append(f"{where}: {field}: {msg}")
    return messages


def load_model(path: Path, model: type[M]) -> M:
    """Read and validate one YAML file; raise ConfigError listing every problem."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = format_validation_error(path, exc, lines)
        raise ConfigError("\n".join(problems)) from None
