"""Groups of equivalent organisation names, so `/follow KIDA` also finds its spelled-out name.

The data lives in `aliases.toml` beside this module (`[[group]] names = [...]`, optional
`topic` and `note`); it holds hundreds of names, so lookups go through one dict.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bot.core.text import normalize

_BUNDLED = "aliases.toml"
_GROUP_KEYS = frozenset({"names", "topic", "note"})


@dataclass(frozen=True)
class AliasGroup:
    """One organisation's names; `topic` files it (e.g. "defence"), `note` is for people."""

    names: tuple[str, ...]
    topic: str | None = None
    note: str | None = None


class AliasTable:
    """Looks up every other name of the groups a name belongs to."""

    def __init__(self, groups: Iterable[AliasGroup]) -> None:
        """Use `load` or `from_groups`, which validate; this only indexes checked groups."""
        self._meta = tuple(groups)
        # Each group keeps (name, normalized name) pairs so `expand` never re-normalizes.
        self._groups = tuple(
            tuple((name, normalize(name)) for name in group.names) for group in self._meta
        )
        self._by_key: dict[str, list[int]] = {}
        for number, group in enumerate(self._groups):
            for _name, key in group:
                members = self._by_key.setdefault(key, [])
                if number not in members:
                    members.append(number)

    @classmethod
    def load(cls, path: Path | None = None) -> AliasTable:
        """Read a TOML alias file; None means the one bundled with the package.

        A file is curated data, so beyond `from_groups` it must also keep every name
        (normalized) in one group only. Raises ValueError naming the file and the problem
        when the file is malformed.
        """
        if path is None:
            source = f"{__package__}/{_BUNDLED}"
            raw = resources.files(__package__).joinpath(_BUNDLED).read_text(encoding="utf-8")
        else:
            source = str(path)
            raw = path.read_text(encoding="utf-8")
        try:
            table = cls.from_groups(_parse(tomllib.loads(raw)))
            _require_distinct(table.groups)
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc
        return table

    @classmethod
    def from_groups(cls, groups: Iterable[Iterable[str] | AliasGroup]) -> AliasTable:
        """Build from name lists or `AliasGroup`s (learned or chat aliases, tests); validated.

        Groups may share names here, so `from_groups([*table.groups, *learned])` layers
        extra aliases over a loaded table.
        """
        checked = []
        for number, group in enumerate(groups, start=1):
            if isinstance(group, str):  # a bare string would silently become one-letter names
                raise ValueError(f"group {number}: expected a list of names, got a string")
            meta = group if isinstance(group, AliasGroup) else AliasGroup(tuple(group))
            names = tuple(meta.names)
            if len(names) < 2:
                raise ValueError(f"group {number}: needs at least two names, got {len(names)}")
            for name in names:
                if not isinstance(name, str) or not normalize(name):
                    raise ValueError(
                        f"group {number}: {name!r} is not a name with letters or digits"
                    )
            checked.append(AliasGroup(names, meta.topic, meta.note))
        return cls(checked)

    def __len__(self) -> int:
        return len(self._groups)

    @property
    def groups(self) -> tuple[AliasGroup, ...]:
        """Every group as given, in order: to list, filter by topic, or extend the table."""
        return self._meta

    @property
    def topics(self) -> tuple[str, ...]:
        """The distinct topics of the groups that have one, sorted."""
        return tuple(sorted({group.topic for group in self._meta if group.topic}))

    def expand(self, name: str) -> tuple[str, ...]:
        """`name` first, then every other name of each group containing it, once each.

        Names are compared by `normalize`, so "kida" finds the KIDA group and a name that
        differs from `name` only in case or punctuation is not repeated. One hop only: groups
        sharing a name are not chained, so a loose entry cannot pull in a third group.
        """
        key = normalize(name)
        seen = {key}
        names = [name]
        for number in self._by_key.get(key, ()):
            for other, other_key in self._groups[number]:
                if other_key not in seen:
                    seen.add(other_key)
                    names.append(other)
        return tuple(names)


def _parse(data: Mapping[str, Any]) -> list[AliasGroup]:
    """The groups of a parsed alias file, after checking its shape."""
    unknown = set(data) - {"group"}
    if unknown:
        raise ValueError(f"unknown top-level keys {sorted(unknown)}; expected only [[group]]")
    groups = data.get("group", [])
    if not isinstance(groups, list):
        raise ValueError("`group` must be an array of tables: write [[group]]")
    parsed = []
    for number, group in enumerate(groups, start=1):
        if not isinstance(group, dict):
            raise ValueError(f"group {number}: expected a table")
        extra = set(group) - _GROUP_KEYS
        if extra:
            raise ValueError(f"group {number}: unknown keys {sorted(extra)}")
        if not isinstance(group.get("names"), list):
            raise ValueError(f"group {number}: `names` must be a list of strings")
        for field in ("topic", "note"):
            if not isinstance(group.get(field, ""), str):
                raise ValueError(f"group {number}: `{field}` must be a string")
        topic = group.get("topic")
        if topic is not None and not topic.strip():
            raise ValueError(f"group {number}: `topic` must not be empty")
        parsed.append(AliasGroup(tuple(group["names"]), topic, group.get("note")))
    return parsed


def _require_distinct(groups: Sequence[AliasGroup]) -> None:
    """Refuse a name (normalized) listed twice: in two groups it would join two organisations."""
    first: dict[str, tuple[int, str]] = {}
    for number, group in enumerate(groups, start=1):
        for name in group.names:
            key = normalize(name)
            if key in first:
                where, earlier = first[key]
                raise ValueError(
                    f"group {number}: {name!r} is already listed as {earlier!r} in group {where}"
                )
            first[key] = (number, name)
