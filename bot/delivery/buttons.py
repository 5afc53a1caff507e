"""The inline buttons under an alert, and the small, checkable callback data they carry.

Callback data names a follow by its id and nothing else; the handler acts only if that
follow belongs to the chat the button was pressed in, so data copied from another chat, or
made up, can do nothing there. Every payload fits Telegram's 64 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.tags import hashtag

MUTE_HOURS = 24
MAX_UNFOLLOW_BUTTONS = 3
_DATA = re.compile(r"unfollow:(?P<follow>[1-9]\d{0,18})|mute:(?P<hours>24)")


@dataclass(frozen=True)
class Press:
    """What a button asks for: unfollow one follow, or mute the chat for some hours."""

    follow_id: int | None = None
    mute_hours: int | None = None


def parse(data: str | None) -> Press | None:
    """The request behind callback data, or None for anything we did not make."""
    match = _DATA.fullmatch(data or "")
    if match is None:
        return None
    if match["follow"]:
        return Press(follow_id=int(match["follow"]))
    return Press(mute_hours=int(match["hours"]))


def _mute() -> InlineKeyboardButton:
    return InlineKeyboardButton(f"Mute {MUTE_HOURS}h", callback_data=f"mute:{MUTE_HOURS}")


def for_alert(follow_ids: Mapping[str, int]) -> InlineKeyboardMarkup:
    """'Unfollow #TAG' for each matched tag (a few at most) and 'Mute 24h'."""
    unfollow = [
        InlineKeyboardButton(f"Unfollow {hashtag(name)}"[:60], callback_data=f"unfollow:{fid}")
        for name, fid in list(follow_ids.items())[:MAX_UNFOLLOW_BUTTONS]
    ]
    return InlineKeyboardMarkup([[*unfollow, _mute()]])


def for_digest() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_mute()]])
