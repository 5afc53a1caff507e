"""Who may change a chat's tags and sources: in groups, administrators only."""

from __future__ import annotations

from telegram import Bot, Chat, Message
from telegram.constants import ChatMemberStatus

ADMIN_STATUSES = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR}


async def may_change(bot: Bot, message: Message) -> bool:
    """True for private chats, anonymous admins, channel posts, and group administrators.

    An anonymous administrator writes as the group itself (`sender_chat` is the chat), and
    only administrators can do that; a channel post comes from the channel's own admins.
    """
    chat = message.chat
    if chat.type in (Chat.PRIVATE, Chat.CHANNEL):
        return True
    if message.sender_chat is not None:
        return message.sender_chat.id == chat.id
    if message.from_user is None:
        return False
    member = await chat.get_member(message.from_user.id)
    return member.status in ADMIN_STATUSES
