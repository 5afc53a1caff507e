"""/target: a private chat managing a channel or group, the way Telegram allows it.

Which chat a reference names, whether the bot may post there, and whether the person is
its creator or an administrator: all asked of Telegram, the last one before every command,
since people are demoted and bots removed without telling us.
"""

from __future__ import annotations

import re

from telegram import Bot, Chat, ChatMember, ChatMemberAdministrator, ChatMemberRestricted
from telegram.error import BadRequest, Forbidden

from bot.actions import ActionError, ManagedChat
from bot.telegram import texts
from bot.telegram.permissions import ADMIN_STATUSES

# @name, t.me/name (any scheme, telegram.me too) or a bare name; or a numeric chat id.
_REFERENCE = re.compile(
    r"(?:(?:https?://)?(?:t|telegram)\.me/|@)?(?P<name>[A-Za-z]\w{4,31})/?|(?P<id>-?\d{1,20})"
)


def parse_reference(text: str) -> str | int | None:
    """The chat id getChat takes ("@name" or a number), or None if `text` names no chat."""
    match = _REFERENCE.fullmatch(text.strip())
    if match is None:
        return None
    return int(match["id"]) if match["id"] else f"@{match['name']}"


async def choose(bot: Bot, text: str, user_id: int) -> ManagedChat:
    """The chat `text` names, if the bot may post there and the user administers it.

    Each refusal is an ActionError that says why and what to do: the fix lies in the
    chat's settings in Telegram, not in anything the person can type here.
    """
    reference = parse_reference(text)
    if reference is None:
        raise ActionError(texts.TARGET_USAGE)
    try:
        chat = await bot.get_chat(reference)
    except (BadRequest, Forbidden):
        raise ActionError(texts.target_not_found(text.strip())) from None
    if chat.type == Chat.PRIVATE:
        raise ActionError(texts.TARGET_IS_A_PERSON)
    title = chat.title or text.strip()
    if not _may_post(await _member(bot, chat.id, bot.id), chat.type):
        raise ActionError(texts.bot_cannot_post(title, chat.type))
    member = await _member(bot, chat.id, user_id)
    if member is None or member.status not in ADMIN_STATUSES:
        raise ActionError(texts.not_target_admin(title))
    return ManagedChat(chat.id, title, chat.type)


async def recheck(bot: Bot, target: ManagedChat, user_id: int) -> None:
    """Before each command on a target: is the person still its creator or an administrator?"""
    member = await _member(bot, target.id, user_id)
    if member is None:
        raise ActionError(texts.target_unreachable(target.title))
    if member.status not in ADMIN_STATUSES:
        raise ActionError(texts.target_demoted(target.title))


async def _member(bot: Bot, chat_id: int, user_id: int) -> ChatMember | None:
    """The user's membership, or None when Telegram will not say (e.g. the bot was removed)."""
    try:
        return await bot.get_chat_member(chat_id, user_id)
    except (BadRequest, Forbidden):
        return None


def _may_post(member: ChatMember | None, chat_type: str) -> bool:
    """In a channel only an administrator with the right to post may; in a group, any member
    allowed to write."""
    if member is None:
        return False
    if chat_type == Chat.CHANNEL:
        return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)
    if isinstance(member, ChatMemberRestricted):
        return member.is_member and member.can_send_messages
    return member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)
