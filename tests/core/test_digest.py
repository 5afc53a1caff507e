"""The digest: one message for many alerts, valid and under Telegram's limit."""

from __future__ import annotations

import re

from bot.core.article import Article
from bot.core.digest import DigestItem, format_digest
from bot.core.formatting import MAX_MESSAGE_LENGTH


def _items(count: int, title: str = "Story") -> list[DigestItem]:
    return [
        DigestItem(Article(title=f"{title} {n}", link=f"https://n.example/{n}"), "Herald", ["KIDA"])
        for n in range(count)
    ]


def test_a_digest_lists_every_link_once_with_the_tags() -> None:
    items = _items(8)
    items.append(items[0])  # the same story queued twice still shows once
    text, covered = format_digest(items)
    assert covered == 9
    assert text.startswith("<b>9 new articles</b> for #KIDA")
    assert re.findall(r'href="([^"]+)"', text) == [f"https://n.example/{n}" for n in range(8)]
    assert "<i>Herald</i>" in text


def test_a_long_digest_stops_under_the_limit_and_says_more_follow() -> None:
    text, covered = format_digest(_items(400, "A rather long headline " * 5))
    assert len(text) <= MAX_MESSAGE_LENGTH
    assert 0 < covered < 400
    assert "(more follow)" in text
    assert text.count("href=") == covered


def test_feed_text_is_escaped() -> None:
    [item] = _items(1, "<script>alert(1)</script>")
    text, _ = format_digest([item, DigestItem(item.article, "A & B <i>", ["x<y"])])
    assert "<script>" not in text and "&lt;script&gt;" in text
