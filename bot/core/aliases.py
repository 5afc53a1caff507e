"""Groups of equivalent organisation names, so `/follow KIDA` also finds its spelled-out name.

The data lives in `aliases.toml` beside this module (`[[group]] names = [...]`, optional
`note`); it is meant to grow to hundreds of groups, so lookups go through one dict.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from bot.core.text import normalize

_BUNDLED = "aliases.toml"
_GROUP_KEYS = frozenset({"names", "note"})


class AliasTable:
    """Looks up every other name of the groups a name belongs to."""

    def __init__(self, groups: Iterable[tuple[str, ...]]) -> None:
        """Use `load` or `from_groups`, which validate; this only indexes checked groups."""
        # Each group keeps (name, normalized name) pairs so `expand` never re-normalizes.
        self._groups = tuple(tuple((name, normalize(name)) for name in group) for group in groups)
        self._by_key: dict[str, list[int]] = {}
        for number, group in enumerate(self._groups):
            for _name, key in group:
                members = self._by_key.setdefault(key, [])
                if number not in members:
                    members.append(number)

    @classmethod
    def load(cls, path: Path | None = None) -> AliasTable:
        """Read a TOML alias file; None means the one bundled with the package.

        Raises ValueError naming the file and the problem when the file is malformed.
        """
        if path is None:
            source = f"{__package__}/{_BUNDLED}"
            raw = resources.files(__package__).joinpath(_BUNDLED).read_text(encoding="utf-8")
        else:
            source = str(path)
            raw = path.read_text(encoding="utf-8")
        try:
            return cls.from_groups(_parse(tomllib.loads(raw)))
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    @classmethod
    def from_groups(cls, groups: Iterable[Iterable[str]]) -> AliasTable:
        """Build from plain name groups (tests, callers with their own data); validated."""
        checked = []
        for number, group in enumerate(groups, start=1):
            if isinstance(group, str):  # a bare string would silently become one-letter names
                raise ValueError(f"group {number}: expected a list of names, got a string")
            names = tuple(group)
            if len(names) < 2:
                raise ValueError(f"group {number}: needs at least two names, got {len(names)}")
            for name in names:
                if not isinstance(name, str) or not normalize(name):
                    raise ValueError(
                        f"group {number}: {name!r} is not a name with letters or digits"
                    )
            checked.append(names)
        return cls(checked)

    def __len__(self) -> int:
        return len(self._groups)

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


def _parse(data: Mapping[str, Any]) -> list[list[str]]:
    """The name lists of a parsed alias file, after checking its shape."""
    unknown = set(data) - {"group"}
    if unknown:
        raise ValueError(f"unknown top-level keys {sorted(unknown)}; expected only [[group]]")
    groups = data.get("group", [])
    if not isinstance(groups, list):
        raise ValueError("`group` must be an array of tables: write [[group]]")
    names = []
    for number, group in enumerate(groups, start=1):
        if not isinstance(group, dict):
            raise ValueError(f"group {number}: expected a table")
        extra = set(group) - _GROUP_KEYS
        if extra:
            raise ValueError(f"group {number}: unknown keys {sorted(extra)}")
        if not isinstance(group.get("names"), list):
            raise ValueError(f"group {number}: `names` must be a list of strings")
        if not isinstance(group.get("note", ""), str):
            raise ValueError(f"group {number}: `note` must be a string")
        names.append(group["names"])
    return names
