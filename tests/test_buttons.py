"""Callback data: small, ours, and never a way into another chat."""

from __future__ import annotations

import pytest

from bot.delivery import buttons


def test_alert_buttons_fit_telegrams_64_bytes() -> None:
    markup = buttons.for_alert({"KIDA": 9_223_372_036_854_775_807, "Hanwha Aerospace": 2})
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert data == ["unfollow:9223372036854775807", "unfollow:2", "mute:24"]
    assert all(len(d.encode()) <= 64 for d in data)
    assert [b.text for b in markup.inline_keyboard[0]][:2] == [
        "Unfollow #KIDA",
        "Unfollow #HanwhaAerospace",
    ]


def test_our_data_parses() -> None:
    assert buttons.parse("unfollow:42") == buttons.Press(follow_id=42)
    assert buttons.parse("mute:24") == buttons.Press(mute_hours=24)


@pytest.mark.parametrize(
    "forged",
    [
        None,
        "",
        "unfollow:",
        "unfollow:0",
        "unfollow:-1",
        "unfollow:1;chat=5",
        "mute:99999",
        "unfollow:12345678901234567890",
        "unfollow:4 ",
        "chat:-100:unfollow:1",
        "mute:24\n",
    ],
)
def test_anything_else_is_refused(forged: str | None) -> None:
    assert buttons.parse(forged) is None
