"""Precision and recall of tag matching over a labeled set of English and Korean articles.

The set is `articles.toml`; its labels say what a person following each tag means to get.
Run `pytest tests/core/eval -s` to see the figures and every miss.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.matching import TagIndex
from bot.core.tags import make_tag

DATA = Path(__file__).with_name("articles.toml")
MINIMUM = 0.95


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return tomllib.loads(DATA.read_text(encoding="utf-8"))


def test_the_set_is_big_enough_and_consistent(data: dict[str, Any]) -> None:
    articles, tags = data["article"], data["tags"]
    assert len(articles) >= 60
    assert len(tags) >= 12
    assert len({item["id"] for item in articles}) == len(articles)
    assert all(set(item["expect"]) <= set(tags) for item in articles)
    languages = {item["id"].split("-")[0] for item in articles}
    assert languages == {"en", "ko"}
    assert sum(not item["expect"] for item in articles) >= 15  # decoys
    assert all(any(tag in item["expect"] for item in articles) for tag in tags)


def test_precision_and_recall(data: dict[str, Any]) -> None:
    aliases = AliasTable.from_groups(data["aliases"])
    tags = {name: make_tag(name, aliases) for name in data["tags"]}
    index = TagIndex(tags.values())
    hits = wrong = missed = 0
    errors = []
    for item in data["article"]:
        article = Article(
            title=item["title"],
            summary=item.get("summary", ""),
            content=item.get("content", ""),
            categories=tuple(item.get("categories", ())),
        )
        found = index.match(article)
        got = {name for name, tag in tags.items() if tag.key in found}
        expected = set(item["expect"])
        hits += len(got & expected)
        wrong += len(got - expected)
        missed += len(expected - got)
        errors += [f"  {item['id']}: unexpected {name}" for name in sorted(got - expected)]
        errors += [f"  {item['id']}: missed {name}" for name in sorted(expected - got)]
    precision = hits / (hits + wrong)
    recall = hits / (hits + missed)
    report = "\n".join(
        [
            f"tag matching over {len(data['article'])} articles x {len(tags)} tags: "
            f"precision {precision:.3f} ({hits}/{hits + wrong}), "
            f"recall {recall:.3f} ({hits}/{hits + missed})",
            *errors,
        ]
    )
    print(report)
    assert precision >= MINIMUM and recall >= MINIMUM, report
