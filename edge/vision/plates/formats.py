"""Plate formats per region, loaded from formats.yaml (data, not code).

A region is a list of templates; each template is a sequence of slots and each slot is the set
of characters allowed at that position. The CTC decoder (decode.py) only produces text that
walks one of these templates, so a reading either fits a real plate format or is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from edge.errors import ConfigError
from edge.vision.plates.color import HUES, PLATE_COLORS

FORMATS_FILE = Path(__file__).with_name("formats.yaml")
_TOKEN = re.compile(r"^(=(?P<lit>.)|(?P<cls>[a-z_]+))(\{(?P<a>\d+)(,(?P<b>\d+))?\})?$")


@dataclass(frozen=True)
class Template:
    """One fixed-length plate layout: allowed characters per position."""

    name: str
    slots: tuple[str, ...]
    regex: re.Pattern[str] | None
    colors: tuple[str, ...] | None
    prior: float = 0.0  # log-odds bonus when decoding: a national format beats a generic one

    def accepts(self, text: str) -> bool:
        """Whether text fits this template (length, per-slot characters, extra regex)."""
        if len(text) != len(self.slots):
            return False
        if any(ch not in slot for ch, slot in zip(text, self.slots, strict=True)):
            return False
        return self.regex is None or self.regex.match(text) is not None


@dataclass(frozen=True)
class Region:
    """The plate formats of one region (cn, eu, us, br)."""

    name: str
    separators: str
    templates: tuple[Template, ...]
    left_emblem: bool = False  # plates may carry a coloured band or coat of arms at the left
    write_as: tuple[tuple[str, str], ...] = ()  # (as read, as written): glyphs printed alike
    two_row: bool = False  # plates with two rows of text in the Chinese layout (GA 36)
    alike: tuple[tuple[str, str], ...] = ()  # letter/digit pairs the plates print near alike
    search_colors: tuple[str, ...] = ()  # backgrounds saturated enough to find small plates by
    two_row_colors: tuple[str, ...] = ()  # backgrounds two-row plates are issued in; () = any
    # the characters' share of a whole plate's height (top, bottom), where a name is printed
    # above them and a slogan below; None: the plate holds its characters only
    text_band: tuple[float, float] | None = None

    def look_alike(self, char: str) -> str | None:
        """The character printed near alike to char (O for 0, 0 for O), if the region has one."""
        for a, b in self.alike:
            if char in (a, b):
                return b if char == a else a
        return None

    @property
    def charset(self) -> str:
        """Every character any template of this region can produce, in a stable order."""
        seen: dict[str, None] = {}
        for template in self.templates:
            for slot in template.slots:
                seen.update(dict.fromkeys(slot))
        return "".join(seen)

    def written(self, text: str) -> str:
        """A reading as the region writes its plates (O -> 0 where they are printed alike)."""
        if not self.write_as:
            return text
        read, written = ("".join(chars) for chars in zip(*self.write_as, strict=True))
        return text.translate(str.maketrans(read, written))

    def match(self, text: str) -> Template | None:
        """The first template that accepts text, or None (text is not a plate of this region)."""
        return next((t for t in self.templates if t.accepts(text)), None)


def _expand(pattern: str, classes: dict[str, str], where: str) -> list[tuple[str, ...]]:
    """Expand 'province cn_letter cn_alnum{5}' into one or more slot sequences."""
    variants: list[list[str]] = [[]]
    for token in pattern.split():
        m = _TOKEN.match(token)
        if m is None:
            raise ConfigError(f"{where}: bad pattern token {token!r}")
        chars = m.group("lit") or classes.get(m.group("cls") or "", "")
        if not chars:
            raise ConfigError(f"{where}: unknown character class {token!r}")
        low = int(m.group("a") or 1)
        high = int(m.group("b") or low)
        variants = [v + [chars] * n for v in variants for n in range(low, high + 1)]
    return [tuple(v) for v in variants]


def _region(name: str, spec: dict[str, Any], classes: dict[str, str]) -> Region:
    templates: list[Template] = []
    for fmt in spec["formats"]:
        where = f"{FORMATS_FILE}: regions.{name}.{fmt['name']}"
        regex = re.compile(fmt["regex"]) if fmt.get("regex") else None
        colors = tuple(fmt["colors"]) if fmt.get("colors") else None
        prior = float(fmt.get("prior", 0.0))
        for slots in _expand(fmt["pattern"], classes, where):
            templates.append(Template(fmt["name"], slots, regex, colors, prior))
    separators = str(spec.get("separators", ""))
    write_as = _pairs(spec, name, "write_as")
    alike = _pairs(spec, name, "alike")
    left_emblem = bool(spec.get("left_emblem", False))
    two_row = bool(spec.get("two_row", False))
    search_colors = _colors(spec, name, "search_colors", tuple(HUES))
    two_row_colors = _colors(spec, name, "two_row_colors", PLATE_COLORS)
    text_band = _band(spec, name)
    if text_band is not None and two_row:
        raise ConfigError(
            f"{FORMATS_FILE}: regions.{name}.text_band: a region with two-row plates reads a "
            "squarish plate as two rows, not as one band"
        )
    return Region(
        name,
        separators,
        tuple(templates),
        left_emblem,
        write_as,
        two_row,
        alike,
        search_colors,
        two_row_colors,
        text_band,
    )


def _band(spec: dict[str, Any], region_name: str) -> tuple[float, float] | None:
    band = spec.get("text_band")
    if band is None:
        return None
    try:
        top, bottom = (float(x) for x in band)
    except (TypeError, ValueError):
        top = bottom = -1.0
    if not 0.0 <= top < bottom <= 1.0:
        raise ConfigError(
            f"{FORMATS_FILE}: regions.{region_name}.text_band: [top, bottom] shares of the "
            f"plate's height, 0 <= top < bottom <= 1, not {band!r}"
        )
    return top, bottom


def _colors(
    spec: dict[str, Any], region_name: str, key: str, known: tuple[str, ...]
) -> tuple[str, ...]:
    colors = tuple(str(c) for c in spec.get(key) or ())
    unknown = [c for c in colors if c not in known]
    if unknown:
        raise ConfigError(
            f"{FORMATS_FILE}: regions.{region_name}.{key}: {unknown} not among {list(known)}"
        )
    return colors


def _pairs(spec: dict[str, Any], region_name: str, key: str) -> tuple[tuple[str, str], ...]:
    pairs = {str(a): str(b) for a, b in (spec.get(key) or {}).items()}
    if any(len(a) != 1 or len(b) != 1 for a, b in pairs.items()):
        raise ConfigError(f"{FORMATS_FILE}: regions.{region_name}.{key}: one character to one")
    return tuple(pairs.items())


@cache
def load_regions(path: Path = FORMATS_FILE) -> dict[str, Region]:
    """All regions defined in a formats file (cached: the file is package data)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        classes = {k: str(v) for k, v in data["classes"].items()}
        return {n: _region(n, s, classes) for n, s in data["regions"].items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot load plate formats: {exc}") from exc


def region(name: str) -> Region:
    """One region by name; ConfigError listing the known ones if absent."""
    regions = load_regions()
    if name not in regions:
        raise ConfigError(f"unknown plate region {name!r}; known: {', '.join(sorted(regions))}")
    return regions[name]
